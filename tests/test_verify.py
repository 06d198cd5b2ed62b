"""Offline verification against the cached tree listing, on caches downloaded from the local Hub."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from hubfixtures import MODEL
from test_cleanup_support import repos_by_key, revision_with

from hftui.core.cache.verify import VerifyCancelled, VerifyError, git_blob_sha1, verify_revision

M = ("model", MODEL)


def test_git_blob_sha1_matches_git(tmp_path: Path) -> None:
    f = tmp_path / "a.txt"
    f.write_bytes(b"hello\n")
    assert git_blob_sha1(f, 6) == "ce013625030ba8dba906f756967f9e9ca394464a"  # `git hash-object`


def test_complete_revision_verifies_with_progress(cache: Path) -> None:
    repo = repos_by_key(cache)[M]
    main = revision_with(repo, "main")
    seen: list[tuple[int, int]] = []
    result = verify_revision(repo.repo_path, main.commit_hash, progress=lambda d, t: seen.append((d, t)))
    assert result.ok and not result.missing and not result.extra
    assert len(result.checked) == main.nb_files
    assert seen[-1][0] == seen[-1][1] == sum(f.size_on_disk for f in main.files)
    listing = json.loads((repo.repo_path / "trees" / f"{main.commit_hash}.json").read_text())["files"]
    assert any("lfs_sha256" in v for v in listing.values())  # both hash kinds were exercised
    assert any("lfs_sha256" not in v for v in listing.values())


def test_mismatch_missing_and_extra_are_reported(cache: Path) -> None:
    repo = repos_by_key(cache)[M]
    main = revision_with(repo, "main")
    weights = next(f for f in main.files if f.file_name == "model.safetensors")
    data = bytearray(weights.blob_path.read_bytes())
    data[100] ^= 0xFF
    weights.blob_path.write_bytes(bytes(data))  # same size, other content: SHA-256 catches it
    tok = next(f for f in main.files if f.file_name == "tokenizer.json")
    tok.blob_path.write_bytes(tok.blob_path.read_bytes() + b"!")  # size differs
    (main.snapshot_path / "README.md").unlink()
    (main.snapshot_path / "notes.txt").write_text("mine")
    result = verify_revision(repo.repo_path, main.commit_hash)
    assert not result.ok
    assert {p for p, _ in result.mismatched} == {"model.safetensors", "tokenizer.json"}
    assert "sha256" in dict(result.mismatched)["model.safetensors"]
    assert result.missing == ["README.md"] and result.extra == ["notes.txt"]
    assert "2 mismatched" in result.summary()


def test_partial_revision_lists_missing_files(cache: Path) -> None:
    repo = repos_by_key(cache)[("dataset", "acme/tiny-corpus")]
    rev = next(iter(repo.revisions))
    result = verify_revision(repo.repo_path, rev.commit_hash)
    assert result.ok and len(result.missing) == 2


def test_cancel_and_no_listing(cache: Path) -> None:
    repo = repos_by_key(cache)[M]
    main = revision_with(repo, "main")
    stop = threading.Event()
    stop.set()
    with pytest.raises(VerifyCancelled):
        verify_revision(repo.repo_path, main.commit_hash, cancel=stop.is_set)
    (repo.repo_path / "trees" / f"{main.commit_hash}.json").unlink()
    with pytest.raises(VerifyError, match="no tree listing"):
        verify_revision(repo.repo_path, main.commit_hash)


@pytest.mark.parametrize(
    ("entry", "why"),
    [
        ('"a.bin": {"size": 1e400, "blob_id": "x"}', "malformed entry 'a.bin'"),  # int(inf) overflows
        ('"../../../../etc/hostname": {"size": 1, "blob_id": "x"}', "not a path inside the snapshot"),
        ('"/etc/hostname": {"size": 1, "blob_id": "x"}', "not a path inside the snapshot"),
    ],
)
def test_malformed_listing_is_a_verify_error(tmp_path: Path, entry: str, why: str) -> None:
    from cachebuilders import add_revision, repo_folder

    commit = add_revision(tmp_path, "org/m", {"a.bin": b"a"})
    repo = tmp_path / repo_folder("org/m")
    (repo / "trees" / f"{commit}.json").write_text('{"format_version": 1, "files": {' + entry + "}}")
    with pytest.raises(VerifyError, match=why):
        verify_revision(repo, commit)
