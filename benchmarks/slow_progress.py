"""How often a Xet job's progress moves on a slow link: a kept Xet file (fetched by hftui in
windows, progress inside a window from the job process's socket counters) next to a Xet file of
the same size that the library downloads (hf_xet's transfer bar), in one run.

Starts the local Hub (Xet on, real xorb and chunk sizes) and caps every response to a rate; the
kept file is kept from 1 MiB on (`HFTUI_XET_KEEP_MIN_BYTES`, 64 MiB on the real Hub) and fetched
in windows of the real smallest size, 2 MiB, two in flight (so each window gets half the rate).
For each rate it downloads both files with the download engine (each job in its own process, as
in the TUI and `hftui download`) and prints, from the engine's progress events: the longest
wait between two moves of the job's bytes (from the CAS's first 64 KiB to the end), moves per second,
the bytes the CAS sent over the file's size, and the ratios kept / library. Then the cost of
one reading of the socket counters.

    python benchmarks/slow_progress.py                    # 0.25, 0.5, 1 MiB/s, 8 s of transfer each
    python benchmarks/slow_progress.py --rates 0.25 --seconds 12

Not a test: numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import itertools
import os
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from hftui.core.downloads.engine import DownloadEngine
from hftui.core.downloads.models import DownloadRequest
from hftui.hub import HubServer
from hftui.settings import Settings

MIB = 1024 * 1024


def spec(size: int) -> dict[str, Any]:
    files = {"kept.bin": {"size": size, "seed": "k"}, "library.bin": {"size": size, "seed": "l"}}
    return {"xet": True, "repos": [{"id": "bench/slow", "branches": {"main": {"files": files}}}]}


def run(hub: HubServer, name: str, keep: bool, cache: Path) -> dict[str, float]:
    """Download one file; the figures of its progress events."""
    if keep:
        os.environ["HFTUI_XET_KEEP_MIN_BYTES"] = str(MIB)
    else:
        os.environ.pop("HFTUI_XET_KEEP_MIN_BYTES", None)
    moves: list[tuple[float, int]] = []
    done = threading.Event()
    engine = DownloadEngine(
        Settings(disk_margin_mb=0), endpoint=hub.endpoint, token=False, default_cache=str(cache)
    )
    before = hub.bytes_sent("/xorbs/*", server="cas")

    def on_event(event: Any) -> None:
        if event.job_id is None:
            return
        job = engine.job(event.job_id)
        if not moves or job.bytes_done > moves[-1][1]:
            moves.append((time.monotonic(), job.bytes_done))
        if job.state in ("done", "failed"):
            done.set()

    first_bytes: list[float] = []

    def watch() -> None:
        """When the CAS has sent the first 64 KiB of the file: the clock starts there (a job
        that shows nothing until its first window completes waits from there)."""
        while not done.is_set():
            if hub.bytes_sent("/xorbs/*", server="cas") - before >= 64 * 1024:
                first_bytes.append(time.monotonic())
                return
            time.sleep(0.01)

    engine.on_event = on_event
    engine.start()
    threading.Thread(target=watch, daemon=True).start()
    try:
        job = engine.submit(DownloadRequest("bench/slow", allow_patterns=(name,))).job
        if not done.wait(600) or engine.job(job.id).state != "done":
            raise SystemExit(f"{name}: {engine.job(job.id)}")
    finally:
        engine.shutdown(2.0)
    # From the first 64 KiB sent on: before that the job may move by a few hundred bytes (the
    # answers to its first requests, which the socket counters see).
    start = first_bytes[0] if first_bytes else moves[0][0]
    flowing = [(start, 0)] + [(t, n) for t, n in moves if t > start]
    waits = [b[0] - a[0] for a, b in itertools.pairwise(flowing)]
    size = flowing[-1][1]
    span = flowing[-1][0] - start
    return {
        "longest_wait": max(waits) if waits else span,
        "moves_per_s": len(waits) / span if span else 0.0,
        "cas_over_size": (hub.bytes_sent("/xorbs/*", server="cas") - before) / size,
    }


def meter_cost(sockets: int = 32, readings: int = 200) -> float:
    """Seconds per `ArrivalMeter.total()` with `sockets` TCP connections open in the process."""
    from hftui.core.downloads.arrivals import ArrivalMeter

    server = socket.create_server(("127.0.0.1", 0))
    pairs = []
    for _ in range(sockets // 2):
        client = socket.create_connection(server.getsockname())
        pairs.append((client, server.accept()[0]))
    meter = ArrivalMeter()
    started = time.perf_counter()
    for _ in range(readings):
        meter.total()
    cost = (time.perf_counter() - started) / readings
    for a, b in pairs:
        a.close()
        b.close()
    server.close()
    return cost


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="0.25,0.5,1", help="MiB/s for the whole file, comma-separated")
    parser.add_argument("--seconds", type=float, default=8.0, help="transfer time per file at its rate")
    args = parser.parse_args()
    os.environ.pop("HF_HUB_DISABLE_XET", None)
    os.environ.pop("HFTUI_XET_WINDOW_BYTES", None)
    print(
        f"{'rate':>10} {'file':>9} | {'longest wait between moves':>27} | {'moves/s':>8} | {'CAS bytes/size':>14}"
    )
    for rate in (float(r) for r in args.rates.split(",")):
        size = int(rate * MIB * args.seconds)
        with HubServer(spec(size)) as hub, tempfile.TemporaryDirectory() as tmp:
            figures = {}
            for name, keep in (("kept.bin", True), ("library.bin", False)):
                # The kept file's two windows share the rate; the library fetches one xorb range.
                hub.set_bandwidth(int(rate * MIB / 2) if keep else int(rate * MIB))
                figures[name] = run(hub, name, keep, Path(tmp) / name)
            for name, f in figures.items():
                print(
                    f"{rate:>6} MiB/s {name:>12} | {f['longest_wait']:>25.2f} s | {f['moves_per_s']:>8.1f} | "
                    f"{f['cas_over_size']:>14.4f}"
                )
            k, lib = figures["kept.bin"], figures["library.bin"]
            print(
                f"{'':>10} kept/library: longest wait {k['longest_wait'] / lib['longest_wait']:.2f}x, "
                f"CAS bytes {k['cas_over_size'] / lib['cas_over_size']:.4f}x"
            )
    print(f"one reading of the socket counters, 32 TCP sockets open: {meter_cost() * 1e6:.0f} µs")


if __name__ == "__main__":
    main()
