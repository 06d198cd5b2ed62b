"""`?`: every key, grouped by where it applies, generated from `tui/actions.py`."""

from __future__ import annotations

from collections.abc import Mapping

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from hftui.core import vocab
from hftui.tui import actions


def bindings_table(*, read_only: bool, keymap: Mapping[str, str] | None = None) -> Table:
    """Keys, what they do and the action id (for a `[keymap]` in settings.toml), one section per pane.

    With --read-only the destructive keys do nothing, so help does not advertise them."""
    table = Table(box=None, show_header=False, padding=(0, 2), expand=True)
    table.add_column("key", style="bold", no_wrap=True)
    table.add_column("action", ratio=1)
    table.add_column("id", style="dim", no_wrap=True)
    for title, scopes in actions.HELP_SECTIONS:
        rows = actions.help_rows(scopes, read_only=read_only, keymap=keymap)
        if not rows:
            continue
        table.add_row(Text(f" {title} ", style="reverse"), "", "")
        for keys, line, action_id in rows:
            table.add_row(keys, line, action_id)
        table.add_row("", "", "")
    return table


def status_legend() -> Table:
    """What each status word of the Cache pane (and `hftui scan`) means, from core/vocab.py."""
    table = Table(box=None, show_header=False, padding=(0, 2), expand=True)
    table.add_column("word", style="bold", no_wrap=True)
    table.add_column("meaning", ratio=1)
    table.add_row(Text(" Cache statuses ", style="reverse"), "")
    for word, meaning in vocab.STATUS_LEGEND:
        table.add_row(word, meaning)
    return table


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 90%; max-width: 110; height: 90%;
        border: thick $primary; background: $surface; padding: 0 1;
    }
    """
    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close")]

    def __init__(self, *, read_only: bool = False, keymap: Mapping[str, str] | None = None) -> None:
        super().__init__()
        self.table = bindings_table(read_only=read_only, keymap=keymap)

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(
                "[b]hftui keys[/b]  (escape closes; the dim ids rebind keys in settings.toml \\[keymap])\n"
            )
            yield Static(self.table)
            yield Static(status_legend())

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(result)
