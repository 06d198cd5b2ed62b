"""What a deletion really frees: one implementation of "bytes that leave the disk".

UI-free. Every "deleting frees" and "freed" figure hftui shows (the marks panel, the
confirmation, the per-revision column of the detail, the prune previews, the toast after a
deletion) comes from `LinkTally`.

The rule is the kernel's: a file's bytes leave the disk when its last hard link goes. A plan
removes a set of directory entries (snapshot entries, blobs, whole repo or snapshot folders, loose
files, shared-store payloads); the tally walks them the way the executor removes them (never
following a symlink: a linked folder is unlinked, what it points to stays) and groups the regular
files it finds by inode. An inode is freed when the plan removes as many of its links as
`st_nlink` says it has, so a blob hard-linked from elsewhere (inside or outside the cache) frees
nothing, and two links removed by the same plan free it once.

Only payload counts: blobs (`.incomplete` files included), files stored in a snapshot, shared
store payloads and loose files. Refs, `trees/` listings, manifests and locks are metadata of a
few bytes each, which the library does not count either.

After the deletion the same tally says what went: an inode counted before is freed when none of
the links the plan meant to remove is still there.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field

# Folders of a repo whose regular files are payload (see module doc).
_PAYLOAD_DIRS = ("blobs", "snapshots")

Inode = tuple[int, int]


@dataclass
class LinkTally:
    """Regular files a plan removes, by inode: size, link count and the links the plan removes."""

    sizes: dict[Inode, int] = field(default_factory=dict)
    nlinks: dict[Inode, int] = field(default_factory=dict)
    links: dict[Inode, set[str]] = field(default_factory=dict)

    def add_file(self, path: str | os.PathLike[str]) -> None:
        """One entry the plan unlinks (a symlink or a missing path adds nothing)."""
        path = os.fspath(path)
        try:
            st = os.lstat(path)
        except OSError:
            return
        self._add(path, st)

    def _add(self, path: str, st: os.stat_result) -> None:
        if not stat.S_ISREG(st.st_mode):
            return
        inode = (st.st_dev, st.st_ino)
        self.sizes[inode] = st.st_size
        self.nlinks[inode] = st.st_nlink
        self.links.setdefault(inode, set()).add(os.path.abspath(path))

    def add_tree(self, path: str | os.PathLike[str], *, repo: bool = False) -> None:
        """A folder the plan removes with everything below it (`repo`: only its payload folders).
        A symlink is only unlinked, so it adds nothing."""
        top = os.fspath(path)
        try:
            if not stat.S_ISDIR(os.lstat(top).st_mode):
                self.add_file(top)  # a symlink adds nothing
                return
        except OSError:
            return
        roots = [os.path.join(top, name) for name in _PAYLOAD_DIRS] if repo else [top]
        for root in roots:
            try:
                if not stat.S_ISDIR(os.lstat(root).st_mode):
                    continue  # missing, or a symlinked folder: only the link goes
            except OSError:
                continue
            pending = [root]
            while pending:
                current = pending.pop()
                try:
                    with os.scandir(current) as it:
                        entries = list(it)
                except OSError:
                    continue
                for entry in entries:
                    try:
                        st = entry.stat(follow_symlinks=False)
                    except OSError:
                        continue
                    if stat.S_ISDIR(st.st_mode):
                        pending.append(entry.path)
                    else:
                        self._add(entry.path, st)

    def freed_inodes(self) -> list[Inode]:
        return [inode for inode, links in self.links.items() if len(links) >= self.nlinks[inode]]

    @property
    def freed_size(self) -> int:
        """Bytes that leave the disk if every planned removal happens."""
        return sum(self.sizes[inode] for inode in self.freed_inodes())

    def freed_size_now(self) -> int:
        """After execution: bytes of the counted inodes none of whose planned links is still there."""
        return sum(
            self.sizes[inode]
            for inode in self.freed_inodes()
            if not any(os.path.lexists(link) for link in self.links[inode])
        )

    def paths(self) -> Iterable[str]:
        for links in self.links.values():
            yield from links


def tally_files(paths: Iterable[str | os.PathLike[str]]) -> LinkTally:
    tally = LinkTally()
    for path in paths:
        tally.add_file(path)
    return tally


def path_in(path: str | os.PathLike[str], folder: str | os.PathLike[str]) -> bool:
    """`path` is `folder` or lies below it (textually, on absolute paths)."""
    path, folder = os.path.abspath(path), os.path.abspath(folder)
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


__all__ = ["LinkTally", "path_in", "tally_files"]
