"""The Roots screen (`R` in the Cache pane): every Hugging Face folder on the box, one group per root.

A view over `hftui.core.controllers.roots.RootsController`. Each root is a header row (its kind,
path, total and the free space of its filesystem, with read-only / network flags), its entries are
the rows under it (biggest first), then the duplicate bytes, then the warnings. `d` deletes the
highlighted entry or duplicate copy after a confirmation with real figures; `r` rescans.
Thread workers never touch widgets: results come back as `Delivered` messages.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static
from textual.worker import get_current_worker

from hftui.core import vocab
from hftui.core.cache.names import printable
from hftui.core.cache.roots import KIND_TITLES
from hftui.core.controllers.cache import Notice
from hftui.core.controllers.roots import RootConfirm, RootsController, RootsListener
from hftui.core.controllers.runner import Task
from hftui.tui import actions

if TYPE_CHECKING:
    from hftui.core.cache.roots_scan import RootsReport

DESTRUCTIVE = actions.destructive_names("roots")


@dataclass(frozen=True)
class Row:
    """What a table row stands for: a root header, an entry, a duplicate copy, or a warning."""

    kind: str
    root: str = ""
    path: str = ""
    what: str = ""
    note: str = ""
    rebuild: str = ""


class _Task:
    def __init__(self, screen: RootsScreen) -> None:
        self.screen = screen
        self.worker = get_current_worker()

    def cancelled(self) -> bool:
        return self.worker.is_cancelled

    def deliver(self, callback: Callable[[], None]) -> None:
        self.screen.post_message(RootsScreen.Delivered(callback))


class _Runner:
    def __init__(self, screen: RootsScreen) -> None:
        self.screen = screen

    def start(self, group: str, body: Callable[[Task], None]) -> None:
        screen = self.screen
        screen.run_worker(
            lambda: body(_Task(screen)), thread=True, group=group, exit_on_error=False, name=group
        )


class _Listener(RootsListener):
    def __init__(self, screen: RootsScreen) -> None:
        self.screen = screen

    def report_changed(self) -> None:
        self.screen.render_report()

    def confirm(self, request: RootConfirm) -> None:
        self.screen.ask_confirmation(request)

    def notice(self, notice: Notice) -> None:
        self.screen.notify(notice.text, title=notice.title, severity=notice.severity, timeout=notice.timeout)


class RootsScreen(Screen[None]):
    DEFAULT_CSS = """
    RootsScreen #roots-header { height: 1; padding: 0 1; background: $boost; }
    RootsScreen #roots-table { height: 1fr; }
    RootsScreen #roots-note {
        height: 2; padding: 0 1; background: $surface; color: $text-muted;
        text-wrap: wrap; text-overflow: ellipsis;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = actions.bindings("roots")

    @dataclass
    class Delivered(Message):
        callback: Callable[[], None]

    def __init__(
        self, controller_factory: Callable[[RootsScreen], RootsController], *, read_only: bool
    ) -> None:
        super().__init__()
        self.read_only = read_only
        self.rows: dict[str, Row] = {}
        self.controller = controller_factory(self)
        self.controller.listeners.append(_Listener(self))

    @staticmethod
    def runner_for(screen: RootsScreen) -> _Runner:
        return _Runner(screen)

    def compose(self) -> ComposeResult:
        yield Static("Scanning roots…", id="roots-header")
        table: DataTable[Any] = DataTable(id="roots-table", cursor_type="row", zebra_stripes=False)
        yield table
        yield Static("", id="roots-note")
        yield Footer()

    @property
    def _what_width(self) -> int:
        # What is left of the screen after the other columns, their padding and the scrollbar, so
        # the table never needs a horizontal scrollbar (80 columns: 24).
        return max(16, self.app.size.width - 28 - 9 - 9 - 8 - 2)

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_column("Name", key="name", width=28)
        table.add_column("Size", key="size", width=9)
        table.add_column("Used", key="used", width=9)
        table.add_column("What", key="what", width=self._what_width)
        self.controller.start_scan()
        table.focus()

    @on(Delivered)
    def _delivered(self, event: Delivered) -> None:
        event.stop()
        event.callback()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return not (action in DESTRUCTIVE and self.read_only)

    # -- rendering -----------------------------------------------------------------------------------

    def render_report(self) -> None:
        table = self.query_one(DataTable)
        header = self.query_one("#roots-header", Static)
        report = self.controller.report
        cursor = self._current_key()
        table.clear()
        self.rows.clear()
        if report is None:
            header.update("Scanning roots…" if self.controller.scanning else "Roots could not be scanned")
            return
        header.update(self._summary(report))
        now = time.time()
        for scan in report.scans:
            key = f"root:{scan.root.path}"
            fs = scan.fs
            flags = []
            if fs is not None:
                flags.append(f"{vocab.size(fs.free)} free" if fs.free is not None else "free ?")
                if fs.read_only:
                    flags.append("read-only")
                if fs.network:
                    flags.append(f"network ({fs.fs_type})")
            # The path goes last, its tail kept: the note line under the table has it whole.
            head = " · ".join(flags)
            room = max(8, self._what_width - len(head) - 3)
            what = scan.failed or " · ".join([*flags, _tail(_home(scan.root.path), room)])
            self._add(
                key,
                Row("root", scan.root.path, scan.root.path, scan.title),
                Text(f"▾ {scan.title}", style="bold"),
                Text(vocab.size(scan.size), style="bold", justify="right"),
                "",
                Text(printable(what), style="bold red" if scan.failed else "bold"),
            )
            if scan.failed:
                continue
            for entry in sorted(scan.entries, key=lambda e: (-e.size, e.name)):
                note = entry.detail + (f" · if deleted: {entry.rebuild}" if entry.rebuild else "")
                if entry.problems:
                    note += " · " + entry.problems[0]
                self._add(
                    f"entry:{scan.root.path}\0{entry.path}",
                    Row(
                        "entry" if entry.deletable else "view",
                        scan.root.path,
                        entry.path,
                        entry.name,
                        note,
                        entry.rebuild,
                    ),
                    Text("  " + printable(entry.name), style="yellow" if entry.problems else ""),
                    Text(vocab.size(entry.size), justify="right"),
                    vocab.ago(entry.last_used, now) if entry.last_used else "-",
                    printable(entry.detail),
                )
        if report.duplicates:
            self._add(
                "dups",
                Row("header"),
                Text("▾ duplicates", style="bold"),
                Text(vocab.size(report.duplicate_bytes), style="bold", justify="right"),
                "",
                Text(
                    f"the same content in {vocab.count(len(report.duplicates), 'file')} of several roots",
                    style="bold",
                ),
            )
            for group in report.duplicates:
                for copy in group.freeable():
                    elsewhere = next((c for c in group.copies if c.path != copy.path), None)
                    also = (
                        f"also in {KIND_TITLES[elsewhere.root_kind]} {_home(elsewhere.root)}"
                        if elsewhere
                        else ""
                    )
                    self._add(
                        f"dup:{group.etag}:{copy.path}",
                        Row(
                            "dup",
                            copy.root,
                            copy.path,
                            f"the copy {copy.owner} in {copy.root}",
                            also,
                            "the hub cache keeps this content; the local dir loses this file",
                        ),
                        Text("  " + printable(copy.owner)),
                        Text(vocab.size(group.size), justify="right"),
                        "",
                        printable(also),
                    )
            for root, owner, size, other_roots in report.hub_repo_duplicates():
                where = ", ".join(_home(o) for o in other_roots)
                self._add(
                    f"duphub:{root}\0{owner}",
                    Row(
                        "entry",
                        root,
                        os.path.join(root, owner),
                        f"{owner} in {root}",
                        f"{vocab.size(size)} of its blobs are also in {where}; d deletes the repo from {root}",
                        f"the hub cache {where} keeps the content",
                    ),
                    Text("  " + printable(owner)),
                    Text(vocab.size(size), justify="right"),
                    "",
                    printable(f"also in hub cache {where}"),
                )
        warnings = report.all_warnings()
        if warnings:
            self._add(
                "warns",
                Row("header"),
                Text(f"▾ {vocab.count(len(warnings), 'warning')}", style="bold yellow"),
                "",
                "",
                "",
            )
            for i, (path, message) in enumerate(warnings):
                self._add(
                    f"warn:{i}",
                    Row("view", note=message),
                    Text("  " + printable(path), style="yellow"),
                    "",
                    "",
                    printable(message),
                )
        if cursor is not None and cursor in self.rows:
            table.move_cursor(row=table.get_row_index(cursor), animate=False)
        self._show_note()

    def _summary(self, report: RootsReport) -> str:
        total = sum(s.size for s in report.scans)
        parts = [f"{vocab.count(len(report.scans), 'root')}, {vocab.size(total)}"]
        if report.duplicates:
            parts.append(f"{vocab.size(report.duplicate_bytes)} duplicated")
        warnings = report.all_warnings()
        if warnings:
            parts.append(vocab.count(len(warnings), "warning"))
        if self.read_only:
            parts.append("read-only")
        return " · ".join(parts)

    def _add(self, key: str, row: Row, *cells: Any) -> None:
        self.rows[key] = row
        self.query_one(DataTable).add_row(*cells, key=key)

    def _current_key(self) -> str | None:
        table = self.query_one(DataTable)
        if not table.row_count:
            return None
        try:
            return str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)
        except Exception:
            return None

    @property
    def current(self) -> Row | None:
        key = self._current_key()
        return self.rows.get(key) if key is not None else None

    @on(DataTable.RowHighlighted)
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_note()

    def _show_note(self) -> None:
        row = self.current
        note = self.query_one("#roots-note", Static)
        if row is None:
            note.update("")
        elif row.kind == "root":
            scan = self.controller.report.scan_of(row.root) if self.controller.report is not None else None
            where = f" · {scan.fs.describe()}" if scan is not None and scan.fs is not None else ""
            source = f" · from {scan.root.source}" if scan is not None else ""
            note.update(printable(f"{row.what} {row.root}{where}{source}"))
        else:
            note.update(printable(row.note))

    # -- actions -------------------------------------------------------------------------------------

    def action_back(self) -> None:
        self.dismiss(None)

    def action_rescan(self) -> None:
        self.controller.start_scan()

    def action_delete(self) -> None:
        row = self.current
        if row is None or row.kind not in ("entry", "dup"):
            self.notify(
                "Highlight an entry of a datasets cache, a local dir or the Xet dir, or a duplicate copy.",
                severity="warning",
            )
            return
        self.controller.request_delete(row.root, [row.path], row.what, row.rebuild)

    def ask_confirmation(self, request: RootConfirm) -> None:
        from hftui.tui.screens.confirm import ConfirmScreen

        plan = request.plan
        lines = []
        if request.changes:
            lines.append(
                "Nothing was deleted: " + "; ".join(request.changes) + ". The figures below are new."
            )
        lines.append(
            f"Frees {vocab.size(plan.size)} ({vocab.count(plan.files, 'file')}) in {plan.root.path}:"
        )
        lines.extend(f"  {t.path}  {vocab.size(t.size)}" for t in plan.targets)
        if plan.fs is not None and plan.fs.free is not None:
            lines.append(
                f"Free space on {plan.fs.mount_point} afterwards: {vocab.size(plan.fs.free + plan.size)}"
            )
        if request.note:
            lines.append(f"Afterwards: {request.note}")
        lines.extend(f"Refused: {why}" for why in plan.refused)

        def answered(yes: bool | None) -> None:
            if yes:
                self.controller.confirmed(request)

        self.app.push_screen(
            ConfirmScreen(
                f"Delete {printable(request.what)}?",
                Text("\n".join(printable(line) for line in lines)),
                confirm_label="Delete",
                allow_confirm=plan.can_run and not self.read_only,
            ),
            answered,
        )


def _home(path: str) -> str:
    home = os.path.expanduser("~")
    return (
        "~" + path[len(home) :] if home != "/" and (path == home or path.startswith(home + os.sep)) else path
    )


def _tail(text: str, room: int) -> str:
    return text if len(text) <= room else "…" + text[-(room - 1) :]


__all__ = ["RootsScreen"]
