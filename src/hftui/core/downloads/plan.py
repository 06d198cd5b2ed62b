"""What a job will fetch, from one revision lookup and one tree listing (no request per file).

`hf download` (one `snapshot_download` call) asks the Hub for the revision, lists the tree once,
then sends a HEAD per file that is not served over Xet, and the transfers. hftui needs to know
*before* the transfer how many files and bytes will move (disk-space hold, progress totals), and
the library's `dry_run=True` sends a HEAD per file for that - and the download that follows sends
them again: two HEADs per file instead of one (on a 3 s-latency link, 22 s against 10 s for one
small file). The tree listing already carries every size, blob id, LFS SHA-256 and Xet hash, so
the plan is computed from it:

1. `HfApi.resolve_revision` (public): the commit, with `refs/<revision>` written to the cache, as
   `snapshot_download` does;
2. `HfApi.list_repo_tree(recursive=True)` at that commit: the same request `snapshot_download`
   sends; the listing is stored where the library looks for it (`trees/<commit>.json`), so the
   download skips both requests and takes Xet metadata from it (no HEAD for Xet files);
3. which files are already there: the Browse pane's preview rules (`hftui.core.hub.patterns`),
   which a test keeps equal to `snapshot_download(dry_run=True)`.

`snapshot_download(revision=<that ResolvedRevision>)` still decides what is downloaded and how
the cache is laid out; this only predicts it for the totals.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hftui.core.downloads.models import DownloadRequest


@dataclass(frozen=True)
class PlannedFile:
    """One file of the selection (the fields of `DryRunFileInfo` the job uses)."""

    filename: str
    file_size: int
    will_download: bool
    local_path: str
    """Where the finished file appears: the snapshot link in the cache, or the file in a local dir."""
    xet_hash: str | None = None
    """From the tree listing: with hf_xet enabled (the default) this file travels over Xet."""
    blob_id: str | None = None
    """Git blob SHA-1 from the tree listing (of the pointer, for an LFS file)."""
    lfs_sha256: str | None = None
    """SHA-256 of an LFS file's content: its blob's name in the cache, and what kept bytes are
    checked against (`hftui.core.downloads.resume`)."""


@dataclass(frozen=True)
class JobPlan:
    revision: Any
    """A `huggingface_hub.ResolvedRevision` (a str): pass it to `snapshot_download`."""
    commit: str
    files: list[PlannedFile]

    @property
    def to_fetch(self) -> list[PlannedFile]:
        return [f for f in self.files if f.will_download]


def make_plan(
    request: DownloadRequest,
    *,
    cache_dir: str | None,
    endpoint: str | None,
    token: str | bool | None,
    headers: dict[str, str],
) -> JobPlan:
    """Resolve, list and compare with the disk. Raises the library's errors (classified by the job)."""
    from huggingface_hub import HfApi, constants
    from huggingface_hub.hf_api import RepoFile

    from hftui.core import compat
    from hftui.core.hub.browse_local import local_index
    from hftui.core.hub.patterns import Selection, match
    from hftui.core.hub.patterns import _local_dir_present as local_dir_present
    from hftui.core.hub.remote import RemoteFile

    api = HfApi(endpoint=endpoint, token=token, headers=headers)
    cache = cache_dir or constants.HF_HUB_CACHE
    revision = api.resolve_revision(
        request.repo_id, repo_type=request.repo_type, revision=request.revision or "main", cache_dir=cache
    )
    commit = revision.resolved
    entries = [
        entry
        for entry in api.list_repo_tree(
            request.repo_id, repo_type=request.repo_type, revision=commit, recursive=True
        )
        if isinstance(entry, RepoFile)
    ]
    storage = Path(cache) / "--".join([f"{request.repo_type}s", *request.repo_id.split("/")])
    tree_folder = (
        os.path.join(request.local_dir, ".cache", "huggingface") if request.local_dir else str(storage)
    )
    compat.store_tree_listing(tree_folder, commit, entries)

    files = [
        RemoteFile(e.path, int(e.size or 0), e.blob_id, e.lfs.sha256 if e.lfs is not None else None)
        for e in entries
    ]
    xet_hashes = {e.path: e.xet_hash for e in entries if getattr(e, "xet_hash", None)}
    matched = match(files, Selection(request.allow_patterns, request.ignore_patterns))
    local = local_index(cache, request.repo_id, request.repo_type, commit, files)
    force = request.force_download
    planned = []
    for f in matched:
        if request.local_dir:
            local_path = os.path.join(request.local_dir, *f.path.split("/"))
            # Kept when huggingface_hub's local-dir rules keep it, or copied from the cache.
            fetch = force or not (
                local_dir_present(Path(request.local_dir), f, commit) or local.state(f.path) == "cached"
            )
        else:
            local_path = os.path.join(storage, "snapshots", commit, *f.path.split("/"))
            fetch = local.will_download(f.path, force=force)
        planned.append(
            PlannedFile(f.path, f.size, fetch, local_path, xet_hashes.get(f.path), f.blob_id, f.lfs_sha256)
        )
    return JobPlan(revision, commit, planned)
