"""What a pane may ask of the app, as a typed contract.

Panes receive an `AppServices` when they are built (`CachePane(services)`), instead of looking
attributes up on `self.app` by name: a renamed attribute is a type error, not a silent `None`.
`HfTuiApp` implements it (mypy checks that where the app builds its panes); a test can pass any
object with these members.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from hftui.core.downloads.models import DownloadRequest
    from hftui.settings import Settings
    from hftui.tui.downloads import DownloadsController
    from hftui.tui.keyboard import KeyGate


class AppServices(Protocol):
    @property
    def settings(self) -> Settings: ...

    @property
    def downloads(self) -> DownloadsController: ...

    @property
    def cache_dir(self) -> Path:
        """The hub cache shown and downloaded into."""
        ...

    @property
    def read_only(self) -> bool:
        """--read-only: destructive actions are hidden and refused."""
        ...

    @property
    def endpoint(self) -> str | None: ...

    @property
    def keymap(self) -> Mapping[str, str]:
        """The user's key overrides by action id (for hints that name a key)."""
        ...

    @property
    def keys(self) -> KeyGate:
        """The key gate: keys a widget held while it loaded are replayed through it, in order."""
        ...

    def enqueue_download(self, request: DownloadRequest) -> str:
        """Queue a download; returns what to tell the user."""
        ...


__all__ = ["AppServices"]
