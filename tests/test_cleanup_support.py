"""Helpers for the cleanup/verify/cache-pane tests (no tests here). Their `cache` and
`template_cache` fixtures live in conftest.py."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def state(cache_dir: Path) -> dict[tuple[str, str], Any]:
    """What scan_cache_dir reports, as comparable plain data (access times left out)."""
    from huggingface_hub import scan_cache_dir

    info = scan_cache_dir(cache_dir)
    out: dict[tuple[str, str], Any] = {}
    for repo in info.repos:
        out[(repo.repo_type, repo.repo_id)] = {
            rev.commit_hash: (
                frozenset(rev.refs),
                frozenset(
                    (f.file_path.relative_to(rev.snapshot_path).as_posix(), f.blob_path.name, f.size_on_disk)
                    for f in rev.files
                ),
            )
            for rev in repo.revisions
        }
    return out


def repos_by_key(cache_dir: Path) -> dict[tuple[str, str], Any]:
    from huggingface_hub import scan_cache_dir

    return {(r.repo_type, r.repo_id): r for r in scan_cache_dir(cache_dir).repos}


def revision_with(repo: Any, ref: str) -> Any:
    return next(rev for rev in repo.revisions if ref in rev.refs)


def blob_bytes(cache_dir: Path) -> int:
    """Bytes of all regular files in blobs/ dirs (what deletion can free)."""
    total = 0
    for root, _dirs, files in os.walk(cache_dir):
        if Path(root).name == "blobs" or "blobs" in Path(root).parts:
            for name in files:
                p = Path(root, name)
                if not p.is_symlink():
                    total += p.stat().st_size
    return total


def manifest(root: Path) -> dict[str, tuple[str, str]]:
    """Every path under `root` (symlinks not followed) with what it is: a folder, a link and its
    target, or a file and the SHA-256 of its bytes. Equal before and after = nothing touched."""
    import hashlib

    out: dict[str, tuple[str, str]] = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(folder, name)
            rel = os.path.relpath(path, root)
            if os.path.islink(path):
                out[rel] = ("link", os.readlink(path))
            elif os.path.isdir(path):
                out[rel] = ("dir", "")
            else:
                digest = hashlib.sha256()
                with open(path, "rb") as f:
                    for chunk in iter(lambda: f.read(1 << 20), b""):
                        digest.update(chunk)
                out[rel] = ("file", digest.hexdigest())
    return out
