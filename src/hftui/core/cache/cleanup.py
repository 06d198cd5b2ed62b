"""Deletion plans on top of huggingface_hub's `DeleteCacheStrategy`, and their safe execution.

UI-free. One implementation of the deletion rules: the library's. Marks (whole repos, revisions,
files or folders inside a revision) become at most two library strategies per group of repos:

* every marked repo contributes all its revisions, and every marked revision itself, to ONE
  `HFCacheInfo.delete_revisions(...)` call (the library turns "all revisions of a repo" into
  deleting the repo directory);
* marked files/folders whose revision is not already being deleted (those are subsumed) go to
  `HFCacheInfo.delete_files(...)`, computed on the cache *as it will be after* the revisions are
  gone. That way a blob shared between a deleted revision and a deleted file is freed (neither
  strategy alone would free it), and the two strategies never count the same blob twice.

`HFCacheInfo` is built from just the touched repos. The library's `delete_revisions` matches
revisions by commit hash across all repos it is given, and two repos with identical content can
share a commit hash, so repos whose hashes collide are planned in separate groups.

What a plan frees is not the sum of the strategies' `expected_freed_size`: each strategy judges
a shared-store payload on its own (the library frees it only when every manifest reference is in
*that* strategy), so a payload referenced by a marked repo and by a marked file of another repo,
or by two repos planned apart because their commit hashes collide, would be counted by none of
them, and the library counts a blob hard-linked elsewhere or reached through a symlinked folder
as freed. `hftui.core.cache.freed.LinkTally` counts the combined truth instead (see there).

`reach` (from `cross_links(...)` over the whole scan) lists the entries that reach a blob or a
store payload from outside their own repo folder. A target some entry that survives the plan
still reaches is never deleted: such a blob is kept, such a payload is not swept, and a repo or
revision folder that holds one is refused.

Execution does not call `DeleteCacheStrategy.execute()`: that stops at the first permission
error on a snapshot entry and only logs the rest, and it removes a repo folder whole. `execute_plan`
first checks the disk against what the plan was made from (`hftui.core.cache.revalidate`: a
changed repo or a new writer gives `PlanChanged` and nothing is deleted), then goes repo by repo:
each is checked again right before its turn and done whole or not started; inside it, snapshots
(only if no ref points to them right now), refs, blobs (only if no remaining entry links to
them), and a repo folder only once it holds nothing the confirmation did not show. Any path
outside the cache, or reaching another repo folder through a symlink, is refused; a symlink is
unlinked, never followed; the filesystem is re-checked at the end so the report says what is
really gone. The rules, with their messages: docs/deletion-safety.md.
"""

from __future__ import annotations

import dataclasses
import errno
import os
import shutil
import stat
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal, cast

from hftui.core import compat
from hftui.core.cache.freed import LinkTally, path_in

if TYPE_CHECKING:
    from huggingface_hub import CachedFileInfo, CachedRepoInfo, CachedRevisionInfo, DeleteCacheStrategy

    from hftui.core.cache.revalidate import PlanBasis, PlanChanged, RepoBasis
    from hftui.core.cache.scan import RepoRecord

RepoKey = tuple[str, str]
"""(repo_type, repo_id)."""

MarkKind = Literal["repo", "revision", "path"]

Entry = tuple[RepoKey, str, str]
"""A snapshot entry: (repo key, commit hash, path in the snapshot)."""

Reach = Mapping[str, Iterable[Entry]]
"""Absolute target path -> the entries that reach it from outside their own repo folder."""


@dataclass(frozen=True, order=True)
class Mark:
    """Something the user marked for deletion.

    `path` is a '/'-separated path inside the revision's snapshot; with `is_dir` it names a folder
    and covers every file below it.
    """

    kind: MarkKind
    repo_type: str
    repo_id: str
    commit_hash: str = ""
    path: str = ""
    is_dir: bool = False

    @property
    def repo_key(self) -> RepoKey:
        return (self.repo_type, self.repo_id)

    @classmethod
    def repo(cls, repo_type: str, repo_id: str) -> Mark:
        return cls("repo", repo_type, repo_id)

    @classmethod
    def revision(cls, repo_type: str, repo_id: str, commit_hash: str) -> Mark:
        return cls("revision", repo_type, repo_id, commit_hash)

    @classmethod
    def file(cls, repo_type: str, repo_id: str, commit_hash: str, path: str, *, is_dir: bool = False) -> Mark:
        return cls("path", repo_type, repo_id, commit_hash, path.strip("/"), is_dir)

    @property
    def label(self) -> str:
        name = f"{self.repo_type}/{self.repo_id}"
        if self.kind == "repo":
            return name
        if self.kind == "revision":
            return f"{name} @ {self.commit_hash[:8]}"
        return f"{name} @ {self.commit_hash[:8]} : {self.path}{'/' if self.is_dir else ''}"


@dataclass(frozen=True)
class PlanItem:
    """One line of the confirmation: what a mark covers and its size (before sharing is taken into account)."""

    mark: Mark
    size_on_disk: int
    nb_files: int
    note: str = ""
    covered: bool = False
    """Inside another marked item (a file of a marked revision, a revision of a marked repo): it is
    listed, but its bytes are already in the other item's, so totals leave it out."""


@dataclass(frozen=True)
class Refusal:
    mark: Mark
    reason: str


@dataclass(frozen=True)
class LooseFile:
    """A file deleted on its own (orphaned `.incomplete`, stale lock)."""

    path: Path
    size_on_disk: int
    kind: str  # "incomplete" | "lock" | "kept" (partial bytes kept for a resume, hftui.core.downloads.kept)


@dataclass(frozen=True)
class DeletionPlan:
    """What would be deleted and what it frees; nothing has happened yet."""

    cache_dir: Path
    items: tuple[PlanItem, ...] = ()
    strategies: tuple[DeleteCacheStrategy, ...] = ()
    refused: tuple[Refusal, ...] = ()
    not_found: tuple[Mark, ...] = ()
    loose_files: tuple[LooseFile, ...] = ()
    shared_blobs: tuple[tuple[Path, int], ...] = ()
    """Unreferenced entries of the shared blob store (swept under the library's lock)."""
    blob_entries: Mapping[Path, tuple[Path, ...]] = field(default_factory=dict)
    """blob path -> snapshot entries of the deleted revisions/files that point to it."""
    blob_sizes: Mapping[Path, int] = field(default_factory=dict)
    ref_snapshots: Mapping[Path, Path] = field(default_factory=dict)
    """ref file -> snapshot dir of the revision it names (a ref is kept while its snapshot survives)."""
    repos: tuple[RepoKey, ...] = ()
    tally: LinkTally = field(default_factory=LinkTally)
    """The regular files the plan removes, by inode: the one source of `expected_freed_size`."""
    protected: Mapping[Path, str] = field(default_factory=dict)
    """Targets an entry outside the plan still reaches -> why; the executor never removes them."""
    basis: PlanBasis | None = None
    """What the plan was made from (see `hftui.core.cache.revalidate`): `execute_plan` checks the
    disk against it before deleting anything."""

    @property
    def total_size(self) -> int:
        """Sum of the marked items' sizes (what the table shows next to each mark), each byte once:
        an item inside another marked item is not added again."""
        return (
            sum(item.size_on_disk for item in self.items if not item.covered)
            + sum(f.size_on_disk for f in self.loose_files)
            + sum(size for _, size in self.shared_blobs)
        )

    @property
    def item_count(self) -> int:
        """What the plan deletes, counted as the user marked it (covered items not twice)."""
        return (
            sum(1 for item in self.items if not item.covered) + len(self.loose_files) + len(self.shared_blobs)
        )

    @property
    def expected_freed_size(self) -> int:
        """Bytes the deletion really frees: the payloads whose last link it removes (see `freed`)."""
        return self.tally.freed_size

    @property
    def library_freed_size(self) -> int:
        """The sum of the library's per-strategy figures, plus loose files (for comparison only:
        see the module doc for the cases where it is wrong)."""
        return (
            sum(s.expected_freed_size for s in self.strategies)
            + sum(f.size_on_disk for f in self.loose_files)
            + sum(size for _, size in self.shared_blobs)
        )

    @property
    def is_empty(self) -> bool:
        return not (self.strategies or self.loose_files or self.shared_blobs)

    def paths(self) -> list[tuple[str, Path]]:
        """Every path the plan would remove, with its kind, in execution order."""
        out: list[tuple[str, Path]] = []
        for kind in ("files", "repos", "snapshots", "refs", "blobs"):
            for strategy in self.strategies:
                out.extend((kind.rstrip("s"), p) for p in sorted(getattr(strategy, kind)))
        out.extend((f.kind, f.path) for f in self.loose_files)
        out.extend(("shared-blob", p) for p, _ in self.shared_blobs)
        return out


# -- planning ----------------------------------------------------------------------------------


def _hf_cache_info(repos: Iterable[CachedRepoInfo], cache_dir: Path):  # -> HFCacheInfo
    from huggingface_hub import HFCacheInfo

    repos = frozenset(repos)
    return HFCacheInfo(
        size_on_disk=sum(r.size_on_disk for r in repos),
        repos=repos,
        incomplete_files=frozenset(),
        warnings=[],
        cache_dir=cache_dir,
    )


def _rel(file: CachedFileInfo, revision: CachedRevisionInfo) -> str:
    try:
        return file.file_path.relative_to(revision.snapshot_path).as_posix()
    except ValueError:
        return file.file_name


def files_under(revision: CachedRevisionInfo, path: str, *, is_dir: bool) -> list[CachedFileInfo]:
    """The cached files a file/folder mark covers ('' with is_dir covers the whole revision)."""
    path = path.strip("/")
    if not is_dir:
        return [f for f in revision.files if _rel(f, revision) == path]
    prefix = f"{path}/" if path else ""
    return [f for f in revision.files if _rel(f, revision).startswith(prefix)]


def _unique_size(files: Iterable[CachedFileInfo]) -> int:
    return sum({f.blob_path: f.size_on_disk for f in files}.values())


def _hash_groups(repos: Sequence[CachedRepoInfo]) -> list[list[CachedRepoInfo]]:
    """Split repos so that no commit hash appears twice in one group (see module doc)."""
    groups: list[tuple[set[str], list[CachedRepoInfo]]] = []
    for repo in repos:
        hashes = {rev.commit_hash for rev in repo.revisions}
        for seen, members in groups:
            if not seen & hashes:
                seen |= hashes
                members.append(repo)
                break
        else:
            groups.append((set(hashes), [repo]))
    return [members for _, members in groups]


def _classify(
    repos: Mapping[RepoKey, CachedRepoInfo],
    marks: Sequence[Mark],
    busy: Mapping[RepoKey, str],
    blocked: Mapping[Mark, str],
) -> tuple[
    list[PlanItem],
    list[Refusal],
    list[Mark],
    dict[RepoKey, set[str]],
    dict[RepoKey, set[CachedFileInfo]],
]:
    refused: list[Refusal] = []
    not_found: list[Mark] = []
    items: list[PlanItem] = []
    revisions_by_repo: dict[RepoKey, set[str]] = defaultdict(set)
    path_marks: list[tuple[Mark, CachedRevisionInfo]] = []
    marked = set(marks)

    for mark in marks:
        if mark.repo_key in busy:
            refused.append(Refusal(mark, busy[mark.repo_key]))
            continue
        if mark in blocked:
            refused.append(Refusal(mark, blocked[mark]))
            continue
        repo = repos.get(mark.repo_key)
        if repo is None:
            not_found.append(mark)
            continue
        if mark.kind == "repo":
            revisions_by_repo[mark.repo_key].update(r.commit_hash for r in repo.revisions)
            note = LINKED_REPO_NOTE if os.path.islink(repo.repo_path) else ""
            items.append(PlanItem(mark, repo.size_on_disk, repo.nb_files, note))
            continue
        revision = next((r for r in repo.revisions if r.commit_hash == mark.commit_hash), None)
        if revision is None:
            not_found.append(mark)
            continue
        if mark.kind == "revision":
            revisions_by_repo[mark.repo_key].add(mark.commit_hash)
            in_repo = Mark.repo(*mark.repo_key) in marked
            note = "already covered by the marked repo" if in_repo else ""
            items.append(PlanItem(mark, revision.size_on_disk, revision.nb_files, note, covered=in_repo))
        else:
            path_marks.append((mark, revision))

    selected_files: dict[RepoKey, set[CachedFileInfo]] = defaultdict(set)
    for mark, revision in path_marks:
        covered = files_under(revision, mark.path, is_dir=mark.is_dir)
        if not covered:
            not_found.append(mark)
            continue
        subsumed = revision.commit_hash in revisions_by_repo.get(mark.repo_key, ())
        in_folder = any(
            other.is_dir and other.commit_hash == mark.commit_hash and mark.path.startswith(other.path + "/")
            for other, _ in path_marks
            if other.repo_key == mark.repo_key and other != mark
        )
        note = (
            "already covered by a marked revision or repo"
            if subsumed
            else "already covered by a marked folder"
            if in_folder
            else ""
        )
        items.append(PlanItem(mark, _unique_size(covered), len(covered), note, covered=subsumed or in_folder))
        if not subsumed:
            selected_files[mark.repo_key].update(covered)
    return items, refused, not_found, revisions_by_repo, selected_files


def _protected_targets(
    repos: Mapping[RepoKey, CachedRepoInfo],
    reach: Reach,
    revisions_by_repo: Mapping[RepoKey, set[str]],
    selected_files: Mapping[RepoKey, set[CachedFileInfo]],
) -> dict[str, Entry]:
    """Targets some entry that the plan keeps still reaches -> one such entry."""
    selected: set[Entry] = set()
    for key, files in selected_files.items():
        repo = repos[key]
        for revision in repo.revisions:
            for f in files & revision.files:
                selected.add((key, revision.commit_hash, _rel(f, revision)))
    protected: dict[str, Entry] = {}
    for target, entries in reach.items():
        for entry in entries:
            key, commit, _path = entry
            if commit in revisions_by_repo.get(key, ()) or entry in selected:
                continue
            protected[os.path.abspath(target)] = entry
            break
    return protected


def _targets_by_folder(protected: Mapping[str, Entry]) -> dict[str, list[tuple[int, str, Entry]]]:
    """Every folder above each protected target -> (its order in `protected`, target, entry):
    the targets `path_in(target, folder)` holds for, found without testing every target."""
    out: dict[str, list[tuple[int, str, Entry]]] = defaultdict(list)
    for order, (target, entry) in enumerate(protected.items()):
        folder = target  # already absolute (see _protected_targets)
        while True:
            out[folder].append((order, target, entry))
            parent = os.path.dirname(folder)
            if parent == folder:
                break
            folder = parent
    return out


def _mark_path(repo: CachedRepoInfo, mark: Mark) -> Path:
    revision = next((r for r in repo.revisions if r.commit_hash == mark.commit_hash), None)
    snapshot = (
        revision.snapshot_path if revision is not None else repo.repo_path / "snapshots" / mark.commit_hash
    )
    return snapshot / mark.path if mark.path else snapshot


def _describe_entry(entry: Entry) -> str:
    (repo_type, repo_id), commit, path = entry
    return f"{repo_type}/{repo_id} @ {commit[:8]} : {path}"


def plan_deletion(
    repos: Mapping[RepoKey, CachedRepoInfo],
    marks: Iterable[Mark],
    *,
    cache_dir: Path,
    busy: Mapping[RepoKey, str] | None = None,
    reach: Reach | None = None,
    check_writers: bool = True,
    state_dir: Path | None = None,
) -> DeletionPlan:
    """Turn marks into a plan. `repos` must hold (at least) every repo a mark touches.

    `busy` maps repos that must not be touched (e.g. an active download) to the reason shown.
    `reach` (`cross_links(...)` of the whole scan) protects what entries outside the plan reach.
    With `check_writers`, repos with a live writer (`hftui.core.cache.writers`: a held lock, an
    `.incomplete` file being written, a job in a running hftui's queue, `state_dir` being where
    hftui keeps its queue) are refused too, with who writes.
    """
    given_busy = dict(busy or {})
    reach = reach or {}
    marks = sorted(set(marks))
    marks_of: dict[RepoKey, list[Mark]] = defaultdict(list)
    for mark in marks:
        marks_of[mark.repo_key].append(mark)
    busy = dict(given_busy)
    if check_writers:
        busy.update(_writer_reasons(repos, {m.repo_key for m in marks} - set(busy), cache_dir, state_dir))
    blocked: dict[Mark, str] = {}
    while True:
        items, refused, not_found, revisions_by_repo, selected_files = _classify(repos, marks, busy, blocked)
        protected = _protected_targets(repos, reach, revisions_by_repo, selected_files)
        # Each repo looks only at the targets inside its own folder (every repo against every
        # target made planning a prune of 5,000 repos quadratic: seconds per thousand repos).
        inside = _targets_by_folder(protected)
        # A folder removed as a whole cannot keep one file: refuse the marks that remove a folder
        # holding a target still in use (and plan again: the refused repo's entries now stay too).
        newly: dict[Mark, str] = {}
        for key, gone in revisions_by_repo.items():
            repo = repos[key]
            everything = gone >= {r.commit_hash for r in repo.revisions}
            candidates = set(inside.get(os.path.abspath(repo.repo_path), ()))
            for revision in repo.revisions:
                if revision.commit_hash in gone:
                    candidates.update(inside.get(os.path.abspath(revision.snapshot_path), ()))
            for _order, target, entry in sorted(candidates):
                why = f"{target} is still used by {_describe_entry(entry)}"
                if everything and not os.path.islink(repo.repo_path) and path_in(target, repo.repo_path):
                    newly.update({m: why for m in marks_of[key] if m.kind != "path"})
                for revision in repo.revisions:
                    if revision.commit_hash in gone and path_in(target, revision.snapshot_path):
                        newly.update(
                            {
                                m: why
                                for m in marks_of[key]
                                if m.kind == "repo" or (m.kind == "revision" and m.commit_hash in gone)
                            }
                        )
        # A file mark that would remove an entry another entry links to (a link into a snapshot).
        for key, covered in selected_files.items():
            for f in covered:
                user = protected.get(os.path.abspath(f.file_path))
                if user is None:
                    continue
                why = f"{f.file_path} is still used by {_describe_entry(user)}"
                for m in marks_of[key]:
                    if m.kind == "path" and path_in(f.file_path, _mark_path(repos[key], m)):
                        newly[m] = why
        newly = {m: why for m, why in newly.items() if m not in blocked}
        if not newly:
            break
        blocked.update(newly)

    touched_keys = sorted(set(revisions_by_repo) | set(selected_files))
    strategies: list[DeleteCacheStrategy] = []
    blob_entries: dict[Path, list[Path]] = defaultdict(list)
    blob_sizes: dict[Path, int] = {}
    ref_snapshots: dict[Path, Path] = {}
    touched = [repos[key] for key in touched_keys]
    for group in _hash_groups(touched):
        hashes = [
            h for repo in group for h in sorted(revisions_by_repo.get((repo.repo_type, repo.repo_id), ()))
        ]
        if hashes:
            strategies.append(_hf_cache_info(group, cache_dir).delete_revisions(*hashes))
        # The cache as it will be once those revisions are gone.
        after: list[CachedRepoInfo] = []
        for repo in group:
            gone = revisions_by_repo.get((repo.repo_type, repo.repo_id), set())
            kept = frozenset(r for r in repo.revisions if r.commit_hash not in gone)
            if kept:
                after.append(dataclasses.replace(repo, revisions=kept))
            for rev in repo.revisions:
                if rev.commit_hash in gone:
                    for ref in rev.refs:
                        ref_snapshots[repo.repo_path / "refs" / ref] = rev.snapshot_path
                    for f in rev.files:
                        blob_entries[f.blob_path].append(f.file_path)
                        blob_sizes[f.blob_path] = f.size_on_disk
        files = [f for repo in group for f in selected_files.get((repo.repo_type, repo.repo_id), ())]
        for f in files:
            blob_entries[f.blob_path].append(f.file_path)
            blob_sizes[f.blob_path] = f.size_on_disk
        if files:
            strategies.append(_hf_cache_info(after, cache_dir).delete_files(*files))

    in_use = {Path(target): f"still used by {_describe_entry(entry)}" for target, entry in protected.items()}
    in_use.update(_blobs_still_used(repos, touched_keys, strategies, revisions_by_repo, selected_files))
    plan = DeletionPlan(
        cache_dir=Path(cache_dir),
        items=tuple(items),
        strategies=tuple(strategies),
        refused=tuple(refused),
        not_found=tuple(not_found),
        blob_entries={k: tuple(v) for k, v in blob_entries.items()},
        blob_sizes=blob_sizes,
        ref_snapshots=ref_snapshots,
        repos=tuple(touched_keys),
        protected=in_use,
        basis=_basis("marks", tuple(marks), given_busy, {key: repos[key] for key in touched_keys}, reach),
    )
    _tally_strategies(plan)
    return plan


def _blobs_still_used(
    repos: Mapping[RepoKey, CachedRepoInfo],
    touched_keys: Sequence[RepoKey],
    strategies: Sequence[DeleteCacheStrategy],
    revisions_by_repo: Mapping[RepoKey, set[str]],
    selected_files: Mapping[RepoKey, set[CachedFileInfo]],
) -> dict[Path, str]:
    """Blobs a strategy lists that an entry the plan keeps, in a repo of the plan, still uses.

    Each library strategy only sees the repos of its group. A file marked in repo A whose entry links
    into repo B's blobs makes A's `delete_files` list B's blob; B may be in another group (its
    commit hashes collide with A's) with a revision that stays and uses that blob."""
    listed = {blob for strategy in strategies for blob in strategy.blobs}
    if not listed:
        return {}
    out: dict[Path, str] = {}
    for key in touched_keys:
        repo = repos[key]
        gone = revisions_by_repo.get(key, set())
        selected = selected_files.get(key, set())
        for revision in repo.revisions:
            if revision.commit_hash in gone:
                continue
            for f in revision.files:
                if f.blob_path in listed and f not in selected and f.blob_path not in out:
                    entry = (key, revision.commit_hash, _rel(f, revision))
                    out[f.blob_path] = f"still used by {_describe_entry(entry)}"
    return out


def _basis(
    kind: str,
    marks: tuple[Mark, ...],
    busy: Mapping[RepoKey, str],
    repos: Mapping[RepoKey, CachedRepoInfo],
    reach: Reach,
) -> PlanBasis:
    from hftui.core.cache.revalidate import FolderIdentity, PlanBasis, RepoBasis

    return PlanBasis(
        kind,  # type: ignore[arg-type]
        marks,
        dict(busy),
        {key: RepoBasis(info, FolderIdentity.of(info.repo_path)) for key, info in repos.items()},
        reach=reach,
    )


def _writer_reasons(
    repos: Mapping[RepoKey, CachedRepoInfo],
    keys: Iterable[RepoKey],
    cache_dir: Path,
    state_dir: Path | None,
) -> dict[RepoKey, str]:
    from hftui.core.cache.writers import find_writers

    folders = {repos[key].repo_path.name: key for key in keys if key in repos}
    if not folders:
        return {}
    report = find_writers(cache_dir, folders, state_dir=state_dir)
    return {key: reason for name, key in folders.items() if (reason := report.reason(name)) is not None}


def blob_kept_reason(plan: DeletionPlan, blob: Path) -> str | None:
    """Why the executor keeps a blob the library's strategy lists (None: it is removed). The plan's
    figure and the executor both ask this, so what is counted is what is removed."""
    why = plan.protected.get(blob)
    if why is not None:
        return why
    owners = {_top_folder(p, plan.cache_dir) for p in plan.blob_entries.get(blob, ())}
    if owners and _top_folder(blob, plan.cache_dir) not in owners:
        # A snapshot entry linked into another repo's blobs (hand-deduplicated caches):
        # the library only checks the repos it was given, so that repo may still need it.
        return "it belongs to another repo folder, which may still use it"
    return None


def _store_candidates(plan: DeletionPlan) -> tuple[set[Path], set[Path]]:
    """(store payloads the removed repo blobs link to, the repo blob links the plan removes)."""
    if not compat.shared_store_in_use(plan.cache_dir):
        return set(), set()
    guard = _Guard(plan.cache_dir)
    removed: set[Path] = set()
    for strategy in plan.strategies:
        removed |= {
            b for b in strategy.blobs if guard.reason(b) is None and blob_kept_reason(plan, b) is None
        }
        for repo_path in strategy.repos:
            if os.path.islink(repo_path) or guard.reason(repo_path) is not None:
                continue
            try:
                removed.update((repo_path / "blobs").iterdir())
            except OSError:
                pass
    targets = set()
    for blob in removed:
        target = compat.shared_blob_target(blob, plan.cache_dir)
        if target is not None and target not in plan.protected:
            targets.add(target)
    return targets, removed


def _tally_strategies(plan: DeletionPlan) -> None:
    """Fill `plan.tally` with what the executor will remove, item by item as it removes it."""
    guard = _Guard(plan.cache_dir)
    tally = plan.tally
    for strategy in plan.strategies:
        for path in strategy.files:
            if guard.reason(path) is None:
                tally.add_file(path)
        for path in strategy.repos:
            if guard.reason(path) is None:
                tally.add_tree(path, repo=True)
        for path in strategy.snapshots:
            if guard.reason(path) is None:
                tally.add_tree(path)
        for path in strategy.blobs:
            if guard.reason(path) is None and blob_kept_reason(plan, path) is None:
                tally.add_file(path)
    # Shared store: a payload goes when every valid manifest reference is among the links the
    # whole plan removes (the library asks the same of each strategy alone: see the module doc).
    targets, removed = _store_candidates(plan)
    for target in targets:
        if compat.expected_shared_blob_freed_size(
            target, blob_paths_to_delete=removed, cache_dir=plan.cache_dir
        ):
            tally.add_file(target)


def cross_links(repos: Iterable[RepoRecord | CachedRepoInfo], cache_dir: Path | str) -> dict[str, set[Entry]]:
    """Entries that reach a target outside their own repo folder, by target: another repo's blob,
    a payload of the shared store (directly, or through a repo blob that links there), anything
    else outside. Corrupt scan records are left out (their entries are unknown)."""
    from hftui.core.cache.scan import RepoRecord

    store = os.path.join(os.path.abspath(cache_dir), "blobs") + os.sep
    out: dict[str, set[Entry]] = defaultdict(set)
    for repo in repos:
        if isinstance(repo, RepoRecord):
            if repo.warnings or repo.repo_type is None:
                continue
            shared, outside = {**repo.shared_blobs, **repo.reached_store}, repo._physical[1]
            inner = repo.inner_links
            if not shared and not outside and not inner:
                continue  # every entry stays inside the repo folder: skip unpacking its files
            key = (repo.repo_type, repo.repo_id)
            for revision in repo.revisions:
                for rel, blob_key in revision.files:
                    entry = (key, revision.commit_hash, rel)
                    if os.path.isabs(blob_key):  # the path it links to (another repo's blob, say)
                        out[blob_key].add(entry)
                    elif blob_key in inner:  # a link into a snapshot (this or another revision)
                        out[os.path.join(repo.repo_path, blob_key)].add(entry)
                    if blob_key in shared:  # and the store payload behind it
                        out[shared[blob_key]].add(entry)
            continue
        key = (repo.repo_type, repo.repo_id)
        for rev in repo.revisions:
            for f in rev.files:
                blob = os.fspath(f.blob_path)
                target = None
                if not path_in(blob, repo.repo_path):
                    target = blob
                else:
                    try:
                        link = os.readlink(blob)
                    except OSError:
                        link = ""
                    resolved = os.path.normpath(os.path.join(os.path.dirname(blob), link)) if link else ""
                    if resolved.startswith(store):
                        target = resolved
                if target is not None:
                    out[target].add((key, rev.commit_hash, _rel(f, rev)))
    return dict(out)


LINKED_REPO_NOTE = "a symlink to a folder elsewhere: only the link is removed, its target is kept"


def plan_detached(
    repos: Mapping[RepoKey, CachedRepoInfo],
    *,
    cache_dir: Path,
    busy: Mapping[RepoKey, str] | None = None,
    reach: Reach | None = None,
    check_writers: bool = True,
    state_dir: Path | None = None,
) -> DeletionPlan:
    """Prune: every revision no ref points to."""
    marks = [
        Mark.revision(repo.repo_type, repo.repo_id, rev.commit_hash)
        for repo in repos.values()
        for rev in repo.revisions
        if not rev.refs
    ]
    plan = plan_deletion(
        repos,
        marks,
        cache_dir=cache_dir,
        busy=busy,
        reach=reach,
        check_writers=check_writers,
        state_dir=state_dir,
    )
    assert plan.basis is not None
    return dataclasses.replace(plan, basis=dataclasses.replace(plan.basis, kind="detached"))


def plan_loose_files(
    files: Iterable[tuple[Path, int]],
    *,
    kind: str,
    cache_dir: Path,
    busy_repo_dirs: Iterable[Path] = (),
    min_age: float = 0.0,
    now: float | None = None,
) -> tuple[DeletionPlan, list[tuple[Path, str]]]:
    """Prune orphaned `.incomplete` files or stale locks. Returns the plan and the skipped files with why.

    Files inside a repo with an active download are skipped, and so are files written less than
    `min_age` seconds ago (another process may be downloading into a shared cache).
    """
    now = time.time() if now is None else now
    busy_dirs = [os.path.abspath(p) + os.sep for p in busy_repo_dirs]
    kept: list[LooseFile] = []
    skipped: list[tuple[Path, str]] = []
    for path, size in files:
        absolute = os.path.abspath(path)
        if any(absolute.startswith(d) for d in busy_dirs):
            skipped.append((Path(path), "a download into this repo is running"))
            continue
        if min_age > 0:
            try:
                mtime = os.lstat(path).st_mtime
            except OSError:
                mtime = 0.0
            if now - mtime < min_age:
                skipped.append(
                    (Path(path), f"written less than {int(min_age)} s ago (maybe a download is running)")
                )
                continue
        kept.append(LooseFile(Path(path), size, kind))
    from hftui.core.cache.revalidate import LooseBasis, PlanBasis

    seen: dict[Path, LooseBasis] = {}
    for loose in kept:
        try:
            st = os.lstat(loose.path)
        except OSError:
            continue
        seen[loose.path] = LooseBasis(st.st_size, st.st_mtime)
    plan = DeletionPlan(
        cache_dir=Path(cache_dir), loose_files=tuple(kept), basis=PlanBasis("loose", loose=seen)
    )
    for loose in plan.loose_files:
        plan.tally.add_file(loose.path)
    return plan, skipped


def plan_shared_blobs(
    blobs: Iterable[tuple[Path, int]], *, cache_dir: Path, reach: Reach | None = None
) -> DeletionPlan:
    """Prune: entries of the shared blob store that no repo references. A payload some scanned
    entry reaches (`reach`), by whatever path, is left out even when its manifest is empty."""
    reached = {os.path.abspath(target) for target, entries in (reach or {}).items() if entries}
    chosen = tuple(sorted((Path(p), size) for p, size in blobs if os.path.abspath(p) not in reached))
    from hftui.core.cache.revalidate import PlanBasis

    plan = DeletionPlan(cache_dir=Path(cache_dir), shared_blobs=chosen, basis=PlanBasis("shared"))
    for path, _ in chosen:
        plan.tally.add_file(path)
    return plan


def unreferenced_shared_blobs(cache_dir: Path) -> list[tuple[Path, int]]:
    """The library's own view of store payloads with no valid reference (a fallback for the scanner's)."""
    return sorted(compat.unreferenced_shared_blobs(cache_dir).items())


# -- execution ---------------------------------------------------------------------------------

Status = Literal["deleted", "vanished", "failed", "refused", "kept"]


@dataclass(frozen=True)
class Outcome:
    kind: str
    path: Path
    status: Status
    message: str = ""


@dataclass
class ExecutionReport:
    outcomes: list[Outcome] = field(default_factory=list)
    expected_freed_size: int = 0
    freed_size: int = 0
    """Bytes freed as far as we can tell: the plan's figure minus the blobs that are still there."""
    cancelled: bool = False
    repos: tuple[RepoKey, ...] = ()

    @property
    def problems(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status in ("failed", "refused", "kept")]

    @property
    def vanished(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == "vanished"]

    @property
    def ok(self) -> bool:
        return not self.problems and not self.cancelled


def _describe(exc: BaseException) -> str:
    if isinstance(exc, PermissionError):
        return "permission denied"
    if isinstance(exc, FileNotFoundError):
        return "already gone"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc) or type(exc).__name__


class _Guard:
    """Refuses paths that are not strictly inside the cache directory, and paths that reach another
    top-level folder than the one they name (a repo folder that is a symlink to another one: an
    alias). Symlinks in the path are resolved; the last component is not (it is unlinked)."""

    def __init__(self, cache_dir: Path) -> None:
        self.lexical_root = os.path.abspath(cache_dir)
        self.root = os.path.realpath(cache_dir)
        self.prefix = self.root.rstrip(os.sep) + os.sep

    def reason(self, path: Path) -> str | None:
        absolute = os.path.abspath(path)
        parent = os.path.realpath(os.path.dirname(absolute))
        candidate = os.path.join(parent, os.path.basename(absolute))
        if candidate == self.root or not candidate.startswith(self.prefix):
            return f"outside the cache directory {self.root}"
        named = _top_folder(Path(absolute), Path(self.lexical_root))
        reached = candidate[len(self.prefix) :].split(os.sep, 1)[0]
        if named and named != reached:
            return f"reached through {named}, a symlink to {reached}: never deleted through an alias"
        return None


def _top_folder(path: Path, cache_dir: Path) -> str:
    """The top-level cache entry a path lies in ('' when it is not inside the cache)."""
    rel = os.path.relpath(os.path.abspath(path), os.path.abspath(cache_dir))
    first = rel.split(os.sep, 1)[0]
    return "" if first in ("..", ".") else first


def _lexists(path: Path) -> bool:
    return os.path.lexists(path)


def _remove(path: Path) -> tuple[Status, str]:
    """Remove one path without following symlinks; a directory tree continues past failing entries."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return "vanished", "already gone (removed by someone else?)"
    except OSError as exc:
        return "failed", _describe(exc)
    if stat.S_ISDIR(st.st_mode):
        errors: list[str] = []

        def onerror(func: object, failed: str, exc_info: tuple[type, BaseException, object]) -> None:
            exc = exc_info[1]
            if isinstance(exc, FileNotFoundError):
                return
            errors.append(f"{os.path.relpath(failed, path)}: {_describe(exc)}")

        shutil.rmtree(path, onerror=onerror)
        if errors:
            more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
            return "failed", f"{errors[0]}{more}"
        return "deleted", ""
    try:
        os.unlink(path)  # a symlink is unlinked, its target left alone
    except FileNotFoundError:
        return "vanished", "already gone (removed by someone else?)"
    except OSError as exc:
        return "failed", _describe(exc)
    return "deleted", ""


@dataclass
class _RepoWork:
    """What a plan deletes inside one top-level cache folder, narrowed to single paths."""

    name: str
    path: Path
    key: RepoKey | None = None
    basis: RepoBasis | None = None
    whole: bool = False
    snapshots: set[Path] = field(default_factory=set)
    refs: set[Path] = field(default_factory=set)
    files: set[Path] = field(default_factory=set)
    blobs: set[Path] = field(default_factory=set)

    @property
    def steps(self) -> int:
        return len(self.snapshots) + len(self.files) + len(self.refs) + len(self.blobs) + int(self.whole)

    def expected_entries(self, commit: str) -> set[str] | None:
        """Paths inside the snapshot of `commit` that the confirmation showed (None: unknown)."""
        if self.basis is None:
            return None
        for rev in self.basis.info.revisions:
            if rev.commit_hash == commit:
                return {f.file_path.relative_to(rev.snapshot_path).as_posix() for f in rev.files}
        return None


def _repo_works(plan: DeletionPlan) -> tuple[list[_RepoWork], list[tuple[str, Path]]]:
    """Group the plan's paths by repo folder. A whole repo becomes its revisions, refs and blobs
    (what the confirmation showed), so the folder itself only goes once nothing else is in it."""
    named = {
        rb.info.repo_path.name: (key, rb) for key, rb in (plan.basis.repos if plan.basis else {}).items()
    }
    works: dict[str, _RepoWork] = {}
    outside: list[tuple[str, Path]] = []

    def work_for(path: Path) -> _RepoWork | None:
        name = _top_folder(path, plan.cache_dir)
        if not name:
            return None
        work = works.get(name)
        if work is None:
            key, basis = named.get(name, (None, None))
            work = works[name] = _RepoWork(name, plan.cache_dir / name, key, basis)
        return work

    for strategy in plan.strategies:
        for path in strategy.repos:
            work = work_for(path)
            if work is None:
                outside.append(("repo", path))
            else:
                work.whole = True
        for kind in ("snapshots", "refs", "files", "blobs"):
            for path in getattr(strategy, kind):
                work = work_for(path)
                if work is None:
                    outside.append((kind.rstrip("s"), path))
                else:
                    getattr(work, kind).add(path)
    for work in works.values():
        if not work.whole or work.basis is None:
            continue
        info = work.basis.info
        own_blobs = str(info.repo_path / "blobs") + os.sep
        for rev in info.revisions:
            work.snapshots.add(rev.snapshot_path)
            work.refs.update(info.repo_path / "refs" / ref for ref in rev.refs)
            # Blobs elsewhere (another repo, outside the cache) are not this repo's to delete.
            work.blobs.update(f.blob_path for f in rev.files if str(f.blob_path).startswith(own_blobs))
    return [works[name] for name in sorted(works)], outside


def _read_refs(repo_path: Path) -> dict[str, str]:
    """ref name -> commit, read now (a ref may be rewritten while we delete)."""
    refs: dict[str, str] = {}
    root = repo_path / "refs"
    for folder, _dirs, files in os.walk(root):
        for name in files:
            path = Path(folder, name)
            try:
                refs[path.relative_to(root).as_posix()] = path.read_text().strip()
            except (OSError, UnicodeDecodeError):
                continue
    return refs


def _referenced_blobs(repo_path: Path) -> dict[Path, Path]:
    """blob path -> one snapshot entry that points to it, over what is left of the repo's snapshots."""
    used: dict[Path, Path] = {}
    for folder, _dirs, files in os.walk(repo_path / "snapshots"):
        for name in files + _dirs:
            entry = os.path.join(folder, name)
            try:
                target = os.readlink(entry)
            except OSError:
                continue
            used.setdefault(Path(os.path.normpath(os.path.join(folder, target))), Path(entry))
    return used


def _unexpected_entry(snapshot: Path, expected: set[str], planned_at: float) -> str | None:
    """A file in `snapshot` the confirmation did not show and that is newer than the plan (a
    download completing this revision). Older ones were there to be seen: the library's record
    leaves some out (a link to a folder, say)."""
    for folder, dirs, files in os.walk(snapshot):
        for name in files + [d for d in dirs if os.path.islink(os.path.join(folder, d))]:
            path = os.path.join(folder, name)
            rel = os.path.relpath(path, snapshot).replace(os.sep, "/")
            if rel in expected:
                continue
            try:
                if os.lstat(path).st_mtime <= planned_at:
                    continue
            except OSError:
                continue
            return rel
    return None


def _not_writable(folder: str) -> str | None:
    if os.access(folder, os.W_OK | os.X_OK, follow_symlinks=False):
        return None
    try:
        if os.statvfs(folder).f_flag & os.ST_RDONLY:
            return "read-only file system"
    except OSError:
        pass
    return "permission denied"


def _preflight(work: _RepoWork) -> str | None:
    """Why this repo's part of the plan cannot be carried out whole (checked before the first removal)."""
    folders: set[str] = set()
    for path in (*work.snapshots, *work.files, *work.refs, *work.blobs):
        folders.add(os.path.dirname(path))
    trees = [str(p) for p in work.snapshots]
    if work.whole:
        folders.add(str(work.path))
        trees = [str(work.path)]
    for top in trees:
        for folder, dirs, _files in os.walk(top):
            folders.add(folder)
            dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(folder, d))]
    for folder in sorted(folders):
        if not os.path.isdir(folder) or os.path.islink(folder):
            continue
        why = _not_writable(folder)
        if why is not None:
            return f"{os.path.relpath(folder, work.path.parent)}: {why}"
    return None


class _Run:
    """One execution: the report, the progress count and the checks shared by every step."""

    def __init__(
        self,
        plan: DeletionPlan,
        report: ExecutionReport,
        cancel: Callable[[], bool] | None,
        progress: Callable[[int, int], None] | None,
        total: int,
        state_dir: Path | None,
    ) -> None:
        self.plan = plan
        self.report = report
        self.guard = _Guard(plan.cache_dir)
        self.cancel = cancel
        self.progress = progress
        self.total = total
        self.done = 0
        self.state_dir = state_dir
        self.store_inodes: dict[tuple[int, int], str] | None = None
        """The shared store's listing taken by the first check, reused by each repo's own check."""
        self.problems = 0
        """Outcomes so far that are problems (counted here: `report.problems` is a scan)."""

    def cancelled(self) -> bool:
        if self.cancel is not None and self.cancel():
            self.report.cancelled = True
        return self.report.cancelled

    def step(self, count: int = 1) -> None:
        self.done += count
        if self.progress is not None and count > 0:
            self.progress(min(self.done, self.total), self.total)

    def record(self, kind: str, path: Path, status: Status, message: str = "") -> None:
        self.report.outcomes.append(Outcome(kind, path, status, message))
        if status in ("failed", "refused", "kept"):
            self.problems += 1


def _run_repo(run: _Run, work: _RepoWork) -> None:
    """Carry out one repo's part of the plan: all of it, or (when a check fails) none of it."""
    from hftui.core.cache.revalidate import repo_changes
    from hftui.core.cache.writers import find_writers

    plan = run.plan
    skip = work.steps
    if work.basis is not None and work.key is not None:
        # The plan as a whole was checked before the first repo; this repo may have changed since.
        changes, _ = repo_changes(plan.cache_dir, work.key, work.basis, run.store_inodes)
        reason = changes[0] if changes else None
        if reason is None:
            reason = find_writers(plan.cache_dir, [work.name], state_dir=run.state_dir).reason(work.name)
        if reason is not None:
            run.record("repo", work.path, "refused", f"not started: {reason}")
            run.step(skip)
            return
        folder = work.basis.folder
        if folder is not None and folder.linked:
            run.step()
            inside = os.path.dirname(folder.real_path) == run.guard.root
            if inside:
                # Another name for a repo folder of this cache: deleting "it" would delete that one.
                run.record(
                    "repo",
                    work.path,
                    "refused",
                    f"not started: an alias of {os.path.basename(folder.real_path)} (a symlink to it); "
                    "delete that repo instead",
                )
            elif work.whole:
                status, message = _remove(work.path)  # the link only: what it points to is kept
                run.record("repo", work.path, status, message)
            else:
                run.record(
                    "repo",
                    work.path,
                    "refused",
                    f"not started: the repo folder is a symlink to {folder.real_path}; "
                    "nothing is deleted through it",
                )
            run.step(skip - 1)
            return
    problem = _preflight(work)
    if problem is not None:
        run.record("repo", work.path, "refused", f"not started: {problem}")
        run.step(skip)
        return

    planned_at = plan.basis.planned_at if plan.basis is not None else 0.0
    problems_before = run.problems
    deleted_refs = {ref.relative_to(work.path / "refs").as_posix() for ref in work.refs}
    for snapshot in sorted(work.snapshots):
        run.step()
        why = run.guard.reason(snapshot)
        if why is not None:
            run.record("snapshot", snapshot, "refused", why)
            continue
        # Re-read the refs for every revision: a ref rewritten a moment ago must not be left dangling.
        holders = sorted(
            ref
            for ref, commit in _read_refs(work.path).items()
            if commit == snapshot.name and ref not in deleted_refs
        )
        if holders:
            run.record("snapshot", snapshot, "kept", f"the ref {holders[0]} now points to it")
            continue
        expected = work.expected_entries(snapshot.name)
        extra = _unexpected_entry(snapshot, expected, planned_at) if expected is not None else None
        if extra is not None:
            run.record("snapshot", snapshot, "kept", f"{extra} appeared in it since the confirmation")
            continue
        status, message = _remove(snapshot)
        run.record("snapshot", snapshot, status, message)

    for entry in sorted(work.files):
        run.step()
        why = run.guard.reason(entry)
        if why is not None:
            run.record("file", entry, "refused", why)
            continue
        status, message = _remove(entry)
        run.record("file", entry, status, message)

    for ref in sorted(work.refs):
        run.step()
        why = run.guard.reason(ref)
        if why is not None:
            run.record("ref", ref, "refused", why)
            continue
        snapshot_path = plan.ref_snapshots.get(ref)
        if snapshot_path is not None and _lexists(snapshot_path):
            run.record("ref", ref, "kept", "its snapshot could not be fully deleted")
            continue
        try:
            commit = ref.read_text().strip()
        except FileNotFoundError:
            run.record("ref", ref, "vanished", "already gone (removed by someone else?)")
            continue
        except (OSError, UnicodeDecodeError) as exc:
            run.record("ref", ref, "failed", _describe(exc))
            continue
        if snapshot_path is not None and commit != snapshot_path.name:
            run.record("ref", ref, "kept", f"it was moved to {commit[:8]} meanwhile")
            continue
        status, message = _remove(ref)
        run.record("ref", ref, status, message)

    used = _referenced_blobs(work.path) if work.blobs else {}
    for blob in sorted(work.blobs):
        run.step()
        why = run.guard.reason(blob)
        if why is not None:
            run.record("blob", blob, "refused", why)
            continue
        still = [p for p in plan.blob_entries.get(blob, ()) if _lexists(p)] or (
            [used[blob]] if blob in used else []
        )
        if still:
            run.record("blob", blob, "kept", f"still used by {still[0]}, which is kept")
            continue
        kept_why = blob_kept_reason(plan, blob)
        if kept_why is not None:
            run.record("blob", blob, "kept", kept_why)
            continue
        status, message = _remove(blob)
        run.record("blob", blob, status, message)

    if work.whole:
        run.step()
        if run.problems > problems_before:
            run.record("repo", work.path, "kept", "part of it could not be deleted (see the items above)")
        else:
            _finish_repo(run, work)


def _finish_repo(run: _Run, work: _RepoWork) -> None:
    """Remove the repo folder once it holds nothing but leftovers that were there when planned
    (metadata, stale temp files): anything new, or anything a writer holds, keeps it."""
    from hftui.core.cache.writers import incomplete_is_live

    planned_at = run.plan.basis.planned_at if run.plan.basis is not None else 0.0
    root = work.path
    leftovers: list[Path] = []
    unknown: list[str] = []
    folders: list[str] = []
    for folder, dirs, files in os.walk(root):
        folders.append(folder)
        links = [d for d in dirs if os.path.islink(os.path.join(folder, d))]
        dirs[:] = [d for d in dirs if d not in links]
        for name in files + links:
            path = Path(folder, name)
            rel = path.relative_to(root).as_posix()
            try:
                st = os.lstat(path)
            except OSError:
                continue
            new_or_live = (
                rel.startswith("snapshots/")
                or st.st_mtime > planned_at
                or (name.endswith(".incomplete") and incomplete_is_live(str(path), run.plan.cache_dir))
            )
            if new_or_live:
                unknown.append(rel)
            else:
                leftovers.append(path)
    if unknown:
        more = f" (+{len(unknown) - 1} more)" if len(unknown) > 1 else ""
        run.record(
            "repo",
            root,
            "kept",
            f"it now holds what the confirmation did not show: {unknown[0]}{more}; that was not deleted",
        )
        return
    if not _lexists(root):
        run.record("repo", root, "deleted")
        return
    for path in leftovers:
        _remove(path)
    for folder in sorted(folders, key=len, reverse=True):
        try:
            os.rmdir(folder)
        except FileNotFoundError:
            pass
        except OSError as exc:
            if folder == str(root) or exc.errno != errno.ENOTEMPTY:
                run.record(
                    "repo", root, "failed", f"{os.path.relpath(folder, root.parent)}: {_describe(exc)}"
                )
                return
    run.record("repo", root, "deleted" if not _lexists(root) else "failed", "")


def _run_loose(run: _Run, loose: LooseFile) -> None:
    from hftui.core.cache.locks import lock_is_held
    from hftui.core.cache.revalidate import loose_changes

    run.step()
    path = loose.path
    why = run.guard.reason(path)
    if why is not None:
        run.record(loose.kind, path, "refused", why)
        return
    basis = run.plan.basis.loose.get(path) if run.plan.basis is not None else None
    change = loose_changes(path, basis) if basis is not None else None
    if change is not None:
        run.record(loose.kind, path, "kept", change)
        return
    if loose.kind == "incomplete":
        repo = _top_folder(path, run.plan.cache_dir)
        etag = path.name[: -len(".incomplete")].split(".")[0]
        lock = run.plan.cache_dir / ".locks" / repo / f"{etag}.lock"
        if lock_is_held(str(lock)) is True:
            run.record(loose.kind, path, "kept", "a download holds its lock")
            return
        status, message = _remove(path)
        run.record(loose.kind, path, status, message)
        return
    if loose.kind == "lock":
        status, message = _remove_unheld_lock(path)
        run.record(loose.kind, path, status, message)
        return
    if loose.kind == "kept":
        # Kept partial bytes go with their state file, never while a download writes them.
        from hftui.core.downloads.kept import remove_path

        kept_status, message = remove_path(path)
        run.record(loose.kind, path, cast(Status, kept_status), message)
        return
    status, message = _remove(path)
    run.record(loose.kind, path, status, message)


def _remove_unheld_lock(path: Path) -> tuple[Status, str]:
    """Unlink a lock file while holding its lock ourselves, so nobody holds it as it goes."""
    import fcntl

    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        return "vanished", "already gone (removed by someone else?)"
    except OSError as exc:
        return "failed", _describe(exc)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return "kept", "a download took the lock meanwhile"
        return _remove(path)
    finally:
        os.close(fd)


def _revalidate(
    plan: DeletionPlan, state_dir: Path | None, inodes: dict[tuple[int, int], str] | None = None
) -> PlanChanged | None:
    """The plan made again on the disk as it is now, when that differs from the confirmed one."""
    from hftui.core.cache.locks import lock_is_held
    from hftui.core.cache.revalidate import PlanChanged, loose_changes, repo_changes
    from hftui.core.cache.writers import find_writers

    basis = plan.basis
    if basis is None or basis.kind == "shared":
        return None  # the library's sweep re-checks every reference under its own lock
    changes: list[str] = []
    if basis.kind == "loose":
        kept: list[tuple[Path, int]] = []
        for loose in plan.loose_files:
            seen = basis.loose.get(loose.path)
            change = loose_changes(loose.path, seen) if seen is not None else None
            if change is None and loose.kind == "lock" and lock_is_held(str(loose.path)) is True:
                change = f"{loose.path.name}: a download holds it now"
            if change is None and loose.kind == "incomplete":
                repo = _top_folder(loose.path, plan.cache_dir)
                etag = loose.path.name[: -len(".incomplete")].split(".")[0]
                if lock_is_held(str(plan.cache_dir / ".locks" / repo / f"{etag}.lock")) is True:
                    change = f"{loose.path.name}: a download holds its lock now"
            if change is None:
                kept.append((loose.path, loose.size_on_disk))
            else:
                changes.append(change)
        if not changes:
            return None
        kind = plan.loose_files[0].kind
        new_plan, _ = plan_loose_files(kept, kind=kind, cache_dir=plan.cache_dir)
        return PlanChanged(new_plan, tuple(changes), plan)

    records: dict[RepoKey, RepoRecord] = {}
    for key, repo_basis in basis.repos.items():
        found, record = repo_changes(plan.cache_dir, key, repo_basis, inodes)
        changes.extend(found)
        if record is not None:
            records[key] = record
    folders = {rb.info.repo_path.name: key for key, rb in basis.repos.items()}
    writers = find_writers(plan.cache_dir, folders, state_dir=state_dir)
    for name, key in folders.items():
        reason = writers.reason(name)
        if reason is not None:
            changes.append(f"{key[0]}/{key[1]}: {reason}")
    if not changes:
        return None
    infos = {key: record.to_cached_repo_info() for key, record in records.items()}
    if basis.kind == "detached":
        new_plan = plan_detached(
            infos, cache_dir=plan.cache_dir, busy=basis.busy, reach=basis.reach, state_dir=state_dir
        )
    else:
        new_plan = plan_deletion(
            infos,
            basis.marks,
            cache_dir=plan.cache_dir,
            busy=basis.busy,
            reach=basis.reach,
            state_dir=state_dir,
        )
    return PlanChanged(new_plan, tuple(changes), plan)


def execute_plan(
    plan: DeletionPlan,
    *,
    cancel: Callable[[], bool] | None = None,
    progress: Callable[[int, int], None] | None = None,
    state_dir: Path | None = None,
) -> ExecutionReport | PlanChanged:
    """Check the plan against the disk, then carry it out repo by repo. Safe to call from a thread.

    Returns `PlanChanged` (and deletes nothing) when the repos it touches changed since it was
    made or gained a live writer: confirm `PlanChanged.plan` to go on. Otherwise returns the
    `ExecutionReport`; it never raises for a single item. Each repo is checked once more right
    before its turn and is then done whole or not started; `cancel` is honoured between repos.
    `state_dir` is where hftui keeps its queue (default: the user's state dir).
    """
    from hftui.core.cache.scan import store_inodes

    # One listing of the shared store for the whole execution: the store only grows through a
    # download, and a download into a touched repo is a writer, which each repo's check refuses.
    inodes = store_inodes(plan.cache_dir) if plan.basis is not None and plan.basis.repos else None
    changed = _revalidate(plan, state_dir, inodes)
    if changed is not None:
        return changed

    report = ExecutionReport(expected_freed_size=plan.expected_freed_size, repos=plan.repos)
    works, outside = _repo_works(plan)
    total = len(outside) + sum(w.steps for w in works) + len(plan.loose_files) + len(plan.shared_blobs)
    run = _Run(plan, report, cancel, progress, total, state_dir)
    run.store_inodes = inodes
    # Shared-store payloads reachable from the blobs this plan unlinks (as the library's execute() does).
    store_paths: set[Path] = set()
    if compat.shared_store_in_use(plan.cache_dir):
        for work in works:
            for blob in work.blobs:
                target = compat.shared_blob_target(blob, plan.cache_dir)
                # A payload an entry outside the plan reaches directly is not the manifest's to free.
                if target is not None and target not in plan.protected:
                    store_paths.add(target)

    for kind, path in outside:
        run.step()
        run.record(kind, path, "refused", run.guard.reason(path) or "outside the cache directory")
    not_run: set[Path] = set()
    for index, work in enumerate(works):
        if run.cancelled():
            for later in works[index:]:
                not_run.add(later.path)
            break
        _run_repo(run, work)
    for index, loose in enumerate(plan.loose_files):
        if run.cancelled():
            not_run.update(f.path for f in plan.loose_files[index:])
            break
        _run_loose(run, loose)
    for index, (path, _size) in enumerate(plan.shared_blobs):
        if run.cancelled():
            not_run.update(p for p, _ in plan.shared_blobs[index:])
            break
        run.step()
        why = run.guard.reason(path)
        if why is not None:
            run.record("shared-blob", path, "refused", why)
        elif not _lexists(path):
            run.record("shared-blob", path, "vanished", "already gone")
        elif compat.sweep_shared_blob(path, cache_dir=plan.cache_dir) or not _lexists(path):
            run.record("shared-blob", path, "deleted")
        else:
            run.record("shared-blob", path, "kept", "referenced again or not removable")

    # Shared store: collect payloads that lost their last reference (the library's own sweep, under its lock).
    for store_path in sorted(store_paths):
        compat.sweep_shared_blob(store_path, cache_dir=plan.cache_dir)

    # Re-check the filesystem: whatever is still there was not deleted, whatever we reported.
    report.outcomes = [
        dataclasses.replace(o, status="failed", message="still there after deletion")
        if o.status == "deleted" and _lexists(o.path)
        else o
        for o in report.outcomes
    ]

    # What the plan counted and is really gone (the same tally: see hftui.core.cache.freed).
    report.freed_size = plan.tally.freed_size_now()
    return report


def summarize(report: ExecutionReport) -> str:
    """One line for a notification."""
    from hftui.core import vocab

    freed = vocab.size(report.freed_size)
    if report.ok and not report.vanished:
        return f"Freed {freed}."
    parts = [f"Freed {freed}"]
    if report.problems:
        parts.append(f"{vocab.count(len(report.problems), 'item')} could not be deleted")
    if report.vanished:
        parts.append(f"{len(report.vanished)} already gone")
    if report.cancelled:
        parts.append("cancelled")
    return "; ".join(parts) + "."
