"""Folders filled by `hf download --local-dir` / `snapshot_download(local_dir=...)`.

UI-free. huggingface_hub records each file it puts in a local dir in
`<local_dir>/.cache/huggingface/download/<path>.metadata`: the commit, the etag (the file's
content hash: SHA-256 for LFS files, the git blob id otherwise; the name the hub cache gives the
same content under `blobs/`) and when it was written (`hftui.core.compat` section 6). The metadata
does not name the repo: a hub cache holding a snapshot of that commit does (`commit_lookup`).

Each file gets a status, by the library's own rule for trusting its metadata:

* `ok` - on disk, unchanged since it was downloaded;
* `modified` - changed after the download (mtime more than 1 s after the recorded time): the
  library would hash it again and download it over;
* `missing` - the metadata names a file that is no longer there;
* `stale` - from another commit than the newest one the folder was filled from (left over when
  a later download did not include it);
* `invalid` - a metadata file that cannot be read (the library deletes it on its next read).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from hftui.core.cache.roots import RootEntry
from hftui.core.cache.tree import tree_size
from hftui.core.compat import local_dir_download_dir, parse_local_dir_metadata

METADATA_SUFFIX = ".metadata"
STATUSES = ("ok", "modified", "missing", "stale", "invalid")
FIND_MAX_DEPTH = 6

CommitLookup = Callable[[str], "str | None"]
"""A commit hash -> the repo a hub cache holds it for (`model acme/bert-mini`), or None."""


@dataclass(frozen=True)
class LocalFile:
    path: str
    """Path in the repo (and under the local dir)."""
    commit: str
    etag: str
    timestamp: float
    size: int
    status: str
    inode: tuple[int, int] | None = None


@dataclass
class LocalDirScan:
    path: str
    files: list[LocalFile] = field(default_factory=list)
    untracked: int = 0
    untracked_bytes: int = 0
    commit: str = ""
    """The newest commit the folder was filled from."""
    repo: str | None = None
    warnings: list[str] = field(default_factory=list)

    def counts(self) -> Counter[str]:
        return Counter(f.status for f in self.files)


def is_local_dir(path: str) -> bool:
    return os.path.isdir(local_dir_download_dir(Path(path)))


def find_local_dirs(base: str, *, max_depth: int = FIND_MAX_DEPTH) -> Iterator[str]:
    """Local dirs under `base` (itself included), at most `max_depth` folders down; symlinks are not
    followed and a local dir is not searched further (its subfolders are its files)."""
    base = os.path.abspath(os.path.expanduser(base))
    stack = [(base, 0)]
    while stack:
        folder, depth = stack.pop()
        if is_local_dir(folder):
            yield folder
            continue
        if depth >= max_depth:
            continue
        try:
            with os.scandir(folder) as it:
                children = sorted(
                    (e.path for e in it if e.is_dir(follow_symlinks=False) and e.name != ".cache"),
                    reverse=True,
                )
        except OSError:
            continue
        stack.extend((child, depth + 1) for child in children)


def scan_local_dir(path: str, *, commit_lookup: CommitLookup | None = None) -> LocalDirScan:
    """Read the download metadata of the local dir at `path` and check each file against the disk."""
    scan = LocalDirScan(path)
    meta_root = str(local_dir_download_dir(Path(path)))
    raw: list[tuple[str, str, str, float]] = []
    for meta in _metadata_files(meta_root):
        rel = os.path.relpath(meta, meta_root)[: -len(METADATA_SUFFIX)].replace(os.sep, "/")
        try:
            with open(meta, encoding="utf-8") as fh:
                parsed = parse_local_dir_metadata(fh.read())
        except (OSError, UnicodeDecodeError) as exc:
            parsed = None
            scan.warnings.append(f"{meta}: unreadable ({exc})")
        if parsed is None:
            scan.files.append(LocalFile(rel, "", "", 0.0, 0, "invalid"))
            scan.warnings.append(f"{meta}: not a download metadata file (commit, etag, time); ignored")
            continue
        raw.append((rel, *parsed))
    newest = max(raw, key=lambda item: item[3], default=None)
    scan.commit = newest[1] if newest is not None else ""
    for rel, commit, etag, timestamp in raw:
        target = os.path.join(path, *rel.split("/"))
        try:
            st = os.stat(target)
        except OSError:
            scan.files.append(LocalFile(rel, commit, etag, timestamp, 0, "missing"))
            scan.warnings.append(f"{path}: the download metadata names {rel}, which is no longer there")
            continue
        if st.st_mtime - 1 > timestamp:
            status = "modified"
            scan.warnings.append(f"{path}: {rel} changed after it was downloaded")
        elif commit != scan.commit:
            status = "stale"
        else:
            status = "ok"
        scan.files.append(LocalFile(rel, commit, etag, timestamp, st.st_size, status, (st.st_dev, st.st_ino)))
    tracked = {f.path for f in scan.files}
    for rel, size in _payload_files(path):
        if rel not in tracked:
            scan.untracked += 1
            scan.untracked_bytes += size
    if commit_lookup is not None and scan.commit:
        scan.repo = commit_lookup(scan.commit)
    return scan


def _metadata_files(meta_root: str) -> Iterator[str]:
    for folder, dirs, files in os.walk(meta_root):
        dirs.sort()
        for name in sorted(files):
            if name.endswith(METADATA_SUFFIX):
                yield os.path.join(folder, name)


def _payload_files(path: str) -> Iterator[tuple[str, int]]:
    """Files of the local dir outside `.cache/huggingface`, as (repo path, size)."""
    hf_dir = os.path.join(path, ".cache", "huggingface")
    for folder, dirs, files in os.walk(path):
        if folder == os.path.join(path, ".cache"):
            dirs[:] = [d for d in dirs if os.path.join(folder, d) != hf_dir]
        for name in files:
            full = os.path.join(folder, name)
            try:
                size = os.lstat(full).st_size
            except OSError:
                continue
            yield os.path.relpath(full, path).replace(os.sep, "/"), size


def local_dir_entry(
    path: str, *, device: int | None = None, commit_lookup: CommitLookup | None = None
) -> tuple[RootEntry, LocalDirScan]:
    """The local dir as one entry (deletable as a unit) and its file-by-file scan."""
    scan = scan_local_dir(path, commit_lookup=commit_lookup)
    sized = tree_size(path, device=device)
    counts = scan.counts()
    parts = [f"{counts[s]} {s}" for s in STATUSES if counts[s]]
    who = scan.repo or (f"commit {scan.commit[:12]}" if scan.commit else "no download metadata")
    detail = f"{who}: {len(scan.files)} files ({', '.join(parts) or 'none'})"
    if scan.untracked:
        detail += f", {scan.untracked} without metadata"
    problems = tuple(w for w in scan.warnings)
    entry = RootEntry(
        path,
        path,
        os.path.basename(path.rstrip(os.sep)) or path,
        "local-dir",
        sized.size,
        sized.files,
        sized.last_used,
        detail=detail,
        rebuild=(
            f"hf download {scan.repo.split(' ', 1)[-1]} --revision {scan.commit[:12]} --local-dir …"
            if scan.repo and scan.commit
            else "download it again (the metadata does not name the repo)"
        ),
        problems=problems,
    )
    return entry, scan


__all__ = [
    "STATUSES",
    "LocalDirScan",
    "LocalFile",
    "find_local_dirs",
    "is_local_dir",
    "local_dir_entry",
    "scan_local_dir",
]
