"""Offline verification of a cached revision against its cached tree listing (`trees/<commit>.json`).

UI-free, no network. LFS files are checked by SHA-256 against `lfs_sha256`; other files by their
git blob SHA-1 (`sha1(b"blob <size>\\0" + data)`) against `blob_id`. The listing is read from the
file huggingface_hub writes during `snapshot_download` (format_version 1); the public reader
`get_cached_repo_tree` drops the LFS SHA-256, so the JSON is read directly.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from hftui.core import vocab
from hftui.core.cache import listing
from hftui.core.cache.listing import ListedFile

if TYPE_CHECKING:
    from hftui.core.downloads.models import DownloadRequest

CHUNK = 1024 * 1024


class VerifyError(Exception):
    """The revision cannot be verified at all (no cached listing, unreadable snapshot)."""


class VerifyCancelled(Exception):
    pass


@dataclass
class VerifyResult:
    commit_hash: str
    checked: list[str] = field(default_factory=list)
    mismatched: list[tuple[str, str]] = field(default_factory=list)
    """(path, what differs)"""
    missing: list[str] = field(default_factory=list)
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    """Files in the snapshot that the listing does not know."""
    bytes_checked: int = 0

    @property
    def ok(self) -> bool:
        return not (self.mismatched or self.unreadable)

    def summary(self) -> str:
        parts = [
            f"{vocab.count(len(self.checked), 'file')} {'matches' if len(self.checked) == 1 else 'match'}"
        ]
        if self.mismatched:
            parts.append(f"{len(self.mismatched)} mismatched")
        if self.unreadable:
            parts.append(f"{len(self.unreadable)} unreadable")
        if self.missing:
            parts.append(f"{len(self.missing)} not downloaded")
        if self.extra:
            parts.append(f"{len(self.extra)} not in the listing")
        return ", ".join(parts)

    @property
    def bad_paths(self) -> list[str]:
        """Files whose bytes differ from the listing's hash or size: what a re-download replaces."""
        return sorted(path for path, _ in self.mismatched)


def redownload_request(
    result: VerifyResult, *, repo_type: str, repo_id: str, cache_dir: str
) -> DownloadRequest | None:
    """The download that replaces exactly the mismatched files of a verified revision, or None.

    Pinned to the verified commit; each path as a glob matching only itself; `force_download`, since
    the library would otherwise see the (corrupt) blob in place and skip it. It goes through the normal
    queue, so it shows progress, can be paused, and is checked against free space like any job."""
    from hftui.core.downloads.job import escape_glob
    from hftui.core.downloads.models import DownloadRequest

    paths = result.bad_paths
    if not paths:
        return None
    label = f"{vocab.display_id(repo_type, repo_id)}@{result.commit_hash[:10]} · re-download {vocab.count(len(paths), 'bad file')}"
    return DownloadRequest(
        repo_id=repo_id,
        repo_type=repo_type,
        revision=result.commit_hash,
        allow_patterns=tuple(escape_glob(path) for path in paths),
        cache_dir=cache_dir,
        force_download=True,
        label=label,
    )


def read_listing(repo_path: Path, commit_hash: str) -> dict[str, ListedFile]:
    try:
        return listing.read_listing(repo_path, commit_hash)
    except listing.ListingError as exc:
        raise VerifyError(str(exc)) from None


def git_blob_sha1(path: Path, size: int, *, on_bytes: Callable[[int], None] | None = None) -> str:
    h = hashlib.sha1(b"blob %d\0" % size)
    _feed(h, path, on_bytes)
    return h.hexdigest()


def sha256(path: Path, *, on_bytes: Callable[[int], None] | None = None) -> str:
    h = hashlib.sha256()
    _feed(h, path, on_bytes)
    return h.hexdigest()


def _feed(h: hashlib._Hash, path: Path, on_bytes: Callable[[int], None] | None) -> None:
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
            if on_bytes is not None:
                on_bytes(len(chunk))


def verify_revision(
    repo_path: Path,
    commit_hash: str,
    *,
    progress: Callable[[int, int], None] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> VerifyResult:
    """Hash every downloaded file of a revision. `progress(done_bytes, total_bytes)`; `cancel()` stops."""
    listing = read_listing(repo_path, commit_hash)
    snapshot = Path(repo_path) / "snapshots" / commit_hash
    if not snapshot.is_dir():
        raise VerifyError(f"snapshot {commit_hash[:8]} is not in the cache")
    result = VerifyResult(commit_hash)
    present = [f for f in listing.values() if os.path.lexists(snapshot / f.path)]
    result.missing = sorted(f.path for f in listing.values() if f not in present)
    total = sum(f.size for f in present)
    done = 0

    def on_bytes(n: int) -> None:
        nonlocal done
        done += n
        if cancel is not None and cancel():
            raise VerifyCancelled
        if progress is not None:
            progress(done, total)

    if progress is not None:
        progress(0, total)
    for entry in sorted(present, key=lambda f: f.path):
        if cancel is not None and cancel():
            raise VerifyCancelled
        local = snapshot / entry.path
        try:
            size = local.stat().st_size
            if size != entry.size:
                result.mismatched.append((entry.path, f"size {size} instead of {entry.size}"))
                done += entry.size
                continue
            if entry.lfs_sha256:
                got = sha256(local, on_bytes=on_bytes)
                expected, algo = entry.lfs_sha256, "sha256"
            else:
                got = git_blob_sha1(local, size, on_bytes=on_bytes)
                expected, algo = entry.blob_id, "git sha1"
        except VerifyCancelled:
            raise
        except OSError as exc:
            result.unreadable.append((entry.path, exc.strerror or str(exc)))
            continue
        result.bytes_checked += size
        if got != expected:
            result.mismatched.append((entry.path, f"{algo} {got[:12]}… instead of {expected[:12]}…"))
        else:
            result.checked.append(entry.path)
    for root, _dirs, files in os.walk(snapshot):
        for name in files:
            rel = Path(root, name).relative_to(snapshot).as_posix()
            if rel not in listing:
                result.extra.append(rel)
    result.extra.sort()
    return result
