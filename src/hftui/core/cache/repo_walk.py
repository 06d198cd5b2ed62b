"""Scanning one top-level cache entry: its refs, its snapshots (the hot loop), revision completeness
from `trees/<commit>.json`, and its `.incomplete` temp files.

A problem in one repo never aborts the scan: every case where `scan_cache_dir` records a
`CorruptedCacheException` gives a `ScanWarning` of kind `"corrupted"` with the library's exact
message; other I/O problems give kind `"error"`. Symlinks are resolved once: a snapshot entry's
link is read, its first hop kept as the blob path (`os.path.abspath` semantics, like the library)
and the blob stat'ed following links.
"""

from __future__ import annotations

import os
import stat as stat_mod
import time
from array import array

from hftui.core.cache.layout import (
    FILES_TO_IGNORE,
    LOCKS_DIR_NAME,
    MISSING_ERRNOS,
    REPO_DIR,
    REPO_TYPES_MAPPING,
    SHARED_BLOBS_DIR_NAME,
    TEMP_SUFFIX,
)
from hftui.core.cache.listing import ListingError, listing_path, read_listing
from hftui.core.cache.locks import scan_locks
from hftui.core.cache.records import (
    UNKNOWN_COMPLETENESS,
    Completeness,
    IncompleteFile,
    LockFile,
    RepoRecord,
    RevisionRecord,
    ScanWarning,
)


class _Corrupt(Exception):
    def __init__(self, kind: str, message: str, path: str) -> None:
        super().__init__(message)
        self.warning = ScanWarning(kind, message, path)


def _corrupted(message: str, path: str) -> _Corrupt:
    return _Corrupt("corrupted", message, path)


def _error(exc: OSError, path: str, what: str) -> _Corrupt:
    reason = exc.strerror or exc.__class__.__name__
    return _Corrupt("error", f"{what}: {reason}: {path}", path)


KEPT_DIR_NAME = (
    ".hftui-partial"  # hftui.core.downloads.kept.KEPT_DIR_NAME (not imported: a light module stays light)
)

RACY_SECONDS = 2.0
"""A folder changed less than this before its repo was read (or since) may change again within the
same timestamp tick, unseen (the "racy git" problem; coarse kernel clocks, FAT's 2 s): such a
record gets no stamps and is read again by the next scan."""

Stamp = tuple[str, int, int, int, int]
"""(path, device, inode, mtime_ns, ctime_ns) of one folder."""
PackedStamps = tuple[str, bytes, bytes]
"""Stamps as a record keeps them: the paths joined by NUL, then (device, inode) pairs as unsigned
and (mtime_ns, ctime_ns) pairs as signed 64-bit arrays (3 objects instead of 6 per folder: a
10,000-repo index loads in a fraction of the time)."""


def pack_stamps(stamps: list[Stamp]) -> PackedStamps:
    ids = array("Q", [value for stamp in stamps for value in (stamp[1], stamp[2])])
    times = array("q", [value for stamp in stamps for value in (stamp[3], stamp[4])])
    return "\0".join([stamp[0] for stamp in stamps]), ids.tobytes(), times.tobytes()


def stamps_unchanged(packed: PackedStamps, base: str) -> bool:
    """True if every folder stamped in `packed` still has its stamp (one stat each; the first
    mismatch stops). Relative paths are under `base`; "" is `base` itself, by `lstat`."""
    ids = array("Q")
    ids.frombytes(packed[1])
    times = array("q")
    times.frombytes(packed[2])
    prefix = base + "/"
    lstat, stat = os.lstat, os.stat
    try:
        at = 0
        for path in packed[0].split("\0"):
            if not path:
                st = lstat(base)  # replaced by a symlink: another inode
            elif path[0] == "/":
                st = stat(path)
            else:
                st = stat(prefix + path)
            if (
                st.st_mtime_ns != times[at]
                or st.st_ctime_ns != times[at + 1]
                or st.st_ino != ids[at + 1]
                or st.st_dev != ids[at]
            ):
                return False
            at += 2
    except (OSError, IndexError):
        return False
    return True


def stamp_folders(paths: list[str], ctx_racy_ns: int, started_ns: int) -> PackedStamps | None:
    """Stamps of these folders (absolute paths) as they are now, or None if one is missing or
    changed too recently to be trusted."""
    stamps = []
    try:
        for path in paths:
            stamps.append(_stamp(path, os.stat(path)))
    except OSError:
        return None
    recent = started_ns - ctx_racy_ns
    if any(stamp[3] >= recent or stamp[4] >= recent for stamp in stamps):
        return None
    return pack_stamps(stamps)


def unpack_stamps(packed: PackedStamps) -> list[Stamp]:
    paths = packed[0].split("\0")
    ids = array("Q")
    ids.frombytes(packed[1])
    times = array("q")
    times.frombytes(packed[2])
    if len(ids) != 2 * len(paths) or len(times) != 2 * len(paths):
        raise ValueError("stamps of unequal lengths")
    return [
        (path, ids[2 * i], ids[2 * i + 1], times[2 * i], times[2 * i + 1]) for i, path in enumerate(paths)
    ]


class ScanContext:
    """What every repo scan needs to know about the cache as a whole."""

    __slots__ = ("aliases", "lock_names", "racy_ns", "root", "store_dir", "store_inodes")

    def __init__(
        self,
        root: str,
        store_inodes: dict[tuple[int, int], str],
        lock_names: frozenset[str],
        aliases: dict[str, str] | None = None,
        racy_seconds: float = RACY_SECONDS,
    ) -> None:
        self.root = root
        self.store_dir = os.path.join(root, SHARED_BLOBS_DIR_NAME)
        self.store_inodes = store_inodes
        self.lock_names = lock_names
        self.aliases = aliases or {}
        """Top-level names that are symlinks to the same folder as another entry -> that entry."""
        self.racy_ns = int(racy_seconds * 1e9)


def _stamp(rel: str, st: os.stat_result) -> Stamp:
    return (rel, st.st_dev, st.st_ino, st.st_mtime_ns, st.st_ctime_ns)


def scan_repo(ctx: ScanContext, name: str) -> RepoRecord:
    repo_path = os.path.join(ctx.root, name)
    record = RepoRecord(repo_path, name)
    started_ns = time.time_ns()
    # Folder stamps, taken before each folder is read (reuse.py compares them on the next scan).
    stamps: list[Stamp] = []
    try:
        repo_lstat = os.lstat(repo_path)
        if stat_mod.S_ISDIR(repo_lstat.st_mode):  # a symlink's target can change unseen: not stamped
            stamps.append(_stamp("", repo_lstat))
    except OSError:
        pass
    # Like scan_cache_dir's cache-wide glob, temp files are found whatever state the repo is in.
    locks_dir = os.path.join(ctx.root, LOCKS_DIR_NAME, name) if name in ctx.lock_names else None
    if locks_dir:
        try:
            stamps.append(_stamp(locks_dir, os.stat(locks_dir)))  # lock files come and go in it
        except OSError:
            pass
    record.lock_files = scan_locks(locks_dir, name) if locks_dir else ()
    record.incomplete_files, linked_blobs = _scan_blobs_dir(repo_path, name, record.lock_files, stamps)
    try:
        shown_as = ctx.aliases.get(name)
        if shown_as is not None:
            # Scanning it too would show one folder twice and let a plan reach it by two names.
            raise _Corrupt(
                "alias",
                f"Same folder as {shown_as} (a symlink to it): shown once, as {shown_as}: {repo_path}",
                repo_path,
            )
        _fill_repo(ctx, record, stamps)
    except _Corrupt as exc:
        record.warnings = [exc.warning]
        record.revisions = ()
        record.blobs = {}
        record.shared_blobs = {}
        record.reached_store = {}
        record.inner_links = frozenset()
        record.notes = ()
        record.size_on_disk = 0
        record._physical = (0, {})
        try:
            repo_stat = os.stat(repo_path)
            record.last_accessed, record.last_modified = repo_stat.st_atime, repo_stat.st_mtime
        except OSError:
            pass
    else:
        record.stamps = _settle_stamps(ctx, record, stamps, linked_blobs, started_ns)
    return record


def _settle_stamps(
    ctx: ScanContext, record: RepoRecord, stamps: list[Stamp], linked_blobs: list[str], started_ns: int
) -> PackedStamps | None:
    """The stamps a later scan may reuse `record` on, or None where folder times cannot tell."""
    if not stamps or stamps[0][0] != "":
        return None  # the entry is a symlink (or vanished)
    if record.incomplete_files or any(lock.held for lock in record.lock_files):
        return None  # a download writes into it: files grow without any folder changing
    locks_dir = ctx.root + "/" + LOCKS_DIR_NAME + "/" + record.name
    if any(os.path.dirname(lock.path) != locks_dir for lock in record.lock_files):
        return None  # lock files in subfolders: not watched
    if any(key.startswith("/") for key in record.blobs):
        return None  # a link out of the repo: what it reaches is not watched
    if linked_blobs:
        store_linked = {
            key[6:] for key in (*record.shared_blobs, *record.reached_store) if key[:6] == "blobs/"
        }
        if any(name not in store_linked for name in linked_blobs):
            return None  # blobs/<etag> links somewhere other than the shared store
    store_dirs = {
        os.path.dirname(path) for path in (*record.shared_blobs.values(), *record.reached_store.values())
    }
    for path in sorted(store_dirs):
        try:
            stamps.append(_stamp(path, os.stat(path)))
        except OSError:
            return None
    recent = started_ns - ctx.racy_ns
    if any(stamp[3] >= recent or stamp[4] >= recent for stamp in stamps):
        return None
    return pack_stamps(stamps)


def _fill_repo(ctx: ScanContext, record: RepoRecord, stamps: list[Stamp] | None = None) -> None:
    repo_path = record.repo_path
    name = record.name
    if stamps and stamps[0][0] == "":  # its lstat saw a real folder: no need to stat it again
        is_dir = True
    else:
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
        snapshots_stat = os.stat(snapshots_path)
        snapshots_ok = stat_mod.S_ISDIR(snapshots_stat.st_mode)
    except OSError as exc:
        if exc.errno not in MISSING_ERRNOS:
            raise _error(exc, snapshots_path, "Cannot read snapshots dir") from None
        snapshots_ok = False
    if not snapshots_ok:
        raise _corrupted(f"Snapshots dir doesn't exist in cached repo: {snapshots_path}", snapshots_path)
    prefix_len = len(repo_path) + 1
    if stamps is not None:
        stamps.append(_stamp("snapshots", snapshots_stat))
        try:
            kept_stat = os.stat(repo_path + "/" + KEPT_DIR_NAME)
        except OSError:
            pass  # none: making one changes the repo folder's time
        else:
            stamps.append(_stamp(KEPT_DIR_NAME, kept_stat))

    refs_by_hash = _read_refs(repo_path + "/refs", stamps, prefix_len)

    try:
        revision_names = os.listdir(snapshots_path)
    except OSError as exc:
        raise _error(exc, snapshots_path, "Cannot list snapshots dir") from None

    try:
        trees_stat: os.stat_result | None = os.stat(repo_path + "/trees")
    except OSError:
        trees_stat = None
    has_trees = trees_stat is not None and stat_mod.S_ISDIR(trees_stat.st_mode)
    if has_trees and stamps is not None and trees_stat is not None:
        stamps.append(_stamp("trees", trees_stat))
    prefix = repo_path + "/"
    blobs: dict[str, tuple[int, float, float]] = {}
    shared: dict[str, str] = {}
    notes: list[ScanWarning] = []
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
                if exc.errno not in MISSING_ERRNOS:
                    raise _error(exc, revision_path, "Cannot read snapshot") from None
                revision_stat = None
            if revision_stat is not None and stat_mod.S_ISREG(revision_stat.st_mode):
                raise _corrupted(f"Snapshots folder corrupted. Found a file: {revision_path}", revision_path)

            files: list[tuple[str, str]] = []
            if revision_stat is not None and stat_mod.S_ISDIR(revision_stat.st_mode):
                if repo_fd is None:
                    repo_fd = _open_repo_fd(repo_path)
                if stamps is not None:
                    stamps.append(_stamp(revision_path[prefix_len:], revision_stat))
                _walk_snapshot(
                    ctx, revision_path, "", prefix, 2, files, blobs, shared, repo_fd, stamps=stamps
                )

            if files:
                revision_keys = {key for _, key in files}
                last_modified = max(blobs[key][2] for key in revision_keys)
                size = sum(blobs[key][0] for key in revision_keys)
            else:
                if revision_stat is None:
                    raise _Corrupt("error", f"Broken snapshot link: {revision_path}", revision_path)
                last_modified = revision_stat.st_mtime
                size = 0
            completeness = (
                _completeness(repo_path, revision_name, files, notes) if has_trees else UNKNOWN_COMPLETENESS
            )
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
    record.shared_blobs = {
        key: path for key, path in shared.items() if key[:1] not in (_REACHED, _NOTE, _INNER)
    }
    record.reached_store = {key[1:]: path for key, path in shared.items() if key[:1] == _REACHED}
    record.inner_links = frozenset(key[1:] for key in shared if key[:1] == _INNER)
    notes.extend(ScanWarning("warning", text, key[1:]) for key, text in shared.items() if key[:1] == _NOTE)
    record.notes = tuple(notes)


def _read_refs(refs_path: str, stamps: list[Stamp] | None = None, prefix_len: int = 0) -> dict[str, set[str]]:
    refs_by_hash: dict[str, set[str]] = {}
    try:
        mode = os.stat(refs_path).st_mode
    except OSError as exc:
        if exc.errno not in MISSING_ERRNOS:
            raise _error(exc, refs_path, "Cannot read refs dir") from None
        return refs_by_hash
    if stat_mod.S_ISREG(mode):
        raise _corrupted(f"Refs directory cannot be a file: {refs_path}", refs_path)
    if stat_mod.S_ISDIR(mode):
        _walk_refs(refs_path, "", refs_by_hash, stamps, prefix_len)
    return refs_by_hash


def _walk_refs(
    dir_path: str,
    rel_prefix: str,
    refs_by_hash: dict[str, set[str]],
    stamps: list[Stamp] | None = None,
    prefix_len: int = 0,
) -> None:
    # Same order as pathlib's glob("**/*"): a folder's entries, then its real subfolders depth first.
    try:
        if stamps is not None:
            stamps.append(_stamp(dir_path[prefix_len:], os.stat(dir_path)))
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
            _walk_refs(entry.path, rel_prefix + entry.name + "/", refs_by_hash, stamps, prefix_len)


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
    ctx: ScanContext,
    dir_path: str,
    rel_prefix: str,
    repo_prefix: str,
    depth: int,
    files: list[tuple[str, str]],
    blobs: dict[str, tuple[int, float, float]],
    shared: dict[str, str],
    repo_fd: int | None = None,
    parent_fd: int | None = None,
    stamps: list[Stamp] | None = None,
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
            if stamps is not None and depth > 2:  # the snapshot's own folder is stamped by the caller
                stamps.append(_stamp(dir_path[len(repo_prefix) :], os.fstat(fd)))
            with os.scandir(fd) as it:
                entries = list(it)
        else:
            if stamps is not None and depth > 2:
                stamps.append(_stamp(dir_path[len(repo_prefix) :], os.stat(dir_path)))
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
                stamps,
            )
    finally:
        if fd is not None:
            os.close(fd)


def _collect(
    ctx: ScanContext,
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
                if exc.errno in MISSING_ERRNOS:
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
                if exc.errno in MISSING_ERRNOS:
                    raise _corrupted(f"Blob missing (broken symlink): {blob_path}", blob_path) from None
                raise _error(exc, blob_path, "Cannot read blob") from None
            if stat_mod.S_ISDIR(blob_stat.st_mode):
                # A link to a folder: the library's is_dir() skips it. Say so: it may loop back
                # into snapshots/ or hide files that then count nowhere.
                entry_path = base + name
                shared[_NOTE + entry_path] = (
                    f"Snapshot entry links to a folder, skipped: {entry_path} -> {target}"
                )
                continue
            blobs[key] = (blob_stat.st_size, blob_stat.st_atime, blob_stat.st_mtime)
            if relative and key.startswith("snapshots/"):
                shared[_INNER + key] = ""  # a link into a snapshot: cleanup must not break it
            if ctx.store_inodes:
                store_path = ctx.store_inodes.get((blob_stat.st_dev, blob_stat.st_ino))
                if store_path is not None:
                    blob_path = repo_prefix + key if relative else key
                    if _is_store_link(ctx, key, blob_path, store_path):
                        shared[key] = store_path
                    else:
                        # Reached some other way (a link straight into the store, a chain of
                        # links, a hard link): still in use, though not the library's kind of link.
                        shared[_REACHED + key] = store_path
        append((rel_prefix + name, key))
    return subdirs


# Prefix of the keys `_collect` adds to `shared` for payloads reached otherwise (split off in
# `_fill_repo`): NUL never occurs in a path.
_REACHED = "\0"
_NOTE = "\1"
_INNER = "\2"


def _is_store_link(ctx: ScanContext, key: str, blob_path: str, store_path: str) -> bool:
    """The library's `shared_blob_target` test: `<repo>/blobs/<name>` is a symlink whose target is
    a well-formed entry of the marked store (we only get here when it resolves to one). The repo
    may be another one (an entry linked into another repo's blobs)."""
    if os.path.isabs(key):
        parts = os.path.relpath(key, ctx.root).split("/") if key.startswith(ctx.root + "/") else []
        if len(parts) != 3 or parts[1] != "blobs" or REPO_DIR.fullmatch(parts[0]) is None:
            return False
    elif not key.startswith("blobs/") or "/" in key[6:] or not key[6:]:
        return False
    try:
        target = os.readlink(blob_path)
    except OSError:
        return False
    resolved = os.path.normpath(os.path.join(os.path.dirname(blob_path), target))
    return resolved == store_path


def _completeness(
    repo_path: str, commit_hash: str, files: list[tuple[str, str]], notes: list[ScanWarning] | None = None
) -> Completeness:
    try:
        listed = read_listing(repo_path, commit_hash)
    except ListingError as exc:  # any file, whatever it holds, must never stop a scan
        if notes is not None and not exc.missing:  # no listing at all is normal (hf_hub_download)
            path = listing_path(repo_path, commit_hash)
            notes.append(
                ScanWarning("warning", f"Tree listing not used, completeness unknown: {exc}: {path}", path)
            )
        return UNKNOWN_COMPLETENESS
    present = {rel for rel, _ in files}
    missing = tuple(sorted(path for path in listed if path not in present))
    return Completeness(
        "partial" if missing else "complete",
        listed_files=len(listed),
        missing_files=missing,
        missing_bytes=sum(listed[path].size for path in missing),
    )


def scan_incomplete(repo_path: str, repo_dir: str, locks: tuple[LockFile, ...]) -> tuple[IncompleteFile, ...]:
    return _scan_blobs_dir(repo_path, repo_dir, locks, None)[0]


def _scan_blobs_dir(
    repo_path: str, repo_dir: str, locks: tuple[LockFile, ...], stamps: list[Stamp] | None
) -> tuple[tuple[IncompleteFile, ...], list[str]]:
    """The `.incomplete` files in `blobs/`, and the names there that are symlinks (the listing's
    file types say so: no system call)."""
    blobs_dir = repo_path + "/blobs"
    names: list[str] = []
    linked: list[str] = []
    try:
        if stamps is not None:
            stamps.append(_stamp("blobs", os.stat(blobs_dir)))
        with os.scandir(blobs_dir) as it:
            for entry in it:
                if entry.name.endswith(".incomplete"):
                    names.append(entry.name)
                elif entry.is_symlink():
                    linked.append(entry.name)
    except OSError:
        return (), linked
    return _incomplete(blobs_dir, names, repo_dir, locks), linked


def _incomplete(
    blobs_dir: str, names: list[str], repo_dir: str, locks: tuple[LockFile, ...]
) -> tuple[IncompleteFile, ...]:
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
        etag = TEMP_SUFFIX.sub("", name[: -len(".incomplete")])
        found.append(IncompleteFile(path, st.st_size, repo_dir, etag, st.st_mtime, etag in held_etags))
    return tuple(found)
