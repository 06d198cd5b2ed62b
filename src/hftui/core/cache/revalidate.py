"""What a confirmation showed, and whether the disk still matches it at the moment of deletion.

UI-free. Every `DeletionPlan` made by `hftui.core.cache.cleanup` carries a `PlanBasis`: how it was
made (the marks, or "prune detached revisions", or the loose files/shared blobs it lists) and,
for each repo it touches, the library record it was computed from (`CachedRepoInfo`) plus the
identity of the repo folder (real path, symlink or not, device and inode). That record is exactly
what the confirmation's figures came from.

`cleanup.execute_plan(plan)` calls `revalidate(plan)` before it deletes anything:

* each touched repo is scanned again (`scan.rescan_repo`) and compared with its record: the
  revisions, the refs and where they point, every file with its blob, size and modification
  time, and the folder's identity. Access times are left out (reading a file is not a change);
* the live writers of those repos are looked up (`writers.find_writers`: held per-blob locks,
  `.incomplete` files being written, jobs in a running hftui's queue);
* loose files (orphaned `.incomplete` files, stale locks) must still have the size and time they
  had when planned, and nobody may hold them.

If anything differs, nothing is deleted and `execute_plan` returns `PlanChanged`: the plan made
the same way on the disk as it is now (new figures, new refusals for new writers) and one line
per difference. A UI shows `PlanChanged.plan` in a new confirmation and, on "yes", calls
`execute_plan` with that plan. Otherwise `execute_plan` returns its `ExecutionReport`.

API (what a caller needs)::

    plan = plan_deletion(infos, marks, cache_dir=root)      # or plan_detached / plan_loose_files / ...
    ... show plan.items, plan.expected_freed_size, plan.refused; the user confirms ...
    outcome = execute_plan(plan, cancel=..., progress=...)   # in a worker thread
    if isinstance(outcome, PlanChanged):
        ... show outcome.changes and a new confirmation of outcome.plan; nothing was deleted ...
    else:
        ... outcome is the ExecutionReport; rescan outcome.repos ...
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from huggingface_hub import CachedRepoInfo

    from hftui.core.cache.cleanup import DeletionPlan, Mark, RepoKey
    from hftui.core.cache.records import RepoRecord

BasisKind = Literal["marks", "detached", "loose", "shared"]


@dataclass(frozen=True)
class FolderIdentity:
    """A repo folder as it was when planned: a symlink or not, where it really is, which inode."""

    linked: bool
    real_path: str
    dev: int
    ino: int

    @classmethod
    def of(cls, path: str | os.PathLike[str]) -> FolderIdentity | None:
        try:
            st = os.lstat(path)
        except OSError:
            return None
        linked = stat.S_ISLNK(st.st_mode)
        if not linked and not stat.S_ISDIR(st.st_mode):
            return None
        return cls(linked, os.path.realpath(path), st.st_dev, st.st_ino)


@dataclass(frozen=True)
class RepoBasis:
    info: CachedRepoInfo
    folder: FolderIdentity | None

    @cached_property
    def fingerprint(self) -> Fingerprint:
        return fingerprint(self.info)


@dataclass(frozen=True)
class LooseBasis:
    size: int
    mtime: float


@dataclass(frozen=True)
class PlanBasis:
    kind: BasisKind
    marks: tuple[Mark, ...] = ()
    busy: Mapping[RepoKey, str] = field(default_factory=dict)
    repos: Mapping[RepoKey, RepoBasis] = field(default_factory=dict)
    loose: Mapping[Path, LooseBasis] = field(default_factory=dict)
    reach: Mapping[str, Iterable[tuple[RepoKey, str, str]]] = field(default_factory=dict)
    """The cross links the plan protected (see `cleanup.cross_links`); a new plan keeps them."""
    planned_at: float = field(default_factory=time.time)
    """When the plan was made: content of a repo folder older than this was there to be seen."""


@dataclass(frozen=True)
class PlanChanged:
    """The disk no longer matches the confirmed plan: nothing was deleted.

    `plan` is the plan made the same way on the disk as it is now (confirm it to go on);
    `changes` says what differs, one line each; `previous` is the plan that was confirmed."""

    plan: DeletionPlan
    changes: tuple[str, ...]
    previous: DeletionPlan

    @property
    def repos(self) -> tuple[RepoKey, ...]:
        """Repos whose rows a UI should refresh (the new plan's and the old one's)."""
        return tuple(sorted(set(self.previous.repos) | set(self.plan.repos)))

    def summary(self) -> str:
        first = self.changes[0] if self.changes else "the cache changed"
        more = f" (+{len(self.changes) - 1} more)" if len(self.changes) > 1 else ""
        return f"Nothing deleted: the cache changed since the confirmation: {first}{more}."


# -- fingerprints ----------------------------------------------------------------------------------

Fingerprint = dict[str, tuple[frozenset[str], dict[str, tuple[str, int, float]]]]


def fingerprint(info: CachedRepoInfo) -> Fingerprint:
    """commit -> (refs, {path in snapshot: (blob path, size, mtime)}); no access times."""
    out: Fingerprint = {}
    for rev in info.revisions:
        prefix = str(rev.snapshot_path) + "/"
        files: dict[str, tuple[str, int, float]] = {}
        for f in rev.files:
            path = str(f.file_path)
            rel = path[len(prefix) :] if path.startswith(prefix) else path
            files[rel] = (str(f.blob_path), f.size_on_disk, f.blob_last_modified)
        out[rev.commit_hash] = (frozenset(rev.refs), files)
    return out


def record_fingerprint(record: RepoRecord) -> Fingerprint:
    """The same as `fingerprint(record.to_cached_repo_info())`, without building the library's
    objects (4x cheaper: every repo of a plan is fingerprinted twice while it runs)."""
    blobs = record.blobs
    out: Fingerprint = {}
    for rev in record.revisions:
        files: dict[str, tuple[str, int, float]] = {}
        for rel, key in rev.files:
            size, _atime, mtime = blobs[key]
            files[rel] = (os.path.join(record.repo_path, key), size, mtime)
        out[rev.commit_hash] = (rev.refs, files)
    return out


def differences(name: str, before: Fingerprint | None, after: Fingerprint | None) -> list[str]:
    """Lines saying how a repo changed between two fingerprints (empty when it did not)."""
    if before is None and after is None:
        return []
    if after is None:
        return [f"{name}: gone or no longer readable as a repo"]
    if before is None:
        return [f"{name}: appeared"]
    if before == after:
        return []
    out: list[str] = []
    for commit in sorted(after.keys() - before.keys()):
        refs = ", ".join(sorted(after[commit][0])) or "no ref"
        out.append(f"{name}: new revision {commit[:8]} ({refs})")
    for commit in sorted(before.keys() - after.keys()):
        out.append(f"{name}: revision {commit[:8]} is gone")
    ref_to = {ref: c for c, (refs, _) in after.items() for ref in refs}
    ref_from = {ref: c for c, (refs, _) in before.items() for ref in refs}
    for ref in sorted(ref_from.keys() | ref_to.keys()):
        a, b = ref_from.get(ref), ref_to.get(ref)
        if a == b:
            continue
        if a is None:
            out.append(f"{name}: new ref {ref} -> {b[:8] if b else '?'}")
        elif b is None:
            out.append(f"{name}: ref {ref} was removed")
        else:
            out.append(f"{name}: ref {ref} moved from {a[:8]} to {b[:8]}")
    for commit in sorted(before.keys() & after.keys()):
        old_files, new_files = before[commit][1], after[commit][1]
        if old_files == new_files:
            continue
        added = sorted(new_files.keys() - old_files.keys())
        removed = sorted(old_files.keys() - new_files.keys())
        changed = sorted(p for p in old_files.keys() & new_files.keys() if old_files[p] != new_files[p])
        for label, paths in (("new file", added), ("file gone", removed), ("file changed", changed)):
            if paths:
                more = f" (+{len(paths) - 1} more)" if len(paths) > 1 else ""
                out.append(f"{name} @ {commit[:8]}: {label} {paths[0]}{more}")
    return out


def folder_differences(name: str, old: FolderIdentity | None, new: FolderIdentity | None) -> list[str]:
    if old == new:
        return []
    if new is None:
        return [f"{name}: the repo folder is gone or is no longer a folder"]
    if old is None:
        return [f"{name}: the repo folder appeared"]
    if new.linked and not old.linked:
        return [f"{name}: the repo folder was replaced by a symlink to {new.real_path}"]
    if old.linked and not new.linked:
        return [f"{name}: the repo folder is no longer a symlink"]
    if old.real_path != new.real_path:
        return [f"{name}: the repo folder now leads to {new.real_path}"]
    return [f"{name}: the repo folder was replaced by another folder"]


# -- rescans ---------------------------------------------------------------------------------------


def rescan(
    cache_dir: Path, basis: RepoBasis, inodes: dict[tuple[int, int], str] | None = None
) -> tuple[RepoRecord | None, FolderIdentity | None, str]:
    """The repo as it is now: its scan record (None when gone, corrupt or an alias), its folder
    identity, and the scanner's warning when it is corrupt or an alias of another folder. `inodes`
    is the shared store's listing (`scan.store_inodes`) when the caller took it already: an
    execution lists the store once, not once per repo (at 1,000 repos that was 32 s of listing)."""
    from hftui.core.cache.scan import rescan_repo

    repo_path = basis.info.repo_path
    folder = FolderIdentity.of(repo_path)
    if folder is None:
        return None, None, ""
    record = rescan_repo(cache_dir, repo_path.name, inodes=inodes)
    if record.warnings or record.repo_type is None:
        return None, folder, record.warnings[0].message if record.warnings else ""
    return record, folder, ""


def repo_changes(
    cache_dir: Path, key: RepoKey, basis: RepoBasis, inodes: dict[tuple[int, int], str] | None = None
) -> tuple[list[str], RepoRecord | None]:
    """(what changed since the plan, the repo's scan record now)."""
    name = f"{key[0]}/{key[1]}"
    record, folder, problem = rescan(cache_dir, basis, inodes)
    changes = folder_differences(name, basis.folder, folder)
    if not changes and problem:
        changes = [f"{name}: {problem}"]
    if not changes:
        changes = differences(name, basis.fingerprint, record_fingerprint(record) if record else None)
    return changes, record


def loose_changes(path: Path, basis: LooseBasis) -> str | None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None  # gone: reported as "already gone", nothing to confirm again
    except OSError as exc:
        return f"{path.name}: cannot be read ({exc.strerror or exc})"
    if st.st_size != basis.size or st.st_mtime != basis.mtime:
        return f"{path.name}: written to since it was planned ({basis.size} -> {st.st_size} bytes)"
    return None
