"""Scan every root (`hftui.core.cache.roots`) into one `RootsReport`: per root its totals, free
space, entries and warnings; across roots, the duplicate bytes.

UI-free. A root that fails (it vanished mid-scan, an unmount put another filesystem in its place,
permission denied) becomes a warning; the other roots are scanned as usual.

Duplicates: a hub cache names each blob by its etag (`blobs/<etag>`), and a local dir's download
metadata records the same etag for each file, so the same content is found wherever it is
without hashing anything. Copies that are hard links of one file (same inode) are one copy.
"""

from __future__ import annotations

import os
import threading
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from hftui.core.cache.roots import (
    KIND_TITLES,
    CheckedRoots,
    FsInfo,
    Root,
    RootEntry,
    RootProblem,
    still_there,
)

if TYPE_CHECKING:
    from hftui.core.cache.local_dirs import LocalDirScan
    from hftui.core.cache.reuse import ScanIndex
    from hftui.core.cache.scan import CacheReport


@dataclass
class RootScan:
    root: Root
    fs: FsInfo | None
    size: int = 0
    files: int = 0
    entries: list[RootEntry] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    failed: str = ""
    """Why the root could not be scanned (then its figures are 0)."""
    hub_report: CacheReport | None = None
    local_dir: LocalDirScan | None = None

    @property
    def title(self) -> str:
        return KIND_TITLES[self.root.kind]


@dataclass(frozen=True)
class Copy:
    root: str
    root_kind: str
    path: str
    """The file (a local dir's file, or a hub cache's blob)."""
    owner: str
    """What holds it: a local dir's repo path, or a hub repo's folder."""
    inode: tuple[int, int]


@dataclass(frozen=True)
class DuplicateGroup:
    """The same content (`etag`, `size` bytes) in several roots. `wasted` = bytes beyond one copy."""

    etag: str
    size: int
    copies: tuple[Copy, ...]

    @property
    def wasted(self) -> int:
        return self.size * (len({c.inode for c in self.copies}) - 1)

    def freeable(self) -> list[Copy]:
        """Local-dir copies whose deletion frees bytes and keeps the content: every one while a hub
        cache holds it (the cache is what the libraries reuse), else all but the first. A hub blob
        is never freed alone (its repo would break): two hub caches sharing content are freed by
        deleting the repo from one of them, in the Cache pane opened on it."""
        local = [c for c in self.copies if c.root_kind == "local-dir"]
        if any(c.root_kind == "hub" for c in self.copies):
            return local
        return local[1:]


@dataclass
class RootsReport:
    scans: list[RootScan] = field(default_factory=list)
    problems: list[RootProblem] = field(default_factory=list)
    duplicates: list[DuplicateGroup] = field(default_factory=list)

    @property
    def duplicate_bytes(self) -> int:
        return sum(group.wasted for group in self.duplicates)

    def hub_repo_duplicates(self) -> list[tuple[str, str, int, list[str]]]:
        """Content two hub caches share, per repo folder of a cache other than the opened one:
        (root, repo folder, bytes also held elsewhere, the other roots). Freeing that side means
        deleting the repo there (a blob is never deleted on its own)."""
        opened = {s.root.path for s in self.scans if s.root.source == "opened"}
        found: dict[tuple[str, str], tuple[int, set[str]]] = {}
        for group in self.duplicates:
            hubs = [c for c in group.copies if c.root_kind == "hub"]
            if len({c.root for c in hubs}) < 2:
                continue
            for copy in hubs:
                if copy.root in opened:
                    continue
                size, others = found.get((copy.root, copy.owner), (0, set()))
                others |= {c.root for c in hubs if c.root != copy.root}
                found[(copy.root, copy.owner)] = (size + group.size, others)
        return sorted(
            ((root, owner, size, sorted(others)) for (root, owner), (size, others) in found.items()),
            key=lambda item: (-item[2], item[0], item[1]),
        )

    def filesystems(self) -> list[tuple[FsInfo, list[RootScan]]]:
        """Each filesystem once, with the roots on it (free space is per filesystem)."""
        by_device: dict[int, tuple[FsInfo, list[RootScan]]] = {}
        for scan in self.scans:
            if scan.fs is not None:
                by_device.setdefault(scan.fs.device, (scan.fs, []))[1].append(scan)
        return list(by_device.values())

    def scan_of(self, path: str) -> RootScan | None:
        return next((s for s in self.scans if s.root.path == path), None)

    def all_warnings(self) -> list[tuple[str, str]]:
        """(path, message) of every problem: bad roots first, then each root's."""
        found = [(p.path, p.message) for p in self.problems]
        for scan in self.scans:
            if scan.failed:
                found.append((scan.root.path, scan.failed))
            found.extend((scan.root.path, w) for w in scan.warnings)
        return found


def scan_roots(
    checked: CheckedRoots,
    *,
    hub_reports: Mapping[str, CacheReport] | None = None,
    processes: int = 0,
    before_each: Callable[[Root], None] | None = None,
    indexes: Mapping[str, ScanIndex] | None = None,
) -> RootsReport:
    """Scan each checked root; hub caches whose report is in `hub_reports` (by root path) are not
    scanned again, those with an index in `indexes` (by root path) reuse its unchanged repos and
    update it. `before_each` runs before each root (progress; tests use it to pull a root away)."""
    report = RootsReport(problems=list(checked.problems))
    hub_scans: list[RootScan] = []
    for root in (r for r in checked.roots if r.kind == "hub"):
        if before_each is not None:
            before_each(root)
        scan = RootScan(root, checked.fs.get(root.path))
        report.scans.append(scan)
        hub_scans.append(scan)
        if _gone(scan):
            continue
        try:
            cached = (hub_reports or {}).get(root.path)
            if cached is None:
                from hftui.core.cache.scan import scan_cache

                cached = scan_cache(root.path, processes=processes, index=(indexes or {}).get(root.path))
            _fill_hub(scan, cached)
        except OSError as exc:
            scan.failed = f"{scan.title} {root.path} could not be scanned ({exc.strerror or exc}; unmounted?)"
    commits = _commit_index(hub_scans)
    datasets_repos = _dataset_index(hub_scans)
    for root in (r for r in checked.roots if r.kind != "hub"):
        if before_each is not None:
            before_each(root)
        scan = RootScan(root, checked.fs.get(root.path))
        report.scans.append(scan)
        if _gone(scan):
            continue
        device = scan.fs.device if scan.fs is not None else None
        try:
            if root.kind == "datasets":
                from hftui.core.cache.datasets_cache import scan_datasets_cache

                scan.entries, scan.warnings = scan_datasets_cache(
                    root.path, device=device, hub_lookup=datasets_repos.get
                )
            elif root.kind == "xet":
                from hftui.core.cache.xet_dir import scan_xet_dir

                scan.entries, scan.warnings = scan_xet_dir(root.path, device=device)
            else:
                from hftui.core.cache.local_dirs import local_dir_entry

                entry, local = local_dir_entry(root.path, device=device, commit_lookup=commits.get)
                scan.entries, scan.local_dir, scan.warnings = [entry], local, list(local.warnings)
        except OSError as exc:
            scan.failed = f"{scan.title} {root.path} could not be scanned ({exc.strerror or exc}; unmounted?)"
            scan.entries = []
            continue
        # A root pulled away while it was walked reads as empty or half-read: say so.
        gone = still_there(root, scan.fs)
        if gone is not None:
            scan.failed, scan.entries = gone, []
            continue
        scan.size = sum(e.size for e in scan.entries)
        scan.files = sum(e.files for e in scan.entries)
    report.duplicates = find_duplicates(report.scans)
    return report


def _gone(scan: RootScan) -> bool:
    why = still_there(scan.root, scan.fs)
    if why is not None:
        scan.failed = why
        return True
    return False


def _fill_hub(scan: RootScan, cache: CacheReport) -> None:
    from hftui.core.vocab import display_id

    scan.hub_report = cache
    scan.size = cache.size_on_disk
    for repo in cache.repos:
        revisions = len(repo.revisions)
        if repo.repo_type is None or repo.warnings:
            scan.warnings.extend(w.message for w in repo.warnings)
            continue
        scan.files += repo.nb_files
        scan.entries.append(
            RootEntry(
                scan.root.path,
                repo.repo_path,
                display_id(repo.repo_type, repo.repo_id),
                "hub-repo",
                repo.size_on_disk,
                repo.nb_files,
                repo.last_accessed,
                detail=f"{revisions} revision{'s' if revisions != 1 else ''}"
                + (f", refs {', '.join(sorted(repo.refs))}" if repo.refs else ""),
                rebuild="downloaded again from the Hub",
                # The opened cache deletes in the Cache pane; another one through the same plans here.
                deletable=scan.root.source != "opened",
            )
        )
    scan.warnings.extend(
        w.message
        for w in cache.warnings
        if w.kind != "warning" and w.path not in {r.repo_path for r in cache.repos}
    )


def _commit_index(hub_scans: Sequence[RootScan]) -> dict[str, str]:
    from hftui.core.vocab import display_id

    index: dict[str, str] = {}
    for scan in hub_scans:
        if scan.hub_report is None:
            continue
        for repo in scan.hub_report.repos:
            if repo.repo_type is None:
                continue
            for rev in repo.revisions:
                index.setdefault(rev.commit_hash, display_id(repo.repo_type, repo.repo_id))
    return index


def _dataset_index(hub_scans: Sequence[RootScan]) -> dict[str, str]:
    index: dict[str, str] = {}
    for scan in hub_scans:
        if scan.hub_report is None:
            continue
        for repo in scan.hub_report.repos:
            if repo.repo_type == "dataset" and not repo.warnings:
                index.setdefault(repo.repo_id, f"datasets/{repo.repo_id} in {scan.root.path}")
    return index


def _hub_blobs(scan: RootScan) -> list[tuple[str, str, int, tuple[int, int], str]]:
    """(etag, blob path, size, inode, repo folder) of every blob of a scanned hub cache."""
    found = []
    assert scan.hub_report is not None
    for repo in scan.hub_report.repos:
        blobs_dir = os.path.join(repo.repo_path, "blobs")
        try:
            with os.scandir(blobs_dir) as it:
                items = list(it)
        except OSError:
            continue
        for item in items:
            if item.name.endswith(".incomplete") or item.name.startswith("."):
                continue
            try:
                st = item.stat()  # a link into the shared store counts as the store's payload
            except OSError:
                continue
            found.append((item.name, item.path, st.st_size, (st.st_dev, st.st_ino), repo.name))
    return found


def find_duplicates(scans: Sequence[RootScan]) -> list[DuplicateGroup]:
    """Content present in more than one root, as distinct files; biggest waste first."""
    holders = [
        s
        for s in scans
        if not s.failed
        and (
            (s.root.kind == "hub" and s.hub_report is not None)
            or (s.root.kind == "local-dir" and s.local_dir)
        )
    ]
    if len(holders) < 2:
        return []  # nothing can be held twice: no blob of a big cache is even looked at
    by_etag: dict[str, list[tuple[Copy, int]]] = defaultdict(list)
    for scan in holders:
        if scan.root.kind == "hub" and scan.hub_report is not None:
            for etag, path, size, inode, owner in _hub_blobs(scan):
                by_etag[etag].append((Copy(scan.root.path, "hub", path, owner, inode), size))
        elif scan.root.kind == "local-dir" and scan.local_dir is not None:
            for f in scan.local_dir.files:
                if f.status in ("ok", "stale") and f.etag and f.inode is not None:
                    path = os.path.join(scan.root.path, *f.path.split("/"))
                    by_etag[f.etag].append((Copy(scan.root.path, "local-dir", path, f.path, f.inode), f.size))
    groups = []
    for etag, copies in by_etag.items():
        if len({c.root for c, _ in copies}) < 2:
            continue
        # The same inode reached twice (a repo's blob linked to the shared store) is one copy.
        unique: dict[tuple[int, int], Copy] = {}
        for copy, _ in copies:
            unique.setdefault(copy.inode, copy)
        if len(unique) < 2 or len({c.root for c in unique.values()}) < 2:
            continue
        size = max(size for _, size in copies)
        groups.append(DuplicateGroup(etag, size, tuple(unique.values())))
    groups.sort(key=lambda g: (-g.wasted, g.etag))
    return groups


@dataclass(frozen=True)
class RootsGlance:
    """The other roots in one line of the Cache pane's header: how many hold something, their
    bytes, the bytes held twice, and how many roots could not be read."""

    roots: int
    size: int
    duplicate_bytes: int
    problems: int

    @property
    def worth_showing(self) -> bool:
        return bool(self.roots or self.duplicate_bytes or self.problems)


_GLANCE_INDEXES: dict[str, ScanIndex] = {}
"""What the glances of this process last read of each other hub cache, for the next to reuse."""
_GLANCE_LOCK = threading.Lock()


def glance_roots(roots: Sequence[Root], opened: str, report: CacheReport | None) -> RootsGlance:
    """Scan `roots` but the hub cache at `opened` (its `report` is reused) and sum up the rest.
    Other hub caches reuse, unread, the repos unchanged since the last glance (`reuse`)."""
    from hftui.core.cache.reuse import ScanIndex
    from hftui.core.cache.roots import check_roots

    opened = os.path.abspath(opened)
    reuse = {opened: report} if report is not None and report.exists else {}
    with _GLANCE_LOCK:  # one glance at a time updates the indexes
        for root in roots:
            if root.kind == "hub" and root.path not in reuse and root.path not in _GLANCE_INDEXES:
                _GLANCE_INDEXES[root.path] = ScanIndex(os.path.realpath(root.path))
        scanned = scan_roots(check_roots(roots), hub_reports=reuse, indexes=_GLANCE_INDEXES)
    others = [s for s in scanned.scans if not (s.root.kind == "hub" and s.root.path == opened)]
    holding = [s for s in others if s.size > 0]
    return RootsGlance(
        roots=len(holding),
        size=sum(s.size for s in holding),
        duplicate_bytes=scanned.duplicate_bytes,
        problems=len(scanned.problems) + sum(1 for s in others if s.failed),
    )


__all__ = [
    "Copy",
    "DuplicateGroup",
    "RootScan",
    "RootsGlance",
    "RootsReport",
    "find_duplicates",
    "glance_roots",
    "scan_roots",
]
