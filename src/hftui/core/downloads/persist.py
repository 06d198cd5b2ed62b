"""The saved queue: `state_dir()/queue.json`, written atomically, guarded by an OS lock.

* **Atomic**: the JSON goes to a temp file in the same directory, is fsynced, then
  `os.replace`d over `queue.json`; a crash or `kill -9` leaves either the old or the new file.
* **One owner**: `queue.lock` is `flock`ed (exclusive, non-blocking) for the life of the process
  and holds the owner's PID; a second hftui gets `QueueInUse(pid)` and must not run those jobs.
  The kernel drops the lock when the process dies, so a `kill -9` never leaves a stale lock.
* **Corrupt file**: moved aside to `queue.json.corrupt-<timestamp>` with a warning; the app
  starts with an empty queue. A field of the wrong type or value (`check_job`) counts as corrupt:
  the file is kept for the user to look at, never read half-way and never a crash.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hftui.settings import move_aside

FORMAT_VERSION = 1


class QueueInUse(Exception):
    def __init__(self, pid: int | None, path: Path) -> None:
        who = f"PID {pid}" if pid else "another process"
        super().__init__(f"the download queue is in use by another hftui ({who}); its jobs are not run here")
        self.pid = pid
        self.path = path


@dataclass
class Loaded:
    jobs: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


_STATES = frozenset({"queued", "checking", "running", "paused", "done", "failed", "cancelled"})


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


# field -> (what it must be, test); a field may be missing (the job's default applies).
_Check = tuple[str, Callable[[Any], bool]]
_WHOLE: _Check = ("a whole number >= 0", lambda v: type(v) is int and v >= 0)
_WHOLE_OR_NULL: _Check = ("a whole number >= 0 or null", lambda v: v is None or (type(v) is int and v >= 0))
_TEXT_OR_NULL: _Check = ("text or null", lambda v: v is None or isinstance(v, str))
_TIME_OR_NULL: _Check = (
    "a time in seconds or null",
    lambda v: v is None or (type(v) in (int, float) and math.isfinite(v) and v >= 0),
)
_TEXT_LIST: _Check = ("a list of text", lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v))
_JOB_FIELDS: dict[str, _Check] = {
    "id": ("non-empty text", lambda v: isinstance(v, str) and bool(v)),
    "state": ("a job state", lambda v: v in _STATES),
    "bytes_done": _WHOLE,
    "bytes_total": _WHOLE_OR_NULL,
    "files_done": _WHOLE,
    "files_total": _WHOLE_OR_NULL,
    "error": _TEXT_OR_NULL,
    "message": _TEXT_OR_NULL,
    "held": ("true or false", lambda v: isinstance(v, bool)),
    "added_at": _TIME_OR_NULL,
    "finished_at": _TIME_OR_NULL,
}
_REQUEST_FIELDS: dict[str, _Check] = {
    "repo_id": ("non-empty text", lambda v: isinstance(v, str) and bool(v.strip())),
    "repo_type": ("model, dataset or space", lambda v: v in ("model", "dataset", "space")),
    "revision": _TEXT_OR_NULL,
    "allow_patterns": _TEXT_LIST,
    "ignore_patterns": _TEXT_LIST,
    "cache_dir": _TEXT_OR_NULL,
    "local_dir": _TEXT_OR_NULL,
    "force_download": ("true or false", lambda v: isinstance(v, bool)),
    "label": _TEXT_OR_NULL,
}


def check_job(item: Any, where: str) -> None:
    """Raise ValueError naming the first field of a saved job that has the wrong type or value.

    A saved queue is read at every launch: one wrong-typed field used to crash the app there, every
    time. Anything that does not match what `Job.to_json` writes makes the whole file corrupt."""
    if not isinstance(item, dict):
        raise ValueError(f"{where} must be an object, not {_kind(item)}")
    for key in ("id", "request"):
        if key not in item:
            raise ValueError(f"{where} lacks {key!r}")
    request = item["request"]
    if not isinstance(request, dict):
        raise ValueError(f"{where}.request must be an object, not {_kind(request)}")
    if "repo_id" not in request:
        raise ValueError(f"{where}.request lacks 'repo_id'")
    for fields, data, prefix in ((_JOB_FIELDS, item, where), (_REQUEST_FIELDS, request, f"{where}.request")):
        for key, (what, ok) in fields.items():
            if key in data and not ok(data[key]):
                raise ValueError(f"{prefix}.{key} must be {what} (got {data[key]!r:.40})")
    if request.get("cache_dir") and request.get("local_dir"):
        raise ValueError(f"{where}.request has both a cache dir and a local dir")


class QueueStore:
    def __init__(self, directory: Path, owner_pid: int | None = None) -> None:
        self.directory = Path(directory)
        self.owner_pid = owner_pid
        """The PID written into the lock: the hftui the user sees, when a helper process holds it."""
        self.path = self.directory / "queue.json"
        self.lock_path = self.directory / "queue.lock"
        self._lock_fd: int | None = None

    # -- lock ---------------------------------------------------------------------------

    def acquire(self) -> None:
        """Take the exclusive lock or raise `QueueInUse` with the owner's PID."""
        if self._lock_fd is not None:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            try:
                pid_text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
                pid = int(pid_text) if pid_text.isdigit() else None
            finally:
                os.close(fd)
            raise QueueInUse(pid, self.lock_path) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{self.owner_pid or os.getpid()}\n".encode(), 0)
        self._lock_fd = fd

    def release(self) -> None:
        fd, self._lock_fd = self._lock_fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    @property
    def locked(self) -> bool:
        return self._lock_fd is not None

    # -- data ---------------------------------------------------------------------------

    def load(self) -> Loaded:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return Loaded()
        except OSError as exc:
            return Loaded(warnings=[f"cannot read the saved queue {self.path}: {exc.strerror or exc}"])
        try:
            data = json.loads(text)
            if not isinstance(data, dict) or not isinstance(data.get("jobs"), list):
                raise ValueError("expected an object with a 'jobs' list")
            jobs = data["jobs"]
            for index, item in enumerate(jobs):
                check_job(item, f"jobs[{index}]")
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            where = move_aside(self.path)
            return Loaded(
                warnings=[f"the saved queue {self.path} is corrupt ({exc}); {where}; starting empty"]
            )
        return Loaded(jobs=jobs)

    def save(self, jobs: list[dict[str, Any]]) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        payload = json.dumps({"version": FORMAT_VERSION, "jobs": jobs}, indent=1)
        fd, tmp = tempfile.mkstemp(prefix=".queue-", suffix=".tmp", dir=self.directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(payload)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise


class BackgroundSaver:
    """Writes the newest queue snapshot to a `QueueStore` on its own thread.

    `QueueStore.save` fsyncs, and while jobs write at full speed an fsync waits for the
    filesystem's journal: measured 16–95 ms. Done under the engine's lock, that delayed every
    pause or cancel (and every download thread reporting progress) by as much. Here the caller
    only hands over the snapshot; snapshots that pile up while one is written collapse into the
    newest. Durability is unchanged: a change is on disk once its fsync returns, whoever waits.
    """

    def __init__(self, store: QueueStore, on_error: Callable[[Exception], None]) -> None:
        self.store = store
        self.on_error = on_error
        self._cond = threading.Condition()
        self._pending: list[dict[str, Any]] | None = None
        self._submitted = 0
        self._written = 0
        self._thread: threading.Thread | None = None

    def submit(self, jobs: list[dict[str, Any]]) -> None:
        with self._cond:
            self._pending = jobs
            self._submitted += 1
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="hftui-queue-saver", daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything submitted so far is written (or failed); False on timeout."""
        with self._cond:
            target = self._submitted
            return self._cond.wait_for(lambda: self._written >= target, timeout)

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._pending is not None)
                jobs, version, self._pending = self._pending, self._submitted, None
            try:
                if jobs is not None:
                    self.store.save(jobs)
            except Exception as exc:  # reported, and the next snapshot is tried again
                self.on_error(exc)
            finally:
                with self._cond:
                    self._written = version
                    self._cond.notify_all()


def unfinished_requests(directory: Path) -> list[Any] | None:
    """The `DownloadRequest`s of the jobs not done in the queue saved in `directory`, read only.

    For prune's "whose job is gone" rule (kept partial downloads no queued job would resume).
    [] when there is no saved queue; None when there is one that cannot be read (then nobody
    can tell which kept bytes a job still needs, and that rule must not be applied). Unlike
    `QueueStore.load`, a corrupt file is left where it is: its owner moves it aside."""
    from hftui.core.downloads.models import DownloadRequest

    try:
        text = (Path(directory) / "queue.json").read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    except OSError:
        return None
    try:
        data = json.loads(text)
        jobs = data["jobs"]
        return [DownloadRequest.from_json(job["request"]) for job in jobs if job.get("state") != "done"]
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError):
        return None
