"""One line, docked above the footer on every pane: what the download queue is doing."""

from __future__ import annotations

from textual.widgets import Static


class QueueSummary(Static):
    DEFAULT_CSS = """
    QueueSummary {
        height: 1;
        padding: 0 1;
        background: $panel;
        color: $text-muted;
    }
    """

    def update_summary(self, text: str) -> None:
        self.update(text)
