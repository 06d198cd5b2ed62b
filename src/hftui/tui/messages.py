"""Messages that cross pane or thread boundaries.

Pane-local messages live nested in the widget that sends them; only what several panes react
to is here. Worker threads never touch widgets: they post these.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from textual.message import Message

RepoKey = tuple[str, str]
"""(repo_type, repo_id), e.g. ("model", "org/name")."""


@dataclass
class DownloadsChanged(Message):
    """The download queue changed (a job was added, progressed, finished, failed...).

    `finished` lists the repos whose job just ended while writing into the cache the app
    shows, so the cache pane can rescan just those.
    """

    finished: tuple[RepoKey, ...] = field(default_factory=tuple)

    def can_replace(self, message: Message) -> bool:
        # Progress ticks are interchangeable; a message that reports finished jobs is not.
        return isinstance(message, DownloadsChanged) and not message.finished and not self.finished


@dataclass
class DownloadsLoaded(Message):
    """The download process has read the saved queue (its `LoadReport`: warnings, unfinished jobs)."""

    report: object


@dataclass
class DownloadsLost(Message):
    """The download process ended unexpectedly (`reason` is for the user)."""

    reason: str


@dataclass
class CacheChanged(Message):
    """Files were deleted from or added to the cache outside a scan (so the browser's local marks refresh)."""

    repos: tuple[RepoKey, ...] = field(default_factory=tuple)


@dataclass
class OpenInBrowser(Message):
    """Ask the app to show the Browse pane on a repo (e.g. from the cache pane)."""

    repo_input: str
