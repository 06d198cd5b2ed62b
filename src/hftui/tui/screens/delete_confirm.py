"""The delete confirmation: every item of a `DeletionPlan`, its size, and the bytes really freed."""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from hftui.core.cache.cleanup import DeletionPlan
from hftui.core.cache.names import printable
from hftui.core.vocab import size as size_text
from hftui.tui.compat import message_clock

MAX_LISTED = 200
MAX_CHANGES = 6


def plan_table(plan: DeletionPlan, skipped: list[tuple[str, str]] | None = None) -> Table:
    table = Table(box=None, show_header=True, header_style="bold", padding=(0, 1), expand=True)
    table.add_column("item", ratio=1, overflow="fold")
    table.add_column("size", justify="right", no_wrap=True)
    rows: list[tuple[Text | str, str]] = []
    for item in plan.items:
        label = Text(printable(item.mark.label))
        if item.note:
            label.append(f"  ({item.note})", style="italic")
        rows.append((label, size_text(item.size_on_disk)))
    for loose in plan.loose_files:
        rows.append(
            (
                printable(
                    str(
                        loose.path.relative_to(plan.cache_dir)
                        if loose.path.is_relative_to(plan.cache_dir)
                        else loose.path
                    )
                ),
                size_text(loose.size_on_disk),
            )
        )
    for path, size in plan.shared_blobs:
        rows.append((f"shared blob {path.name[:16]}…", size_text(size)))
    for row_label, row_size in rows[:MAX_LISTED]:
        table.add_row(row_label, row_size)
    if len(rows) > MAX_LISTED:
        table.add_row(f"… and {len(rows) - MAX_LISTED} more", "")
    for mark in plan.not_found:
        table.add_row(Text(f"✗ {printable(mark.label)}: no longer in the cache", style="italic"), "")
    for skipped_label, why in skipped or []:
        table.add_row(Text(f"✗ {printable(skipped_label)}: skipped, {printable(why)}", style="italic"), "")
    return table


class DeleteConfirmScreen(ModalScreen[bool]):
    """`y` deletes, `n`/`escape` cancels. Focus starts on Cancel.

    With `changes`, this is a second confirmation: the disk changed between the first one and the
    deletion, nothing was deleted, and `plan` is the plan made again on the disk as it is now."""

    DEFAULT_CSS = """
    DeleteConfirmScreen { align: center middle; }
    DeleteConfirmScreen > #dialog {
        width: 90%; max-width: 110; height: auto; max-height: 90%;
        border: thick $error; background: $surface; padding: 0 1;
    }
    DeleteConfirmScreen #title { text-style: bold; }
    DeleteConfirmScreen #items { height: auto; max-height: 45vh; }
    DeleteConfirmScreen #changes { margin-bottom: 1; color: $text-warning; }
    DeleteConfirmScreen #refused { margin-top: 1; color: $text-error; text-style: bold; }
    DeleteConfirmScreen #freed { margin-top: 1; text-style: bold; }
    DeleteConfirmScreen #buttons { height: auto; align-horizontal: right; }
    DeleteConfirmScreen Button { margin-left: 2; }
    """

    BINDINGS = [
        Binding("escape,n", "answer(False)", "Cancel"),
        Binding("y", "answer(True)", "Delete"),
    ]

    def __init__(
        self,
        title: str,
        plan: DeletionPlan,
        *,
        skipped: list[tuple[str, str]] | None = None,
        changes: Sequence[str] = (),
    ) -> None:
        super().__init__()
        self.title_text = title
        self.plan = plan
        self.skipped = skipped or []
        self.changes = tuple(changes)

    @property
    def allow_confirm(self) -> bool:
        return not self.plan.is_empty

    def compose(self) -> ComposeResult:
        plan = self.plan
        with Vertical(id="dialog"):
            yield Static(self.title_text, id="title")
            if self.changes:
                shown = [f"• {printable(change)}" for change in self.changes[:MAX_CHANGES]]
                if len(self.changes) > MAX_CHANGES:
                    shown.append(f"… and {len(self.changes) - MAX_CHANGES} more")
                yield Static(
                    Text(
                        "The cache changed since you confirmed; nothing was deleted. What changed:\n"
                        + "\n".join(shown)
                        + "\nThe figures below are for the cache as it is now."
                    ),
                    id="changes",
                )
            # Everything that can grow scrolls in one box, so the total and the buttons always fit.
            with VerticalScroll(id="items"):
                yield Static(plan_table(plan, self.skipped))
                if plan.refused:
                    yield Static(
                        "\n".join(
                            f"✗ {printable(r.mark.label)}: not deleted, {printable(r.reason)}"
                            for r in plan.refused
                        ),
                        id="refused",
                    )
            if plan.is_empty:
                freed = "Nothing can be deleted."
            else:
                freed = (
                    f"Marked {size_text(plan.total_size)} · deleting frees {size_text(plan.expected_freed_size)}"
                    f" ({plan.expected_freed_size:,} bytes). This cannot be undone."
                )
            yield Static(freed, id="freed")
            with Horizontal(id="buttons"):
                yield Button("Cancel (n)", id="cancel")
                if self.allow_confirm:
                    yield Button("Delete (y)", id="confirm", variant="error")

    shown_at = float("inf")
    """When the figures were first on screen (the message clock): a `y` older than that was
    typed ahead, before the user could read them, and is not an answer."""

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()
        self.call_after_refresh(self._shown)

    def _shown(self) -> None:
        self.shown_at = message_clock()

    def on_key(self, event: events.Key) -> None:
        if event.key == "y" and event.time < self.shown_at:
            event.stop()
            event.prevent_default()
            self.notify("A y typed before this confirmation showed was ignored: read it, then y or n.")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "confirm" and self.allow_confirm)

    def action_answer(self, value: bool) -> None:
        self.dismiss(value and self.allow_confirm)
