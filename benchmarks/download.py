"""Benchmark `hftui download` against `hf download` over Xet and plain HTTP, the TUI's key latency
while 2 Xet jobs download, and how fast a pause silences the server.

Starts the project's local Hub server (127.0.0.1, Xet on as on the real Hub) with one repo of
N x SIZE generated files, then downloads it into a fresh cache alternately with `hf download`
(huggingface_hub's CLI) and `hftui download`, end to end in a subprocess (process start, listing
and disk check included), several times in one run, once over Xet (the default) and once with
`HF_HUB_DISABLE_XET=1` (plain HTTP through the CAS bridge), and prints each run, the medians and
the throughput ratios.

Pause to silence: an in-process local Hub (to read its byte counters) serves a large file at a
capped rate; the engine downloads it, is told to pause, and the time from that call to the last
byte the server wrote for the file is measured, over Xet and over HTTP.

Resume: the bytes a resume fetches again after a pause and after a `kill -9` at ~50 %, next to
the file size, over Xet and plain HTTP (kept bytes, docs/kept-bytes.md).

Then it starts the TUI headless (Textual's `run_test`), submits 2 jobs downloading at full speed
and measures key presses on the Queue pane: cursor moves, and `p` on a third, waiting job (an action:
a round trip to the download process). Each is the time from sending the key to the app having
handled it and refreshed: median, p95 and worst. For `p`, twice: until the screen shows the new
state (the app shows an action's outcome before the download process answers), and until the
process's answer has arrived and the screen was redrawn after it (the whole round trip). The load
average is printed beside the figures: the machine's other work moves them most.

    python benchmarks/download.py                     # 8 x 64 MiB, 3 rounds
    python benchmarks/download.py --files 8 --size-mib 64 --rounds 5 --keys 40
    python benchmarks/download.py --only resume --resume-size-mib 256
    sudo python benchmarks/download.py --only throughput --link-mbit 800   # network-bound, not CPU-bound

Not a test: numbers depend on the machine. Both tools use their defaults (8 file threads).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
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
    """`hftui hub-serve` in its own process, so the server never competes for our GIL.

    It stands in for the Hub, which runs on other machines: in a session of its own it is one
    more program on this box, as a user's other work is. (In this benchmark's session, Linux's
    autogroup scheduling would have its busy threads share hftui's CPU slice.)"""

    def __init__(self, spec_path: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "hftui", "hub-serve", "--spec", str(spec_path)],
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        assert self.proc.stdout is not None
        first = self.proc.stdout.readline()
        self.endpoint = first.rsplit(" at ", 1)[1].strip()

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)

    def cpu_seconds(self) -> float:
        """CPU time the server process has used so far (Linux; 0 elsewhere)."""
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system, the command and every process it started and
    waited for: `hftui download`'s job processes included) of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def throughput(
    args: argparse.Namespace, hub: ServerProcess, total: int, work: Path, *, xet: bool
) -> dict[str, list[tuple[float, float, float]]]:
    """(wall s, client CPU s, server CPU s) of each run, by tool."""
    env = {
        **os.environ,
        "HF_HUB_DISABLE_XET": "0" if xet else "1",
        "HF_ENDPOINT": hub.endpoint,
        "HF_TOKEN": "",
        "HF_HOME": str(work / "hf_home"),
        "XDG_STATE_HOME": str(work / "state"),
        "HF_HUB_DISABLE_TELEMETRY": "1",
    }
    hf = str(Path(sys.executable).parent / "hf")
    runs: dict[str, list[tuple[float, float, float]]] = {"hf": [], "hftui": []}
    for round_ in range(args.rounds):
        order = ("hf", "hftui") if round_ % 2 == 0 else ("hftui", "hf")
        for tool in order:
            cache = work / f"cache-{tool}"
            shutil.rmtree(cache, ignore_errors=True)
            if tool == "hf":
                cmd = [hf, "download", REPO, "--cache-dir", str(cache)]
            else:
                cmd = [sys.executable, "-m", "hftui", "download", REPO, "--cache-dir", str(cache)]
            served = hub.cpu_seconds()
            seconds, cpu = timed(cmd, env)
            server_cpu = hub.cpu_seconds() - served
            runs[tool].append((seconds, cpu, server_cpu))
            print(
                f"  round {round_ + 1} {tool:<6} {seconds:6.2f} s  {total / seconds / 2**20:7.1f} MiB/s  "
                f"CPU {cpu:5.2f} s (server {server_cpu:4.2f} s)  load {os.getloadavg()[0]:4.1f}",
                flush=True,
            )
            shutil.rmtree(cache, ignore_errors=True)
    return runs


@contextlib.contextmanager
def loopback_link(mbit: int | None) -> Iterator[None]:
    """Traffic on 127.0.0.1 capped at `mbit` Mbit/s, shared by every connection, while inside.

    Both tools and the local Hub share this box's 2 CPUs: at full loopback speed the download is
    CPU-bound and its time swings 2x from run to run. A user's download is bound by the network
    instead. A token bucket (`tc ... tbf`) on `lo` makes the link the limit; this kernel has no
    `netem`, so there is no added latency. Refuses to replace a queueing discipline already there."""
    if not mbit:
        yield
        return
    shown = subprocess.run(["tc", "qdisc", "show", "dev", "lo"], capture_output=True, text=True, check=True)
    if "noqueue" not in shown.stdout:
        raise SystemExit(f"lo already has a queueing discipline, left alone: {shown.stdout.strip()}")
    subprocess.run(
        [
            "tc",
            "qdisc",
            "add",
            "dev",
            "lo",
            "root",
            "tbf",
            "rate",
            f"{mbit}mbit",
            "burst",
            "512kb",
            "latency",
            "100ms",
        ],
        check=True,
    )
    try:
        yield
    finally:
        subprocess.run(["tc", "qdisc", "del", "dev", "lo", "root"], check=False)


def pause_to_silence(args: argparse.Namespace, work: Path) -> dict[str, list[float]]:
    """Seconds from `engine.pause()` to the last byte the server sent for the paused file."""
    from hftui.core.downloads.engine import DownloadEngine
    from hftui.core.downloads.models import DownloadRequest
    from hftui.hub import HubServer
    from hftui.settings import Settings

    size = 512 * 2**20
    spec_ = {"repos": [{"id": "bench/pause", "branches": {"main": {"files": {"big.bin": {"size": size}}}}}]}
    results: dict[str, list[float]] = {}
    with HubServer(spec_) as hub:
        hub.set_bandwidth(args.pause_rate_mib * 2**20)
        xet_hash = hub.xet_hash("bench/pause", "big.bin")
        for mode in ("xet", "http"):
            os.environ["HF_HUB_DISABLE_XET"] = "0" if mode == "xet" else "1"
            glob = f"/xorbs/{xet_hash}/*" if mode == "xet" else f"/bridge/{xet_hash}"
            taken: list[float] = []
            for round_ in range(args.pause_rounds):
                cache = work / f"pause-{mode}-{round_}"
                engine = DownloadEngine(
                    Settings(disk_margin_mb=0), endpoint=hub.endpoint, token=False, default_cache=str(cache)
                )
                engine.start()
                try:
                    job = engine.submit(DownloadRequest("bench/pause")).job
                    start = hub.bytes_sent(glob, server="cas")
                    deadline = time.monotonic() + 60
                    while (
                        hub.bytes_sent(glob, server="cas") < start + 20 * 2**20
                        and time.monotonic() < deadline
                    ):
                        time.sleep(0.01)
                    paused_at = time.monotonic()
                    engine.pause(job.id)
                    last, last_change = hub.bytes_sent(glob, server="cas"), paused_at
                    while time.monotonic() < last_change + 1.0:  # quiet for 1 s: silent
                        now = hub.bytes_sent(glob, server="cas")
                        if now != last:
                            last, last_change = now, time.monotonic()
                        time.sleep(0.002)
                    taken.append(last_change - paused_at)
                finally:
                    engine.shutdown(2.0)
                    shutil.rmtree(cache, ignore_errors=True)
            results[mode] = taken
        os.environ.pop("HF_HUB_DISABLE_XET", None)
    return results


def _part_size(cache: Path, mode: str = "xet") -> int:
    """Bytes kept. Over Xet, the prefix and the ranges past it recorded in the kept file's state
    (a `.part` may also hold bytes past them, which a resume does not trust). Over HTTP, the `.part`'s size: the
    state is refreshed only every 2 s, and the size is what a resume starts from."""
    import json

    kept = 0
    if mode != "xet":
        for part in cache.rglob(".hftui-partial/*.part") if cache.exists() else ():
            with contextlib.suppress(OSError):
                kept = max(kept, part.stat().st_size)
        return kept
    for state in cache.rglob(".hftui-partial/*.json") if cache.exists() else ():
        try:
            data = json.loads(state.read_text())
            ahead = sum(end - start for start, end in data.get("ranges") or ())
            kept = max(kept, int(data["kept"]) + ahead)
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return kept


def _wait(predicate, timeout: float = 120.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def resume_refetch(
    args: argparse.Namespace, work: Path
) -> list[tuple[str, str, int, int, int, int, int, int, int]]:
    """Bytes the server sent again after a stop at ~50 % (docs/kept-bytes.md).

    For each path (Xet, plain HTTP through the CAS bridge) and each stop (a pause of the engine,
    a `kill -9` of a headless `hftui download`): the file is served at a capped rate until at
    least half of it is kept on disk, the download is stopped, then resumed at full speed. What
    the resume re-fetched = bytes the server sent for the file after the stop minus the bytes
    that were missing (size - kept). Rows: (path, stop, size, kept, sent after, re-fetched,
    sent before the stop, one clean download's bytes, requests for the file's bytes). What was
    sent before the stop but not kept (in flight at the stop) is sent before - kept; what the
    stop cost in all is sent before + sent after - one clean download (over Xet: the chunks and
    their headers; requests: reconstructions over Xet, one per window).
    """
    import signal

    from hftui.core.downloads.engine import DownloadEngine
    from hftui.core.downloads.models import DownloadRequest
    from hftui.hub import HubServer
    from hftui.settings import Settings

    size = args.resume_size_mib * 2**20
    repo = "bench/resume"
    spec_ = {"repos": [{"id": repo, "branches": {"main": {"files": {"big.bin": {"size": size}}}}}]}
    rows = []
    with HubServer(spec_) as hub:
        xet_hash = hub.xet_hash(repo, "big.bin")
        layout = hub.xet_store.files[xet_hash].layout
        for mode in args.resume_paths.split(","):
            os.environ["HF_HUB_DISABLE_XET"] = "0" if mode == "xet" else "1"
            glob = f"/xorbs/{xet_hash}/*" if mode == "xet" else f"/bridge/{xet_hash}"

            def sent() -> int:
                return hub.bytes_sent(glob, server="cas")  # noqa: B023 (read at once)

            clean = layout.serialized_span(0, layout.count) if mode == "xet" else size

            def asked() -> int:
                route = "/v2/reconstructions/" if mode == "xet" else "/bridge/"  # noqa: B023
                return sum(1 for r in hub.requests if r.path.startswith(route))

            for stop in ("pause", "kill -9"):
                start, asked_before = sent(), asked()
                cache = work / f"resume-{mode}-{stop.replace(' ', '')}"
                hub.set_bandwidth(args.pause_rate_mib * 2**20)
                if stop == "pause":
                    engine = DownloadEngine(
                        Settings(disk_margin_mb=0),
                        endpoint=hub.endpoint,
                        token=False,
                        default_cache=str(cache),
                    )
                    engine.start()
                    try:
                        job = engine.submit(DownloadRequest(repo)).job
                        _wait(lambda: _part_size(cache, mode) >= size // 2)  # noqa: B023
                        engine.pause(job.id)
                        _wait(lambda: engine.thread_count() == 0, 10)  # noqa: B023
                        # The server notices a stopped client at its next write: counters are
                        # final once it has stopped writing.
                        _wait(lambda: hub.bodies_in_flight() == 0, 30)
                        kept, before = _part_size(cache, mode), sent()
                        hub.set_bandwidth(None)
                        engine.resume(job.id)
                        engine.wait_idle(300)
                    finally:
                        engine.shutdown(2.0)
                else:
                    cmd = [sys.executable, "-m", "hftui", "download", repo, "--cache-dir", str(cache)]
                    env = {**os.environ, "HF_ENDPOINT": hub.endpoint, "HF_TOKEN": ""}
                    proc = subprocess.Popen(
                        cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
                    )
                    _wait(lambda: _part_size(cache, mode) >= size // 2)  # noqa: B023
                    proc.send_signal(signal.SIGKILL)
                    proc.wait()
                    # The job process ends when it notices its parent is gone; the server then
                    # stops writing to it.
                    _wait(lambda: hub.bodies_in_flight() == 0, 30)
                    kept, before = _part_size(cache, mode), sent()
                    hub.set_bandwidth(None)
                    subprocess.run(
                        cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True
                    )
                after = sent() - before
                rows.append(
                    (
                        mode,
                        stop,
                        size,
                        kept,
                        after,
                        after - (size - kept),
                        before - start,
                        clean,
                        asked() - asked_before,
                    )
                )
                shutil.rmtree(cache, ignore_errors=True)
        os.environ.pop("HF_HUB_DISABLE_XET", None)
    return rows


async def key_latency(
    args: argparse.Namespace, hub: ServerProcess, work: Path
) -> tuple[list[float], list[float], list[float], bool]:
    run = os.environ.get("HF_HUB_DISABLE_XET", "0")  # a fresh state dir (saved queue) per run
    os.environ["XDG_STATE_HOME"] = str(work / f"tui-state-{run}")
    from textual import events
    from textual.widgets import DataTable

    from hftui.core.downloads.models import DownloadRequest
    from hftui.settings import Settings
    from hftui.tui.app import make_app
    from hftui.tui.panes.queue import QueuePane

    cache = work / f"cache-tui-{run}"
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
        submitted = time.monotonic()
        while app.downloads.running_count() < 2 or any(j.bytes_done == 0 for j in app.downloads.jobs()[:2]):
            await pilot.pause(0.02)
            if time.monotonic() > submitted + 120:
                print("  the 2 jobs did not both start downloading within 120 s: figures below are not")
                print("  measured while downloading")
                break
        print(f"  both jobs downloading {time.monotonic() - submitted:.1f} s after they were queued")
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
        confirmed_samples: list[float] = []
        waiting = app.downloads.jobs()[2].id
        engine = app.downloads.engine
        assert engine is not None
        table.move_cursor(row=2)
        await asyncio.sleep(0.2)
        for _ in range(args.keys // 2):
            if app.downloads.running_count() < 2:
                break
            before = str(table.get_cell(waiting, "state"))
            started = time.perf_counter()
            app.post_message(events.Key("p", "p"))
            # Shown: the row says the new state (the app shows it before the download process
            # answers, `EngineProcess.begin`)...
            while str(table.get_cell(waiting, "state")) == before:
                await asyncio.sleep(0.0005)
            refreshed = loop.create_future()
            app.call_after_refresh(lambda f=refreshed: f.done() or f.set_result(time.perf_counter()))
            action_samples.append(await refreshed - started)
            # ...confirmed: the download process's answer has arrived and the screen was redrawn
            # after it (the round trip; a refusal would show here as the old state again).
            while engine.pending_actions():
                await asyncio.sleep(0.0005)
            refreshed = loop.create_future()
            app.call_after_refresh(lambda f=refreshed: f.done() or f.set_result(time.perf_counter()))
            confirmed_samples.append(await refreshed - started)
            await asyncio.sleep(0.1)
        both_running = app.downloads.running_count() == 2
        await asyncio.to_thread(app.downloads.shutdown, 2.0)
    shutil.rmtree(cache, ignore_errors=True)
    return samples, action_samples, confirmed_samples, both_running


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--size-mib", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--keys", type=int, default=30)
    parser.add_argument("--latency-files", type=int, default=24, help="files per repo in the latency phase")
    parser.add_argument("--pause-rounds", type=int, default=5)
    parser.add_argument("--pause-rate-mib", type=int, default=40, help="server cap per response (MiB/s)")
    parser.add_argument(
        "--only",
        choices=["throughput", "latency", "pause", "resume"],
        action="extend",
        nargs="+",
        help="run only these phases (`--only pause resume`, or the flag repeated)",
    )
    parser.add_argument(
        "--link-mbit",
        type=int,
        metavar="N",
        help=(
            "throughput phase through a link of N Mbit/s: a token bucket on the loopback interface "
            "(root and Linux `tc`; removed afterwards), so the link, not this box's CPUs, is the limit"
        ),
    )
    parser.add_argument("--resume-size-mib", type=int, default=1024, help="file size of the resume phase")
    parser.add_argument(
        "--resume-paths", default="xet,http", help="paths of the resume phase (comma-separated: xet, http)"
    )
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT / "src"))
    import json

    size = args.size_mib * 2**20
    total = args.files * size + len('{"bench": true}')
    work = Path(tempfile.mkdtemp(prefix="hftui-bench-dl-"))
    spec_path = work / "spec.json"
    spec_path.write_text(json.dumps(spec(args.files, size, args.latency_files)))
    hub = ServerProcess(spec_path)
    phases = set(args.only or ["throughput", "latency", "pause", "resume"])
    try:
        print(
            f"local hub {hub.endpoint}: {REPO} = {args.files} x {args.size_mib} MiB ({total / 2**20:.0f} MiB)"
        )
        for xet in (True, False) if "throughput" in phases else ():
            path = "Xet" if xet else "plain HTTP (HF_HUB_DISABLE_XET=1)"
            link = f" through a {args.link_mbit} Mbit/s link" if args.link_mbit else ""
            print(
                f"throughput over {path}{link} (end to end, fresh cache each run; CPU = user + system "
                f"seconds of the tool and its processes; load = 1-minute load average after the "
                f"run, {os.cpu_count()} CPUs), load {os.getloadavg()[0]:.1f} before:"
            )
            with loopback_link(args.link_mbit):
                runs = throughput(args, hub, total, work, xet=xet)
            medians = {}
            for tool in ("hf", "hftui"):
                wall = statistics.median(r[0] for r in runs[tool])
                cpu = statistics.median(r[1] for r in runs[tool])
                server_cpu = statistics.median(r[2] for r in runs[tool])
                medians[tool] = wall
                print(
                    f"median  {tool + ' download':<15} {wall:6.2f} s  {total / wall / 2**20:7.1f} MiB/s  "
                    f"CPU {cpu:5.2f} s ({cpu / (total / 2**29):4.2f} s per 512 MiB), "
                    f"server CPU {server_cpu:4.2f} s"
                )
            ratio = medians["hf"] / medians["hftui"]
            print(
                f"ratio   hftui / hf throughput over {path} = {ratio:.3f}  (target >= 0.97; "
                f"load {os.getloadavg()[0]:.1f} after: on a busy 2-CPU machine both tools are "
                "CPU-bound and the ratio follows the CPU figures)"
            )

        if "pause" in phases:
            print(f"pause to silence at the server (cap {args.pause_rate_mib} MiB/s per response):")
            for mode, taken in pause_to_silence(args, work).items():
                ms = sorted(t * 1000 for t in taken)
                print(
                    f"  {mode:<4} median {statistics.median(ms):6.1f} ms, max {ms[-1]:6.1f} ms "
                    f"over {len(ms)} pauses (target < 2000 ms)"
                )

        if "resume" in phases:
            print(
                f"bytes re-fetched by a resume after a stop at ~50 % "
                f"(one {args.resume_size_mib} MiB file, {args.pause_rate_mib} MiB/s until the stop):"
            )
            print(
                f"  {'path':<5} {'stop':<8} {'size':>9} {'kept':>9} {'sent after':>11} {'re-fetched':>11}  of kept"
            )
            for mode, stop, size, kept, after, refetched, before, clean, asked in resume_refetch(args, work):
                share = 100 * max(0, refetched) / kept if kept else 0.0
                extra = before + after - clean
                print(
                    f"  {mode:<5} {stop:<8} {size / 2**20:7.1f}Mi {kept / 2**20:7.1f}Mi "
                    f"{after / 2**20:9.1f}Mi {refetched / 2**20:9.2f}Mi  {share:5.1f} % "
                    f"(target <= 10 % or one xorb); sent before the stop {before / 2**20:.1f}Mi, "
                    f"not kept {(before - kept) / 2**20:.1f}Mi; sent in all beyond one download "
                    f"{extra / 2**20:.2f}Mi ({100 * extra / kept if kept else 0:.1f} % of kept, target "
                    f"<= 10 % or 64 MiB); {asked} requests"
                )

        if "latency" in phases:
            # Over Xet (the point), then plain HTTP as the same-load reference: this machine is shared
            # and its load moves the absolute figures more than the transfer path does.
            for xet in (True, False):
                os.environ["HF_HUB_DISABLE_XET"] = "0" if xet else "1"
                path = "Xet" if xet else "plain HTTP"
                load = os.getloadavg()[0]
                print(
                    f"TUI key latency while 2 {path} jobs download at full speed (Queue pane), "
                    f"load average {load:.1f} before:"
                )
                samples, action_samples, confirmed, both = asyncio.run(key_latency(args, hub, work))
                for what, taken in (
                    ("cursor key", samples),
                    ("action key (p) shown", action_samples),
                    ("action key (p) confirmed by the download process", confirmed),
                ):
                    if not taken:
                        print(f"  {what}: no sample (downloads finished too fast; use --size-mib larger)")
                        continue
                    ms = sorted(s * 1000 for s in taken)
                    p95 = ms[min(len(ms) - 1, int(len(ms) * 0.95))]
                    print(
                        f"  {what} round trip: median {statistics.median(ms):.1f} ms, p95 {p95:.1f} ms, "
                        f"max {ms[-1]:.1f} ms over {len(ms)} keys (target p95 <= 100 ms)"
                    )
                print("  both jobs still running" if both else "  jobs finished during the sample")
                print(f"  load average {os.getloadavg()[0]:.1f} after")
            os.environ.pop("HF_HUB_DISABLE_XET", None)
    finally:
        hub.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
