"""One line, docked above the footer on every pane: what the download queue is doing.

Also home of `SteadyStatic`, the Static for text that changes several times a second.
"""

from __future__ import annotations

from typing import Any

from textual.css.scalar import Unit
from textual.visual import VisualType
from textual.widgets import Static


def same_content(a: Any, b: Any) -> bool:
    """True when showing `b` instead of `a` would look the same.

    `rich.text.Text.__eq__` compares the characters and spans but not the base style, so
    `Text("done", style="green") == Text("done", style="red")`; the style is compared here too.
    """
    return type(a) is type(b) and a == b and getattr(a, "style", None) == getattr(b, "style", None)


class SteadyStatic(Static):
    """A Static whose frequent updates repaint it without laying out the whole screen.

    `Static.update` asks for a layout of the screen on every call (new text may need a new
    size), and that reflow costs more than everything else a cursor key does (measured: about
    half the UI thread's CPU per cursor key in the Queue pane). `show_content` skips text that
    looks the same as what is shown, and asks for a layout only when the widget's size can
    change: never when CSS fixes its height and width, and with `height: auto` only when the new
    text needs a different number of lines at the width the widget has now.
    """

    def show_content(self, content: VisualType) -> None:
        if same_content(self.content, content):
            return
        self.update(content, layout=False)
        if self._size_may_change():
            self.refresh(layout=True)

    def _size_may_change(self) -> bool:
        styles = self.styles
        if styles.width is not None and (styles.width.is_auto or styles.width.is_fraction):
            return True  # fraction widths act like auto in some layouts: stay on the safe side
        if styles.height is None or not styles.height.is_auto:
            return False
        width, height = self.size
        if not width:
            # Not on screen or not laid out yet: no size to compare with, so play safe.
            return True
        # The same measurement the layout makes (`update` cleared the cached one), clamped by
        # min-/max-height in cells as the layout clamps it: a widget that keeps a line for
        # an optional note does not reflow the screen when the note comes and goes.
        needed = self.get_content_height(self.container_size, self.app.size, width)
        low, high = _cells(styles.min_height), _cells(styles.max_height)
        if low is not None:
            needed = max(needed, low)
        if high is not None:
            needed = min(needed, high)
        return needed != height


def _cells(scalar: Any) -> int | None:
    """A min/max height given in cells (`2`), else None (unset, or relative: not clamped here)."""
    if scalar is None or scalar.unit is not Unit.CELLS:
        return None
    return int(scalar.value)


class QueueSummary(SteadyStatic):
    DEFAULT_CSS = """
    QueueSummary {
        height: 1;
        padding: 0 1;
        background: $panel;
        color: $text-muted;
    }
    """

    def update_summary(self, text: str) -> None:
        self.show_content(text)
