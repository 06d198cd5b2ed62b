"""The Queue pane: every download job with its state, progress, speed, ETA and error.

Rows are keyed by job id and updated with `update_cell` (only cells whose text changed), so a
progress tick costs a few cell updates, not a rebuild. The overall line and the detail of the
highlighted job are `SteadyStatic`s: a cursor key or a progress tick repaints them without a
layout of the whole screen. Keys act on the highlighted job.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from rich.cells import cell_len
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from hftui.core import vocab
from hftui.core.downloads.queue import Job, JobState
from hftui.tui import actions
from hftui.tui.keyboard import focus_now
from hftui.tui.widgets.lists import ListTable
from hftui.tui.widgets.summary import SteadyStatic, same_content

if TYPE_CHECKING:
    from hftui.tui.downloads import DownloadsController
    from hftui.tui.services import AppServices

COLUMNS = (
    ("#", "pos"),
    ("Repo", "repo"),
    ("State", "state"),
    ("Progress", "progress"),
    ("Files", "files"),
    ("Speed", "speed"),
    ("ETA", "eta"),
    ("Error / note", "note"),
    ("Destination", "dest"),
)
WIDTHS = {"pos": 2, "state": 13, "progress": 26, "files": 7, "speed": 11, "eta": 6}
"""Fixed widths for cells that change while a job runs; the others grow with their content."""
DROP_ORDER = ("dest", "files", "eta", "pos", "note", "speed")
"""When the terminal is too narrow for every column, whole columns go in this order (never cut to
`networ`). Repo, state and progress always stay; the highlighted job's whole error and destination
are in the detail lines under the table whatever the width."""


CAPS = {"repo": 48, "note": 36, "dest": 36}
"""Widest these columns get in the table (a longer cell ends in `…`; the detail lines show it whole)."""


def column_widths(width: int, rows: Iterable[dict[str, Any]], padding: int = 1) -> dict[str, int]:
    """Each shown column's content width at `width` cells: every column, minus whole columns in
    DROP_ORDER until the rest fit."""
    rows = list(rows)

    def plain(cell: Any) -> str:
        return cell.plain if isinstance(cell, Text) else str(cell if cell is not None else "")

    def content_width(label: str, key: str) -> int:
        if key in WIDTHS:
            return WIDTHS[key]
        widest = max([cell_len(label), *(cell_len(plain(row.get(key))) for row in rows)])
        return min(widest, max(CAPS.get(key, widest), cell_len(label)))

    widths = {key: content_width(label, key) for label, key in COLUMNS}
    shown = [key for _, key in COLUMNS]

    def total(keys: Iterable[str]) -> int:
        return sum(widths[k] + 2 * padding for k in keys)

    dropped = []
    for key in DROP_ORDER:
        if total(shown) <= width:
            break
        shown.remove(key)
        dropped.append(key)
    # A narrow column dropped early (the ETA) comes back if the room a wide one left is enough.
    for key in reversed(dropped):
        if total(shown) + widths[key] + 2 * padding <= width:
            shown.append(key)
    return {key: widths[key] for _, key in COLUMNS if key in shown}


def columns_that_fit(width: int, rows: Iterable[dict[str, Any]], padding: int = 1) -> tuple[str, ...]:
    """The column keys shown at `width` cells."""
    return tuple(column_widths(width, rows, padding))


STATE_STYLE = {
    JobState.QUEUED: "dim",
    JobState.CHECKING: "cyan",
    JobState.RUNNING: "bold cyan",
    JobState.PAUSED: "yellow",
    JobState.DONE: "green",
    JobState.FAILED: "bold red",
    JobState.CANCELLED: "dim",
}


def job_cells(job: Job, position: int, default_cache: str | None = None) -> dict[str, Any]:
    request = job.request
    repo = vocab.display_id(request.repo_type, request.repo_id)
    if request.revision:
        repo += f"@{request.revision}"
    if request.allow_patterns:
        repo += f" [{', '.join(request.allow_patterns)}]"
    if len(repo) > 34:
        repo = repo[:33] + "…"
    state = job.state + (" (held)" if job.held else "")
    copied_bytes, copied_files = job.copied
    if job.bytes_total == 0 and job.files_total == 0 and job.state == JobState.DONE and copied_files:
        # A local-dir job that copied everything from the Hub cache: nothing travelled, but files landed.
        progress, files = f"copied {vocab.size(copied_bytes)}", f"{copied_files}/{copied_files}"
    elif job.bytes_total == 0 and job.files_total == 0 and job.state == JobState.DONE:
        # Every file was already complete: "0 B / 0 B, 0/0" would read like a failure.
        progress, files = vocab.nothing_fetched(job), ""
    elif job.bytes_total is not None:
        pct = 100 * job.bytes_done / job.bytes_total if job.bytes_total else 100.0
        progress = f"{pct:3.0f}% {vocab.size(job.bytes_done)} / {vocab.size(job.bytes_total)}"
        files = f"{job.files_done}/{job.files_total}" if job.files_total is not None else ""
    else:
        progress = ""
        files = f"{job.files_done}/{job.files_total}" if job.files_total is not None else ""
    running = job.state == JobState.RUNNING
    if request.local_dir:
        dest = request.local_dir
    elif request.cache_dir and request.cache_dir != default_cache:
        dest = request.cache_dir
    else:
        dest = "cache"
    note = job.error if job.state == JobState.FAILED and job.error else job.message
    kept = job.kept_summary
    if kept is not None:
        progress = progress.replace(" / ", " kept / ", 1)
        note = f"{note} · {kept}" if note else kept
    return {
        "pos": str(position),
        # Text, not str: DataTable reads a str as markup, and "[onnx/*]" would vanish as a tag.
        "repo": Text(repo),
        "state": Text(state, style=STATE_STYLE.get(job.state, "")),
        "progress": progress,
        "files": files,
        "speed": vocab.speed(job.speed) if running else "",
        "eta": vocab.duration(job.eta) if running and job.eta is not None else "",
        "dest": Text(dest),
        "note": Text(note or "", style="red" if job.state == JobState.FAILED else ""),
    }


class QueuePane(Vertical):
    DEFAULT_CSS = """
    QueuePane { height: 1fr; }
    QueuePane #queue-overall { height: 1; padding: 0 1; background: $boost; }
    QueuePane #queue-table { height: 1fr; }
    /* A line is kept for the note, so a note that comes and goes (pause, resume) does not
       move the table; a long error still grows it. */
    QueuePane #queue-detail { height: auto; min-height: 2; max-height: 6; padding: 0 1; background: $boost; }
    QueuePane #queue-empty { padding: 1 2; color: $text-muted; }
    QueuePane #queue-empty { display: none; }
    QueuePane.-empty #queue-empty { display: block; }
    """

    BINDINGS = actions.bindings("queue")
    ACTION_SCOPE = "queue"
    JOB_ACTIONS = frozenset({"toggle_pause", "cancel_job", "retry_job", "remove_job", "move_job"})

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # Job keys act on the highlighted job: with none, they leave the footer (and say why if pressed).
        if action in self.JOB_ACTIONS:
            return self.is_mounted and self.highlighted_job_id() is not None
        return True

    def why_disabled(self, action: str) -> str | None:
        if action in self.JOB_ACTIONS:
            return "No job to act on: the queue is empty. Pick files in Browse (2) and press enter."
        return None

    def __init__(self, services: AppServices, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.services = services
        self._order: list[str] = []
        self._cells: dict[str, dict[str, Any]] = {}
        self._shown: tuple[str, ...] = tuple(key for _, key in COLUMNS)
        self._widths: dict[str, int] = {}

    def compose(self) -> ComposeResult:
        yield SteadyStatic("Queue: empty", id="queue-overall")
        yield Static(
            "No downloads yet. Pick files in the Browse pane (key 2), or run `hftui download REPO` headless.",
            id="queue-empty",
        )
        yield ListTable(id="queue-table", cursor_type="row", zebra_stripes=True)
        yield SteadyStatic("", id="queue-detail")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for label, key in COLUMNS:
            table.add_column(label, key=key, width=WIDTHS.get(key))
        self.watch(table, "cursor_coordinate", self._cursor_moved, init=False)
        self.refresh_jobs()

    def on_resize(self) -> None:
        self.call_after_refresh(self._fit_columns)

    def _fit_columns(self) -> None:
        """Show the columns that fit the table's width (after a resize, or a wider repo/error)."""
        if not self.is_mounted:
            return
        table = self.query_one(DataTable)
        width = table.scrollable_content_region.width
        if width <= 0:
            return
        wanted = column_widths(width, self._cells.values(), table.cell_padding)
        if wanted == self._widths:
            return
        highlighted = self.highlighted_job_id()
        self._widths = wanted
        self._shown = tuple(wanted)
        with self.app.batch_update():
            table.clear(columns=True)
            for label, key in COLUMNS:
                if key in wanted:
                    table.add_column(label, key=key, width=wanted[key])
            self._order = []  # the rows come back with the new columns
            self.refresh_jobs()
            if highlighted in self._order:
                table.move_cursor(row=self._order.index(highlighted), animate=False)

    def focus_default(self) -> None:
        table = self.query_one(DataTable)
        focus_now(table)

    # -- data -------------------------------------------------------------------------------

    @property
    def _controller(self) -> DownloadsController:
        return self.services.downloads

    def refresh_jobs(self) -> None:
        """Bring the table up to date with the engine (called on every DownloadsChanged)."""
        if not self.is_mounted:
            return
        controller = self._controller
        jobs = controller.jobs() if controller.engine is not None else []
        default_cache = str(self.services.cache_dir)
        table = self.query_one(DataTable)
        order = [job.id for job in jobs]
        with self.app.batch_update():
            if order != self._order:
                highlighted = self.highlighted_job_id()
                table.clear()
                self._cells = {}
                for position, job in enumerate(jobs, start=1):
                    cells = job_cells(job, position, default_cache)
                    table.add_row(*(cells[key] for key in self._shown), key=job.id)
                    self._cells[job.id] = cells
                self._order = order
                if highlighted in order:
                    table.move_cursor(row=order.index(highlighted), animate=False)
                self.refresh_bindings()  # the job keys act only while there is a job
                self.call_after_refresh(self._fit_columns)
            else:
                for position, job in enumerate(jobs, start=1):
                    cells = job_cells(job, position, default_cache)
                    old = self._cells.get(job.id, {})
                    for key, value in cells.items():
                        if key in self._shown and not same_content(old.get(key), value):
                            table.update_cell(job.id, key, value)
                            if key in ("repo", "note", "dest"):
                                self.call_after_refresh(self._fit_columns)  # a wider cell may not fit
                    self._cells[job.id] = cells
            self.set_class(not jobs, "-empty")
            self.query_one("#queue-overall", SteadyStatic).show_content(self._overall(jobs))
            self._show_detail(jobs)

    def _cursor_moved(self) -> None:
        # A watcher runs inside the key's handler, so the detail repaints in the same screen
        # update as the table rows; waiting for RowHighlighted costs a second update per key.
        self._show_detail(self._controller.jobs() if self._controller.engine is not None else [])

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._cursor_moved()  # usually already shown by the watcher: then a cheap no-op

    def _show_detail(self, jobs: list[Job]) -> None:
        """The highlighted job in full: what it fetches, where, and its whole error or note."""
        job_id = self.highlighted_job_id()
        job = next((j for j in jobs if j.id == job_id), None)
        detail = self.query_one("#queue-detail", SteadyStatic)
        if job is None:
            detail.show_content("")
            return
        request = job.request
        text = Text()
        text.append(f"{request.repo_type} {request.repo_id}", style="bold")
        text.append(f"@{request.revision or 'main'}")
        if request.allow_patterns:
            text.append(f"  include {', '.join(request.allow_patterns)}")
        if request.ignore_patterns:
            text.append(f"  exclude {', '.join(request.ignore_patterns)}")
        text.append(f"  → {request.local_dir or request.cache_dir or self.services.cache_dir}")
        note = job.error if job.state == JobState.FAILED and job.error else job.message
        if note:
            text.append("\n")
            text.append(note, style="red" if job.state == JobState.FAILED else "yellow" if job.held else "")
        if job.kept_summary is not None:
            text.append("\n" if not note else "  ·  ")
            text.append(job.kept_summary)
        detail.show_content(text)

    def _overall(self, jobs: list[Job]) -> str:
        # A second hftui does not own the saved queue: say so for as long as it runs (the
        # warning toast at launch goes away, the reason why the list is empty does not).
        report = self._controller.load_report
        in_use = ""
        if report is not None and report.in_use:
            who = f"PID {report.in_use_pid}" if report.in_use_pid else "another process"
            in_use = f"queue in use by another hftui ({who}): jobs here are not saved  ·  "
        if not jobs:
            return in_use + "Queue: empty"
        return in_use + vocab.queue_totals(self._controller.totals(), every_state=True)

    def highlighted_job_id(self) -> str | None:
        table = self.query_one(DataTable)
        if not table.row_count:
            return None
        try:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
        except Exception:
            return None
        return None if key.value is None else str(key.value)

    # -- actions ------------------------------------------------------------------------------

    async def _act(self, action: str) -> None:
        job_id = self.highlighted_job_id()
        if job_id is None:
            self.app.notify("No job selected", severity="warning")
            return
        # The row shows the action's outcome at once (`refresh_jobs` as soon as it is sent); the
        # download process's answer, awaited off the event loop, confirms it or says why not.
        message = await self._controller.perform(action, job_id, self.refresh_jobs)
        self.refresh_jobs()
        if message:
            self.app.notify(
                message, severity="warning" if message.startswith("Cannot") else "information", timeout=3
            )

    async def action_toggle_pause(self) -> None:
        await self._act("toggle_pause")

    async def action_cancel_job(self) -> None:
        await self._act("cancel")

    async def action_retry_job(self) -> None:
        await self._act("retry")

    async def action_remove_job(self) -> None:
        await self._act("remove")

    async def action_move_job(self, delta: int) -> None:
        job_id = self.highlighted_job_id()
        await self._act("up" if delta < 0 else "down")
        if job_id is not None and job_id in self._order:
            self.query_one(DataTable).move_cursor(row=self._order.index(job_id), animate=False)
