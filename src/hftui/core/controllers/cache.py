"""CacheController: everything the Cache pane decides, without a UI.

It owns the scan (rows stream in from `hftui.core.cache.scan.iter_scan`), the records on show, the
marks and their deletion plan, the four prune plans, and the plan -> confirm -> execute flow of
`hftui.core.cache.cleanup`. A view (the Textual `CachePane`, or a test) calls the intents
(`start_scan`, `toggle`, `request_delete`, `confirmed`, `request_prune`, `cancel_operation`...) and
renders what the controller tells its `CacheListener`s.

Rules it keeps:

* Background work runs through the view's `Runner`; results come back as callbacks on the owner
  thread, the only place state changes. Every failure of background work reaches the listeners as
  a `Notice` (and leaves a state the user can retry from), never silence.
* One deletion or prune runs at a time, off the owner thread, item by item, with progress, and
  can be cancelled between items. A rescan asked for meanwhile (a full one, or of repos a download
  just wrote) waits for it and then shows the disk as it is.
* After a deletion only the touched folders are rescanned, and the report is rebuilt once for all
  of them, so a bulk deletion costs time proportional to what changed, not one rebuild per repo.
* A full rescan (`r`, or after a prune) reuses, unread, every repo whose folders did not change
  since the session last read it (`hftui.core.cache.reuse`), and says how many it reused.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from hftui.core.cache.cleanup import DeletionPlan, ExecutionReport, Mark, execute_plan, summarize
from hftui.core.cache.names import printable
from hftui.core.cache.revalidate import PlanChanged
from hftui.core.controllers.runner import Runner, Task, spawn
from hftui.core.vocab import cache_folder, delete_title
from hftui.core.vocab import count as vocab_count

if TYPE_CHECKING:
    from hftui.core.cache.filters import Filter
    from hftui.core.cache.reuse import ScanIndex, StoreState
    from hftui.core.cache.roots_scan import RootsGlance
    from hftui.core.cache.scan import CacheReport, RepoRecord, RevisionRecord

RepoKey = tuple[str, str]
"""(repo_type, repo_id)."""

T = TypeVar("T")

SORT_KEYS = ("size", "name", "accessed", "modified")
DEFAULT_DESCENDING = {"size": True, "name": False, "accessed": True, "modified": True, "update": False}
"""Each sort key's first order. `update` ascending is the most urgent first (`hub.updates.urgency`)."""
FIRST_BATCH_SECONDS = 0.02
BATCH_SECONDS = 0.15
MAX_BATCH_SECONDS = 0.8
PROGRESS_SECONDS = 0.1
BUSY_REASON = "a download into this repo is running"

PRUNE_TITLES = {
    "detached": "Detached revisions",
    "incomplete": "Orphaned .incomplete files",
    "locks": "Stale lock files",
    "shared": "Unreferenced shared blobs",
    "kept": "Abandoned kept partial downloads",
}
PRUNE_NOUNS = {
    "detached": "detached revision",
    "incomplete": "orphaned .incomplete file",
    "locks": "stale lock file",
    "shared": "unreferenced shared blob",
    "kept": "abandoned kept partial download",
}
"""One of each PRUNE_TITLES, for the confirmation's title (`Prune 3 detached revisions (frees 1.2 GB)?`)."""
KEPT_MAX_AGE_DAYS = 14
"""Kept partial downloads with no byte for this long are offered by prune (the setting's default)."""

Severity = Literal["information", "warning", "error"]
PlanState = Literal["idle", "computing", "ready", "failed"]


@dataclass(frozen=True)
class Notice:
    """A message for the user (a view shows it as a notification)."""

    text: str
    severity: Severity = "information"
    title: str = ""
    timeout: float = 6.0


def action_name(title: str) -> str:
    """A confirmation's title without its question and figures, for the progress line and the toast
    that follow: `Delete 3 items (frees 1.2 GB)?` -> `Delete 3 items`."""
    return title.split(" (frees ")[0].rstrip("?")


@dataclass(frozen=True)
class ConfirmRequest:
    """Ask the user to confirm `plan`; answer with `CacheController.confirmed(request)`.

    `changes` is empty for a first confirmation; when the disk changed between a confirmation and
    the deletion, nothing was deleted and this second request lists what changed."""

    plan: DeletionPlan
    title: str
    skipped: tuple[tuple[str, str], ...] = ()
    changes: tuple[str, ...] = ()


@dataclass(frozen=True)
class PruneOption:
    key: str  # one of PRUNE_TITLES
    title: str
    plan: DeletionPlan
    skipped: tuple[tuple[str, str], ...] = ()

    @property
    def count(self) -> int:
        plan = self.plan
        return len(plan.items) + len(plan.loose_files) + len(plan.shared_blobs)

    @property
    def size(self) -> int:
        return self.plan.expected_freed_size


@dataclass
class Operation:
    """A deletion or prune that is running."""

    title: str
    total: int
    done: int = 0
    cancel: threading.Event = field(default_factory=threading.Event)

    @property
    def cancelling(self) -> bool:
        return self.cancel.is_set()


@dataclass(frozen=True)
class Rescanned:
    """Fresh records for some top-level folders (`gone`: folders that no longer exist), and the
    report with them folded in when it could be computed off the owner thread from `base`."""

    records: tuple[RepoRecord, ...]
    gone: tuple[str, ...]
    removed_paths: frozenset[str] = frozenset()
    base: CacheReport | None = None
    report: CacheReport | None = None


@dataclass(frozen=True)
class Executed:
    """What a confirmed deletion came to: its report, or `changed` when the disk no longer
    matched the confirmation (then nothing was deleted), and the touched folders rescanned."""

    report: ExecutionReport | None
    changed: PlanChanged | None
    rescanned: Rescanned


class CacheListener:
    """What a view hears from the controller. Every method does nothing here: override the ones
    you render."""

    def scan_started(self) -> None:
        """A new scan began: every record shown so far is gone."""

    def records_changed(self, changed: Sequence[RepoRecord], removed: Sequence[str]) -> None:
        """`changed` records are new or replace the record of the same folder; `removed` folders
        are gone. Sizes of both are what changed, never the whole cache."""

    def status_changed(self) -> None:
        """Scan progress, the report, a running operation or the sort changed (the header)."""

    def marks_changed(self, names: Collection[str]) -> None:
        """The marks changed; `names` are the folders whose repo-level mark flipped."""

    def plan_changed(self) -> None:
        """`plan`/`plan_state` changed (what deleting the marks frees)."""

    def confirm(self, request: ConfirmRequest) -> None:
        """Show a confirmation of `request.plan`."""

    def prune_options(self, options: Sequence[PruneOption]) -> None:
        """Show the prune choices."""

    def frees_ready(self, name: str, frees: Mapping[str, int]) -> None:
        """What deleting each revision of folder `name` alone frees (commit hash -> bytes)."""

    def notice(self, notice: Notice) -> None:
        """Tell the user something (a result, a refusal, a failure)."""

    def cache_changed(self, repos: tuple[RepoKey, ...]) -> None:
        """Files of these repos were deleted outside a scan (other views may want to refresh)."""


def describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _folder_name(key: RepoKey) -> str:
    return cache_folder(*key)


class CacheController:
    def __init__(
        self,
        cache_dir: str | os.PathLike[str],
        runner: Runner,
        *,
        read_only: bool = False,
        processes: int = 0,
        busy: Callable[[], Collection[RepoKey]] = frozenset,
        clock: Callable[[], float] = time.time,
        kept_max_age_days: int = KEPT_MAX_AGE_DAYS,
        queued_requests: Callable[[], Collection[Any] | None] | None = None,
        other_roots: Callable[[CacheReport], RootsGlance] | None = None,
        reuse: bool = True,
        scan_index: ScanIndex | None = None,
    ) -> None:
        self.cache_dir = Path(cache_dir)
        self.other_roots = other_roots
        """Sums up the other roots (docs/roots.md) after each full scan, off the event loop."""
        self.roots_glance: RootsGlance | None = None
        self.kept_max_age_days = kept_max_age_days
        """Prune offers kept partial downloads that got no byte for this many days (0: no age limit)."""
        self.queued_requests = queued_requests
        """The requests of every unfinished download job (`DownloadRequest`s), or None when they
        cannot be known: prune offers the kept partial downloads none of them would resume."""
        self.runner = runner
        self.read_only = read_only
        self.processes = processes
        self._busy = busy
        self.clock = clock
        self.listeners: list[CacheListener] = []

        self.records: dict[str, RepoRecord] = {}
        """Folder name -> record of every top-level entry shown (corrupt ones included). Change it
        through `_set_record`/`_drop_record`, which keep `corrupt_count` true."""
        self.corrupt_count = 0
        """How many of `records` have warnings, kept as they change: the header shows it on every
        progress tick of a deletion, and counting 10,000 records each time took the event loop
        (and with it the GIL) from the deletion's own thread."""
        self.report: CacheReport | None = None
        self.scanning = False
        self.scan_done = 0
        self.scan_total = 0
        self.scan_error = ""
        self.generation = 0
        self._scan_cancel = threading.Event()
        if scan_index is None and reuse:
            from hftui.core.cache.reuse import ScanIndex

            scan_index = ScanIndex(str(self.root))
        self.scan_index: ScanIndex | None = scan_index
        """What the session last read of each repo, for rescans to reuse (None: read everything)."""
        self.scan_reused = 0
        """Repos the last full scan reused unread."""

        self.marks: set[Mark] = set()
        self.plan: DeletionPlan | None = None
        self.plan_state: PlanState = "idle"
        self.plan_error = ""
        self.plan_generation = 0
        self._plan_running = False
        self._plan_again = False
        self._plan_confirm = False

        self.operation: Operation | None = None
        self.rescan_pending = False
        self._deferred: set[str] = set()

        self.filters: list[Filter] = []
        self.update_results: Callable[[], Mapping[str, Any]] = dict
        """The update check's results by `type/id`, for the `update=` filter term (set by the view)."""
        self.filter_text = ""
        self.sort_key = "size"
        self.sort_descending = True

    # -- plumbing -----------------------------------------------------------------------------------

    @property
    def root(self) -> Path:
        """The cache directory with symlinks resolved: the paths in records and plans start here."""
        return Path(os.path.realpath(self.cache_dir))

    def _emit(self, name: str, *args: object) -> None:
        for listener in list(self.listeners):
            getattr(listener, name)(*args)

    def _notice(
        self, text: str, severity: Severity = "information", *, title: str = "", timeout: float = 6.0
    ) -> None:
        self._emit("notice", Notice(text, severity, title, timeout))

    def _spawn(
        self,
        group: str,
        work: Callable[[Task], T],
        done: Callable[[T], None],
        failed: Callable[[BaseException], None],
    ) -> None:
        spawn(self.runner, group, work, done, failed)

    def busy_reasons(self) -> dict[RepoKey, str]:
        """Repos that must not be touched now (a download writes into them), with why."""
        return {(str(t), str(i)): BUSY_REASON for t, i in self._busy()}

    def _set_record(self, record: RepoRecord) -> None:
        self._drop_record(record.name)
        self.records[record.name] = record
        self.corrupt_count += bool(record.warnings)

    def _drop_record(self, name: str) -> None:
        old = self.records.pop(name, None)
        if old is not None:
            self.corrupt_count -= bool(old.warnings)

    def _valid_by_key(self) -> dict[RepoKey, RepoRecord]:
        return {(r.repo_type, r.repo_id): r for r in self.records.values() if r.repo_type and not r.warnings}

    # -- scanning -----------------------------------------------------------------------------------

    def start_scan(self) -> None:
        """Scan the whole cache again (after a running deletion, if one runs)."""
        if self.operation is not None:
            self.rescan_pending = True
            self._emit("status_changed")
            self._notice("The cache is rescanned once the running deletion finishes.", timeout=4)
            return
        self._scan_cancel.set()
        self._scan_cancel = cancel = threading.Event()
        self.generation += 1
        generation = self.generation
        self.scanning = True
        self.scan_done = self.scan_total = 0
        self.scan_error = ""
        self.report = None
        self.records = {}
        self.corrupt_count = 0
        self._emit("scan_started")
        self._emit("status_changed")
        processes = self.processes
        cache_dir = self.cache_dir
        index = self.scan_index
        # The worker gets its own index to read from; this one changes only on this thread.
        snapshot = replace(index, records=dict(index.records)) if index is not None else None

        def body(task: Task) -> None:
            def cancelled() -> bool:
                return cancel.is_set() or task.cancelled()

            posted = [0]

            def post(batch: list[RepoRecord], done: int, total: int) -> None:
                posted[0] += len(batch)
                task.deliver(partial(self._scan_batch, generation, batch, done, total))

            try:
                try:
                    report = _stream(cache_dir, cancelled, processes, post, snapshot)
                except Exception:
                    # Worker processes can fail to start inside a running TUI (e.g. "bad value(s)
                    # in fds_to_keep" from forkserver when the terminal's fds are redirected): scan
                    # in this process instead, unless rows were already shown.
                    if posted[0] or processes == 1:
                        raise
                    report = _stream(cache_dir, cancelled, 1, post, snapshot)
            except Exception as exc:  # the cache vanished, permission denied on the root...
                task.deliver(partial(self._scan_failed, generation, describe(exc)))
                return
            if report is not None:
                reused = len(snapshot.reused) if snapshot is not None else 0
                store = snapshot.store if snapshot is not None else None
                task.deliver(partial(self._scan_finished, generation, report, reused, store))

        self.runner.start("cache-scan", body)

    def stop(self) -> None:
        """The view is going away: stop scanning (a running deletion stops between items)."""
        self._scan_cancel.set()
        if self.operation is not None:
            self.operation.cancel.set()

    def _scan_batch(self, generation: int, batch: list[RepoRecord], done: int, total: int) -> None:
        if generation != self.generation:
            return
        for record in batch:
            self._set_record(record)
        self.scan_done, self.scan_total = done, total
        self._emit("records_changed", batch, ())
        self._emit("status_changed")

    def _scan_finished(
        self, generation: int, report: CacheReport, reused: int = 0, store: StoreState | None = None
    ) -> None:
        if generation != self.generation:
            return
        self.scanning = False
        self.report = report
        self.scan_reused = reused
        if self.scan_index is not None:
            self.scan_index.remember(report.repos, replace=True)
            self.scan_index.keep_store(store)
        self._emit("status_changed")
        if reused:
            total = len(report.repos)
            self._notice(
                f"Rescan: reused {reused:,} of {total:,} repos (their folders did not change); "
                f"read {total - reused:,}.",
                timeout=5,
            )
        self._forget_stale_marks(replan=None)
        if self.other_roots is not None:
            glance = self.other_roots
            self._spawn(
                "roots-glance",
                lambda task: glance(report),
                partial(self._roots_glanced, generation),
                partial(self._roots_glance_failed, generation),
            )

    def _roots_glanced(self, generation: int, glance: RootsGlance) -> None:
        if generation == self.generation:
            self.roots_glance = glance
            self._emit("status_changed")

    def _roots_glance_failed(self, generation: int, exc: BaseException) -> None:
        if generation == self.generation:
            self._notice(f"Summing up the other roots failed: {describe(exc)} (R shows them)", "warning")

    def _scan_failed(self, generation: int, error: str) -> None:
        if generation != self.generation:
            return
        self.scanning = False
        self.scan_error = error
        self._emit("status_changed")
        self._notice(f"Scanning {self.cache_dir} failed: {error}", "error", timeout=10)

    # -- rescans of some folders ----------------------------------------------------------------------

    def repos_changed(self, repos: Iterable[RepoKey]) -> None:
        """Downloads finished into these repos: rescan just them."""
        names = [_folder_name(key) for key in repos]
        if names:
            self.rescan_folders(names)

    def rescan_folders(self, names: Iterable[str]) -> None:
        """Rescan these top-level folders (after a running deletion, if one runs)."""
        names = set(names)
        if not names:
            return
        if self.operation is not None:
            self._deferred |= names
            return
        base = self.report
        root = self.root
        ordered = sorted(names)
        self._spawn(
            "cache-rescan",
            lambda task: _rescan(root, ordered, base, frozenset()),
            self._apply,
            lambda exc: self._notice(
                f"Rescanning {vocab_count(len(ordered), 'folder')} failed: {describe(exc)}", "error"
            ),
        )

    def _apply(self, rescanned: Rescanned) -> None:
        for name in rescanned.gone:
            self._drop_record(name)
        for record in rescanned.records:
            self._set_record(record)
        if self.scan_index is not None:
            self.scan_index.remember(rescanned.records, gone=rescanned.gone)
        if self.report is not None:
            if rescanned.report is not None and self.report is rescanned.base:
                self.report = rescanned.report
            else:  # the report changed while the worker ran: fold the records in here
                self.report = self.report.with_repos(
                    rescanned.records, gone=rescanned.gone, removed_paths=rescanned.removed_paths
                )
        self._emit("records_changed", rescanned.records, rescanned.gone)
        self._forget_stale_marks(replan={(r.repo_type, r.repo_id) for r in rescanned.records if r.repo_type})
        self._emit("status_changed")

    # -- filter and sort ------------------------------------------------------------------------------

    def set_filter(self, text: str) -> str | None:
        """Filter the rows; returns why `text` is not a valid query (the filter then stays as it was)."""
        from hftui.core.cache.filters import FilterError, parse_query

        try:
            filters = parse_query(text)
        except FilterError as exc:
            return str(exc)
        self.filters, self.filter_text = filters, text.strip()
        return None

    def passes(self, record: RepoRecord, now: float) -> bool:
        from hftui.core.cache.filters import matches

        return not self.filters or matches(record, self.filters, now=now, updates=self.update_results())

    def visible(self, records: Iterable[RepoRecord], now: float) -> set[str]:
        """The folder names of `records` that pass the filter. The update results are read once
        for all of them (`passes` reads them per record: a copy of every result each time)."""
        from hftui.core.cache.filters import matches

        if not self.filters:
            return {record.name for record in records}
        updates = self.update_results()
        return {r.name for r in records if matches(r, self.filters, now=now, updates=updates)}

    def update_urgency(self, record: RepoRecord) -> tuple[int, int]:
        """The `update` sort key of a repo: an update available first (biggest fetch first), then
        ref or repo gone, up to date, not checked - as `hftui scan --sort update` orders them."""
        from hftui.core.hub.updates import urgency

        return urgency(self.update_results().get(record.cache_id))

    def sort_by(self, key: str) -> None:
        """Sort by `key`; again on the same key reverses the order."""
        if key == self.sort_key:
            self.sort_descending = not self.sort_descending
        else:
            self.sort_key, self.sort_descending = key, DEFAULT_DESCENDING[key]
        self._emit("status_changed")

    # -- marks ----------------------------------------------------------------------------------------

    def is_repo_marked(self, record: RepoRecord) -> bool:
        return record.repo_type is not None and Mark.repo(record.repo_type, record.repo_id) in self.marks

    def is_marked(
        self,
        record: RepoRecord,
        revision: RevisionRecord | None = None,
        path: str | None = None,
        *,
        is_dir: bool = False,
    ) -> bool:
        """Whether deleting the marks deletes this repo / revision / file or folder."""
        if record.repo_type is None:
            return False
        key = (record.repo_type, record.repo_id)
        if Mark.repo(*key) in self.marks:
            return True
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

    def mark_repo(self, name: str) -> bool:
        """Mark or unmark the repo of folder `name`; False when it cannot be marked."""
        if self.read_only:
            return False
        record = self.records.get(name)
        if record is None:
            return False
        if record.warnings or record.repo_type is None:
            reason = record.warnings[0].message if record.warnings else "not a repo folder"
            self._notice(f"{printable(record.name)} cannot be marked: {printable(reason)}", "warning")
            return False
        self.toggle(Mark.repo(record.repo_type, record.repo_id))
        return True

    def toggle(self, mark: Mark) -> None:
        if self.read_only:
            return
        marks = set(self.marks)
        if mark in marks:
            marks.discard(mark)
        else:
            marks.add(mark)
        self._set_marks(marks)

    def add_marks(self, marks: Iterable[Mark]) -> None:
        """Mark these too (the revisions an update superseded); nothing in read-only mode."""
        if self.read_only:
            return
        added = set(self.marks) | set(marks)
        if added != self.marks:
            self._set_marks(added)

    def clear_marks(self) -> None:
        if self.marks:
            self._set_marks(set())

    def _set_marks(self, marks: set[Mark]) -> None:
        before = {m.repo_key for m in self.marks if m.kind == "repo"}
        after = {m.repo_key for m in marks if m.kind == "repo"}
        flipped = before ^ after
        self.marks = marks
        names = [
            name for name, r in self.records.items() if r.repo_type and (r.repo_type, r.repo_id) in flipped
        ]
        self._emit("marks_changed", names)
        if marks:
            self._request_plan(confirm=False)
        else:
            self.plan_generation += 1  # a plan still being computed is for marks that are gone
            self.plan, self.plan_state, self.plan_error = None, "idle", ""
            self._emit("plan_changed")

    def _forget_stale_marks(self, replan: Collection[RepoKey] | None = ()) -> None:
        """Drop marks whose repo/revision/file is gone (after a deletion or a rescan). When the marks
        stay, the plan is made again if it came from records just replaced: those of the repos in
        `replan`, or of every repo when it is None (a whole scan)."""
        if not self.marks or self.scanning:
            return
        by_key = self._valid_by_key()
        keep = set()
        for mark in self.marks:
            record = by_key.get(mark.repo_key)
            if record is None:
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
            self._set_marks(keep)
        elif replan is None or any(m.repo_key in replan for m in keep):
            # A revision an update superseded is marked as soon as the update lands, before the
            # rescan shows the new revision that shares its files: a plan made then offers bytes
            # that deleting it no longer frees. A pending `d` keeps its confirmation.
            self._request_plan(confirm=self._plan_confirm and self.plan_state == "computing")

    # -- deletion plans -------------------------------------------------------------------------------

    def _request_plan(self, *, confirm: bool) -> None:
        self.plan_generation += 1
        self.plan, self.plan_state, self.plan_error = None, "computing", ""
        self._emit("plan_changed")
        self._plan_confirm = confirm  # the latest request decides (a mark after `d` drops its dialog)
        if self._plan_running:
            # One plan at a time: marking 10,000 repos one key at a time would otherwise start
            # 10,000 plans of the whole cache, each one stale before it ends. The running one is
            # stale now; when it ends, one plan starts for the marks as they are then.
            self._plan_again = True
            return
        self._start_plan()

    def _start_plan(self) -> None:
        generation, confirm = self.plan_generation, self._plan_confirm
        self._plan_running = True
        by_key = self._valid_by_key()
        marks = frozenset(self.marks)
        touched = {m.repo_key: by_key[m.repo_key] for m in marks if m.repo_key in by_key}
        everything = list(self.records.values())
        busy = self.busy_reasons()
        root = self.root

        def work(task: Task) -> DeletionPlan:
            from hftui.core.cache.cleanup import cross_links, plan_deletion

            infos = {key: record.to_cached_repo_info() for key, record in touched.items()}
            reach = cross_links(everything, root)
            return plan_deletion(infos, marks, cache_dir=root, busy=busy, reach=reach)

        self._spawn(
            "cache-plan",
            work,
            partial(self._plan_ready, generation, confirm),
            partial(self._plan_failed, generation),
        )

    def _plan_ended(self, generation: int) -> bool:
        """A plan's work ended: start the one asked for meanwhile; True when `generation` is current."""
        self._plan_running = False
        if self._plan_again:
            self._plan_again = False
            if generation != self.plan_generation and self.marks:
                self._start_plan()
        return generation == self.plan_generation

    def _plan_ready(self, generation: int, confirm: bool, plan: DeletionPlan) -> None:
        if not self._plan_ended(generation):
            return
        self.plan, self.plan_state = plan, "ready"
        self._emit("plan_changed")
        if confirm:
            self._emit(
                "confirm", ConfirmRequest(plan, delete_title(plan.item_count, plan.expected_freed_size))
            )

    def _plan_failed(self, generation: int, exc: BaseException) -> None:
        if not self._plan_ended(generation):
            return
        self.plan, self.plan_state, self.plan_error = None, "failed", describe(exc)
        self._emit("plan_changed")
        self._notice(f"Could not compute what deleting frees: {self.plan_error}", "error", timeout=10)

    def request_delete(self) -> None:
        """`d`: a fresh plan of the marks (downloads may have started meanwhile), then a confirmation."""
        if self.read_only or not self.marks:
            return
        if self.operation is not None:
            self._notice("A deletion is still running.", "warning")
            return
        self._request_plan(confirm=True)

    def request_prune(self) -> None:
        """`p`: compute the four prune plans, then offer them."""
        if self.read_only:
            return
        if self.report is None:
            self._notice("Wait for the scan to finish.", "warning")
            return
        if self.operation is not None:
            self._notice("A deletion is still running.", "warning")
            return
        report = self.report
        with_detached = {
            key: r for key, r in self._valid_by_key().items() if any(rev.detached for rev in r.revisions)
        }
        busy = self.busy_reasons()
        requests = self._queued()
        max_age = max(0, self.kept_max_age_days) * 86400.0
        self._spawn(
            "cache-plan",
            lambda task: _prune_options(report, with_detached, busy, kept_max_age=max_age, requests=requests),
            lambda options: self._emit("prune_options", options),
            lambda exc: self._notice(
                f"Could not compute the prune plans: {describe(exc)}", "error", timeout=10
            ),
        )

    def _queued(self) -> list[Any] | None:
        if self.queued_requests is None:
            return None
        try:
            found = self.queued_requests()
        except Exception:  # the queue cannot be read: prune falls back to the age rule
            return None
        return None if found is None else list(found)

    def choose_prune(self, option: PruneOption) -> None:
        title = delete_title(option.count, option.size, what=PRUNE_NOUNS[option.key], verb="Prune")
        self._emit("confirm", ConfirmRequest(option.plan, title, option.skipped))

    # -- execution ------------------------------------------------------------------------------------

    def confirmed(self, request: ConfirmRequest) -> None:
        """The user said yes to `request`: delete, off the owner thread."""
        if self.read_only:
            return
        plan = request.plan
        busy = set(self.busy_reasons()) & set(plan.repos)
        if busy:
            self._notice(
                "Not deleted: a download started meanwhile in "
                + ", ".join(f"{t}/{i}" for t, i in sorted(busy)),
                "error",
            )
            return
        if self.operation is not None:
            self._notice("A deletion is still running.", "warning")
            return
        operation = self.operation = Operation(request.title, total=len(plan.paths()))
        self._emit("status_changed")
        names = {(r.repo_type, r.repo_id): name for name, r in self.records.items() if r.repo_type}
        touched = _touched_folders(plan, names)
        base = self.report

        def work(task: Task) -> Executed:
            last = [0.0]

            def progress(done: int, total: int) -> None:
                now = time.monotonic()
                if done == total or now - last[0] >= PROGRESS_SECONDS:
                    last[0] = now
                    task.deliver(partial(self._progress, operation, done, total))

            def cancelled() -> bool:
                return operation.cancel.is_set() or task.cancelled()

            outcome = execute_plan(plan, cancel=cancelled, progress=progress)
            if isinstance(outcome, PlanChanged):
                # Nothing deleted: show the touched repos as they are now, then the new plan.
                folders = set(touched) | set(_touched_folders(outcome.plan, names))
                return Executed(None, outcome, _rescan(plan.cache_dir, folders, base, frozenset()))
            removed = frozenset(str(o.path) for o in outcome.outcomes if o.status in ("deleted", "vanished"))
            return Executed(outcome, None, _rescan(plan.cache_dir, touched, base, removed))

        def failed(exc: BaseException) -> None:
            # A bug, not a per-item error (those are in the report): say so, show the disk as it is.
            self._finish_operation()
            self._notice(
                f"The deletion stopped: {describe(exc)}",
                "error",
                title=action_name(request.title),
                timeout=15,
            )
            self.rescan_folders(touched)

        self._spawn("cache-delete", work, partial(self._executed, request), failed)

    def cancel_operation(self) -> bool:
        """Stop the running deletion before its next item; False when none runs."""
        if self.operation is None:
            return False
        self.operation.cancel.set()
        self._emit("status_changed")
        return True

    def _progress(self, operation: Operation, done: int, total: int) -> None:
        if operation is self.operation:
            operation.done, operation.total = done, total
            self._emit("status_changed")

    def _executed(self, request: ConfirmRequest, executed: Executed) -> None:
        self._apply(executed.rescanned)
        self._finish_operation()
        changed, report = executed.changed, executed.report
        if changed is not None:
            self._notice(changed.summary(), "warning", title=action_name(request.title), timeout=10)
            if not changed.plan.is_empty or changed.plan.refused:
                self._emit(
                    "confirm",
                    ConfirmRequest(changed.plan, request.title, request.skipped, tuple(changed.changes)),
                )
            return
        assert report is not None
        self._announce(report, action_name(request.title))
        self._emit("cache_changed", tuple(sorted(set(report.repos))))

    def _finish_operation(self) -> None:
        self.operation = None
        self._emit("status_changed")
        if self.rescan_pending:
            self.rescan_pending = False
            self._deferred.clear()
            self.start_scan()
        elif self._deferred:
            names, self._deferred = self._deferred, set()
            self.rescan_folders(names)

    def _announce(self, report: ExecutionReport, title: str) -> None:
        text = summarize(report)
        if report.problems:
            lines = [f"{printable(o.path.name)}: {printable(o.message)}" for o in report.problems[:4]]
            more = f"\n… {len(report.problems) - 4} more" if len(report.problems) > 4 else ""
            self._notice(text + "\n" + "\n".join(lines) + more, "error", title=title, timeout=15)
        elif report.vanished or report.cancelled:
            self._notice(text, "warning", title=title, timeout=8)
        else:
            self._notice(text, title=title, timeout=6)

    # -- per-revision "frees" -------------------------------------------------------------------------

    def compute_frees(self, name: str) -> None:
        """What deleting each revision of folder `name` alone would free (`frees_ready`)."""
        record = self.records.get(name)
        if record is None or record.repo_type is None or record.warnings:
            return
        root = self.root
        everything = list(self.records.values())

        def work(task: Task) -> dict[str, int]:
            from hftui.core.cache.cleanup import cross_links, plan_deletion

            key = (str(record.repo_type), record.repo_id)
            infos = {key: record.to_cached_repo_info()}
            reach = cross_links(everything, root)
            return {
                rev.commit_hash: plan_deletion(
                    # A figure, not a deletion: a live writer must not turn it into 0.
                    infos,
                    [Mark.revision(*key, rev.commit_hash)],
                    cache_dir=root,
                    reach=reach,
                    check_writers=False,
                ).expected_freed_size
                for rev in record.revisions
            }

        self._spawn(
            "cache-frees",
            work,
            lambda frees: self._emit("frees_ready", name, frees),
            lambda exc: self._notice(f"Could not compute what each revision frees: {describe(exc)}", "error"),
        )


# -- work done off the owner thread ---------------------------------------------------------------


def _stream(
    cache_dir: Path,
    cancelled: Callable[[], bool],
    processes: int,
    post: Callable[[list[RepoRecord], int, int], None],
    index: ScanIndex | None = None,
) -> CacheReport | None:
    """Post records in batches (the first one at once); the report, or None when cancelled.
    `index` gets the names of the entries reused and read (`ScanIndex.reused`/`read`)."""
    from hftui.core.cache.scan import iter_scan

    stream = iter_scan(cache_dir, cancel=cancelled, processes=processes, index=index)
    if index is not None:
        index.reused, index.read = stream.reused, stream.read
    batch: list[RepoRecord] = []
    last = time.monotonic()
    wait = FIRST_BATCH_SECONDS
    for record in stream:
        batch.append(record)
        if time.monotonic() - last >= wait or stream.done == stream.first_batch:
            post(batch, stream.done, stream.total)
            # Later batches come less often: each one re-sorts and redraws the visible rows.
            batch, last = [], time.monotonic()
            wait = min(MAX_BATCH_SECONDS, max(BATCH_SECONDS, wait * 2))
    if stream.cancelled or cancelled():
        return None
    post(batch, stream.done, stream.total)
    if index is not None:
        index.store = stream.store_state
    return stream.report


def _rescan(
    root: Path, names: Iterable[str], base: CacheReport | None, removed_paths: frozenset[str]
) -> Rescanned:
    from hftui.core.cache.scan import rescan_repos

    names = sorted(set(names))
    present = [name for name in names if os.path.lexists(root / name)]
    # One set for all names: a set built per name made rescanning 5,000 touched folders quadratic.
    kept = set(present)
    gone = tuple(name for name in names if name not in kept)
    records = tuple(rescan_repos(root, present)) if present else ()
    report = base.with_repos(records, gone=gone, removed_paths=removed_paths) if base is not None else None
    return Rescanned(records, gone, removed_paths, base, report)


def _touched_folders(plan: DeletionPlan, names: Mapping[RepoKey, str]) -> list[str]:
    """The top-level folders a plan changes: its repos, and those holding its loose files."""
    touched = {names.get(key) or _folder_name(key) for key in plan.repos}
    root = plan.cache_dir
    for loose in plan.loose_files:
        if loose.path.is_relative_to(root):
            parts = loose.path.relative_to(root).parts
            if loose.kind in ("incomplete", "kept") and parts:
                touched.add(parts[0])
            elif loose.kind == "lock" and len(parts) > 1:
                touched.add(parts[1])  # .locks/<folder>/...: the folder's record lists its locks
    return sorted(touched)


def _prune_options(
    report: CacheReport,
    with_detached: Mapping[RepoKey, RepoRecord],
    busy: Mapping[RepoKey, str],
    *,
    kept_max_age: float = KEPT_MAX_AGE_DAYS * 86400.0,
    requests: list[Any] | None = None,
) -> list[PruneOption]:
    from hftui.core.cache.cleanup import cross_links, plan_detached, plan_loose_files, plan_shared_blobs

    root = Path(report.cache_dir)
    infos = {key: record.to_cached_repo_info() for key, record in with_detached.items()}
    reach = cross_links(report.repos, root)
    detached = plan_detached(infos, cache_dir=root, busy=busy, reach=reach)
    options = [PruneOption("detached", PRUNE_TITLES["detached"], detached)]
    busy_dirs = [root / _folder_name(key) for key in busy]
    in_progress = [(f.path, "a download holds its lock") for f in report.incomplete_files if f.in_progress]
    plan, skipped = plan_loose_files(
        [(Path(f.path), f.size_on_disk) for f in report.incomplete_files if not f.in_progress],
        kind="incomplete",
        cache_dir=root,
        busy_repo_dirs=busy_dirs,
    )
    options.append(
        PruneOption(
            "incomplete",
            PRUNE_TITLES["incomplete"],
            plan,
            tuple((str(p), why) for p, why in skipped) + tuple(in_progress),
        )
    )
    plan, skipped = plan_loose_files(
        [(Path(lock.path), lock.size_on_disk) for lock in report.stale_locks], kind="lock", cache_dir=root
    )
    options.append(
        PruneOption("locks", PRUNE_TITLES["locks"], plan, tuple((str(p), why) for p, why in skipped))
    )
    shared = plan_shared_blobs(
        [(Path(b.path), b.size_on_disk) for b in report.unreferenced_shared_blobs],
        cache_dir=root,
        reach=reach,
    )
    options.append(PruneOption("shared", PRUNE_TITLES["shared"], shared))
    from hftui.core.downloads.kept import abandoned, iter_kept

    offer, keep = abandoned(list(iter_kept(root)), max_age=kept_max_age, requests=requests)
    plan, skipped = plan_loose_files(
        [(e.part_path if e.part_exists else e.meta_path, e.part_bytes) for e, _ in offer],
        kind="kept",
        cache_dir=root,
        busy_repo_dirs=busy_dirs,
    )
    options.append(
        PruneOption(
            "kept",
            PRUNE_TITLES["kept"],
            plan,
            tuple((str(p), why) for p, why in skipped) + tuple((str(e.part_path), why) for e, why in keep),
        )
    )
    return options
