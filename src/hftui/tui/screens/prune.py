"""Prune menu: what each prune action would free, before any confirmation."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from hftui.core import vocab
from hftui.core.vocab import size as size_text
from hftui.tui.keyboard import focus_now
from hftui.tui.widgets.lists import ListOptions


@dataclass(frozen=True)
class PruneChoice:
    key: str  # "detached" | "incomplete" | "locks" | "shared" | "kept"
    title: str
    count: int
    size: int


class PruneScreen(ModalScreen[str | None]):
    DEFAULT_CSS = """
    PruneScreen { align: center middle; }
    PruneScreen > #dialog {
        width: 90%; max-width: 90; height: auto; max-height: 90%;
        border: thick $warning; background: $surface; padding: 0 1;
    }
    PruneScreen #title { text-style: bold; }
    PruneScreen OptionList { height: auto; max-height: 10; }
    PruneScreen #hint { color: $text-muted; }
    """
    BINDINGS = [Binding("escape,q", "dismiss_none", "Close")]

    def __init__(self, choices: list[PruneChoice], on_ready: Callable[[], None] | None = None) -> None:
        super().__init__()
        self.choices = choices
        self.on_ready = on_ready
        """Called once the list has focus: keys typed while the figures were computed act here."""

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static("Prune the cache", id="title")
            options = [
                Option(
                    f"{c.title:<32} {vocab.count(c.count, 'item'):>11}  {size_text(c.size):>10}",
                    id=c.key,
                    disabled=c.count == 0,
                )
                for c in self.choices
            ]
            yield ListOptions(*options, id="prune-options")
            yield Static("enter: preview and confirm · escape: close", id="hint")

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        focus_now(options)
        first = next((i for i, c in enumerate(self.choices) if c.count), None)
        options.highlighted = first
        if self.on_ready is not None:
            self.on_ready()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_dismiss_none(self) -> None:
        self.dismiss(None)
