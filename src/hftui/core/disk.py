"""Free space and filesystems of folders that may not exist yet (one rule for Browse, the queue and Cache).

A download's destination, or a cache on a new machine, often does not exist yet: its free space is
the free space of its nearest existing ancestor, which is where the folder will be created.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def nearest_existing(path: str | os.PathLike[str]) -> Path:
    """`path` itself if it exists, else its nearest existing ancestor (`~` expanded, made absolute)."""
    probe = Path(path).expanduser().absolute()
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    return probe


def free_space(path: str | os.PathLike[str] | None) -> tuple[int | None, str | None]:
    """(free bytes, the folder measured) for the filesystem that will hold `path`; free is None if unknown."""
    if path is None:
        return None, None
    probe = nearest_existing(path)
    try:
        return shutil.disk_usage(probe).free, str(probe)
    except OSError:
        return None, str(probe)


def free_bytes(path: str | os.PathLike[str]) -> int | None:
    """Free bytes on the filesystem that will hold `path` (None if it cannot be measured)."""
    return free_space(path)[0]


def device_of(path: str | os.PathLike[str]) -> int:
    """The filesystem (st_dev) that will hold `path`; -1 if unknown."""
    try:
        return nearest_existing(path).stat().st_dev
    except OSError:
        return -1


__all__ = ["device_of", "free_bytes", "free_space", "nearest_existing"]
