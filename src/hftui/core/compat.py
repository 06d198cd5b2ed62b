"""Every place hftui leans on something huggingface_hub or httpcore does not promise, in one module.

Each touchpoint says why there is no public way and the version it was checked against. When a
dependency is upgraded, read this file and run `tests/test_compat.py`: it fails loudly if one of
these assumptions no longer holds, instead of the app failing quietly later.

Checked against: huggingface_hub 2.4.0, httpx2/httpcore2 2.16.2, tqdm 4.70.1.

Nothing here imports huggingface_hub at module level: `import hftui.cli` must stay free of it
(the library reads HF_ENDPOINT at import time, and the demo sets it after starting its server).
(Textual's private touchpoints live in `hftui.tui.compat`: the core never imports Textual.)
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

CHECKED_AGAINST = {"huggingface_hub": "2.4.0", "httpx2": "2.16.2", "httpcore2": "2.16.2", "tqdm": "4.70.1"}

# -- 1. The Xet shared blob store (huggingface_hub.utils._shared_blobs) ---------------------------
#
# huggingface_hub 2.4 keeps Xet payloads once per cache in `<cache>/blobs/<xx>/<hash>` and links
# repo blobs to them. Deleting safely means doing what `DeleteCacheStrategy.execute()` does to that
# store (sweep a payload once its last reference is gone); the library exposes those steps only in
# the private module `huggingface_hub.utils._shared_blobs`. The scanner reads the store itself
# (faster, no library import in its worker processes) and needs the store's on-disk names.

SHARED_BLOBS_DIR_NAME = "blobs"
SHARED_BLOBS_MARKER_NAME = ".huggingface-shared-blobs"
SHARED_BLOBS_MARKER_CONTENT = "1\n"
"""`_shared_blobs.SHARED_BLOBS_DIR_NAME`, `_MARKER_NAME`, `_MARKER_CONTENT` (tests keep them equal)."""


def _shared_blobs() -> Any:
    from huggingface_hub.utils import _shared_blobs

    return _shared_blobs


def shared_store_in_use(cache_dir: str | Path) -> bool:
    """Whether `cache_dir` has a shared blob store the library owns (its marker file is there)."""
    sb = _shared_blobs()
    return bool(sb.is_shared_blobs_dir(sb.shared_blobs_dir(cache_dir)))


def shared_blob_target(blob_path: str | Path, cache_dir: str | Path) -> Path | None:
    """The store payload a repo blob links to, or None if it is not a valid link into the store."""
    target = _shared_blobs().shared_blob_target(blob_path, cache_dir)
    return None if target is None else Path(target)


def sweep_shared_blob(store_path: Path, *, cache_dir: str | Path) -> int:
    """Delete one store payload if no valid reference to it is left; returns the bytes freed."""
    return int(_shared_blobs().sweep_shared_blob(store_path, cache_dir=cache_dir))


def expected_shared_blob_freed_size(
    store_path: Path, *, blob_paths_to_delete: set[Path], cache_dir: str | Path
) -> int:
    """The payload's size if every valid manifest reference is among `blob_paths_to_delete` (so the
    sweep after the deletion frees it), else 0. The library's own rule, asked once for a whole
    combined plan (hftui.core.cache.cleanup: each library strategy asks it alone)."""
    return int(
        _shared_blobs().expected_shared_blob_freed_size(
            store_path, blob_paths_to_delete=blob_paths_to_delete, cache_dir=cache_dir
        )
    )


def unreferenced_shared_blobs(cache_dir: str | Path) -> dict[Path, int]:
    """The library's own view of store payloads with no valid reference, with their sizes."""
    return dict(_shared_blobs().unreferenced_shared_blobs(cache_dir))


# -- 2. The download chunk size (huggingface_hub.constants.DOWNLOAD_CHUNK_SIZE) --------------------
#
# The library reads HTTP bodies in 10 MiB chunks and offers no parameter for it; the download
# process lowers it so it can answer the app between chunks (measured in core/downloads/process.py).
# A module constant the library reads at call time: overwriting it is the only way, and it is done
# only inside the download process, never in the app's own interpreter.


def set_download_chunk_size(size: int) -> None:
    from huggingface_hub import constants

    constants.DOWNLOAD_CHUNK_SIZE = size


# -- 3. Size and duration units (huggingface_hub.utils._parsing) ----------------------------------
#
# Filters accept `size>500MB` and `accessed>30d` with the units `hf cache` accepts. The tables live
# in a private module, and filters are parsed without importing huggingface_hub (slow to import, and
# it reads HF_ENDPOINT at import time), so they are copied here; a test keeps them equal.

BYTE_UNITS = {
    "k": 1_000,
    "kb": 1_000,
    "m": 1_000_000,
    "mb": 1_000_000,
    "g": 1_000_000_000,
    "gb": 1_000_000_000,
    "t": 1_000_000_000_000,
    "tb": 1_000_000_000_000,
    "p": 1_000_000_000_000_000,
    "pb": 1_000_000_000_000_000,
}
TIME_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "mo": 30 * 86400, "y": 365 * 86400}


# -- 4. snapshot_download's progress bars, told apart by their description --------------------------
#
# `snapshot_download(tqdm_class=...)` builds three bars from one class: files (unit "it"), the Xet
# "Downloading bytes" network transfer, and the bytes written to disk. Nothing but the `desc` keyword
# tells the transfer bar from the written-bytes bar (`_snapshot_download.py`, `_xet_progress_reporting`).

TRANSFER_BAR_DESC = "Downloading bytes"


def is_transfer_bar(desc: str) -> bool:
    """The network-transfer bar (counted more finely by our transport, so the job ignores it)."""
    return desc.startswith(TRANSFER_BAR_DESC)


# -- 5. The socket under an httpx response (httpcore's "network_stream" extension) ----------------
#
# To stop a stalled download at once, the transport shuts the socket down from another thread.
# httpcore documents the `network_stream` response extension (HTTP/1.1) and its
# `get_extra_info("socket")`; httpx re-exports neither, so it is read from `response.extensions`.


def socket_of(response: Any) -> socket.socket | None:
    stream = response.extensions.get("network_stream")
    get_extra_info = getattr(stream, "get_extra_info", None)
    sock = get_extra_info("socket") if callable(get_extra_info) else None
    return sock if isinstance(sock, socket.socket) else None


# -- 6. local_dir download metadata (huggingface_hub._local_folder) --------------------------------
#
# A preview for `--local-dir` must know which files `snapshot_download` will keep. The library's
# reader (`_local_folder.read_download_metadata`) creates folders and lock files, so the preview
# reads the same file itself: `<local_dir>/.cache/huggingface/download/<path>.metadata`, three
# lines (commit, etag, timestamp), ignored when the file changed after the timestamp.


def local_dir_metadata_path(local_dir: Path, path: str) -> Path:
    return local_dir / ".cache" / "huggingface" / "download" / f"{path}.metadata"


def read_local_dir_metadata(local_dir: Path, path: str, mtime: float) -> tuple[str, str] | None:
    """(commit, etag) recorded for `path` in `local_dir`, or None if absent or stale (read-only)."""
    try:
        commit, etag, timestamp = local_dir_metadata_path(local_dir, path).read_text().splitlines()[:3]
        if mtime - 1 <= float(timestamp):
            return commit.strip(), etag.strip()
    except (OSError, ValueError):
        pass
    return None


def local_dir_download_dir(local_dir: Path) -> Path:
    """`<local_dir>/.cache/huggingface/download`: where every `<path>.metadata` of a local dir lives."""
    return local_dir / ".cache" / "huggingface" / "download"


def parse_local_dir_metadata(text: str) -> tuple[str, str, float] | None:
    """(commit, etag, timestamp) from a `.metadata` file's text; None when it is not in that form
    (the library deletes such a file on its next read; a scan only reports it)."""
    lines = text.splitlines()
    if len(lines) < 3:
        return None
    try:
        return lines[0].strip(), lines[1].strip(), float(lines[2].strip())
    except ValueError:
        return None


# -- 6b. The `datasets` cache location (datasets.config) ---------------------------------------------
#
# `datasets` is optional for hftui and slow to import (pyarrow, pandas), and its cache folder is
# only exposed as `datasets.config.HF_DATASETS_CACHE`, computed at import time. This repeats that
# rule (checked against datasets 5.2.0): HF_DATASETS_CACHE, else HF_HOME/datasets, else
# $XDG_CACHE_HOME/huggingface/datasets (~/.cache/huggingface/datasets). tests/test_roots.py checks
# it against the installed library. Its layout (the same in datasets 2.13.2 and 5.2.0):
# `<cache>/<builder or namespace___name>/<config id>/<version>/<fingerprint>/` holding
# `dataset_info.json` and `*.arrow`; `downloads/` (with `extracted/`) for fetched source files.

DATASETS_CHECKED_AGAINST = "5.2.0"
DATASETS_DOWNLOADS_DIR = "downloads"
"""`datasets.config.DOWNLOADED_DATASETS_DIR`."""
DATASETS_NAMESPACE_SEPARATOR = "___"
"""`ArrowBasedBuilder._relative_data_dir`'s `f"{namespace}___{dataset_name}"`."""


def datasets_cache_dir() -> str:
    import os

    explicit = os.environ.get("HF_DATASETS_CACHE")
    if explicit:
        return os.path.expanduser(explicit)
    home = os.environ.get("HF_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "huggingface"
    )
    return os.path.join(os.path.expanduser(home), "datasets")


# -- 7. The tree listing cache (huggingface_hub._tree_cache) ----------------------------------------
#
# hftui lists the tree itself to plan a job (sizes for the disk-space hold and progress totals)
# without the per-file HEADs of `dry_run=True` (core/downloads/plan.py). Stored where
# `snapshot_download` looks for it (`<folder>/trees/<commit>.json`), the listing spares the download
# a second tree request and gives it the Xet metadata that replaces a HEAD per Xet file. The library
# writes this file itself only when it lists the tree on its own (not in a dry run); there is no
# public writer. Without it the download lists the tree again (one more request), nothing else.


def store_tree_listing(tree_folder: str, commit: str, entries: list[Any]) -> bool:
    """Store `entries` (`RepoFile`s of `list_repo_tree`) as the cached listing of `commit`."""
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


__all__ = [
    "BYTE_UNITS",
    "CHECKED_AGAINST",
    "DATASETS_CHECKED_AGAINST",
    "DATASETS_DOWNLOADS_DIR",
    "DATASETS_NAMESPACE_SEPARATOR",
    "SHARED_BLOBS_DIR_NAME",
    "SHARED_BLOBS_MARKER_CONTENT",
    "SHARED_BLOBS_MARKER_NAME",
    "TIME_UNITS",
    "TRANSFER_BAR_DESC",
    "datasets_cache_dir",
    "is_transfer_bar",
    "local_dir_download_dir",
    "local_dir_metadata_path",
    "parse_local_dir_metadata",
    "read_local_dir_metadata",
    "set_download_chunk_size",
    "shared_blob_target",
    "shared_store_in_use",
    "socket_of",
    "stop_multiprocessing_helpers",
    "store_tree_listing",
    "sweep_shared_blob",
    "unreferenced_shared_blobs",
]


# -- 8. multiprocessing's helper processes (forkserver, resource tracker) ---------------------------
#
# A scan spread over worker processes inside a running TUI starts them through multiprocessing's
# fork server, which also starts its resource tracker: two helper processes (~30 MiB) that live
# until the interpreter exits, long after the scan. The standard library stops them only at exit;
# both have a `_stop()` (its own tests use it), which does exactly what exit does. Checked against
# CPython 3.11-3.13.


def stop_multiprocessing_helpers() -> None:
    """Stop the fork server and the resource tracker if they run (the next pool starts them again).

    Call it only once no pool and no named semaphore of this process is alive: a semaphore's
    finalizer would start the tracker again to unregister itself."""
    from multiprocessing import forkserver, resource_tracker

    for helper in (
        getattr(forkserver, "_forkserver", None),
        getattr(resource_tracker, "_resource_tracker", None),
    ):
        stop = getattr(helper, "_stop", None)
        if stop is None:
            continue
        try:
            stop()
        except (OSError, ChildProcessError, RuntimeError):
            pass  # already gone
