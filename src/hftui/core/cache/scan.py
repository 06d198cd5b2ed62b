"""Fast, streaming scanner for the Hugging Face Hub cache: the whole-cache driver.

It reports every fact `huggingface_hub.scan_cache_dir` reports, following the same rules (read
`huggingface_hub/utils/_cache_manager.py`), in light records built from plain `os` calls on str
paths, spreading repos over worker processes on large caches. On top of that it reports revision
completeness (from `trees/<commit>.json`), orphaned `.incomplete` files, stale lock files and
unreferenced entries of the shared blob store.

The work is split by concern:

* `records` - the records (`RepoRecord`, `RevisionRecord`, ...) and the `CacheReport`, which turn
  into the library's own types on demand, so deletion plans come from the library's own code;
* `repo_walk` - scanning one repo folder (refs, snapshots, completeness, temp files);
* `locks` - lock files and whether a download holds them;
* `shared_store` - the library's cache-wide shared blob store;
* `layout` - the library's names and patterns for the cache layout;
* this module - the pool of processes, `ScanStream`, `iter_scan`, `scan_cache`, `rescan_repo`.

Rules that differ from the library on purpose (the library raises or hides these): a problem in
one repo never aborts the scan (the repo gets a `ScanWarning` and `corrupt == True`); symlinks are
resolved once. `repo_walk` says more. The record names are re-exported here, so
`from hftui.core.cache.scan import RepoRecord` keeps working.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Generator, Iterable, Iterator
from typing import TYPE_CHECKING

from hftui.core.cache.layout import (
    FILES_TO_IGNORE,
    LOCKS_DIR_NAME,
    REPO_TYPES_MAPPING,
    SHARED_BLOBS_DIR_NAME,
    SHARED_BLOBS_MARKER_CONTENT,
    SHARED_BLOBS_MARKER_NAME,
)
from hftui.core.cache.locks import scan_locks
from hftui.core.cache.records import (
    CacheReport,
    Completeness,
    IncompleteFile,
    LockFile,
    RepoRecord,
    RevisionRecord,
    ScanProgress,
    ScanWarning,
    SharedBlob,
    build_report,
)
from hftui.core.cache.repo_walk import (
    RACY_SECONDS,
    PackedStamps,
    ScanContext,
    scan_repo,
    stamp_folders,
    stamps_unchanged,
)
from hftui.core.cache.shared_store import is_marked_store, list_store

if TYPE_CHECKING:
    from hftui.core.cache.reuse import ScanIndex, StoreState

__all__ = [
    "FILES_TO_IGNORE",
    "LOCKS_DIR_NAME",
    "REPO_TYPES_MAPPING",
    "SHARED_BLOBS_DIR_NAME",
    "SHARED_BLOBS_MARKER_CONTENT",
    "SHARED_BLOBS_MARKER_NAME",
    "CacheReport",
    "Cancel",
    "Completeness",
    "IncompleteFile",
    "LockFile",
    "RepoRecord",
    "RevisionRecord",
    "ScanProgress",
    "ScanStream",
    "ScanWarning",
    "SharedBlob",
    "iter_scan",
    "rescan_repo",
    "rescan_repos",
    "scan_cache",
    "store_inodes",
]


# Below this many entries, starting worker processes costs more than it saves.
_MIN_ENTRIES_FOR_PROCESSES = 400
# With worker processes, the first entries are scanned in this process while none is up yet.
_FIRST_BATCH = 16

Cancel = threading.Event | Callable[[], bool] | None


def _is_cancelled(cancel: Cancel) -> bool:
    if cancel is None:
        return False
    if isinstance(cancel, threading.Event):
        return cancel.is_set()
    return bool(cancel())


def _root_of(cache_dir: str | os.PathLike[str]) -> str:
    # scan_cache_dir resolves the cache dir, so every path it reports starts with the real path.
    return os.path.realpath(os.path.expanduser(os.fspath(cache_dir)))


def _top_level_names(root: str) -> list[str]:
    names = []
    store_dir = os.path.join(root, SHARED_BLOBS_DIR_NAME)
    for name in os.listdir(root):
        if name in FILES_TO_IGNORE or name in (LOCKS_DIR_NAME, "CACHEDIR.TAG"):
            continue
        if name == SHARED_BLOBS_DIR_NAME and is_marked_store(store_dir):
            continue
        names.append(name)
    return names


def find_aliases(root: str, names: list[str]) -> dict[str, str]:
    """Top-level entries that are symlinks to the same folder as another entry: alias -> the name
    it is shown under. That is the entry that is a real folder, else the first name in sort
    order. Everything is resolved once, here, so the same folder is never planned twice."""
    wanted = set(names)
    links: list[str] = []
    try:
        with os.scandir(root) as it:
            links = sorted(e.name for e in it if e.name in wanted and e.is_symlink())
    except OSError:
        return {}
    if not links:
        return {}
    shown: dict[str, str] = {}  # real path -> name shown
    for name in links:
        real = os.path.realpath(os.path.join(root, name))
        if os.path.dirname(real) == root and os.path.basename(real) in wanted:
            shown.setdefault(real, os.path.basename(real))
    aliases: dict[str, str] = {}
    for name in links:
        real = os.path.realpath(os.path.join(root, name))
        first = shown.setdefault(real, name)
        if first != name:
            aliases[name] = first
    return aliases


def _stamp_store(store_dir: str, racy_seconds: float) -> PackedStamps | None:
    """Stamps of the store folder and its `<xx>/` folders, taken before they are listed."""
    import time

    from hftui.core.cache.layout import HEX2

    started = time.time_ns()
    try:
        with os.scandir(store_dir) as it:
            shards = sorted(e.path for e in it if HEX2.fullmatch(e.name) and e.is_dir(follow_symlinks=False))
    except OSError:
        return None
    return stamp_folders([store_dir, *shards], int(racy_seconds * 1e9), started)


# Set in each worker process by _init_worker.
_WORKER_CONTEXT: ScanContext | None = None


def _init_worker(ctx: ScanContext) -> None:
    global _WORKER_CONTEXT
    _WORKER_CONTEXT = ctx


def _scan_indexed_chunk(chunk: tuple[int, list[str]]) -> tuple[int, list[RepoRecord]]:
    assert _WORKER_CONTEXT is not None
    start, names = chunk
    return start, [scan_repo(_WORKER_CONTEXT, name) for name in names]


class ScanStream:
    """Iterator of `RepoRecord`s, one per top-level cache entry, each yielded as soon as it is
    scanned (in no particular order). `progress` says how far it got; `report` is the whole
    `CacheReport` once the iteration ended without being cancelled.

    With an `index` (`hftui.core.cache.reuse`), entries whose folders are unchanged since it
    recorded them come first, unread (`reused` names them; `read` names the others). The stream
    does not change the index: `scan_cache` or the caller updates it from the report."""

    def __init__(
        self,
        cache_dir: str | os.PathLike[str],
        *,
        cancel: Cancel = None,
        processes: int = 0,
        index: ScanIndex | None = None,
    ) -> None:
        self.cache_dir = _root_of(cache_dir)
        self.exists = os.path.isdir(self.cache_dir)
        self._cancel = cancel
        self.cancelled = False
        self.report: CacheReport | None = None
        self._records: list[RepoRecord] = []
        self._names = _top_level_names(self.cache_dir) if self.exists else []
        locks_root = os.path.join(self.cache_dir, LOCKS_DIR_NAME)
        try:
            self._lock_names = frozenset(os.listdir(locks_root)) if self.exists else frozenset()
        except OSError:
            self._lock_names = frozenset()
        store_dir = os.path.join(self.cache_dir, SHARED_BLOBS_DIR_NAME)
        self.store_state: StoreState | None = None
        """The store's listing (`reuse.StoreState`) for the next scan to reuse, when it can."""
        self._store_problems: list[tuple[str, str]] | None = None
        self._store_stamps: PackedStamps | None = None
        if self.exists and is_marked_store(store_dir):
            known = index.store if index is not None else None
            if known is not None and stamps_unchanged(known[0], store_dir):
                # Payloads are added and removed, never rewritten: the same folders, the same store.
                self.store_state = known
                _, self._store, inodes, self._store_problems = known
            else:
                racy = index.racy_seconds if index is not None else RACY_SECONDS
                self._store_stamps = _stamp_store(store_dir, racy) if index is not None else None
                self._store, inodes = list_store(store_dir)
        else:
            self._store, inodes = [], {}
        aliases = find_aliases(self.cache_dir, self._names) if self.exists else {}
        racy = index.racy_seconds if index is not None else RACY_SECONDS
        self._ctx = ScanContext(self.cache_dir, inodes, self._lock_names, aliases, racy)
        self._reused, self._to_read = self._check_index(index)
        self.reused = [record.name for record in self._reused]
        """Entries shown as the index had them, unread (their folders did not change)."""
        self.read = self._to_read
        """Entries read from disk."""
        self.total = len(self._names)
        self.done = 0
        self.processes = _choose_processes(processes, len(self._to_read))
        self.first_batch = (
            len(self._reused) + min(len(self._to_read), _FIRST_BATCH) if self.processes > 1 else 0
        )
        """With worker processes, this many records come from this process first, at once: a
        consumer that batches should pass them on when `done == first_batch`."""
        self._iterator = self._run()

    @property
    def progress(self) -> ScanProgress:
        return ScanProgress(self.done, self.total)

    def _check_index(self, index: ScanIndex | None) -> tuple[list[RepoRecord], list[str]]:
        if index is None or not index.records or self.cancelled:
            return [], list(self._names)
        from hftui.core.cache.reuse import held_flocks, reusable

        # /proc/locks is read once, and only if a repo has lock files (its first read costs
        # milliseconds, a good part of a rescan of a small cache); without any, nothing is held.
        held: set[tuple[int, int]] | None = set()
        held_read = False
        known = index.records
        locks_root = os.path.join(self.cache_dir, LOCKS_DIR_NAME) + "/"
        lock_names = self._lock_names
        reused: list[RepoRecord] = []
        to_read: list[str] = []
        for name in self._names:
            old = known.get(name)
            record = None
            if old is not None and name not in self._ctx.aliases:
                locks_dir = locks_root + name if name in lock_names else None
                if not held_read and (locks_dir is not None or old.lock_files):
                    held, held_read = held_flocks(), True
                record = reusable(old, locks_dir, held)
            if record is None:
                to_read.append(name)
            else:
                reused.append(record)
        return reused, to_read

    def __iter__(self) -> ScanStream:
        return self

    def __next__(self) -> RepoRecord:
        return next(self._iterator)

    def close(self) -> None:
        self._iterator.close()

    def _run(self) -> Generator[RepoRecord, None, None]:
        for record in self._reused:
            if _is_cancelled(self._cancel):
                self.cancelled = True
                return
            self.done += 1
            self._records.append(record)
            yield record
        source = self._in_process() if self.processes <= 1 else self._in_pool()
        for record in source:
            self.done += 1
            self._records.append(record)
            yield record
        if self.cancelled:
            return
        orphans: list[LockFile] = []
        for name in sorted(self._lock_names - set(self._names)):
            orphans.extend(scan_locks(os.path.join(self.cache_dir, LOCKS_DIR_NAME, name), name))
        self.report = build_report(
            self.cache_dir, self.exists, self._records, orphans, self._store, self._store_problems
        )
        if self._store_stamps is not None:
            problems = [(note.path, note.message) for note in self.report.store_notes]
            inodes = self._ctx.store_inodes
            self.store_state = (self._store_stamps, self._store, inodes, problems)

    def _in_process(self) -> Iterator[RepoRecord]:
        for name in self._to_read:
            if _is_cancelled(self._cancel):
                self.cancelled = True
                return
            yield scan_repo(self._ctx, name)

    def _in_pool(self) -> Iterator[RepoRecord]:
        import multiprocessing

        # fork is cheapest, but forking a process that runs other threads (the TUI) can deadlock.
        method = "fork" if threading.active_count() == 1 else "forkserver"
        if method not in multiprocessing.get_all_start_methods():
            method = "spawn"
        context = multiprocessing.get_context(method)
        if method == "forkserver":
            context.set_forkserver_preload([__name__])
        # The first repos are scanned here, so a UI shows rows before the workers are up
        # (starting a fork server costs a few hundred ms).
        names = self._to_read
        first = min(len(names), _FIRST_BATCH)
        for name in names[:first]:
            if _is_cancelled(self._cancel):
                self.cancelled = True
                return
            yield scan_repo(self._ctx, name)
        chunk = max(4, min(64, len(names) // (self.processes * 8) or 1))
        pending = {i: names[i : i + chunk] for i in range(first, len(names), chunk)}
        try:
            if method != "fork":
                _start_resource_tracker()
            pool = context.Pool(self.processes, initializer=_init_worker, initargs=(self._ctx,))
            if method != "fork":
                _pool_started()
        except (OSError, EOFError, RuntimeError, ValueError):
            # e.g. no /dev/shm, a __main__ the fork server cannot import, or a stderr whose file
            # number cannot be passed on ("bad value(s) in fds_to_keep"): scan here instead.
            pool = None
        if pool is not None:
            results = None
            try:
                results = pool.imap_unordered(_scan_indexed_chunk, list(pending.items()))
                while pending:
                    if _is_cancelled(self._cancel):
                        self.cancelled = True
                        return
                    try:
                        start, records = results.next(timeout=0.05)
                    except multiprocessing.TimeoutError:
                        continue
                    del pending[start]
                    yield from records
            except (OSError, EOFError, RuntimeError, StopIteration):
                pass  # a worker died: scan what is left here
            finally:
                pool.terminate()
                pool.join()
                del pool, results
                if method != "fork":
                    _release_helpers()
        for names in list(pending.values()):
            for name in names:
                if _is_cancelled(self._cancel):
                    self.cancelled = True
                    return
                yield scan_repo(self._ctx, name)


_POOLS_LOCK = threading.Lock()
_POOLS_RUNNING = 0


def _pool_started() -> None:
    global _POOLS_RUNNING
    with _POOLS_LOCK:
        _POOLS_RUNNING += 1


def _release_helpers() -> None:
    """The pool is gone: stop the fork server and resource tracker unless another scan's pool still
    uses them, so no helper process outlives the scan (a TUI runs for hours)."""
    global _POOLS_RUNNING
    import gc

    from hftui.core.compat import stop_multiprocessing_helpers

    with _POOLS_LOCK:
        _POOLS_RUNNING -= 1
        if _POOLS_RUNNING:
            return
        gc.collect()  # the pool's semaphores unregister from the tracker before it stops
        stop_multiprocessing_helpers()


class _NoFileno:
    """A stand-in `sys.stderr` that has no file number (and drops what is written to it)."""

    def fileno(self) -> int:
        raise OSError("no file number")

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass


_TRACKER_LOCK = threading.Lock()


def _start_resource_tracker() -> None:
    """Start multiprocessing's resource tracker (forkserver and spawn pools need it) even when
    `sys.stderr` is a capture object whose `fileno()` is -1, as inside a Textual app.

    The tracker passes `sys.stderr.fileno()` to its child process, and -1 makes the spawn fail
    with "bad value(s) in fds_to_keep", so the pool never started in the TUI. The child inherits
    the real fd 2 anyway, so for the instant it starts `sys.stderr` is an object without a file
    number, which the tracker skips.
    """
    from multiprocessing import resource_tracker

    stderr = sys.stderr
    try:
        if stderr is None or stderr.fileno() >= 0:
            return  # the tracker starts as usual
    except Exception:
        return  # no file number: the tracker skips it
    substitute = _NoFileno()
    with _TRACKER_LOCK:
        sys.stderr = substitute
        try:
            resource_tracker.ensure_running()
        finally:
            if sys.stderr is substitute:
                sys.stderr = stderr


def _choose_processes(processes: int, total: int) -> int:
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if processes > 0:
        return min(processes, cpus, max(total, 1))  # more processes than CPUs or repos cannot help
    if total < _MIN_ENTRIES_FOR_PROCESSES or cpus < 2:
        return 1
    return min(cpus, 8)


def iter_scan(
    cache_dir: str | os.PathLike[str],
    *,
    cancel: Cancel = None,
    processes: int = 0,
    index: ScanIndex | None = None,
) -> ScanStream:
    """Scan `cache_dir`, yielding one `RepoRecord` per top-level entry as soon as it is scanned.

    `cancel` (a `threading.Event` or a callable) is checked between repos; once it is set the
    iteration stops and `stream.cancelled` is True. `processes=0` picks a number of worker
    processes from the CPU count and the cache size (1 = in this process). A missing cache dir
    yields nothing (`stream.exists` is False); one that exists but cannot be listed raises
    `OSError` here, before any iteration. `index`: reuse the entries it holds that did not change
    (see `ScanStream`).
    """
    return ScanStream(cache_dir, cancel=cancel, processes=processes, index=index)


def scan_cache(
    cache_dir: str | os.PathLike[str], *, processes: int = 0, index: ScanIndex | None = None
) -> CacheReport:
    """Scan the whole cache and return the report. With an `index`, entries it holds whose folders
    did not change are reused unread, and the index is then updated to this scan (its `reused` and
    `read` name which entries were which)."""
    stream = ScanStream(cache_dir, processes=processes, index=index)
    for _ in stream:
        pass
    assert stream.report is not None
    if index is not None:
        index.remember(stream.report.repos, replace=True)
        index.keep_store(stream.store_state)
        index.reused, index.read = stream.reused, stream.read
    return stream.report


def store_inodes(cache_dir: str | os.PathLike[str]) -> dict[tuple[int, int], str]:
    """The shared blob store's payloads by (device, inode), as a rescan needs them: list it once
    and pass it to several `rescan_repo(s)` calls of one operation."""
    store_dir = os.path.join(_root_of(cache_dir), SHARED_BLOBS_DIR_NAME)
    return list_store(store_dir)[1] if is_marked_store(store_dir) else {}


def rescan_repo(
    cache_dir: str | os.PathLike[str], repo: str, *, inodes: dict[tuple[int, int], str] | None = None
) -> RepoRecord:
    """Scan one top-level entry again (`repo` is its folder name, e.g. `models--org--name`, or
    its path), e.g. to refresh a row after a deletion. Use `CacheReport.with_repo` to fold it
    into a report. A folder that is gone comes back as a corrupt record
    ("Repo path is not a directory")."""
    return rescan_repos(cache_dir, [repo], inodes=inodes)[0]


def rescan_repos(
    cache_dir: str | os.PathLike[str],
    repos: Iterable[str],
    *,
    cancel: Cancel = None,
    inodes: dict[tuple[int, int], str] | None = None,
    racy_seconds: float = RACY_SECONDS,
) -> list[RepoRecord]:
    """`rescan_repo` for many entries, listing the shared blob store once for all of them (a bulk
    deletion rescans thousands of repos). Stops early, with what it has, once `cancel` is set.
    Every entry is read (these are the ones that changed)."""
    root = _root_of(cache_dir)
    if inodes is None:
        inodes = store_inodes(cache_dir)
    names = [os.path.basename(os.path.normpath(os.fspath(repo))) for repo in repos]
    locks_root = os.path.join(root, LOCKS_DIR_NAME)
    lock_names = frozenset(name for name in names if os.path.isdir(os.path.join(locks_root, name)))
    # Aliases matter only for a folder that is itself a symlink: list the cache once if any is.
    linked = any(os.path.islink(os.path.join(root, name)) for name in names)
    aliases = find_aliases(root, _top_level_names(root)) if linked else {}
    ctx = ScanContext(root, inodes, lock_names, aliases, racy_seconds)
    records: list[RepoRecord] = []
    for name in names:
        if records and _is_cancelled(cancel):
            break
        records.append(scan_repo(ctx, name))
    return records
