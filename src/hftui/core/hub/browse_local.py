"""Which files of a remote revision the local Hub cache already holds.

UI-free, read-only, no network. Per file, one of:

* ``cached``  - present for this very commit (``snapshots/<commit>/<path>`` exists);
* ``other``   - not linked for this commit, but the same content is cached for another revision (or at another
  path of this commit: `other_revision` then holds ``=<that path>``): its blob
  (``blobs/<etag>``, the name huggingface_hub gives it) exists, a snapshot of another commit links to that
  blob, or another commit's cached tree listing (`get_cached_repo_tree`) has the same git blob id at a path
  whose file is present;
* ``missing`` - not cached at all.

`will_download(file)` is exactly `snapshot_download(dry_run=True)`'s rule for the cache destination
(``hf_hub_download``: pointer exists, or ``blobs/<etag>`` exists => not downloaded), so the preview's
"to download" bytes equal a dry run's. A file that is ``other`` only through a tree listing (a copy-mode
cache with no blob) is still counted as a download, because huggingface_hub would fetch it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from hftui.core.hub.remote import RemoteFile
from hftui.core.vocab import cache_folder

LocalState = Literal["cached", "other", "missing"]


@dataclass
class LocalIndex:
    """Local state of each file of one revision; `other_revision[path]` names where the content is cached."""

    commit: str
    states: dict[str, LocalState] = field(default_factory=dict)
    other_revision: dict[str, str] = field(default_factory=dict)
    blob_present: set[str] = field(default_factory=set)
    """Paths whose blob (``blobs/<etag>``) exists: huggingface_hub links them without downloading."""

    def state(self, path: str) -> LocalState:
        return self.states.get(path, "missing")

    def will_download(self, path: str, *, force: bool = False) -> bool:
        if force:
            return True
        return not (self.states.get(path) == "cached" or path in self.blob_present)

    def counts(self) -> dict[LocalState, int]:
        out: dict[LocalState, int] = {"cached": 0, "other": 0, "missing": 0}
        for s in self.states.values():
            out[s] += 1
        return out


def storage_folder(cache_dir: str | Path, repo_id: str, repo_type: str) -> Path:
    return Path(cache_dir) / cache_folder(repo_type, repo_id)


def _ref_names(storage: Path) -> dict[str, str]:
    """commit -> a ref name pointing to it (for display), from ``refs/``."""
    names: dict[str, str] = {}
    refs = storage / "refs"
    if not refs.is_dir():
        return names
    for root, _dirs, files in os.walk(refs):
        for name in files:
            p = Path(root) / name
            try:
                commit = p.read_text().strip()
            except OSError:
                continue
            names.setdefault(commit, p.relative_to(refs).as_posix())
    return names


def _snapshot_links(snapshot: Path) -> dict[str, str]:
    """path -> blob name for the symlinks of one snapshot folder (copies map to '')."""
    out: dict[str, str] = {}
    base = len(str(snapshot)) + 1
    for root, _dirs, files in os.walk(snapshot):
        for name in files:
            full = os.path.join(root, name)
            rel = full[base:].replace(os.sep, "/")
            try:
                out[rel] = os.path.basename(os.readlink(full))
            except OSError:
                out[rel] = ""
    return out


def local_index(
    cache_dir: str | Path | None,
    repo_id: str,
    repo_type: str,
    commit: str,
    files: Iterable[RemoteFile],
) -> LocalIndex:
    """Compare `files` (of `commit`) with what `cache_dir` holds. Cheap when the repo is not cached."""
    files = list(files)
    index = LocalIndex(commit)
    if cache_dir is None:
        index.states = {f.path: "missing" for f in files}
        return index
    storage = storage_folder(cache_dir, repo_id, repo_type)
    if not storage.is_dir():
        index.states = {f.path: "missing" for f in files}
        return index
    snapshots = storage / "snapshots"
    this = snapshots / commit
    here = _snapshot_links(this) if this.is_dir() else {}
    try:
        blobs = set(os.listdir(storage / "blobs"))
    except OSError:
        blobs = set()
    ref_names = _ref_names(storage)

    # Other revisions: blob name -> revision label, git blob id -> revision label (from cached listings).
    etag_where: dict[str, str] = {}
    oid_where: dict[str, str] = {}
    try:
        others = [d for d in os.listdir(snapshots) if d != commit]
    except OSError:
        others = []
    for other in sorted(others):
        label = ref_names.get(other, other[:10])
        links = _snapshot_links(snapshots / other)
        for blob in links.values():
            if blob:
                etag_where.setdefault(blob, label)
        tree = _cached_tree(cache_dir, repo_id, repo_type, other)
        for path, oid in tree.items():
            if path in links:
                oid_where.setdefault(oid, label)

    here_blobs = {blob: path for path, blob in sorted(here.items(), reverse=True) if blob}
    for f in files:
        if f.path in here and os.path.exists(this / f.path):
            index.states[f.path] = "cached"
            continue
        if f.etag in blobs:
            index.blob_present.add(f.path)
        where = etag_where.get(f.etag) or oid_where.get(f.blob_id)
        if where is None and f.etag in here_blobs:
            where = "=" + here_blobs[f.etag]  # the same content at another path of this commit
        if where is None and f.etag in blobs:
            where = "another revision"
        if where is not None:
            index.states[f.path] = "other"
            index.other_revision[f.path] = where
        else:
            index.states[f.path] = "missing"
    return index


def _cached_tree(cache_dir: str | Path, repo_id: str, repo_type: str, commit: str) -> dict[str, str]:
    from huggingface_hub import get_cached_repo_tree
    from huggingface_hub.errors import CachedRepoTreeNotFoundError

    try:
        entries = get_cached_repo_tree(repo_id, repo_type=repo_type, revision=commit, cache_dir=cache_dir)
    except (CachedRepoTreeNotFoundError, OSError, ValueError):
        return {}
    return {e.path: e.blob_id for e in entries}


__all__ = ["LocalIndex", "LocalState", "local_index", "storage_folder"]
