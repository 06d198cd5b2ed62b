"""Every private huggingface_hub / hf_xet touchpoint of hftui, each with why and the version checked.

Each function degrades to "do nothing" (or the slower public path) when the private name moved, so
an upgrade of the library costs speed, never correctness.
"""

from __future__ import annotations

from typing import Any


def store_tree_listing(tree_folder: str, commit: str, entries: list[Any]) -> bool:
    """Store a tree listing where `snapshot_download` looks for it (`<folder>/trees/<commit>.json`).

    Why: hftui lists the tree itself to plan a job (sizes for the disk-space hold and progress
    totals) without the per-file HEADs of `dry_run=True`; stored here, the listing spares the
    download a second tree request and gives it the Xet metadata that replaces a HEAD per Xet
    file. `snapshot_download` writes this file itself only when it lists the tree on its own (not
    in a dry run), and there is no public writer.
    Private: `huggingface_hub._tree_cache.write_tree_cache` / `TreeCacheEntry` (checked: 2.4.0).
    Without it the download lists the tree again (one more request), nothing else changes.
    """
    try:
        from huggingface_hub._tree_cache import TreeCacheEntry, write_tree_cache
    except ImportError:
        return False
    listing = {
        e.path: TreeCacheEntry(
            size=int(e.size or 0),
            blob_id=e.blob_id,
            lfs_sha256=e.lfs.sha256 if e.lfs is not None else None,
            lfs_size=e.lfs.size if e.lfs is not None else None,
            xet_hash=getattr(e, "xet_hash", None),
        )
        for e in entries
    }
    write_tree_cache(tree_folder, commit, listing)
    return True
