"""`hftui download` as a user runs it: a subprocess with HF_ENDPOINT pointing at the local Hub."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hubfixtures import BIG, MIB, MODEL, hub_server, small_spec  # noqa: F401
from privileges import skip_unless_nobody_can_run_python
from test_download import OTHER, SLOW, assert_cache_matches, gets, incomplete_files, timing_spec

from hftui.hub import HubServer


def hftui_env(hub: HubServer, **extra: str) -> dict[str, str]:
    return {**os.environ, "HF_ENDPOINT": hub.endpoint, "HF_TOKEN": "", **extra}


def run_download(hub: HubServer, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hftui", "download", *args],
        capture_output=True,
        text=True,
        timeout=90,
        env=hftui_env(hub),
        **kwargs,
    )


def test_single_repo_plain_output_and_exit_0(hub: HubServer, tmp_path: Path) -> None:
    cache = tmp_path / "new" / "cache"  # missing: created
    result = run_download(hub, MODEL, "--cache-dir", str(cache), "--include", "*.json", "--max-workers", "2")
    assert result.returncode == 0, result.stderr
    assert f"done      {MODEL}" in result.stdout and "2 files)" in result.stdout
    assert "\x1b[" not in result.stdout  # not a terminal: plain lines
    assert_cache_matches(cache, hub, MODEL, paths=["config.json", "tokenizer.json"])
    again = run_download(hub, MODEL, "--cache-dir", str(cache), "--include", "*.json")
    assert again.returncode == 0 and f"done      {MODEL}  (already cached)" in again.stdout


def test_local_dir_and_json_events(hub: HubServer, tmp_path: Path) -> None:
    target = tmp_path / "out"
    result = run_download(
        hub, f"datasets/{'acme/tiny-corpus'}", "--local-dir", str(target), "--json", "--jobs", "1"
    )
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    states = [e["state"] for e in events if e["event"] == "state"]
    assert states == ["queued", "checking", "running", "done"]
    running = next(e for e in events if e.get("state") == "running")
    assert isinstance(running["bytes_total"], int) and running["files_total"] == 4
    assert events[-1] == {
        "event": "summary",
        "jobs": 1,
        "done": 1,
        "failed": 0,
        "bytes": running["bytes_total"],
        "files": 4,
        "bytes_copied": 0,
        "files_copied": 0,
        "exit_code": 0,
    }
    for path, info in hub.files("acme/tiny-corpus", "main", "dataset").items():
        assert (target / path).stat().st_size == info.size


def test_jobs_file_with_malformed_line_runs_the_rest(hub: HubServer, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    jobs = tmp_path / "jobs.txt"
    jobs.write_text(
        "# models for the demo\n"
        f"{MODEL} --include '*.json'\n"
        "\n"
        "not a repo at all --what\n"
        f"datasets/acme/tiny-corpus --include 'data/test-*'   # a comment\n"
        "acme/does-not-exist\n"
    )
    result = run_download(hub, "-f", str(jobs), "--cache-dir", str(cache))
    assert result.returncode == 1
    assert f"{jobs}: line 4:" in result.stderr
    assert "line 2" not in result.stderr and "line 5" not in result.stderr
    assert "failed    acme/does-not-exist: repo not found" in result.stdout
    assert_cache_matches(cache, hub, MODEL, paths=["config.json", "tokenizer.json"])
    assert_cache_matches(
        cache, hub, "acme/tiny-corpus", "dataset", paths=["data/test-00000-of-00001.parquet"]
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "give a REPO or -f FILE"),
        (("acme/x", "--jobs", "0"), "--jobs must be at least 1"),
        (("not/a/valid/repo/id/at/all:bad quant",), ""),
        (("acme/x", "--cache-dir", "a", "--local-dir", "b"), "not allowed with"),
        (("-f", "/nonexistent/jobs.txt"), "cannot read"),
    ],
)
def test_usage_errors_exit_2(hub: HubServer, args: tuple[str, ...], message: str) -> None:
    result = run_download(hub, *args)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert message in result.stderr


@pytest.mark.root
def test_unwritable_destination_fails_at_once_with_the_reason(hub: HubServer) -> None:
    skip_unless_nobody_can_run_python()
    base = Path(tempfile.mkdtemp(prefix="hftui-perm-"))
    try:
        base.chmod(0o755)
        home = base / "home"
        home.mkdir(mode=0o777)
        home.chmod(0o777)
        target = base / "root-only"
        target.mkdir(mode=0o755)  # owned by root: nobody cannot write here
        seen = len(hub.requests)
        result = subprocess.run(
            [
                "setpriv",
                "--reuid=nobody",
                "--regid=nogroup",
                "--clear-groups",
                sys.executable,
                "-m",
                "hftui",
                "download",
                MODEL,
                "--cache-dir",
                str(target),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            env=hftui_env(
                hub, HF_HOME=str(home), XDG_STATE_HOME=str(home), XDG_CONFIG_HOME=str(home), HOME=str(home)
            ),
        )
        if "setpriv" in result.stderr and result.returncode != 1:
            pytest.skip(f"setpriv not usable: {result.stderr.strip()}")
        assert result.returncode == 1, result.stderr
        assert f"failed    {MODEL}: permission denied: cannot write to {target}" in result.stdout
        assert hub.requests[seen:] == []  # failed before any download request
    finally:
        subprocess.run(["rm", "-rf", str(base)], check=False)


def test_kill_9_midway_then_rerun_completes_cleanly(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    with HubServer(timing_spec()) as hub:
        hub.set_bandwidth(600_000)
        proc = subprocess.Popen(
            [sys.executable, "-m", "hftui", "download", "-f", "-", "--cache-dir", str(cache), "--json"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=hftui_env(hub),
        )
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(f"{SLOW}\n{OTHER}\n")
        proc.stdin.close()
        try:
            for line in proc.stdout:
                event = json.loads(line)
                if (
                    event["event"] == "progress"
                    and event["repo"] == SLOW
                    and event["files_done"] >= 1
                    and event["bytes_done"] > 500_000
                ):
                    break
            proc.send_signal(signal.SIGKILL)
        finally:
            proc.wait(10)
        assert proc.returncode == -signal.SIGKILL
        # What arrived of weights.bin and other.bin is kept (not .incomplete files the library
        # would ignore).
        parts = sorted(cache.rglob("*.part"))
        assert {p.parent.parent.name for p in parts} == {"models--test--slow", "models--test--other"}
        assert incomplete_files(cache) == []
        kept = sum(p.stat().st_size for p in parts)
        assert kept > 500_000
        small_gets = len(gets(hub, "/small.json"))

        hub.set_bandwidth(None)
        rerun = run_download(hub, SLOW, "--cache-dir", str(cache))
        rerun2 = run_download(hub, OTHER, "--cache-dir", str(cache))
        assert rerun.returncode == 0 and rerun2.returncode == 0, rerun.stderr + rerun2.stderr
        assert len(gets(hub, "/small.json")) == small_gets == 1  # finished file not fetched again
        assert_cache_matches(cache, hub, SLOW)  # also asserts no .incomplete anywhere
        assert_cache_matches(cache, hub, OTHER)
        # The reruns fetched the rest of each file, not the whole file again.
        assert hub.bytes_sent("*/weights.bin") + hub.bytes_sent("*/other.bin") <= 6 * MIB + 0.1 * kept
        assert sorted(cache.rglob("*.part")) == []


def test_top_level_cache_dir_is_honoured(hub: HubServer, tmp_path: Path) -> None:
    cache = tmp_path / "top" / "cache"
    result = subprocess.run(
        [sys.executable, "-m", "hftui", "--cache-dir", str(cache), "download", MODEL, "--include", "*.json"],
        capture_output=True,
        text=True,
        timeout=90,
        env=hftui_env(hub, HF_HOME=str(tmp_path / "hf_home")),
    )
    assert result.returncode == 0, result.stderr
    assert (cache / f"models--{MODEL.replace('/', '--')}").is_dir()
    assert not (tmp_path / "hf_home" / "hub" / f"models--{MODEL.replace('/', '--')}").exists()


def test_patterns_that_match_nothing_fail_the_job(hub: HubServer, tmp_path: Path) -> None:
    result = run_download(hub, MODEL, "--include", "*.safetensor", "--cache-dir", str(tmp_path / "c"))
    assert result.returncode == 1
    assert f"failed    {MODEL}: no file of model {MODEL}@main matches --include *.safetensor" in result.stdout


def test_offline_download_of_a_fully_cached_repo_prints_its_path_like_hf(
    hub: HubServer, tmp_path: Path
) -> None:
    """Issue 12.6: with HF_HUB_OFFLINE=1, `hf download` of a cached repo exits 0 with the path."""
    cache = tmp_path / "cache"
    assert run_download(hub, MODEL, "--cache-dir", str(cache)).returncode == 0
    seen = len(hub.requests)
    offline = {**hftui_env(hub), "HF_HUB_OFFLINE": "1"}
    snapshots = cache / "models--acme--bert-mini" / "snapshots"
    (expected,) = snapshots.iterdir()
    result = subprocess.run(
        [sys.executable, "-m", "hftui", "download", MODEL, "--cache-dir", str(cache)],
        capture_output=True,
        text=True,
        timeout=90,
        env=offline,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"done      {MODEL}  (already cached)\n  path: {expected}\n" in result.stdout
    assert hub.requests[seen:] == []  # offline means offline

    # Not cached: a clear failure, still without a request.
    result = subprocess.run(
        [sys.executable, "-m", "hftui", "download", "datasets/acme/tiny-corpus", "--cache-dir", str(cache)],
        capture_output=True,
        text=True,
        timeout=90,
        env=offline,
    )
    assert result.returncode == 1
    assert (
        "failed    datasets/acme/tiny-corpus: offline (HF_HUB_OFFLINE=1): dataset acme/tiny-corpus@main"
        in result.stdout
    )
    assert "Traceback" not in result.stderr and hub.requests[seen:] == []


def test_json_summary_counts_every_attempt_after_a_retried_fault(tmp_path: Path) -> None:
    """Issue 12.7: the second attempt fetches only what the first did not; the summary (and the done
    line) still count everything the job downloaded."""
    from hftui.hub import Fault

    with HubServer(small_spec()) as hub:
        hub.add_fault(Fault("status", path_glob="*/model.safetensors", status=503, times=1))
        cache = tmp_path / "cache"
        result = run_download(hub, MODEL, "--cache-dir", str(cache), "--json", "--max-workers", "1")
        assert result.returncode == 0, result.stderr
        events = [json.loads(line) for line in result.stdout.splitlines()]
        assert [r.status for r in gets(hub, "/model.safetensors")] == [503, 200]  # a retried fault
        files = hub.files(MODEL, "main")
        done = [e for e in events if e.get("state") == "done"]
        assert done[-1]["bytes_total"] == sum(info.size for info in files.values())
        assert done[-1]["files_total"] == len(files)
        assert events[-1]["bytes"] == sum(info.size for info in files.values())
        assert events[-1]["files"] == len(files)
        assert_cache_matches(cache, hub, MODEL)
