"""The Cache pane: see the cache like ncdu shows a disk, mark what to delete, free it safely.

The pane owns the scan worker (rows stream in from `hftui.core.cache.scan.iter_scan`), the marks, and
the plan → confirm → execute flow of `hftui.core.cache.cleanup`. Worker threads never touch widgets:
they post the messages nested below, and handlers on the event loop update the table.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import ContentSwitcher, DataTable, Input, Static
from textual.worker import get_current_worker

from hftui.core.cache.cleanup import DeletionPlan, ExecutionReport, Mark, Outcome, execute_plan, summarize
from hftui.core.disk import free_bytes
from hftui.core.vocab import cache_folder
from hftui.tui import actions
from hftui.tui.messages import CacheChanged, OpenInBrowser
from hftui.tui.widgets import cache_table
from hftui.tui.widgets.cache_detail import FileEntry, FileTree, RepoDetail
from hftui.tui.widgets.cache_table import CacheTable, size_text

if TYPE_CHECKING:
    from hftui.core.cache.filters import Filter
    from hftui.core.cache.scan import CacheReport, RepoRecord, RevisionRecord
    from hftui.tui.services import AppServices

RepoKey = tuple[str, str]
DESTRUCTIVE = actions.destructive_names("cache")
SORT_KEYS = ("size", "name", "accessed", "modified")
DEFAULT_DESCENDING = {"size": True, "name": False, "accessed": True, "modified": True}
FIRST_BATCH_SECONDS = 0.02
BATCH_SECONDS = 0.15
MAX_BATCH_SECONDS = 0.8
ROWS_PER_SLICE = 100
SLICE_PAUSE = 0.01


folder_name = cache_folder
disk_free = free_bytes


def now() -> float:
    """The pane's clock (tests pin it for stable screenshots)."""
    return cache_table.now()


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

    # -- messages from workers ------------------------------------------------------------------

    @dataclass
    class ScanBatch(Message):
        generation: int
        records: list[RepoRecord]
        done: int
        total: int

    @dataclass
    class ScanFinished(Message):
        generation: int
        report: CacheReport | None
        error: str = ""

    @dataclass
    class PlanReady(Message):
        generation: int
        plan: DeletionPlan
        confirm: bool

    @dataclass
    class ReposRescanned(Message):
        records: list[RepoRecord]
        gone: list[str]
        report: ExecutionReport | None = None
        title: str = ""

    @dataclass
    class RevisionFrees(Message):
        name: str
        frees: dict[str, int]

    @dataclass
    class PruneReady(Message):
        plans: dict[str, tuple[DeletionPlan, list[tuple[str, str]]]] = field(default_factory=dict)

    # -- state ------------------------------------------------------------------------------------

    def __init__(self, services: AppServices, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.services = services
        self.marks: set[Mark] = set()
        self.sort_key = "size"
        self.sort_descending = True
        self.filters: list[Filter] = []
        self.filter_text = ""
        self.scanning = False
        self.scan_done = 0
        self.scan_total = 0
        self.report: CacheReport | None = None
        self.generation = 0
        self.plan_generation = 0
        self.plan: DeletionPlan | None = None
        self.scan_error = ""
        self._cancel_scan = threading.Event()
        self.deleting = False

    def compose(self) -> ComposeResult:
        yield Static("Scanning…", id="cache-header")
        yield Input(
            placeholder="filter: text, size>1GB, accessed>30d, type=model, refs=main, name=GLOB", id="filter"
        )
        yield Static(id="filter-error")
        with ContentSwitcher(initial="cache-list", id="cache-views"):
            yield CacheTable(id="cache-list")
            yield RepoDetail(id="cache-detail")
        yield Static(id="marked")

    def on_mount(self) -> None:
        self.query_one(FileTree).read_only = self.read_only
        self.start_scan()
        # The Cache pane is the first one shown: start with the table focused, not the tabs.
        self.call_after_refresh(self.focus_default)

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
        return Path(self.services.cache_dir)

    @property
    def read_only(self) -> bool:
        return self.services.read_only

    def focus_default(self) -> None:
        if self.view == "cache-detail":
            self.detail.revisions.focus()
        else:
            self.table.focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in DESTRUCTIVE and self.read_only:
            return False
        if action in ("delete", "clear_marks"):
            return bool(self.marks)
        if action == "back":
            return self.view == "cache-detail" or self.has_class("-filtering")
        if action == "switch_focus":
            return self.view == "cache-detail"
        return True

    # -- scanning -----------------------------------------------------------------------------------

    def start_scan(self) -> None:
        self._cancel_scan.set()
        self._cancel_scan = threading.Event()
        self.generation += 1
        self.scanning = True
        self.scan_done = self.scan_total = 0
        self.scan_error = ""
        self.report = None
        self.table.clear()
        self.table.records.clear()
        self.table.sort_values.clear()
        self.table.largest = 0
        self._update_header()
        processes = self.services.settings.scan_processes
        self._scan(self.cache_dir, self.generation, self._cancel_scan, processes)

    @work(thread=True, exclusive=True, group="cache-scan", exit_on_error=False)
    def _scan(self, cache_dir: Path, generation: int, cancel: threading.Event, processes: int) -> None:
        worker = get_current_worker()

        def cancelled() -> bool:
            return cancel.is_set() or worker.is_cancelled

        posted = 0
        try:
            try:
                posted = self._stream(cache_dir, generation, cancelled, processes)
            except Exception:
                # Worker processes can fail to start inside a running TUI (e.g. "bad value(s) in
                # fds_to_keep" from forkserver when the terminal's fds are redirected): scan in
                # this process instead, unless rows were already shown.
                if posted or processes == 1:
                    raise
                self._stream(cache_dir, generation, cancelled, 1)
        except Exception as exc:  # the cache vanished, permission denied on the root...
            self.post_message(self.ScanFinished(generation, None, f"{type(exc).__name__}: {exc}"))

    def _stream(self, cache_dir: Path, generation: int, cancelled: Callable[[], bool], processes: int) -> int:
        """Runs in the scan thread: post rows in batches (the first one at once); returns rows posted."""
        from hftui.core.cache.scan import iter_scan

        stream = iter_scan(cache_dir, cancel=cancelled, processes=processes)
        batch: list[RepoRecord] = []
        posted = 0
        last = time.monotonic()
        wait = FIRST_BATCH_SECONDS
        for record in stream:
            batch.append(record)
            if time.monotonic() - last >= wait or stream.done == stream.first_batch:
                self.post_message(self.ScanBatch(generation, batch, stream.done, stream.total))
                posted += len(batch)
                # Later batches come less often: each one re-sorts and redraws the visible rows.
                batch, last = [], time.monotonic()
                wait = min(MAX_BATCH_SECONDS, max(BATCH_SECONDS, wait * 2))
        if stream.cancelled or cancelled():
            return posted
        self.post_message(self.ScanBatch(generation, batch, stream.done, stream.total))
        self.post_message(self.ScanFinished(generation, stream.report))
        return posted + len(batch)

    @on(ScanBatch)
    async def _scan_batch(self, event: ScanBatch) -> None:
        # A DataTable measures every cell of its new rows in one go when it is next idle
        # (~0.15 ms a row): add big batches a slice at a time and let it run in between, so keys
        # and redraws never wait long while thousands of rows stream in.
        records = event.records
        for start in range(0, len(records), ROWS_PER_SLICE):
            if event.generation != self.generation:
                return
            if start:
                await asyncio.sleep(SLICE_PAUSE)
            with self.app.batch_update():
                self._put(
                    records[start : start + ROWS_PER_SLICE], resort=start + ROWS_PER_SLICE >= len(records)
                )
        if event.generation != self.generation:
            return
        self.scan_done, self.scan_total = event.done, event.total
        self._update_header()

    @on(ScanFinished)
    def _scan_finished(self, event: ScanFinished) -> None:
        if event.generation != self.generation:
            return
        self.scanning = False
        self.report = event.report
        self.scan_error = event.error
        self._update_header()
        self._forget_stale_marks()

    def _put(self, records: Iterable[RepoRecord], *, resort: bool = True) -> None:
        table = self.table
        records = list(records)
        t = now()
        table.put(records, self._repo_marked, t)
        if self.filters:
            visible = {name for name, r in table.records.items() if self._passes(r, t)}
            table.show_only(visible, self._repo_marked, t)
        if resort:
            self._resort()

    def _passes(self, record: RepoRecord, t: float) -> bool:
        from hftui.core.cache.filters import matches

        return matches(record, self.filters, now=t)

    def _resort(self) -> None:
        # The cursor follows its repo, except on the top row while rows stream in: then it stays
        # on top (the biggest repo), not on whichever repo happened to come first.
        top = self.scanning and self.table.cursor_row <= 0
        cursor = None if top else self.table.current_name
        self.table.sort_by(self.sort_key, self.sort_descending)
        if cursor is not None and cursor in self.table.rows:
            self.table.move_cursor(row=self.table.get_row_index(cursor), animate=False)

    def _update_header(self) -> None:
        records = self.table.records.values()
        corrupt = sum(1 for r in records if r.warnings)
        size = (
            self.report.size_on_disk
            if self.report is not None
            else sum(map(self.table.size_of, self.table.records))
        )
        free = disk_free(self.cache_dir)
        parts = [str(self.cache_dir), size_text(size), f"{len(self.table.records)} repos"]
        if corrupt:
            parts[-1] += f" ({corrupt} ⚠)"
        if free is not None:
            parts.append(f"{size_text(free)} free")
        if self.filters:
            parts.append(f"filter: {self.filter_text} ({self.table.row_count} shown)")
        if self.scanning:
            parts.append(f"scanning {self.scan_done}/{self.scan_total or '?'}…")
        elif self.scan_error:
            parts.append(f"scan failed: {self.scan_error}")
        elif not self.table.records:
            parts.append("empty: nothing downloaded yet")
        sort = f"sort: {self.sort_key} {'↓' if self.sort_descending else '↑'}"
        self.query_one("#cache-header", Static).update(
            Text(" · ".join(parts) + "  " + sort, no_wrap=True, overflow="ellipsis")
        )

    # -- public hooks -------------------------------------------------------------------------------

    def repos_changed(self, repos: Iterable[RepoKey]) -> None:
        """Downloads finished into these repos: rescan just them."""
        names = [folder_name(t, i) for t, i in repos]
        if names:
            self._rescan_repos(self.cache_dir, names, None, "")

    @work(thread=True, group="cache-rescan", exit_on_error=False)
    def _rescan_repos(
        self, cache_dir: Path, names: list[str], report: ExecutionReport | None, title: str
    ) -> None:
        from hftui.core.cache.scan import rescan_repo

        records, gone = [], []
        for name in names:
            if os.path.lexists(cache_dir / name):
                records.append(rescan_repo(cache_dir, name))
            else:
                gone.append(name)
        self.post_message(self.ReposRescanned(records, gone, report, title))

    @on(ReposRescanned)
    def _repos_rescanned(self, event: ReposRescanned) -> None:
        for name in event.gone:
            self.table.drop(name)
        self._put(event.records)
        if self.report is not None:
            report = self.report
            for record in event.records:
                report = report.with_repo(record)
            for name in event.gone:
                report = report.with_repo(_GoneRecord(report.cache_dir, name))  # type: ignore[arg-type]
            if event.report is not None:
                deleted = {str(o.path) for o in event.report.outcomes if o.status in ("deleted", "vanished")}
                report.stale_locks = [lock for lock in report.stale_locks if lock.path not in deleted]
                report.unreferenced_shared_blobs = [
                    b for b in report.unreferenced_shared_blobs if b.path not in deleted
                ]
            self.report = report
        self._forget_stale_marks()
        self._update_header()
        if self.view == "cache-detail" and self.detail.record is not None:
            current = self.table.records.get(self.detail.record.name)
            if current is None:
                self.action_back()
            elif current in event.records:
                self.detail.show(current, is_marked=self._detail_marked, now=now(), keep_revision=True)
                self._compute_frees(current)
        if event.report is not None:
            self.deleting = False
            self._announce(event.report, event.title)
            keys = tuple(sorted(set(event.report.repos)))
            self.post_message(CacheChanged(repos=keys))

    def _announce(self, report: ExecutionReport, title: str) -> None:
        text = summarize(report)
        if report.problems:
            lines = [f"{o.path.name}: {o.message}" for o in report.problems[:4]]
            more = f"\n… {len(report.problems) - 4} more" if len(report.problems) > 4 else ""
            self.notify(text + "\n" + "\n".join(lines) + more, title=title, severity="error", timeout=15)
        elif report.vanished:
            self.notify(text, title=title, severity="warning", timeout=8)
        else:
            self.notify(text, title=title, timeout=6)

    # -- navigation ---------------------------------------------------------------------------------

    @on(DataTable.RowSelected, "#cache-list")
    def _open_row(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open()

    def action_open(self) -> None:
        name = self.table.current_name
        record = self.table.records.get(name or "")
        if record is None:
            return
        detail = self.detail
        detail.frees = {}
        self.query_one(ContentSwitcher).current = "cache-detail"
        detail.show(record, is_marked=self._detail_marked, now=now())
        detail.revisions.focus()
        self._compute_frees(record)
        self.refresh_bindings()

    def action_back(self) -> None:
        if self.has_class("-filtering") and (
            self.query_one("#filter", Input).has_focus or self.view == "cache-list"
        ):
            self._close_filter()
            return
        if self.view == "cache-detail":
            name = self.detail.record.name if self.detail.record else None
            self.query_one(ContentSwitcher).current = "cache-list"
            table = self.table
            table.focus()
            if name and name in table.rows:
                table.move_cursor(row=table.get_row_index(name), animate=False)
            self.refresh_bindings()

    def action_switch_focus(self) -> None:
        if self.view != "cache-detail":
            return
        if self.detail.revisions.has_focus:
            self.detail.file_tree.focus()
        else:
            self.detail.revisions.focus()

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
        self.detail.file_tree.focus()

    def action_sort(self, key: str) -> None:
        if key == self.sort_key:
            self.sort_descending = not self.sort_descending
        else:
            self.sort_key, self.sort_descending = key, DEFAULT_DESCENDING[key]
        self._resort()
        self._update_header()

    # -- filter ---------------------------------------------------------------------------------

    def action_filter(self) -> None:
        if self.view == "cache-detail":
            self.action_back()
        self.add_class("-filtering")
        box = self.query_one("#filter", Input)
        box.focus()
        self.refresh_bindings()

    def _close_filter(self) -> None:
        box = self.query_one("#filter", Input)
        if not box.value:
            self.remove_class("-filtering")
        self.table.focus()
        self.refresh_bindings()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        from hftui.core.cache.filters import FilterError, parse_query

        box, error = event.input, self.query_one("#filter-error", Static)
        try:
            filters = parse_query(event.value)
        except FilterError as exc:
            box.add_class("-invalid")
            error.update(f"✗ {exc} (still showing: {self.filter_text or 'everything'})")
            error.add_class("-shown")
            return
        box.remove_class("-invalid")
        error.remove_class("-shown")
        self.filters, self.filter_text = filters, event.value.strip()
        t = now()
        visible = (
            {name for name, r in self.table.records.items() if self._passes(r, t)}
            if filters
            else set(self.table.records)
        )
        self.table.show_only(visible, self._repo_marked, t)
        self._resort()
        self._update_header()

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._close_filter()

    # -- marks ----------------------------------------------------------------------------------

    def _repo_marked(self, record: RepoRecord) -> bool:
        return record.repo_type is not None and Mark.repo(record.repo_type, record.repo_id) in self.marks

    def _detail_marked(
        self, *, revision: RevisionRecord | None = None, path: str | None = None, is_dir: bool = False
    ) -> bool:
        record = self.detail.record
        if record is None or record.repo_type is None:
            return False
        key = (record.repo_type, record.repo_id)
        if Mark.repo(*key) in self.marks:
            return True
        revision = revision or self.detail.revision
        if revision is None:
            return False
        if Mark.revision(*key, revision.commit_hash) in self.marks:
            return True
        if path is None:
            return False
        if Mark.file(*key, revision.commit_hash, path, is_dir=is_dir) in self.marks:
            return True
        parts = path.split("/")
        return any(
            Mark.file(*key, revision.commit_hash, "/".join(parts[:i]), is_dir=True) in self.marks
            for i in range(1, len(parts))
        )

    def action_toggle_mark(self) -> None:
        if self.read_only:
            return
        if self.view == "cache-detail":
            if self.detail.file_tree.has_focus:
                node = self.detail.file_tree.cursor_node
                if node is not None and node.data is not None:
                    self._toggle_path(node.data)
                return
            record, revision = self.detail.record, self.detail.revision
            if record is None or revision is None or record.repo_type is None:
                return
            self._toggle(Mark.revision(record.repo_type, record.repo_id, revision.commit_hash))
            table = self.detail.revisions
            if table.cursor_row < table.row_count - 1:
                table.move_cursor(row=table.cursor_row + 1)
            return
        name = self.table.current_name
        record = self.table.records.get(name or "")
        if record is None:
            return
        if record.warnings or record.repo_type is None:
            self.notify(f"{record.name} cannot be marked: {record.warnings[0].message}", severity="warning")
            return
        self._toggle(Mark.repo(record.repo_type, record.repo_id))
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
        self._toggle(
            Mark.file(record.repo_type, record.repo_id, revision.commit_hash, entry.path, is_dir=entry.is_dir)
        )

    def _toggle(self, mark: Mark) -> None:
        if mark in self.marks:
            self.marks.discard(mark)
        else:
            self.marks.add(mark)
        self._marks_changed()

    def action_clear_marks(self) -> None:
        if self.marks:
            self.marks.clear()
            self._marks_changed()

    def _marks_changed(self) -> None:
        for name, record in self.table.records.items():
            self.table.set_marked(name, self._repo_marked(record))
        if self.view == "cache-detail":
            self.detail.refresh_marks(self._detail_marked)
        self.set_class(bool(self.marks), "-has-marks")
        self.plan = None
        self._render_marked(None)
        if self.marks:
            self._request_plan(confirm=False)
        self.refresh_bindings()

    def _forget_stale_marks(self) -> None:
        """Drop marks whose repo/revision is gone (after a deletion or a rescan)."""
        if not self.marks or self.scanning:
            return
        by_key = {(r.repo_type, r.repo_id): r for r in self.table.records.values() if r.repo_type}
        keep = set()
        for mark in self.marks:
            record = by_key.get(mark.repo_key)
            if record is None or record.warnings:
                continue
            if mark.kind != "repo":
                revision = record.revision(mark.commit_hash)
                if revision is None:
                    continue
                if mark.kind == "path":
                    prefix = mark.path + "/"
                    if not any(p == mark.path or p.startswith(prefix) for p, _ in revision.files):
                        continue
            keep.add(mark)
        if keep != self.marks:
            self.marks = keep
            self._marks_changed()

    def _render_marked(self, plan: DeletionPlan | None) -> None:
        panel = self.query_one("#marked", Static)
        if not self.marks:
            panel.update("")
            return
        labels = sorted(m.label for m in self.marks)
        text = Text("● " + " · ".join(labels) + "\n", no_wrap=True, overflow="ellipsis")
        if plan is None:
            text.append(f"{len(labels)} marked · computing what deleting frees…", style="bold")
        else:
            text.append(
                f"{len(labels)} marked · {size_text(plan.total_size)} · deleting frees {size_text(plan.expected_freed_size)}",
                style="bold",
            )
            if plan.refused:
                text.append(f" · {len(plan.refused)} refused ({plan.refused[0].reason})")
        text.append("   d: delete · u: unmark all", style="italic")
        panel.update(text)

    def _busy(self) -> dict[RepoKey, str]:
        repos = self.services.downloads.active_repos()
        return {(str(t), str(i)): "a download into this repo is running" for t, i in repos}

    def _request_plan(self, *, confirm: bool) -> None:
        self.plan_generation += 1
        by_key = {
            (r.repo_type, r.repo_id): r for r in self.table.records.values() if r.repo_type and not r.warnings
        }
        touched = {m.repo_key: by_key[m.repo_key] for m in self.marks if m.repo_key in by_key}
        self._plan(self.plan_generation, set(self.marks), touched, self._busy(), self.cache_dir, confirm)

    @work(thread=True, exclusive=True, group="cache-plan", exit_on_error=False)
    def _plan(
        self,
        generation: int,
        marks: set[Mark],
        touched: dict[RepoKey, RepoRecord],
        busy: dict[RepoKey, str],
        cache_dir: Path,
        confirm: bool,
    ) -> None:
        from hftui.core.cache.cleanup import plan_deletion

        infos = {key: record.to_cached_repo_info() for key, record in touched.items()}
        root = Path(os.path.realpath(cache_dir))
        plan = plan_deletion(infos, marks, cache_dir=root, busy=busy)
        self.post_message(self.PlanReady(generation, plan, confirm))

    @on(PlanReady)
    def _plan_ready(self, event: PlanReady) -> None:
        if event.generation != self.plan_generation:
            return
        self.plan = event.plan
        self._render_marked(event.plan)
        if event.confirm:
            self._confirm(event.plan, "Delete marked items?", skipped=[])

    # -- delete / prune -------------------------------------------------------------------------

    def action_delete(self) -> None:
        if self.read_only or not self.marks:
            return
        self._request_plan(confirm=True)  # fresh plan: downloads may have started meanwhile

    def _confirm(self, plan: DeletionPlan, title: str, *, skipped: list[tuple[str, str]]) -> None:
        from hftui.tui.screens.delete_confirm import DeleteConfirmScreen

        def answered(yes: bool | None) -> None:
            if not yes:
                return
            busy = set(self._busy()) & set(plan.repos)
            if busy:
                self.notify(
                    "Not deleted: a download started meanwhile in "
                    + ", ".join(f"{t}/{i}" for t, i in sorted(busy)),
                    severity="error",
                )
                return
            if self.deleting:
                self.notify("A deletion is still running.", severity="warning")
                return
            self.deleting = True
            self._execute(plan, title)

        self.app.push_screen(DeleteConfirmScreen(title, plan, skipped=skipped), answered)

    @work(thread=True, group="cache-delete", exit_on_error=False)
    def _execute(self, plan: DeletionPlan, title: str) -> None:
        from hftui.core.cache.scan import rescan_repo

        try:
            report = execute_plan(plan)
        except Exception as exc:  # a bug, not a per-item error: say so instead of staying "deleting"
            report = ExecutionReport(expected_freed_size=plan.expected_freed_size, repos=plan.repos)
            report.outcomes.append(Outcome("plan", plan.cache_dir, "failed", f"{type(exc).__name__}: {exc}"))
        touched = {folder_name(t, i) for t, i in plan.repos}
        for loose in plan.loose_files:
            parts = (
                loose.path.relative_to(plan.cache_dir).parts
                if loose.path.is_relative_to(plan.cache_dir)
                else ()
            )
            if loose.kind in ("incomplete", "kept") and parts:
                touched.add(parts[0])
        records, gone = [], []
        for name in sorted(touched):
            if os.path.lexists(plan.cache_dir / name):
                records.append(rescan_repo(plan.cache_dir, name))
            else:
                gone.append(name)
        self.post_message(self.ReposRescanned(records, gone, report, title))

    def action_prune(self) -> None:
        if self.read_only:
            return
        if self.report is None:
            self.notify("Wait for the scan to finish.", severity="warning")
            return
        by_key = {
            (r.repo_type, r.repo_id): r for r in self.table.records.values() if r.repo_type and not r.warnings
        }
        with_detached = {k: r for k, r in by_key.items() if any(rev.detached for rev in r.revisions)}
        self._prune_plans(self.report, with_detached, self._busy(), self.cache_dir, self._queued_requests())

    def _queued_requests(self) -> list[Any] | None:
        """Requests of the queue's unfinished jobs (their kept bytes are not abandoned), or None
        when this hftui does not know the queue."""
        downloads = getattr(self.app, "downloads", None)
        jobs = getattr(downloads, "jobs", None)
        if not callable(jobs):
            return None
        try:
            return [job.request for job in jobs() if job.state != "done"]
        except Exception:  # the download process is gone: judge by age only
            return None

    @work(thread=True, exclusive=True, group="cache-plan", exit_on_error=False)
    def _prune_plans(
        self,
        report: CacheReport,
        with_detached: dict[RepoKey, RepoRecord],
        busy: dict[RepoKey, str],
        cache_dir: Path,
        queued: list[Any] | None = None,
    ) -> None:
        from hftui.core.cache.cleanup import plan_detached, plan_loose_files, plan_shared_blobs
        from hftui.core.downloads.kept import abandoned, iter_kept

        root = Path(report.cache_dir)
        infos = {k: r.to_cached_repo_info() for k, r in with_detached.items()}
        plans: dict[str, tuple[DeletionPlan, list[tuple[str, str]]]] = {}
        plans["detached"] = (plan_detached(infos, cache_dir=root, busy=busy), [])
        busy_dirs = [root / folder_name(t, i) for t, i in busy]
        in_progress = [
            (f.path, "a download holds its lock") for f in report.incomplete_files if f.in_progress
        ]
        plan, skipped = plan_loose_files(
            [(Path(f.path), f.size_on_disk) for f in report.incomplete_files if not f.in_progress],
            kind="incomplete",
            cache_dir=root,
            busy_repo_dirs=busy_dirs,
        )
        plans["incomplete"] = (plan, [(str(p), why) for p, why in skipped] + in_progress)
        plan, skipped = plan_loose_files(
            [(Path(lock.path), lock.size_on_disk) for lock in report.stale_locks], kind="lock", cache_dir=root
        )
        plans["locks"] = (plan, [(str(p), why) for p, why in skipped])
        max_age = float(getattr(getattr(self.app, "settings", None), "kept_max_age_days", 14) or 0) * 86400
        offer, keep = abandoned(list(iter_kept(root)), max_age=max_age, requests=queued)
        plan, skipped = plan_loose_files(
            [(e.part_path if e.part_exists else e.meta_path, e.part_bytes) for e, _ in offer],
            kind="kept",
            cache_dir=root,
            busy_repo_dirs=busy_dirs,
        )
        plans["kept"] = (
            plan,
            [(str(p), why) for p, why in skipped] + [(str(e.part_path), why) for e, why in keep],
        )
        plans["shared"] = (
            plan_shared_blobs(
                [(Path(b.path), b.size_on_disk) for b in report.unreferenced_shared_blobs], cache_dir=root
            ),
            [],
        )
        self.post_message(self.PruneReady(plans))

    @on(PruneReady)
    def _prune_ready(self, event: PruneReady) -> None:
        from hftui.tui.screens.prune import PruneChoice, PruneScreen

        titles = {
            "detached": "Detached revisions",
            "incomplete": "Orphaned .incomplete files",
            "locks": "Stale lock files",
            "shared": "Unreferenced shared blobs",
            "kept": "Abandoned kept partial downloads",
        }
        choices = []
        for key, title in titles.items():
            plan, _ = event.plans[key]
            count = len(plan.items) + len(plan.loose_files) + len(plan.shared_blobs)
            choices.append(PruneChoice(key, title, count, plan.expected_freed_size))

        def chosen(key: str | None) -> None:
            if key:
                plan, skipped = event.plans[key]
                self._confirm(plan, f"Prune: {titles[key]}?", skipped=skipped)

        self.app.push_screen(PruneScreen(choices), chosen)

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
        self.app.push_screen(VerifyScreen(Path(record.repo_path), revision.commit_hash, record.cache_id))

    def action_browse(self) -> None:
        record, _ = self._current()
        if record is None or record.repo_type is None:
            return
        prefix = "" if record.repo_type == "model" else f"{record.repo_type}s/"
        self.post_message(OpenInBrowser(prefix + record.repo_id))

    # -- per-revision "frees" in the detail ----------------------------------------------------------

    def _compute_frees(self, record: RepoRecord) -> None:
        if record.repo_type is None or record.warnings:
            return
        self._frees(record, Path(os.path.realpath(self.cache_dir)))

    @work(thread=True, exclusive=True, group="cache-frees", exit_on_error=False)
    def _frees(self, record: RepoRecord, cache_dir: Path) -> None:
        from hftui.core.cache.cleanup import plan_deletion

        key = (str(record.repo_type), record.repo_id)
        infos = {key: record.to_cached_repo_info()}
        frees = {
            rev.commit_hash: plan_deletion(
                infos, [Mark.revision(*key, rev.commit_hash)], cache_dir=cache_dir
            ).expected_freed_size
            for rev in record.revisions
        }
        self.post_message(self.RevisionFrees(record.name, frees))

    @on(RevisionFrees)
    def _frees_ready(self, event: RevisionFrees) -> None:
        if self.detail.record is not None and self.detail.record.name == event.name:
            self.detail.set_frees(event.frees)


class _GoneRecord:
    """Stand-in passed to `CacheReport.with_repo` to drop a folder that no longer exists."""

    def __init__(self, cache_dir: str, name: str) -> None:
        self.name = name
        self.repo_path = os.path.join(cache_dir, name)
