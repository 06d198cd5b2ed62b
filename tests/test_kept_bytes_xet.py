"""Kept bytes over Xet (issue 11): the same cases as `test_kept_bytes.py` where Xet differs.

The server serves weights.bin over Xet (`"xet": True`); the client fetches it with hf_xet's
public ranged stream in windows, and continues from the kept bytes. The witness is the CAS's
xorb byte counter and its request log (one reconstruction request per window). The CAS is
scaled down 128 times (`use_small_xet`), so that a 4 MiB file spans 8 xorbs.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import test_download
from hubfixtures import MIB
from test_download import assert_cache_matches, wait_for
from test_kept_bytes import (
    REPO,
    SIZE,
    _download_cmd,
    _run,
    _seed_store,
    assert_clean,
    fill_up,
    kept_spec,
    part_size,
    parts,
    pause_at_half,
    resume_with_room_for_the_rest_only,
    settled,
)

import hftui.hub.xet
from hftui.core.downloads import kept as kept_mod
from hftui.core.downloads.models import DownloadRequest
from hftui.hub import Fault, HubServer

engine_factory = test_download.engine_factory
small_fs = test_download.small_fs


RATE = 1_000_000
SMALL_XORB = 512 * 1024
SMALL_CHUNK = 8 * 1024
"""The largest chunk of the scaled-down CAS (`small_xet`)."""
SMALL_WINDOWS = (SMALL_XORB // 32, SMALL_XORB * 15 // 32)
"""The client's Xet windows scaled like the xorb: 2 MiB .. 30 MiB of a 64 MiB xorb."""


def small_xet_env() -> dict[str, str]:
    """What a process downloading from a `small_xet` server needs: Xet files kept from one (small)
    xorb on, as from 64 MiB on the real Hub, and windows scaled like the xorbs."""
    return {
        "HFTUI_XET_KEEP_MIN_BYTES": str(SMALL_XORB),
        "HFTUI_XET_WINDOW_BYTES": f"{SMALL_WINDOWS[0]},{SMALL_WINDOWS[1]}",
    }


def use_small_xet(monkeypatch: pytest.MonkeyPatch) -> None:
    """The local CAS scaled down 128 times (our server's packing, not the client's): xorbs of
    512 KiB and chunks of 1-8 KiB instead of 64 MiB and 16-128 KiB, so a 4 MiB file spans 8
    xorbs and a test can stop it half-way; the client's windows scaled alike (environment, which
    job processes and `hftui download` inherit). benchmarks/download.py measures the real sizes."""
    monkeypatch.setattr(hftui.hub.xet, "MAX_XORB_BYTES", SMALL_XORB)
    monkeypatch.setattr(hftui.hub.xet, "MIN_CHUNK", 1024)
    monkeypatch.setattr(hftui.hub.xet, "MEAN_EXTRA", 3 * 1024)
    monkeypatch.setattr(hftui.hub.xet, "MAX_CHUNK", SMALL_CHUNK)
    for name, value in small_xet_env().items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def small_xorbs(monkeypatch: pytest.MonkeyPatch) -> None:
    use_small_xet(monkeypatch)


def windows_since(hub: HubServer, asked: int = 0) -> int:
    """Reconstruction requests (one per window) since `hub.requests[asked]`."""
    return sum(1 for r in hub.requests[asked:] if r.path.startswith("/v2/reconstructions/"))


def cut_chunks(hub: HubServer, asked: int = 0) -> int:
    """What cutting the file in windows may cost since `hub.requests[asked]`: the chunk a window
    is cut in is fetched by both neighbours (at most one chunk, header included, per window)."""
    return windows_since(hub, asked) * (SMALL_CHUNK + 8)


def hold_past_half(hub: HubServer) -> int:
    """Hold the CAS's answers for every xorb of weights.bin past half of it until the test
    releases them (`pause_at_half` does). Returns where the first of them starts: what will be
    kept, however slow the machine is to stop the download.

    Without it, the Xet tests were flaky: hf_xet fetches several xorb ranges at once and at a
    paced rate they complete together, so the kept prefix jumped from 0 to the whole file and a
    test waiting for "half kept" saw no half (or paused with nothing kept). A test stops the
    download once the prefix has reached the held xorb: a window ending between half and there
    would otherwise let it stop a few KiB short, before the piece up to the held xorb was
    written (seen while trying another window scheduling)."""
    return hold_xorbs_from(hub, REPO, "weights.bin", SIZE // 2)


def hold_xorbs_from(hub: HubServer, repo: str, path: str, offset: int) -> int:
    """Hold the CAS's answers for every xorb of `path` that starts at `offset` or later; returns
    where the first of them starts."""
    xet_hash = hub.xet_hash(repo, path)
    starts = hub.xorb_starts(repo, path)
    assert len({x for x, _ in starts}) == len(starts)  # one run per xorb: a held xorb holds no byte before it
    held = [(x, at) for x, at in starts if at >= offset]
    for xorb, _ in held:
        hub.add_fault(
            Fault("hold", path_glob=f"/xorbs/{xet_hash}/{xorb}", server="cas", times=None, stall_seconds=120)
        )
    return held[0][1]


def kill_9_of_hftui_download_past_half(hub: HubServer, cache: Path) -> tuple[dict[str, str], int]:
    """Run `hftui download` over Xet until half of weights.bin is kept, `kill -9` it, and wait for
    the CAS to go quiet. Returns the environment to relaunch with and the bytes kept."""
    held_at = hold_past_half(hub)  # where it stops: no pacing needed
    env = {**os.environ, "HF_ENDPOINT": hub.endpoint, "HF_TOKEN": ""}
    env.pop("HF_HUB_DISABLE_XET", None)
    proc = subprocess.Popen(_download_cmd(cache), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    try:
        wait_for(
            lambda: kept_prefix(cache) >= held_at, timeout=60, what="weights.bin kept up to the held xorb"
        )
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(10)
    # `hftui download`'s job process ends when it sees its parent gone: until the CAS has
    # stopped sending to it, its bytes would count as the relaunch's.
    hub.release_holds()
    hub.clear_faults()
    settled(hub)
    kept = kept_prefix(cache)
    assert kept == held_at
    return env, kept


def kept_prefix(cache: Path) -> int:
    """The prefix of weights.bin the state file records as kept (over Xet, the `.part` may hold
    ranges past it, which a resume does not trust)."""
    for entry in kept_mod.iter_kept(cache):
        if entry.meta is not None and entry.meta.path == "weights.bin":
            return min(entry.meta.kept, entry.part_bytes)
    return 0


def xet_spec() -> dict:
    spec = kept_spec()
    spec["xet"] = True
    return spec


def xorb_bytes(hub: HubServer) -> int:
    return hub.bytes_sent("/xorbs/*", server="cas")


def window_ranges(hub: HubServer, asked: int = 0) -> list[str]:
    """The byte ranges of the file the client asked the CAS for since `hub.requests[asked]`."""
    return [
        r.headers.get("range", "") for r in hub.requests[asked:] if r.path.startswith("/v2/reconstructions/")
    ]


def window_starts(hub: HubServer, asked: int = 0) -> list[int]:
    """Where the windows asked for since `hub.requests[asked]` start (in the order they reached
    the CAS: two windows in flight may arrive in either order)."""
    return [int(r.removeprefix("bytes=").split("-")[0]) for r in window_ranges(hub, asked)]


def test_the_file_travels_over_xet_into_the_kept_store(
    engine_factory, small_xorbs: None, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    with HubServer(xet_spec()) as hub:
        engine = engine_factory(hub)
        job = engine.submit(DownloadRequest(REPO)).job
        assert engine.wait_idle(30) and engine.job(job.id).state == "done"
        assert hub.bytes_sent("*/resolve/*/weights.bin", server="hub") == 0  # not over HTTP
        assert hub.bytes_sent("/bridge/*") == 0
        # Chunk headers (8 bytes a chunk) and the chunk at each window's cut, nothing more.
        assert windows_since(hub) >= SIZE // SMALL_WINDOWS[1]
        assert SIZE <= xorb_bytes(hub) <= SIZE * 1.01 + cut_chunks(hub)
        assert_cache_matches(cache, hub, REPO)
        assert_clean(cache)


def test_pause_at_half_then_resume_over_xet(engine_factory, small_xorbs: None, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    with HubServer(xet_spec()) as hub:
        held_at = hold_past_half(hub)  # where it stops: no pacing needed
        engine = engine_factory(hub, stall_timeout=30.0)  # the hold is not a stall
        job = engine.submit(DownloadRequest(REPO)).job
        kept = pause_at_half(engine, job.id, cache, hub, kept=kept_prefix, at=held_at)
        assert kept == held_at and part_size(cache) == kept  # cut back to the prefix: no hole kept
        paused = engine.job(job.id)
        assert paused.state == "paused" and paused.bytes_done >= kept
        before, asked = xorb_bytes(hub), len(hub.requests)
        hub.set_bandwidth(None)
        engine.resume(job.id)
        assert engine.wait_idle(60) and engine.job(job.id).state == "done"
        # The resume asked the CAS for the file from the kept offset on ...
        assert min(window_starts(hub, asked)) == kept, window_ranges(hub, asked)
        # ... and fetched the rest, plus at most 10 % of the kept bytes or one xorb again.
        resumed = xorb_bytes(hub) - before
        assert resumed <= refetch_allowed(kept) + cut_chunks(hub, asked), (kept, resumed)
        assert_cache_matches(cache, hub, REPO)
        assert_clean(cache)


def test_reset_on_the_cas_mid_file_ends_with_the_right_blob(
    engine_factory, small_xorbs: None, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    with HubServer(xet_spec()) as hub:
        hub.set_bandwidth(RATE)
        engine = engine_factory(hub, retries=3)
        job = engine.submit(DownloadRequest(REPO)).job
        wait_for(lambda: part_size(cache) >= MIB, what="1 MiB kept")
        # The next xorb request is reset half-way.
        reset = Fault("reset_after", path_glob="/xorbs/*", after_bytes=100_000, server="cas")
        hub.add_fault(reset)
        assert engine.wait_idle(60) and engine.job(job.id).state == "done", engine.job(job.id)
        assert_cache_matches(cache, hub, REPO)
        assert_clean(cache)
        # The reset happened, and the retry asked the CAS for the file from what was kept, not
        # from byte 0: only the first attempt asked for a window at 0.
        assert reset.times == 0
        assert window_starts(hub).count(0) == 1, window_ranges(hub)


def test_corrupted_kept_bytes_over_xet_are_fetched_again(
    engine_factory, small_xorbs: None, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    with HubServer(xet_spec()) as hub:
        held_at = hold_past_half(hub)  # where it stops: no pacing needed
        engine = engine_factory(hub, stall_timeout=30.0)  # the hold is not a stall
        job = engine.submit(DownloadRequest(REPO)).job
        kept = pause_at_half(engine, job.id, cache, hub, kept=kept_prefix, at=held_at)
        assert kept == held_at
        with open(parts(cache)[0], "r+b") as handle:
            handle.seek(kept // 3)
            handle.write(b"\x00\xff" * 1000)
        hub.set_bandwidth(None)
        notes: list[str] = []
        engine.on_event = lambda e: notes.append(engine.job(job.id).message)
        engine.resume(job.id)
        assert engine.wait_idle(30) and engine.job(job.id).state == "done"
        assert any("SHA-256" in n for n in notes), notes
        assert_cache_matches(cache, hub, REPO)
        assert_clean(cache)


def test_kill_9_at_half_then_relaunch_over_xet(small_xorbs: None, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    with HubServer(xet_spec()) as hub:
        env, kept = kill_9_of_hftui_download_past_half(hub, cache)
        before, asked = xorb_bytes(hub), len(hub.requests)
        hub.set_bandwidth(None)
        rerun = subprocess.run(_download_cmd(cache), capture_output=True, text=True, timeout=90, env=env)
        assert rerun.returncode == 0, rerun.stderr
        # The rest, and at most 10 % of the kept bytes or one xorb again (whichever is larger).
        assert xorb_bytes(hub) - before <= refetch_allowed(kept) + cut_chunks(hub, asked)
        assert_cache_matches(cache, hub, REPO)
        assert_clean(cache)


# -- bad kept-bytes input over Xet (the HTTP cases are in test_kept_bytes.py) -------------------


@pytest.mark.parametrize("case", ["larger", "truncated", "missing", "unreadable-state"])
def test_bad_kept_bytes_over_xet(case: str, engine_factory, small_xorbs: None, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    with HubServer(xet_spec()) as hub:
        data = hub.read_file(REPO, "weights.bin")
        start = 0
        if case == "larger":
            _seed_store(cache, hub, part=b"\0" * (SIZE + 10))
            note = "larger than the file"
        elif case == "truncated":
            _seed_store(cache, hub, part=data[:MIB], kept=3 * MIB)  # the state says 3 MiB, 1 MiB is there
            note, start = "shorter than recorded", MIB
        elif case == "missing":
            _seed_store(cache, hub, part=None, kept=2 * MIB)
            note = "are gone"
        else:
            store = _seed_store(cache, hub, part=data[:MIB])
            store.meta_path(hub.files(REPO)["weights.bin"].sha256).write_text("{not json")
            note = "state unreadable"
        job, notes = _run(engine_factory, hub, cache)
        assert job.state == "done", job
        assert any(note in n for n in notes), notes
        if start:  # resumed from the bytes that are there
            assert min(window_starts(hub)) == start, window_ranges(hub)
        # What was missing, plus at most the xorb holding the first missing byte again.
        allowed = (SIZE - start) * 1.01 + (SMALL_XORB * 1.01 if start else 0) + cut_chunks(hub)
        assert xorb_bytes(hub) <= allowed
        assert_cache_matches(cache, hub, REPO)
        assert_clean(cache)


@pytest.mark.root
@pytest.mark.parametrize("xet", [False, True], ids=["plain", "xet"])
def test_full_disk_while_resuming_keeps_a_valid_prefix_and_spares_other_jobs(
    xet: bool, small_fs: Path, small_xorbs: None, tmp_path: Path
) -> None:
    from hftui.core.downloads.engine import DownloadEngine
    from hftui.settings import Settings

    cache, other_cache = small_fs / "cache", tmp_path / "other"
    with HubServer(xet_spec() if xet else kept_spec()) as hub:
        measure = kept_prefix if xet else part_size

        def sent() -> int:
            return xorb_bytes(hub) if xet else hub.bytes_sent("*/weights.bin")

        engine = DownloadEngine(
            Settings(disk_margin_mb=0, stall_timeout=30.0, retries=1), endpoint=hub.endpoint, token=False
        )
        engine.start()
        try:
            if xet:
                held_at = hold_past_half(hub)
            else:
                hub.add_fault(
                    Fault(
                        "hold", path_glob="*/weights.bin", after_bytes=SIZE // 2 + 100_000, stall_seconds=120
                    )
                )
            job = engine.submit(DownloadRequest(REPO, cache_dir=str(cache))).job
            kept = pause_at_half(engine, job.id, cache, hub, kept=measure)
            # The resume is held again a little further on; the disk fills meanwhile.
            if xet:
                hold_xorbs_from(hub, REPO, "weights.bin", held_at + 1)
            else:
                hub.add_fault(
                    Fault("hold", path_glob="*/weights.bin", after_bytes=300_000, stall_seconds=120)
                )
            engine.resume(job.id)
            wait_for(lambda: measure(cache) > kept, timeout=60, what="the resume to write")
            fill_up(small_fs / "filler")
            other = engine.submit(DownloadRequest("acme/big-file", cache_dir=str(other_cache))).job
            hub.release_holds()
            assert engine.wait_idle(60)
            failed = engine.job(job.id)
            assert failed.state == "failed" and failed.error is not None, failed
            assert failed.error.startswith("disk full") and str(small_fs) in failed.error, failed.error
            assert engine.job(other.id).state == "done"  # another job is unaffected
            # What is kept is a true prefix of the file, at least what the pause kept: nothing corrupt.
            hub.clear_faults()
            settled(hub)
            prefix = measure(cache)
            data = parts(cache)[0].read_bytes()[:prefix]
            assert prefix >= kept and data == hub.read_file(REPO, "weights.bin")[:prefix]
            blobs = cache / "models--test--kept" / "blobs"
            assert not (blobs / hub.files(REPO)["weights.bin"].sha256).exists()
            # Room again: the retry completes from the kept bytes.
            (small_fs / "filler").unlink()
            before, asked = sent(), len(hub.requests)
            engine.retry(job.id)
            assert engine.wait_idle(60) and engine.job(job.id).state == "done", engine.job(job.id)
            allowed = (
                (SIZE - prefix) * 1.01 + SMALL_XORB * 1.01 + cut_chunks(hub, asked)
                if xet
                else (SIZE - prefix) + 0.1 * prefix
            )
            assert sent() - before <= allowed, (prefix, sent() - before)
            assert_cache_matches(cache, hub, REPO)
            assert_clean(cache)
        finally:
            engine.shutdown(2.0)


def test_a_xet_file_below_one_xorb_is_left_to_the_library_and_fetched_whole_again(
    engine_factory, tmp_path: Path
) -> None:
    """Below one xorb (64 MiB) a Xet file is not kept: the library's own Xet download fetches
    it, and a stop loses what arrived. A resume then fetches the whole file again, which is less
    than one xorb: within the issue's bound ("10 % of what it had, or one xorb, whichever is
    larger"). No environment override here: the real thresholds and the local CAS's 64 MiB xorbs."""
    from hftui.core.downloads.resume import XET_KEEP_MIN_BYTES

    assert os.environ.get("HFTUI_XET_KEEP_MIN_BYTES") is None
    assert SIZE < XET_KEEP_MIN_BYTES == hftui.hub.xet.MAX_XORB_BYTES
    cache = tmp_path / "cache"
    with HubServer(xet_spec()) as hub:
        hub.set_bandwidth(RATE)
        engine = engine_factory(hub)
        job = engine.submit(DownloadRequest(REPO)).job
        wait_for(lambda: xorb_bytes(hub) >= SIZE // 2, timeout=60, what="half of weights.bin sent")
        engine.pause(job.id)
        wait_for(lambda: job.id not in engine._threads, timeout=5, what="the job to stop")
        settled(hub)
        assert parts(cache) == []  # nothing kept: the library's download
        before = xorb_bytes(hub)
        hub.set_bandwidth(None)
        engine.resume(job.id)
        assert engine.wait_idle(60) and engine.job(job.id).state == "done"
        again = xorb_bytes(hub) - before
        assert SIZE <= again <= SIZE * 1.01 < XET_KEEP_MIN_BYTES, again  # the whole file: < one xorb
        assert_cache_matches(cache, hub, REPO)
        assert_clean(cache)


# -- the other stops of test_kept_bytes.py, over Xet ---------------------------------------------


def refetch_allowed(kept: int) -> float:
    """The rest, plus at most 10 % of the kept bytes or one xorb again (chunk headers: 1 %)."""
    return (SIZE - kept) * 1.01 + max(0.1 * kept, SMALL_XORB * 1.01)


def test_a_file_changed_on_the_hub_discards_the_old_kept_bytes_over_xet(
    engine_factory, small_xorbs: None, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    hub = HubServer(xet_spec()).start()
    port = hub.port
    try:
        hold_past_half(hub)
        engine = engine_factory(hub, stall_timeout=30.0)
        job = engine.submit(DownloadRequest(REPO)).job
        assert pause_at_half(engine, job.id, cache, hub, kept=kept_prefix) > 0
        old = parts(cache)[0]
    finally:
        hub.stop()
    changed = kept_spec("v2")
    changed["xet"] = True
    with HubServer(changed, port=port) as hub2:
        notes: list[str] = []
        engine.on_event = lambda e: notes.append(engine.job(job.id).message)
        engine.resume(job.id)
        assert engine.wait_idle(60) and engine.job(job.id).state == "done"
        assert any("changed on the Hub" in n for n in notes), notes
        assert not old.exists()
        assert SIZE <= xorb_bytes(hub2) <= SIZE * 1.01 + cut_chunks(hub2)  # the new file, from byte 0
        assert_cache_matches(cache, hub2, REPO)
        assert_clean(cache)
        assert not (cache / "models--test--kept" / "blobs" / old.name.removesuffix(".part")).exists()


def test_cancel_at_half_then_retry_over_xet(engine_factory, small_xorbs: None, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    with HubServer(xet_spec()) as hub:
        held_at = hold_past_half(hub)
        engine = engine_factory(hub, stall_timeout=30.0)
        job = engine.submit(DownloadRequest(REPO)).job
        wait_for(
            lambda: kept_prefix(cache) >= held_at, timeout=60, what="weights.bin kept up to the held xorb"
        )
        engine.cancel(job.id)
        wait_for(lambda: job.id not in engine._threads, timeout=5, what="the job to stop")
        hub.release_holds()
        hub.clear_faults()
        settled(hub)
        kept = kept_prefix(cache)
        assert kept == held_at
        cancelled = engine.job(job.id)
        assert cancelled.state == "cancelled" and cancelled.kept_summary is not None
        before, asked = xorb_bytes(hub), len(hub.requests)
        engine.retry(job.id)
        assert engine.wait_idle(60) and engine.job(job.id).state == "done"
        assert xorb_bytes(hub) - before <= refetch_allowed(kept) + cut_chunks(hub, asked)
        assert_cache_matches(cache, hub, REPO)
        assert_clean(cache)


def test_kill_9_of_the_job_process_at_half_over_xet(
    engine_factory, small_xorbs: None, tmp_path: Path
) -> None:
    from test_kept_bytes import _job_processes

    cache = tmp_path / "cache"
    with HubServer(xet_spec()) as hub:
        held_at = hold_past_half(hub)
        engine = engine_factory(hub, stall_timeout=30.0)
        job = engine.submit(DownloadRequest(REPO)).job
        wait_for(
            lambda: kept_prefix(cache) >= held_at, timeout=60, what="weights.bin kept up to the held xorb"
        )
        for pid in _job_processes():  # the job's process (and a warm spare, if any)
            os.kill(pid, signal.SIGKILL)
        hub.release_holds()
        hub.clear_faults()
        settled(hub)
        kept = kept_prefix(cache)
        assert kept == held_at
        before, asked = xorb_bytes(hub), len(hub.requests)
        assert engine.wait_idle(60) and engine.job(job.id).state == "done", engine.job(job.id)
        assert min(window_starts(hub, asked)) == kept, window_ranges(hub, asked)
        assert xorb_bytes(hub) - before <= refetch_allowed(kept) + cut_chunks(hub, asked)
        assert_cache_matches(cache, hub, REPO)
        assert_clean(cache)


def test_two_processes_resuming_the_same_job_over_xet(small_xorbs: None, tmp_path: Path) -> None:
    import json

    cache = tmp_path / "cache"
    with HubServer(xet_spec()) as hub:
        env, kept = kill_9_of_hftui_download_past_half(hub, cache)
        before, asked = xorb_bytes(hub), len(hub.requests)
        # Two hftui processes resume at once: one writes the blob under the library's lock, the
        # other waits for it and links it.
        runs = [
            subprocess.Popen(
                _download_cmd(cache), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
            )
            for _ in range(2)
        ]
        for run in runs:
            out, err = run.communicate(timeout=90)
            assert run.returncode == 0, err
            assert json.loads(out.strip().splitlines()[-1])["done"] == 1
        assert xorb_bytes(hub) - before <= refetch_allowed(kept) + cut_chunks(hub, asked)
        assert_cache_matches(cache, hub, REPO)
        assert_clean(cache)


def test_ranges_completed_ahead_of_the_prefix_are_kept_and_only_the_gaps_are_fetched(
    engine_factory, small_xorbs: None, tmp_path: Path
) -> None:
    """Windows complete out of order: a stop keeps those written in full past the prefix
    (recorded in the state file), and the resume fetches only the gaps."""
    cache = tmp_path / "cache"
    with HubServer(xet_spec()) as hub:
        xet_hash = hub.xet_hash(REPO, "weights.bin")
        xorb, held_from = next((x, at) for x, at in hub.xorb_starts(REPO, "weights.bin") if at >= SIZE // 2)
        # Only the first request for the first xorb past half is held: the window after it, and
        # every later one, complete ahead of the prefix.
        hub.add_fault(Fault("hold", path_glob=f"/xorbs/{xet_hash}/{xorb}", server="cas", stall_seconds=120))
        engine = engine_factory(hub, stall_timeout=30.0)
        job = engine.submit(DownloadRequest(REPO)).job
        store = kept_mod.KeptStore(cache, REPO, "model")
        etag = hub.files(REPO)["weights.bin"].sha256

        def state() -> kept_mod.KeptMeta | None:
            try:
                return store.read_meta(etag)
            except (OSError, ValueError):
                return None

        def ahead_kept() -> bool:
            meta = state()
            return meta is not None and meta.ranges != [] and meta.ranges[-1][1] >= held_from + SMALL_XORB

        wait_for(ahead_kept, timeout=60, what="the prefix held and ranges past it")
        kept = pause_at_half(engine, job.id, cache, hub, kept=kept_prefix)
        meta = state()
        assert meta is not None and meta.ranges, meta
        assert held_from <= kept == meta.kept < meta.ranges[0][0], meta
        ranges, held = meta.ranges, meta.held
        paused = engine.job(job.id)
        assert paused.state == "paused" and paused.bytes_done >= held, (paused, held)
        before, asked = xorb_bytes(hub), len(hub.requests)
        engine.resume(job.id)
        assert engine.wait_idle(60) and engine.job(job.id).state == "done"
        # The resume asked for the first gap, from the prefix to the first kept range ...
        gaps = [[int(n) for n in g.removeprefix("bytes=").split("-")] for g in window_ranges(hub, asked)]
        assert min(start for start, _ in gaps) == kept, gaps
        # (no window reaches into a kept range)
        assert all(last < start or first >= end for first, last in gaps for start, end in ranges), gaps
        # ... and fetched only the gaps, not the ranges it had kept (chunk headers: 1 %; a chunk
        # at each cut may come twice).
        missing = SIZE - held
        allowed = missing * 1.01 + (SMALL_CHUNK + 8) * (len(ranges) + 1) + cut_chunks(hub, asked)
        assert xorb_bytes(hub) - before <= allowed
        assert xorb_bytes(hub) - before < SIZE - kept  # less than the rest of the file
        assert_cache_matches(cache, hub, REPO)
        assert_clean(cache)


# -- windows: progress while bytes arrive, and what a stop loses (issues 10 and 11) ---------------


def kept_held(cache: Path) -> int:
    """What a resume of weights.bin keeps: the prefix and the ranges recorded past it."""
    return sum(e.kept_bytes for e in kept_mod.iter_kept(cache) if e.meta is not None)


def clean_bytes(hub: HubServer) -> int:
    """What the CAS sends for weights.bin in one clean download: its chunks and their headers."""
    layout = hub.xet_store.files[hub.xet_hash(REPO, "weights.bin")].layout
    return layout.serialized_span(0, layout.count)


@pytest.mark.parametrize("stop", ["pause", "kill -9 of the job process", "kill -9 of hftui download"])
def test_a_stop_mid_transfer_loses_at_most_the_windows_in_flight(
    stop: str, engine_factory, small_xorbs: None, tmp_path: Path
) -> None:
    """Issue 11's measure, with bytes in flight at the stop (no hold: a paced transfer stopped
    once the CAS has sent half the file, as a user pausing at 50 %): everything the CAS sent for
    the file, before and after the stop, is the file once plus at most 10 % of what was kept at
    the stop or one xorb, whichever is larger (and the chunk each window is cut in). One stream
    per gap failed this: hf_xet fetches all the file's xorb ranges at once and hands each over
    only once complete, so what was in flight at the stop was lost (measured with it: 0.62 to
    1.10 MB more than one download, where 0.54 MB was allowed; with windows: 0.44 to 0.52 MB,
    0.75 MB allowed, the windows being more requests and so more cut chunks)."""
    from test_kept_bytes import _job_processes

    cache = tmp_path / "cache"
    with HubServer(xet_spec()) as hub:
        hub.set_bandwidth(RATE)
        if stop == "kill -9 of hftui download":
            env = {**os.environ, "HF_ENDPOINT": hub.endpoint, "HF_TOKEN": ""}
            env.pop("HF_HUB_DISABLE_XET", None)
            proc = subprocess.Popen(
                _download_cmd(cache), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env
            )
            try:
                wait_for(lambda: xorb_bytes(hub) >= SIZE // 2, timeout=60, what="half of weights.bin sent")
                proc.send_signal(signal.SIGKILL)
            finally:
                proc.wait(10)
        else:
            engine = engine_factory(hub, stall_timeout=30.0)
            job = engine.submit(DownloadRequest(REPO)).job
            wait_for(lambda: xorb_bytes(hub) >= SIZE // 2, timeout=60, what="half of weights.bin sent")
            if stop == "pause":
                engine.pause(job.id)
            else:
                for pid in _job_processes():  # the job's process (and a warm spare, if any)
                    os.kill(pid, signal.SIGKILL)
        # (a killed `hftui download`'s job process ends once it sees its parent gone)
        settled(hub)
        if stop == "pause":
            wait_for(lambda: job.id not in engine._threads, timeout=5, what="the job to stop")
        kept = kept_held(cache)
        assert 0 < kept < SIZE, kept
        hub.set_bandwidth(None)
        if stop == "kill -9 of hftui download":
            rerun = subprocess.run(_download_cmd(cache), capture_output=True, text=True, timeout=90, env=env)
            assert rerun.returncode == 0, rerun.stderr
        else:
            if stop == "pause":
                engine.resume(job.id)
            assert engine.wait_idle(60) and engine.job(job.id).state == "done", engine.job(job.id)
        extra = xorb_bytes(hub) - clean_bytes(hub)
        allowed = max(0.1 * kept, SMALL_XORB) + cut_chunks(hub)
        print(f"{stop}: kept {kept} of {SIZE}, sent {extra} more than one download ({allowed:.0f} allowed)")
        assert extra <= allowed, (kept, extra)
        assert_cache_matches(cache, hub, REPO)
        assert_clean(cache)


PROGRESS_WINDOWS = (SMALL_XORB // 32, SMALL_XORB // 4)
"""Windows of at most a quarter xorb for the progress test: a xorb's worth of the file then
comes in at least 4 pieces, and the test can tell them from one piece per xorb."""


@pytest.mark.parametrize("mode", ["xet", "http"])
def test_progress_moves_several_times_within_every_xorb(
    mode: str, engine_factory, small_xorbs: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 10: bytes, speed and ETA move while bytes arrive, not a xorb at a time. The measure
    is per byte, not per second (no wall clock in tests): with windows of at most a quarter xorb,
    two in flight, the job's progress takes several distinct values per xorb of the file, each
    with a speed and an ETA. (One stream per gap gave one value per xorb at best.) How often
    that is in seconds follows from the window sizing, `test_windows_finish_twice_a_second...`."""
    monkeypatch.setenv("HFTUI_XET_WINDOW_BYTES", f"{PROGRESS_WINDOWS[0]},{PROGRESS_WINDOWS[1]}")
    if mode == "http":
        monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
    else:
        monkeypatch.delenv("HF_HUB_DISABLE_XET", raising=False)
    with HubServer(xet_spec()) as hub:
        # Slow enough for the job's report throttle (one report per 0.1 s at most) to leave room
        # for 2 values per xorb: about 4 s for the file (over Xet two windows share the time).
        hub.set_bandwidth(RATE // 2 if mode == "xet" else RATE)
        engine = engine_factory(hub)
        job = engine.submit(DownloadRequest(REPO)).job
        seen: list[tuple[int, float, float | None]] = []

        def on_event(event: Any) -> None:
            if event.job_id == job.id:
                now = engine.job(job.id)
                seen.append((now.bytes_done, now.speed, now.eta))

        engine.on_event = on_event
        assert engine.wait_idle(60) and engine.job(job.id).state == "done"
        moving = [s for s in seen if 0 < s[0] < SIZE]
        xorbs = len(hub.xorb_starts(REPO, "weights.bin"))
        if mode == "xet":
            assert windows_since(hub) >= SIZE // PROGRESS_WINDOWS[1]
        else:
            assert xorb_bytes(hub) == 0  # the plain bytes, through the CAS's bridge
        # Two windows finishing together may be reported as one step: 2 per xorb, not 4.
        assert len({s[0] for s in moving}) >= 2 * xorbs, sorted({s[0] for s in moving})
        assert all(s[1] > 0 and s[2] is not None and s[2] < 3600 for s in moving[3:]), moving[:10]
        assert_cache_matches(tmp_path / "cache", hub, REPO)


def test_json_and_plain_progress_of_a_kept_xet_file(small_xorbs: None, tmp_path: Path) -> None:
    """`hftui download --json` and its plain lines report a kept Xet file's bytes, speed and ETA
    while it moves (each at most every 0.8 s: several while this one takes a few seconds)."""
    with HubServer(xet_spec()) as hub:
        hub.set_bandwidth(RATE // 2)
        env = {**os.environ, "HF_ENDPOINT": hub.endpoint, "HF_TOKEN": ""}
        env.pop("HF_HUB_DISABLE_XET", None)
        runs = {
            fmt: subprocess.Popen(
                [sys.executable, "-m", "hftui", "download", REPO, "--cache-dir", str(tmp_path / fmt)]
                + (["--json"] if fmt == "json" else []),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=env,
            )
            for fmt in ("json", "plain")
        }
        out = {}
        for fmt, run in runs.items():
            out[fmt], err = run.communicate(timeout=120)
            assert run.returncode == 0, err
        assert windows_since(hub) >= 2 * SIZE // SMALL_WINDOWS[1]  # both went through the windows
        events = [json.loads(line) for line in out["json"].splitlines()]
        progress = [e for e in events if e["event"] == "progress" and 0 < e["bytes_done"] < SIZE]
        assert len({e["bytes_done"] for e in progress}) >= 3, progress
        assert all(e["speed"] > 0 and e["eta"] is not None and e["eta"] < 600 for e in progress[1:]), progress
        lines = [line for line in out["plain"].splitlines() if line.startswith(REPO) and "running" in line]
        assert len(lines) >= 3, out["plain"]
        assert any("/s" in line and "ETA -" not in line for line in lines), lines
        for fmt in runs:
            assert_cache_matches(tmp_path / fmt, hub, REPO)


def test_disk_space_hold_counts_only_what_is_left_to_fetch_over_xet(
    small_fs: Path, small_xorbs: None, engine_factory
) -> None:
    """Over Xet what is kept is the prefix and the ranges recorded past it: the disk-space hold
    asks for room for the rest only (the HTTP case is in test_kept_bytes.py)."""
    from hftui.core.downloads.engine import DownloadEngine
    from hftui.settings import Settings

    cache = small_fs / "cache"
    with HubServer(xet_spec()) as hub:
        hub.set_bandwidth(RATE)
        engine = DownloadEngine(
            Settings(disk_margin_mb=1, stall_timeout=5.0), endpoint=hub.endpoint, token=False
        )
        engine.start()
        try:
            job = engine.submit(DownloadRequest(REPO, cache_dir=str(cache))).job
            wait_for(lambda: kept_held(cache) >= 3 * MIB, what="3 MiB kept")
            engine.pause(job.id)
            wait_for(lambda: job.id not in engine._threads, timeout=5, what="the job to stop")
            settled(hub)
            hub.set_bandwidth(None)
            resume_with_room_for_the_rest_only(engine, job.id, hub, small_fs, kept=kept_held(cache))
        finally:
            engine.shutdown(2.0)


def simulate_windows(rate: float, *, per_stream: float | None = None, latency: float = 0.05) -> list[float]:
    """When windows finish on a simulated link of `rate` bytes/s shared by the windows in flight
    (each at most `per_stream`), each window first waiting `latency` for its reconstruction: the
    launch rule of `_Prefetch._xet_windows` (two in flight, the next cut when one ends) over the
    real `WindowSizer`, in simulated time. 40 s of a file that does not end."""
    from hftui.core.downloads.resume import (
        XET_WINDOW_MAX_BYTES,
        XET_WINDOW_MIN_BYTES,
        XET_WINDOWS_IN_FLIGHT,
        WindowSizer,
    )

    sizer = WindowSizer(XET_WINDOW_MIN_BYTES, XET_WINDOW_MAX_BYTES)
    step, now, offset = 0.002, 0.0, 0
    flying: list[list[float]] = []  # [opened, size, bytes left]
    finished: list[float] = []
    while now < 40.0:
        while len(flying) < XET_WINDOWS_IN_FLIGHT:
            end = sizer.cut(offset, 1 << 50)
            flying.append([now, end - offset, end - offset])
            offset = end
        moving = [w for w in flying if now - w[0] >= latency]
        share = rate / len(moving) if moving else 0.0
        for window in moving:
            window[2] -= min(share, per_stream or share) * step
        now += step
        for window in [w for w in flying if w[2] <= 0]:
            flying.remove(window)
            sizer.finished(int(window[1]), now - window[0])
            finished.append(now)
            assert window[1] <= XET_WINDOW_MAX_BYTES + XET_WINDOW_MIN_BYTES // 2
    return finished


@pytest.mark.parametrize("rate_mib", [2.5, 4, 8, 40, 200, 1000])
def test_windows_finish_at_least_once_a_second_from_2_5_mib_s(rate_mib: float) -> None:
    """Issue 10 asks for progress at least once a second while bytes arrive. A kept Xet file's
    progress moves when a window finishes; the windows are sized to take about a second at the
    rate the last one had, two in flight, the first half the size of the second so they finish
    at different times. In simulated time (no wall clock): after a start-up second, the longest
    wait between two finished windows stays under a second (about half a second from 4 MiB/s
    on), on a shared link and on one whose connections are each capped (as the local Hub's
    throttle does)."""
    for per_stream in (None, rate_mib * MIB / 2):
        finished = simulate_windows(rate_mib * MIB, per_stream=per_stream)
        waits = [b - a for a, b in itertools.pairwise(finished) if a > 1.0]
        assert max(waits) < 1.0, (rate_mib, per_stream, max(waits))


@pytest.mark.parametrize("rate_mib", [1, 2])
def test_below_2_5_mib_s_windows_finish_every_2_mib(rate_mib: int) -> None:
    """Below 2.5 MiB/s the windows keep their smallest size, 2 MiB (each costs a chunk fetched
    twice, ~64 KiB: smaller ones would cost more than 3 % extra bytes), so they finish every
    2 MiB, not every second: every 2 s at 1 MiB/s. The progress in between comes from the job's
    socket counters (`test_slow_link_progress.py`)."""
    finished = simulate_windows(rate_mib * MIB)
    waits = [b - a for a, b in itertools.pairwise(finished) if a > 1.0]
    assert max(waits) < 2.2 / rate_mib, max(waits)  # 2 MiB at the rate, and the latency


def test_windows_in_flight_stay_within_one_xorb() -> None:
    """What a stop can lose: the windows in flight, each at most the largest window plus the rest
    it may absorb (half the smallest) and the chunk it is cut in, together within one 64 MiB xorb."""
    from hftui.core.downloads.resume import (
        XET_WINDOW_MAX_BYTES,
        XET_WINDOW_MIN_BYTES,
        XET_WINDOWS_IN_FLIGHT,
        WindowSizer,
    )

    largest = XET_WINDOW_MAX_BYTES + XET_WINDOW_MIN_BYTES // 2 + 128 * 1024 + 8
    assert XET_WINDOWS_IN_FLIGHT * largest <= 64 * MIB
    sizer = WindowSizer(XET_WINDOW_MIN_BYTES, XET_WINDOW_MAX_BYTES)
    assert sizer.cut(0, 100 * MIB) == XET_WINDOW_MIN_BYTES // 2  # the first: half the smallest
    sizer.finished(XET_WINDOW_MIN_BYTES, 0.001)  # a burst: at most 4 times the last one
    assert sizer.size == 4 * XET_WINDOW_MIN_BYTES
    sizer.finished(XET_WINDOW_MAX_BYTES, 0.001)
    assert sizer.size == XET_WINDOW_MAX_BYTES
    assert sizer.cut(0, XET_WINDOW_MAX_BYTES + 1000) == XET_WINDOW_MAX_BYTES + 1000  # a small rest joins
    sizer.finished(XET_WINDOW_MAX_BYTES, 60.0)  # a slow window: the next is the smallest
    assert sizer.size == XET_WINDOW_MIN_BYTES
