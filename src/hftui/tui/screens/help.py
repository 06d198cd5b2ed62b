"""`?`: every key binding, grouped by where it applies."""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static


def _rows(bindings: list[BindingType]) -> list[tuple[str, str]]:
    """One row per action: keys bound to the same action (`1` and `f1`) are listed together."""
    keys_by_action: dict[tuple[str, str], list[str]] = {}
    for binding in bindings:
        if not isinstance(binding, Binding) or not binding.description:
            continue
        for key in binding.key.split(","):
            shown = {"question_mark": "?", "space": "space", "slash": "/"}.get(key.strip(), key.strip())
            keys = keys_by_action.setdefault((binding.action, binding.description), [])
            if shown not in keys:
                keys.append(shown)
    return [(", ".join(keys), description) for (_, description), keys in keys_by_action.items()]


def bindings_table(sections: list[tuple[str, list[BindingType]]]) -> Table:
    table = Table(box=None, show_header=False, padding=(0, 2), expand=True)
    table.add_column("key", style="bold", no_wrap=True)
    table.add_column("action")
    for title, bindings in sections:
        rows = _rows(bindings)
        if not rows:
            continue
        table.add_row(f"[reverse] {title} [/reverse]", "")
        for key, description in rows:
            table.add_row(key, description)
        table.add_row("", "")
    return table


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 90%; max-width: 90; height: 90%;
        border: thick $primary; background: $surface; padding: 0 1;
    }
    """
    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close")]

    def compose(self) -> ComposeResult:
        from hftui.tui.panes.browse import BrowsePane
        from hftui.tui.panes.cache import CachePane
        from hftui.tui.panes.queue import QueuePane

        sections: list[tuple[str, list[BindingType]]] = [("Everywhere", list(self.app.BINDINGS))]
        read_only = bool(getattr(self.app, "read_only", False))
        for title, pane in (("Cache", CachePane), ("Browse", BrowsePane), ("Queue", QueuePane)):
            bindings = list(pane.help_bindings() if hasattr(pane, "help_bindings") else pane.BINDINGS)
            if read_only:
                # In --read-only the destructive keys do nothing, so help must not advertise them.
                hidden = set(getattr(pane, "DESTRUCTIVE_ACTIONS", ()))
                bindings = [b for b in bindings if not (isinstance(b, Binding) and b.action in hidden)]
            sections.append((title, bindings))
        sections.append(
            ("Command palette", [Binding("ctrl+p", "command_palette", "Every action, searchable")])
        )
        self.table = bindings_table(sections)
        with VerticalScroll():
            yield Static("[b]hftui keys[/b]  (escape closes)\n")
            yield Static(self.table)

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(result)
