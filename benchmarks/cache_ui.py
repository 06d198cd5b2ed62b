"""Benchmark the Cache pane on 2,000- and 10,000-repo caches: first rows, full table, loop lag, peak RSS.

Reuses `benchmarks/scan.py`'s cache builder (N repos x 2 revisions x 25 files, sparse blobs,
some in the shared blob store). Each run starts a fresh `python` process that builds the app the
way `hftui --cache-dir DIR` does and runs it headless; times are measured from just before the
process is spawned (so interpreter start-up and imports count), to:

* first rows: the first frame after the table holds at least one row;
* full table: the scan finished and every repo is a row (no row still waiting to be added);
* worst event-loop stall while scanning (a 10 ms timer's largest gap: how responsive keys stay);
* peak RSS of the app process (the scan's worker processes are children of multiprocessing's
  fork server, so they are not counted; `benchmarks/scan.py` measures the scan on its own);
* the app's CPU time (all its threads) up to the full table: less noisy than wall time on a
  loaded machine;
* helper processes still alive once the table is full (the fork server, its resource tracker).

Each round also runs the headless `hftui scan --json --full` on the same cache, interleaved, and
prints "full table / headless scan" (target <= 1.5x); and `hftui scan --json` without `--full`, which
reuses the repos its saved index says are unchanged (the app's first scan reads them all).
Timed processes read hftui's bytecode, as an installed hftui does (`CHILD_ENV`).

    python benchmarks/cache_ui.py                      # caches in $TMPDIR/hftui-bench-cache-{2000,10000}
    python benchmarks/cache_ui.py --runs 5 --repos 10000 --cache-dir DIR
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import json, os, resource, sys, time
cache_dir, processes = sys.argv[1], int(sys.argv[2])
from hftui.settings import Settings
from hftui.tui.app import make_app

app = make_app(Settings(cache_dir=cache_dir, scan_processes=processes))
out = {"first_rows": None, "full": None, "max_gap": 0.0, "rows": 0}
last = [None]

def tick():
    now = time.time()
    # Gaps between ticks only: the time before the first tick is start-up, not a stall.
    gap = 0.0 if last[0] is None else now - last[0]
    last[0] = now
    pane = app.cache_pane
    if pane.scanning or out["full"] is None:
        out["max_gap"] = max(out["max_gap"], gap)
    rows = pane.table.row_count
    if rows and out["first_rows"] is None:
        out["first_rows"] = now
    if not pane.scanning and not pane.busy and pane.report is not None and out["full"] is None:
        out["full"] = now
        out["rows"] = rows
        usage = resource.getrusage(resource.RUSAGE_SELF)
        out["cpu"] = usage.ru_utime + usage.ru_stime
        app.set_timer(0.5, app.exit)  # the pool's helpers are stopped right after the last rows

def helpers():
    me = str(os.getpid())
    found = 0
    for name in os.listdir("/proc"):
        try:
            with open(f"/proc/{name}/stat") as f:
                found += f.read().rpartition(")")[2].split()[1] == me
        except (OSError, IndexError):
            pass
    return found

app.call_later(lambda: app.set_interval(0.01, tick))
app.run(headless=True, size=(120, 40))
out["helpers"] = helpers()
out["rss_self"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps(out))
"""


def _builder():
    spec = importlib.util.spec_from_file_location("bench_scan", Path(__file__).with_name("scan.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.build_cache


CHILD_ENV = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
"""The environment of every timed process. An installed hftui has its bytecode (pip compiles it at
install time); with PYTHONDONTWRITEBYTECODE set (as on our VMs) a checkout's source would be
compiled again at every start, about 0.15 s of "first rows" that no user pays. Without it, the
warm-up run writes the bytecode and the timed runs read it."""


def headless_scan(cache: Path, *extra: str) -> float:
    start = time.time()
    subprocess.run(
        [sys.executable, "-m", "hftui", "scan", "--json", "--cache-dir", str(cache), *extra],
        env=CHILD_ENV,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        check=True,
    )
    return time.time() - start


def run_once(cache: Path, processes: int) -> dict[str, float]:
    start = time.time()
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(cache), str(processes)],
        # The update check starts once the table is full; offline it reads stored answers only,
        # instead of waiting on a DNS lookup of huggingface.co that never answers here.
        env={**CHILD_ENV, "HF_HUB_OFFLINE": "1"},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-3000:])
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    return {
        "first_rows": out["first_rows"] - start,
        "full": out["full"] - start,
        "max_gap": out["max_gap"],
        "rows": out["rows"],
        "rss_mib": out["rss_self"] / 1024,
        "cpu": out["cpu"],
        "helpers": out["helpers"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cache-dir", type=Path, default=Path(tempfile.gettempdir()) / "hftui-bench-cache")
    parser.add_argument("--repos", type=int, nargs="+", default=[2000, 10000])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--processes", type=int, default=0, help="Settings.scan_processes (0 = auto)")
    args = parser.parse_args()
    for repos in args.repos:
        cache = args.cache_dir.resolve()
        if len(args.repos) > 1:
            cache = cache.with_name(f"{cache.name}-{repos}")
        _builder()(cache, repos)
        run_once(cache, args.processes)  # warm the page and dentry caches
        headless_scan(cache)
        runs, scans, reused = [], [], []
        for _ in range(args.runs):
            runs.append(run_once(cache, args.processes))
            # `--full`: the app's first scan reads every repo, so the headless one does too (a plain
            # `hftui scan` reuses the repos its saved index says are unchanged, docs/scan-reuse.md).
            scans.append(headless_scan(cache, "--full"))
            reused.append(headless_scan(cache))
        med = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
        worst = {key: max(r[key] for r in runs) for key in runs[0]}
        scan = statistics.median(scans)
        print(
            f"cache: {cache} ({repos} repos), {args.runs} runs, load average {os.getloadavg()[0]:.1f}, medians (worst):"
        )
        print(
            f"  first rows        {med['first_rows'] * 1000:7.0f} ms ({worst['first_rows'] * 1000:.0f})   target <= 1000 ms"
        )
        print(
            f"  full table        {med['full'] * 1000:7.0f} ms ({worst['full'] * 1000:.0f})   {int(med['rows'])} rows"
        )
        print(f"  headless scan     {scan * 1000:7.0f} ms   (hftui scan --json --full, interleaved)")
        print(
            f"  headless reuse    {statistics.median(reused) * 1000:7.0f} ms   (hftui scan --json, unchanged repos reused)"
        )
        print(f"  full / headless   {med['full'] / scan:7.2f}x   target <= 1.5x")
        print(f"  app CPU to full   {med['cpu'] * 1000:7.0f} ms ({worst['cpu'] * 1000:.0f})")
        print(
            f"  worst loop stall  {med['max_gap'] * 1000:7.0f} ms ({worst['max_gap'] * 1000:.0f})   while scanning"
        )
        print(f"  peak RSS app      {med['rss_mib']:7.1f} MiB ({worst['rss_mib']:.1f})   target <= 200 MiB")
        print(f"  helpers alive     {int(worst['helpers']):7d}      after the scan (target 0)")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
