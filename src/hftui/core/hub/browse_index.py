"""The folder structure of a flat file listing, for a tree that is filled one folder at a time.

UI-free. Built once per listing (in a worker thread); the tree asks `children(folder)` when a folder is
expanded, so a 20,000-file repo only ever materialises the nodes the user opens.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from hftui.core.hub.remote import RemoteFile


@dataclass(frozen=True)
class RemoteFolder:
    path: str
    """Folder path in the repo, no trailing slash ("" is the root)."""

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]


@dataclass
class FolderIndex:
    folders: dict[str, list[str]] = field(default_factory=dict)
    """folder -> its direct subfolders (full paths), sorted."""
    files: dict[str, list[RemoteFile]] = field(default_factory=dict)
    """folder -> its direct files, sorted by path."""
    totals: dict[str, tuple[int, int]] = field(default_factory=dict)
    """folder -> (files, bytes) below it, recursively."""
    by_path: dict[str, RemoteFile] = field(default_factory=dict)

    def children(self, folder: str) -> list[RemoteFolder | RemoteFile]:
        """Subfolders first, then files."""
        subs: list[RemoteFolder | RemoteFile] = [RemoteFolder(p) for p in self.folders.get(folder, [])]
        return subs + list(self.files.get(folder, []))

    def child_count(self, folder: str) -> int:
        return len(self.folders.get(folder, ())) + len(self.files.get(folder, ()))

    def is_folder(self, path: str) -> bool:
        return path in self.totals


def build_index(files: Iterable[RemoteFile]) -> FolderIndex:
    index = FolderIndex()
    subfolders: dict[str, set[str]] = {"": set()}
    totals: dict[str, list[int]] = {"": [0, 0]}
    for f in files:
        index.by_path[f.path] = f
        parts = f.path.split("/")
        parent = "/".join(parts[:-1])
        index.files.setdefault(parent, []).append(f)
        prefix = ""
        t = totals[""]
        t[0] += 1
        t[1] += f.size
        for part in parts[:-1]:
            child = f"{prefix}/{part}" if prefix else part
            subfolders.setdefault(prefix, set()).add(child)
            subfolders.setdefault(child, set())
            t = totals.setdefault(child, [0, 0])
            t[0] += 1
            t[1] += f.size
            prefix = child
    index.folders = {k: sorted(v) for k, v in subfolders.items()}
    for v in index.files.values():
        v.sort(key=lambda f: f.path)
    index.totals = {k: (v[0], v[1]) for k, v in totals.items()}
    return index


__all__ = ["FolderIndex", "RemoteFolder", "build_index"]
