"""Benchmark the Browse pane on a 20,000-file repo: is the UI responsive while the tree loads?

Starts the local Hub server with one model repo of N small files (default 20,000: 10,000 spread over
100 folders of 100 files, 10,000 flat in one folder), runs the app headless (`run_test`) and, while it
opens the repo, computes the preview, expands the big folder page by page, types globs and toggles the root,
measures the event loop's responsiveness with a probe task that asks to wake up every 5 ms. The "stall" is
how late a wake-up came: the longest time the loop could not run anything else.

    python benchmarks/browse.py                 # 20,000 files
    python benchmarks/browse.py --files 50000 --runs 3
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

TMP = Path(tempfile.mkdtemp(prefix="hftui-bench-browse-"))
os.environ.setdefault("HF_HOME", str(TMP / "hf_home"))
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ["HF_TOKEN"] = ""

REPO = "bench/many-files"
CURRENT_PHASE = ""


def spec(n: int) -> dict:
    files: dict[str, object] = {"config.json": "{}", "README.md": "# many files\n"}
    half = n // 2
    for i in range(half):
        files[f"shards/part-{i // 100:03d}/file-{i:05d}.json"] = f'{{"i": {i}}}'
    for i in range(n - half - 2):
        files[f"flat/item-{i:05d}.txt"] = f"item {i}\n"
    return {
        "token": "hf_bench",
        "repos": [{"id": REPO, "type": "model", "branches": {"main": {"files": files}}}],
    }


@contextlib.contextmanager
def hub_endpoint(spec_dict: dict, *, in_process: bool) -> Iterator[str]:
    """The local Hub over `spec_dict`; by default in a subprocess (`hftui hub-serve`), like a real remote Hub."""
    if in_process:
        from hftui.hub import HubServer, load_spec

        with HubServer(load_spec(spec_dict)) as hub:
            yield hub.endpoint
        return
    spec_file = TMP / "spec.json"
    spec_file.write_text(json.dumps(spec_dict))
    proc = subprocess.Popen(
        [sys.executable, "-m", "hftui", "hub-serve", "--spec", str(spec_file)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        endpoint = line.strip().rsplit(" ", 1)[-1]
        if not endpoint.startswith("http"):
            raise RuntimeError(f"hub-serve did not start: {line!r}")
        yield endpoint
    finally:
        proc.terminate()
        proc.wait(timeout=10)


class StallProbe:
    """Wakes up every `interval` s; records how late each wake-up was."""

    def __init__(self, interval: float = 0.005) -> None:
        self.interval = interval
        self.lates: list[float] = []
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            start = time.perf_counter()
            await asyncio.sleep(self.interval)
            self.lates.append(time.perf_counter() - start - self.interval)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    def stop(self) -> None:
        if self._task:
            self._task.cancel()

    @property
    def worst_ms(self) -> float:
        return max(self.lates, default=0.0) * 1000


GC_PAUSES: dict[str, float] = {}
_gc_start = 0.0


def _gc_callback(phase: str, info: dict) -> None:
    global _gc_start
    if phase == "start":
        _gc_start = time.perf_counter()
    elif info.get("generation") == 2 and CURRENT_PHASE:
        key = f"{CURRENT_PHASE}_gc2_ms"
        GC_PAUSES[key] = max(GC_PAUSES.get(key, 0.0), (time.perf_counter() - _gc_start) * 1000)


async def one_run(endpoint: str, cache_dir: str, n: int, *, gc_freeze: bool = False) -> dict[str, float]:
    from hftui.settings import Settings
    from hftui.tui.app import make_app
    from hftui.tui.widgets.repo_tree import MoreNode

    app = make_app(Settings(cache_dir=cache_dir, endpoint=endpoint))
    out: dict[str, float] = {}
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("2")
        await pilot.pause()
        pane = app.browse_pane
        if gc_freeze:
            gc.collect()
            gc.freeze()
        GC_PAUSES.clear()
        gc.callbacks.append(_gc_callback)

        async def measured(name: str, coro_factory) -> None:  # type: ignore[no-untyped-def]
            global CURRENT_PHASE
            CURRENT_PHASE = name
            probe = StallProbe()
            probe.start()
            t0 = time.perf_counter()
            await coro_factory()
            out[f"{name}_s"] = time.perf_counter() - t0
            probe.stop()
            out[f"{name}_stall_ms"] = probe.worst_ms

        async def load() -> None:
            pane.open_repo(REPO)
            while pane.listing is None or pane.last_preview is None:
                await asyncio.sleep(0.01)
            await pilot.pause()

        await measured("load", load)
        assert pane.listing is not None and len(pane.listing.files) == n, "listing incomplete"

        async def expand_big_folder() -> None:
            tree = pane.repo_tree
            node = next(c for c in tree.root.children if getattr(c.data, "path", None) == "flat")
            tree.move_cursor(node)
            node.expand()
            await pilot.pause()
            for _ in range(5):  # five more pages
                more = node.children[-1]
                if not isinstance(more.data, MoreNode):
                    break
                tree.move_cursor(more)
                await pilot.press("enter")
                await pilot.pause()

        await measured("expand_pages", expand_big_folder)

        async def type_globs() -> None:
            await pilot.press("i")
            for ch in "flat/*1*.txt":
                await pilot.press(ch)
            await pilot.press("enter")
            while pane.last_preview is None or pane.last_preview.selection.include != ("flat/*1*.txt",):
                await asyncio.sleep(0.01)
            await pilot.pause()

        await measured("type_globs", type_globs)

        async def toggle_root() -> None:
            pane.action_focus_tree()
            pane.repo_tree.move_cursor(pane.repo_tree.root)
            await pilot.press("space")
            await app.workers.wait_for_complete()
            await pilot.pause()

        await measured("toggle_root", toggle_root)
        gc.callbacks.remove(_gc_callback)
        if gc_freeze:
            gc.unfreeze()
    for phase in ("load", "expand_pages", "type_globs", "toggle_root"):
        out[f"{phase}_gc2_ms"] = GC_PAUSES.get(f"{phase}_gc2_ms", 0.0)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--files", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="run the Hub server in this process (its threads then compete for the GIL with the UI)",
    )
    parser.add_argument(
        "--gc-freeze",
        action="store_true",
        help="gc.freeze() once the app has started (moves its objects out of the collector's reach)",
    )
    parser.add_argument(
        "--switch-interval",
        type=float,
        default=None,
        metavar="S",
        help="sys.setswitchinterval for this run (Python's default is 0.005 s)",
    )
    args = parser.parse_args()
    if args.switch_interval:
        sys.setswitchinterval(args.switch_interval)
    print(f"GIL switch interval {sys.getswitchinterval() * 1000:.1f} ms")

    t0 = time.perf_counter()
    with hub_endpoint(spec(args.files), in_process=args.in_process) as endpoint:
        where = "in process" if args.in_process else "in a subprocess"
        print(
            f"hub with {args.files:,} files ready in {time.perf_counter() - t0:.1f} s at {endpoint} ({where})"
        )
        results = []
        for run in range(args.runs):
            cache = tempfile.mkdtemp(prefix="cache-", dir=TMP)
            r = asyncio.run(one_run(endpoint, cache, args.files, gc_freeze=args.gc_freeze))
            results.append(r)
            print(
                f"run {run + 1}: "
                + ", ".join(f"{k}={v:.3f}" if k.endswith("_s") else f"{k}={v:.0f}" for k, v in r.items())
            )
    keys = results[0].keys()
    print(
        "\nmedian over runs (stall = worst event-loop delay, budget 100 ms; gc2 = longest full garbage collection):"
    )
    for k in keys:
        med = statistics.median(r[k] for r in results)
        worst = max(r[k] for r in results)
        unit = "s" if k.endswith("_s") else "ms"
        print(f"  {k:<24} median {med:8.3f} {unit}   worst {worst:8.3f} {unit}")
    sys.exit(0)


if __name__ == "__main__":
    main()
