"""The scanner's light records (one repo, one revision, one temp or lock file) and the whole-cache
`CacheReport`; each turns into huggingface_hub's own types on demand (`to_cached_repo_info`,
`to_hf_cache_info`), so deletion plans come from the library's own code."""

from __future__ import annotations

import os
import zlib
from array import array
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from hftui.core.cache.layout import SHARED_BLOBS_DIR_NAME
from hftui.core.cache.shared_store import (
    SharedBlob,
    is_marked_store,
    list_store,
    manifest_has_valid_reference,
    store_problems,
)

if TYPE_CHECKING:
    from huggingface_hub import (
        CachedFileInfo,
        CachedRepoInfo,
        CachedRevisionInfo,
        HFCacheInfo,
    )

__all__ = [
    "UNKNOWN_COMPLETENESS",
    "CacheReport",
    "Completeness",
    "CompletenessState",
    "IncompleteFile",
    "LockFile",
    "RepoRecord",
    "RevisionRecord",
    "ScanProgress",
    "ScanWarning",
    "SharedBlob",
    "build_report",
]

CompletenessState = Literal["complete", "partial", "unknown"]


class ScanWarning:
    """A problem found in one cache entry. `kind` is `"corrupted"` when `scan_cache_dir` reports
    the same problem (then `message` is the library's text, character for character) or `"error"`
    for problems the library does not handle; both make the entry corrupt, and so does `"alias"`,
    an entry that is a symlink to the same folder as another entry (the library lists it twice; we
    show it once, under the other). `"warning"` is a problem that leaves the entry usable (an
    unreadable tree listing, a snapshot entry linked to a folder, an odd shared store): see
    `RepoRecord.notes` and `CacheReport.notes`."""

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


UNKNOWN_COMPLETENESS = Completeness("unknown")


# The file lists and blob keys of every record stay in memory for the whole session, but are read
# rarely (the update check, a deletion plan, the detail panel): they are kept as raw deflate, which
# halves them (hex names, paths repeated between revisions), 10,000 repos x 2 revisions x 25
# files ~30 MiB less. A small window is enough for a few kB and starts ~6x faster than the default.
_ZLIB_WBITS = -12
_ZLIB_LEVEL = 1


def _squeeze(text: str) -> bytes:
    # surrogatepass: any str round-trips (names decoded with surrogateescape included).
    return zlib.compress(text.encode("utf-8", "surrogatepass"), _ZLIB_LEVEL, _ZLIB_WBITS)


def _unsqueeze(packed: str | bytes) -> str:
    # A str is the uncompressed form an older index file holds.
    if isinstance(packed, str):
        return packed
    return zlib.decompress(packed, _ZLIB_WBITS).decode("utf-8", "surrogatepass")


def _same_text(a: str | bytes | None, b: str | bytes | None) -> bool:
    """Whether two packed texts hold the same text (one may be the uncompressed str of an older
    index file; deflate gives the same bytes for the same text)."""
    if a == b or (not a and not b):
        return True
    if not a or not b or type(a) is type(b):
        return False
    return _unsqueeze(a) == _unsqueeze(b)


def _pack_pairs(pairs: tuple[tuple[str, str], ...]) -> bytes:
    # NUL cannot occur in a path.
    return _squeeze("\0".join([item for pair in pairs for item in pair])) if pairs else b""


def _unpack_pairs(packed: str | bytes, count: int) -> tuple[tuple[str, str], ...]:
    if not count:
        return ()
    items = iter(_unsqueeze(packed).split("\0"))
    return tuple(zip(items, items, strict=True))


PackedBlobs = tuple[str | bytes, bytes, bytes, bytes]
"""A repo's blobs packed: its keys NUL-joined (deflated; a str in older index files), then their
sizes, access and modification times as arrays of 64-bit values."""


def _pack_blobs(blobs: dict[str, tuple[int, float, float]]) -> PackedBlobs:
    values = blobs.values()
    return (
        _squeeze("\0".join(blobs)) if blobs else b"",
        array("q", [entry[0] for entry in values]).tobytes(),
        array("d", [entry[1] for entry in values]).tobytes(),
        array("d", [entry[2] for entry in values]).tobytes(),
    )


def _unpack_blobs(packed: PackedBlobs | None) -> dict[str, tuple[int, float, float]]:
    if not packed or not packed[1]:
        return {}
    keys, raw_sizes, raw_atimes, raw_mtimes = packed
    sizes, atimes, mtimes = array("q"), array("d"), array("d")
    sizes.frombytes(raw_sizes)
    atimes.frombytes(raw_atimes)
    mtimes.frombytes(raw_mtimes)
    return dict(zip(_unsqueeze(keys).split("\0"), zip(sizes, atimes, mtimes, strict=True), strict=True))


_SHARED_VALUES: dict[Any, Any] = {}
_SHARED_VALUES_MAX = 4096


def _shared(value: Any) -> Any:
    """One object for equal immutable values (a revision's refs, its completeness): most revisions
    of a cache have the same ones, and 20,000 copies of `frozenset({"main"})` take 5 MiB."""
    if len(_SHARED_VALUES) < _SHARED_VALUES_MAX:
        return _SHARED_VALUES.setdefault(value, value)
    return _SHARED_VALUES.get(value, value)


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
        self._packed_files: str | bytes | None = None
        self.nb_files = len(files)
        self.size_on_disk = size_on_disk
        self.last_modified = last_modified
        self.completeness = completeness

    @property
    def files(self) -> tuple[tuple[str, str], ...]:
        # A record that came packed (from a worker process or the index) stays packed: unpacked,
        # 10,000 repos' files take ~4x the memory, and what reads them (the update check, a
        # deletion plan, the detail panel) reads each revision once or twice, for ~5 us each.
        if self._files is None:
            return _unpack_pairs(self._packed_files or "", self.nb_files)
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
        self.refs = _shared(self.refs)
        if not self.completeness.missing_files:  # a partial one is rare, and may be big to keep
            self.completeness = _shared(self.completeness)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RevisionRecord):
            return NotImplemented
        mine, theirs = self.__getstate__(), other.__getstate__()
        return mine[:4] == theirs[:4] and mine[5:] == theirs[5:] and _same_text(mine[4], theirs[4])

    def __hash__(self) -> int:
        return hash((self.repo_path, self.commit_hash))

    def __repr__(self) -> str:
        return f"RevisionRecord({self.commit_hash!r}, refs={sorted(self.refs)}, files={self.nb_files})"

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
    key: tuple[int, int] = field(default=(0, 0), compare=False)
    """(device, inode): how /proc/locks names it (a rescan that reuses the record looks there)."""


class RepoRecord:
    """One top-level cache entry. A healthy repo has `warnings == []`. A corrupt one (`corrupt`)
    keeps what could be parsed from its folder name (`repo_type` is None when even that failed,
    e.g. a foreign folder), has no revisions and zero sizes; the UI shows it with a warning mark.

    `blobs` maps each blob key referenced by a snapshot to `(size, atime, mtime)` from a stat that
    follows links; `shared_blobs` maps the keys that link into the shared blob store the library's
    way (a `<repo>/blobs/<name>` symlink to the payload) to the store path; `reached_store` maps the
    keys whose bytes are a store payload reached any other way (a snapshot entry linked straight
    into the store, a chain of links, a hard link) to the store path.
    """

    __slots__ = (
        "_blobs",
        "_packed_blobs",
        "_physical",
        "incomplete_files",
        "inner_links",
        "last_accessed",
        "last_modified",
        "lock_files",
        "name",
        "notes",
        "reached_store",
        "repo_id",
        "repo_path",
        "repo_type",
        "revisions",
        "shared_blobs",
        "size_on_disk",
        "stamps",
        "warnings",
    )

    def __init__(self, repo_path: str, name: str) -> None:
        self.repo_path = repo_path
        self.name = name
        self.repo_id = name
        self.repo_type: str | None = None
        self.revisions: tuple[RevisionRecord, ...] = ()
        self._blobs: dict[str, tuple[int, float, float]] | None = {}
        self._packed_blobs: PackedBlobs | None = None
        self.shared_blobs: dict[str, str] = {}
        self.reached_store: dict[str, str] = {}
        # Keys under snapshots/ that a snapshot entry reaches through a link (cleanup protects them).
        self.inner_links: frozenset[str] = frozenset()
        # Problems that leave the repo usable (kind "warning"); `warnings` are the fatal ones.
        self.notes: tuple[ScanWarning, ...] = ()
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
        # What a rescan compares to reuse this record unread (`hftui.core.cache.reuse`): the
        # (dev, inode, mtime_ns, ctime_ns) of each folder the record was built from, its path
        # relative to the repo folder ("" is the folder itself) or absolute (a shared store or
        # .locks folder), packed (`repo_walk.pack_stamps`). None: never reused (corrupt, a
        # download in progress, links out of the repo...).
        self.stamps: tuple[str, bytes, bytes] | None = None

    @property
    def blobs(self) -> dict[str, tuple[int, float, float]]:
        """A new dict on each read of a packed record (see `RevisionRecord.files`): read it once
        into a local, and assign the whole dict to change it."""
        if self._blobs is None:
            return _unpack_blobs(self._packed_blobs)
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
        # By value, so a UI can tell whether a rescanned row changed (folder times are not a value).
        if not isinstance(other, RepoRecord):
            return NotImplemented
        mine, theirs = self.__getstate__(), other.__getstate__()
        at = _STAMPS_AT
        if not (mine[1:at] == theirs[1:at] and mine[at + 1 :] == theirs[at + 1 :]):
            return False
        blobs, other_blobs = mine[0] or ("", b"", b"", b""), theirs[0] or ("", b"", b"", b"")
        return blobs[1:] == other_blobs[1:] and _same_text(blobs[0], other_blobs[0])

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


_STAMPS_AT = RepoRecord.__slots__.index("stamps") - 1
"""Where `stamps` is in `RepoRecord.__getstate__()` (left out of equality)."""


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
    store_notes: list[ScanWarning] = field(default_factory=list)

    @property
    def notes(self) -> list[ScanWarning]:
        """Problems that leave the cache usable (kind "warning"), for the user to see."""
        return [note for repo in self.repos for note in repo.notes] + self.store_notes

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
        return self.with_repos([record])

    def with_repos(
        self,
        records: Iterable[RepoRecord] = (),
        *,
        gone: Iterable[str] = (),
        removed_paths: Collection[str] = (),
    ) -> CacheReport:
        """A new report with `records` replacing the entries of the same folders (dropped when the
        folder no longer exists), the folders named in `gone` dropped, and the orphaned lock files in
        `removed_paths` forgotten. Totals are recomputed once, so folding in a bulk deletion costs
        one pass over the cache, not one per repo."""
        replaced = {record.name: record for record in records}
        dropped = set(gone) | set(replaced)
        repos = [repo for repo in self.repos if repo.name not in dropped]
        repos.extend(record for record in replaced.values() if os.path.lexists(record.repo_path))
        orphans = [lock for lock in self.orphan_lock_files if lock.path not in removed_paths]
        return build_report(self.cache_dir, self.exists, repos, orphans)

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


def _physical_size(repos: Sequence[RepoRecord], store: Sequence[SharedBlob], *, only_referenced: bool) -> int:
    """Sizes as scan_cache_dir adds them: the union of the blob paths that are not shared-store
    links, plus the store's payloads (all of them, or only those the given repos reference).

    A blob path counts once however many entries reach it: an entry linked to another repo's blob
    (that repo counts it already) or straight to a store payload (the store counts it) adds nothing.
    """
    total = 0
    outside: dict[str, int] = {}
    referenced: set[str] = set()
    by_name = {repo.name: repo for repo in repos}
    for repo in repos:
        local_size, repo_outside = repo._physical
        total += local_size
        outside.update(repo_outside)  # a link out of the repo: count each target once
        referenced.update(repo.shared_blobs.values())
    store_paths = {blob.path for blob in store}
    owned: dict[str, Collection[str]] = {}  # owner name -> its blob keys (unpacked once, not per link)
    for path, size in outside.items():
        if path in store_paths:
            referenced.add(path)
            continue
        root = os.path.dirname(repos[0].repo_path)
        owner = by_name.get(path[len(root) + 1 :].split("/", 1)[0]) if path.startswith(root + "/") else None
        if owner is not None:
            key = path[len(owner.repo_path) + 1 :]
            keys = owned.get(owner.name)
            if keys is None:
                keys = owned[owner.name] = owner.blobs.keys()
            if key in keys and key not in owner.shared_blobs:
                continue  # the owner counts it among its own blobs
        total += size
    for blob in store:
        if not only_referenced or blob.path in referenced:
            total += blob.size_on_disk
    return total


def build_report(
    root: str,
    exists: bool,
    repos: list[RepoRecord],
    orphan_lock_files: list[LockFile],
    store: list[SharedBlob] | None = None,
    problems: list[tuple[str, str]] | None = None,
) -> CacheReport:
    store_dir = os.path.join(root, SHARED_BLOBS_DIR_NAME)
    if store is None:
        store = list_store(store_dir)[0] if is_marked_store(store_dir) else []
    valid = [repo for repo in repos if not repo.warnings]
    # A payload a scanned snapshot reaches is in use whatever its manifest says (and skipping its
    # manifest saves most of the reads); the others are unreferenced when their manifest lists no
    # valid link, which is what `hf cache prune` would collect.
    reached = {
        path for repo in valid for links in (repo.shared_blobs, repo.reached_store) for path in links.values()
    }
    unreferenced = [
        blob
        for blob in store
        if blob.path not in reached and manifest_has_valid_reference(root, blob.path) is False
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
        store_notes=[
            ScanWarning("warning", message, path)
            for path, message in (store_problems(root, store) if problems is None else problems)
        ],
    )
