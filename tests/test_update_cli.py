"""`hftui update` as a user runs it: a subprocess against the local Hub, a cache built by real downloads."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from updatefixtures import GATED, MOVING, OLDNAME, download, moving_hub, regular_bytes  # noqa: F401

from hftui.hub import HubServer

FOLDER = "models--acme--moving-gguf"


def run_update(hub: HubServer, cache: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hftui", "--cache-dir", str(cache), "update", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "HF_ENDPOINT": hub.endpoint, "HF_TOKEN": "", **env},
    )


def events(result: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


def snapshot_files(cache: Path, commit: str, folder: str = FOLDER) -> dict[str, str]:
    root = cache / folder / "snapshots" / commit
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in root.rglob("*")
        if path.is_file()
    }


@pytest.mark.parametrize("xet", ["on", "off"])
def test_update_keeps_the_selection_and_pruning_frees_what_was_offered(
    moving: HubServer, tmp_path: Path, xet: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Downloads go over Xet when the server offers it (the default), over HTTP with it disabled.
    if xet == "off":
        monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
    hub = moving
    cache = tmp_path / "hub"
    download(cache, hub, MOVING, allow_patterns=["*Q4_K_M.gguf", "config.json", "README.md"])
    old = hub.commit(MOVING)
    new = hub.push(
        MOVING,
        "main",
        files={
            "config.json": '{"v": 2}',
            "model-Q4_K_M.gguf": {"size": 220_000, "seed": "requant"},
            "model-Q5_K_M.gguf": {"size": 250_000},
        },
    )

    listed = run_update(hub, cache, "--json")
    assert listed.returncode == 0, listed.stderr
    (check,) = [e for e in events(listed) if e["event"] == "check"]
    assert check["state"] == "update available"
    remote = hub.files(MOVING)
    assert check["bytes_to_fetch"] == remote["config.json"].size + remote["model-Q4_K_M.gguf"].size
    assert (cache / FOLDER / "refs" / "main").read_text() == old  # listing only: nothing changed

    hub.clear_requests()
    xorbs_before = hub.bytes_sent("/xorbs/*", server="cas")
    updated = run_update(hub, cache, "--all", "--json")
    assert updated.returncode == 0, updated.stderr
    assert (hub.bytes_sent("/xorbs/*", server="cas") > xorbs_before) == (
        xet == "on"
    )  # Xet really used, or not
    got = events(updated)
    assert [e for e in got if e["event"] == "updated"] == [
        {
            "event": "updated",
            "repo_type": "model",
            "repo_id": MOVING,
            "ref": "main",
            "old_commit": old,
            "new_commit": new,
        }
    ]
    # Same selection at the new commit: the same quantization, not the new one nor the whole repo.
    files = snapshot_files(cache, new)
    assert files == {
        path: hub.file_sha256(MOVING, path) for path in ("README.md", "config.json", "model-Q4_K_M.gguf")
    }
    (offer,) = [e for e in got if e["event"] == "superseded"]
    assert [e["old_commit"] for e in offer["prunable"]] == [old]
    assert offer["kept"] == []
    freed = offer["freed_bytes"]
    # The old config and the old Q4 go; README.md is shared with the new revision and stays.
    assert freed == len('{"v": 1}') + 200_000
    assert (cache / FOLDER / "snapshots" / old).is_dir()  # offered only: not a terminal, no --prune-old

    before, before_payloads = regular_bytes(cache), regular_bytes(cache, payloads_only=True)
    pruned = run_update(hub, cache, "--prune-old", "--json")
    assert pruned.returncode == 0, pruned.stderr
    (done,) = [e for e in events(pruned) if e["event"] == "pruned"]
    assert done["expected_freed_bytes"] == freed and done["freed_bytes"] == freed and done["problems"] == []
    # Bytes that really left the disk: the payloads exactly (with Xet, the store's manifest of a swept
    # payload goes too, a few bytes more than promised).
    assert before_payloads - regular_bytes(cache, payloads_only=True) == freed
    assert before - regular_bytes(cache) >= freed
    assert not (cache / FOLDER / "snapshots" / old).exists()
    assert snapshot_files(cache, new) == files  # the shared README blob is still there
    # Nothing left to offer: the ledger forgot the pruned revision.
    again = run_update(hub, cache, "--prune-old", "--json")
    assert [e for e in events(again) if e["event"] in ("superseded", "pruned")] == []


def test_prune_old_at_once_plain_output(moving: HubServer, tmp_path: Path) -> None:
    hub = moving
    cache = tmp_path / "hub"
    download(cache, hub, MOVING, allow_patterns=["config.json"])
    old = hub.commit(MOVING)
    hub.push(MOVING, "main", files={"config.json": '{"v": 9}'})
    result = run_update(hub, cache, MOVING, "--prune-old")
    assert result.returncode == 0, result.stderr
    assert "update available" in result.stdout and "1 changed" in result.stdout
    assert f"updated   {MOVING}@main {old[:8]}" in result.stdout
    assert "frees 8 B (8 bytes" in result.stdout and "pruned    Freed 8 B." in result.stdout
    assert not (cache / FOLDER / "snapshots" / old).exists()


def test_local_changes_are_never_pruned(moving: HubServer, tmp_path: Path) -> None:
    hub = moving
    cache = tmp_path / "hub"
    snapshot = Path(download(cache, hub, MOVING, allow_patterns=["config.json", "README.md"]))
    old = hub.commit(MOVING)
    (snapshot / "config.json").unlink()
    (snapshot / "config.json").write_text('{"edited": "by hand"}')
    new = hub.push(MOVING, "main", files={"README.md": "# new\n", "config.json": '{"v": 5}'})
    result = run_update(hub, cache, "--all", "--prune-old", "--json")
    assert result.returncode == 0, result.stderr
    got = events(result)
    (offer,) = [e for e in got if e["event"] == "superseded"]
    assert offer["prunable"] == [] and "changed or added by hand" in offer["kept"][0]["reason"]
    assert not [e for e in got if e["event"] == "pruned"]
    assert (snapshot / "config.json").read_text() == '{"edited": "by hand"}'
    # The user's file is not part of the selection: only README.md was fetched at the new commit.
    assert set(snapshot_files(cache, new)) == {"README.md"}
    assert old != new


def test_gated_update_without_access_fails_clearly_and_loses_nothing(
    moving: HubServer, tmp_path: Path
) -> None:
    hub = moving
    cache = tmp_path / "hub"
    download(cache, hub, GATED, token=hub.token)
    folder = "models--acme--gated-moving"
    old = hub.commit(GATED)
    hub.push(GATED, "main", files={"config.json": '{"x": 1}'})
    before = snapshot_files(cache, old, folder)
    result = run_update(hub, cache, GATED)
    assert result.returncode == 1
    assert "gated" in (result.stdout + result.stderr).lower()
    assert (cache / folder / "refs" / "main").read_text() == old
    assert snapshot_files(cache, old, folder) == before
    assert "superseded" not in result.stdout


def test_offline_update_makes_no_request(moving: HubServer, tmp_path: Path) -> None:
    hub = moving
    cache = tmp_path / "hub"
    download(cache, hub, MOVING, allow_patterns=["config.json"])
    hub.push(MOVING, "main", files={"config.json": "{}"})
    hub.clear_requests()
    result = run_update(hub, cache, "--all", "--json", HF_HUB_OFFLINE="1")
    assert result.returncode == 0, result.stderr
    assert hub.requests == []
    (check,) = [e for e in events(result) if e["event"] == "check"]
    assert (check["state"], check["reason"]) == ("not checked", "offline")


def test_renamed_repo_updates_through_the_redirect(moving: HubServer, tmp_path: Path) -> None:
    hub = moving
    cache = tmp_path / "hub"
    download(cache, hub, OLDNAME)
    hub.rename_repo(OLDNAME, "acme/new-name")
    new = hub.push("acme/new-name", "main", files={"a.bin": {"size": 10_000, "seed": "v2"}})
    result = run_update(hub, cache, OLDNAME, "--prune-old")
    assert result.returncode == 0, result.stderr
    assert "renamed to acme/new-name" in result.stdout
    folder = "models--acme--old-name"
    assert (cache / folder / "refs" / "main").read_text() == new
    assert snapshot_files(cache, new, folder)["a.bin"] == hub.file_sha256("acme/new-name", "a.bin")


def test_bad_input_exits_with_a_clear_message(moving: HubServer, tmp_path: Path) -> None:
    hub = moving
    cache = tmp_path / "hub"
    download(cache, hub, MOVING, allow_patterns=["config.json"])
    missing = run_update(hub, cache, "acme/not-cached")
    assert missing.returncode == 2 and "'acme/not-cached' is not in the cache" in missing.stderr
    both = run_update(hub, cache, MOVING, "--all")
    assert both.returncode == 2 and "not both" in both.stderr
    read_only = subprocess.run(
        [sys.executable, "-m", "hftui", "--read-only", "--cache-dir", str(cache), "update", "--prune-old"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "HF_ENDPOINT": hub.endpoint},
    )
    assert read_only.returncode == 2 and "--read-only" in read_only.stderr
    # A ref pointing at a commit missing from snapshots/: said, not updated, nothing touched.
    (cache / FOLDER / "refs" / "main").write_text("0" * 40)
    broken = run_update(hub, cache, MOVING)
    assert broken.returncode == 1
    assert "broken cache entry" in broken.stderr and "0" * 40 in broken.stderr
    assert (cache / FOLDER / "refs" / "main").read_text() == "0" * 40


def run_scan(hub: HubServer, cache: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hftui", "scan", "--cache-dir", str(cache), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "HF_ENDPOINT": hub.endpoint, "HF_TOKEN": ""},
    )


def test_scan_shows_filters_and_sorts_by_update_status(moving: HubServer, tmp_path: Path) -> None:
    hub = moving
    cache = tmp_path / "hub"
    download(cache, hub, MOVING, allow_patterns=["config.json"])
    download(cache, hub, OLDNAME)
    download(cache, hub, "acme/doomed")
    hub.push(MOVING, "main", files={"config.json": '{"v": 4}'})
    hub.delete_repo("acme/doomed")

    plain = run_scan(hub, cache)
    assert plain.returncode == 0 and "UPDATE" not in plain.stdout  # no --updates: no request, no column
    hub.clear_requests()
    table = run_scan(hub, cache, "--updates", "--sort", "update")
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split()[-1] == "UPDATE"
    # Most urgent first: the update, then the gone repo, then the one that is up to date.
    order = [line.split()[0] for line in lines[2:5]]
    assert order == [f"model/{MOVING}", "model/acme/doomed", f"model/{OLDNAME}"]
    assert (
        "update available (8 B to fetch)" in lines[2] and "repo gone" in lines[3] and "up to date" in lines[4]
    )
    assert "1 update available" in table.stderr
    assert len([r for r in hub.requests if r.path.endswith("/refs")]) == 3

    only = run_scan(hub, cache, "-f", "update=available", "--json")
    assert only.returncode == 0, only.stderr
    repos = json.loads(only.stdout)["repos"]
    assert [r["repo_id"] for r in repos] == [MOVING]
    assert repos[0]["update"]["state"] == "update available" and repos[0]["update"]["bytes_to_fetch"] == 8

    bad = run_scan(hub, cache, "-f", "update=soon")
    assert bad.returncode == 2 and "unknown update state 'soon'" in bad.stderr
