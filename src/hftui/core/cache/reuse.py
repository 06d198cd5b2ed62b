"""Rescans that reuse what did not change: a repo whose folders all have the times they had when it
was last read keeps its record, unread.

Every record the scanner builds carries `stamps` (`repo_walk`): the device, inode, mtime and ctime
of each folder its report came from (the repo folder, `blobs/`, `snapshots/` and every folder in
each snapshot, `refs/` and its subfolders, `trees/`, `.hftui-partial/`, and the shared-store folders
its blobs link into), taken before the folder was read. Adding, removing or renaming an entry in a
folder changes its times, so a new revision, a new or moved ref, a deleted snapshot, a removed or
replaced blob, a new listing or new kept bytes all show; a repo folder replaced by another folder,
a symlink or a file shows by its inode and type.

What folder times cannot see, and how we stay safe (docs/scan-reuse.md says it for users):

* bytes rewritten in place (same file, same name): no folder changes. The library never does that
  (blobs are renamed into place), and a download in progress is never reused: a repo with an
  `.incomplete` file or a held lock file is read again every time;
* a link out of the repo (other than to the shared store) reaches things we do not watch: such a
  repo is never reused;
* times of the blobs themselves (`last accessed` follows every read): a reused record keeps those
  of its last read. `hftui scan --full` (or the setting `scan_reuse = false`) reads everything;
* a folder changed within `RACY_SECONDS` of being read may change again within the same clock tick
  unseen: such a record is not stamped and is read again next time.

`ScanIndex` is the memory of one cache root (the TUI keeps one for its session); `load_index` and
`save_index` keep it in a versioned file in hftui's state dir for `hftui scan`. A file that cannot
be read, or from another version, is ignored with a warning and replaced; it is never trusted
further than its stamps.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import marshal
import os
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hftui.core.cache.locks import flock_holders, scan_locks
from hftui.core.cache.records import (
    CacheReport,
    Completeness,
    LockFile,
    RepoRecord,
    RevisionRecord,
    ScanWarning,
)
from hftui.core.cache.repo_walk import RACY_SECONDS, PackedStamps, stamps_unchanged
from hftui.core.cache.shared_store import SharedBlob

__all__ = [
    "INDEX_VERSION",
    "RACY_SECONDS",
    "ScanIndex",
    "index_path",
    "load_index",
    "reusable",
    "reusing_scan",
    "save_index",
]

INDEX_VERSION = 1
_MAGIC = b"hftui-scan-index\n"


def unchanged(record: RepoRecord) -> bool:
    """True if every folder `record` was built from still has the stamp it had (one stat each;
    the first mismatch stops)."""
    stamps = record.stamps
    return stamps is not None and stamps_unchanged(stamps, record.repo_path)


def held_flocks() -> set[tuple[int, int]] | None:
    """(device, inode) of every file with a lock listed in /proc/locks, or None where it cannot be
    read."""
    holders = flock_holders()
    return None if holders is None else set(holders)


def reusable(
    record: RepoRecord, locks_dir: str | None, held: set[tuple[int, int]] | None = None
) -> RepoRecord | None:
    """`record` as a rescan may show it unread, or None when it must be read again.

    A lock is taken without any folder changing, so locks are looked at every time: with `held`
    (`held_flocks()`), a lock file of the record listed there means a download runs, and the repo
    is read; without it, the lock files are opened and tested as a full scan does. `locks_dir` is
    the repo's folder in `.locks/` when there is one now."""
    if not unchanged(record):
        return None
    if held is not None:
        if locks_dir is not None and locks_dir not in (record.stamps or ("",))[0].split("\0"):
            return None  # lock files appeared: a download started since
        if any(lock.key in held for lock in record.lock_files):
            return None
        return record
    locks: tuple[LockFile, ...] = scan_locks(locks_dir, record.name) if locks_dir else ()
    if any(lock.held for lock in locks):
        return None
    if locks == record.lock_files:
        return record
    fresh = RepoRecord.__new__(RepoRecord)
    fresh.__setstate__(record.__getstate__())
    fresh.lock_files = locks
    return fresh


StoreState = tuple[PackedStamps, list[SharedBlob], dict[tuple[int, int], str], list[tuple[str, str]]]
"""The shared blob store's folder stamps, payloads, payloads by (device, inode), and problems."""


@dataclass
class ScanIndex:
    """The last records of one cache root, by folder name, for the next scan to reuse.

    `reused` and `read` say what the last scan that used it did (names, in no order)."""

    root: str
    records: dict[str, RepoRecord] = field(default_factory=dict)
    racy_seconds: float = RACY_SECONDS
    reused: list[str] = field(default_factory=list)
    read: list[str] = field(default_factory=list)
    changed: bool = False
    """The records changed since the index was loaded or saved (saving it again is worth it)."""
    store: StoreState | None = None
    """The shared blob store as last listed, reused while its folders are unchanged."""

    def keep_store(self, store: StoreState | None) -> None:
        if store is not self.store:
            self.store = store
            self.changed = True

    def remember(
        self, records: Iterable[RepoRecord], *, gone: Iterable[str] = (), replace: bool = False
    ) -> None:
        """Keep `records` (those with stamps; a record without replaces the old one with nothing)
        and forget `gone`. `replace`: the records are a whole scan, forget everything else."""
        before = self.records if self.changed else dict(self.records)
        if replace:
            self.records = {}
        for record in records:
            if record.stamps:
                self.records[record.name] = record
            else:
                self.records.pop(record.name, None)
        for name in gone:
            self.records.pop(name, None)
        if not self.changed:
            now = self.records
            self.changed = now.keys() != before.keys() or any(now[name] is not before[name] for name in now)

    def summary(self) -> str:
        total = len(self.reused) + len(self.read)
        return f"reused {len(self.reused):,} of {total:,} repos unchanged since the last scan"


# -- the index file ----------------------------------------------------------------------------------


def index_path(state_dir: str | os.PathLike[str], root: str) -> Path:
    """One file per cache root: `<state dir>/scan-index/<hash of the root's real path>.bin`."""
    digest = hashlib.sha256(os.path.realpath(root).encode("utf-8", "surrogateescape")).hexdigest()[:20]
    return Path(state_dir) / "scan-index" / f"{digest}.bin"


def _header(root: str) -> bytes:
    # marshal's format changes between Python versions: a file from another one is not read.
    meta = {"version": INDEX_VERSION, "python": list(sys.version_info[:2]), "marshal": marshal.version}
    meta["root"] = root
    return _MAGIC + json.dumps(meta, sort_keys=True).encode() + b"\n"


def _encode(record: RepoRecord) -> tuple[Any, ...]:
    # Plain values only: marshal, unlike pickle, builds no object of a class a file names.
    # Stamped records have no warnings and no .incomplete files, so those are not kept.
    return (
        record.__getstate__()[0] or ("", b"", b"", b""),  # the blobs, packed
        record.inner_links,
        record.last_accessed,
        record.last_modified,
        tuple(
            (lock.path, lock.repo_dir, lock.size_on_disk, lock.last_modified, lock.held, lock.key)
            for lock in record.lock_files
        ),
        record.name,
        tuple((note.kind, note.message, note.path) for note in record.notes),
        record.reached_store,
        record.repo_id,
        record.repo_path,
        record.repo_type,
        tuple((*rev.__getstate__()[:8], _completeness(rev.completeness)) for rev in record.revisions),
        record.shared_blobs,
        record.size_on_disk,
        record._physical,
        record.stamps,
    )


def _encode_store(store: StoreState | None) -> Any:
    if store is None:
        return None
    stamps, blobs, inodes, problems = store
    return (stamps, [(blob.path, blob.size_on_disk) for blob in blobs], inodes, problems)


def _decode_store(store: Any) -> StoreState | None:
    if store is None:
        return None
    (paths, ids, times), blobs, inodes, problems = store
    if not (isinstance(paths, str) and isinstance(ids, bytes) and isinstance(times, bytes)):
        raise ValueError("bad store stamps")
    return (
        (paths, ids, times),
        [SharedBlob(str(path), int(size)) for path, size in blobs],
        {(int(dev), int(ino)): str(path) for (dev, ino), path in inodes.items()},
        [(str(path), str(message)) for path, message in problems],
    )


def _completeness(value: Completeness) -> tuple[Any, ...]:
    return (value.state, value.listed_files, value.missing_files, value.missing_bytes)


def _decode(item: tuple[Any, ...], completenesses: dict[Any, Completeness]) -> RepoRecord:
    (
        packed,
        inner_links,
        last_accessed,
        last_modified,
        locks,
        name,
        notes,
        reached_store,
        repo_id,
        repo_path,
        repo_type,
        revisions,
        shared_blobs,
        size_on_disk,
        physical,
        stamps,
    ) = item
    record = RepoRecord(str(repo_path), str(name))
    record._blobs = None
    record._packed_blobs = tuple(packed)
    record.inner_links = frozenset(inner_links)
    record.last_accessed = float(last_accessed)
    record.last_modified = float(last_modified)
    record.lock_files = tuple(LockFile(k[0], k[1], k[2], k[3], k[4], (k[5][0], k[5][1])) for k in locks)
    record.notes = tuple(ScanWarning(*note) for note in notes)
    record.reached_store = dict(reached_store)
    record.repo_id = str(repo_id)
    record.repo_type = repo_type
    built = []
    for rev in revisions:
        revision = RevisionRecord.__new__(RevisionRecord)
        completeness = completenesses.get(rev[8])
        if completeness is None:  # most are alike: built once (a frozen dataclass is slow to build)
            completeness = completenesses[rev[8]] = Completeness(*rev[8])
        revision.__setstate__((*rev[:8], completeness))
        built.append(revision)
    record.revisions = tuple(built)
    record.shared_blobs = dict(shared_blobs)
    record.size_on_disk = int(size_on_disk)
    local_size, outside = physical
    record._physical = (int(local_size), dict(outside))
    paths, ids, times = stamps
    if not (isinstance(paths, str) and isinstance(ids, bytes) and isinstance(times, bytes)):
        raise ValueError(f"bad stamps for {name!r}")
    count = paths.count("\0") + 1
    if len(ids) != 16 * count or len(times) != 16 * count or not (paths == "" or paths[0] == "\0"):
        raise ValueError(f"bad stamps for {name!r} (the repo folder first, two 64-bit pairs each)")
    record.stamps = (paths, ids, times)
    return record


def load_index(
    path: str | os.PathLike[str], root: str, *, racy_seconds: float = RACY_SECONDS
) -> tuple[ScanIndex, str]:
    """The index saved for `root`, and a warning ("" if none). A missing file is an empty index
    (no warning); a broken one, one from another version or for another root is an empty index
    and a warning. Never raises for what the file holds."""
    index = ScanIndex(root, racy_seconds=racy_seconds)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return index, ""
    except OSError as exc:
        return index, f"scan index {path} not read ({exc.strerror or exc}): every repo is read"
    try:
        if not data.startswith(_MAGIC):
            raise ValueError("not an hftui scan index")
        header_end = data.index(b"\n", len(_MAGIC))
        meta = json.loads(data[len(_MAGIC) : header_end])
        expected = json.loads(_header(root)[len(_MAGIC) :])
        if meta != expected:
            found = {key: meta.get(key) for key in expected} if isinstance(meta, dict) else meta
            raise ValueError(f"written for {found}, this is {expected}")
        items, store = marshal.loads(data[header_end + 1 :])
        index.store = _decode_store(store)
        records = {}
        completenesses: dict[Any, Completeness] = {}
        for item in items:
            record = _decode(item, completenesses)
            records[record.name] = record
    except Exception as exc:  # anything a file may hold: say so, scan everything
        return index, f"scan index {path} ignored ({exc.__class__.__name__}: {exc}): every repo is read"
    index.records = records
    return index, ""


def save_index(index: ScanIndex, path: str | os.PathLike[str]) -> str:
    """Write `index` atomically (temp file, fsync, rename); returns a warning ("" if written)."""
    target = Path(path)
    try:
        # Not compressed: zlib would make it 4x smaller but take longer to load than all the rest.
        payload = marshal.dumps(
            ([_encode(record) for record in index.records.values()], _encode_store(index.store))
        )
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=target.name + ".", suffix=".tmp", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(_header(index.root))
                f.write(payload)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, target)
            index.changed = False
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return f"scan index {target} not saved ({reason}): the next scan reads every repo"
    return ""


def reusing_scan(
    cache_dir: str | os.PathLike[str],
    *,
    processes: int = 0,
    state_dir: str | os.PathLike[str] | None,
    full: bool = False,
    save: bool = True,
) -> tuple[CacheReport, list[str]]:
    """`scan_cache` with the index saved in `state_dir` for this cache (None: no index, read
    everything), saved again when it changed and `save` (False: e.g. read-only, nothing written).
    `full`: read every repo, and save the index this makes.
    Returns the report and what to tell the user: how many repos were reused (when an index was
    there to reuse from) and warnings ("warning: ..." lines) about the index file."""
    from hftui.core.cache.scan import scan_cache

    if state_dir is None:
        return scan_cache(cache_dir, processes=processes), []
    root = os.path.realpath(os.path.expanduser(os.fspath(cache_dir)))
    path = index_path(state_dir, root)
    index, warning = (ScanIndex(root), "") if full else load_index(path, root)
    said = [f"warning: {warning}"] if warning else []
    had = bool(index.records)
    report = scan_cache(root, processes=processes, index=index)
    if had:
        said.insert(0, f"{index.summary()} (folder times tell; --full reads them all)")
    if save and report.exists and index.changed:
        warning = save_index(index, path)
        if warning:
            said.append(f"warning: {warning}")
    return report, said
