"""hf_xet's own cache (`HF_XET_CACHE`, default `HF_HOME/xet`): chunk cache, shard cache, staging, logs.

UI-free. hf_xet keeps, per Xet endpoint, a `chunk-cache` (downloaded chunks it may reuse), a
`shard-cache` (deduplication metadata) and `staging` (work files of transfers), plus `logs` at the
top. None of it is needed to use the files already in a hub cache: deleting a part only means
hf_xet fetches (or rebuilds) it again when it needs it. The names are hf_xet's defaults
(`HF_XET_SHARD_CACHE_SUBDIR`, `HF_XET_DATA_STAGING_SUBDIR`; checked against hf_xet 1.8.0); any
other folder is listed under its own name.
"""

from __future__ import annotations

import os

from hftui.core.cache.roots import RootEntry
from hftui.core.cache.tree import tree_size

KNOWN_PARTS = {
    "chunk-cache": ("Xet chunks kept for reuse", "fetched again by the next download that needs them"),
    "shard-cache": ("Xet deduplication shards", "fetched again by the next Xet transfer"),
    "staging": ("work files of Xet transfers", "nothing: written again by the next transfer"),
    "logs": ("hf_xet log files", "nothing: logs are not needed"),
}
IGNORED = frozenset({".gitignore", "CACHEDIR.TAG"})


def scan_xet_dir(root: str, *, device: int | None = None) -> tuple[list[RootEntry], list[str]]:
    """One entry per part: known parts of each endpoint folder, other folders and loose files whole."""
    entries: list[RootEntry] = []
    warnings: list[str] = []
    with os.scandir(root) as it:
        top = sorted(it, key=lambda e: e.name)
    for item in top:
        if item.name in IGNORED:
            continue
        if item.is_symlink():
            warnings.append(f"{item.path}: a symlink in the Xet cache; not followed")
            continue
        if item.is_dir(follow_symlinks=False) and item.name not in KNOWN_PARTS:
            try:
                with os.scandir(item.path) as it:
                    inner = sorted(it, key=lambda e: e.name)
            except OSError as exc:
                warnings.append(f"{item.path}: {exc.strerror or exc}")
                continue
            if any(e.name in KNOWN_PARTS for e in inner):
                # An endpoint folder: its parts one by one (the chunk cache is what grows).
                for part in inner:
                    entries.append(
                        _entry(root, part.path, f"{part.name} · {item.name}", part.name, device, warnings)
                    )
                continue
        entries.append(_entry(root, item.path, item.name, item.name, device, warnings))
    return entries, warnings


def _entry(root: str, path: str, name: str, part: str, device: int | None, warnings: list[str]) -> RootEntry:
    sized = tree_size(path, device=device)
    warnings.extend(sized.errors)
    detail, rebuild = KNOWN_PARTS.get(part, ("other hf_xet data", "fetched again by hf_xet if needed"))
    return RootEntry(
        root,
        path,
        name,
        f"xet-{part}" if part in KNOWN_PARTS else "xet-other",
        sized.size,
        sized.files,
        sized.last_used,
        detail=detail,
        rebuild=rebuild,
    )


__all__ = ["KNOWN_PARTS", "scan_xet_dir"]
