"""Run one download job: the only place that calls `huggingface_hub.snapshot_download`.

`run_job` does, in order:

1. **destination check**: creates the cache/local dir if missing and proves it is writable
   (a probe file); a read-only destination fails at once with that reason;
2. **dry run** (`snapshot_download(dry_run=True)`): how many files and bytes will move;
3. **disk-space hold**: free space of the destination filesystem (nearest existing ancestor)
   minus `settings.disk_margin_bytes` must cover the bytes to download, else the job is
   *held* with a message saying how much is missing (nothing is downloaded);
4. **orphan sweep**: `.incomplete` files left by a killed process (the library never reuses
   them) are removed when nobody holds their download lock;
5. **download**: `snapshot_download(tqdm_class=<per-job adapter>, headers={job header})`.

Transient faults (connection reset, 5xx, 429, stall, connect errors) are retried with backoff
up to `settings.retries` times; other errors fail the job with a specific, token-free message.
Cancellation: see `hftui.core.downloads.transport`.
"""

from __future__ import annotations

import errno
import fcntl
import os
import re
import tempfile
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from enum import Enum
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hftui.core import compat
from hftui.core.disk import free_bytes
from hftui.core.downloads import transport
from hftui.core.downloads.models import DownloadRequest
from hftui.core.downloads.transport import JOB_HEADER, JobCancelled, JobChannel
from hftui.core.hub.errors import cause_chain, redact
from hftui.core.hub.errors import classify as classify_hub_error
from hftui.core.vocab import cache_folder

if TYPE_CHECKING:
    from hftui.settings import Settings

REPORT_INTERVAL = 0.1
"""Seconds between progress reports of one job (≤ 10 per second)."""


class JobOutcome(str, Enum):
    """How one run of a job ended (the engine turns it into the job's next `JobState`)."""

    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"
    HELD = "held"
    """Not started: the destination lacks free space."""

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)


@dataclass(frozen=True)
class Progress:
    phase: str
    """"checking" (destination, dry run, waiting to retry), "start" (bytes about to move, totals
    known) or "running"."""
    bytes_done: int = 0
    bytes_total: int | None = None
    files_done: int = 0
    files_total: int | None = None
    speed: float = 0.0
    eta: float | None = None
    message: str | None = None


@dataclass(frozen=True)
class JobResult:
    status: JobOutcome
    message: str = ""
    bytes_total: int = 0
    files_total: int = 0
    path: str | None = None
    kept: tuple[int, int] | None = None
    """For a stopped download: (bytes, files) of this attempt's files that are complete on disk.
    The library deletes a partial file when it is stopped, so this is what a resume keeps."""
    transient: bool = False
    """A failure worth retrying (reset, stall, 5xx/429...), when the retry budget given to
    `run_job` is spent: whoever runs attempts in fresh processes retries it (`worker`)."""
    progressed: bool = False
    """The failed attempt completed files (a retry will not fetch them again)."""
    commit: str | None = None
    """The commit a finished download is at (what `hf download` resolves the revision to)."""
    copied: tuple[int, int] = (0, 0)
    """(bytes, files) a local-dir job copied from the Hub cache instead of downloading: they are
    not in `bytes_total`/`files_total` (nothing travelled) but they did land in the local dir."""


class JobFailure(Exception):
    """A classified error: `transient` ones are retried."""

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.transient = transient


# -- progress --------------------------------------------------------------------------------


class ProgressTracker:
    """Aggregates one job's progress from HF's pool threads and the transport; throttles reports."""

    def __init__(
        self,
        report: Callable[[Progress], None],
        is_cancelled: Callable[[], bool],
        *,
        bytes_total: int,
        files_total: int,
        files_skipped: int = 0,
        clock: Callable[[], float] = time.monotonic,
        interval: float = REPORT_INTERVAL,
    ) -> None:
        self._report = report
        self.files_skipped = files_skipped
        """Files of the selection that are already complete: the library's file bar counts them
        too (they finish at once), but they are not part of `files_total`."""
        self.is_cancelled = is_cancelled
        self.bytes_total = bytes_total
        self.files_total = files_total
        self._clock = clock
        self._interval = interval
        self._lock = threading.Lock()
        self.disk_bytes = 0
        self.net_bytes = 0
        """Body bytes counted by hftui's transport (plain HTTP only)."""
        self.transfer_bytes = 0
        """Bytes received as the library's transfer bar reports them: every 200 ms from hf_xet for
        Xet files (whose bytes never pass through the transport), per chunk for plain HTTP."""
        self.xet_estimate = 0
        """Bytes the pre-fetch's Xet windows in flight have received before hf_xet hands them
        over, as this process's sockets count them (`resume._Prefetch.xet_progress`)."""
        self._received_shown = 0
        self.files_done = 0
        self._last_report = -1e9
        self._samples: deque[tuple[float, int]] = deque()
        self._last_received = clock()
        self.reports = 0
        self.message: str | None = None
        self._note_until = 0.0

    # Called by the transport on every body read (many threads).
    def add_net(self, n: int) -> None:
        with self._lock:
            self.net_bytes += n
            self._last_received = self._clock()
        self._maybe_report()

    # Called by the tqdm adapter.
    def add_disk(self, n: int) -> None:
        with self._lock:
            self.disk_bytes += n
        self.check_cancel()
        self._maybe_report()

    def add_file(self, n: int = 1) -> None:
        with self._lock:
            self.files_done += n
        self.check_cancel()
        self._maybe_report(force=True)

    # Called by the tqdm adapter for the library's transfer bar.
    def add_transfer(self, n: int) -> None:
        with self._lock:
            self.transfer_bytes += n
            if n > 0:
                self._last_received = self._clock()
        self.check_cancel()
        self._maybe_report()

    # Called by the pre-fetch while Xet windows are in flight.
    def set_xet_estimate(self, n: int) -> None:
        with self._lock:
            if n > self.xet_estimate:
                self._last_received = self._clock()
            self.xet_estimate = n
        self.check_cancel()
        self._maybe_report()

    def idle_for(self) -> float:
        """Seconds since a byte last arrived (or since the transfer started)."""
        return self._clock() - self._last_received

    def received(self) -> int:
        """Bytes received so far: both counters see plain HTTP bodies, only the transfer bar sees
        Xet; plus what the Xet windows in flight have received. Never goes back: when a window
        completes its estimate becomes confirmed bytes, and the two are not updated at once."""
        now = max(self.net_bytes, self.transfer_bytes + self.xet_estimate)
        self._received_shown = max(self._received_shown, now)
        return self._received_shown

    def check_cancel(self) -> None:
        if self.is_cancelled():
            raise JobCancelled("cancelled")

    def bytes_done(self) -> int:
        return min(self.bytes_total, max(self.disk_bytes, self.received()))

    def snapshot(self) -> Progress:
        now = self._clock()
        with self._lock:
            done = self.bytes_done()
            received = self.received()
            self._samples.append((now, received))
            while len(self._samples) > 2 and now - self._samples[0][0] > 3.0:
                self._samples.popleft()
            t0, b0 = self._samples[0]
            speed = max(0.0, (received - b0) / (now - t0)) if now - t0 > 0.05 else 0.0
            files = max(0, min(self.files_done - self.files_skipped, self.files_total))
        remaining = self.bytes_total - done
        eta = remaining / speed if speed > 0 else None
        message = self.message if self.message is None or now < self._note_until else None
        return Progress("running", done, self.bytes_total, files, self.files_total, speed, eta, message)

    def note(self, message: str, seconds: float = 10.0) -> None:
        """Show `message` on the row for a while (a fault the library is recovering from)."""
        with self._lock:
            self.message = message
            self._note_until = self._clock() + seconds
        self._maybe_report(force=True)

    def _maybe_report(self, force: bool = False) -> None:
        now = self._clock()
        if not force and now - self._last_report < self._interval:
            return
        self._last_report = now
        self.reports += 1
        self._report(self.snapshot())


def make_tqdm_class(tracker: ProgressTracker, *, count_files: bool = True) -> type:
    """A tqdm look-alike bound to one job, for `snapshot_download(tqdm_class=...)`.

    snapshot_download creates three bars from it: the file-count bar (`hf_thread_map`, updated
    by 1 per finished file), a "Downloading bytes" transfer bar (bytes received: every 200 ms
    from hf_xet, per body chunk over HTTP) and a "Reconstructing" bar that gets every written
    block (up to 64 MiB at a time for Xet). We count all three. `update()` raises when cancelled
    (which stops a plain HTTP read; hf_xet swallows it, which is why a job runs in its own process).
    `count_files=False` for the call that follows a pre-fetch (its file bar counts files the
    job has counted already).
    """

    class JobTqdm:
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            self.desc = str(kwargs.get("desc") or "")
            self.total = kwargs.get("total")
            self.n = kwargs.get("initial") or 0
            self.unit = kwargs.get("unit", "it")
            if self.unit != "B":
                self.kind = "files"
            elif compat.is_transfer_bar(self.desc):
                self.kind = "transfer"
            else:
                self.kind = "bytes"
            self.format_dict: dict[str, Any] = {"rate": None}

        def update(self, n: int | float | None = 1) -> None:
            amount = int(n or 0)
            self.n += amount
            if self.kind == "files":
                if count_files:
                    tracker.add_file(amount)
                else:
                    tracker.check_cancel()
            elif self.kind == "bytes":
                tracker.add_disk(amount)
            else:
                tracker.add_transfer(amount)

        def __enter__(self) -> JobTqdm:
            return self

        def __exit__(self, *exc: object) -> None:
            self.close()

        def close(self) -> None:
            pass

        def refresh(self, *args: Any, **kwargs: Any) -> None:
            pass

        def set_description(self, desc: str | None = None, refresh: bool = True) -> None:
            self.desc = desc or ""

        def set_description_str(self, desc: str | None = None, refresh: bool = True) -> None:
            self.desc = desc or ""

        def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
            pass

        def set_postfix(self, *args: Any, **kwargs: Any) -> None:
            pass

        def clear(self, *args: Any, **kwargs: Any) -> None:
            pass

        def display(self, *args: Any, **kwargs: Any) -> None:
            pass

        def reset(self, total: int | None = None) -> None:
            self.n = 0
            self.total = total

    return JobTqdm


# -- errors ----------------------------------------------------------------------------------

AUTH_HINT = "set HF_TOKEN or run `hf auth login`"


def classify(
    exc: BaseException,
    request: DownloadRequest,
    *,
    token: str | None = None,
    tracker: ProgressTracker | None = None,
    plan: list[Any] | None = None,
    stall_timeout: float = 30.0,
) -> JobFailure:
    """Turn an exception from the download path into a specific message; mark transient ones.

    What happened is decided by the one Hub error classifier (`core.hub.errors`); this only words
    it for a queue row. hf_xet's errors (a `RuntimeError` carrying a Rust error chain, which that
    classifier does not know) are worded by `xet_errors`: `tracker` (when bytes last arrived) tells
    a stall from a reset, `plan` (the files with their Xet hashes) names the file the storage does
    not know."""
    from hftui.core.downloads import xet_errors

    for err in cause_chain(exc):
        if isinstance(err, JobFailure):
            err.message = redact(err.message, token)
            return err
    for err in cause_chain(exc):
        if xet_errors.is_xet_error(err):
            stalled_for = None if tracker is None else tracker.idle_for()
            by_hash = {f.xet_hash: f.filename for f in plan or () if getattr(f, "xet_hash", None)}
            text, transient = xet_errors.classify_xet(
                err, stalled_for=stalled_for, stall_timeout=stall_timeout, files_by_hash=by_hash
            )
            return JobFailure(redact(text, token), transient=transient)
    found = classify_hub_error(exc, token=token)
    what = f"{request.repo_type} {request.repo_id}"
    if found.kind in ("unauthorized", "forbidden") and "/xet-read-token/" in _request_url(found.error):
        return JobFailure(f"the Hub refused a Xet read token ({found.status}) for {what} ({AUTH_HINT})")
    revision = request.revision or "main"
    detail = found.detail
    kind = found.kind
    message: str
    if kind == "gated":
        message = f"gated repo: {what} needs approved access ({AUTH_HINT})"
    elif kind == "disabled":
        message = f"repo disabled: {what}"
    elif kind == "repo_not_found":
        message = f"repo not found: {what} (if it is private, {AUTH_HINT})"
    elif kind == "revision_not_found":
        message = f"revision not found: {revision} in {what}"
    elif kind == "entry_not_found":
        message = f"file not found on the Hub: {detail}"
    elif kind == "unauthorized":
        message = f"unauthorized for {what} ({AUTH_HINT})"
    elif kind == "forbidden":
        message = f"access denied to {what} ({AUTH_HINT})"
    elif kind == "not_found":
        message = f"not found: {what} (repo or revision {revision})"
    elif kind in ("server", "rate_limited"):
        message = f"server error {found.status}"
    elif kind in ("bad_request", "http"):
        message = f"HTTP error {found.status}: {detail}"
    elif kind == "offline":
        message = "offline mode (HF_HUB_OFFLINE=1): the Hub is not asked"
    elif kind == "unreachable":
        message = f"network down: cannot connect ({detail})"
    elif kind == "timeout":
        message = "stalled: no data received within the stall timeout"
    elif kind == "reset":
        message = f"connection reset ({detail or type(found.error).__name__})"
    elif kind == "disk_full":
        filename = getattr(found.error, "filename", None) or ""
        strerror = getattr(found.error, "strerror", None) or detail
        message = f"disk full: {strerror} ({filename})".replace(" ()", "")
    elif kind == "permission":
        message = f"permission denied: {getattr(found.error, 'filename', None) or detail}"
    elif kind == "incomplete":
        message = "incomplete file received"
    else:  # network, os_error, other: the exception's own words
        first = str(exc).splitlines()[0] if str(exc) else ""
        message = redact(f"{type(exc).__name__}: {first}".rstrip(": "), token)
    return JobFailure(message, transient=found.transient)


def _request_url(err: BaseException | None) -> str:
    response = getattr(err, "response", None)
    try:
        return str(response.request.url) if response is not None else ""
    except RuntimeError:  # a response built without its request
        return ""


# -- filesystem checks -----------------------------------------------------------------------


def _offline() -> bool:
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def destination_dir(request: DownloadRequest, default_cache: str | None = None) -> Path:
    if request.local_dir:
        return Path(request.local_dir).expanduser()
    if request.cache_dir:
        return Path(request.cache_dir).expanduser()
    if default_cache:
        return Path(default_cache).expanduser()
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def _snapshot_commit(path: str | os.PathLike[str], request: DownloadRequest) -> str | None:
    """The commit of an offline answer: a cache snapshot folder is named by it (a local dir is not)."""
    name = Path(path).name
    if request.local_dir or len(name) != 40 or not all(c in "0123456789abcdef" for c in name):
        return None
    return name


def ensure_writable(path: Path) -> None:
    """Create `path` if needed and prove we can write there; JobFailure with the reason if not."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".hftui-probe-", dir=path)
        os.close(fd)
        os.unlink(probe)
    except PermissionError as exc:
        raise JobFailure(f"permission denied: cannot write to {exc.filename or path}") from None
    except OSError as exc:
        if exc.errno == errno.EROFS:
            raise JobFailure(f"permission denied: {path} is on a read-only filesystem") from None
        if exc.errno == errno.ENOSPC:
            raise JobFailure(f"disk full: no space left on {path}") from None
        raise JobFailure(f"cannot use destination {path}: {exc.strerror or exc}") from None


def bytes_to_write(plan: list[Any], *, local_dir: bool) -> int:
    """Bytes a job will write to its destination, from its dry run.

    In the cache that is the files to download. In a local dir, a file already in the Hub cache
    is not downloaded (`will_download=False`) but copied, which takes the same room.
    """
    total = 0
    for info in plan:
        if info.will_download or (local_dir and not os.path.exists(info.local_path)):
            total += int(info.file_size or 0)
    return total


def space_shortfall(needed: int, path: Path, margin: int) -> int:
    """Bytes missing to download `needed` into `path` while keeping `margin` free (0 = fits)."""
    if needed <= 0:
        return 0
    free = free_bytes(path)
    if free is None:  # cannot be measured: let the download itself report a bad destination
        return 0
    return max(0, needed + margin - free)


def _try_lock(path: Path) -> int | None:
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o664)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def _unlock(fd: int) -> None:
    try:
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def sweep_orphans(request: DownloadRequest, dest: Path) -> list[Path]:
    """Remove `.incomplete` files that no live download owns (left by a killed process).

    huggingface_hub never reads an old `.incomplete` (names are process-unique), so they are
    pure waste. A file is only removed while we hold the library's download lock for it, so a
    download running in another process is never touched.
    """
    removed: list[Path] = []
    if request.local_dir:
        base = dest / ".cache" / "huggingface" / "download"
        if not base.is_dir():
            return removed
        dirs = {p.parent for p in base.rglob("*.incomplete")}
        for folder in dirs:
            fds: list[int] = []
            try:
                ok = True
                for lock in folder.glob("*.lock"):
                    fd = _try_lock(lock)
                    if fd is None:
                        ok = False
                        break
                    fds.append(fd)
                if ok:
                    for tmp in folder.glob("*.incomplete"):
                        tmp.unlink(missing_ok=True)
                        removed.append(tmp)
            finally:
                for fd in fds:
                    _unlock(fd)
        return removed
    repo_folder = cache_folder(request.repo_type, request.repo_id)
    blobs = dest / repo_folder / "blobs"
    if not blobs.is_dir():
        return removed
    for tmp in blobs.glob("*.incomplete"):
        etag = tmp.name.split(".", 1)[0]
        lock_dir = dest / ".locks" / repo_folder
        lock_path = lock_dir / f"{etag}.lock"
        if not lock_dir.is_dir():
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
            continue
        fd = _try_lock(lock_path)
        if fd is None:
            continue
        try:
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
        finally:
            _unlock(fd)
    return removed


# -- the job ---------------------------------------------------------------------------------


def _sleep_unless_cancelled(seconds: float, is_cancelled: Callable[[], bool]) -> bool:
    """Sleep up to `seconds`; True if cancelled meanwhile."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if is_cancelled():
            return True
        time.sleep(min(0.05, max(0.0, end - time.monotonic())))
    return is_cancelled()


def retries_note(attempt: int) -> str:
    return f" (after {attempt} retr{'y' if attempt == 1 else 'ies'})"


def backoff_delay(attempt: int) -> float:
    """Seconds to wait before retry number `attempt` (1-based): 1, 2, 4, 8, capped at 15."""
    return float(min(15, 2 ** (attempt - 1)))


def kept_on_disk(to_fetch: list[Any], since: float) -> tuple[int, int] | None:
    """(bytes, files) of the planned files (dry-run infos) now complete at their final path.

    A file is there only once the library has moved it into place (cache snapshot link or local
    dir file); `since` (when the job started) keeps an outdated copy in a local dir, which the
    plan was going to replace, from counting. None when nothing was planned yet.
    """
    if not to_fetch:
        return None
    kept_bytes = kept_files = 0
    for info in to_fetch:
        try:
            stat = os.stat(info.local_path)
        except (OSError, TypeError):
            continue
        if info.file_size is not None and stat.st_size != info.file_size:
            continue
        if stat.st_mtime < since - 1:
            continue
        kept_bytes += int(info.file_size or stat.st_size)
        kept_files += 1
    return kept_bytes, kept_files


def kept_partial(request: DownloadRequest, dest: Path, to_fetch: list[Any]) -> int:
    """Bytes of the planned files kept by earlier attempts (see `hftui.core.downloads.kept`)."""
    if request.local_dir or not to_fetch:
        return 0
    from hftui.core.downloads.kept import kept_for

    return kept_for(dest, request.repo_id, request.repo_type, {info.filename for info in to_fetch})[0]


def kept_now(
    request: DownloadRequest, dest: Path, to_fetch: list[Any], since: float
) -> tuple[int, int] | None:
    """What a resume keeps of a stopped job: (bytes, files) of whole files on disk plus the bytes
    of unfinished files in the kept-bytes store (files counts whole files only)."""
    whole = kept_on_disk(to_fetch, since)
    if whole is None:
        return None
    return whole[0] + kept_partial(request, dest, to_fetch), whole[1]


def keep_candidates(request: DownloadRequest, to_fetch: list[Any]) -> list[Any]:
    """Planned files fetched with kept bytes (large ones, into a cache, not forced)."""
    if request.local_dir or request.force_download:
        return []
    from hftui.core.downloads import resume

    return resume.candidates(to_fetch)


def escape_glob(path: str) -> str:
    """A pattern that matches exactly `path` (fnmatch, as the library's `filter_repo_objects`)."""
    return re.sub(r"([*?[])", r"[\1]", path)


def kept_after_stop(
    request: DownloadRequest, default_cache: str | None, planned: list[Any], since: float
) -> tuple[int, int] | None:
    """`kept_now` for whoever stopped the job from outside (the engine killing its process):
    it knows the planned files' final paths but not their names, so the kept bytes are the ones
    of the files the request selects."""
    whole = kept_on_disk(planned, since)
    if whole is None or request.local_dir:
        return whole
    from hftui.core.downloads.kept import kept_for_request

    try:
        partial, _ = kept_for_request(destination_dir(request, default_cache), request)
    except OSError:
        partial = 0
    return whole[0] + partial, whole[1]


def prefetch_kept(
    request: DownloadRequest,
    dest: Path,
    plan: list[Any],
    tracker: ProgressTracker,
    settings: Any,
    endpoint: str | None,
    token: str | bool | None,
    job_token: str,
    is_cancelled: Callable[[], bool],
    *,
    commit: str,
    sole_job: bool = False,
) -> Any:
    """Fetch the job's large files with kept bytes before `snapshot_download` links them
    (`hftui.core.downloads.resume`); a failure there is classified like the library's own.
    `sole_job`: the process runs this job only, so its sockets' byte counts are this job's (the
    progress inside a Xet window is read from them; elsewhere it moves per window)."""
    from hftui.core.downloads import resume

    def note(text: str) -> None:
        tracker.note(text, 30.0)

    try:
        return resume.prefetch(
            plan,
            cache_dir=dest,
            repo_id=request.repo_id,
            repo_type=request.repo_type,
            endpoint=endpoint,
            token=token,
            headers={JOB_HEADER: job_token},
            stall_timeout=float(settings.stall_timeout),
            max_workers=int(settings.max_workers),
            on_written=tracker.add_disk,
            # Xet bytes never pass through the transport; counted as received (speed, stalls).
            on_received=tracker.add_transfer,
            # Inside a window, before hf_xet hands it over: what the job's sockets received.
            on_estimate=tracker.set_xet_estimate if sole_job else None,
            commit=commit,
            files=resume.remote_files(plan),
            note=note,
            is_cancelled=is_cancelled,
        )
    except resume.PrefetchFailure as exc:
        raise JobFailure(exc.message, transient=exc.transient) from None


def run_job(
    request: DownloadRequest,
    *,
    settings: Settings,
    endpoint: str | None,
    token: str | bool | None = None,
    report: Callable[[Progress], None],
    is_cancelled: Callable[[], bool],
    default_cache: str | None = None,
    claim_space: Callable[[Path, int], int] | None = None,
    cancel_signal: transport.CancelSignal | None = None,
    on_plan: Callable[[list[Any], float], None] | None = None,
    attempts_used: int = 0,
    sole_job: bool = False,
) -> JobResult:
    """Download `request` to completion, or return why not. Never raises (except BaseException).

    `claim_space(dest, nbytes)` (given by the engine) records that this job is about to write
    `nbytes` under `dest` and returns how many bytes other running jobs still have to write to
    the same filesystem, so that two jobs that each fit alone are not both started when only
    one fits. `on_plan(files, started)` hears which files the job will fetch (each with
    `local_path` and `file_size`) and when it started, so that whoever stops it from outside
    can tell what is complete on disk (`kept_on_disk`). `attempts_used` counts retries already
    spent on this job (by an earlier process of it), against `settings.retries`. `sole_job`: this
    process runs nothing else (a job process), so every request is this job's and none needs the
    job header - which would otherwise also reach the Xet storage, hf_xet forwarding the
    download's headers to it.
    """
    from huggingface_hub import snapshot_download

    from hftui.core.downloads.plan import make_plan

    transport.install()
    secret = token if isinstance(token, str) else None
    dest = destination_dir(request, default_cache)
    # A local-dir job copies files the Hub cache already holds instead of downloading them:
    # that is the app's cache (default_cache), not whatever HF_HUB_CACHE says.
    cache_dir = default_cache if request.local_dir else str(dest)
    job_token = uuid.uuid4().hex
    tracker_box: dict[str, ProgressTracker] = {}

    def on_bytes(n: int) -> None:
        tracker = tracker_box.get("t")
        if tracker is not None:
            tracker.add_net(n)

    def on_note(message: str) -> None:
        tracker = tracker_box.get("t")
        if tracker is not None:
            tracker.note(message)

    transport.register(
        job_token,
        JobChannel(is_cancelled, float(settings.stall_timeout), on_bytes, cancel_signal, on_note),
    )
    if sole_job:
        transport.set_sole_job(job_token)
    common: dict[str, Any] = {
        "repo_type": request.repo_type,
        "cache_dir": cache_dir,
        "local_dir": request.local_dir,
        "allow_patterns": list(request.allow_patterns) or None,
        "ignore_patterns": list(request.ignore_patterns) or None,
        "force_download": request.force_download,
        "token": token,
        "endpoint": endpoint,
        "headers": {} if sole_job else {JOB_HEADER: job_token},
        "etag_timeout": float(settings.stall_timeout),
    }
    attempt = attempts_used
    bytes_total = files_total = 0
    to_fetch: list[Any] = []
    kept_before = 0
    # Every file some attempt set out to fetch: after a retry the dry run lists only what is still
    # missing, but what the job downloaded is all of them (reported when it is done).
    fetched: dict[str, int] = {}
    started = time.time()
    try:
        while True:
            if is_cancelled():
                return JobResult(JobOutcome.CANCELLED)
            try:
                if _offline():
                    # What `hf download` does with HF_HUB_OFFLINE=1: the cached snapshot, if there is
                    # one, and nothing else (the dry run below needs the Hub, so it cannot run).
                    from huggingface_hub.errors import LocalEntryNotFoundError

                    try:
                        path = snapshot_download(request.repo_id, revision=request.revision, **common)
                    except LocalEntryNotFoundError:
                        return JobResult(
                            JobOutcome.FAILED,
                            f"offline (HF_HUB_OFFLINE=1): {request.repo_type} {request.repo_id}"
                            f"@{request.revision or 'main'} is not in the cache",
                        )
                    return JobResult(
                        JobOutcome.DONE, "", 0, 0, str(path), commit=_snapshot_commit(path, request)
                    )
                report(Progress("checking", message="checking destination"))
                ensure_writable(dest)
                report(Progress("checking", message="listing files"))
                job_plan = make_plan(
                    request, cache_dir=cache_dir, endpoint=endpoint, token=token, headers=common["headers"]
                )
                plan = job_plan.files
                if not plan and (request.allow_patterns or request.ignore_patterns):
                    # A typo in a pattern must not look like a finished download.
                    patterns = [f"--include {p}" for p in request.allow_patterns]
                    patterns += [f"--exclude {p}" for p in request.ignore_patterns]
                    return JobResult(
                        JobOutcome.FAILED,
                        f"no file of {request.repo_type} {request.repo_id}@{request.revision or 'main'} "
                        f"matches {' '.join(patterns)}",
                    )
                to_fetch = [info for info in plan if info.will_download]
                # A local-dir job copies what the Hub cache holds and the local dir lacks: the
                # library says `will_download=False` for those, but they do land in the dir.
                to_copy = [
                    info
                    for info in plan
                    if request.local_dir and not info.will_download and not os.path.exists(info.local_path)
                ]
                bytes_total = sum(int(info.file_size or 0) for info in to_fetch)
                files_total = len(to_fetch)
                if on_plan is not None:
                    on_plan(to_fetch, started)
                fetched.update((info.filename, int(info.file_size or 0)) for info in to_fetch)
                # Bytes kept by earlier attempts are already on the disk: only the rest needs room.
                kept_before = kept_partial(request, dest, to_fetch)
                to_write = max(0, bytes_to_write(plan, local_dir=bool(request.local_dir)) - kept_before)
                others = claim_space(dest, to_write) if claim_space is not None else 0
                short = space_shortfall(to_write + others, dest, int(settings.disk_margin_bytes))
                if short:
                    from hftui.core.vocab import size as fmt

                    busy = f" + {fmt(others)} still coming from other jobs" if others else ""
                    return JobResult(
                        JobOutcome.HELD,
                        f"held: needs {fmt(short)} more free space on {dest} "
                        f"({fmt(to_write)} to download{busy} + {fmt(settings.disk_margin_bytes)} margin, "
                        f"{fmt(free_bytes(dest))} free)",
                        bytes_total,
                        files_total,
                    )
                sweep_orphans(request, dest)
                tracker = ProgressTracker(
                    report,
                    is_cancelled,
                    bytes_total=bytes_total,
                    files_total=files_total,
                    files_skipped=len(plan) - files_total,
                )
                tracker_box["t"] = tracker
                report(Progress("start", 0, bytes_total, 0, files_total))
                keep = keep_candidates(request, to_fetch)
                small: Future[Any] | None = None
                if keep and len(keep) < len(to_fetch):
                    # The small files (configs) through the library, beside the large ones: run
                    # first, their listing and requests held the large files back (0.15 s on
                    # loopback; a round trip each on a real link). Configs still land first.
                    left_out = [*(request.ignore_patterns or ()), *(escape_glob(i.filename) for i in keep)]
                    beside = ThreadPoolExecutor(1, thread_name_prefix="hftui-small-files")
                    small = beside.submit(
                        partial(  # partial: the library's overloads defeat `submit`'s typing
                            snapshot_download,
                            request.repo_id,
                            revision=job_plan.revision,
                            max_workers=int(settings.max_workers),
                            tqdm_class=make_tqdm_class(tracker),
                            **{**common, "ignore_patterns": left_out},
                        )
                    )
                    beside.shutdown(wait=False)  # the call runs on; `small` says how it ended
                elif keep:
                    tracker.files_skipped = 0  # no library call counts the files already there
                if keep:
                    try:
                        prefetched = prefetch_kept(
                            request,
                            dest,
                            keep,
                            tracker,
                            settings,
                            endpoint,
                            token,
                            job_token,
                            is_cancelled,
                            commit=job_plan.commit,
                            sole_job=sole_job,
                        )
                    finally:
                        # One attempt at a time: a retry never overlaps the small files' call.
                        small_error = small.exception() if small is not None else None
                    if small_error is not None:
                        raise small_error
                    tracker.add_file(len(prefetched.placed))
                    if prefetched.progressed:
                        attempt = 0  # bytes were kept: a later fault starts its retry budget afresh
                # The call that decides the job: it links the blobs placed above and fetches
                # anything still missing (a blob another process was writing, ...).
                path = snapshot_download(
                    request.repo_id,
                    revision=job_plan.revision,
                    max_workers=int(settings.max_workers),
                    tqdm_class=make_tqdm_class(tracker, count_files=not keep),
                    **common,
                )
                return JobResult(
                    JobOutcome.DONE,
                    "",
                    sum(fetched.values()),
                    len(fetched),
                    str(path),
                    commit=job_plan.commit,
                    copied=(sum(int(info.file_size or 0) for info in to_copy), len(to_copy)),
                )
            except JobCancelled:
                return JobResult(
                    JobOutcome.CANCELLED,
                    "",
                    bytes_total,
                    files_total,
                    kept=kept_now(request, dest, to_fetch, started),
                )
            except Exception as exc:
                if is_cancelled():
                    return JobResult(
                        JobOutcome.CANCELLED,
                        "",
                        bytes_total,
                        files_total,
                        kept=kept_now(request, dest, to_fetch, started),
                    )
                last = tracker_box.get("t")
                failure = classify(
                    exc,
                    request,
                    token=secret,
                    tracker=last,
                    plan=to_fetch,
                    stall_timeout=float(settings.stall_timeout),
                )
                # Files completed, or bytes kept for the next attempt: progress either way.
                progressed = (last is not None and last.files_done > last.files_skipped) or (
                    kept_partial(request, dest, to_fetch) > kept_before
                )
                if failure.transient and progressed:
                    # That attempt completed files, which the next one will not fetch again:
                    # progress was made, so the retry budget starts afresh (still bounded, by
                    # the number of files times `retries`).
                    attempt = 0
                if not failure.transient or attempt >= int(settings.retries):
                    message = failure.message
                    if message.startswith("disk full") and str(dest) not in message:
                        message = f"disk full: no space left on {dest}"
                    if failure.transient and attempt:
                        message += retries_note(attempt)
                    return JobResult(
                        JobOutcome.FAILED,
                        message,
                        bytes_total,
                        files_total,
                        transient=failure.transient,
                        progressed=progressed,
                        kept=kept_now(request, dest, to_fetch, started),
                    )
                attempt += 1
                delay = backoff_delay(attempt)
                report(
                    Progress(
                        "checking",
                        message=f"{failure.message}; retry {attempt}/{settings.retries} in {delay:.0f} s",
                    )
                )
                tracker_box.pop("t", None)
                if _sleep_unless_cancelled(delay, is_cancelled):
                    return JobResult(JobOutcome.CANCELLED, "", bytes_total, files_total)
    finally:
        transport.unregister(job_token)
        if sole_job:
            transport.set_sole_job(None)
