"""The Cache pane: see the cache like ncdu shows a disk, mark what to delete, free it safely.

A view over `hftui.core.controllers.cache.CacheController`, which decides everything (the scan,
the marks and their plans, the prune plans, the plan -> confirm -> execute flow). The pane binds
keys, forwards them as the controller's intents, and renders what the controller tells it. The
controller's background work runs in thread workers started here; they never touch widgets: their
results come back as `Delivered` messages, run on the event loop.
"""

from __future__ import annotations

import asyncio
import os
from collections import deque
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from rich.cells import cell_len
from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import ContentSwitcher, DataTable, Input, Static
from textual.worker import Worker, WorkerState, get_current_worker

from hftui.core import vocab
from hftui.core.cache.cleanup import Mark
from hftui.core.cache.names import printable
from hftui.core.cache.verify import VerifyResult, redownload_request
from hftui.core.controllers.cache import (
    CacheController,
    CacheListener,
    ConfirmRequest,
    Notice,
    PruneOption,
    action_name,
    describe,
)
from hftui.core.controllers.runner import Task
from hftui.core.disk import free_bytes
from hftui.core.vocab import cache_folder
from hftui.tui import actions
from hftui.tui.cache_updates import CacheUpdates, UpdatesChanged, UpdatesLanded
from hftui.tui.keyboard import focus_now, has_focus_now
from hftui.tui.messages import CacheChanged, OpenInBrowser
from hftui.tui.widgets import cache_table
from hftui.tui.widgets.cache_detail import FileEntry, FileTree, RepoDetail
from hftui.tui.widgets.cache_table import CacheTable, size_text
from hftui.tui.widgets.text_box import TextBox

if TYPE_CHECKING:
    from hftui.core.cache.cleanup import DeletionPlan
    from hftui.core.cache.roots_scan import RootsGlance
    from hftui.core.cache.scan import CacheReport, RepoRecord, RevisionRecord
    from hftui.core.downloads.models import DownloadRequest
    from hftui.settings import Settings
    from hftui.tui.services import AppServices

RepoKey = tuple[str, str]
DESTRUCTIVE = actions.destructive_names("cache")
ROWS_PER_SLICE = 100
SLICE_PAUSE = 0.0
"""Between slices the loop runs whatever is ready (keys, a redraw), then the next slice: a pause of
10 ms cost a second of idling on 10,000 rows (a third of the headless scan's time on a quiet machine)."""
BULK_ROWS = 32
"""More removed rows than this and the table is rebuilt (a DataTable's `remove_row` re-indexes
every row, so removing thousands one by one is quadratic). Updated rows never rebuild it: they are
updated in place, a slice at a time, so a prune that changes 50 of 10,000 repos redraws 50 rows."""
UPDATES_DRAW_S = 0.25
"""Update check results arriving meanwhile are drawn together after this long (one redraw, not one
per result: a check of 5,000 repos posts 5,000 results while a bulk deletion may be running)."""
DIALOG_WAIT_S = 30.0
"""Longest a key typed after `d` or `p` waits for the dialog before it is dropped."""


folder_name = cache_folder
disk_free = free_bytes


SHORTEST_PATH = 16
"""Cells the header's path keeps however long the figures after it are."""


def _short_path(path: str, room: int) -> str:
    """`path` in `room` cells: the home folder as `~`, then its start cut (the end names the cache)."""
    home = os.path.expanduser("~")
    if home not in ("", "/") and (path == home or path.startswith(home + os.sep)):
        path = "~" + path[len(home) :]
    if cell_len(path) <= room:
        return path
    keep = max(room, SHORTEST_PATH) - 1
    return "…" + path[-keep:]


def header_line(path: str, parts: Sequence[tuple[str, int]], room: int) -> str:
    """`path · part · part…` in `room` cells (0: unknown yet, no fitting): the parts of the highest
    rank are left out first while even a path of SHORTEST_PATH cells does not fit, then the path
    loses its start (what is still too long, the Static's ellipsis cuts)."""
    kept = list(parts)

    def width(items: Sequence[tuple[str, int]]) -> int:
        return sum(cell_len(" · " + text) for text, _ in items)

    while room > 0 and kept and width(kept) + SHORTEST_PATH > room and max(r for _, r in kept) > 0:
        highest = max(r for _, r in kept)
        drop = max(i for i, (_, r) in enumerate(kept) if r == highest)
        del kept[drop]
    if room > 0:
        path = _short_path(path, room - width(kept))
    return " · ".join([path, *(text for text, _ in kept)])


def _glance_roots(settings: Settings, primary: str, report: CacheReport) -> RootsGlance:
    # Runs in a worker: given everything it reads, it touches nothing of the pane.
    from hftui.core.cache.roots import roots_for
    from hftui.core.cache.roots_scan import glance_roots

    return glance_roots(roots_for(settings, primary), primary, report)


def roots_glance_text(glance: RootsGlance) -> str:
    """The other roots in the header, so the datasets cache or a big Xet dir is seen without `R`."""
    text = f"+{vocab.count(glance.roots, 'root')} {size_text(glance.size)}" if glance.roots else "other roots"
    if glance.duplicate_bytes:
        text += f", {size_text(glance.duplicate_bytes)} twice"
    if glance.problems:
        text += " ⚠"
    return text + " (R)"


def now() -> float:
    """The pane's clock (tests pin it for stable screenshots)."""
    return cache_table.now()


class _WorkerTask:
    """A controller's `Task` inside a Textual thread worker."""

    def __init__(self, pane: CachePane, worker: Worker[None]) -> None:
        self.pane = pane
        self.worker = worker

    def cancelled(self) -> bool:
        return self.worker.is_cancelled

    def deliver(self, callback: Callable[[], None]) -> None:
        self.pane.post_message(CachePane.Delivered(callback))


class _PaneRunner:
    """The controller's `Runner`: thread workers of the pane (cancelled when the app exits)."""

    def __init__(self, pane: CachePane) -> None:
        self.pane = pane

    def start(self, group: str, body: Callable[[Task], None]) -> None:
        pane = self.pane

        def run() -> None:
            body(_WorkerTask(pane, get_current_worker()))

        pane.run_worker(run, thread=True, group=group, exit_on_error=False, name=group)


class _Listener(CacheListener):
    """Forwards the controller's events to the pane's render methods."""

    def __init__(self, pane: CachePane) -> None:
        self.pane = pane

    def scan_started(self) -> None:
        self.pane.show_scan_started()

    def records_changed(self, changed: Sequence[RepoRecord], removed: Sequence[str]) -> None:
        self.pane.show_records(changed, removed)

    def status_changed(self) -> None:
        self.pane.update_header()

    def marks_changed(self, names: Collection[str]) -> None:
        self.pane.show_marks(names)

    def plan_changed(self) -> None:
        self.pane.render_marked()

    def confirm(self, request: ConfirmRequest) -> None:
        self.pane.ask_confirmation(request)

    def prune_options(self, options: Sequence[PruneOption]) -> None:
        self.pane.ask_prune(options)

    def frees_ready(self, name: str, frees: Mapping[str, int]) -> None:
        self.pane.show_frees(name, frees)

    def notice(self, notice: Notice) -> None:
        self.pane.show_notice(notice)

    def cache_changed(self, repos: tuple[RepoKey, ...]) -> None:
        self.pane.post_message(CacheChanged(repos=repos))


class CachePane(Vertical):
    DESTRUCTIVE_ACTIONS = DESTRUCTIVE

    DEFAULT_CSS = """
    CachePane { height: 1fr; }
    CachePane #cache-header { height: 1; padding: 0 1; background: $boost; }
    CachePane #filter { display: none; height: 3; }
    CachePane.-filtering #filter { display: block; }
    CachePane #filter.-invalid { border: tall $error; }
    CachePane #filter-error { display: none; height: auto; padding: 0 1; color: $text-error; }
    CachePane #filter-error.-shown { display: block; }
    CachePane #cache-views { height: 1fr; }
    CachePane #marked {
        display: none; height: auto; max-height: 4; padding: 0 1;
        border-top: solid $warning; background: $surface;
        text-wrap: nowrap; text-overflow: ellipsis;
    }
    CachePane.-has-marks #marked { display: block; }
    """

    BINDINGS: ClassVar[list[BindingType]] = actions.bindings("cache")
    ACTION_SCOPE = "cache"

    @dataclass
    class Delivered(Message):
        """A result of the controller's background work, to run on the event loop."""

        callback: Callable[[], None]

    # -- state ------------------------------------------------------------------------------------

    def __init__(self, services: AppServices, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.services = services
        self._controller: CacheController | None = None
        self._pending: deque[RepoRecord] = deque()
        """Rows waiting to be added a slice at a time (see `_add_pending`)."""
        self._adding = False
        self.updates = CacheUpdates(self)
        self._checked_report: CacheReport | None = None
        self._held_notices: list[Notice] = []
        self._updated_ids: set[str] | None = set()
        """`type/id`s whose update results arrived and are not drawn yet (None: all of them)."""
        self._updates_flush_queued = False
        self.updates_drawn = 0
        """How many times update results were drawn (tests check a burst is drawn in a few passes)."""
        self._bindings_for_deleting: bool | None = None

    @property
    def controller(self) -> CacheController:
        if self._controller is None:
            services = self.services
            controller = CacheController(
                services.cache_dir,
                _PaneRunner(self),
                read_only=services.read_only,
                processes=services.settings.scan_processes,
                reuse=services.settings.scan_reuse,
                busy=self._active_repos,
                kept_max_age_days=services.settings.kept_max_age_days,
                queued_requests=self._queued_requests,
                other_roots=partial(_glance_roots, services.settings, str(services.cache_dir)),
            )
            controller.listeners.append(_Listener(self))
            self._controller = controller
        return self._controller

    def _active_repos(self) -> set[RepoKey]:
        """Repos a download of this app writes into right now (asked afresh each time)."""
        return set(self.services.downloads.active_repos())

    def _queued_requests(self) -> list[Any] | None:
        """Requests of every unfinished job: the saved queue (which the download process keeps
        up to date) and the live one (a change it has not saved yet). None when the saved queue
        cannot be read: then prune cannot tell which kept bytes a job still needs."""
        from hftui.core.downloads.persist import unfinished_requests
        from hftui.settings import state_dir

        saved = unfinished_requests(state_dir())
        if saved is None:
            return None
        live = [job.request for job in self.services.downloads.jobs() if job.state != "done"]
        return saved + live

    def compose(self) -> ComposeResult:
        yield Static("Scanning…", id="cache-header")
        yield TextBox(
            placeholder="filter: text, size>1GB, accessed>30d, type=model, refs=main, name=GLOB", id="filter"
        )
        yield Static(id="filter-error")
        with ContentSwitcher(initial="cache-list", id="cache-views"):
            yield CacheTable(id="cache-list")
            yield RepoDetail(id="cache-detail")
        yield Static(id="marked")

    def on_mount(self) -> None:
        self.query_one(FileTree).read_only = self.read_only
        self.table.badge = self.updates.badge
        self.table.urgency = self.controller.update_urgency
        self.controller.update_results = self.updates.results
        self.start_scan()

    def on_unmount(self) -> None:
        if self._controller is not None:
            self._controller.stop()

    @on(Delivered)
    def _delivered(self, event: Delivered) -> None:
        event.stop()
        event.callback()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        # The controller reports its own failures; this catches anything that escapes it.
        if event.state == WorkerState.ERROR and event.worker.error is not None:
            self.notify(
                f"{event.worker.name} failed: {describe(event.worker.error)}", severity="error", timeout=10
            )

    # -- facts ------------------------------------------------------------------------------------

    @property
    def table(self) -> CacheTable:
        return self.query_one(CacheTable)

    @property
    def detail(self) -> RepoDetail:
        return self.query_one(RepoDetail)

    @property
    def view(self) -> str:
        return str(self.query_one(ContentSwitcher).current)

    @property
    def cache_dir(self) -> Path:
        return self.controller.cache_dir

    @property
    def read_only(self) -> bool:
        return self.services.read_only

    @property
    def marks(self) -> set[Mark]:
        return self.controller.marks

    @property
    def plan(self) -> DeletionPlan | None:
        return self.controller.plan

    @property
    def report(self) -> CacheReport | None:
        return self.controller.report

    @property
    def scanning(self) -> bool:
        return self.controller.scanning

    @property
    def deleting(self) -> bool:
        return self.controller.operation is not None

    @property
    def busy(self) -> bool:
        """Rows are still being added or a deletion runs."""
        return self._adding or bool(self._pending) or self.deleting

    def focus_default(self) -> None:
        if self.view == "cache-detail":
            focus_now(self.detail.revisions)
        else:
            focus_now(self.table)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in DESTRUCTIVE and self.read_only:
            return False
        if action in ("delete", "clear_marks"):
            return bool(self.marks)
        if action == "back":
            return self.view == "cache-detail" or self.has_class("-filtering") or self.deleting
        if action == "switch_focus":
            return self.view == "cache-detail"
        return True

    def why_disabled(self, action: str) -> str | None:
        """One line for a key that cannot act now (the app shows it when such a key is pressed)."""
        if action in DESTRUCTIVE and self.read_only:
            return "Read-only mode (--read-only): marking, deleting and pruning are off."
        if action in ("delete", "clear_marks"):
            return "Nothing is marked: space marks the highlighted repo (in a repo: a revision or a file)."
        return None

    # -- scanning and rows ----------------------------------------------------------------------------

    def start_scan(self) -> None:
        self.controller.start_scan()

    def show_scan_started(self) -> None:
        self._pending.clear()
        table = self.table
        table.clear()
        table.records.clear()
        table.sort_values.clear()
        table.largest = 0

    def show_records(self, changed: Sequence[RepoRecord], removed: Sequence[str]) -> None:
        table = self.table
        if len(removed) > BULK_ROWS:
            self._rebuild()
        else:
            for name in removed:
                table.drop(name)
            updated = [record for record in changed if record.name in table.records]
            if 0 < len(updated) <= BULK_ROWS and not self._pending:
                with self.app.batch_update():
                    self._put(updated)
            # New rows, and updates too many to redraw in one go, are put a slice at a time (an
            # updated row keeps its place: only its cells change).
            later = (
                changed
                if len(updated) > BULK_ROWS or self._pending
                else [record for record in changed if record.name not in table.records]
            )
            if later:
                self._pending.extend(later)
                self._start_adding()
        self._refresh_detail(changed, removed)

    def _rebuild(self) -> None:
        """Clear the table and add every record again, a slice at a time, in the current order."""
        controller = self.controller
        cursor = self.table.current_name
        self.show_scan_started()
        key = controller.sort_key
        records = sorted(
            controller.records.values(),
            key=lambda r: (_sort_value(r, key, controller.update_urgency), r.cache_id.lower()),
            reverse=controller.sort_descending,
        )
        self._pending.extend(records)
        self._cursor_after_adding = cursor
        self._start_adding()

    _cursor_after_adding: str | None = None

    def _start_adding(self) -> None:
        if not self._adding:
            self._adding = True
            self.run_worker(self._add_pending(), group="cache-rows", exit_on_error=False, name="cache-rows")

    async def _add_pending(self) -> None:
        # A DataTable measures every cell of its new rows in one go when it is next idle
        # (~0.15 ms a row): add big batches a slice at a time and let it run in between, so keys
        # and redraws never wait long while thousands of rows stream in.
        try:
            first = True
            while self._pending:
                if not first:
                    await asyncio.sleep(SLICE_PAUSE)
                first = False
                count = min(ROWS_PER_SLICE, len(self._pending))
                chunk = [self._pending.popleft() for _ in range(count)]
                with self.app.batch_update():
                    self._put(chunk, resort=not self._pending)
            cursor, self._cursor_after_adding = self._cursor_after_adding, None
            table = self.table
            if cursor is not None and cursor in table.rows:
                table.move_cursor(row=table.get_row_index(cursor), animate=False)
        finally:
            self._adding = False
        self.update_header()
        held, self._held_notices = self._held_notices, []
        for notice in held:
            self.show_notice(notice)

    def _put(self, records: Iterable[RepoRecord], *, resort: bool = True) -> None:
        table = self.table
        controller = self.controller
        records = list(records)
        t = now()
        table.put(records, controller.is_repo_marked, t)
        if controller.filters:
            table.show_only(controller.visible(table.records.values(), t), controller.is_repo_marked, t)
        if resort:
            self._resort()

    def _resort(self) -> None:
        # The cursor follows its repo, except on the top row while rows stream in: then it stays
        # on top (the biggest repo), not on whichever repo happened to come first.
        top = (self.scanning or self._adding) and self.table.cursor_row <= 0
        cursor = None if top else self.table.current_name
        self.table.sort_by(self.controller.sort_key, self.controller.sort_descending)
        if cursor is not None and cursor in self.table.rows:
            self.table.move_cursor(row=self.table.get_row_index(cursor), animate=False)

    def on_resize(self, event: events.Resize) -> None:
        # The header's path is cut to the room there is: after the new layout is known.
        self.call_after_refresh(self.update_header)

    def update_header(self) -> None:
        controller = self.controller
        corrupt = controller.corrupt_count
        report = controller.report
        # While scanning: the sizes the table keeps (`RepoRecord.size_on_disk` sums its blobs on each call).
        size = report.size_on_disk if report is not None else sum(map(self.table.size_of, controller.records))
        free = disk_free(self.cache_dir)
        # Counted as `hftui scan` counts: a file like `version.txt` or a foreign folder is not a repo.
        repos = vocab.entries_text(len(controller.records) - corrupt, corrupt)
        # (text, rank): when the line is too long, the highest rank goes first, then the path is cut.
        parts: list[tuple[str, int]] = [(size_text(size), 0), (repos + (" ⚠" if corrupt else ""), 0)]
        if free is not None:
            parts.append((f"{size_text(free)} free", 1))
        glance = controller.roots_glance
        if glance is not None and glance.worth_showing:
            parts.append((roots_glance_text(glance), 3))
        if controller.filters:
            shown = f"filter: {printable(controller.filter_text)} ({self.table.row_count} shown)"
            parts.append((shown, 0))
        operation = controller.operation
        if operation is not None:
            what = action_name(operation.title)
            if operation.cancelling:
                parts.append((f"cancelling {what} after {operation.done}/{operation.total}…", 0))
            else:
                parts.append((f"{what}: {operation.done}/{operation.total}… (escape: cancel)", 0))
            if controller.rescan_pending:
                parts.append(("rescan waits for it", 1))
        if controller.scanning:
            parts.append((f"scanning {controller.scan_done}/{controller.scan_total or '?'}…", 0))
        elif controller.scan_error:
            parts.append((f"scan failed: {controller.scan_error}", 0))
        elif not controller.records:
            parts.append(("empty: nothing downloaded yet", 0))
        if updates := self.updates.header():
            parts.append((updates, 2))
        parts.append((f"sort: {controller.sort_key} {'↓' if controller.sort_descending else '↑'}", 4))
        header = self.query_one("#cache-header", Static)
        line = header_line(printable(str(self.cache_dir)), parts, header.content_region.width)
        header.update(Text(line, no_wrap=True, overflow="ellipsis"))
        # The footer is rebuilt on every refresh_bindings (~30 ms): only when a deletion starts or
        # ends (escape cancels it), not on each of its progress ticks, which took the CPU the
        # deletion's own thread needed (a bulk prune got slower per repo the more repos it had).
        if self.deleting != self._bindings_for_deleting:
            self._bindings_for_deleting = self.deleting
            self.refresh_bindings()
        report = controller.report
        if (
            report is not None
            and not controller.scanning
            and not self.busy
            and report is not self._checked_report
        ):
            # A scan finished and its rows are all shown (the check's results redraw rows, and
            # must not slow the last ones down): check its repos against the Hub (in the
            # monitor's thread).
            self._checked_report = report
            self.updates.scan_finished(report)

    def _refresh_detail(self, changed: Sequence[RepoRecord], removed: Sequence[str]) -> None:
        if self.view != "cache-detail" or self.detail.record is None:
            return
        name = self.detail.record.name
        if name in removed:
            self.action_back()
            return
        current = next((record for record in changed if record.name == name), None)
        if current is not None:
            self.detail.show(current, is_marked=self._detail_marked, now=now(), keep_revision=True)
            self.controller.compute_frees(name)

    # -- public hooks -------------------------------------------------------------------------------

    def repos_changed(self, repos: Iterable[RepoKey]) -> None:
        """Downloads finished into these repos: rescan just them (and move the refs of updates that landed)."""
        repos = list(repos)
        self.controller.repos_changed(repos)
        self.updates.downloads_finished(repos)

    # -- updates ------------------------------------------------------------------------------------

    def action_update_repo(self) -> None:
        record, _ = self._current()
        self.updates.update(record)

    @on(UpdatesChanged)
    def _updates_changed(self, event: UpdatesChanged) -> None:
        # The check posts one message per repo: thousands in a burst. They are drawn together a
        # moment later, each costing what changed, never a walk of every row per result (which
        # made a bulk prune during a check quadratic), and the table (whose every redraw after a
        # cell changed costs a walk of its rows in Textual's DataTable) at most a few times a second.
        if not event.cache_ids:  # the check ended: its outcome is drawn at once
            self._updated_ids = None
            self._updates_flush_queued = True
            self.call_after_refresh(self._draw_updates)
            return
        if self._updated_ids is not None:
            self._updated_ids.update(event.cache_ids)
        if not self._updates_flush_queued:
            self._updates_flush_queued = True
            self.set_timer(UPDATES_DRAW_S, self._draw_updates)

    def _draw_updates(self) -> None:
        ids, self._updated_ids, self._updates_flush_queued = self._updated_ids, set(), False
        table = self.table
        self.updates_drawn += 1
        if ids is None:
            names = list(table.records)
        else:
            names, unmatched = [], []
            for cache_id in ids:
                repo_type, _, repo_id = cache_id.partition("/")
                name = folder_name(repo_type, repo_id) if repo_id else cache_id
                record = table.records.get(name)
                if record is not None and record.cache_id == cache_id:
                    names.append(name)
                else:
                    unmatched.append(cache_id)
            if unmatched:  # a folder not named the library's way, or gone: one walk for all of them
                wanted = set(unmatched)
                names.extend(n for n, r in table.records.items() if r.cache_id in wanted)
        table.refresh_status(names)
        controller = self.controller
        if any(f.key == "update" for f in controller.filters):
            t = now()
            table.show_only(controller.visible(table.records.values(), t), controller.is_repo_marked, t)
        if controller.sort_key == "update":
            self._resort()  # the order depends on the results that just arrived
        self.update_header()

    @on(UpdatesLanded)
    def _updates_landed(self, event: UpdatesLanded) -> None:
        from hftui.core.hub.update_monitor import UpdateMonitor

        if event.landed:
            self.controller.repos_changed({s.repo_key for s in event.landed})
        if event.offer is not None and event.offer.prunable:
            self.controller.add_marks(UpdateMonitor.marks(event.offer))
        title, text = self.updates.describe_landed(event, read_only=self.read_only)
        if text:
            self.notify(text, title=title, timeout=12)

    def show_notice(self, notice: Notice) -> None:
        self.table.drop_keys()  # a delete or prune request that ends in a notice opens no dialog
        # A notification's time starts when it is raised: while rows are still being added (a
        # bulk deletion rebuilds the table a slice at a time) it waits for the table to show the
        # change it reports, so it never expires before the screen catches up.
        if self._adding or self._pending:
            self._held_notices.append(notice)
            return
        self.notify(notice.text, title=notice.title, severity=notice.severity, timeout=notice.timeout)

    # -- navigation ---------------------------------------------------------------------------------

    @on(DataTable.RowSelected, "#cache-list")
    def _open_row(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open()

    def action_open(self) -> None:
        name = self.table.current_name
        record = self.controller.records.get(name or "")
        if record is None:
            return
        detail = self.detail
        detail.frees = {}
        self.query_one(ContentSwitcher).current = "cache-detail"
        detail.show(record, is_marked=self._detail_marked, now=now())
        focus_now(detail.revisions)
        self.controller.compute_frees(record.name)
        self.refresh_bindings()

    def action_back(self) -> None:
        if self.has_class("-filtering") and (
            has_focus_now(self.query_one("#filter", Input)) or self.view == "cache-list"
        ):
            self._close_filter()
            return
        if self.view == "cache-detail":
            name = self.detail.record.name if self.detail.record else None
            self.query_one(ContentSwitcher).current = "cache-list"
            table = self.table
            focus_now(table)
            if name and name in table.rows:
                table.move_cursor(row=table.get_row_index(name), animate=False)
            self.refresh_bindings()
            return
        if self.controller.cancel_operation():
            self.notify("Cancelling: the deletion stops before its next item.", timeout=4)

    def action_switch_focus(self) -> None:
        if self.view != "cache-detail":
            return
        if has_focus_now(self.detail.revisions):
            focus_now(self.detail.file_tree)
        else:
            focus_now(self.detail.revisions)

    @on(DataTable.RowHighlighted, "#revisions")
    def _revision_highlighted(self, event: DataTable.RowHighlighted) -> None:
        record = self.detail.record
        if record is None or event.row_key is None:
            return
        revision = record.revision(str(event.row_key.value))
        if revision is not None and revision is not self.detail.revision:
            self.detail.show_revision(revision, is_marked=self._detail_marked)

    @on(DataTable.RowSelected, "#revisions")
    def _revision_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        focus_now(self.detail.file_tree)

    def action_sort(self, key: str) -> None:
        self.controller.sort_by(key)
        self._resort()

    # -- filter ---------------------------------------------------------------------------------

    def action_filter(self) -> None:
        if self.view == "cache-detail":
            self.action_back()
        self.add_class("-filtering")
        box = self.query_one("#filter", Input)
        focus_now(box)
        self.refresh_bindings()

    def _close_filter(self) -> None:
        box = self.query_one("#filter", Input)
        if not box.value:
            self.remove_class("-filtering")
        focus_now(self.table)
        self.refresh_bindings()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        controller = self.controller
        box, error = event.input, self.query_one("#filter-error", Static)
        problem = controller.set_filter(event.value)
        if problem is not None:
            box.add_class("-invalid")
            error.update(f"✗ {problem} (still showing: {controller.filter_text or 'everything'})")
            error.add_class("-shown")
            return
        box.remove_class("-invalid")
        error.remove_class("-shown")
        t = now()
        table = self.table
        table.show_only(controller.visible(table.records.values(), t), controller.is_repo_marked, t)
        self._resort()
        self.update_header()

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._close_filter()

    # -- marks ----------------------------------------------------------------------------------

    def _detail_marked(
        self, *, revision: RevisionRecord | None = None, path: str | None = None, is_dir: bool = False
    ) -> bool:
        record = self.detail.record
        if record is None:
            return False
        return self.controller.is_marked(record, revision or self.detail.revision, path, is_dir=is_dir)

    def action_toggle_mark(self) -> None:
        if self.read_only:
            return
        controller = self.controller
        if self.view == "cache-detail":
            if has_focus_now(self.detail.file_tree):
                node = self.detail.file_tree.cursor_node
                if node is not None and node.data is not None:
                    self._toggle_path(node.data)
                return
            record, revision = self.detail.record, self.detail.revision
            if record is None or revision is None or record.repo_type is None:
                return
            controller.toggle(Mark.revision(record.repo_type, record.repo_id, revision.commit_hash))
            table = self.detail.revisions
            if table.cursor_row < table.row_count - 1:
                table.move_cursor(row=table.cursor_row + 1)
            return
        name = self.table.current_name
        if name is None or not controller.mark_repo(name):
            return
        repo_table = self.table
        if repo_table.cursor_row < repo_table.row_count - 1:
            repo_table.move_cursor(row=repo_table.cursor_row + 1)

    @on(FileTree.MarkRequested)
    def _tree_mark(self, event: FileTree.MarkRequested) -> None:
        event.stop()
        if not self.read_only:
            self._toggle_path(event.entry)

    def _toggle_path(self, entry: FileEntry) -> None:
        record, revision = self.detail.record, self.detail.revision
        if record is None or revision is None or record.repo_type is None:
            return
        self.controller.toggle(
            Mark.file(record.repo_type, record.repo_id, revision.commit_hash, entry.path, is_dir=entry.is_dir)
        )

    def action_clear_marks(self) -> None:
        self.controller.clear_marks()

    def show_marks(self, names: Collection[str]) -> None:
        """Only the rows whose repo mark flipped are redrawn (a toggle never walks every row)."""
        controller = self.controller
        for name in names:
            record = controller.records.get(name)
            if record is not None:
                self.table.set_marked(name, controller.is_repo_marked(record))
        if self.view == "cache-detail":
            self.detail.refresh_marks(self._detail_marked)
        self.set_class(bool(controller.marks), "-has-marks")
        self.render_marked()
        self.refresh_bindings()

    def render_marked(self) -> None:
        controller = self.controller
        panel = self.query_one("#marked", Static)
        if not controller.marks:
            panel.update("")
            return
        labels = sorted(printable(m.label) for m in controller.marks)
        text = Text("● " + " · ".join(labels) + "\n", no_wrap=True, overflow="ellipsis")
        count = f"{len(labels)} marked"
        plan = controller.plan
        if controller.plan_state == "failed":
            text.append(
                f"{count} · could not compute what deleting frees: {controller.plan_error}", style="bold"
            )
        elif plan is None:
            text.append(f"{count} · computing what deleting frees…", style="bold")
        else:
            text.append(
                f"{count} · {size_text(plan.total_size)} · deleting frees {size_text(plan.expected_freed_size)}",
                style="bold",
            )
            if plan.refused:
                text.append(f" · {len(plan.refused)} refused ({printable(plan.refused[0].reason)})")
        text.append("   d: delete · u: unmark all", style="italic")
        panel.update(text)

    # -- delete / prune -------------------------------------------------------------------------

    def action_delete(self) -> None:
        if self.read_only or not self.marks:
            return
        self._hold_keys_for_dialog()
        self.controller.request_delete()

    def _hold_keys_for_dialog(self) -> None:
        """The dialog opens once a worker has its figures: keys typed meanwhile are meant for it,
        not for the list (a `n` must not sort the table while the confirmation is on its way)."""
        if has_focus_now(self.table):
            self.table.hold_keys()
            # Never hold for ever: a request that ends without a dialog drops them (show_notice), and
            # so does this timer.
            self.set_timer(DIALOG_WAIT_S, self._drop_held_keys)

    def _drop_held_keys(self) -> None:
        self.table.drop_keys()

    def _replay_into_dialog(self) -> None:
        self.services.keys.replay(self.table.take_keys())

    def ask_confirmation(self, request: ConfirmRequest) -> None:
        from hftui.tui.screens.delete_confirm import DeleteConfirmScreen

        def answered(yes: bool | None) -> None:
            if yes:
                self.controller.confirmed(request)

        screen = DeleteConfirmScreen(
            request.title, request.plan, skipped=list(request.skipped), changes=request.changes
        )
        self.app.push_screen(screen, answered)
        # Keys typed before a deletion's figures were on screen are not an answer to them.
        if self.table.drop_keys():
            self.notify("Keys typed before this confirmation showed were ignored: read it, then y or n.")

    def action_prune(self) -> None:
        if self.read_only:
            return
        self._hold_keys_for_dialog()
        self.controller.request_prune()

    def ask_prune(self, options: Sequence[PruneOption]) -> None:
        from hftui.tui.screens.prune import PruneChoice, PruneScreen

        by_key = {option.key: option for option in options}
        choices = [PruneChoice(o.key, o.title, o.count, o.size) for o in options]

        def chosen(key: str | None) -> None:
            if key and key in by_key:
                self.controller.choose_prune(by_key[key])

        self.app.push_screen(PruneScreen(choices, on_ready=self._replay_into_dialog), chosen)

    def action_rescan(self) -> None:
        self.start_scan()

    # -- copy / verify / browse -------------------------------------------------------------------

    def _current(self) -> tuple[RepoRecord | None, RevisionRecord | None]:
        if self.view == "cache-detail":
            return self.detail.record, self.detail.revision
        record = self.table.records.get(self.table.current_name or "")
        if record is None or not record.revisions:
            return record, None
        revision = record.revision("main") or max(record.revisions, key=lambda r: r.last_modified)
        return record, revision

    def action_copy(self) -> None:
        from hftui.core.cache.clipboard import copy_choices
        from hftui.tui.screens.cache_copy import CopyMenuScreen

        record, revision = self._current()
        if record is None or record.repo_type is None:
            return
        rev_name = None
        if revision is not None:
            rev_name = (
                "main"
                if "main" in revision.refs
                else (sorted(revision.refs)[0] if revision.refs else revision.commit_hash)
            )
        choices = copy_choices(
            record.repo_id, record.repo_type, revision.snapshot_path if revision else None, rev_name
        )

        def copy(text: str | None) -> None:
            if text:
                self.app.copy_to_clipboard(text)
                self.notify(f"Copied: {text}", timeout=4)

        self.app.push_screen(CopyMenuScreen(choices), copy)

    def action_verify(self) -> None:
        from hftui.tui.screens.cache_verify import VerifyScreen

        record, revision = self._current()
        if record is None or revision is None:
            self.notify("Nothing to verify here.", severity="warning")
            return
        repo_type, repo_id = record.repo_type, record.repo_id

        def redownload(result: VerifyResult) -> None:
            # The bad files go through the normal queue (progress, pause, free-space checks).
            if self.read_only:
                self.notify("Read-only: nothing is downloaded.", severity="warning")
                return
            request = redownload_request(
                result, repo_type=repo_type or "model", repo_id=repo_id, cache_dir=str(self.cache_dir)
            )
            if request is not None:
                self._queue_redownload(request)

        self.app.push_screen(
            VerifyScreen(Path(record.repo_path), revision.commit_hash, record.cache_id, redownload=redownload)
        )

    @work(group="cache-redownload", exit_on_error=False)
    async def _queue_redownload(self, request: DownloadRequest) -> None:
        # Queuing asks the download process (and may first start it): off the event loop.
        outcome = await asyncio.to_thread(self.services.enqueue_download, request)
        self.notify(outcome or f"Queued {request.label}.", title="Verify")

    def action_roots(self) -> None:
        """`R`: every other Hugging Face folder (docs/roots.md), on a screen of its own."""
        from hftui.core.cache.roots import roots_for
        from hftui.core.controllers.roots import RootsController
        from hftui.tui.screens.roots import RootsScreen

        services = self.services
        primary = str(self.cache_dir)
        report = self.controller.report

        def controller(screen: RootsScreen) -> RootsController:
            return RootsController(
                lambda: roots_for(services.settings, primary),
                RootsScreen.runner_for(screen),
                read_only=self.read_only,
                # The scan this pane already made is reused, not repeated.
                hub_reports=lambda: {primary: report} if report is not None and report.exists else {},
            )

        self.app.push_screen(RootsScreen(controller, read_only=self.read_only))

    def action_browse(self) -> None:
        record, _ = self._current()
        if record is None or record.repo_type is None:
            return
        prefix = "" if record.repo_type == "model" else f"{record.repo_type}s/"
        self.post_message(OpenInBrowser(prefix + record.repo_id))

    # -- per-revision "frees" in the detail ----------------------------------------------------------

    def show_frees(self, name: str, frees: Mapping[str, int]) -> None:
        if self.detail.record is not None and self.detail.record.name == name:
            self.detail.set_frees(dict(frees))


def _sort_value(record: RepoRecord, key: str, urgency: Callable[[RepoRecord], Any]) -> Any:
    if key == "update":
        return urgency(record)
    return {
        "size": record.size_on_disk,
        "name": record.cache_id.lower(),
        "accessed": record.last_accessed,
        "modified": record.last_modified,
    }[key]


__all__ = ["CachePane", "folder_name"]
