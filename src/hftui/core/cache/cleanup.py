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

Execution does not call `DeleteCacheStrategy.execute()`: that stops at the first permission
error on a snapshot entry and only logs the rest. `execute_plan` follows the same order
(snapshot entries, repos, snapshots, refs, blobs, then the shared-store sweep) item by item,
refuses any path outside the cache directory, never follows a symlink (it is unlinked), keeps a
blob while an entry that pointed to it could not be removed, and re-checks the filesystem at the
end so the report says what is really gone.
"""

from __future__ import annotations

import dataclasses
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

if TYPE_CHECKING:
    from huggingface_hub import CachedFileInfo, CachedRepoInfo, CachedRevisionInfo, DeleteCacheStrategy

RepoKey = tuple[str, str]
"""(repo_type, repo_id)."""

MarkKind = Literal["repo", "revision", "path"]


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

    @property
    def total_size(self) -> int:
        """Sum of the marked items' sizes (what the table shows next to each mark)."""
        return (
            sum(item.size_on_disk for item in self.items)
            + sum(f.size_on_disk for f in self.loose_files)
            + sum(size for _, size in self.shared_blobs)
        )

    @property
    def expected_freed_size(self) -> int:
        """Bytes the deletion really frees: the library's `expected_freed_size`, plus loose files."""
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


def plan_deletion(
    repos: Mapping[RepoKey, CachedRepoInfo],
    marks: Iterable[Mark],
    *,
    cache_dir: Path,
    busy: Mapping[RepoKey, str] | None = None,
) -> DeletionPlan:
    """Turn marks into a plan. `repos` must hold (at least) every repo a mark touches.

    `busy` maps repos that must not be touched (e.g. an active download) to the reason shown.
    """
    busy = busy or {}
    marks = sorted(set(marks))
    refused: list[Refusal] = []
    not_found: list[Mark] = []
    items: list[PlanItem] = []
    revisions_by_repo: dict[RepoKey, set[str]] = defaultdict(set)
    path_marks: list[tuple[Mark, CachedRevisionInfo]] = []

    for mark in marks:
        if mark.repo_key in busy:
            refused.append(Refusal(mark, busy[mark.repo_key]))
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
            items.append(PlanItem(mark, revision.size_on_disk, revision.nb_files))
        else:
            path_marks.append((mark, revision))

    selected_files: dict[RepoKey, set[CachedFileInfo]] = defaultdict(set)
    for mark, revision in path_marks:
        covered = files_under(revision, mark.path, is_dir=mark.is_dir)
        if not covered:
            not_found.append(mark)
            continue
        subsumed = revision.commit_hash in revisions_by_repo.get(mark.repo_key, ())
        note = "already covered by a marked revision or repo" if subsumed else ""
        items.append(PlanItem(mark, _unique_size(covered), len(covered), note))
        if not subsumed:
            selected_files[mark.repo_key].update(covered)

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

    return DeletionPlan(
        cache_dir=Path(cache_dir),
        items=tuple(items),
        strategies=tuple(strategies),
        refused=tuple(refused),
        not_found=tuple(not_found),
        blob_entries={k: tuple(v) for k, v in blob_entries.items()},
        blob_sizes=blob_sizes,
        ref_snapshots=ref_snapshots,
        repos=tuple(touched_keys),
    )


LINKED_REPO_NOTE = "a symlink to a folder elsewhere: only the link is removed, its target is kept"


def plan_detached(
    repos: Mapping[RepoKey, CachedRepoInfo], *, cache_dir: Path, busy: Mapping[RepoKey, str] | None = None
) -> DeletionPlan:
    """Prune: every revision no ref points to."""
    marks = [
        Mark.revision(repo.repo_type, repo.repo_id, rev.commit_hash)
        for repo in repos.values()
        for rev in repo.revisions
        if not rev.refs
    ]
    return plan_deletion(repos, marks, cache_dir=cache_dir, busy=busy)


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
    return DeletionPlan(cache_dir=Path(cache_dir), loose_files=tuple(kept)), skipped


def plan_shared_blobs(blobs: Iterable[tuple[Path, int]], *, cache_dir: Path) -> DeletionPlan:
    """Prune: entries of the shared blob store that no repo references."""
    return DeletionPlan(cache_dir=Path(cache_dir), shared_blobs=tuple(sorted(blobs)))


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
    """Refuses paths that are not strictly inside the cache directory (symlinks in the path resolved)."""

    def __init__(self, cache_dir: Path) -> None:
        self.root = os.path.realpath(cache_dir)

    def reason(self, path: Path) -> str | None:
        absolute = os.path.abspath(path)
        parent = os.path.realpath(os.path.dirname(absolute))
        candidate = os.path.join(parent, os.path.basename(absolute))
        if candidate == self.root or not candidate.startswith(self.root.rstrip(os.sep) + os.sep):
            return f"outside the cache directory {self.root}"
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


def _freed_blobs(plan: DeletionPlan) -> dict[Path, int]:
    """The blob entries the plan's figure counts (a blob kept for another revision is not among them)."""
    out: dict[Path, int] = {}
    for strategy in plan.strategies:
        roots = [str(p) + os.sep for p in (*strategy.repos, *strategy.snapshots)]
        for blob, size in plan.blob_sizes.items():
            if (
                blob in strategy.blobs
                or blob in strategy.files
                or any(str(blob).startswith(r) for r in roots)
            ):
                out[blob] = size
    return out


def _remove_repo(path: Path) -> tuple[Status, str]:
    """Delete a whole repo folder, keeping it consistent if part of it cannot be removed.

    Snapshots go first. If an entry of one survives, its blobs and refs must survive too (no
    dangling symlinks, no ref to a missing snapshot): then only the refs of snapshots that are
    fully gone are removed and the blobs are left for a later attempt.
    """
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return "vanished", "already gone (removed by someone else?)"
    except OSError as exc:
        return "failed", _describe(exc)
    if not stat.S_ISDIR(st.st_mode):
        return _remove(path)  # a symlinked repo folder is unlinked, never followed
    snapshots = path / "snapshots"
    status, message = _remove(snapshots) if os.path.lexists(snapshots) else ("deleted", "")
    if status != "failed":
        status, message = _remove(path)
        return ("deleted", "") if status == "vanished" else (status, message)
    refs = path / "refs"
    for root, _dirs, files in os.walk(refs):
        for name in files:
            ref = Path(root, name)
            try:
                commit = ref.read_text().strip()
            except OSError:
                continue
            if not os.path.lexists(snapshots / commit):
                _remove(ref)
    return "failed", f"snapshots/{message} (its blobs and refs were kept)"


def execute_plan(
    plan: DeletionPlan,
    *,
    cancel: Callable[[], bool] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ExecutionReport:
    """Carry out a plan item by item; never raises for a single item. Safe to call from a thread."""
    guard = _Guard(plan.cache_dir)
    report = ExecutionReport(expected_freed_size=plan.expected_freed_size, repos=plan.repos)
    # A repo folder that is a symlink is unlinked, never followed: its blobs are not freed.
    linked_repos = [
        str(repo) + os.sep for strategy in plan.strategies for repo in strategy.repos if os.path.islink(repo)
    ]
    steps = plan.paths()
    done = 0

    # Shared-store payloads reachable from the blobs this plan unlinks (as the library's execute() does).
    store_paths: set[Path] = set()
    if compat.shared_store_in_use(plan.cache_dir):
        candidates: set[Path] = set()
        for strategy in plan.strategies:
            candidates |= set(strategy.blobs)
            for repo_path in strategy.repos:
                try:
                    candidates.update((repo_path / "blobs").iterdir())
                except OSError:
                    pass
        for blob in candidates:
            target = compat.shared_blob_target(blob, plan.cache_dir)
            if target is not None:
                store_paths.add(target)

    def record(kind: str, path: Path, status: Status, message: str = "") -> None:
        report.outcomes.append(Outcome(kind, path, status, message))

    snapshot_of_ref = plan.ref_snapshots

    for kind, path in steps:
        if cancel is not None and cancel():
            report.cancelled = True
            break
        done += 1
        if progress is not None:
            progress(done, len(steps))
        why = guard.reason(path)
        if why is not None:
            record(kind, path, "refused", why)
            continue
        if kind == "shared-blob":
            if not _lexists(path):
                record(kind, path, "vanished", "already gone")
                continue
            freed = compat.sweep_shared_blob(path, cache_dir=plan.cache_dir)
            if freed or not _lexists(path):
                record(kind, path, "deleted")
            else:
                record(kind, path, "kept", "referenced again or not removable")
            continue
        if kind == "blob":
            still = [p for p in plan.blob_entries.get(path, ()) if _lexists(p)]
            if still:
                record(kind, path, "kept", f"still used by {still[0]}, which could not be deleted")
                continue
            owners = {_top_folder(p, plan.cache_dir) for p in plan.blob_entries.get(path, ())}
            if owners and _top_folder(path, plan.cache_dir) not in owners:
                # A snapshot entry linked into another repo's blobs (hand-deduplicated caches):
                # the library only checks the repos it was given, so that repo may still need it.
                record(kind, path, "kept", "it belongs to another repo folder, which may still use it")
                continue
        if kind == "ref":
            snapshot = snapshot_of_ref.get(path)
            if snapshot is not None and _lexists(snapshot):
                record(kind, path, "kept", "its snapshot could not be fully deleted")
                continue
        if kind == "kept":
            # Kept partial bytes go with their state file, never while a download writes them.
            from hftui.core.downloads.kept import remove_path

            kept_status, message = remove_path(path)
            record(kind, path, cast(Status, kept_status), message)
            continue
        status, message = _remove_repo(path) if kind == "repo" else _remove(path)
        record(kind, path, status, message)

    # Shared store: collect payloads that lost their last reference (the library's own sweep, under its lock).
    if not report.cancelled:
        for store_path in sorted(store_paths):
            compat.sweep_shared_blob(store_path, cache_dir=plan.cache_dir)

    # Re-check the filesystem: whatever is still there was not deleted, whatever we reported.
    checked: list[Outcome] = []
    for outcome in report.outcomes:
        if outcome.status == "deleted" and _lexists(outcome.path):
            checked.append(
                dataclasses.replace(outcome, status="failed", message="still there after deletion")
            )
        else:
            checked.append(outcome)
    report.outcomes = checked

    remaining = 0
    for blob, size in _freed_blobs(plan).items():
        if any(str(blob).startswith(repo) for repo in linked_repos) or (
            _lexists(blob) and compat.shared_blob_target(blob, plan.cache_dir) is None
        ):
            remaining += size
    for outcome in report.outcomes:
        if outcome.kind in ("incomplete", "lock", "shared-blob", "kept") and outcome.status not in (
            "deleted",
            "vanished",
        ):
            remaining += next(
                (f.size_on_disk for f in plan.loose_files if f.path == outcome.path),
                next((s for p, s in plan.shared_blobs if p == outcome.path), 0),
            )
    if report.cancelled:
        not_run = {p for _, p in steps[done:]}
        remaining += sum(f.size_on_disk for f in plan.loose_files if f.path in not_run)
        remaining += sum(s for p, s in plan.shared_blobs if p in not_run)
    report.freed_size = max(0, plan.expected_freed_size - remaining)
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
