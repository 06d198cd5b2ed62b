"""Hand-made Hub cache layouts for tests, written the way huggingface_hub 2.4 writes them.

`add_revision` is the workhorse: it writes blobs, snapshot symlinks, refs and (optionally) a
`trees/<commit>.json` listing; `store=True` puts payloads in the cache-wide shared blob store
(`<cache>/blobs/<xx>/<hash>` + marker + `<hash>.refs` manifest) like a Xet download does.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat as stat_mod
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hftui.core.cache.scan import CacheReport

REPO_PREFIX = {"model": "models", "dataset": "datasets", "space": "spaces", "kernel": "kernels"}

FileSpec = bytes | int  # content, or a size for a sparse file


def repo_folder(repo_id: str, repo_type: str = "model") -> str:
    return f"{REPO_PREFIX[repo_type]}--{repo_id.replace('/', '--')}"


def commit_for(*parts: object) -> str:
    return hashlib.sha1(repr(parts).encode()).hexdigest()


def _etag(path: str, spec: FileSpec) -> str:
    if isinstance(spec, bytes):
        return hashlib.sha1(spec).hexdigest()
    return hashlib.sha256(f"{path}:{spec}".encode()).hexdigest()


def _write_payload(path: Path, spec: FileSpec) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(spec, bytes):
        path.write_bytes(spec)
    else:
        with open(path, "wb") as f:
            f.truncate(spec)


def mark_store(cache_dir: Path) -> Path:
    store = cache_dir / "blobs"
    store.mkdir(parents=True, exist_ok=True)
    (store / ".huggingface-shared-blobs").write_text("1\n")
    return store


def add_revision(
    cache_dir: Path,
    repo_id: str,
    files: Mapping[str, FileSpec],
    *,
    repo_type: str = "model",
    commit: str | None = None,
    refs: Iterable[str] = ("main",),
    symlinks: bool = True,
    tree: bool = True,
    tree_extra: Mapping[str, int] | None = None,
    store: bool = False,
) -> str:
    """Write one cached revision; returns its commit hash. `tree_extra` adds files to the
    `trees/<commit>.json` listing that are not downloaded (a partial snapshot)."""
    repo = cache_dir / repo_folder(repo_id, repo_type)
    commit = commit or commit_for(repo_id, repo_type, sorted(files.items()))
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True, exist_ok=True)
    listing: dict[str, dict[str, object]] = {}
    for rel, spec in files.items():
        size = len(spec) if isinstance(spec, bytes) else spec
        file_path = snapshot / rel
        file_path.parent.mkdir(parents=True, exist_ok=True)
        if store:
            xet_hash = hashlib.sha256(f"xet:{rel}:{spec!r}".encode()).hexdigest()
            etag = xet_hash
            listing[rel] = {"size": size, "blob_id": etag, "xet_hash": xet_hash}
        else:
            etag = _etag(rel, spec)
            listing[rel] = {"size": size, "blob_id": etag}
        if not symlinks:
            _write_payload(file_path, spec)
            continue
        blob = repo / "blobs" / etag
        if not blob.exists() and not blob.is_symlink():
            if store:
                store_dir = mark_store(cache_dir)
                payload = store_dir / xet_hash[:2] / xet_hash
                if not payload.exists():
                    _write_payload(payload, spec)
                blob.parent.mkdir(parents=True, exist_ok=True)
                os.symlink(os.path.relpath(payload, blob.parent), blob)
                with open(payload.with_name(xet_hash + ".refs"), "a") as f:
                    f.write(f"{repo.name}/blobs/{etag}\n")
            else:
                _write_payload(blob, spec)
        if not file_path.is_symlink():
            os.symlink(os.path.relpath(blob, file_path.parent), file_path)
    for name, size in (tree_extra or {}).items():
        listing[name] = {"size": size, "blob_id": _etag(name, size)}
    if tree:
        (repo / "trees").mkdir(parents=True, exist_ok=True)
        (repo / "trees" / f"{commit}.json").write_text(
            json.dumps({"format_version": 1, "files": dict(sorted(listing.items()))}, indent=1)
        )
    for ref in refs:
        ref_path = repo / "refs" / ref
        ref_path.parent.mkdir(parents=True, exist_ok=True)
        ref_path.write_text(commit)
    return commit


def add_incomplete(
    cache_dir: Path, repo_id: str, etag: str, size: int, *, repo_type: str = "model", suffix: str = ""
) -> Path:
    """A leftover temp file; `suffix` like `.1a2b3c4d` gives 2.4's process-unique name."""
    path = cache_dir / repo_folder(repo_id, repo_type) / "blobs" / f"{etag}{suffix}.incomplete"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        f.truncate(size)
    return path


def add_lock(cache_dir: Path, repo_id: str, etag: str, *, repo_type: str = "model") -> Path:
    path = cache_dir / ".locks" / repo_folder(repo_id, repo_type) / f"{etag}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()
    return path


def add_store_only_blob(cache_dir: Path, content: bytes, *, manifest_lines: Iterable[str] = ()) -> Path:
    """A payload in the shared store that no repo links to (manifest empty or stale)."""
    store = mark_store(cache_dir)
    xet_hash = hashlib.sha256(b"orphan:" + content).hexdigest()
    payload = store / xet_hash[:2] / xet_hash
    _write_payload(payload, content)
    payload.with_name(xet_hash + ".refs").write_text("".join(f"{line}\n" for line in manifest_lines))
    return payload


def build_mixed_cache(cache_dir: Path) -> dict[str, str]:
    """A small cache with most healthy layouts at once; returns named commits."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    commits = {}
    commits["gpt_v1"] = add_revision(
        cache_dir,
        "org/gpt",
        {"config.json": b'{"a": 1}', "model.bin": 5000, "sub/dir/tok.json": b"tok"},
        refs=(),
    )
    commits["gpt_v2"] = add_revision(
        cache_dir,
        "org/gpt",
        {"config.json": b'{"a": 2}', "model.bin": 5000, "sub/dir/tok.json": b"tok"},
        refs=("main", "refs/pr/1"),
    )
    commits["data"] = add_revision(
        cache_dir,
        "org/data",
        {"train.parquet": 120_000, "README.md": b"# data"},
        repo_type="dataset",
        tree_extra={"test.parquet": 7_000, "extra/val.parquet": 3_000},
    )
    commits["space"] = add_revision(
        cache_dir, "org/app", {"app.py": b"print()"}, repo_type="space", tree=False
    )
    commits["plain"] = add_revision(
        cache_dir, "solo", {"weights.bin": b"x" * 300}, symlinks=False, refs=("v1.0",)
    )
    commits["xet_a"] = add_revision(
        cache_dir, "org/xet-a", {"model.safetensors": 9_000, "c.json": b"c"}, store=True
    )
    commits["xet_b"] = add_revision(cache_dir, "org/xet-b", {"model.safetensors": 9_000}, store=True)
    empty = cache_dir / repo_folder("org/empty") / "snapshots" / commit_for("empty")
    empty.mkdir(parents=True)
    commits["empty"] = empty.name
    (cache_dir / "CACHEDIR.TAG").write_text("Signature: 8a477f597d28d172789f06886806bc55\n")
    (cache_dir / ".DS_Store").write_bytes(b"")
    add_store_only_blob(cache_dir, b"nobody wants me")
    return commits


def assert_same_as_library(cache_dir: Path, *, processes: int = 1) -> CacheReport:
    """Scan with both (ours first, so any atime our reads could bump is seen by both) and check that
    every repo, the totals, the incomplete files and the warnings (type and message) are equal."""
    from huggingface_hub import scan_cache_dir
    from huggingface_hub.errors import CorruptedCacheException

    from hftui.core.cache.scan import scan_cache

    report = scan_cache(cache_dir, processes=processes)
    ours = report.to_hf_cache_info()
    lib = scan_cache_dir(cache_dir)

    lib_by_path = {repo.repo_path: repo for repo in lib.repos}
    ours_by_path = {repo.repo_path: repo for repo in ours.repos}
    assert sorted(ours_by_path) == sorted(lib_by_path)
    for path, lib_repo in lib_by_path.items():
        assert ours_by_path[path] == lib_repo, path
    assert ours.repos == lib.repos
    assert ours.size_on_disk == lib.size_on_disk
    assert ours.incomplete_files == lib.incomplete_files
    assert ours.cache_dir == lib.cache_dir
    assert sorted((type(w), str(w)) for w in ours.warnings) == sorted((type(w), str(w)) for w in lib.warnings)
    assert all(type(w) is CorruptedCacheException for w in ours.warnings)
    # Records agree with what they convert to.
    for record in report.valid_repos:
        info = ours_by_path[Path(record.repo_path)]
        assert (record.size_on_disk, record.nb_files, len(record.revisions)) == (
            info.size_on_disk,
            info.nb_files,
            len(info.revisions),
        )
    return report


_STORE_PAYLOAD = __import__("re").compile(r"blobs/([0-9a-f]{2})/\1[0-9a-f]{62}")


def _is_payload(rel: str) -> bool:
    parts = rel.split("/")
    if _STORE_PAYLOAD.fullmatch(rel):
        return True
    return len(parts) >= 3 and "--" in parts[0] and parts[1] in ("blobs", "snapshots")


def payload_bytes(cache_dir: Path) -> int:
    """`du`-style payload bytes: st_size summed over unique inodes of payload files (blobs, files
    stored in snapshots, store payloads) whose every link is inside the cache (links counted by
    walking the cache without following symlinks, against st_nlink)."""
    root = os.path.abspath(cache_dir)
    found: dict[tuple[int, int], tuple[int, int, int, bool]] = {}
    for top, dirs, files in os.walk(root):
        for name in files + [d for d in dirs if os.path.islink(os.path.join(top, d))]:
            path = os.path.join(top, name)
            st = os.lstat(path)
            if not stat_mod.S_ISREG(st.st_mode):
                continue
            key = (st.st_dev, st.st_ino)
            size, nlink, seen, payload = found.get(key, (st.st_size, st.st_nlink, 0, False))
            found[key] = (size, nlink, seen + 1, payload or _is_payload(os.path.relpath(path, root)))
    return sum(size for size, nlink, seen, payload in found.values() if payload and seen == nlink)


def share_with_library(cache_dir: Path, repo_dirs: Iterable[str] | None = None) -> list[Path]:
    """Move the regular blobs of these repo folders (all by default) into the shared blob store
    with the library's own publishing code, as a Xet download does: the first copy of each
    content is published, later ones are linked to it. The Xet hash stand-in is the content's
    SHA-256. Returns the store payloads."""
    from huggingface_hub.utils import _shared_blobs

    names = (
        sorted(repo_dirs)
        if repo_dirs is not None
        else sorted(p.name for p in cache_dir.iterdir() if "--" in p.name)
    )
    payloads: set[Path] = set()
    for name in names:
        blobs = cache_dir / name / "blobs"
        for blob in sorted(blobs.iterdir()) if blobs.is_dir() else []:
            if blob.is_symlink() or not blob.is_file() or blob.name.endswith(".incomplete"):
                continue
            data = blob.read_bytes()
            xet_hash = hashlib.sha256(data).hexdigest()
            linked = _shared_blobs.try_link_from_shared_store(
                blob_path=str(blob), xet_hash=xet_hash, cache_dir=cache_dir, expected_size=len(data)
            )
            if not linked:
                assert _shared_blobs.publish_blob_to_shared_store(
                    blob_path=str(blob), xet_hash=xet_hash, cache_dir=cache_dir, expected_size=len(data)
                ), blob
            payloads.add(_shared_blobs.shared_blob_path(cache_dir, xet_hash))
    return sorted(payloads)
