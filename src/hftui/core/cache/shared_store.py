"""The library's cache-wide shared blob store (`<cache>/blobs/<xx>/<hash>`, huggingface_hub 2.4):
which payloads it holds, and whether a payload's manifest still lists a valid link to it."""

from __future__ import annotations

import errno
import os
import stat as stat_mod
from dataclasses import dataclass

from hftui.core.cache.layout import (
    HEX2,
    REPO_DIR,
    SHARED_BLOBS_DIR_NAME,
    SHARED_BLOBS_MARKER_CONTENT,
    SHARED_BLOBS_MARKER_NAME,
    XET_HASH,
)


@dataclass(frozen=True, slots=True)
class SharedBlob:
    """A payload in the cache-wide shared blob store `<cache>/blobs/<xx>/<hash>`."""

    path: str
    size_on_disk: int


def is_marked_store(store_dir: str) -> bool:
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


def list_store(store_dir: str) -> tuple[list[SharedBlob], dict[tuple[int, int], str]]:
    """Valid payloads of a marked store, with the rules of `shared_store_blob_paths`."""
    blobs: list[SharedBlob] = []
    inodes: dict[tuple[int, int], str] = {}
    try:
        prefixes = list(os.scandir(store_dir))
    except OSError:
        return blobs, inodes
    for prefix in prefixes:
        if HEX2.fullmatch(prefix.name) is None or not prefix.is_dir(follow_symlinks=False):
            continue
        try:
            entries = list(os.scandir(prefix.path))
        except OSError:
            continue
        for entry in entries:
            if XET_HASH.fullmatch(entry.name) is None or not entry.name.startswith(prefix.name):
                continue
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if stat_mod.S_ISREG(st.st_mode):
                blobs.append(SharedBlob(entry.path, st.st_size))
                inodes[(st.st_dev, st.st_ino)] = entry.path
    return blobs, inodes


def manifest_has_valid_reference(root: str, store_path: str) -> bool | None:
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
        if ".." in parts or len(parts) != 3 or parts[1] != "blobs" or REPO_DIR.fullmatch(parts[0]) is None:
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
            and XET_HASH.fullmatch(rel_parts[1]) is not None
            and rel_parts[0] == rel_parts[1][:2]
            and resolved == store_path
        ):
            found = True
    return found


def store_problems(root: str, store: list[SharedBlob]) -> list[tuple[str, str]]:
    """(path, message) for what in the store `blobs/` folder the library would silently ignore or
    keep forever: a marker that is not the library's (the folder is then no store at all), a
    payload without a manifest (never collected), a manifest whose payload is gone."""
    store_dir = os.path.join(root, SHARED_BLOBS_DIR_NAME)
    marker = os.path.join(store_dir, SHARED_BLOBS_MARKER_NAME)
    if not is_marked_store(store_dir):
        if os.path.lexists(marker):
            return [
                (
                    marker,
                    f"Shared blob store marker is not huggingface_hub's, the folder is not used as a store: {marker}",
                )
            ]
        return []
    problems: list[tuple[str, str]] = []
    payloads = {blob.path for blob in store}
    for path in sorted(payloads):
        if not os.path.lexists(path + ".refs"):
            problems.append((path, f"Shared blob without a manifest, never collected: {path}"))
    try:
        prefixes = [entry.path for entry in os.scandir(store_dir) if HEX2.fullmatch(entry.name)]
    except OSError:
        return problems
    for prefix in sorted(prefixes):
        try:
            names = os.listdir(prefix)
        except OSError:
            continue
        for name in sorted(names):
            if name.endswith(".refs") and XET_HASH.fullmatch(name[: -len(".refs")]):
                payload = os.path.join(prefix, name[: -len(".refs")])
                if payload not in payloads:
                    problems.append(
                        (
                            payload + ".refs",
                            f"Shared blob manifest names a payload that is not there: {payload}",
                        )
                    )
    return problems
