"""Sizes of folder trees outside the hub cache (datasets caches, local-dir downloads, the Xet dir).

UI-free. Symlinks are never followed (a link counts as itself, and cannot loop); a file with
several hard links inside one tree counts once, so the figure is what deleting the tree frees.
Sizes are file sizes (`st_size`), as `huggingface_hub.scan_cache_dir` counts the hub cache.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field


@dataclass
class TreeSize:
    """Bytes, files and newest times under one folder, and what could not be read."""

    size: int = 0
    files: int = 0
    newest_mtime: float = 0.0
    newest_atime: float = 0.0
    errors: list[str] = field(default_factory=list)
    inodes: set[tuple[int, int]] = field(default_factory=set)

    @property
    def last_used(self) -> float:
        return max(self.newest_mtime, self.newest_atime)


def tree_size(path: str, *, device: int | None = None) -> TreeSize:
    """Walk `path` without following symlinks. With `device`, folders on another filesystem
    (a mount inside the tree) are not entered: their bytes do not belong to this root."""
    result = TreeSize()
    _add(path, result, device)
    return result


def _add(path: str, result: TreeSize, device: int | None) -> None:
    try:
        st = os.lstat(path)
    except OSError as exc:
        result.errors.append(f"{path}: {exc.strerror or exc}")
        return
    if stat.S_ISDIR(st.st_mode):
        if device is not None and st.st_dev != device:
            result.errors.append(f"{path}: another filesystem is mounted here; not counted")
            return
        stack = [path]
        while stack:
            folder = stack.pop()
            try:
                with os.scandir(folder) as it:
                    entries = list(it)
            except OSError as exc:
                result.errors.append(f"{folder}: {exc.strerror or exc}")
                continue
            for entry in entries:
                try:
                    est = entry.stat(follow_symlinks=False)
                except OSError as exc:
                    result.errors.append(f"{entry.path}: {exc.strerror or exc}")
                    continue
                if stat.S_ISDIR(est.st_mode):
                    if device is not None and est.st_dev != device:
                        result.errors.append(f"{entry.path}: another filesystem is mounted here; not counted")
                        continue
                    stack.append(entry.path)
                else:
                    _count(est, result)
        return
    _count(st, result)


def _count(st: os.stat_result, result: TreeSize) -> None:
    key = (st.st_dev, st.st_ino)
    if st.st_nlink > 1:
        if key in result.inodes:
            return
        result.inodes.add(key)
    result.size += st.st_size
    result.files += 1
    result.newest_mtime = max(result.newest_mtime, st.st_mtime)
    result.newest_atime = max(result.newest_atime, st.st_atime)


__all__ = ["TreeSize", "tree_size"]
