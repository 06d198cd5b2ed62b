"""What fetching kept Xet files in windows costs the server, and the bound on what is not yet on disk.

Issue 10's throughput: `hftui download` fetches each large Xet file in windows, two at a time,
several files at once. These tests read the outcome at the local Hub's counters: every file
equal to the server's, the bytes and requests a whole download costs against one clean fetch,
and, with the CAS holding back part of a file, how much the client asked for that is not on
its disk (what a stop would lose). The CAS is scaled down 128 times (`use_small_xet`) so that
a few MiB span many xorbs and windows; benchmarks/download.py measures the real sizes.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import test_download
from hubfixtures import MIB
from test_download import assert_cache_matches, wait_for
from test_kept_bytes_xet import SMALL_CHUNK, SMALL_WINDOWS, use_small_xet

from hftui.core.downloads.models import DownloadRequest
from hftui.core.downloads.resume import XET_WINDOWS_IN_FLIGHT
from hftui.hub import HubServer

engine_factory = test_download.engine_factory

REPO = "test/windows"
FILES = 4
SIZE = 3 * MIB + 12_345
"""Each file spans 7 small xorbs and, with windows of 16-240 KiB, a few dozen windows."""


def spec() -> dict:
    files: dict = {f"shard-{i}.bin": {"size": SIZE, "seed": f"w{i}"} for i in range(FILES)}
    files["config.json"] = '{"windows": true}'
    return {"xet": True, "repos": [{"id": REPO, "type": "model", "branches": {"main": {"files": files}}}]}


@pytest.fixture
def small_xorbs(monkeypatch: pytest.MonkeyPatch) -> None:
    use_small_xet(monkeypatch)


def reconstructions(hub: HubServer, xet_hash: str) -> list[tuple[int, int]]:
    """The [start, end) ranges the client asked the CAS to reconstruct for one file (one per window)."""
    out = []
    for r in hub.requests:
        if r.path == f"/v2/reconstructions/{xet_hash}":
            first, _, last = r.headers.get("range", "").removeprefix("bytes=").partition("-")
            out.append((int(first), int(last) + 1))
    return out


@pytest.mark.parametrize("mode", ["xet", "http"])
def test_a_whole_download_costs_the_files_once_plus_one_chunk_per_window(
    mode: str, engine_factory, small_xorbs: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Over Xet: each file's windows tile it exactly (no byte asked twice, none missed), and the
    CAS sends the file's chunks once plus at most the chunk each window is cut in (fetched by
    both neighbours). Over plain HTTP (`HF_HUB_DISABLE_XET=1`) each file is one GET of its
    bytes, no more. Every file equals the server's."""
    if mode == "http":
        monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
    else:
        monkeypatch.delenv("HF_HUB_DISABLE_XET", raising=False)
    with HubServer(spec()) as hub:
        engine = engine_factory(hub)
        job = engine.submit(DownloadRequest(REPO)).job
        assert engine.wait_idle(120) and engine.job(job.id).state == "done", engine.job(job.id)
        assert_cache_matches(tmp_path / "cache", hub, REPO)
        for i in range(FILES):
            xet_hash = hub.xet_hash(REPO, f"shard-{i}.bin")
            sent = hub.bytes_sent(f"/xorbs/{xet_hash}/*", server="cas")
            if mode == "http":
                assert sent == 0
                assert hub.bytes_sent(f"/bridge/{xet_hash}", server="cas") == SIZE
                continue
            windows = sorted(reconstructions(hub, xet_hash))
            assert windows[0][0] == 0 and windows[-1][1] == SIZE, windows
            assert all(a[1] == b[0] for a, b in itertools.pairwise(windows)), windows
            # Windows grow towards the largest size (22-23 for these 3 MiB on an idle CAS), not
            # one per chunk or per smallest window (192): each costs a reconstruction request.
            assert len(windows) <= SIZE // SMALL_WINDOWS[0] // 3, len(windows)
            layout = hub.xet_store.files[xet_hash].layout
            once = layout.serialized_span(0, layout.count)
            assert once <= sent <= once + len(windows) * (SMALL_CHUNK + 8), (sent, once, len(windows))


def test_bytes_asked_for_and_not_on_disk_stay_within_the_windows_in_flight(
    engine_factory, small_xorbs: None, tmp_path: Path
) -> None:
    """The CAS holds back every xorb of one file past its half. Whatever the window scheduling,
    what the client asked the CAS for beyond what is on its disk (the
    kept prefix and ranges its state file records) stays within `XET_WINDOWS_IN_FLIGHT` largest
    windows and the chunk each is cut in: what a stop can lose (issue 11)."""
    from test_kept_bytes_xet import hold_xorbs_from, kept_held

    cache = tmp_path / "cache"
    with HubServer(spec()) as hub:
        xet_hash = hub.xet_hash(REPO, "shard-0.bin")
        held_at = hold_xorbs_from(hub, REPO, "shard-0.bin", SIZE // 2)
        engine = engine_factory(hub, stall_timeout=30.0)
        job = engine.submit(DownloadRequest(REPO, allow_patterns=("shard-0.bin",))).job
        wait_for(lambda: kept_held(cache) >= held_at, timeout=60, what="shard-0.bin kept up to the held xorb")
        # Every window still on the way is blocked at the CAS: none can end, so none starts.
        wait_for(
            lambda: hub.bodies_in_flight(f"/xorbs/{xet_hash}/*", server="cas") >= XET_WINDOWS_IN_FLIGHT,
            timeout=30,
            what="the windows on the way blocked at the held xorbs",
        )
        asked_end = max(end for _, end in reconstructions(hub, xet_hash))
        on_disk = kept_held(cache)
        largest = SMALL_WINDOWS[1] + SMALL_WINDOWS[0] // 2
        assert asked_end - on_disk <= XET_WINDOWS_IN_FLIGHT * largest, (asked_end, on_disk)
        assert on_disk == held_at  # nothing past the held xorb came, nothing before it is missing
        engine.pause(job.id)
        wait_for(lambda: job.id not in engine._threads, timeout=5, what="the job to stop")
        hub.release_holds()
        hub.clear_faults()
        engine.resume(job.id)
        assert engine.wait_idle(60) and engine.job(job.id).state == "done", engine.job(job.id)
        assert_cache_matches(cache, hub, REPO, paths=["shard-0.bin"])
