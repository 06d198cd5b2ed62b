"""Lock files under `<cache>/.locks/`, and whether a download holds them right now.

A lock file is *stale* when nobody holds it: we open it read-only (never creating it) and try a
non-blocking shared `flock`. If that succeeds the lock is released at once and the file is stale
(filelock leaves its lock files behind after every download, so stale locks are normal leftovers
that are safe to delete). If it fails with EWOULDBLOCK a download holds it. A lock we cannot open
is left out.
"""

from __future__ import annotations

import errno
import os

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

from hftui.core.cache.records import LockFile


def scan_locks(locks_dir: str, repo_dir: str) -> tuple[LockFile, ...]:
    found: list[LockFile] = []
    pending = [locks_dir]
    while pending:
        current = pending.pop()
        try:
            with os.scandir(current) as it:
                entries = list(it)
        except OSError:
            continue
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                pending.append(entry.path)
            elif entry.name.endswith(".lock") and entry.is_file(follow_symlinks=False):
                held = lock_is_held(entry.path)
                if held is None:
                    continue
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                found.append(
                    LockFile(entry.path, repo_dir, st.st_size, st.st_mtime, held, (st.st_dev, st.st_ino))
                )
    return tuple(found)


def flock_holders() -> dict[tuple[int, int], int] | None:
    """(st_dev, st_ino) -> PID of every `flock`/POSIX lock the kernel lists in /proc/locks, or None
    where that file cannot be read (not Linux, a sandbox). One read tells which lock files are
    held, and by whom, without opening any of them."""
    try:
        with open("/proc/locks", encoding="ascii", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    holders: dict[tuple[int, int], int] = {}
    for line in lines:
        parts = line.split()
        # "1: FLOCK  ADVISORY  WRITE 12345 fe:00:2254030 0 EOF"; blocked waiters start with "->".
        if len(parts) < 6 or parts[1] == "->":
            continue
        try:
            pid = int(parts[4])
            major, minor, inode = parts[5].split(":")
            holders.setdefault((os.makedev(int(major, 16), int(minor, 16)), int(inode)), pid)
        except ValueError:
            continue
    return holders


def lock_is_held(path: str) -> bool | None:
    """True if another open file holds a flock on `path`, False if not, None if we cannot tell."""
    if fcntl is None:  # Windows: no flock; we cannot tell
        return None
    flags = (
        os.O_RDONLY
        | getattr(os, "O_NOFOLLOW", 0)
        | getattr(os, "O_NONBLOCK", 0)
        | getattr(os, "O_CLOEXEC", 0)
    )
    try:
        fd = os.open(path, flags)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError as exc:
        return True if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN) else None
    else:
        return False
    finally:
        os.close(fd)  # also drops our shared lock at once
