"""The cached tree listing `trees/<commit>.json`, read in one place (the scanner and the verifier).

huggingface_hub 2.x writes it when it lists a repo (`snapshot_download`), format_version 1:
`{"format_version": 1, "files": {path: {"size", "blob_id", "lfs_sha256"?}}}`. Its public reader
`get_cached_repo_tree` drops the LFS SHA-256 the verifier needs, so the JSON is read here. Any
content a file may hold ends as a `ListingError`, never another exception: a cache on disk is
input, not a promise.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass

FORMAT_VERSION = 1
_XET_HASH = re.compile(r"[0-9a-fA-F]{64}")  # huggingface_hub.utils._xet.is_valid_xet_hash


class ListingError(Exception):
    """No usable listing: missing, unreadable or not in the shape huggingface_hub writes.

    `missing` tells "never written" (files fetched one by one, an older client) from "broken"."""

    def __init__(self, message: str, *, missing: bool = False) -> None:
        super().__init__(message)
        self.missing = missing


@dataclass(frozen=True)
class ListedFile:
    path: str
    size: int
    blob_id: str
    lfs_sha256: str | None = None


def listing_path(repo_path: str | os.PathLike[str], commit_hash: str) -> str:
    return os.path.join(os.fspath(repo_path), "trees", f"{commit_hash}.json")


def read_listing(repo_path: str | os.PathLike[str], commit_hash: str) -> dict[str, ListedFile]:
    """`{path: ListedFile}` for one revision of the repo folder `repo_path`; raises `ListingError`."""
    path = listing_path(repo_path, commit_hash)
    name = os.path.basename(path)
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        raise ListingError(
            f"no tree listing cached for {commit_hash[:8]} (downloaded by an older client?)", missing=True
        ) from None
    # unreadable, truncated, not UTF-8, absurdly nested
    except (OSError, ValueError, RecursionError) as exc:
        raise ListingError(f"cannot read {name}: {exc}") from None
    return parse_listing(data, name)


def parse_listing(data: object, name: str = "the tree listing") -> dict[str, ListedFile]:
    if (
        not isinstance(data, dict)
        or data.get("format_version") != FORMAT_VERSION
        or not isinstance(data.get("files"), dict)
    ):
        raise ListingError(f"unknown tree listing format in {name}")
    out: dict[str, ListedFile] = {}
    for entry, info in data["files"].items():
        parts = entry.split("/")
        if entry.startswith("/") or any(part in ("", ".", "..") for part in parts):
            raise ListingError(f"malformed entry {entry!r} in {name}: not a path inside the snapshot")
        size = info.get("size") if isinstance(info, dict) else None
        blob_id = info.get("blob_id") if isinstance(info, dict) else None
        # bool is an int to Python, a float (1e400) is not a byte count, a size is never negative.
        if not isinstance(size, int) or isinstance(size, bool) or size < 0 or not isinstance(blob_id, str):
            raise ListingError(f"malformed entry {entry!r} in {name}")
        xet_hash = info.get("xet_hash")
        if xet_hash is not None and (not isinstance(xet_hash, str) or not _XET_HASH.fullmatch(xet_hash)):
            # huggingface_hub's reader (`_tree_cache.read_tree_cache`, 2.4.0) drops a listing with
            # an invalid Xet hash (a masked one, say): so does hftui.
            raise ListingError(f"invalid xet_hash for {entry!r} in {name}")
        lfs = info.get("lfs_sha256")
        out[entry] = ListedFile(entry, size, blob_id, lfs if isinstance(lfs, str) else None)
    return out


__all__ = ["FORMAT_VERSION", "ListedFile", "ListingError", "listing_path", "parse_listing", "read_listing"]
