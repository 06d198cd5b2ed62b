"""The Browse pane (placeholder until its issue lands)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static


class BrowsePane(Vertical):
    DEFAULT_CSS = """
    BrowsePane { height: 1fr; }
    """

    def compose(self) -> ComposeResult:
        yield Static("Browse: coming soon", id="browse-placeholder")

    def commands(self) -> Iterable[tuple[str, str, Callable[[], object]]]:
        """(title, help, callback) entries this pane adds to the command palette."""
        return ()
