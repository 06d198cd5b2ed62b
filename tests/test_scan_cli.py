"""`hftui scan`: table, JSON schema, filters, errors, and an unreadable repo as an unprivileged user."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from cachebuilders import add_incomplete, add_lock, build_mixed_cache, repo_folder
from privileges import skip_unless_nobody_can_run_python

from hftui.cli import main

REPO_KEYS = {
    "repo_id",
    "repo_type",
    "repo_path",
    "size_on_disk",
    "nb_files",
    "last_accessed",
    "last_modified",
    "revisions",
}
REVISION_KEYS = {
    "commit_hash",
    "refs",
    "size_on_disk",
    "nb_files",
    "last_modified",
    "snapshot_path",
    "complete",
    "missing_files",
}
TOP_KEYS = {
    "cache_dir",
    "size_on_disk",
    "repos",
    "incomplete_files",
    "stale_locks",
    "unreferenced_shared_blobs",
    "warnings",
}


def _json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict:  # type: ignore[type-arg]
    assert main(["scan", "--json", *argv]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    cache = tmp_path / "hub"
    build_mixed_cache(cache)
    add_incomplete(cache, "org/gpt", "a" * 40, 321)
    add_lock(cache, "org/gpt", "a" * 40)
    (cache / "not-a-repo").mkdir()
    return cache


def test_json_schema_and_values(cache: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from huggingface_hub import scan_cache_dir

    data = _json(capsys, "--cache-dir", str(cache))
    lib = scan_cache_dir(cache)
    assert set(data) >= TOP_KEYS
    assert data["cache_dir"] == str(cache.resolve())
    assert data["size_on_disk"] == lib.size_on_disk
    assert len(data["repos"]) == len(lib.repos)
    by_id = {(repo["repo_type"], repo["repo_id"]): repo for repo in data["repos"]}
    for info in lib.repos:
        repo = by_id[(info.repo_type, info.repo_id)]
        assert set(repo) >= REPO_KEYS
        assert (repo["size_on_disk"], repo["nb_files"], repo["last_accessed"], repo["last_modified"]) == (
            info.size_on_disk,
            info.nb_files,
            info.last_accessed,
            info.last_modified,
        )
        assert repo["repo_path"] == str(info.repo_path)
        revisions = {rev["commit_hash"]: rev for rev in repo["revisions"]}
        for rev_info in info.revisions:
            rev = revisions[rev_info.commit_hash]
            assert set(rev) >= REVISION_KEYS
            assert rev["refs"] == sorted(rev_info.refs)
            assert (rev["size_on_disk"], rev["nb_files"], rev["last_modified"]) == (
                rev_info.size_on_disk,
                rev_info.nb_files,
                rev_info.last_modified,
            )
            assert rev["snapshot_path"] == str(rev_info.snapshot_path)
    data_repo = by_id[("dataset", "org/data")]
    assert data_repo["revisions"][0]["complete"] is False
    assert data_repo["revisions"][0]["missing_files"] == ["extra/val.parquet", "test.parquet"]
    assert by_id[("space", "org/app")]["revisions"][0]["complete"] is None
    assert [item["size_on_disk"] for item in data["incomplete_files"]] == [321]
    assert [Path(lock["path"]).name for lock in data["stale_locks"]] == ["a" * 40 + ".lock"]
    assert [blob["size_on_disk"] for blob in data["unreferenced_shared_blobs"]] == [len(b"nobody wants me")]
    assert [w["message"] for w in data["warnings"]] == [str(w) for w in lib.warnings]
    # Sorted by size, biggest first, by default.
    sizes = [repo["size_on_disk"] for repo in data["repos"]]
    assert sizes == sorted(sizes, reverse=True)


def test_filters_and_sort(cache: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def ids(*argv: str) -> list[str]:
        return [repo["cache_id"] for repo in _json(capsys, "--cache-dir", str(cache), *argv)["repos"]]

    assert ids("-f", "type=dataset") == ["dataset/org/data"]
    assert ids("-f", "type=model", "-f", "size>5kb", "--sort", "name") == [
        "model/org/gpt",
        "model/org/xet-a",
        "model/org/xet-b",
    ]
    assert ids("-f", "refs=v1.0") == ["model/solo"]
    assert ids("-f", "name=ORG/XET-*", "--sort", "name:desc") == ["model/org/xet-b", "model/org/xet-a"]
    assert ids("-f", "accessed>1d") == []
    # xet-a weighs exactly 9001 bytes; ties in file count go by name.
    assert ids("--sort", "files", "-f", "size<9001", "-f", "size>=7") == [
        "model/org/gpt",
        "model/org/xet-b",
        "model/solo",
        "space/org/app",
    ]


def test_table_output(cache: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--cache-dir", str(cache), "scan", "--revisions"]) == 0
    captured = capsys.readouterr()
    out = captured.out
    header = out.splitlines()[0].split()
    assert header == ["ID", "REVISION", "SIZE", "FILES", "LAST_MODIFIED", "REFS", "STATUS"]
    assert "partial: 2 missing (10.0 kB)" in out
    assert "(detached)" in out
    assert "not-a-repo" in out and "corrupt" in out
    assert "in 7 repos, 1 other entry, 8 revisions. 1 incomplete file (321 B). 1 stale lock." in out
    assert "1 warning." in out
    # The warning itself goes to stderr: a script reading the table gets rows only.
    assert "warning: Repo path" not in out
    assert "hftui: warning: Repo path is not a valid HuggingFace cache directory" in captured.err


@pytest.mark.parametrize("kind", ["missing", "file"])
def test_bad_cache_dir_is_a_one_line_usage_error(tmp_path: Path, kind: str) -> None:
    target = tmp_path / "target"
    if kind == "file":
        target.write_text("x")
    proc = subprocess.run(
        [sys.executable, "-m", "hftui", "scan", "--json", "--cache-dir", str(target)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.startswith("hftui: error: ") and proc.stderr.count("\n") == 1
    assert "Traceback" not in proc.stderr


def test_bad_filter_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scan", "--cache-dir", str(tmp_path), "-f", "size>1.5XB"]) == 2
    assert (
        capsys.readouterr().err
        == "hftui: error: unknown unit 'XB' in 'size>1.5XB': size units are k, kb, m, mb, g, gb, t, tb, p, pb\n"
    )
    assert main(["scan", "--cache-dir", str(tmp_path), "--sort", "colour"]) == 2


def test_missing_default_cache_is_an_empty_result_with_a_hint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "never-created"))
    data = _json(capsys)
    assert data["repos"] == [] and data["size_on_disk"] == 0 and data["exists"] is False
    assert main(["scan"]) == 0
    captured = capsys.readouterr()
    assert "no cache at" in captured.err and "0 repos" in captured.out


def test_unreadable_repo_as_unprivileged_user(tmp_path: Path) -> None:
    skip_unless_nobody_can_run_python()
    # pytest's own temp dirs are private to root: build where `nobody` can walk.
    base = Path(tempfile.mkdtemp(prefix="hftui-scan-nobody-"))
    base.chmod(0o755)
    try:
        _scan_as_nobody(base)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _scan_as_nobody(base: Path) -> None:
    cache = base / "hub"
    build_mixed_cache(cache)
    for path in [cache, *cache.rglob("*")]:
        if not path.is_symlink():
            path.chmod(0o755 if path.is_dir() else 0o644)
    locked = cache / repo_folder("org/gpt")
    locked.chmod(0o000)
    try:
        proc = subprocess.run(
            [
                "setpriv",
                "--reuid=nobody",
                "--regid=nogroup",
                "--clear-groups",
                sys.executable,
                "-m",
                "hftui",
                "scan",
                "--json",
                "--cache-dir",
                str(cache),
            ],
            capture_output=True,
            text=True,
            env={**os.environ, "HOME": str(base)},
        )
    finally:
        locked.chmod(0o755)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert [w["path"] for w in data["warnings"]] == [str(locked.resolve() / "snapshots")]
    assert data["warnings"][0]["kind"] == "error" and "Permission denied" in data["warnings"][0]["message"]
    assert sorted(repo["repo_id"] for repo in data["repos"]) == [
        "org/app",
        "org/data",
        "org/empty",
        "org/xet-a",
        "org/xet-b",
        "solo",
    ]


def test_unreachable_default_cache_is_a_one_line_usage_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # As a user who cannot search HF_HOME (e.g. another user's home): Path.is_dir() raises.
    def unreachable(explicit: object) -> None:
        raise PermissionError(13, "Permission denied", "/home/other/.cache/huggingface/hub")

    monkeypatch.setattr("hftui.core.cache.paths.resolve_cache_dir", unreachable)
    assert main(["scan", "--json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        "hftui: error: cannot read cache directory /home/other/.cache/huggingface/hub: Permission denied\n"
    )


def test_table_columns_line_up_with_wide_characters(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from cachebuilders import add_revision

    add_revision(tmp_path, "orgé/模型-ü", {"a.bin": b"uni"})
    add_revision(tmp_path, "org/plain-name", {"a.bin": b"abc"})
    assert main(["scan", "--cache-dir", str(tmp_path), "--sort", "name"]) == 0
    lines = capsys.readouterr().out.splitlines()
    plain, wide = lines[2], lines[3]
    assert "模型" in wide and "plain-name" in plain
    # "3 B" ends in the same terminal column on both rows (a CJK character takes two)
    assert wide.index("3 B") + 2 == plain.index("3 B")
