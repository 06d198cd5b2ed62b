"""`c`: choose what to copy to the clipboard (OSC 52 via `App.copy_to_clipboard`)."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from hftui.core.cache.names import printable
from hftui.tui.widgets.lists import ListOptions


class CopyMenuScreen(ModalScreen[str | None]):
    """Returns the text to copy, or None."""

    DEFAULT_CSS = """
    CopyMenuScreen { align: center middle; }
    CopyMenuScreen > #dialog {
        width: 90%; max-width: 110; height: auto; border: thick $primary; background: $surface; padding: 0 1;
    }
    CopyMenuScreen OptionList { height: auto; }
    """
    BINDINGS = [Binding("escape,q", "dismiss_none", "Close")]

    def __init__(self, choices: list[tuple[str, str]]) -> None:
        super().__init__()
        self.choices = choices

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static("Copy to clipboard", id="title")
            yield ListOptions(
                *(
                    Option(Text(f"{label}: {printable(text)}"), id=str(i))
                    for i, (label, text) in enumerate(self.choices)
                )
            )

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.choices[int(event.option.id or 0)][1])

    def action_dismiss_none(self) -> None:
        self.dismiss(None)
