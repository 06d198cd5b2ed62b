"""PatternBar: include / exclude globs, destination, force-download, and the live preview line.

It only edits text and shows what it is told; the Browse pane parses the globs (`core.patterns`) and computes
the preview in a worker. Typing posts one debounced `PatternBar.Changed`.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.timer import Timer
from textual.widgets import Checkbox, Input, Label, Static

from hftui.core.hub.patterns import Selection, join_globs
from hftui.tui.widgets.text_box import TextBox

DEBOUNCE_S = 0.25


class PatternBar(Vertical):
    DEFAULT_CSS = """
    PatternBar { height: auto; }
    PatternBar > Horizontal { height: 1; }
    PatternBar Label { width: 10; color: $text-muted; }
    PatternBar Input { width: 1fr; }
    PatternBar #local-dir-input { width: 1fr; }
    PatternBar Checkbox { width: auto; }
    PatternBar #preview-line { height: auto; max-height: 3; padding: 0 1; }
    PatternBar #preview-line.-error { color: $error; }
    PatternBar #preview-line.-warning { color: $warning; }
    """

    @dataclass
    class Changed(Message):
        bar: PatternBar
        immediate: bool = False

        @property
        def control(self) -> PatternBar:
            return self.bar

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._timer: Timer | None = None

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield Label("Include")
            yield TextBox(
                placeholder="globs, e.g. *.safetensors, *.json (empty: every file)",
                id="include-input",
                compact=True,
            )
        with Horizontal():
            yield Label("Exclude")
            yield TextBox(placeholder="globs, e.g. *.bin, onnx/*", id="exclude-input", compact=True)
        with Horizontal():
            yield Label("Local dir")
            yield TextBox(
                placeholder="empty: the hftui cache (or a path for --local-dir)",
                id="local-dir-input",
                compact=True,
            )
            yield Checkbox("force download", id="force-download", compact=True)
        yield Static("Open a repo to see its files.", id="preview-line", markup=False)  # globs hold [ ]

    # -- values ----------------------------------------------------------------------------------------

    @property
    def include_text(self) -> str:
        return self.query_one("#include-input", Input).value

    @property
    def exclude_text(self) -> str:
        return self.query_one("#exclude-input", Input).value

    @property
    def local_dir_text(self) -> str:
        return self.query_one("#local-dir-input", Input).value.strip()

    @property
    def force(self) -> bool:
        return self.query_one("#force-download", Checkbox).value

    def set_selection(self, selection: Selection) -> None:
        """Show `selection` in the inputs without posting Changed."""
        for input_id, globs in (("#include-input", selection.include), ("#exclude-input", selection.exclude)):
            widget = self.query_one(input_id, Input)
            text = join_globs(globs)
            if widget.value != text:
                with widget.prevent(Input.Changed):
                    widget.value = text

    def toggle_force(self) -> None:
        box = self.query_one("#force-download", Checkbox)
        box.value = not box.value

    def show_preview(self, text: str, severity: str = "information") -> None:
        line = self.query_one("#preview-line", Static)
        line.update(text)
        line.set_class(severity == "error", "-error")
        line.set_class(severity == "warning", "-warning")

    @property
    def preview_text(self) -> str:
        return str(self.query_one("#preview-line", Static).render())

    # -- events ----------------------------------------------------------------------------------------

    @on(Input.Changed)
    def _typed(self, event: Input.Changed) -> None:
        event.stop()
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_timer(DEBOUNCE_S, self._fire)

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        self.post_message(self.Changed(self, immediate=True))

    @on(Checkbox.Changed)
    def _force_changed(self, event: Checkbox.Changed) -> None:
        event.stop()
        self.post_message(self.Changed(self, immediate=True))

    def _fire(self) -> None:
        self._timer = None
        self.post_message(self.Changed(self))

    @property
    def pending(self) -> bool:
        """A debounced change has not been posted yet."""
        return self._timer is not None


__all__ = ["PatternBar"]
