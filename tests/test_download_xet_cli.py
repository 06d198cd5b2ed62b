"""`hftui download` over Xet and plain HTTP, as a user runs it: Ctrl-C, JSON and plain progress.

The CLI subprocesses inherit HF_HUB_DISABLE_XET from the `mode` fixture (it sets os.environ).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from test_download_xet import MIB, RATE, A, B, sent, spec, transfer_mode, wait_silent  # noqa: F401

from hftui.hub import HubServer


def env(hub: HubServer) -> dict[str, str]:
    return {**os.environ, "HF_ENDPOINT": hub.endpoint, "HF_TOKEN": ""}


def test_ctrl_c_stops_every_transfer_with_the_resume_hint(mode: str, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    with HubServer(spec()) as hub:
        hub.set_bandwidth(RATE)
        proc = subprocess.Popen(
            [sys.executable, "-m", "hftui", "download", "-f", "-", "--cache-dir", str(cache), "--json"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env(hub),
        )
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        proc.stdin.write(f"{A} --include a.bin\n{B}\n")
        proc.stdin.close()
        try:
            moving: set[str] = set()
            for line in proc.stdout:
                event = json.loads(line)
                if event["event"] == "progress" and event["bytes_done"] > 200_000:
                    moving.add(event["repo"])
                if moving == {A, B}:
                    break
            started = time.monotonic()
            proc.send_signal(signal.SIGINT)
            proc.wait(30)
            took = time.monotonic() - started
        finally:
            if proc.poll() is None:
                proc.kill()
        stderr = proc.stderr.read()
        assert proc.returncode == 130, stderr
        assert "rerun the same command to resume" in stderr
        assert "Traceback" not in stderr
        print(f"Ctrl-C to exit: {took:.2f} s")
        files = [(A, "a.bin"), (B, "b.bin")]
        silent = wait_silent(hub, files, mode)
        time.sleep(1.0)
        assert {r: sent(hub, r, p, mode) for r, p in files} == silent
        assert all(n < 24 * MIB for n in silent.values()), silent  # stopped midway, not finished
        assert not list(cache.rglob("*.incomplete"))


def test_json_and_plain_progress_have_speed_and_eta_while_bytes_arrive(mode: str, tmp_path: Path) -> None:
    with HubServer(spec()) as hub:
        hub.set_bandwidth(4 * RATE)
        # The JSON and the plain run side by side (the cap is per response): half the wait.
        runs = {
            kind: subprocess.Popen(
                [sys.executable, "-m", "hftui", "download", B, "--cache-dir", str(tmp_path / kind), *extra],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=env(hub),
            )
            for kind, extra in (("json", ["--json"]), ("plain", []))
        }
        outputs = {kind: proc.communicate(timeout=120) for kind, proc in runs.items()}
        for kind, proc in runs.items():
            assert proc.returncode == 0, outputs[kind][1]
        events = [json.loads(line) for line in outputs["json"][0].splitlines()]
        progress = [e for e in events if e["event"] == "progress" and 0 < e["bytes_done"] < 24 * MIB]
        # Several updates while the one 24 MiB file moves (over Xet it is written in one block).
        assert len({e["bytes_done"] for e in progress}) >= 3, progress
        assert all(e["speed"] > 0 and e["eta"] is not None and e["eta"] < 600 for e in progress[1:]), progress

        plain = outputs["plain"][0]
        lines = [line for line in plain.splitlines() if line.startswith(B) and "running" in line]
        assert len(lines) >= 3, plain
        assert any("/s" in line and "ETA -" not in line for line in lines), lines


def test_a_reader_that_goes_away_stops_the_output_not_the_download(mode: str, tmp_path: Path) -> None:
    """`hftui download ... | head -1`: the download goes on to the end, and nothing is printed about
    the closed pipe (the jobs' result is the exit code)."""
    import hashlib

    cache = tmp_path / "cache"
    with HubServer(spec()) as hub:
        hub.set_bandwidth(32 * RATE)  # under a second: progress is written after the reader left
        runs = {}
        for kind, extra in (("json", ["--json"]), ("plain", [])):
            runs[kind] = proc = subprocess.Popen(
                [sys.executable, "-m", "hftui", "download", B, "--cache-dir", str(cache / kind), *extra],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env(hub),
            )
            assert proc.stdout is not None
            assert proc.stdout.readline()  # the first line, then the reader is gone
            proc.stdout.close()
        expected = hashlib.sha256(hub.read_file(B, "b.bin")).hexdigest()
        for kind, proc in runs.items():
            assert proc.stderr is not None
            stderr = proc.stderr.read().decode()
            assert proc.wait(120) == 0, (kind, stderr)
            assert "Traceback" not in stderr and "Broken pipe" not in stderr, stderr
            blob = cache / kind / "models--acme--xet-b" / "snapshots" / hub.commit(B) / "b.bin"
            assert hashlib.sha256(blob.read_bytes()).hexdigest() == expected, kind
