"""Benchmark `hftui download` against `hf download`, and the TUI's key latency while 2 jobs download.

Starts the project's local Hub server (127.0.0.1) with one repo of N x SIZE generated files,
then downloads it into a fresh cache alternately with `hf download` (huggingface_hub's CLI) and
`hftui download`, end to end in a subprocess (process start, dry run and disk check included),
several times in one run, and prints each run, the medians and the throughput ratio.

Then it starts the TUI headless (Textual's `run_test`), submits 2 jobs downloading at full speed
and measures key presses on the Queue pane: cursor moves, and `p` on a third, waiting job (an action:
a round trip to the download process). Each is the time from sending the key to the app having
handled it and refreshed: median, p95 and worst.

    python benchmarks/download.py                     # 8 x 64 MiB, 3 rounds
    python benchmarks/download.py --files 8 --size-mib 64 --rounds 5 --keys 40

Not a test: numbers depend on the machine. Both tools use their defaults (8 file threads).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REPO = "bench/weights"
LAT_REPOS = ("bench/latency-a", "bench/latency-b")
"""Two bigger repos for the key-latency phase, so both jobs run for the whole sample."""


def spec(files: int, size: int, latency_files: int) -> dict:
    def repo(repo_id: str, seed: str, count: int) -> dict:
        content = {
            f"model-{i:05d}-of-{count:05d}.safetensors": {"size": size, "seed": f"{seed}{i}"}
            for i in range(count)
        }
        content["config.json"] = '{"bench": true}'
        return {"id": repo_id, "type": "model", "branches": {"main": {"files": content}}}

    return {
        "token": "hf_bench",
        "repos": [repo(REPO, "a", files), *(repo(r, r, latency_files) for r in LAT_REPOS)],
    }


class ServerProcess:
    """`hftui hub-serve` in its own process, so the server never competes for our GIL."""

    def __init__(self, spec_path: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "hftui", "hub-serve", "--spec", str(spec_path)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        first = self.proc.stdout.readline()
        self.endpoint = first.rsplit(" at ", 1)[1].strip()

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def timed(cmd: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def throughput(
    args: argparse.Namespace, hub: ServerProcess, total: int, work: Path
) -> tuple[list[float], list[float]]:
    env = {
        **os.environ,
        "HF_ENDPOINT": hub.endpoint,
        "HF_TOKEN": "",
        "HF_HOME": str(work / "hf_home"),
        "XDG_STATE_HOME": str(work / "state"),
        "HF_HUB_DISABLE_TELEMETRY": "1",
    }
    hf = str(Path(sys.executable).parent / "hf")
    hf_times: list[float] = []
    hftui_times: list[float] = []
    for round_ in range(args.rounds):
        order = ("hf", "hftui") if round_ % 2 == 0 else ("hftui", "hf")
        for tool in order:
            cache = work / f"cache-{tool}"
            shutil.rmtree(cache, ignore_errors=True)
            if tool == "hf":
                seconds = timed([hf, "download", REPO, "--cache-dir", str(cache)], env)
                hf_times.append(seconds)
            else:
                seconds = timed(
                    [sys.executable, "-m", "hftui", "download", REPO, "--cache-dir", str(cache)], env
                )
                hftui_times.append(seconds)
            print(
                f"  round {round_ + 1} {tool:<6} {seconds:6.2f} s  {total / seconds / 2**20:7.1f} MiB/s",
                flush=True,
            )
            shutil.rmtree(cache, ignore_errors=True)
    return hf_times, hftui_times


async def key_latency(
    args: argparse.Namespace, hub: ServerProcess, work: Path
) -> tuple[list[float], list[float], bool]:
    os.environ["XDG_STATE_HOME"] = str(work / "tui-state")
    from textual import events
    from textual.widgets import DataTable

    from hftui.core.downloads.models import DownloadRequest
    from hftui.settings import Settings
    from hftui.tui.app import make_app
    from hftui.tui.panes.queue import QueuePane

    cache = work / "cache-tui"
    shutil.rmtree(cache, ignore_errors=True)
    app = make_app(Settings(cache_dir=str(cache), endpoint=hub.endpoint, disk_margin_mb=0))
    samples: list[float] = []
    loop = asyncio.get_running_loop()
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("3")
        await pilot.pause()
        app.query_one(QueuePane).focus_default()
        for repo in LAT_REPOS:
            app.enqueue_download(DownloadRequest(repo))
        # A third job waits behind the two (max_jobs = 2): `p` toggles it paused/queued, which
        # times an action key (a round trip to the download process) without stopping a download.
        app.enqueue_download(DownloadRequest(REPO))
        deadline = time.monotonic() + 10
        while app.downloads.running_count() < 2 or any(j.bytes_done == 0 for j in app.downloads.jobs()[:2]):
            await pilot.pause(0.02)
            if time.monotonic() > deadline:
                break
        table = app.query_one(QueuePane).query_one(DataTable)
        # Post real key events and time until the table handled them and the screen refreshed.
        # (Pilot.press waits for the process to go idle, which never happens while downloading.)
        for _ in range(args.keys):
            if app.downloads.running_count() < 2:
                break
            key = "down" if table.cursor_row == 0 else "up"
            before = table.cursor_row
            started = time.perf_counter()
            app.post_message(events.Key(key, None))
            while table.cursor_row == before:
                await asyncio.sleep(0.0005)
            refreshed: asyncio.Future[float] = loop.create_future()
            app.call_after_refresh(lambda f=refreshed: f.done() or f.set_result(time.perf_counter()))
            samples.append(await refreshed - started)
            await asyncio.sleep(0.1)
        action_samples: list[float] = []
        waiting = app.downloads.jobs()[2].id
        table.move_cursor(row=2)
        await asyncio.sleep(0.2)
        for _ in range(args.keys // 2):
            if app.downloads.running_count() < 2:
                break
            before = str(table.get_cell(waiting, "state"))
            started = time.perf_counter()
            app.post_message(events.Key("p", "p"))
            while str(table.get_cell(waiting, "state")) == before:
                await asyncio.sleep(0.0005)
            refreshed = loop.create_future()
            app.call_after_refresh(lambda f=refreshed: f.done() or f.set_result(time.perf_counter()))
            action_samples.append(await refreshed - started)
            await asyncio.sleep(0.1)
        both_running = app.downloads.running_count() == 2
        await asyncio.to_thread(app.downloads.shutdown, 2.0)
    shutil.rmtree(cache, ignore_errors=True)
    return samples, action_samples, both_running


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--size-mib", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--keys", type=int, default=30)
    parser.add_argument("--latency-files", type=int, default=24, help="files per repo in the latency phase")
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT / "src"))
    import json

    size = args.size_mib * 2**20
    total = args.files * size + len('{"bench": true}')
    work = Path(tempfile.mkdtemp(prefix="hftui-bench-dl-"))
    spec_path = work / "spec.json"
    spec_path.write_text(json.dumps(spec(args.files, size, args.latency_files)))
    hub = ServerProcess(spec_path)
    try:
        if True:
            print(
                f"local hub {hub.endpoint}: {REPO} = {args.files} x {args.size_mib} MiB ({total / 2**20:.0f} MiB)"
            )
            print("throughput (end to end, fresh cache each run):")
            hf_times, hftui_times = throughput(args, hub, total, work)
            hf_med, hftui_med = statistics.median(hf_times), statistics.median(hftui_times)
            hf_rate, hftui_rate = total / hf_med / 2**20, total / hftui_med / 2**20
            print(f"median  hf download     {hf_med:6.2f} s  {hf_rate:7.1f} MiB/s")
            print(f"median  hftui download  {hftui_med:6.2f} s  {hftui_rate:7.1f} MiB/s")
            print(f"ratio   hftui / hf throughput = {hftui_rate / hf_rate:.3f}  (target >= 0.97)")

            print("TUI key latency while 2 jobs download at full speed (Queue pane, cursor keys):")
            samples, action_samples, both = asyncio.run(key_latency(args, hub, work))
            for what, taken in (("cursor key", samples), ("action key (p)", action_samples)):
                if not taken:
                    print(f"{what}: no sample (downloads finished too fast; use --size-mib larger)")
                    continue
                ms = sorted(s * 1000 for s in taken)
                p95 = ms[min(len(ms) - 1, int(len(ms) * 0.95))]
                print(
                    f"{what} round trip: median {statistics.median(ms):.1f} ms, p95 {p95:.1f} ms, "
                    f"max {ms[-1]:.1f} ms over {len(ms)} keys (target < 100 ms)"
                )
            print("both jobs still running" if both else "jobs finished during the sample")
    finally:
        hub.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
