"""Benchmark `hftui scan --json` against `du -s` and `huggingface_hub.scan_cache_dir`.

Builds (or reuses) a synthetic warm cache: 2,000 repos x 2 revisions x 25 files = 100,000 snapshot
symlinks. Blobs are sparse files (truncate) with realistic sizes; the second revision of each repo
shares 20 of its 25 blobs with the first; every tenth repo keeps its weights in the cache-wide shared
blob store (some payloads shared between repos). Then it times several runs of each command, end to
end in a subprocess, and prints medians, ratios and each command's peak RSS.

    python benchmarks/scan.py                      # cache in $TMPDIR/hftui-bench-cache
    python benchmarks/scan.py --cache-dir DIR --runs 7 --repos 2000
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
from pathlib import Path

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
    args = parser.parse_args()

    cache = args.cache_dir.resolve()
    build_cache(cache, args.repos)
    py = sys.executable
    commands = {
        "du -s": ["du", "-s", str(cache)],
        "hftui scan --json": [py, "-m", "hftui", "scan", "--json", "--cache-dir", str(cache)]
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


if __name__ == "__main__":
    raise SystemExit(main())
