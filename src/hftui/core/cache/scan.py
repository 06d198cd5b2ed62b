"""Fast, streaming scanner for the Hugging Face Hub cache.

It reports every fact `huggingface_hub.scan_cache_dir` reports, following the same rules (read
`huggingface_hub/utils/_cache_manager.py`), in light records built from plain `os` calls on str
paths; `RepoRecord.to_cached_repo_info()` and `CacheReport.to_hf_cache_info()` turn them into the
library's own types on demand, so deletion plans come from the library's own code. On top of that
it reports revision completeness (from `trees/<commit>.json`), orphaned `.incomplete` files, stale
lock files and unreferenced entries of the shared blob store.

Rules that differ from the library on purpose (the library raises or hides these):

* A problem in one repo never aborts the scan. Every case where `scan_cache_dir` records a
  `CorruptedCacheException` gives a `ScanWarning` of kind `"corrupted"` with the library's exact
  message; other I/O problems the library would crash on or silently skip (permission denied,
  unreadable ref files, a broken revision symlink, an unreadable directory inside a snapshot) give
  kind `"error"`. Either way the repo's record has `corrupt == True`, its revision data is dropped
  (as the library drops it) and `to_hf_cache_info()` leaves it out.
* Symlinks are resolved once: a snapshot entry's link is read, its first hop kept as the blob path
  (`os.path.abspath` semantics, like the library) and the blob stat'ed following links. The
  library's extra `is_dir()`/`exists()` calls on the same entry are answered by that one stat.

A lock file under `.locks/` is *stale* when nobody holds it: we open it read-only (never creating
it) and try a non-blocking shared `flock`. If that succeeds the lock is released at once and the
file is stale (filelock leaves its lock files behind after every download, so stale locks are
normal leftovers that are safe to delete). If it fails with EWOULDBLOCK a download holds it.
A lock we cannot open is left out.
"""

from __future__ import annotations

import errno
import os
import re
import stat as stat_mod
import sys
import threading
from array import array
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

from hftui.core.cache.listing import ListingError, read_listing
from hftui.core.compat import SHARED_BLOBS_DIR_NAME, SHARED_BLOBS_MARKER_CONTENT, SHARED_BLOBS_MARKER_NAME
from hftui.core.vocab import TYPE_PREFIXES

if TYPE_CHECKING:
    from huggingface_hub import (
        CachedFileInfo,
        CachedRepoInfo,
        CachedRevisionInfo,
        HFCacheInfo,
    )

__all__ = [
    "CacheReport",
    "Completeness",
    "IncompleteFile",
    "LockFile",
    "RepoRecord",
    "RevisionRecord",
    "ScanProgress",
    "ScanStream",
    "ScanWarning",
    "SharedBlob",
    "iter_scan",
    "rescan_repo",
    "scan_cache",
]

# Copies of library constants: importing the modules that define them costs ~120 ms at start-up,
# more than a whole scan of a small cache. tests/test_scan_rules.py keeps them equal.
FILES_TO_IGNORE = frozenset({".DS_Store", "Thumbs.db", "desktop.ini"})
REPO_TYPES_MAPPING = TYPE_PREFIXES

LOCKS_DIR_NAME = ".locks"

_XET_HASH = re.compile(r"[0-9a-f]{64}")
_HEX2 = re.compile(r"[0-9a-f]{2}")
_REPO_DIR = re.compile(rf"(?:{'|'.join(sorted(REPO_TYPES_MAPPING))})--.+")
_TEMP_SUFFIX = re.compile(r"\.[0-9a-f]{8}$")
# Errors for which pathlib's exists()/is_dir() answer False instead of raising.
_MISSING_ERRNOS = frozenset({errno.ENOENT, errno.ENOTDIR, errno.EBADF, errno.ELOOP})

# Below this many entries, starting worker processes costs more than it saves.
_MIN_ENTRIES_FOR_PROCESSES = 400
# With worker processes, the first entries are scanned in this process while none is up yet.
_FIRST_BATCH = 16

Cancel = threading.Event | Callable[[], bool] | None
CompletenessState = Literal["complete", "partial", "unknown"]


class ScanWarning:
    """A problem found in one cache entry. `kind` is `"corrupted"` when `scan_cache_dir` reports
    the same problem (then `message` is the library's text, character for character) or `"error"`
    for problems the library does not handle."""

    __slots__ = ("kind", "message", "path")

    def __init__(self, kind: str, message: str, path: str) -> None:
        self.kind = kind
        self.message = message
        self.path = path

    def __repr__(self) -> str:
        return f"ScanWarning({self.kind!r}, {self.message!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ScanWarning):
            return NotImplemented
        return (self.kind, self.message, self.path) == (other.kind, other.message, other.path)

    def __hash__(self) -> int:
        return hash((self.kind, self.message, self.path))

    def __getstate__(self) -> tuple[str, str, str]:
        return (self.kind, self.message, self.path)

    def __setstate__(self, state: tuple[str, str, str]) -> None:
        self.kind, self.message, self.path = state

    def to_exception(self) -> Exception:
        """The `CorruptedCacheException` the library puts in `HFCacheInfo.warnings`."""
        from huggingface_hub.errors import CorruptedCacheException

        return CorruptedCacheException(self.message)


class _Corrupt(Exception):
    def __init__(self, kind: str, message: str, path: str) -> None:
        super().__init__(message)
        self.warning = ScanWarning(kind, message, path)


def _corrupted(message: str, path: str) -> _Corrupt:
    return _Corrupt("corrupted", message, path)


def _error(exc: OSError, path: str, what: str) -> _Corrupt:
    reason = exc.strerror or exc.__class__.__name__
    return _Corrupt("error", f"{what}: {reason}: {path}", path)


@dataclass(frozen=True, slots=True)
class Completeness:
    """How much of a revision is on disk, judged against the listing in `trees/<commit>.json`
    that huggingface_hub 2.x writes when it lists a repo (`snapshot_download`).

    `state` is "unknown" when there is no usable listing (e.g. files fetched one by one with
    `hf_hub_download`): then the counts are 0.
    """

    state: CompletenessState
    listed_files: int = 0
    missing_files: tuple[str, ...] = ()
    missing_bytes: int = 0

    @property
    def complete(self) -> bool | None:
        return None if self.state == "unknown" else self.state == "complete"


_UNKNOWN = Completeness("unknown")


def _pack_pairs(pairs: tuple[tuple[str, str], ...]) -> str:
    # NUL cannot occur in a path.
    return "\0".join([item for pair in pairs for item in pair])


def _unpack_pairs(packed: str, count: int) -> tuple[tuple[str, str], ...]:
    if not count:
        return ()
    items = iter(packed.split("\0"))
    return tuple(zip(items, items, strict=True))


def _pack_blobs(blobs: dict[str, tuple[int, float, float]]) -> tuple[str, bytes, bytes, bytes]:
    values = blobs.values()
    return (
        "\0".join(blobs),
        array("q", [entry[0] for entry in values]).tobytes(),
        array("d", [entry[1] for entry in values]).tobytes(),
        array("d", [entry[2] for entry in values]).tobytes(),
    )


def _unpack_blobs(packed: tuple[str, bytes, bytes, bytes] | None) -> dict[str, tuple[int, float, float]]:
    if not packed or not packed[1]:
        return {}
    keys, raw_sizes, raw_atimes, raw_mtimes = packed
    sizes, atimes, mtimes = array("q"), array("d"), array("d")
    sizes.frombytes(raw_sizes)
    atimes.frombytes(raw_atimes)
    mtimes.frombytes(raw_mtimes)
    return dict(zip(keys.split("\0"), zip(sizes, atimes, mtimes, strict=True), strict=True))


class RevisionRecord:
    """One `snapshots/<commit>` folder. `files` holds `(path in snapshot, blob key)` pairs; a blob
    key is relative to the repo folder (`blobs/<etag>`, or `snapshots/...` for a file stored in the
    snapshot itself) unless the link points outside the repo, then it is absolute."""

    __slots__ = (
        "_files",
        "_packed_files",
        "commit_hash",
        "completeness",
        "last_modified",
        "nb_files",
        "refs",
        "repo_path",
        "size_on_disk",
        "snapshot_path",
    )

    def __init__(
        self,
        repo_path: str,
        commit_hash: str,
        snapshot_path: str,
        refs: frozenset[str],
        files: tuple[tuple[str, str], ...],
        size_on_disk: int,
        last_modified: float,
        completeness: Completeness,
    ) -> None:
        self.repo_path = repo_path
        self.commit_hash = commit_hash
        self.snapshot_path = snapshot_path
        self.refs = refs
        self._files: tuple[tuple[str, str], ...] | None = files
        self._packed_files: str | None = None
        self.nb_files = len(files)
        self.size_on_disk = size_on_disk
        self.last_modified = last_modified
        self.completeness = completeness

    @property
    def files(self) -> tuple[tuple[str, str], ...]:
        if self._files is None:
            self._files = _unpack_pairs(self._packed_files or "", self.nb_files)
            self._packed_files = None
        return self._files

    # Records cross process boundaries packed: one string instead of 2 strings and a tuple per
    # file makes pickling ~10x cheaper, and the main process only unpacks what it reads.
    def __getstate__(self) -> tuple[Any, ...]:
        packed = self._packed_files if self._files is None else _pack_pairs(self._files)
        return (
            self.repo_path,
            self.commit_hash,
            self.snapshot_path,
            self.refs,
            packed,
            self.nb_files,
            self.size_on_disk,
            self.last_modified,
            self.completeness,
        )

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        (
            self.repo_path,
            self.commit_hash,
            self.snapshot_path,
            self.refs,
            self._packed_files,
            self.nb_files,
            self.size_on_disk,
            self.last_modified,
            self.completeness,
        ) = state
        self._files = None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RevisionRecord):
            return NotImplemented
        return self.__getstate__() == other.__getstate__()

    def __hash__(self) -> int:
        return hash((self.repo_path, self.commit_hash))

    def __repr__(self) -> str:
        return f"RevisionRecord({self.commit_hash!r}, refs={sorted(self.refs)}, files={len(self.files)})"

    @property
    def detached(self) -> bool:
        """No ref (branch, tag or PR) points at this revision."""
        return not self.refs

    @property
    def complete(self) -> bool | None:
        return self.completeness.complete

    def blob_path(self, blob_key: str) -> str:
        return os.path.join(self.repo_path, blob_key)


@dataclass(frozen=True, slots=True)
class IncompleteFile:
    """A `blobs/<etag>.incomplete` (or 2.4's `<etag>.<8 hex>.incomplete`) temp file. `in_progress`
    is True when a download holds the matching lock right now, so it is not an orphan."""

    path: str
    size_on_disk: int
    repo_dir: str
    etag: str
    last_modified: float
    in_progress: bool


@dataclass(frozen=True, slots=True)
class LockFile:
    path: str
    repo_dir: str
    size_on_disk: int
    last_modified: float
    held: bool


@dataclass(frozen=True, slots=True)
class SharedBlob:
    """A payload in the cache-wide shared blob store `<cache>/blobs/<xx>/<hash>`."""

    path: str
    size_on_disk: int


class RepoRecord:
    """One top-level cache entry. A healthy repo has `warnings == []`. A corrupt one (`corrupt`)
    keeps what could be parsed from its folder name (`repo_type` is None when even that failed,
    e.g. a foreign folder), has no revisions and zero sizes; the UI shows it with a warning mark.

    `blobs` maps each blob key referenced by a snapshot to `(size, atime, mtime)` from a stat that
    follows links; `shared_blobs` maps the keys that link into the shared blob store to the store
    path.
    """

    __slots__ = (
        "_blobs",
        "_packed_blobs",
        "_physical",
        "incomplete_files",
        "last_accessed",
        "last_modified",
        "lock_files",
        "name",
        "repo_id",
        "repo_path",
        "repo_type",
        "revisions",
        "shared_blobs",
        "size_on_disk",
        "warnings",
    )

    def __init__(self, repo_path: str, name: str) -> None:
        self.repo_path = repo_path
        self.name = name
        self.repo_id = name
        self.repo_type: str | None = None
        self.revisions: tuple[RevisionRecord, ...] = ()
        self._blobs: dict[str, tuple[int, float, float]] | None = {}
        self._packed_blobs: tuple[str, bytes, bytes, bytes] | None = None
        self.shared_blobs: dict[str, str] = {}
        # Sum of the blob sizes, kept rather than summed on each access: sorting reads it often.
        self.size_on_disk = 0
        # (bytes of blobs inside the repo and not in the shared store, {absolute blob path: bytes}):
        # what this repo adds to the cache-wide physical size, without unpacking `blobs`.
        self._physical: tuple[int, dict[str, int]] = (0, {})
        self.last_accessed = 0.0
        self.last_modified = 0.0
        self.warnings: list[ScanWarning] = []
        self.incomplete_files: tuple[IncompleteFile, ...] = ()
        self.lock_files: tuple[LockFile, ...] = ()

    @property
    def blobs(self) -> dict[str, tuple[int, float, float]]:
        if self._blobs is None:
            self._blobs = _unpack_blobs(self._packed_blobs)
            self._packed_blobs = None
        return self._blobs

    @blobs.setter
    def blobs(self, value: dict[str, tuple[int, float, float]]) -> None:
        self._blobs = value
        self._packed_blobs = None

    def __getstate__(self) -> tuple[Any, ...]:
        packed = self._packed_blobs if self._blobs is None else _pack_blobs(self._blobs)
        return (packed, *(getattr(self, name) for name in self.__slots__[2:]))

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        self._blobs = None
        self._packed_blobs = state[0]
        for name, value in zip(self.__slots__[2:], state[1:], strict=True):
            setattr(self, name, value)

    def __eq__(self, other: object) -> bool:
        # By value, so a UI can tell whether a rescanned row changed.
        if not isinstance(other, RepoRecord):
            return NotImplemented
        return self.__getstate__() == other.__getstate__()

    def __hash__(self) -> int:
        return hash(self.repo_path)

    def __repr__(self) -> str:
        status = "corrupt" if self.warnings else f"{len(self.revisions)} revisions"
        return f"RepoRecord({self.cache_id!r}, {self.size_on_disk} B, {status})"

    @property
    def corrupt(self) -> bool:
        return bool(self.warnings)

    @property
    def cache_id(self) -> str:
        """`type/id` like `hf cache ls`, or the folder name when it is not a repo folder."""
        return f"{self.repo_type}/{self.repo_id}" if self.repo_type else self.name

    @property
    def nb_files(self) -> int:
        if self._blobs is None:
            return len(self._packed_blobs[1]) // 8 if self._packed_blobs else 0
        return len(self._blobs)

    @property
    def refs(self) -> frozenset[str]:
        return frozenset(ref for revision in self.revisions for ref in revision.refs)

    @property
    def complete(self) -> bool | None:
        """False if any revision is partial, True if all are known complete, else None."""
        states = {revision.complete for revision in self.revisions}
        if False in states:
            return False
        if None in states or not states:
            return None
        return True

    def revision(self, commit_or_ref: str) -> RevisionRecord | None:
        for revision in self.revisions:
            if revision.commit_hash == commit_or_ref or commit_or_ref in revision.refs:
                return revision
        return None

    def to_cached_repo_info(self) -> CachedRepoInfo:
        """This repo as huggingface_hub's `CachedRepoInfo`, equal (`==`) to `scan_cache_dir`'s."""
        from huggingface_hub import CachedFileInfo, CachedRepoInfo, CachedRevisionInfo

        if self.warnings:
            raise ValueError(
                f"{self.cache_id} is corrupt; scan_cache_dir leaves it out: {self.warnings[0].message}"
            )
        repo_path = self.repo_path
        blobs = self.blobs
        revisions: list[CachedRevisionInfo] = []
        blob_paths: dict[str, Any] = {}
        from pathlib import Path

        for revision in self.revisions:
            snapshot = revision.snapshot_path
            files: list[CachedFileInfo] = []
            for rel_path, key in revision.files:
                blob_path = blob_paths.get(key)
                if blob_path is None:
                    blob_path = blob_paths[key] = Path(os.path.join(repo_path, key))
                size, atime, mtime = blobs[key]
                files.append(
                    CachedFileInfo(
                        file_name=rel_path.rpartition("/")[2],
                        file_path=Path(snapshot + "/" + rel_path),
                        blob_path=blob_path,
                        size_on_disk=size,
                        blob_last_accessed=atime,
                        blob_last_modified=mtime,
                    )
                )
            revisions.append(
                CachedRevisionInfo(
                    commit_hash=revision.commit_hash,
                    snapshot_path=Path(snapshot),
                    size_on_disk=revision.size_on_disk,
                    files=frozenset(files),
                    refs=revision.refs,
                    last_modified=revision.last_modified,
                )
            )
        return CachedRepoInfo(
            repo_id=self.repo_id,
            repo_type=self.repo_type,  # type: ignore[arg-type]
            repo_path=Path(repo_path),
            size_on_disk=self.size_on_disk,
            nb_files=self.nb_files,
            revisions=frozenset(revisions),
            last_accessed=self.last_accessed,
            last_modified=self.last_modified,
        )


@dataclass(frozen=True, slots=True)
class ScanProgress:
    done: int
    total: int


@dataclass
class CacheReport:
    """The result of a whole scan. `repos` holds every scanned entry, corrupt ones included;
    `size_on_disk` is the physical size `scan_cache_dir` reports (a shared payload counted once,
    store-only payloads included)."""

    cache_dir: str
    exists: bool
    repos: list[RepoRecord] = field(default_factory=list)
    size_on_disk: int = 0
    incomplete_files: list[IncompleteFile] = field(default_factory=list)
    stale_locks: list[LockFile] = field(default_factory=list)
    unreferenced_shared_blobs: list[SharedBlob] = field(default_factory=list)
    shared_store: list[SharedBlob] = field(default_factory=list)
    orphan_lock_files: list[LockFile] = field(default_factory=list)

    @property
    def valid_repos(self) -> list[RepoRecord]:
        return [repo for repo in self.repos if not repo.warnings]

    @property
    def warnings(self) -> list[ScanWarning]:
        return [warning for repo in self.repos for warning in repo.warnings]

    def find(self, cache_id: str) -> RepoRecord | None:
        for repo in self.repos:
            if repo.cache_id == cache_id:
                return repo
        return None

    def with_repo(self, record: RepoRecord) -> CacheReport:
        """A new report with `record` (e.g. from `rescan_repo` after a deletion) replacing the entry
        of the same folder, or removing it when the folder is gone; totals are recomputed."""
        repos = [repo for repo in self.repos if repo.name != record.name]
        if os.path.lexists(record.repo_path):
            repos.append(record)
        return _finish_report(self.cache_dir, self.exists, repos, self.orphan_lock_files)

    def to_hf_cache_info(self, repos: Sequence[RepoRecord] | None = None) -> HFCacheInfo:
        """huggingface_hub's `HFCacheInfo` for all valid repos (equal to `scan_cache_dir`'s, warnings
        aside, which are equal by type and message) or for the given ones; corrupt repos are left
        out like `scan_cache_dir` leaves them out. Pass the repos you act on: building the library's
        types costs about 20 µs per file."""
        from pathlib import Path

        from huggingface_hub import CachedIncompleteFileInfo, HFCacheInfo

        if repos is None:
            chosen = self.valid_repos
            size = self.size_on_disk
            incomplete = self.incomplete_files
            warnings = [warning.to_exception() for warning in self.warnings]
        else:
            chosen = [repo for repo in repos if not repo.warnings]
            size = _physical_size(chosen, self.shared_store, only_referenced=True)
            names = {repo.name for repo in chosen}
            incomplete = [item for item in self.incomplete_files if item.repo_dir in names]
            warnings = []
        return HFCacheInfo(
            size_on_disk=size,
            repos=frozenset(repo.to_cached_repo_info() for repo in chosen),
            incomplete_files=frozenset(
                CachedIncompleteFileInfo(file_path=Path(item.path), size_on_disk=item.size_on_disk)
                for item in incomplete
            ),
            warnings=warnings,  # type: ignore[arg-type]
            cache_dir=Path(self.cache_dir),
        )


# --------------------------------------------------------------------------------------------
# One repo


class _Context:
    """What every repo scan needs to know about the cache as a whole."""

    __slots__ = ("lock_names", "root", "store_dir", "store_inodes")

    def __init__(
        self, root: str, store_inodes: dict[tuple[int, int], str], lock_names: frozenset[str]
    ) -> None:
        self.root = root
        self.store_dir = os.path.join(root, SHARED_BLOBS_DIR_NAME)
        self.store_inodes = store_inodes
        self.lock_names = lock_names


def _scan_repo(ctx: _Context, name: str) -> RepoRecord:
    repo_path = os.path.join(ctx.root, name)
    record = RepoRecord(repo_path, name)
    # Like scan_cache_dir's cache-wide glob, temp files are found whatever state the repo is in.
    locks_dir = os.path.join(ctx.root, LOCKS_DIR_NAME, name) if name in ctx.lock_names else None
    record.lock_files = _scan_locks(locks_dir, name) if locks_dir else ()
    record.incomplete_files = _scan_incomplete(repo_path, name, record.lock_files)
    try:
        _fill_repo(ctx, record)
    except _Corrupt as exc:
        record.warnings = [exc.warning]
        record.revisions = ()
        record.blobs = {}
        record.shared_blobs = {}
        record.size_on_disk = 0
        record._physical = (0, {})
        try:
            repo_stat = os.stat(repo_path)
            record.last_accessed, record.last_modified = repo_stat.st_atime, repo_stat.st_mtime
        except OSError:
            pass
    return record


def _fill_repo(ctx: _Context, record: RepoRecord) -> None:
    repo_path = record.repo_path
    name = record.name
    try:
        is_dir = stat_mod.S_ISDIR(os.stat(repo_path).st_mode)
    except OSError:
        is_dir = False
    if not is_dir:
        raise _corrupted(f"Repo path is not a directory: {repo_path}", repo_path)
    if "--" not in name:
        raise _corrupted(f"Repo path is not a valid HuggingFace cache directory: {repo_path}", repo_path)
    type_prefix, repo_id = name.split("--", maxsplit=1)
    record.repo_id = repo_id.replace("--", "/")
    if type_prefix not in REPO_TYPES_MAPPING:
        raise _corrupted(
            f"Repo type must be one of {sorted(REPO_TYPES_MAPPING)}, found `{type_prefix}` ({repo_path}).",
            repo_path,
        )
    record.repo_type = REPO_TYPES_MAPPING[type_prefix]

    snapshots_path = repo_path + "/snapshots"
    try:
        snapshots_ok = stat_mod.S_ISDIR(os.stat(snapshots_path).st_mode)
    except OSError as exc:
        if exc.errno not in _MISSING_ERRNOS:
            raise _error(exc, snapshots_path, "Cannot read snapshots dir") from None
        snapshots_ok = False
    if not snapshots_ok:
        raise _corrupted(f"Snapshots dir doesn't exist in cached repo: {snapshots_path}", snapshots_path)

    refs_by_hash = _read_refs(repo_path + "/refs")

    try:
        revision_names = os.listdir(snapshots_path)
    except OSError as exc:
        raise _error(exc, snapshots_path, "Cannot list snapshots dir") from None

    trees_dir = repo_path + "/trees/"
    has_trees = os.path.isdir(trees_dir)
    prefix = repo_path + "/"
    blobs: dict[str, tuple[int, float, float]] = {}
    shared: dict[str, str] = {}
    revisions: list[RevisionRecord] = []
    repo_fd: int | None = None
    try:
        for revision_name in revision_names:
            if revision_name in FILES_TO_IGNORE:
                continue
            revision_path = snapshots_path + "/" + revision_name
            try:
                revision_stat: os.stat_result | None = os.stat(revision_path)
            except OSError as exc:
                if exc.errno not in _MISSING_ERRNOS:
                    raise _error(exc, revision_path, "Cannot read snapshot") from None
                revision_stat = None
            if revision_stat is not None and stat_mod.S_ISREG(revision_stat.st_mode):
                raise _corrupted(f"Snapshots folder corrupted. Found a file: {revision_path}", revision_path)

            files: list[tuple[str, str]] = []
            if revision_stat is not None and stat_mod.S_ISDIR(revision_stat.st_mode):
                if repo_fd is None:
                    repo_fd = _open_repo_fd(repo_path)
                _walk_snapshot(ctx, revision_path, "", prefix, 2, files, blobs, shared, repo_fd)

            if files:
                revision_keys = {key for _, key in files}
                last_modified = max(blobs[key][2] for key in revision_keys)
                size = sum(blobs[key][0] for key in revision_keys)
            else:
                if revision_stat is None:
                    raise _Corrupt("error", f"Broken snapshot link: {revision_path}", revision_path)
                last_modified = revision_stat.st_mtime
                size = 0
            completeness = _completeness(repo_path, revision_name, files) if has_trees else _UNKNOWN
            revisions.append(
                RevisionRecord(
                    repo_path,
                    revision_name,
                    revision_path,
                    frozenset(refs_by_hash.pop(revision_name, ())),
                    tuple(files),
                    size,
                    last_modified,
                    completeness,
                )
            )
    finally:
        if repo_fd is not None:
            os.close(repo_fd)

    if refs_by_hash:
        raise _corrupted(
            f"Reference(s) refer to missing commit hashes: {dict(refs_by_hash)} ({repo_path}).",
            repo_path + "/refs",
        )

    if blobs:
        record.last_accessed = max(entry[1] for entry in blobs.values())
        record.last_modified = max(entry[2] for entry in blobs.values())
    else:
        repo_stat = os.stat(repo_path)
        record.last_accessed, record.last_modified = repo_stat.st_atime, repo_stat.st_mtime
    record.revisions = tuple(revisions)
    record.blobs = blobs
    record.size_on_disk = sum(entry[0] for entry in blobs.values())
    local_size = 0
    outside: dict[str, int] = {}
    for key, entry in blobs.items():
        if key in shared:
            continue
        if os.path.isabs(key):
            outside[key] = entry[0]
        else:
            local_size += entry[0]
    record._physical = (local_size, outside)
    record.shared_blobs = shared


def _read_refs(refs_path: str) -> dict[str, set[str]]:
    refs_by_hash: dict[str, set[str]] = {}
    try:
        mode = os.stat(refs_path).st_mode
    except OSError as exc:
        if exc.errno not in _MISSING_ERRNOS:
            raise _error(exc, refs_path, "Cannot read refs dir") from None
        return refs_by_hash
    if stat_mod.S_ISREG(mode):
        raise _corrupted(f"Refs directory cannot be a file: {refs_path}", refs_path)
    if stat_mod.S_ISDIR(mode):
        _walk_refs(refs_path, "", refs_by_hash)
    return refs_by_hash


def _walk_refs(dir_path: str, rel_prefix: str, refs_by_hash: dict[str, set[str]]) -> None:
    # Same order as pathlib's glob("**/*"): a folder's entries, then its real subfolders depth first.
    try:
        with os.scandir(dir_path) as it:
            entries = list(it)
    except OSError as exc:
        raise _error(exc, dir_path, "Cannot list refs") from None
    for entry in entries:
        if entry.name in FILES_TO_IGNORE:
            continue
        try:
            if entry.is_dir():
                continue
        except OSError:
            pass
        try:
            with open(entry.path) as f:
                commit_hash = f.read()
        except (OSError, UnicodeDecodeError) as exc:
            message = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc.__class__.__name__
            raise _Corrupt("error", f"Cannot read ref: {message}: {entry.path}", entry.path) from None
        refs_by_hash.setdefault(commit_hash, set()).add(rel_prefix + entry.name)
    for entry in entries:
        if entry.is_dir(follow_symlinks=False):
            _walk_refs(entry.path, rel_prefix + entry.name + "/", refs_by_hash)


# Walk snapshots with descriptors: readlink/stat relative to an open folder skip most of the
# kernel's path walk (~25% of the scan's CPU time on Linux). O_PATH opens the repo folder even when
# it is search-only (mode 0111), where the library can still stat inside it.
_USE_FDS = os.name == "posix" and os.scandir in os.supports_fd and os.readlink in os.supports_dir_fd
_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0)
_PATH_FLAGS = getattr(os, "O_PATH", 0) | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0)


def _open_repo_fd(repo_path: str) -> int | None:
    if not _USE_FDS or not hasattr(os, "O_PATH"):
        return None
    try:
        return os.open(repo_path, _PATH_FLAGS)
    except OSError:
        return None


def _walk_snapshot(
    ctx: _Context,
    dir_path: str,
    rel_prefix: str,
    repo_prefix: str,
    depth: int,
    files: list[tuple[str, str]],
    blobs: dict[str, tuple[int, float, float]],
    shared: dict[str, str],
    repo_fd: int | None = None,
    parent_fd: int | None = None,
) -> None:
    """Collect the files under one snapshot folder, `depth` levels below the repo folder.

    The hot loop: one readlink per entry and one stat per distinct blob. Entries come in the order
    of glob("**/*") (a folder's entries, then its real subfolders depth first), so the first broken
    link reported is the one the library reports.
    """
    fd: int | None = None
    try:
        if _USE_FDS:
            if parent_fd is None:
                fd = os.open(dir_path, _DIR_FLAGS)
            else:
                fd = os.open(dir_path.rpartition("/")[2], _DIR_FLAGS, dir_fd=parent_fd)
            with os.scandir(fd) as it:
                entries = list(it)
        else:
            with os.scandir(dir_path) as it:
                entries = list(it)
    except OSError as exc:
        if fd is not None:
            os.close(fd)
        raise _error(exc, dir_path, "Cannot list snapshot folder") from None
    try:
        subdirs = _collect(
            ctx, entries, dir_path, rel_prefix, repo_prefix, depth, files, blobs, shared, repo_fd, fd
        )
        for name in subdirs:
            _walk_snapshot(
                ctx,
                dir_path + "/" + name,
                rel_prefix + name + "/",
                repo_prefix,
                depth + 1,
                files,
                blobs,
                shared,
                repo_fd,
                fd,
            )
    finally:
        if fd is not None:
            os.close(fd)


def _collect(
    ctx: _Context,
    entries: list[os.DirEntry[str]],
    dir_path: str,
    rel_prefix: str,
    repo_prefix: str,
    depth: int,
    files: list[tuple[str, str]],
    blobs: dict[str, tuple[int, float, float]],
    shared: dict[str, str],
    repo_fd: int | None,
    fd: int | None,
) -> list[str]:
    readlink = os.readlink
    stat = os.stat
    base = dir_path + "/"
    # The usual target is "../" * depth + "blobs/<etag>": then the blob key is "blobs/<etag>",
    # with no need for normpath (which costs as much as the readlink).
    up_blobs = "../" * depth + "blobs/"
    up_len = len(up_blobs) - len("blobs/")
    etag_start = len(up_blobs)
    prefix_len = len(repo_prefix)
    subdirs: list[str] = []
    append = files.append
    for entry in entries:
        name = entry.name
        if not entry.is_symlink():  # d_type from the listing: no system call
            try:
                if entry.is_dir(follow_symlinks=False):
                    subdirs.append(name)
                    continue
                # A real file stored in the snapshot (no symlink support, or created by the
                # user): it is its own blob.
                entry_stat = entry.stat(follow_symlinks=False)
            except OSError as exc:
                if exc.errno in _MISSING_ERRNOS:
                    continue  # vanished since the listing
                raise _error(exc, base + name, "Cannot read file") from None
            key = (base + name)[prefix_len:]
            if key not in blobs:
                blobs[key] = (entry_stat.st_size, entry_stat.st_atime, entry_stat.st_mtime)
            append((rel_prefix + name, key))
            continue
        try:
            target = readlink(name, dir_fd=fd) if fd is not None else readlink(base + name)
        except OSError as exc:
            raise _error(exc, base + name, "Cannot read link") from None
        # A plain etag (no "/", not "." or ".." or hidden) needs no normalising.
        if (
            target.startswith(up_blobs)
            and "/" not in target[etag_start:]
            and target[etag_start : etag_start + 1] not in (".", "")
        ):
            key = target[up_len:]
            relative = True
        else:
            blob_path = os.path.normpath(target if target.startswith("/") else base + target)
            relative = blob_path.startswith(repo_prefix)
            key = blob_path[prefix_len:] if relative else blob_path
        if key not in blobs:
            try:
                if relative and repo_fd is not None:
                    blob_stat = stat(key, dir_fd=repo_fd)
                else:
                    blob_stat = stat(repo_prefix + key if relative else key)
            except OSError as exc:
                blob_path = repo_prefix + key if relative else key
                if exc.errno in _MISSING_ERRNOS:
                    raise _corrupted(f"Blob missing (broken symlink): {blob_path}", blob_path) from None
                raise _error(exc, blob_path, "Cannot read blob") from None
            if stat_mod.S_ISDIR(blob_stat.st_mode):
                continue  # a link to a folder: the library's is_dir() skips it
            blobs[key] = (blob_stat.st_size, blob_stat.st_atime, blob_stat.st_mtime)
            if ctx.store_inodes:
                store_path = ctx.store_inodes.get((blob_stat.st_dev, blob_stat.st_ino))
                if store_path is not None:
                    blob_path = repo_prefix + key if relative else key
                    if _is_store_link(key, blob_path, store_path):
                        shared[key] = store_path
        append((rel_prefix + name, key))
    return subdirs


def _is_store_link(key: str, blob_path: str, store_path: str) -> bool:
    """The library's `shared_blob_target` test: `<repo>/blobs/<name>` is a symlink whose target is
    a well-formed entry of the marked store (we only get here when it resolves to one)."""
    if not key.startswith("blobs/") or "/" in key[6:] or not key[6:]:
        return False
    try:
        target = os.readlink(blob_path)
    except OSError:
        return False
    resolved = os.path.normpath(os.path.join(os.path.dirname(blob_path), target))
    return resolved == store_path


def _completeness(repo_path: str, commit_hash: str, files: list[tuple[str, str]]) -> Completeness:
    try:
        listed = read_listing(repo_path, commit_hash)
    except ListingError:  # any file, whatever it holds, must never stop a scan
        return _UNKNOWN
    present = {rel for rel, _ in files}
    missing = tuple(sorted(path for path in listed if path not in present))
    return Completeness(
        "partial" if missing else "complete",
        listed_files=len(listed),
        missing_files=missing,
        missing_bytes=sum(listed[path].size for path in missing),
    )


def _scan_incomplete(
    repo_path: str, repo_dir: str, locks: tuple[LockFile, ...]
) -> tuple[IncompleteFile, ...]:
    blobs_dir = repo_path + "/blobs"
    try:
        names = [name for name in os.listdir(blobs_dir) if name.endswith(".incomplete")]
    except OSError:
        return ()
    if not names:
        return ()
    held_etags = {os.path.basename(lock.path)[: -len(".lock")] for lock in locks if lock.held}
    found = []
    for name in names:
        path = blobs_dir + "/" + name
        try:
            st = os.stat(path)
        except OSError:
            continue
        etag = _TEMP_SUFFIX.sub("", name[: -len(".incomplete")])
        found.append(IncompleteFile(path, st.st_size, repo_dir, etag, st.st_mtime, etag in held_etags))
    return tuple(found)


def _scan_locks(locks_dir: str, repo_dir: str) -> tuple[LockFile, ...]:
    found: list[LockFile] = []
    pending = [locks_dir]
    while pending:
        current = pending.pop()
        try:
            with os.scandir(current) as it:
                entries = list(it)
        except OSError:
            continue
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                pending.append(entry.path)
            elif entry.name.endswith(".lock") and entry.is_file(follow_symlinks=False):
                held = _lock_is_held(entry.path)
                if held is None:
                    continue
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                found.append(LockFile(entry.path, repo_dir, st.st_size, st.st_mtime, held))
    return tuple(found)


def _lock_is_held(path: str) -> bool | None:
    """True if another open file holds a flock on `path`, False if not, None if we cannot tell."""
    if fcntl is None:  # Windows: no flock; we cannot tell
        return None
    flags = (
        os.O_RDONLY
        | getattr(os, "O_NOFOLLOW", 0)
        | getattr(os, "O_NONBLOCK", 0)
        | getattr(os, "O_CLOEXEC", 0)
    )
    try:
        fd = os.open(path, flags)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError as exc:
        return True if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN) else None
    else:
        return False
    finally:
        os.close(fd)  # also drops our shared lock at once


# --------------------------------------------------------------------------------------------
# The shared blob store


def _is_marked_store(store_dir: str) -> bool:
    try:
        if not stat_mod.S_ISDIR(os.lstat(store_dir).st_mode):
            return False
        marker = os.path.join(store_dir, SHARED_BLOBS_MARKER_NAME)
        if not stat_mod.S_ISREG(os.lstat(marker).st_mode):
            return False
        with open(marker) as f:
            return f.read() == SHARED_BLOBS_MARKER_CONTENT
    except (OSError, UnicodeDecodeError):
        return False


def _list_store(store_dir: str) -> tuple[list[SharedBlob], dict[tuple[int, int], str]]:
    """Valid payloads of a marked store, with the rules of `shared_store_blob_paths`."""
    blobs: list[SharedBlob] = []
    inodes: dict[tuple[int, int], str] = {}
    try:
        prefixes = list(os.scandir(store_dir))
    except OSError:
        return blobs, inodes
    for prefix in prefixes:
        if _HEX2.fullmatch(prefix.name) is None or not prefix.is_dir(follow_symlinks=False):
            continue
        try:
            entries = list(os.scandir(prefix.path))
        except OSError:
            continue
        for entry in entries:
            if _XET_HASH.fullmatch(entry.name) is None or not entry.name.startswith(prefix.name):
                continue
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if stat_mod.S_ISREG(st.st_mode):
                blobs.append(SharedBlob(entry.path, st.st_size))
                inodes[(st.st_dev, st.st_ino)] = entry.path
    return blobs, inodes


def _manifest_has_valid_reference(root: str, store_path: str) -> bool | None:
    """The library's `_read_valid_manifest_references(...)` reduced to: any valid reference?
    None when the manifest is missing or unreadable (then the payload is never called unreferenced,
    as `hf cache prune` would not collect it either)."""
    manifest = store_path + ".refs"
    try:
        if not stat_mod.S_ISREG(os.lstat(manifest).st_mode):
            return None
        with open(manifest) as f:
            lines = f.read().splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    store_dir = os.path.join(root, SHARED_BLOBS_DIR_NAME)
    found = False
    for line in lines:
        if not line or os.path.isabs(line):
            continue
        parts = [part for part in line.split("/") if part not in ("", ".")]
        if ".." in parts or len(parts) != 3 or parts[1] != "blobs" or _REPO_DIR.fullmatch(parts[0]) is None:
            continue
        candidate = os.path.join(root, *parts)
        try:
            target = os.readlink(candidate)
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.EINVAL):
                continue
            return None
        resolved = os.path.normpath(os.path.join(os.path.dirname(candidate), target))
        rel = os.path.relpath(resolved, store_dir) if resolved.startswith(store_dir + "/") else None
        if rel is None:
            continue
        rel_parts = rel.split("/")
        if (
            len(rel_parts) == 2
            and _XET_HASH.fullmatch(rel_parts[1]) is not None
            and rel_parts[0] == rel_parts[1][:2]
            and resolved == store_path
        ):
            found = True
    return found


# --------------------------------------------------------------------------------------------
# Whole cache


def _physical_size(repos: Sequence[RepoRecord], store: Sequence[SharedBlob], *, only_referenced: bool) -> int:
    """Sizes as scan_cache_dir adds them: repo blobs that are not shared-store links, plus the store's
    payloads (all of them, or only those the given repos reference)."""
    total = 0
    outside: dict[str, int] = {}
    referenced: set[str] = set()
    for repo in repos:
        local_size, repo_outside = repo._physical
        total += local_size
        outside.update(repo_outside)  # a link out of the repo: count each target once
        referenced.update(repo.shared_blobs.values())
    total += sum(outside.values())
    for blob in store:
        if not only_referenced or blob.path in referenced:
            total += blob.size_on_disk
    return total


def _finish_report(
    root: str,
    exists: bool,
    repos: list[RepoRecord],
    orphan_lock_files: list[LockFile],
    store: list[SharedBlob] | None = None,
) -> CacheReport:
    store_dir = os.path.join(root, SHARED_BLOBS_DIR_NAME)
    if store is None:
        store = _list_store(store_dir)[0] if _is_marked_store(store_dir) else []
    valid = [repo for repo in repos if not repo.warnings]
    # A payload a scanned snapshot reaches is in use whatever its manifest says (and skipping its
    # manifest saves most of the reads); the others are unreferenced when their manifest lists no
    # valid link, which is what `hf cache prune` would collect.
    reached = {path for repo in valid for path in repo.shared_blobs.values()}
    unreferenced = [
        blob
        for blob in store
        if blob.path not in reached and _manifest_has_valid_reference(root, blob.path) is False
    ]
    locks = [lock for repo in repos for lock in repo.lock_files] + orphan_lock_files
    return CacheReport(
        cache_dir=root,
        exists=exists,
        repos=repos,
        size_on_disk=_physical_size(valid, store, only_referenced=False),
        incomplete_files=[item for repo in repos for item in repo.incomplete_files],
        stale_locks=[lock for lock in locks if not lock.held],
        unreferenced_shared_blobs=unreferenced,
        shared_store=store,
        orphan_lock_files=orphan_lock_files,
    )


def _is_cancelled(cancel: Cancel) -> bool:
    if cancel is None:
        return False
    if isinstance(cancel, threading.Event):
        return cancel.is_set()
    return bool(cancel())


def _root_of(cache_dir: str | os.PathLike[str]) -> str:
    # scan_cache_dir resolves the cache dir, so every path it reports starts with the real path.
    return os.path.realpath(os.path.expanduser(os.fspath(cache_dir)))


def _top_level_names(root: str) -> list[str]:
    names = []
    store_dir = os.path.join(root, SHARED_BLOBS_DIR_NAME)
    for name in os.listdir(root):
        if name in FILES_TO_IGNORE or name in (LOCKS_DIR_NAME, "CACHEDIR.TAG"):
            continue
        if name == SHARED_BLOBS_DIR_NAME and _is_marked_store(store_dir):
            continue
        names.append(name)
    return names


# Set in each worker process by _init_worker.
_WORKER_CONTEXT: _Context | None = None


def _init_worker(ctx: _Context) -> None:
    global _WORKER_CONTEXT
    _WORKER_CONTEXT = ctx


def _scan_indexed_chunk(chunk: tuple[int, list[str]]) -> tuple[int, list[RepoRecord]]:
    assert _WORKER_CONTEXT is not None
    start, names = chunk
    return start, [_scan_repo(_WORKER_CONTEXT, name) for name in names]


class ScanStream:
    """Iterator of `RepoRecord`s, one per top-level cache entry, each yielded as soon as it is
    scanned (in no particular order). `progress` says how far it got; `report` is the whole
    `CacheReport` once the iteration ended without being cancelled."""

    def __init__(
        self, cache_dir: str | os.PathLike[str], *, cancel: Cancel = None, processes: int = 0
    ) -> None:
        self.cache_dir = _root_of(cache_dir)
        self.exists = os.path.isdir(self.cache_dir)
        self._cancel = cancel
        self.cancelled = False
        self.report: CacheReport | None = None
        self._records: list[RepoRecord] = []
        self._names = _top_level_names(self.cache_dir) if self.exists else []
        locks_root = os.path.join(self.cache_dir, LOCKS_DIR_NAME)
        try:
            self._lock_names = frozenset(os.listdir(locks_root)) if self.exists else frozenset()
        except OSError:
            self._lock_names = frozenset()
        store_dir = os.path.join(self.cache_dir, SHARED_BLOBS_DIR_NAME)
        self._store, inodes = (
            _list_store(store_dir) if self.exists and _is_marked_store(store_dir) else ([], {})
        )
        self._ctx = _Context(self.cache_dir, inodes, self._lock_names)
        self.total = len(self._names)
        self.done = 0
        self.processes = _choose_processes(processes, self.total)
        self.first_batch = min(self.total, _FIRST_BATCH) if self.processes > 1 else 0
        """With worker processes, this many records come from this process first, at once: a
        consumer that batches should pass them on when `done == first_batch`."""
        self._iterator = self._run()

    @property
    def progress(self) -> ScanProgress:
        return ScanProgress(self.done, self.total)

    def __iter__(self) -> ScanStream:
        return self

    def __next__(self) -> RepoRecord:
        return next(self._iterator)

    def close(self) -> None:
        self._iterator.close()

    def _run(self) -> Generator[RepoRecord, None, None]:
        source = self._in_process() if self.processes <= 1 else self._in_pool()
        for record in source:
            self.done += 1
            self._records.append(record)
            yield record
        if self.cancelled:
            return
        orphans: list[LockFile] = []
        for name in sorted(self._lock_names - set(self._names)):
            orphans.extend(_scan_locks(os.path.join(self.cache_dir, LOCKS_DIR_NAME, name), name))
        self.report = _finish_report(self.cache_dir, self.exists, self._records, orphans, self._store)

    def _in_process(self) -> Iterator[RepoRecord]:
        for name in self._names:
            if _is_cancelled(self._cancel):
                self.cancelled = True
                return
            yield _scan_repo(self._ctx, name)

    def _in_pool(self) -> Iterator[RepoRecord]:
        import multiprocessing

        # fork is cheapest, but forking a process that runs other threads (the TUI) can deadlock.
        method = "fork" if threading.active_count() == 1 else "forkserver"
        if method not in multiprocessing.get_all_start_methods():
            method = "spawn"
        context = multiprocessing.get_context(method)
        if method == "forkserver":
            context.set_forkserver_preload([__name__])
        # The first repos are scanned here, so a UI shows rows before the workers are up
        # (starting a fork server costs a few hundred ms).
        for name in self._names[: self.first_batch]:
            if _is_cancelled(self._cancel):
                self.cancelled = True
                return
            yield _scan_repo(self._ctx, name)
        chunk = max(4, min(64, self.total // (self.processes * 8) or 1))
        pending = {i: self._names[i : i + chunk] for i in range(self.first_batch, self.total, chunk)}
        try:
            if method != "fork":
                _start_resource_tracker()
            pool = context.Pool(self.processes, initializer=_init_worker, initargs=(self._ctx,))
        except (OSError, EOFError, RuntimeError, ValueError):
            # e.g. no /dev/shm, a __main__ the fork server cannot import, or a stderr whose file
            # number cannot be passed on ("bad value(s) in fds_to_keep"): scan here instead.
            pool = None
        if pool is not None:
            try:
                results = pool.imap_unordered(_scan_indexed_chunk, list(pending.items()))
                while pending:
                    if _is_cancelled(self._cancel):
                        self.cancelled = True
                        return
                    try:
                        start, records = results.next(timeout=0.05)
                    except multiprocessing.TimeoutError:
                        continue
                    del pending[start]
                    yield from records
            except (OSError, EOFError, RuntimeError, StopIteration):
                pass  # a worker died: scan what is left here
            finally:
                pool.terminate()
                pool.join()
        for names in list(pending.values()):
            for name in names:
                if _is_cancelled(self._cancel):
                    self.cancelled = True
                    return
                yield _scan_repo(self._ctx, name)


class _NoFileno:
    """A stand-in `sys.stderr` that has no file number (and drops what is written to it)."""

    def fileno(self) -> int:
        raise OSError("no file number")

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass


_TRACKER_LOCK = threading.Lock()


def _start_resource_tracker() -> None:
    """Start multiprocessing's resource tracker (forkserver and spawn pools need it) even when
    `sys.stderr` is a capture object whose `fileno()` is -1, as inside a Textual app.

    The tracker passes `sys.stderr.fileno()` to its child process, and -1 makes the spawn fail
    with "bad value(s) in fds_to_keep", so the pool never started in the TUI. The child inherits
    the real fd 2 anyway, so for the instant it starts `sys.stderr` is an object without a file
    number, which the tracker skips.
    """
    from multiprocessing import resource_tracker

    stderr = sys.stderr
    try:
        if stderr is None or stderr.fileno() >= 0:
            return  # the tracker starts as usual
    except Exception:
        return  # no file number: the tracker skips it
    substitute = _NoFileno()
    with _TRACKER_LOCK:
        sys.stderr = substitute
        try:
            resource_tracker.ensure_running()
        finally:
            if sys.stderr is substitute:
                sys.stderr = stderr


def _choose_processes(processes: int, total: int) -> int:
    if processes > 0:
        return processes
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if total < _MIN_ENTRIES_FOR_PROCESSES or cpus < 2:
        return 1
    return min(cpus, 8)


def iter_scan(cache_dir: str | os.PathLike[str], *, cancel: Cancel = None, processes: int = 0) -> ScanStream:
    """Scan `cache_dir`, yielding one `RepoRecord` per top-level entry as soon as it is scanned.

    `cancel` (a `threading.Event` or a callable) is checked between repos; once it is set the
    iteration stops and `stream.cancelled` is True. `processes=0` picks a number of worker
    processes from the CPU count and the cache size (1 = in this process). A missing cache dir
    yields nothing (`stream.exists` is False); one that exists but cannot be listed raises
    `OSError` here, before any iteration.
    """
    return ScanStream(cache_dir, cancel=cancel, processes=processes)


def scan_cache(cache_dir: str | os.PathLike[str], *, processes: int = 0) -> CacheReport:
    """Scan the whole cache and return the report."""
    stream = ScanStream(cache_dir, processes=processes)
    for _ in stream:
        pass
    assert stream.report is not None
    return stream.report


def rescan_repo(cache_dir: str | os.PathLike[str], repo: str) -> RepoRecord:
    """Scan one top-level entry again (`repo` is its folder name, e.g. `models--org--name`, or
    its path), e.g. to refresh a row after a deletion. Use `CacheReport.with_repo` to fold it
    into a report. A folder that is gone comes back as a corrupt record
    ("Repo path is not a directory")."""
    root = _root_of(cache_dir)
    name = os.path.basename(os.path.normpath(os.fspath(repo)))
    store_dir = os.path.join(root, SHARED_BLOBS_DIR_NAME)
    inodes = _list_store(store_dir)[1] if _is_marked_store(store_dir) else {}
    lock_names = frozenset([name]) if os.path.isdir(os.path.join(root, LOCKS_DIR_NAME, name)) else frozenset()
    return _scan_repo(_Context(root, inodes, lock_names), name)
