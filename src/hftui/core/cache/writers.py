"""Who is writing into a cached repo right now: the check every deletion makes first.

UI-free. A repo has a *live writer* when

* a per-blob lock `.locks/<repo folder>/<etag>.lock` is held: huggingface_hub takes it (its
  `WeakFileLock`, an exclusive `flock` through the `filelock` package) for as long as it downloads
  that blob, Xet or HTTP alike;
* an `.incomplete` file in `<repo>/blobs/` changed in the last `LIVE_WINDOW` seconds with no lock
  held (a writer that does not lock), unless we can see every process's open files (root) and
  none has it open: then its writer died;
* a job for that repo is in the queue of an hftui that runs on this machine (its `queue.lock` in
  the state dir is held): queued, checking, running or paused jobs all write into the repo sooner
  or later.

Held locks are tested the way the scanner does it: open read-only (never creating the file) and
try a non-blocking shared `flock`; a conflict means someone holds it. The holder's PID comes from
`/proc/locks` (the kernel lists every `flock` with its PID and inode); `.incomplete` writers are
found by their open file descriptors in `/proc/<pid>/fd`. Where neither is readable the PID is
left out, never guessed.

A lock file nobody holds is a leftover of a finished or dead process (the kernel drops a `flock`
when its process dies, so a killed download leaves an unheld file behind): it is never a reason to
refuse, and `stale_locks` lists them so a UI can offer to prune them.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from hftui.core.cache.locks import flock_holders, lock_is_held, scan_locks
from hftui.core.vocab import cache_folder

LOCKS_DIR_NAME = ".locks"
LIVE_WINDOW = 60.0
"""Seconds since its last change for which an unlocked `.incomplete` file still counts as written."""

QUEUE_FILE = "queue.json"
QUEUE_LOCK = "queue.lock"
_QUEUE_WRITING_STATES = frozenset({"queued", "checking", "running", "paused"})

WriterKind = Literal["lock", "incomplete", "queue"]


@dataclass(frozen=True)
class Writer:
    """One reason a repo folder is being written. `pid` is None where it cannot be known."""

    repo_dir: str
    kind: WriterKind
    path: str
    pid: int | None = None
    process: str = ""
    detail: str = ""

    @property
    def who(self) -> str:
        if self.pid is None:
            return "a process we cannot identify"
        return f"PID {self.pid}" + (f" ({self.process})" if self.process else "")

    def describe(self) -> str:
        """One line for the user: what, who, and what to do."""
        name = os.path.basename(self.path)
        if self.kind == "lock":
            return (
                f"a download is writing it: {self.who} holds the lock {name}; "
                "wait for the download to finish or stop it, then try again"
            )
        if self.kind == "incomplete":
            return (
                f"a download is writing it: {name} changed {self.detail} ago ({self.who}); "
                "wait for it to finish or stop it, then try again"
            )
        whose = "this hftui's queue" if self.pid == os.getpid() else f"the queue of hftui {self.who}"
        return f"a download of this repo is in {whose} ({self.detail}); cancel or finish it there first"


@dataclass(frozen=True)
class StaleLock:
    """A lock file nobody holds: left by a finished download or a process that died."""

    path: str
    repo_dir: str
    size_on_disk: int


@dataclass
class WriterReport:
    writers: dict[str, list[Writer]]
    """repo folder name -> its live writers (only repos that have one)."""
    stale_locks: list[StaleLock]

    def reason(self, repo_dir: str) -> str | None:
        found = self.writers.get(repo_dir)
        if not found:
            return None
        more = f" (+{len(found) - 1} more)" if len(found) > 1 else ""
        return found[0].describe() + more


# -- locks ---------------------------------------------------------------------------------------


def _process_name(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm", encoding="utf-8", errors="replace") as f:
            return f.read().strip()
    except OSError:
        return ""


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _sees_every_process() -> bool:
    """Whether /proc shows every process's open files to us (root in this PID namespace)."""
    return hasattr(os, "geteuid") and os.geteuid() == 0 and os.path.isdir("/proc/self/fd")


def _pids_with_open(paths: set[tuple[int, int]]) -> dict[tuple[int, int], int]:
    """(st_dev, st_ino) -> a PID that has that file open, from /proc/<pid>/fd (what we can read)."""
    found: dict[tuple[int, int], int] = {}
    if not paths:
        return found
    try:
        pids = [int(name) for name in os.listdir("/proc") if name.isdigit()]
    except OSError:
        return found
    for pid in pids:
        fd_dir = f"/proc/{pid}/fd"
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue
        for fd in fds:
            try:
                st = os.stat(f"{fd_dir}/{fd}")
            except OSError:
                continue
            key = (st.st_dev, st.st_ino)
            if key in paths and key not in found:
                found[key] = pid
        if len(found) == len(paths):
            break
    return found


# -- the queue of every hftui on this machine --------------------------------------------------


def queued_writers(state_dir: Path, cache_dir: str) -> dict[str, list[Writer]]:
    """Repo folder -> a `Writer` per job of a running hftui's queue that writes into `cache_dir`.

    Only a queue whose `queue.lock` is held counts: a saved queue of an hftui that is not running
    writes nothing until it starts (and then it downloads again what was deleted). A job whose
    cache dir is its hftui's default (not saved in the job) is assumed to write here.
    """
    out: dict[str, list[Writer]] = {}
    lock_path = os.path.join(state_dir, QUEUE_LOCK)
    if lock_is_held(lock_path) is not True:
        return out
    pid: int | None = None
    try:
        with open(lock_path, encoding="ascii", errors="replace") as f:
            text = f.read(32).strip()
        pid = int(text) if text.isdigit() else None
    except OSError:
        pass
    try:
        with open(os.path.join(state_dir, QUEUE_FILE), encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return out
    jobs = data.get("jobs") if isinstance(data, dict) else None
    if not isinstance(jobs, list):
        return out
    root = os.path.realpath(cache_dir)
    for job in jobs:
        request = job.get("request") if isinstance(job, dict) else None
        if not isinstance(request, dict) or job.get("state", "queued") not in _QUEUE_WRITING_STATES:
            continue
        repo_id, repo_type = request.get("repo_id"), request.get("repo_type", "model")
        if not isinstance(repo_id, str) or not isinstance(repo_type, str) or request.get("local_dir"):
            continue
        job_cache = request.get("cache_dir")
        if isinstance(job_cache, str) and job_cache and os.path.realpath(job_cache) != root:
            continue
        name = cache_folder(repo_type, repo_id)
        out.setdefault(name, []).append(
            Writer(
                name, "queue", lock_path, pid, _process_name(pid) if pid else "", f"job {job.get('state')}"
            )
        )
    return out


# -- per repo ------------------------------------------------------------------------------------


def find_writers(
    cache_dir: str | os.PathLike[str],
    repo_dirs: Iterable[str],
    *,
    state_dir: Path | None = None,
    now: float | None = None,
) -> WriterReport:
    """Live writers of the given repo folders (names like `models--org--name`) and their stale locks.

    `state_dir` is where hftui keeps its queue (default: `hftui.settings.state_dir()`); pass a
    directory that does not exist to leave queues out.
    """
    root = os.path.realpath(os.fspath(cache_dir))
    now = time.time() if now is None else now
    if state_dir is None:
        from hftui.settings import state_dir as default_state_dir

        state_dir = default_state_dir()
    names = sorted(set(repo_dirs))
    writers: dict[str, list[Writer]] = {}
    stale: list[StaleLock] = []
    held: list[tuple[str, str, tuple[int, int]]] = []
    held_etags: dict[str, set[str]] = {}
    for name in names:
        for lock in sorted(scan_locks(os.path.join(root, LOCKS_DIR_NAME, name), name), key=lambda x: x.path):
            if lock.held:
                held.append((name, lock.path, lock.key))
                held_etags.setdefault(name, set()).add(os.path.basename(lock.path)[: -len(".lock")])
            else:
                stale.append(StaleLock(lock.path, name, lock.size_on_disk))
    if held:
        holders = flock_holders() or {}
        for name, path, key in held:
            pid = holders.get(key)
            writers.setdefault(name, []).append(
                Writer(name, "lock", path, pid, _process_name(pid) if pid else "")
            )
    live_incomplete: list[tuple[str, str, tuple[int, int], float]] = []
    for name in names:
        blobs = os.path.join(root, name, "blobs")
        try:
            entries = [e for e in os.scandir(blobs) if e.name.endswith(".incomplete")]
        except OSError:
            continue
        for entry in entries:
            etag = entry.name[: -len(".incomplete")].split(".")[0]
            if etag in held_etags.get(name, ()):
                continue  # already reported through its lock
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            age = now - st.st_mtime
            if age < LIVE_WINDOW:
                live_incomplete.append((name, entry.path, (st.st_dev, st.st_ino), age))
    writing = _still_written([(path, key, age) for _, path, key, age in live_incomplete])
    for name, path, _key, age in live_incomplete:
        if path not in writing:
            continue  # nobody has it open: a download that died, not a writer
        pid = writing[path]
        writers.setdefault(name, []).append(
            Writer(name, "incomplete", path, pid, _process_name(pid) if pid else "", f"{max(0, int(age))} s")
        )
    wanted = set(names)
    for name, found in queued_writers(Path(state_dir), root).items():
        if name in wanted:
            writers.setdefault(name, []).extend(found)
    return WriterReport(writers, stale)


def _still_written(recent: list[tuple[str, tuple[int, int], float]]) -> dict[str, int | None]:
    """Of `.incomplete` files changed within `LIVE_WINDOW` ((path, (dev, ino), age)), those a
    process may still be writing -> its PID (None when we cannot see who)."""
    if not recent:
        return {}
    openers = _pids_with_open({key for _, key, _ in recent})
    every_process_visible = _sees_every_process()
    out: dict[str, int | None] = {}
    for path, key, _age in recent:
        pid = openers.get(key)
        if pid is None and every_process_visible:
            continue
        out[path] = pid
    return out


def incomplete_is_live(path: str, cache_dir: str | os.PathLike[str], *, now: float | None = None) -> bool:
    """Whether a download may still be writing this `.incomplete` file: its lock is held, or it
    changed within `LIVE_WINDOW` and a process has it open (or we cannot see every process)."""
    root = os.path.realpath(os.fspath(cache_dir))
    repo = os.path.relpath(os.path.abspath(path), root).split(os.sep, 1)[0]
    etag = os.path.basename(path)[: -len(".incomplete")].split(".")[0]
    if lock_is_held(os.path.join(root, LOCKS_DIR_NAME, repo, f"{etag}.lock")) is True:
        return True
    try:
        st = os.lstat(path)
    except OSError:
        return False
    age = (time.time() if now is None else now) - st.st_mtime
    return age < LIVE_WINDOW and bool(_still_written([(path, (st.st_dev, st.st_ino), age)]))
