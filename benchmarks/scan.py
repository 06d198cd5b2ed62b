"""Benchmark `hftui scan --json` against `du -s` and `huggingface_hub.scan_cache_dir`.

Builds (or reuses) a synthetic warm cache: 2,000 repos x 2 revisions x 25 files = 100,000 snapshot
symlinks. Blobs are sparse files (truncate) with realistic sizes; the second revision of each repo
shares 20 of its 25 blobs with the first; every tenth repo keeps its weights in the cache-wide shared
blob store (some payloads shared between repos). Then it times several runs of each command, end to
end in a subprocess, and prints medians, ratios and each command's peak RSS.

    python benchmarks/scan.py                      # cache in $TMPDIR/hftui-bench-cache
    python benchmarks/scan.py --cache-dir DIR --runs 7 --repos 2000

With --rescan it measures rescans that reuse unchanged repos (docs/scan-reuse.md) instead, on a
cache of each size given (default 2,000 and 10,000 repos, in DIR-2000, DIR-10000): a full scan, a
rescan with nothing changed, a rescan after deleting one repo (moved out of the cache, and back
after the round), and `du -s`, side by side, with the ratios rescan / du -s (target <= 0.2x). Each
is timed in this process (the scan engine: with the index in memory, as the TUI's `r` runs it, and
from the index file, loaded and saved again, as `hftui scan` runs it) and end to end (`hftui scan
--json`, Python's start-up and the JSON output included).

    python benchmarks/scan.py --rescan --sizes 2000,10000 --runs 3
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

FILES_PER_REVISION = 25
CHANGED_PER_REVISION = 5
STORE_EVERY = 10


def _hex(*parts: object, n: int = 40) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:n]


def _file_sizes() -> list[tuple[str, int]]:
    """A transformers-like repo: small configs, a tokenizer, and big weight shards."""
    files = [
        ("config.json", 1_200),
        ("generation_config.json", 180),
        ("tokenizer.json", 2_100_000),
        ("tokenizer_config.json", 3_400),
        ("special_tokens_map.json", 550),
        ("README.md", 9_000),
        ("model.safetensors.index.json", 24_000),
    ]
    for i in range(8):
        files.append((f"model-{i:05d}-of-00008.safetensors", 4_900_000_000 - i * 13_000_000))
    for i in range(FILES_PER_REVISION - len(files)):
        folder = "onnx/quantized" if i % 5 == 4 else "onnx"
        files.append((f"{folder}/model_{i}.onnx_data", 200_000_000 + i * 1_000))
    return files


def _sparse(path: Path, size: int) -> None:
    with open(path, "wb") as f:
        f.truncate(size)


def build_cache(cache: Path, repos: int) -> None:
    spec = {"repos": repos, "files": FILES_PER_REVISION, "layout": 4}
    marker = cache / ".bench-spec.json"
    if marker.exists() and json.loads(marker.read_text()) == spec:
        return
    if cache.exists():
        shutil.rmtree(cache)
    cache.mkdir(parents=True)
    store = cache / "blobs"
    store.mkdir()
    (store / ".huggingface-shared-blobs").write_text("1\n")
    files = _file_sizes()
    started = time.perf_counter()
    for r in range(repos):
        repo = cache / f"models--org{r % 50}--model-{r}"
        blobs = repo / "blobs"
        blobs.mkdir(parents=True)
        (repo / "refs").mkdir()
        in_store = r % STORE_EVERY == 0
        for rev in range(2):
            commit = _hex(r, rev)
            snapshot = repo / "snapshots" / commit
            snapshot.mkdir(parents=True)
            for i, (name, size) in enumerate(files):
                changed = rev == 1 and i < CHANGED_PER_REVISION
                etag = _hex(r, name, changed, n=64 if size > 10_000_000 else 40)
                blob = blobs / etag
                if not blob.exists():
                    if in_store and size > 10_000_000:
                        # weights shared by groups of 4 repos in the store
                        xet = _hex("xet", r // (STORE_EVERY * 4), name, n=64)
                        payload = store / xet[:2] / xet
                        payload.parent.mkdir(exist_ok=True)
                        if not payload.exists():
                            _sparse(payload, size)
                        os.symlink(os.path.relpath(payload, blobs), blob)
                        with open(payload.with_name(xet + ".refs"), "a") as f:
                            f.write(f"{repo.name}/blobs/{etag}\n")
                    else:
                        _sparse(blob, size)
                link = snapshot / name
                link.parent.mkdir(parents=True, exist_ok=True)
                os.symlink(os.path.relpath(blob, link.parent), link)
            (repo / "refs" / ("main" if rev else "v1")).write_text(commit)
    marker.write_text(json.dumps(spec))
    print(f"built {cache} in {time.perf_counter() - started:.1f}s", file=sys.stderr)


def _run(cmd: list[str]) -> tuple[float, int, float]:
    """Wall time, peak RSS (KiB, the largest process of the tree) and CPU seconds (user + system,
    worker processes included) of one run. CPU time says more than wall time on a busy machine."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{cmd} failed with {proc.returncode}")
    return elapsed, usage.ru_maxrss, usage.ru_utime + usage.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cache-dir", type=Path, default=Path(tempfile.gettempdir()) / "hftui-bench-cache")
    parser.add_argument("--repos", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--processes", type=int, default=0, help="passed to hftui scan (0 = auto)")
    parser.add_argument("--rescan", action="store_true", help="measure rescans that reuse unchanged repos")
    parser.add_argument("--sizes", default="2000,10000", help="with --rescan: cache sizes (repos)")
    args = parser.parse_args()
    if args.rescan:
        return rescan_benchmark(args)

    cache = args.cache_dir.resolve()
    build_cache(cache, args.repos)
    py = sys.executable
    commands = {
        "du -s": ["du", "-s", str(cache)],
        # --full: every repo read (without it, a rescan reuses the unchanged ones: see --rescan)
        "hftui scan --json": [py, "-m", "hftui", "scan", "--json", "--full", "--cache-dir", str(cache)]
        + (["--processes", str(args.processes)] if args.processes else []),
        "scan_cache_dir": [
            py,
            "-c",
            f"from huggingface_hub import scan_cache_dir; scan_cache_dir({str(cache)!r})",
        ],
    }
    # Interleaved rounds after a warm-up round: this VM's memory reclaim (DAMON) evicts idle
    # dentries within a minute or so, so N runs of one command and then N of the next would
    # give the later ones a colder cache.
    load_before = f"{os.getloadavg()[0]:.2f}"
    samples: dict[str, list[tuple[float, int, float]]] = {name: [] for name in commands}
    for round_ in range(args.runs + 1):
        for name, cmd in commands.items():
            sample = _run(cmd)
            if round_:
                samples[name].append(sample)
    results = {
        name: (
            statistics.median(t for t, _, _ in runs),
            max(rss for _, rss, _ in runs),
            statistics.median(cpu for _, _, cpu in runs),
        )
        for name, runs in samples.items()
    }
    print(
        f"cache: {cache} ({args.repos} repos x 2 revisions x {FILES_PER_REVISION} files), cpus: {os.cpu_count()}"
    )
    for name, (seconds, rss, cpu) in results.items():
        print(
            f"  {name:<20} {seconds * 1000:8.0f} ms wall  {cpu * 1000:8.0f} ms CPU   peak RSS {rss / 1024:7.1f} MiB"
        )
    du, ours, lib = (results[k][0] for k in ("du -s", "hftui scan --json", "scan_cache_dir"))
    print(f"  load average before/after: {load_before} / {os.getloadavg()[0]:.2f}")
    print(f"  scan_cache_dir / hftui scan = {lib / ours:.1f}x faster (target >= 5x)")
    print(f"  hftui scan / du -s          = {ours / du:.2f}x (target <= 2x)")
    du_cpu, ours_cpu = results["du -s"][2], results["hftui scan --json"][2]
    print(f"  CPU time, hftui scan / du -s = {ours_cpu / du_cpu:.2f}x")
    return 0


def _timed(call: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    result = call()
    return time.perf_counter() - started, result


def _rescan_size(args: argparse.Namespace, repos: int) -> None:
    from hftui.core.cache.reuse import index_path, load_index, reusing_scan
    from hftui.core.cache.scan import scan_cache

    py = sys.executable
    cache = Path(f"{args.cache_dir.resolve()}-{repos}")
    build_cache(cache, repos)
    real = os.path.realpath(cache)
    state = Path(tempfile.mkdtemp(prefix="hftui-bench-state-"))
    env = {**os.environ, "XDG_STATE_HOME": str(state)}
    victim = sorted(p for p in cache.iterdir() if p.name.startswith("models--"))[repos // 2]
    aside = cache.parent / (cache.name + "-aside")
    aside.mkdir(exist_ok=True)
    cli = [py, "-m", "hftui", "scan", "--json", "--no-roots", "--cache-dir", str(cache)]
    if args.processes:
        cli += ["--processes", str(args.processes)]
    samples: dict[str, list[float]] = {}
    said: dict[str, str] = {}

    def sample(name: str, seconds: float) -> None:
        samples.setdefault(name, []).append(seconds)

    def end_to_end(name: str, extra: list[str]) -> None:
        started = time.perf_counter()
        proc = subprocess.run(
            cli + extra, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        sample(name, time.perf_counter() - started)
        if proc.returncode != 0:
            raise SystemExit(f"{cli + extra} failed: {proc.stderr}")
        said[name] = next((line for line in proc.stderr.splitlines() if "reused" in line), "")

    load_before = os.getloadavg()
    for round_ in range(args.runs + 1):
        keep = round_ > 0
        seconds = _run(["du", "-s", str(cache)])[0]
        if keep:
            sample("du -s", seconds)
        seconds, _ = _timed(lambda: scan_cache(cache, processes=args.processes))
        if keep:
            sample("full scan (in process)", seconds)
        # The index: a full read saved (--full), as after a first scan.
        seconds, (_, lines) = _timed(
            lambda: reusing_scan(cache, processes=args.processes, state_dir=state / "hftui", full=True)
        )
        seconds, (_, lines) = _timed(
            lambda: reusing_scan(cache, processes=args.processes, state_dir=state / "hftui")
        )
        if keep:
            sample("rescan, nothing changed (index file)", seconds)
            said["rescan, nothing changed (index file)"] = lines[0] if lines else ""
        # As the TUI's `r` runs it: the index is in memory.
        index = load_index(index_path(state / "hftui", real), real)[0]
        seconds, _ = _timed(partial(scan_cache, cache, processes=args.processes, index=index))
        if keep:
            sample("rescan, nothing changed (index in memory)", seconds)
            said["rescan, nothing changed (index in memory)"] = index.summary()
        end_to_end("hftui scan --full (end to end)", ["--full"])
        end_to_end("hftui scan, nothing changed (end to end)", [])
        index = load_index(index_path(state / "hftui", real), real)[0]
        victim.rename(aside / victim.name)
        try:
            seconds, _ = _timed(partial(scan_cache, cache, processes=args.processes, index=index))
            if keep:
                sample("rescan after deleting one repo (index in memory)", seconds)
                said["rescan after deleting one repo (index in memory)"] = index.summary()
            seconds, (_, lines) = _timed(
                lambda: reusing_scan(cache, processes=args.processes, state_dir=state / "hftui")
            )
            if keep:
                name = "rescan after deleting one repo (index file, saved again)"
                sample(name, seconds)
                said[name] = lines[0] if lines else ""
        finally:
            (aside / victim.name).rename(victim)
        # end to end: delete again (the index above forgot it), from a full index
        reusing_scan(cache, processes=args.processes, state_dir=state / "hftui", full=True)
        victim.rename(aside / victim.name)
        try:
            end_to_end("hftui scan after deleting one repo (end to end)", [])
        finally:
            (aside / victim.name).rename(victim)
    du = statistics.median(samples["du -s"])
    print(f"\n{repos:,} repos x 2 revisions x {FILES_PER_REVISION} files: {cache}")
    print(f"  load average before: {load_before[0]:.2f}, after: {os.getloadavg()[0]:.2f}")
    for name, values in samples.items():
        median = statistics.median(values)
        ratio = "" if name == "du -s" else f"  = {median / du:5.2f}x du -s"
        print(f"  {name:<50} {median * 1000:8.0f} ms{ratio}")
        if said.get(name):
            print(f"  {'':<50} ({said[name]})")
    shutil.rmtree(state, ignore_errors=True)
    aside.rmdir()


def rescan_benchmark(args: argparse.Namespace) -> int:
    print(f"cpus: {os.cpu_count()}, runs: {args.runs} (medians; one warm-up round first)")
    for repos in (int(size) for size in args.sizes.split(",")):
        _rescan_size(args, repos)
    print(
        "\nin process: the scan engine in this (warm) Python process, no start-up, no output; 'index file':"
        "\n  the index loaded from its file first and saved again when something changed (appended), as"
        "\n  `hftui scan` does; 'index in memory': as the TUI's `r` does."
        "\nend to end: `hftui scan --json --no-roots` in a new process: Python's start-up, imports, the"
        "\n  index file, the scan and the JSON of every repo written out (to /dev/null)."
        "\ntarget: a rescan <= 0.2x du -s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
