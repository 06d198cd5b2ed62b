"""Benchmark bulk deletions in the Cache pane: prune the detached revisions of N repos, or
(`--delete`) mark every repo and delete them all.

Builds a small synthetic cache (N repos, each with a `main` revision and a detached one, three
tiny files each, sharing one blob), opens the app headless the way `hftui --cache-dir DIR` does,
waits for the scan, then presses `p`, picks "Detached revisions", and `y` in the confirmation
(`--delete`: marks every repo, waits for the marks' plan, presses `d` and `y`). It times:

* dialog: from `p` (or `d`) to the confirmation on screen (the plan and its figures);
* files gone: from `y`, the last detached snapshot (or repo folder) left the disk (checked from a
  side thread that looks past the repos already done, so it does not compete with the deletion);
* table done: no row says "detached" (no row left) and no deletion or row update is running;
* notified: the "Freed ..." notification is on screen (a Toast is mounted);
* worst event-loop stall from `y` to table done (a 10 ms timer's largest gap: how long keys and
  redraws waited).

Then it prints every size side by side with the seconds per repo, and each size's per-repo time
against the smallest's (linear = 1.0x).

`--fold` times, without the UI, what turns a bulk deletion's rescans into the report a table shows:
the repos rescanned one by one and folded in one by one (what the pane did before, on its event loop)
against `rescan_repos` + `CacheReport.with_repos` (one store listing, one rebuild), side by side.

`--baseline REF` runs the same steps on the code of a git ref (e.g. `main` before a change) side
by side in the same run, on a fresh copy of the same cache, and prints the ratios.

    python benchmarks/cache_bulk.py                      # 250, 1,000 and 5,000 repos
    python benchmarks/cache_bulk.py --delete --repos 1000 10000
    python benchmarks/cache_bulk.py --repos 250 1000 --baseline 0d8cd9f --timeout 120
    python benchmarks/cache_bulk.py --fold --repos 250 1000 5000 --one-by-one-up-to 1000
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import asyncio, json, os, sys, threading, time
cache_dir, limit, mode = sys.argv[1], float(sys.argv[2]), sys.argv[3]
from hftui.settings import Settings
from hftui.tui.app import make_app

app = make_app(Settings(cache_dir=cache_dir))
out = {"dialog": None, "files_gone": None, "table_done": None, "notified": None, "max_gap": 0.0}
# The app checks every repo for updates once its scan ends (here no Hub is reachable: each repo's
# request fails, slowly, so the check still runs during the deletion, as it would on a slow link).
# `--offline` runs the app with HF_HUB_OFFLINE=1 (every repo answers "offline" at once) and waits for
# that check to end before `p`/`d`: the deletion alone.
after_check = sys.argv[4] == "1"
repos = sorted(n for n in os.listdir(cache_dir) if "--" in n)


def done_on_disk(name):
    path = os.path.join(cache_dir, name)
    if mode == "delete":
        return not os.path.lexists(path)
    return len(os.listdir(os.path.join(path, "snapshots"))) <= 1


async def until(check, limit):
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > limit:
            raise SystemExit("timed out")
        await asyncio.sleep(0.01)


async def main():
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        pane = app.cache_pane
        controller = pane.controller
        await until(lambda: not pane.scanning and pane.report is not None and not pane.busy, limit)
        if after_check:
            await until(lambda: pane.updates._monitor is not None and not pane.updates._monitor.checking, limit)
        await pilot.pause()
        asked = time.monotonic()
        if mode == "delete":
            from hftui.core.cache.cleanup import Mark

            controller.add_marks(Mark.repo(r.repo_type, r.repo_id) for r in controller.records.values())
            await until(lambda: controller.plan_state == "ready", limit)
            asked = time.monotonic()
            await pilot.press("d")
        else:
            await pilot.press("p")
            await until(lambda: type(app.screen).__name__ == "PruneScreen", limit)
            await pilot.pause()
            await pilot.press("enter")
        await until(lambda: type(app.screen).__name__ == "DeleteConfirmScreen", limit)
        out["dialog"] = time.monotonic() - asked
        await pilot.pause()
        last = [time.monotonic()]
        stop = threading.Event()

        def tick():
            now = time.monotonic()
            if out["table_done"] is None:
                out["max_gap"] = max(out["max_gap"], now - last[0])
            last[0] = now

        def watch_disk():
            # Repos go in name order: look past those already done, then wait for the next one.
            # (Listing every repo every few ms took the GIL from the deletion being timed.)
            at = 0
            while not stop.is_set() and at < len(repos):
                if done_on_disk(repos[at]):
                    at += 1
                else:
                    time.sleep(0.02)
            out["files_gone"] = time.monotonic() - t0

        timer = app.set_interval(0.01, tick)
        t0 = time.monotonic()
        last[0] = t0
        threading.Thread(target=watch_disk, daemon=True).start()
        monitor = pane.updates._monitor
        out["checking"] = bool(monitor is not None and monitor.checking)
        await pilot.press("y")

        def table_done():
            if pane.deleting or pane.busy:
                return False
            table = pane.table
            if mode == "delete":
                return table.row_count == 0
            return not any("detached" in str(table.get_cell(n, "status")) for n in table.rows)

        start = time.monotonic()
        while out["table_done"] is None or out["notified"] is None:
            if time.monotonic() - start > limit:
                break
            if out["table_done"] is None and table_done():
                out["table_done"] = time.monotonic() - t0
            if out["notified"] is None and any("Freed" in str(t.render()) for t in app.query("Toast")):
                out["notified"] = time.monotonic() - t0
            await asyncio.sleep(0.01)
        stop.set()
        timer.stop()
        out["rows"] = pane.table.row_count
        # Report now and skip the teardown: a run that timed out still has work queued.
        print(json.dumps(out), flush=True)
        os._exit(0)


asyncio.run(main())
"""


def _hex(*parts: object) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:40]


def build_cache(cache: Path, repos: int) -> None:
    """N repos, each with a `main` revision and a detached one (every commit hash distinct); every
    tenth repo keeps its weights in the cache-wide shared blob store, as `benchmarks/scan.py` does."""
    if cache.exists():
        shutil.rmtree(cache)
    cache.mkdir(parents=True)
    store = cache / "blobs"
    store.mkdir()
    (store / ".huggingface-shared-blobs").write_text("1\n")
    for r in range(repos):
        repo = cache / f"models--org{r % 50}--model-{r}"
        (repo / "blobs").mkdir(parents=True)
        (repo / "refs").mkdir()
        shared, own, old = _hex(r, "shared"), _hex(r, "own"), _hex(r, "old")
        for etag, size in ((shared, 1200), (own, 5000), (old, 7000)):
            blob = repo / "blobs" / etag
            if r % 10 == 0 and etag != shared:
                digest = hashlib.sha256(f"{r}{etag}".encode()).hexdigest()
                payload = store / digest[:2] / digest
                payload.parent.mkdir(exist_ok=True)
                with open(payload, "wb") as f:
                    f.truncate(size)
                with open(payload.with_name(digest + ".refs"), "a") as f:
                    f.write(f"{repo.name}/blobs/{etag}\n")
                os.symlink(os.path.relpath(payload, blob.parent), blob)
                continue
            with open(blob, "wb") as f:
                f.truncate(size)
        main = _hex(r, "main")
        for commit, weights in ((main, own), (_hex(r, "detached"), old)):
            snapshot = repo / "snapshots" / commit
            snapshot.mkdir(parents=True)
            os.symlink(f"../../blobs/{shared}", snapshot / "config.json")
            os.symlink(f"../../blobs/{weights}", snapshot / "model.safetensors")
        (repo / "refs" / "main").write_text(main)


def run_once(
    cache: Path, timeout: float, pythonpath: str | None, mode: str, after_check: bool
) -> dict[str, float | None]:
    env = dict(os.environ)
    if after_check:
        env["HF_HUB_OFFLINE"] = "1"
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(cache), str(timeout), mode, "1" if after_check else "0"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout + 600,
        env=env,
    )
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-3000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def fold(cache: Path, one_by_one: bool) -> None:
    import time

    from hftui.core.cache.scan import rescan_repo, rescan_repos, scan_cache

    report = scan_cache(cache, processes=1)
    names = [record.name for record in report.repos]
    line = f"  {len(names)} repos:"
    if one_by_one:
        start = time.perf_counter()
        records = [rescan_repo(cache, name) for name in names]
        rescanned = time.perf_counter() - start
        start = time.perf_counter()
        before = report
        for record in records:
            before = before.with_repo(record)
        folded = time.perf_counter() - start
        line += f" one by one: rescan {rescanned:.2f} s + fold {folded:.2f} s;"
    start = time.perf_counter()
    records = rescan_repos(cache, names)
    rescanned = time.perf_counter() - start
    start = time.perf_counter()
    after = report.with_repos(records)
    folded = time.perf_counter() - start
    line += f" rescan_repos {rescanned:.2f} s + with_repos {folded:.3f} s"
    if one_by_one:
        assert after.size_on_disk == before.size_on_disk
    print(line, flush=True)


def _baseline_tree(ref: str, into: Path) -> str:
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref, "src"], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return str(into / "src")


def _fmt(value: float | None, timeout: float) -> str:
    return f"> {timeout:.0f} s" if value is None else f"{value:.2f} s"


def _side_by_side(
    rows: list[tuple[int, str, float, dict[str, float | None]]], what: str, timeout: float
) -> None:
    """One line per size and version: the figures, the seconds per repo of each, and each size's
    per-repo time (dialog + table done) against the smallest size's of the same version."""
    print(f"\n{what} N repos, side by side (ms per repo; x: against the smallest N, linear = 1.0x):")
    print(
        f"  {'version':>12} {'repos':>6} {'load':>5} {'dialog':>16} {'files gone':>16} "
        f"{'table done':>16} {'notified':>9} {'stall':>6} {'total x':>8}"
    )
    first: dict[str, float] = {}

    def cell(value: float | None, repos: int) -> str:
        if value is None:
            return f"> {timeout:.0f} s".rjust(16)
        return f"{value:.2f} s {value / repos * 1000:5.2f} ms".rjust(16)

    for repos, label, load, out in rows:
        total = (out["dialog"] or 0.0) + (out["table_done"] or 0.0)
        ratio = ""
        if out["dialog"] is not None and out["table_done"] is not None:
            first.setdefault(label, total / repos)
            ratio = f"{total / repos / first[label]:.2f}x"
        notified = _fmt(out["notified"], timeout)
        print(
            f"  {label:>12} {repos:>6} {load:>5.1f} {cell(out['dialog'], repos)} "
            f"{cell(out['files_gone'], repos)} {cell(out['table_done'], repos)} {notified:>9} {out['max_gap']:>5.2f}s {ratio:>8}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repos", type=int, nargs="+", default=[250, 1000, 5000])
    parser.add_argument(
        "--offline",
        dest="after_check",
        action="store_true",
        help="HF_HUB_OFFLINE=1: the update check ends at once, and the deletion starts after it",
    )
    parser.add_argument(
        "--delete", action="store_true", help="mark every repo and delete them all (instead of a prune)"
    )
    parser.add_argument("--baseline", help="git ref to compare with, run side by side")
    parser.add_argument(
        "--timeout", type=float, default=120.0, help="give up waiting after this many seconds"
    )
    parser.add_argument("--baseline-only", action="store_true", help="run only the baseline")
    parser.add_argument(
        "--fold", action="store_true", help="time rescans and the report rebuild only (no UI)"
    )
    parser.add_argument(
        "--one-by-one-up-to", type=int, default=1000, help="--fold: skip the quadratic way above"
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="hftui-bulk-"))
    if args.fold:
        print(f"load average {os.getloadavg()[0]:.1f}; rescans folded into the report:")
        try:
            for repos in args.repos:
                build_cache(work / "hub", repos)
                fold(work / "hub", repos <= args.one_by_one_up_to)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return 0
    mode = "delete" if args.delete else "prune"
    what = "delete every repo of" if args.delete else "prune the detached revisions of"
    try:
        versions: list[tuple[str, str | None]] = [("this tree", str(ROOT / "src"))]
        if args.baseline:
            versions.insert(0, (args.baseline, _baseline_tree(args.baseline, work)))
            if args.baseline_only:
                versions.pop()
        rows: list[tuple[int, str, float, dict[str, float | None]]] = []
        for repos in args.repos:
            results = {}
            for label, path in versions:
                cache = work / "hub"
                build_cache(cache, repos)
                results[label] = run_once(cache, args.timeout, path, mode, args.after_check)
                rows.append((repos, label, os.getloadavg()[0], results[label]))
            print(f"{what} {repos} repos (load average {os.getloadavg()[0]:.1f}):")
            for label, out in results.items():
                print(
                    f"  {label:>12}: dialog {_fmt(out['dialog'], args.timeout)}, "
                    f"files gone {_fmt(out['files_gone'], args.timeout)}, "
                    f"table done {_fmt(out['table_done'], args.timeout)}, "
                    f"notified {_fmt(out['notified'], args.timeout)}, "
                    f"worst loop stall {out['max_gap']:.2f} s"
                    + (" (update check still running at y)" if out.get("checking") else "")
                )
            if len(results) == 2:
                (_, before), (_, after) = results.items()
                if before["table_done"] and after["table_done"]:
                    print(f"  table done: {before['table_done'] / after['table_done']:.1f}x faster")
            sys.stdout.flush()
        _side_by_side(rows, what, args.timeout)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
