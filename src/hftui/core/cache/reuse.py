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
import errno
import gc
import hashlib
import json
import marshal
import os
import struct
import sys
import tempfile
import zlib
from collections.abc import Iterable, Iterator
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
from hftui.core.cache.repo_walk import KEPT_DIR_NAME, RACY_SECONDS, PackedStamps, stamps_unchanged
from hftui.core.cache.shared_store import SharedBlob

__all__ = [
    "INDEX_VERSION",
    "RACY_SECONDS",
    "ScanIndex",
    "index_path",
    "load_index",
    "may_hold_kept_bytes",
    "reusable",
    "reusing_scan",
    "save_index",
]

INDEX_VERSION = 2
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


def may_hold_kept_bytes(report: CacheReport) -> list[str]:
    """Paths of the repo folders of `report` that may hold kept bytes (`.hftui-partial/`), in name
    order, so that listing kept bytes costs nothing in the others. A record with stamps lists that
    folder among them when it had one; a new one changes the repo folder's time, which its stamps
    (checked by the scan that reused it, or taken as it was read) would have seen. A record without
    stamps may hold some."""
    marker = f"\0{KEPT_DIR_NAME}\0"
    return [
        repo.repo_path
        for repo in sorted(report.repos, key=lambda repo: repo.name)
        if "--" in repo.name
        and not repo.name.startswith(".")
        and (repo.stamps is None or marker in repo.stamps[0] + "\0")
    ]


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
    # What the index file holds (`load_index`, `save_index`), so a save writes only the difference:
    # the records and store as loaded or last saved (compared by identity), the size of each record's
    # entry there, the file's (device, inode, size) then, its length and the bytes still live.
    saved: dict[str, RepoRecord] = field(default_factory=dict, repr=False)
    saved_store: Any = field(default=None, repr=False)
    entry_sizes: dict[str, int] = field(default_factory=dict, repr=False)
    file_key: tuple[int, int, int] | None = field(default=None, repr=False)
    file_bytes: int = field(default=0, repr=False)
    live_bytes: int = field(default=0, repr=False)

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
#
# Layout: the magic line, a JSON header line, then segments. A segment is a head (`_SEGMENT`: the
# lengths of its table and of its entries, and the CRC-32 of both), the table, marshal of (store,
# gone, names, sizes): the shared store's state (False: as before), the folder names forgotten
# since, and each remembered repo's name and entry size; then the entries, one after the other,
# each marshal of `_encode` (decoded straight from the file's buffer, never copied). The first
# segment holds the whole index; a save after a small change appends a segment with only the
# difference (a deleted repo costs a few bytes, not a rewrite of the whole file), and the file is
# written anew once it holds more than `_COMPACT_RATIO` times what is live. A torn last segment (a
# crash while appending) is dropped; anything else wrong ignores the whole file.


def index_path(state_dir: str | os.PathLike[str], root: str) -> Path:
    """One file per cache root: `<state dir>/scan-index/<hash of the root's real path>.bin`."""
    digest = hashlib.sha256(os.path.realpath(root).encode("utf-8", "surrogateescape")).hexdigest()[:20]
    return Path(state_dir) / "scan-index" / f"{digest}.bin"


_SEGMENT = struct.Struct("<QQI")
_COMPACT_RATIO = 1.5
_STORE_UNCHANGED = False


def _header(root: str) -> bytes:
    # marshal's format changes between Python versions: a file from another one is not read.
    meta = {"version": INDEX_VERSION, "python": list(sys.version_info[:2]), "marshal": marshal.version}
    meta["root"] = root
    return _MAGIC + json.dumps(meta, sort_keys=True).encode() + b"\n"


def _segment(store: Any, gone: Iterable[str], entries: dict[str, bytes]) -> bytes:
    table = marshal.dumps((store, tuple(gone), tuple(entries), tuple(map(len, entries.values()))))
    body = b"".join(entries.values())
    return _SEGMENT.pack(len(table), len(body), zlib.crc32(body, zlib.crc32(table))) + table + body


def _encode(record: RepoRecord, root: str) -> bytes:
    # Plain values only: marshal, unlike pickle, builds no object of a class a file names.
    # Stamped records have no warnings and no .incomplete files, so those are not kept. Paths the
    # layout gives (the repo folder under the root, a snapshot under its repo) are left out.
    repo_path = record.repo_path
    revisions = []
    for rev in record.revisions:
        rev_repo, commit, snapshot, refs, packed, nb_files, size, modified, completeness = rev.__getstate__()
        revisions.append(
            (
                None if rev_repo == repo_path else rev_repo,
                commit,
                None if snapshot == f"{repo_path}/snapshots/{commit}" else snapshot,
                refs,
                packed,
                nb_files,
                size,
                modified,
                _completeness(completeness),
            )
        )
    return marshal.dumps(
        (
            record.__getstate__()[0] or ("", b"", b"", b""),  # the blobs, packed
            record.inner_links,
            record.last_accessed,
            record.last_modified,
            tuple(
                (lock.path, lock.repo_dir, lock.size_on_disk, lock.last_modified, lock.held, lock.key)
                for lock in record.lock_files
            ),
            tuple((note.kind, note.message, note.path) for note in record.notes),
            record.reached_store,
            None if record.repo_id == record.name else record.repo_id,
            None if repo_path == f"{root}/{record.name}" else repo_path,
            record.repo_type,
            tuple(revisions),
            record.shared_blobs,
            record.size_on_disk,
            record._physical,
            record.stamps,
        )
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


def _decode(
    name: str, entry: bytes | memoryview, root: str, completenesses: dict[Any, Completeness]
) -> RepoRecord:
    (
        packed,
        inner_links,
        last_accessed,
        last_modified,
        locks,
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
    ) = marshal.loads(entry)
    paths, ids, times = stamps
    if not (isinstance(paths, str) and isinstance(ids, bytes) and isinstance(times, bytes)):
        raise ValueError(f"bad stamps for {name!r}")
    count = paths.count("\0") + 1
    if len(ids) != 16 * count or len(times) != 16 * count or not (paths == "" or paths[0] == "\0"):
        raise ValueError(f"bad stamps for {name!r} (the repo folder first, two 64-bit pairs each)")
    if repo_path is None:
        repo_path = f"{root}/{name}"
    record = RepoRecord(repo_path, name)
    record._blobs = None
    record._packed_blobs = packed
    record.inner_links = inner_links
    record.last_accessed = last_accessed
    record.last_modified = last_modified
    if locks:
        record.lock_files = tuple(LockFile(k[0], k[1], k[2], k[3], k[4], (k[5][0], k[5][1])) for k in locks)
    if notes:
        record.notes = tuple(ScanWarning(*note) for note in notes)
    record.reached_store = reached_store
    record.repo_id = name if repo_id is None else repo_id
    record.repo_type = repo_type
    built = []
    new_revision = RevisionRecord.__new__
    for rev in revisions:
        state = rev[8]
        completeness = completenesses.get(state)
        if completeness is None:  # most are alike: built once (a frozen dataclass is slow to build)
            completeness = completenesses[state] = Completeness(*state)
        revision = new_revision(RevisionRecord)
        commit = rev[1]
        revision.__setstate__(
            (
                repo_path if rev[0] is None else rev[0],
                commit,
                f"{repo_path}/snapshots/{commit}" if rev[2] is None else rev[2],
                rev[3],
                rev[4],
                rev[5],
                rev[6],
                rev[7],
                completeness,
            )
        )
        built.append(revision)
    record.revisions = tuple(built)
    record.shared_blobs = shared_blobs
    record.size_on_disk = size_on_disk
    record._physical = physical
    record.stamps = stamps
    return record


@contextlib.contextmanager
def _no_gc() -> Iterator[None]:
    """The cyclic collector off while an index is decoded, and what was decoded frozen out of its
    reach: it would otherwise walk the growing heap again and again while loading and once more on
    the first allocation after (together more than half the load time at 10,000 repos). Records
    are plain values and hold no cycles, so the collector could never free them anyway; refcounts
    still do when they are dropped."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()


def _file_key(st: os.stat_result) -> tuple[int, int, int]:
    return (st.st_dev, st.st_ino, st.st_size)


def load_index(
    path: str | os.PathLike[str], root: str, *, racy_seconds: float = RACY_SECONDS
) -> tuple[ScanIndex, str]:
    """The index saved for `root`, and a warning ("" if none). A missing file is an empty index
    (no warning); a broken one, one from another version or for another root is an empty index
    and a warning. Never raises for what the file holds. The objects alive once it is loaded are
    frozen (`gc.freeze`: the garbage collector no longer walks them)."""
    index = ScanIndex(root, racy_seconds=racy_seconds)
    try:
        with open(path, "rb") as f:
            data = f.read()
            key = _file_key(os.fstat(f.fileno()))
    except FileNotFoundError:
        return index, ""
    except OSError as exc:
        return index, f"scan index {path} not read ({exc.strerror or exc}): every repo is read"
    try:
        with _no_gc():
            index = _parse(data, root, racy_seconds)
    except Exception as exc:  # anything a file may hold: say so, scan everything
        index = ScanIndex(root, racy_seconds=racy_seconds)
        return index, f"scan index {path} ignored ({exc.__class__.__name__}: {exc}): every repo is read"
    if index.file_bytes == len(data):
        index.file_key = key  # a torn tail is not appended to: the next save writes the file anew
    return index, ""


def _parse(data: bytes, root: str, racy_seconds: float) -> ScanIndex:
    if not data.startswith(_MAGIC):
        raise ValueError("not an hftui scan index")
    header_end = data.index(b"\n", len(_MAGIC)) + 1
    meta = json.loads(data[len(_MAGIC) : header_end])
    expected = json.loads(_header(root)[len(_MAGIC) :])
    if meta != expected:
        found = {key: meta.get(key) for key in expected} if isinstance(meta, dict) else meta
        raise ValueError(f"written for {found}, this is {expected}")
    view = memoryview(data)
    entries: dict[str, memoryview] = {}
    store: Any = None
    at = header_end
    segments = 0
    while at < len(data):
        try:
            end, segment_store, gone, names, sizes = _read_segment(view, at)
        except Exception:
            if not segments:
                raise
            break  # a torn append (a crash, a full disk): what came before stands
        if segment_store is not _STORE_UNCHANGED:
            store = segment_store
        for name in gone:
            entries.pop(name, None)
        entry_at = end - sum(sizes)
        for name, size in zip(names, sizes, strict=True):
            entries[name] = view[entry_at : entry_at + size]
            entry_at += size
        at = end
        segments += 1
    if not segments:
        raise ValueError("no records")
    index = ScanIndex(root, racy_seconds=racy_seconds)
    index.store = _decode_store(store)
    completenesses: dict[Any, Completeness] = {}
    records = {name: _decode(name, entry, root, completenesses) for name, entry in entries.items()}
    index.records = records
    index.saved = dict(records)
    index.saved_store = index.store
    index.entry_sizes = {name: len(entry) for name, entry in entries.items()}
    index.file_bytes = at
    index.live_bytes = sum(index.entry_sizes.values())
    return index


def _read_segment(view: memoryview, at: int) -> tuple[int, Any, Any, Any, Any]:
    """The segment at `at`: where it ends, and its table (store, gone, names, sizes)."""
    if at + _SEGMENT.size > len(view):
        raise ValueError("truncated")
    table_size, body_size, crc = _SEGMENT.unpack_from(view, at)
    table_at = at + _SEGMENT.size
    end = table_at + table_size + body_size
    if not table_size or end > len(view) or zlib.crc32(view[table_at:end]) != crc:
        raise ValueError("truncated or damaged")
    store, gone, names, sizes = marshal.loads(view[table_at : table_at + table_size])
    if len(names) != len(sizes) or sum(sizes) != body_size:
        raise ValueError("the table does not match the entries")
    return end, store, gone, names, sizes


def save_index(index: ScanIndex, path: str | os.PathLike[str]) -> str:
    """Save `index` (returns a warning, "" if saved). When the file is the one `index` was loaded
    from or last saved to and still mostly live, only what changed is appended; otherwise the
    whole index is written atomically (temp file, fsync, rename).

    An append is not fsynced: the index is a cache, and what a crash can leave (a tail cut short,
    zeros, an append lost) is dropped on load, leaving records that are checked against the disk
    anyway; an fsync cost more than the rest of a rescan on a busy disk."""
    target = Path(path)
    try:
        appended = _append(index, target)
        if not appended:
            _rewrite(index, target)
        index.changed = False
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return f"scan index {target} not saved ({reason}): the next scan reads every repo"
    return ""


def _changed_entries(index: ScanIndex) -> dict[str, bytes]:
    saved = index.saved
    return {
        name: _encode(record, index.root)
        for name, record in index.records.items()
        if saved.get(name) is not record
    }


def _append(index: ScanIndex, target: Path) -> bool:
    if index.file_key is None:
        return False
    try:
        st = os.stat(target)
    except FileNotFoundError:
        return False
    if _file_key(st) != index.file_key:
        return False  # replaced or appended to by another scan since: write it anew
    changed = _changed_entries(index)
    gone = [name for name in index.saved if name not in index.records]
    sizes = index.entry_sizes
    live = index.live_bytes + sum(map(len, changed.values()))
    live -= sum(sizes.get(name, 0) for name in (*gone, *changed))
    store = _STORE_UNCHANGED if index.store is index.saved_store else _encode_store(index.store)
    segment = _segment(store, gone, changed)
    if index.file_bytes + len(segment) > _COMPACT_RATIO * live + 65536:
        return False
    fd = os.open(target, os.O_WRONLY | os.O_APPEND)
    try:
        if os.write(fd, segment) != len(segment):  # a full disk: the torn tail is dropped on load
            raise OSError(errno.ENOSPC, "no space left to append to it")
        index.file_key = _file_key(os.fstat(fd))
    finally:
        os.close(fd)
    for name in gone:
        sizes.pop(name, None)
    sizes.update((name, len(entry)) for name, entry in changed.items())
    index.saved = dict(index.records)
    index.saved_store = index.store
    index.file_bytes += len(segment)
    index.live_bytes = live
    return True


def _rewrite(index: ScanIndex, target: Path) -> None:
    entries = {name: _encode(record, index.root) for name, record in index.records.items()}
    # Not compressed: zlib would make it 4x smaller but take longer to load than all the rest.
    data = _header(index.root) + _segment(_encode_store(index.store), (), entries)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=target.name + ".", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
            key = _file_key(os.fstat(f.fileno()))
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    index.entry_sizes = {name: len(entry) for name, entry in entries.items()}
    index.saved = dict(index.records)
    index.saved_store = index.store
    index.file_key = key
    index.file_bytes = len(data)
    index.live_bytes = sum(index.entry_sizes.values())


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
