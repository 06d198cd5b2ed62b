"""The kept-bytes store: bytes of files whose download was stopped, kept for the next attempt.

huggingface_hub 2.4 never reuses an interrupted file (each attempt writes a process-unique
`blobs/<etag>.<8 hex>.incomplete` and deletes it when stopped) and hf_xet 1.8 keeps no chunk
cache, so without this a paused 40 GB download starts again from byte 0.

Layout. Inside the repo's own folder of the Hub cache, next to the library's `blobs/`,
`snapshots/`, `refs/` and `trees/`::

    <cache>/models--org--name/.hftui-partial/<etag>.part   bytes 0..N of blob <etag>
    <cache>/models--org--name/.hftui-partial/<etag>.json   what they are (`KeptMeta`)

`<etag>` is the name the blob will have in `blobs/` (the SHA-256 of an LFS/Xet file, the git
blob SHA-1 of a small one), so one blob has one kept file however many paths or jobs need it.

Why inside the repo folder and not one `<cache>/.hftui-partial/`: `scan_cache_dir` (and our
scanner, which follows its rules) reports every top-level folder that is not a repo as a
corrupted-cache warning, so `hf cache ls` would complain on every machine with a paused job.
Inside a repo folder it ignores unknown entries (as it does the library's own `trees/` and
`.no_exist/`). And whatever deletes a repo folder (`hf cache rm`, hftui's delete) deletes
the repo's kept bytes with it. The folder is created together with an empty `snapshots/`
(the library creates it too), so a repo that has only kept bytes is an empty repo to the
scanners, not a warning.

Writers. A `.part` file is written only while holding the library's own per-blob lock,
`<cache>/.locks/<repo folder>/<etag>.lock` (the lock `hf_hub_download` takes before it
downloads a blob), so two hftui processes, `hf download` and a training script never write the
same blob at once. Readers (scan, prune) only stat files; deleting a kept file takes the lock
without waiting, and a file whose lock is held is left alone.

This module is only the store (paths, metadata, listing, deletion); `hftui.core.downloads.resume`
fills it. It imports nothing heavy: the cache scanner and the Cache pane list it too.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hftui.core.vocab import TYPE_PREFIXES, cache_folder

KEPT_DIR_NAME = ".hftui-partial"
PART_SUFFIX = ".part"
META_SUFFIX = ".json"
LOCKS_DIR_NAME = ".locks"
FORMAT_VERSION = 1


def repo_folder_name(repo_id: str, repo_type: str) -> str:
    """The library's folder name for a repo (`models--org--name`)."""
    return cache_folder(repo_type, repo_id)


def kept_dir(cache_dir: str | os.PathLike[str], repo_id: str, repo_type: str) -> Path:
    return Path(cache_dir) / repo_folder_name(repo_id, repo_type) / KEPT_DIR_NAME


def blob_lock_path(cache_dir: str | os.PathLike[str], repo_id: str, repo_type: str, etag: str) -> Path:
    """The library's per-blob download lock (the same path `hf_hub_download` locks)."""
    return Path(cache_dir) / LOCKS_DIR_NAME / repo_folder_name(repo_id, repo_type) / f"{etag}.lock"


@dataclass
class KeptMeta:
    """What a `.part` file holds. `kept` and `updated` are refreshed while bytes arrive (every
    few seconds); the `.part` file's size is the truth after a crash."""

    repo_id: str
    repo_type: str
    revision: str
    """Commit the file was planned from."""
    path: str
    """Path of the file in the repo (the first one, if several paths share the blob)."""
    size: int
    etag: str
    sha256: str | None = None
    """Expected SHA-256 (LFS/Xet files); None for a small file checked by its git blob SHA-1."""
    git_sha1: str | None = None
    xet_hash: str | None = None
    transport: str = "http"
    """"http" or "xet": how the bytes were fetched (either can continue the other's file)."""
    kept: int = 0
    updated: float = 0.0
    format_version: int = FORMAT_VERSION
    ranges: list[list[int]] = field(default_factory=list)
    """Over Xet: [start, end) ranges past the prefix `kept` written in full (hf_xet completes
    xorb ranges out of order); a resume keeps them and fetches only the gaps."""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def held(self) -> int:
        """Bytes a resume keeps: the prefix and the recorded ranges past it."""
        return self.kept + sum(end - start for start, end in self.ranges)

    @classmethod
    def from_json(cls, data: Any) -> KeptMeta:
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        if data.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"unknown format version {data.get('format_version')!r}")
        known = {name for name in cls.__dataclass_fields__}
        meta = cls(**{k: v for k, v in data.items() if k in known})
        if not isinstance(meta.size, int) or meta.size < 0 or not isinstance(meta.etag, str) or not meta.etag:
            raise ValueError("bad size or etag")
        meta.ranges = _valid_ranges(meta.ranges, meta.kept, meta.size)
        return meta


def _valid_ranges(ranges: Any, kept: Any, size: int) -> list[list[int]]:
    """The recorded ranges that can be trusted: whole numbers, past the prefix, inside the file,
    sorted and not overlapping. Anything else is dropped (fetched again), never guessed."""
    if not isinstance(ranges, list) or not isinstance(kept, int):
        return []
    out: list[list[int]] = []
    edge = kept
    for item in sorted(r for r in ranges if isinstance(r, list) and len(r) == 2):
        start, end = item
        if type(start) is not int or type(end) is not int or not edge < start < end <= size:
            continue
        out.append([start, end])
        edge = end
    return out


@dataclass(frozen=True)
class KeptFile:
    """One entry of the store as found on disk (by `iter_kept`)."""

    folder: Path
    """The `.hftui-partial` folder."""
    repo_type: str
    repo_id: str
    etag: str
    part_bytes: int
    """Size of the `.part` file (0 when it is missing)."""
    part_exists: bool
    meta: KeptMeta | None
    """None when the metadata is missing or unreadable."""
    problem: str | None
    """Why the entry cannot be resumed as it is (it will be discarded or refetched), or None."""
    updated: float
    """Last time bytes arrived (mtime of the `.part`, else of the metadata)."""

    @property
    def part_path(self) -> Path:
        return self.folder / f"{self.etag}{PART_SUFFIX}"

    @property
    def meta_path(self) -> Path:
        return self.folder / f"{self.etag}{META_SUFFIX}"

    @property
    def cache_dir(self) -> Path:
        return self.folder.parent.parent

    @property
    def path(self) -> str:
        return self.meta.path if self.meta is not None else f"<unknown file {self.etag[:12]}>"

    @property
    def size(self) -> int | None:
        return self.meta.size if self.meta is not None else None

    def age(self, now: float | None = None) -> float:
        return max(0.0, (time.time() if now is None else now) - self.updated)

    @property
    def kept_bytes(self) -> int:
        """Bytes a resume keeps. Over HTTP the `.part` size (the state lags it); over Xet the
        recorded prefix and ranges (the `.part` may have holes and unrecorded bytes)."""
        if self.meta is not None and self.meta.transport == "xet":
            return min(self.part_bytes, self.meta.held)
        return self.part_bytes

    @property
    def disk_bytes(self) -> int:
        """Bytes the entry takes (what deleting it frees, metadata aside)."""
        return self.part_bytes


class KeptStore:
    """The kept files of one repo in one cache."""

    def __init__(self, cache_dir: str | os.PathLike[str], repo_id: str, repo_type: str) -> None:
        self.cache_dir = Path(cache_dir)
        self.repo_id = repo_id
        self.repo_type = repo_type
        self.folder = kept_dir(cache_dir, repo_id, repo_type)

    def part_path(self, etag: str) -> Path:
        return self.folder / f"{etag}{PART_SUFFIX}"

    def meta_path(self, etag: str) -> Path:
        return self.folder / f"{etag}{META_SUFFIX}"

    def lock_path(self, etag: str) -> Path:
        return blob_lock_path(self.cache_dir, self.repo_id, self.repo_type, etag)

    def blob_path(self, etag: str) -> Path:
        return self.cache_dir / repo_folder_name(self.repo_id, self.repo_type) / "blobs" / etag

    def ensure(self) -> None:
        """Create the folder (and the repo's `snapshots/`, see the module docstring)."""
        repo = self.folder.parent
        (repo / "snapshots").mkdir(parents=True, exist_ok=True)
        self.folder.mkdir(exist_ok=True)

    def read_meta(self, etag: str) -> KeptMeta | None:
        """The metadata of `etag`, None when missing; ValueError/OSError when unreadable."""
        try:
            text = self.meta_path(etag).read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        return KeptMeta.from_json(json.loads(text))

    def write_meta(self, meta: KeptMeta) -> None:
        """Write atomically (a crash never leaves half a JSON file)."""
        target = self.meta_path(meta.etag)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        try:
            tmp.write_text(json.dumps(meta.to_json(), indent=1), encoding="utf-8")
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()  # a full disk must not leave half a state file behind
            raise

    def kept_bytes(self, etag: str) -> int:
        try:
            return os.stat(self.part_path(etag)).st_size
        except OSError:
            return 0

    def discard(self, etag: str) -> None:
        """Remove the kept file and its metadata (the caller holds the blob lock)."""
        for path in (self.part_path(etag), self.meta_path(etag)):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        self.tidy()

    def tidy(self) -> None:
        """Remove the folder once it is empty (no kept-bytes folder is left after a job)."""
        with contextlib.suppress(OSError):
            self.folder.rmdir()


# -- reading the whole cache ------------------------------------------------------------------


def _entry(folder: Path, repo_type: str, repo_id: str, etag: str, names: set[str]) -> KeptFile:
    part = folder / f"{etag}{PART_SUFFIX}"
    meta_file = folder / f"{etag}{META_SUFFIX}"
    problem: str | None = None
    part_bytes, part_mtime, part_exists = 0, 0.0, False
    if f"{etag}{PART_SUFFIX}" in names:
        try:
            st = os.stat(part)
            part_bytes, part_mtime, part_exists = st.st_size, st.st_mtime, True
        except OSError as exc:
            problem = f"kept bytes unreadable ({exc.strerror or exc})"
    meta: KeptMeta | None = None
    meta_mtime = 0.0
    if f"{etag}{META_SUFFIX}" in names:
        try:
            meta_mtime = os.stat(meta_file).st_mtime
            meta = KeptMeta.from_json(json.loads(meta_file.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            problem = problem or f"kept-bytes state unreadable ({reason})"
    elif part_exists:
        problem = problem or "kept bytes without their state file"
    if meta is not None and problem is None:
        if not part_exists:
            problem = "state file points at kept bytes that no longer exist"
        elif part_bytes > meta.size:
            problem = f"kept bytes larger than the file ({part_bytes} > {meta.size} bytes)"
    return KeptFile(
        folder=folder,
        repo_type=repo_type,
        repo_id=repo_id,
        etag=etag,
        part_bytes=part_bytes,
        part_exists=part_exists,
        meta=meta,
        problem=problem,
        updated=max(part_mtime, meta_mtime),
    )


def iter_repo_kept(repo_path: str | os.PathLike[str]) -> Iterator[KeptFile]:
    """Kept files of one repo folder (`<cache>/models--org--name`)."""
    repo_path = Path(repo_path)
    type_prefix, _, rest = repo_path.name.partition("--")
    repo_type = TYPE_PREFIXES.get(type_prefix)
    if repo_type is None or not rest:
        return
    folder = repo_path / KEPT_DIR_NAME
    try:
        names = set(os.listdir(folder))
    except OSError:
        return
    etags = sorted(
        {
            name[: -len(suffix)]
            for name in names
            for suffix in (PART_SUFFIX, META_SUFFIX)
            if name.endswith(suffix) and not name.startswith(".")
        }
    )
    for etag in etags:
        yield _entry(folder, repo_type, rest.replace("--", "/"), etag, names)


def iter_kept(cache_dir: str | os.PathLike[str]) -> Iterator[KeptFile]:
    """Every kept file of a cache (only stats and small JSON reads)."""
    try:
        names = sorted(os.listdir(cache_dir))
    except OSError:
        return
    for name in names:
        if "--" not in name or name.startswith("."):
            continue
        yield from iter_repo_kept(Path(cache_dir) / name)


def kept_for(
    cache_dir: str | os.PathLike[str],
    repo_id: str,
    repo_type: str,
    paths: Any = None,
) -> tuple[int, int]:
    """(bytes, files) kept for a repo, optionally only for files whose path is in `paths`
    (a container of repo paths) — for a job's row before it has a plan again."""
    total = files = 0
    for entry in iter_repo_kept(Path(cache_dir) / repo_folder_name(repo_id, repo_type)):
        if entry.problem is not None or entry.meta is None:
            continue
        if paths is not None and entry.meta.path not in paths:
            continue
        total += entry.kept_bytes
        files += 1
    return total, files


def kept_for_request(cache_dir: str | os.PathLike[str], request: Any) -> tuple[int, int]:
    """(bytes, files) kept for the files a `DownloadRequest` selects (by its patterns, with the
    library's own matcher), when its plan is not known (a job restored from the last session)."""
    entries = [
        e
        for e in iter_repo_kept(Path(cache_dir) / repo_folder_name(request.repo_id, request.repo_type))
        if e.problem is None and e.meta is not None
    ]
    if not entries:
        return 0, 0
    from huggingface_hub.utils import filter_repo_objects

    selected = set(
        filter_repo_objects(
            [e.path for e in entries],
            allow_patterns=list(request.allow_patterns) or None,
            ignore_patterns=list(request.ignore_patterns) or None,
        )
    )
    chosen = [e for e in entries if e.path in selected]
    return sum(e.kept_bytes for e in chosen), len(chosen)


def remove_entry(entry: KeptFile) -> tuple[bool, str]:
    """Delete one kept file unless a download holds its blob lock. (removed, reason if not)."""
    import fcntl

    lock = blob_lock_path(entry.cache_dir, entry.repo_id, entry.repo_type, entry.etag)
    fd: int | None = None
    if lock.parent.is_dir():
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o664)
        except OSError as exc:
            return False, f"cannot take the download lock ({exc.strerror or exc})"
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False, "a download is writing it"
    try:
        for path in (entry.part_path, entry.meta_path):
            try:
                path.unlink()
            except FileNotFoundError:
                continue
            except OSError as exc:
                if exc.errno in (errno.EACCES, errno.EPERM):
                    return False, f"permission denied: {path}"
                return False, f"{exc.strerror or exc}: {path}"
        with contextlib.suppress(OSError):
            entry.folder.rmdir()
        return True, ""
    finally:
        if fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


# -- what the Cache pane, `hftui scan` and prune show -----------------------------------------


@dataclass(frozen=True)
class KeptRepo:
    """The kept partial bytes of one repo."""

    repo_type: str
    repo_id: str
    repo_dir: str
    files: int
    bytes: int
    """Bytes kept on disk (what deleting them frees)."""
    expected: int
    """Full size of those files (known from their state files)."""
    updated: float
    """When bytes last arrived for any of them."""
    oldest: float
    """When bytes last arrived for the least recently touched one."""
    problems: int
    """Entries that cannot be resumed as they are (discarded by the next attempt, or pruned)."""


def kept_by_repo(cache_dir: str | os.PathLike[str], entries: list[KeptFile] | None = None) -> list[KeptRepo]:
    """Kept partial bytes per repo, largest first."""
    groups: dict[tuple[str, str], list[KeptFile]] = {}
    for entry in iter_kept(cache_dir) if entries is None else entries:
        groups.setdefault((entry.repo_type, entry.repo_id), []).append(entry)
    out = [
        KeptRepo(
            repo_type=key[0],
            repo_id=key[1],
            repo_dir=str(items[0].folder.parent),
            files=len(items),
            bytes=sum(e.part_bytes for e in items),
            expected=sum(e.size or 0 for e in items),
            updated=max(e.updated for e in items),
            oldest=min(e.updated for e in items),
            problems=sum(1 for e in items if e.problem is not None),
        )
        for key, items in groups.items()
    ]
    return sorted(out, key=lambda r: (-r.bytes, r.repo_type, r.repo_id))


def describe(repo: KeptRepo, now: float) -> str:
    """One line for a repo's kept bytes, the same in the Cache pane and `hftui scan`:
    `1.5 MB of 4.2 MB in 1 file, last byte 3h ago`."""
    from hftui.core import vocab

    text = (
        f"{vocab.size(repo.bytes)} of {vocab.size(repo.expected)} in {vocab.count(repo.files, 'file')}, "
        f"last byte {vocab.ago(repo.updated, now)}"
    )
    if repo.problems:
        text += f" ({vocab.count(repo.problems, 'unusable entry', 'unusable entries')})"
    return text


def wanted_by(entry: KeptFile, requests: Any) -> bool:
    """Whether one of `requests` (`DownloadRequest`s of unfinished jobs) would fetch `entry`'s file
    into its cache: then a resume needs these bytes."""
    if entry.meta is None:
        return False
    from huggingface_hub.utils import filter_repo_objects

    cache = os.path.realpath(entry.cache_dir)
    for request in requests:
        if request.local_dir or (request.repo_type, request.repo_id) != (entry.repo_type, entry.repo_id):
            continue
        if request.cache_dir is not None and os.path.realpath(request.cache_dir) != cache:
            continue
        if list(
            filter_repo_objects(
                [entry.meta.path],
                allow_patterns=list(request.allow_patterns) or None,
                ignore_patterns=list(request.ignore_patterns) or None,
            )
        ):
            return True
    return False


def abandoned(
    entries: list[KeptFile],
    *,
    max_age: float,
    requests: Any = None,
    now: float | None = None,
) -> tuple[list[tuple[KeptFile, str]], list[tuple[KeptFile, str]]]:
    """Kept files prune may offer: (entry, why) to delete and (entry, why not) to keep.

    Abandoned: no bytes arrived for `max_age` seconds (0 = no age limit), or no unfinished job
    wants the file any more (when `requests`, the unfinished jobs' requests, is given: hftui's
    own queue), or the entry cannot be resumed (no state, no bytes, larger than the file).
    A file being written (its download lock held) is never offered.
    """
    now = time.time() if now is None else now
    offer: list[tuple[KeptFile, str]] = []
    keep: list[tuple[KeptFile, str]] = []
    for entry in entries:
        if lock_held(entry):
            keep.append((entry, "a download is writing it"))
        elif entry.problem is not None:
            offer.append((entry, entry.problem))
        elif max_age > 0 and entry.age(now) >= max_age:
            offer.append((entry, f"no byte for {int(entry.age(now) // 86400)} days"))
        elif requests is not None and not wanted_by(entry, requests):
            offer.append((entry, "no download in the queue needs it"))
        else:
            keep.append(
                (entry, "a download in the queue will resume it" if requests is not None else "recent")
            )
    return offer, keep


def lock_held(entry: KeptFile) -> bool:
    """Whether a download holds the blob lock of `entry` (probed, never created)."""
    from hftui.core.cache.locks import lock_is_held

    lock = blob_lock_path(entry.cache_dir, entry.repo_id, entry.repo_type, entry.etag)
    return lock_is_held(str(lock)) is True


def entry_of(path: str | os.PathLike[str]) -> KeptFile | None:
    """The store entry a `.part` or state file belongs to (None if `path` is not one)."""
    path = Path(path)
    folder = path.parent
    if folder.name != KEPT_DIR_NAME:
        return None
    for suffix in (PART_SUFFIX, META_SUFFIX):
        if path.name.endswith(suffix):
            etag = path.name[: -len(suffix)]
            break
    else:
        return None
    return next((e for e in iter_repo_kept(folder.parent) if e.etag == etag), None)


def remove_path(path: str | os.PathLike[str]) -> tuple[str, str]:
    """Delete the kept file `path` names (its bytes and state) for a deletion plan:
    ("deleted" | "vanished" | "kept" | "failed", message)."""
    entry = entry_of(path)
    if entry is None:
        return "vanished", "already gone"
    removed, why = remove_entry(entry)
    if removed:
        return "deleted", ""
    return ("kept" if why == "a download is writing it" else "failed"), why
