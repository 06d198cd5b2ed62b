"""Pre-fetch with kept bytes: large files of a job are fetched into the kept-bytes store with
resume, verified, and placed as `blobs/<etag>` before the library's `snapshot_download` runs.

Why. huggingface_hub 2.4 deletes what arrived when a download is stopped and hf_xet 1.8 keeps
no chunk cache (see `hftui.core.downloads.kept`). So `run_job` calls `prefetch` between its dry
run and its real `snapshot_download`: for every planned file of at least `MIN_KEEP_BYTES` whose
blob is missing, this

1. takes the library's per-blob lock without waiting (`.locks/<repo folder>/<etag>.lock`,
   the lock `hf_hub_download` takes); a blob another process is downloading is left to the
   library, whose own call then waits for that lock and finds the blob;
2. adopts the bytes kept by an earlier attempt (`<etag>.part`), after checking them against
   their state file (same etag and size, not larger than the file, readable) and hashing them;
3. fetches the rest: a Xet file (when the library would use Xet: hf_xet installed, not
   `HF_HUB_DISABLE_XET`) with hf_xet's public ranged stream
   (`XetSession().new_download_stream_group(...).download_unordered_stream(info, start, end)`,
   token from the repo's `xet-read-token` route as the library gets it), in windows of about a
   second each, two at a time (`_Prefetch._xet_windows`); any other file over plain HTTP with
   a `Range: bytes=<kept>-` GET of its resolve URL pinned to the commit, through the library's own
   HTTP client (`huggingface_hub.get_session()`, headers from `build_hf_headers`, URL from
   `hf_hub_url`), so hftui's job-aware transport cancels it, times out stalls and counts its
   bytes like the library's own downloads;
4. when some of its bytes were kept by an earlier attempt, checks the whole file against the
   Hub's SHA-256 (the tree's `lfs.oid`, which is the `X-Linked-Etag` the library names the blob
   by; git blob SHA-1 for a small non-LFS file); a mismatch throws the kept bytes away and
   fetches the file once more from byte 0, with a note; a fresh copy that still does not match
   fails the job, and nothing enters the cache. A file fetched in one go is trusted as the
   library trusts its own downloads (see `_Digest`);
5. renames the verified file to `blobs/<etag>` (same filesystem: the store is inside the repo
   folder) while still holding the lock.

`snapshot_download` then finds each blob and only links it into the snapshot: it stays the call
that decides the job's files, the layout and the links.

Stopping (pause, cancel, quit, lost SSH, `kill -9`) keeps the `.part` as it is. Over HTTP bytes
are appended in order, so the file is always a prefix of the blob; the state file is refreshed
every `META_INTERVAL` seconds, but the `.part` size is what a resume trusts. Over Xet windows
finish in any order: the state file records the prefix and every window written in full past
it, at once, and is what a resume trusts. Anything else is caught by the SHA-256 check.

Requests. The dry run does not say a file's etag or hash, so `describe` asks for them with one
`paths-info` POST per attempt (only when some file is large enough to keep).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from hftui.core.downloads.arrivals import ArrivalMeter
from hftui.core.downloads.kept import KeptMeta, KeptStore, iter_repo_kept
from hftui.core.downloads.transport import JOB_HEADER, JobCancelled

MIN_KEEP_BYTES = 1024 * 1024
"""Files smaller than this are left to the library: re-fetching them costs less than a state file."""
XET_KEEP_MIN_BYTES = 64 * 1024 * 1024
"""Xet files below one xorb (64 MiB) are left to the library (see `candidates`); the
environment variable HFTUI_XET_KEEP_MIN_BYTES changes it (tests against small xorbs)."""


def xet_keep_min_bytes() -> int:
    value = os.environ.get("HFTUI_XET_KEEP_MIN_BYTES", "")
    return int(value) if value.isdigit() else XET_KEEP_MIN_BYTES


META_INTERVAL = 2.0
"""Seconds between refreshes of a kept file's state (bytes kept, time)."""
REPORT_BATCH = 512 * 1024
"""Bytes written before they are reported to the job's progress."""
READ_BLOCK = 1024 * 1024
XET_QUEUE_CHUNKS = 16
"""Pieces read ahead from hf_xet's streams (bounded: a stopped job leaves little behind)."""
XET_WINDOWS_IN_FLIGHT = 2
"""Windows of one Xet file fetched at once: one transfers while the next is being set up (a
reconstruction request), and a stop loses at most these."""
XET_WINDOW_SECONDS = 1.0
"""How long a window should take at the rate the previous one had: with 2 in flight, a window
completes (and the job's progress moves) about twice a second."""
XET_WINDOW_MIN_BYTES = 2 * 1024 * 1024
"""Smallest window: each window costs a reconstruction request and fetches the chunk it is cut in
(~64 KiB) again, so below this the extra bytes would cost more than the progress is worth."""
XET_ESTIMATE_INTERVAL = 0.25
"""Seconds between readings of the job's socket counters while Xet windows are in flight (the
job reports at most every 0.1 s; 4 readings a second keep its speed smooth)."""
XET_WINDOW_MAX_BYTES = 30 * 1024 * 1024
"""Largest window: the windows in flight, plus the chunk each is cut in, stay within one 64 MiB
xorb, the most a stop may lose (issue 11: 10 % of what was kept, or one xorb)."""


def xet_window_bounds() -> tuple[int, int]:
    """(smallest, largest) window; the environment variable HFTUI_XET_WINDOW_BYTES="MIN,MAX"
    changes them (tests against the local Hub's small test xorbs)."""
    low, _, high = os.environ.get("HFTUI_XET_WINDOW_BYTES", "").partition(",")
    if low.isdigit() and high.isdigit() and 0 < int(low) <= int(high):
        return int(low), int(high)
    return XET_WINDOW_MIN_BYTES, XET_WINDOW_MAX_BYTES


class WindowSizer:
    """Sizes of the windows a Xet file is fetched in: each about `seconds` long at the rate the
    last finished one had, within [low, high], at most 4 times the last one (a window cut on a
    burst would be too long when the burst ends).

    The first window is half the smallest, the second the smallest: windows in flight together
    then finish at different times, and the job's progress moves between them rather than in
    pairs."""

    def __init__(self, low: int, high: int, seconds: float = XET_WINDOW_SECONDS) -> None:
        self.low, self.high, self.seconds = low, high, seconds
        self.size = low
        self._first = True

    def finished(self, nbytes: int, elapsed: float) -> None:
        """A window of `nbytes` took `elapsed` seconds, from its request to its last byte."""
        if nbytes <= 0:
            return
        wanted = nbytes / max(elapsed, 1e-3) * self.seconds
        self.size = int(max(self.low, min(self.high, wanted, 4 * nbytes)))

    def cut(self, start: int, end: int) -> int:
        """Where the next window from `start` ends, `end` being the end of its gap: a rest smaller
        than half the smallest window joins the window rather than becoming one of its own."""
        size = self.size
        if self._first:
            size, self._first = max(1, self.low // 2), False
        if end - start - size < self.low // 2:
            return end
        return start + size


class PrefetchFailure(Exception):
    """A file that cannot be completed (message for the user); `transient` ones are retried."""

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.transient = transient


class _LeaveToLibrary(Exception):
    """The kept-bytes store cannot be used for this file: the library downloads it (note says why)."""


@dataclass(frozen=True)
class RemoteFile:
    """What the Hub says about one file at one commit."""

    path: str
    size: int
    etag: str
    """The blob's name in the cache (what the library's HEAD would call its etag)."""
    sha256: str | None = None
    git_sha1: str | None = None
    xet_hash: str | None = None


@dataclass
class PrefetchOutcome:
    reused: int = 0
    """Kept bytes from earlier attempts that this attempt built on."""
    fetched: int = 0
    """Bytes that came over the network in this attempt."""
    placed: list[str] = field(default_factory=list)
    """Files verified and placed in `blobs/`."""
    discarded: int = 0
    """Kept bytes thrown away (file changed on the Hub, failed verification, unusable)."""
    busy: list[str] = field(default_factory=list)
    """Files whose blob another process is downloading (left to the library, which waits)."""
    left: list[str] = field(default_factory=list)
    """Files the store could not hold (left to the library, which keeps nothing when stopped)."""
    notes: list[str] = field(default_factory=list)

    @property
    def progressed(self) -> bool:
        return self.fetched > 0 or bool(self.placed)


def remote_file(entry: Any) -> RemoteFile:
    """A `RemoteFile` from a `huggingface_hub.hf_api.RepoFile` (tree or paths-info entry)."""
    lfs = getattr(entry, "lfs", None)
    sha256 = lfs.sha256 if lfs is not None else None
    return RemoteFile(
        path=entry.path,
        size=int(lfs.size if lfs is not None else entry.size),
        etag=sha256 or entry.blob_id,
        sha256=sha256,
        git_sha1=None if sha256 else entry.blob_id,
        xet_hash=getattr(entry, "xet_hash", None),
    )


def remote_files(plan: Iterable[Any]) -> dict[str, RemoteFile] | None:
    """`RemoteFile`s from planned files that carry their tree entry's hashes (`PlannedFile` of
    `hftui.core.downloads.plan`); None when one does not (then `describe` asks the Hub)."""
    out: dict[str, RemoteFile] = {}
    for info in plan:
        blob_id = getattr(info, "blob_id", None)
        sha256 = getattr(info, "lfs_sha256", None)
        if blob_id is None and sha256 is None:
            return None
        out[info.filename] = RemoteFile(
            path=info.filename,
            size=int(info.file_size or 0),
            etag=str(sha256 or blob_id),
            sha256=sha256,
            git_sha1=None if sha256 else blob_id,
            xet_hash=getattr(info, "xet_hash", None),
        )
    return out


def candidates(plan: Iterable[Any], min_size: int = MIN_KEEP_BYTES) -> list[Any]:
    """The planned files worth keeping bytes for.

    A file that travels over Xet is kept only from `xet_keep_min_bytes()` (one xorb) on: a resume
    may fetch one xorb again anyway, and the library's own Xet download reports progress while a
    xorb is in flight, which hf_xet's stream cannot (its progress() is locked while a read waits).
    """
    xet = None
    out = []
    for info in plan:
        size = int(info.file_size or 0)
        if not info.will_download or size < min_size:
            continue
        if getattr(info, "xet_hash", None) and size < xet_keep_min_bytes():
            xet = xet_enabled() if xet is None else xet
            if xet:
                continue
        out.append(info)
    return out


def describe(
    repo_id: str,
    repo_type: str,
    commit: str,
    paths: list[str],
    *,
    endpoint: str | None,
    token: str | bool | None,
    headers: dict[str, str],
) -> dict[str, RemoteFile]:
    """Sizes, etags and hashes of `paths` at `commit`, in one request."""
    from huggingface_hub import HfApi
    from huggingface_hub.hf_api import RepoFile

    api = HfApi(endpoint=endpoint, token=token, headers=headers)
    entries = api.get_paths_info(repo_id, paths, revision=commit, repo_type=repo_type)
    return {entry.path: remote_file(entry) for entry in entries if isinstance(entry, RepoFile)}


# -- verification ---------------------------------------------------------------------------


class _Digest:
    """The hash a file is checked against: SHA-256, or git's blob SHA-1 for a small file.

    Only a file completed from kept bytes is checked (`active`): bytes fetched in one attempt
    are trusted as the library trusts its own downloads, which it does not hash either, and
    hashing them cost about 15 % of a Xet download's CPU on a busy machine (0.33 CPU-s per
    512 MiB, plus reading back the windows that finished ahead of the prefix)."""

    def __init__(self, file: RemoteFile) -> None:
        self.file = file
        self.active = True
        self.reset()

    def reset(self) -> None:
        if self.file.sha256 is not None:
            self._hash = hashlib.sha256()
        else:
            self._hash = hashlib.sha1(usedforsecurity=False)
            self._hash.update(f"blob {self.file.size}\0".encode())

    def update(self, data: bytes | memoryview) -> None:
        if self.active:
            self._hash.update(data)

    @property
    def expected(self) -> str | None:
        return self.file.sha256 or self.file.git_sha1

    @property
    def name(self) -> str:
        return "SHA-256" if self.file.sha256 is not None else "git SHA-1"

    def matches(self) -> bool:
        return not self.active or self._hash.hexdigest() == self.expected


def _write_all(fd: int, data: bytes | memoryview, offset: int) -> int:
    """Write all of `data` at `offset` (a short write on a nearly full disk is continued)."""
    view = memoryview(data)
    written = 0
    while written < len(view):
        written += os.pwrite(fd, view[written:], offset + written)
    return written


# -- Xet ------------------------------------------------------------------------------------

_session: Any = None
_session_pid: int | None = None
_session_lock = threading.Lock()


def xet_session() -> Any:
    """This process's `hf_xet.XetSession` (a runtime and connection pool; public API, made anew
    after a fork)."""
    global _session, _session_pid
    with _session_lock:
        if _session is None or _session_pid != os.getpid():
            from hf_xet import XetSession

            _session, _session_pid = XetSession(), os.getpid()
        return _session


def xet_enabled() -> bool:
    """Whether the library downloads Xet files over Xet here (hf_xet installed, not disabled)."""
    from huggingface_hub import constants

    if constants.HF_HUB_DISABLE_XET:
        return False
    try:
        import hf_xet  # noqa: F401
    except ImportError:
        return False
    return True


def _xet_stream_error(
    exc: BaseException, file: RemoteFile, stall_timeout: float, idle: float
) -> BaseException:
    """An error from a hf_xet stream, in words, with whether a retry can help.

    The stream raises what the file download raises as `RuntimeError` as `OSError` or
    `RuntimeError` with other texts ("I/O error: error decoding response body" after a reset,
    "Internal Writer Error: Data sender was dropped" when a read is cut): all are read by the
    same Xet classifier (`hftui.core.downloads.xet_errors`), whose default for an unknown text
    is a transient failure.
    """
    from hftui.core.downloads import xet_errors

    if not isinstance(exc, Exception):
        return exc
    message, transient = xet_errors.classify_xet(
        exc,
        stalled_for=idle,  # hf_xet's read timeout is the stall timeout in a job process
        stall_timeout=stall_timeout,
        files_by_hash={file.xet_hash: file.path} if file.xet_hash else {},
    )
    failure = PrefetchFailure(message, transient=transient)
    failure.__cause__ = exc
    return failure


# -- the pre-fetch --------------------------------------------------------------------------


class _Prefetch:
    def __init__(
        self,
        *,
        store: KeptStore,
        commit: str,
        endpoint: str | None,
        token: str | bool | None,
        headers: dict[str, str],
        stall_timeout: float,
        on_written: Callable[[int], None],
        note: Callable[[str], None],
        is_cancelled: Callable[[], bool],
        on_received: Callable[[int], None] = lambda n: None,
        on_estimate: Callable[[int], None] | None = None,
        xet_enabled: bool = False,
    ) -> None:
        self.store = store
        self.on_received = on_received
        self.on_estimate = on_estimate
        self._xet_lock = threading.Lock()
        self._meter = ArrivalMeter() if xet_enabled and on_estimate is not None else None
        """Bytes this process's sockets received since the pre-fetch began (`arrivals`)."""
        self._arrived = 0
        """The meter's last reading."""
        self._arrived_at = -1e9
        self._xet_lacking = 0
        """Bytes the Xet windows in flight (all files) still lack."""
        self._xet_confirmed = 0
        """Xet bytes handed over by hf_xet since the pre-fetch began."""
        self.xet_enabled = xet_enabled
        self._group: Any = None
        self.commit = commit
        self.endpoint = endpoint
        self.token = token
        self.headers = headers
        self.stall_timeout = stall_timeout
        self.on_written = on_written
        self._note = note
        self.is_cancelled = is_cancelled
        self.outcome = PrefetchOutcome()
        self._lock = threading.Lock()
        self._adopted_ranges: dict[str, list[list[int]]] = {}
        """etag -> ranges past the prefix kept by an earlier Xet attempt (`KeptMeta.ranges`)."""

    # shared bookkeeping (many file threads)

    def note(self, text: str) -> None:
        with self._lock:
            self.outcome.notes.append(text)
        self._note(text)

    def count(self, *, reused: int = 0, fetched: int = 0, discarded: int = 0) -> None:
        with self._lock:
            self.outcome.reused += reused
            self.outcome.fetched += fetched
            self.outcome.discarded += discarded

    def check_cancel(self) -> None:
        if self.is_cancelled():
            raise JobCancelled("cancelled")

    def xet_progress(self, *, lacking: int = 0, confirmed: int = 0) -> None:
        """Tell the job how far the Xet windows in flight have come before they complete.

        `lacking` changes what the windows in flight still lack (a window opened: +its size;
        abandoned: -what it lacked), `confirmed` counts bytes hf_xet handed over (which the
        caller then reports with `on_received`). The estimate is what this process's sockets
        received beyond the confirmed bytes (`arrivals.ArrivalMeter`: kernel counts, so HTTP
        headers and reconstruction answers are in it), at most what the windows lack: what the
        job shows as received (confirmed + estimate) never exceeds what reached its sockets.
        Read at most every `XET_ESTIMATE_INTERVAL`; between readings the last one is used,
        which can only under-estimate.
        """
        with self._xet_lock:
            self._xet_lacking = max(0, self._xet_lacking + lacking)
            self._xet_confirmed += confirmed
            now = time.monotonic()
            if self._meter is not None and now - self._arrived_at >= XET_ESTIMATE_INTERVAL:
                self._arrived_at = now
                self._arrived = self._meter.total() or 0
            estimate = min(self._xet_lacking, max(0, self._arrived - self._xet_confirmed))
        if self.on_estimate is not None:
            self.on_estimate(estimate)

    # one file

    def run_file(self, file: RemoteFile) -> None:
        from filelock import FileLock, Timeout

        store = self.store
        if store.blob_path(file.etag).exists():
            return
        lock_path = store.lock_path(file.etag)
        try:
            lock_path.parent.mkdir(parents=True, exist_ok=True)
            lock = FileLock(str(lock_path), mode=0o664)
            lock.acquire(timeout=0)
        except Timeout:
            with self._lock:
                self.outcome.busy.append(file.path)
            self._note(f"{file.path}: another process is downloading it; waiting for it")
            return
        except OSError as exc:
            with self._lock:
                self.outcome.left.append(file.path)
            self.note(f"{file.path}: cannot take its download lock ({exc.strerror or exc}); bytes not kept")
            return
        try:
            if store.blob_path(file.etag).exists():
                return
            self._fill(file)
        except _LeaveToLibrary as exc:
            with self._lock:
                self.outcome.left.append(file.path)
            self.note(f"{file.path}: {exc}; downloading it without keeping bytes")
        finally:
            with contextlib.suppress(OSError):
                lock.release()

    def _fill(self, file: RemoteFile) -> None:
        store = self.store
        try:
            store.ensure()
        except OSError as exc:
            raise _LeaveToLibrary(f"cannot create {store.folder} ({exc.strerror or exc})") from None
        digest = _Digest(file)
        start = self._adopt(file, digest)
        ranges = self._adopted_ranges.pop(file.etag, [])
        # Checked when some bytes were kept from an earlier attempt (they may have been damaged
        # on disk since), and when fetched again after failing the check (the Hub may be wrong).
        digest.active = bool(start or ranges)
        for _ in range(2):
            meta = KeptMeta(
                repo_id=store.repo_id,
                repo_type=store.repo_type,
                revision=self.commit,
                path=file.path,
                size=file.size,
                etag=file.etag,
                sha256=file.sha256,
                git_sha1=file.git_sha1,
                xet_hash=file.xet_hash,
                transport="xet" if self.over_xet(file) else "http",
                kept=start,
                updated=time.time(),
                ranges=ranges,
            )
            self._write_meta(meta, required=True)
            self._transfer(file, meta, digest)
            if digest.matches():
                self._place(file)
                return
            reused = start
            store.discard(file.etag)
            self.on_written(-file.size)
            self.count(discarded=file.size)
            if not reused:
                raise PrefetchFailure(
                    f"{file.path}: the bytes received do not match the Hub's {digest.name}; nothing was kept",
                    transient=True,
                )
            self.note(
                f"{file.path}: kept bytes failed the {digest.name} check (corrupted on disk?); "
                "fetching the file again"
            )
            digest.reset()
            digest.active = True
            start, ranges = 0, []
            store.ensure()

    def _adopt(self, file: RemoteFile, digest: _Digest) -> int:
        """Check the kept bytes of `file` and hash them; returns how many are kept (0: start over)."""
        store = self.store
        part = store.part_path(file.etag)
        try:
            meta = store.read_meta(file.etag)
        except (OSError, ValueError, TypeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            self._discard(file, f"kept-bytes state unreadable ({reason})")
            return 0
        try:
            size = os.stat(part).st_size
        except FileNotFoundError:
            if meta is not None and meta.kept:
                self.note(f"{file.path}: the kept bytes recorded for it are gone; fetching it from the start")
                self._discard(file, None)
            return 0
        except OSError as exc:
            self._discard(file, f"kept bytes unreadable ({exc.strerror or exc})")
            return 0
        if meta is None:
            self._discard(file, "kept bytes without their state file")
            return 0
        if meta.etag != file.etag or meta.size != file.size:
            self._discard(file, "kept bytes belong to another version of the file")
            return 0
        if size > file.size:
            self._discard(file, f"kept bytes larger than the file ({size} > {file.size} bytes)")
            return 0
        if meta.transport == "xet" and size > meta.kept:
            # Written out of order: past the prefix, only the ranges recorded as written in full
            # are kept (a resume fetches the gaps); the rest may be holes or half a range when
            # the process died. Cut after the last recorded range.
            ranges = [r for r in meta.ranges if r[1] <= size] if self.over_xet(file) else []
            end = ranges[-1][1] if ranges else meta.kept
            try:
                if size > end:
                    os.truncate(part, end)
            except OSError as exc:
                self._discard(file, f"kept bytes not usable ({exc.strerror or exc})")
                return 0
            size = meta.kept
        else:
            ranges = []
        if size < meta.kept:
            self.note(
                f"{file.path}: kept bytes shorter than recorded ({size} < {meta.kept}); resuming from {size}"
            )
        try:
            fd = os.open(part, os.O_RDWR)
        except OSError as exc:
            self._discard(file, f"kept bytes not usable ({exc.strerror or exc})")
            return 0
        try:
            done = 0
            while done < size:
                self.check_cancel()
                block = os.read(fd, min(READ_BLOCK, size - done))
                if not block:
                    break
                digest.update(block)
                done += len(block)
        except OSError as exc:
            os.close(fd)
            digest.reset()
            self._discard(file, f"kept bytes unreadable ({exc.strerror or exc})")
            return 0
        os.close(fd)
        if done < size:  # shrank while we read it: start over rather than guess
            digest.reset()
            self._discard(file, "kept bytes changed while being checked")
            return 0
        # The ranges past the prefix are hashed when the prefix reaches them (`_transfer`).
        self._adopted_ranges[file.etag] = ranges
        held = size + sum(end - start for start, end in ranges)
        if held:
            self.count(reused=held)
            self.on_written(held)
        return size

    def _discard(self, file: RemoteFile, reason: str | None) -> None:
        store = self.store
        lost = store.kept_bytes(file.etag)
        try:
            for path in (store.part_path(file.etag), store.meta_path(file.etag)):
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
        except OSError as exc:
            raise _LeaveToLibrary(
                f"{reason or 'kept bytes not usable'} and cannot be removed ({exc.strerror or exc})"
            ) from None
        self.count(discarded=lost)
        if reason is not None:
            self.note(f"{file.path}: {reason}; discarded, fetching it from the start")

    def _write_meta(self, meta: KeptMeta, *, required: bool = False) -> None:
        try:
            self.store.write_meta(meta)
        except OSError as exc:
            if required:
                if exc.errno == errno.ENOSPC:
                    raise PrefetchFailure(f"disk full: no space left on {self.store.folder}") from None
                raise _LeaveToLibrary(
                    f"cannot write {self.store.meta_path(meta.etag)} ({exc.strerror or exc})"
                ) from None
            # Refreshing the state is best effort: the `.part` size is what a resume trusts.

    def _transfer(self, file: RemoteFile, meta: KeptMeta, digest: _Digest) -> None:
        """Fetch bytes `meta.kept`.. of `file` into its `.part`, hashing them in order.

        Over HTTP the bytes come in order; when the transfer stops the file is a prefix of the
        blob. Over Xet windows hand over their pieces as they complete (hf_xet's unordered
        stream: its ordered one loses the cause of a failure, measured with hf_xet 1.8: "Data
        sender was dropped" instead of "429 Too Many Requests"): a piece ahead of the kept prefix
        is written in its place, counted and recorded in the state file at once, and joins the
        prefix (hashed) once the bytes before it are there. When the transfer stops, the
        recorded ranges stay: a resume fetches only the gaps.
        """
        start = meta.kept
        if start >= file.size:
            return
        part = self.store.part_path(file.etag)
        try:
            fd = os.open(part, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                raise PrefetchFailure(f"disk full: no space left on {self.store.folder}") from None
            raise _LeaveToLibrary(f"cannot write {part} ({exc.strerror or exc})") from None
        xet = self.over_xet(file)
        position = start
        ahead: dict[int, int] = {s: e - s for s, e in meta.ranges} if xet else {}
        """offset -> length of ranges written past the prefix (Xet only), kept ones included."""
        pending = 0
        last_meta = time.monotonic()
        try:
            if not ahead:
                os.ftruncate(fd, start)
            chunks = self._xet_gaps(file, start, ahead) if xet else self._http_chunks(file, start)
            for offset, chunk in chunks:
                if offset != position and not xet:  # the server ignored the Range: start over
                    self.note(f"{file.path}: the server sent the whole file instead of the rest; restarting")
                    os.ftruncate(fd, 0)
                    self.on_written(-position)
                    digest.reset()
                    position = 0
                written = self._write_at(fd, chunk, offset, file, position)
                self.count(fetched=written)
                if xet:
                    # On disk and kept (recorded below) whether it joins the prefix now or later:
                    # counted at once, so the job's progress moves with every window.
                    self.on_written(written)
                if offset != position:
                    ahead[offset] = written
                    # Recorded once written in full: a resume (after a stop or a kill -9) keeps it.
                    meta.ranges = sorted([at, at + n] for at, n in ahead.items())
                    meta.updated = time.time()
                    self._write_meta(meta)
                    continue
                digest.update(chunk)
                position += written
                if not xet:
                    pending += written
                joined = False
                while position in ahead:  # counted when written (or adopted)
                    size = ahead.pop(position)
                    if digest.active:  # the bytes are on disk; read back only to hash them
                        digest.update(os.pread(fd, size, position))
                    position += size
                    joined = True
                if pending >= REPORT_BATCH:
                    self.on_written(pending)
                    pending = 0
                # Over Xet the state follows every step of the prefix: after a kill -9 it is what
                # a resume trusts (bytes past it may have holes).
                if xet or joined or time.monotonic() - last_meta >= META_INTERVAL:
                    meta.kept, meta.updated = position, time.time()
                    meta.ranges = sorted([at, at + n] for at, n in ahead.items())
                    self._write_meta(meta)
                    last_meta = time.monotonic()
            if position != file.size:
                if xet and position + sum(ahead.values()) > file.size:
                    raise PrefetchFailure(
                        f"size mismatch: the Xet storage rebuilt {position + sum(ahead.values()):,} "
                        f"bytes where the Hub announced {file.size:,}"
                    )
                if xet:
                    # hf_xet 1.8's stream can end early without an error (seen when its token
                    # expired): what came is kept, a retry (a new token) fetches the rest.
                    raise PrefetchFailure(
                        f"{file.path}: the Xet storage sent {position:,} of {file.size:,} bytes",
                        transient=True,
                    )
                raise PrefetchFailure(
                    f"{file.path}: the server sent {position} of {file.size} bytes", transient=True
                )
        finally:
            if pending:
                with contextlib.suppress(JobCancelled):
                    self.on_written(pending)
            if ahead and not xet:
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, position)
            os.close(fd)
            # Over Xet the ranges completed ahead of the prefix stay, recorded: a resume fetches
            # only the gaps between them.
            meta.kept, meta.updated = position, time.time()
            meta.ranges = sorted([at, at + n] for at, n in ahead.items()) if xet else []
            self._write_meta(meta)

    def _write_at(self, fd: int, chunk: bytes, offset: int, file: RemoteFile, prefix: int) -> int:
        try:
            return _write_all(fd, chunk, offset)
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                # Whatever went past the prefix is cut when the transfer ends: the kept bytes
                # stay a valid prefix of the file.
                raise PrefetchFailure(
                    f"disk full: no space left on {self.store.folder} "
                    f"({prefix} of {file.size} bytes of {file.path} kept)"
                ) from None
            raise

    def _http_chunks(self, file: RemoteFile, start: int) -> Iterator[tuple[int, bytes]]:
        """(offset, bytes) from `start` to the end of the file, over the library's HTTP client."""
        from huggingface_hub import get_session, hf_hub_url
        from huggingface_hub.utils import build_hf_headers, hf_raise_for_status

        url = hf_hub_url(
            self.store.repo_id,
            file.path,
            repo_type=self.store.repo_type,
            revision=self.commit,
            endpoint=self.endpoint,
        )
        headers = build_hf_headers(token=self.token, headers=self.headers)
        # Plain bytes: a compressed answer has no byte offsets to resume from.
        headers["Accept-Encoding"] = "identity"
        if start:
            headers["Range"] = f"bytes={start}-"
        with get_session().stream("GET", url, headers=headers, timeout=self.stall_timeout) as response:
            hf_raise_for_status(response)
            offset = start
            if start and response.status_code == 200:
                offset = 0
            elif start:
                content_range = response.headers.get("Content-Range", "")
                if not content_range.startswith(f"bytes {start}-"):
                    raise PrefetchFailure(
                        f"{file.path}: the server answered range {content_range or '(none)'} "
                        f"for bytes {start}-",
                        transient=True,
                    )
            # As they come off the network (no re-chunking): a buffered chunk would be lost on a stop.
            for chunk in response.iter_bytes():
                self.check_cancel()
                if chunk:
                    yield offset, chunk
                    offset += len(chunk)

    def over_xet(self, file: RemoteFile) -> bool:
        """Whether `file` travels over Xet: it has a Xet hash and the library would use Xet."""
        return file.xet_hash is not None and self.xet_enabled

    def _xet_group(self) -> Any:
        """One download-stream group per job attempt (one CAS connection pool for its files).

        Authentication as the library does it for `xet_get`: a read token from the repo's
        `xet-read-token/<commit>` route, refreshed by hf_xet itself with the same headers; the
        Hub token goes to the Hub only, never to the CAS (`custom_headers` carry no
        Authorization).
        """
        with self._lock:
            if self._group is not None:
                return self._group
            from huggingface_hub import constants
            from huggingface_hub.utils import build_hf_headers

            endpoint = (self.endpoint or constants.ENDPOINT).rstrip("/")
            refresh_url = (
                f"{endpoint}/api/{self.store.repo_type}s/{self.store.repo_id}/xet-read-token/{self.commit}"
            )
            # hftui's own header marks requests for its transport; hf_xet's do not go through it.
            own = {k: v for k, v in self.headers.items() if k.lower() != JOB_HEADER.lower()}
            headers = build_hf_headers(token=self.token, headers=own)
            cas_headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
            # The first token through the library's client (the job's transport, and a refusal
            # is the library's HfHubHTTPError, which says "the Hub refused a Xet read token");
            # hf_xet refreshes it from the same route.
            from huggingface_hub import get_session
            from huggingface_hub.utils import hf_raise_for_status

            answer = get_session().get(
                refresh_url, headers=build_hf_headers(token=self.token, headers=self.headers)
            )
            hf_raise_for_status(answer)
            seed: dict[str, Any] = {}
            cas = answer.headers.get("X-Xet-Cas-Url")
            access = answer.headers.get("X-Xet-Access-Token")
            expiry = answer.headers.get("X-Xet-Token-Expiration")
            if cas and access and expiry and expiry.isdigit():
                seed = {"endpoint": cas, "token": access, "token_expiry_unix_secs": int(expiry)}
            self._group = xet_session().new_download_stream_group(
                token_refresh_url=refresh_url,
                token_refresh_headers=headers,
                custom_headers=cas_headers,
                **seed,
            )
            return self._group

    def _xet_gaps(self, file: RemoteFile, start: int, kept: dict[int, int]) -> Iterator[tuple[int, bytes]]:
        """(offset, bytes) of what is missing from `start` on, `kept` (offset -> length) being the
        ranges already there, fetched in windows (`_xet_windows`)."""
        gaps: list[tuple[int, int]] = []
        at = start
        for offset, length in sorted(kept.items()):  # a copy: the caller joins (pops) them meanwhile
            if offset > at:
                gaps.append((at, offset))
            at = max(at, offset + length)
        if at < file.size:
            gaps.append((at, file.size))
        return self._xet_windows(file, gaps)

    def _xet_windows(self, file: RemoteFile, gaps: list[tuple[int, int]]) -> Iterator[tuple[int, bytes]]:
        """(offset, bytes) of the byte ranges `gaps` of the file, in the order hf_xet completes them.

        Why windows. hf_xet's public ranged stream (`download_unordered_stream(info, start, end)`)
        hands over a range only once all of it has arrived, a whole xorb range (up to 64 MiB) at
        a time: one stream per gap moved the progress in xorb steps and lost every range in
        flight at a stop (482 MiB of a 1 GiB file, measured). So each gap is asked for in
        consecutive windows, each sized by `WindowSizer` to take about `XET_WINDOW_SECONDS` at
        the rate the previous ones had, `XET_WINDOWS_IN_FLIGHT` at once so the link stays busy.
        A finished window is written and recorded at once by the caller: progress moves about
        twice a second, and a stop loses only the windows in flight. The CAS sends only the
        chunks a window needs, plus the chunk it is cut in, which both neighbours fetch
        (measured against the local CAS: one chunk, ~64 KiB, per window).

        Its bytes never pass through hftui's transport, and a read blocked inside hf_xet ignores
        `cancel()`/`abort()` (measured with hf_xet 1.8: "Already borrowed", then the read waits
        for the data), so each window's stream is opened and read by a helper thread into one
        small queue: the job's thread notices a stop at once, stops writing, and abandons the
        helpers, which drop whatever comes later.
        """
        from hf_xet import XetFileInfo

        group = self._xet_group()  # a refused token raises here, in the job's thread
        info = XetFileInfo(file.xet_hash, file.size)
        sizer = WindowSizer(*xet_window_bounds())
        pieces: queue.Queue[tuple[str, int, Any]] = queue.Queue(maxsize=XET_QUEUE_CHUNKS)
        abandoned = threading.Event()
        todo = list(reversed(gaps))
        in_flight: dict[int, tuple[int, int]] = {}
        """window id -> (start, end)"""
        received: dict[int, int] = {}
        ids = iter(range(1 << 62))

        def hand_over(item: tuple[str, int, Any]) -> bool:
            while not abandoned.is_set():
                try:
                    pieces.put(item, timeout=0.1)
                    return True
                except queue.Full:
                    continue
            return False

        def read(window: int, start: int, end: int) -> None:
            opened = time.monotonic()
            try:
                stream = group.download_unordered_stream(info, start=start, end=end)
                for relative, chunk in stream:  # offsets count from `start`
                    if not hand_over(("data", window, (start + relative, chunk))):
                        return
                hand_over(("end", window, time.monotonic() - opened))
            except BaseException as exc:  # handed to the job's thread, which raises it
                hand_over(("error", window, exc))

        def launch() -> None:
            while todo and len(in_flight) < XET_WINDOWS_IN_FLIGHT:
                start, end = todo.pop()
                cut = sizer.cut(start, end)
                if cut < end:
                    todo.append((cut, end))
                window = next(ids)
                in_flight[window], received[window] = (start, cut), 0
                self.xet_progress(lacking=cut - start)
                threading.Thread(
                    target=read, args=(window, start, cut), name="hftui-keep-xet", daemon=True
                ).start()

        last = time.monotonic()
        try:
            launch()
            while in_flight:
                try:
                    kind, window, value = pieces.get(timeout=0.05)
                except queue.Empty:
                    # No stall timer here: a window comes in one piece per xorb it touches, so
                    # a silence between pieces is normal. A stall is hf_xet's read timeout (the
                    # stall timeout in a job process), which ends the stream with an error.
                    self.check_cancel()
                    self.xet_progress()  # bytes on their way to the windows in flight
                    continue
                self.check_cancel()
                if kind == "error":
                    raise _xet_stream_error(value, file, self.stall_timeout, time.monotonic() - last)
                if kind == "end":
                    start, end = in_flight.pop(window)
                    got = received.pop(window)
                    if got != end - start:
                        self.xet_progress(lacking=got - (end - start))
                        # hf_xet 1.8's stream can end early without an error (seen when its
                        # token expired): what came is kept, a retry (a new token) fetches the rest.
                        raise PrefetchFailure(
                            f"{file.path}: the Xet storage sent {got:,} of {end - start:,} bytes "
                            f"from offset {start:,}",
                            transient=True,
                        )
                    sizer.finished(end - start, value)
                    launch()
                    continue
                last = time.monotonic()
                at, data = value
                if data:
                    received[window] += len(data)
                    self.xet_progress(lacking=-len(data), confirmed=len(data))
                    self.on_received(len(data))
                    yield at, bytes(data)
        finally:
            abandoned.set()
            # What the abandoned windows lacked is no longer on its way.
            lost = sum(end - start - received.get(w, 0) for w, (start, end) in in_flight.items())
            with contextlib.suppress(JobCancelled):
                self.xet_progress(lacking=-lost)

    def _place(self, file: RemoteFile) -> None:
        store = self.store
        blob = store.blob_path(file.etag)
        try:
            blob.parent.mkdir(parents=True, exist_ok=True)
            os.replace(store.part_path(file.etag), blob)
        except OSError as exc:
            raise PrefetchFailure(
                f"cannot place {file.path} in {blob.parent} ({exc.strerror or exc})"
            ) from None
        with contextlib.suppress(FileNotFoundError):
            store.meta_path(file.etag).unlink()
        store.tidy()
        with self._lock:
            self.outcome.placed.append(file.path)


def discard_changed(store: KeptStore, files: dict[str, RemoteFile], note: Callable[[str], None]) -> int:
    """Drop kept bytes of the job's paths whose file changed on the Hub (another etag now).

    Returns the bytes dropped. An entry whose lock is held (being written) is left alone.
    """
    from hftui.core.downloads.kept import remove_entry

    dropped = 0
    current = {f.etag for f in files.values()}
    for entry in iter_repo_kept(store.folder.parent):
        if entry.meta is None or entry.etag in current or entry.meta.path not in files:
            continue
        removed, _ = remove_entry(entry)
        if removed:
            dropped += entry.part_bytes
            note(
                f"{entry.meta.path} changed on the Hub since the last attempt: "
                f"{entry.part_bytes} kept bytes of the old version discarded"
            )
    return dropped


def prefetch(
    plan: list[Any],
    *,
    cache_dir: str | os.PathLike[str],
    repo_id: str,
    repo_type: str,
    endpoint: str | None,
    token: str | bool | None,
    headers: dict[str, str],
    stall_timeout: float,
    max_workers: int,
    on_written: Callable[[int], None],
    note: Callable[[str], None],
    is_cancelled: Callable[[], bool],
    min_size: int = MIN_KEEP_BYTES,
    files: dict[str, RemoteFile] | None = None,
    commit: str | None = None,
    on_received: Callable[[int], None] = lambda n: None,
    on_estimate: Callable[[int], None] | None = None,
) -> PrefetchOutcome:
    """Fetch the job's large missing files into the cache with kept bytes (see the module doc).

    `plan` is the dry run of `snapshot_download` (its `DryRunFileInfo`s); `files`, when the caller
    already has the tree entries, saves the `paths-info` request. `on_written(n)` gets the bytes
    now on disk for the job's files (kept bytes adopted, bytes written; negative when kept bytes
    are thrown away); `on_received(n)` the bytes that came over Xet (hftui's transport counts the
    HTTP ones); `on_estimate(n)` how many more bytes the Xet windows in flight have received
    before hf_xet hands them over (`_Prefetch.xet_progress`; a gauge, not a count; only for a
    process that runs one job, whose sockets are that job's). `commit` defaults to the plan's
    `commit_hash`. Raises `JobCancelled` when stopped, `PrefetchFailure` or the transport's
    errors (classified by the job) when a file cannot be completed; what arrived stays kept.
    """
    wanted = candidates(plan, min_size)
    if not wanted:
        return PrefetchOutcome()
    commit = commit or wanted[0].commit_hash
    if files is None:
        files = describe(
            repo_id,
            repo_type,
            commit,
            [info.filename for info in wanted],
            endpoint=endpoint,
            token=token,
            headers=headers,
        )
    files = {info.filename: files[info.filename] for info in wanted if info.filename in files}
    store = KeptStore(cache_dir, repo_id, repo_type)
    work = _Prefetch(
        store=store,
        commit=commit,
        endpoint=endpoint,
        token=token,
        headers=headers,
        stall_timeout=stall_timeout,
        on_written=on_written,
        note=note,
        is_cancelled=is_cancelled,
        on_received=on_received,
        on_estimate=on_estimate,
        xet_enabled=any(f.xet_hash for f in files.values()) and xet_enabled(),
    )
    work.count(discarded=discard_changed(store, files, work.note))
    # One blob per etag, whatever the number of paths that share it.
    unique = list({f.etag: f for f in files.values()}.values())
    errors: list[BaseException] = []

    def run(file: RemoteFile) -> None:
        try:
            work.run_file(file)
        except BaseException as exc:
            errors.append(exc)

    workers = max(1, min(int(max_workers), len(unique)))
    if workers == 1:
        for file in unique:
            run(file)
            if errors:
                break
    else:
        with ThreadPoolExecutor(workers, thread_name_prefix="hftui-keep") as pool:
            list(pool.map(run, unique))
    store.tidy()
    if errors:
        cancelled = [e for e in errors if isinstance(e, JobCancelled)]
        raise (cancelled or errors)[0]
    return work.outcome
