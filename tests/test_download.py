"""The download engine against the local Hub server, with injected faults. Asserts on the cache on disk."""

from __future__ import annotations

import hashlib
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import mounted_tmpfs, wait_for
from hubfixtures import BIG, GATED, MIB, MODEL, hub_server, small_spec  # noqa: F401

from hftui.core.downloads.engine import DownloadEngine, EngineEvent
from hftui.core.downloads.models import DownloadRequest
from hftui.hub import Fault, HubServer
from hftui.settings import Settings

SLOW = "test/slow"
OTHER = "test/other"


def timing_spec(*, xet: bool = False) -> dict[str, Any]:
    spec = small_spec(xet=xet)
    spec["repos"] += [
        {
            "id": SLOW,
            "type": "model",
            "branches": {"main": {"files": {"small.json": '{"a": 1}', "weights.bin": {"size": 3 * MIB}}}},
        },
        {"id": OTHER, "type": "model", "branches": {"main": {"files": {"other.bin": {"size": 3 * MIB}}}}},
    ]
    return spec


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def incomplete_files(root: Path) -> list[Path]:
    return sorted(root.rglob("*.incomplete"))


def assert_cache_matches(
    cache: Path, hub: HubServer, repo_id: str, repo_type: str = "model", paths=None
) -> None:
    folder = cache / f"{repo_type}s--{repo_id.replace('/', '--')}"
    commit = hub.commit(repo_id, "main", repo_type)
    snapshot = folder / "snapshots" / commit
    files = hub.files(repo_id, "main", repo_type)
    for path in paths or files:
        local = snapshot / path
        assert local.is_file(), f"{path} missing from the snapshot"
        assert sha256(local) == files[path].sha256, f"{path} differs from the server"
    assert incomplete_files(cache) == []


@pytest.fixture(params=[False, True], ids=["plain", "xet"], name="xet")
def xet_param(request: pytest.FixtureRequest) -> bool:
    """Run the test with the server's LFS files on plain LFS, then served over Xet (the real Hub's
    main path: reconstructions and xorb ranges from the CAS, through hf_xet)."""
    return bool(request.param)


def body_fault(hub: HubServer, repo_id: str, path: str, kind: Any, **kwargs: Any) -> Fault:
    """A fault on the requests that carry this file's bytes: its GET (plain) or its xorb ranges (Xet)."""
    if hub.xet and hub.is_xet(repo_id, path):
        return Fault(kind, path_glob=f"/xorbs/{hub.xet_hash(repo_id, path)}/*", server="cas", **kwargs)
    return Fault(kind, path_glob=f"*/{path}", **kwargs)


def body_gets(hub: HubServer, repo_id: str, path: str) -> list[Any]:
    """The requests that carried this file's bytes."""
    if hub.xet and hub.is_xet(repo_id, path):
        prefix = f"/xorbs/{hub.xet_hash(repo_id, path)}/"
        return [r for r in hub.requests if r.server == "cas" and r.path.startswith(prefix)]
    return gets(hub, f"/{path}")


def gets(hub: HubServer, suffix: str) -> list[Any]:
    return [r for r in hub.requests if r.method == "GET" and r.path.endswith(suffix)]


@pytest.fixture
def engine_factory(tmp_path: Path) -> Iterator[Callable[..., DownloadEngine]]:
    engines: list[DownloadEngine] = []

    def make(hub: HubServer, **settings: Any) -> DownloadEngine:
        events: list[EngineEvent] = []
        engine = DownloadEngine(
            Settings(**{"disk_margin_mb": 0, "retries": 2, "stall_timeout": 5.0, **settings}),
            endpoint=hub.endpoint,
            token=False,
            default_cache=str(tmp_path / "cache"),
            on_event=events.append,
        )
        engine.events = events  # type: ignore[attr-defined]
        engines.append(engine)
        engine.start()
        return engine

    yield make
    for engine in engines:
        engine.shutdown(2.0)


def test_downloads_several_repos_and_every_blob_matches(xet: bool, engine_factory, tmp_path: Path) -> None:
    with HubServer(small_spec(xet=xet)) as hub:
        several_repos(hub, engine_factory, tmp_path)


def several_repos(hub: HubServer, engine_factory: Any, tmp_path: Path) -> None:
    engine = engine_factory(hub)
    cache = tmp_path / "cache"
    model = engine.submit(DownloadRequest(MODEL)).job
    data = engine.submit(
        DownloadRequest("acme/tiny-corpus", repo_type="dataset", allow_patterns=("data/*",))
    ).job
    assert not engine.submit(DownloadRequest(MODEL)).accepted  # duplicate while queued/running
    assert engine.wait_idle(30)
    jobs = {j.id: j for j in engine.jobs()}
    assert jobs[model.id].state == "done" and jobs[model.id].files_done == jobs[model.id].files_total == 6
    assert jobs[data.id].state == "done" and jobs[data.id].files_total == 3
    assert (
        jobs[model.id].bytes_done
        == jobs[model.id].bytes_total
        == sum(f.size for f in hub.files(MODEL).values())
    )
    assert_cache_matches(cache, hub, MODEL)
    data_files = [p for p in hub.files("acme/tiny-corpus", "main", "dataset") if p.startswith("data/")]
    assert_cache_matches(cache, hub, "acme/tiny-corpus", "dataset", data_files)
    finished = {repo for e in engine.events for repo in e.finished}  # type: ignore[attr-defined]
    assert finished == {("model", MODEL), ("dataset", "acme/tiny-corpus")}
    # The job header that maps requests to jobs never leaves the process.
    assert not [r for r in hub.requests if "x-hftui-job" in r.headers]
    # Progress events are throttled: far fewer than one per network read.
    assert len(engine.events) < 200  # type: ignore[attr-defined]


def test_cancel_and_pause_stop_traffic_within_2s_while_other_job_goes_on(
    xet: bool, engine_factory, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    with HubServer(timing_spec(xet=xet)) as hub:
        hub.set_bandwidth(400_000)
        engine = engine_factory(hub, max_jobs=3)
        slow = engine.submit(DownloadRequest(SLOW)).job
        other = engine.submit(DownloadRequest(OTHER)).job
        big = engine.submit(DownloadRequest(BIG)).job
        wait_for(
            lambda: all(j.bytes_done > 100_000 for j in engine.jobs()), what="all three jobs moving bytes"
        )
        wait_for(lambda: engine.job(slow.id).files_done >= 1, what="small.json done")

        engine.cancel(big.id)
        engine.pause(slow.id)
        # Traffic stops within 2 s: a budget for the event, not a measurement.
        wait_for(
            lambda: not ({big.id, slow.id} & set(engine.running_ids())),
            timeout=2.0,
            what="threads to stop within 2 s",
        )
        assert engine.job(big.id).state == "cancelled" and engine.job(slow.id).state == "paused"

        # No request for the stopped repos afterwards; the other job keeps going.
        seen = len(hub.requests)
        bodies = len(body_gets(hub, BIG, "big.bin")), len(body_gets(hub, SLOW, "weights.bin"))
        before = engine.job(other.id).bytes_done
        wait_for(lambda: engine.job(other.id).bytes_done > before + 200_000, what="other job to progress")
        later = [r for r in hub.requests[seen:] if BIG in r.path or SLOW in r.path]
        assert later == []
        assert len(body_gets(hub, BIG, "big.bin")) == bodies[0]  # no new xorb request either
        assert len(body_gets(hub, SLOW, "weights.bin")) == bodies[1]
        assert engine.job(other.id).state == "running"
        # Nothing half-written is left behind (the library unlinks its temp file).
        assert incomplete_files(cache / f"models--{BIG.replace('/', '--')}") == []
        assert incomplete_files(cache / f"models--{SLOW.replace('/', '--')}") == []

        # Resume at full speed: finished files are not fetched again.
        hub.set_bandwidth(None)
        engine.resume(slow.id)
        assert engine.wait_idle(30)
        assert engine.job(slow.id).state == "done" and engine.job(other.id).state == "done"
        assert len(gets(hub, "/small.json")) == 1
        assert_cache_matches(cache, hub, SLOW)
        assert_cache_matches(cache, hub, OTHER)


def test_clean_close_is_resumed_from_the_byte_it_stopped_at(engine_factory, tmp_path: Path) -> None:
    # The bytes that arrived before the close are kept (hftui.core.downloads.resume): the retry
    # asks for the rest only, and the server sends the file exactly once in all.
    with HubServer(small_spec()) as hub:
        hub.add_fault(Fault("close_after", path_glob="*/big.bin", after_bytes=11 * MIB))
        engine = engine_factory(hub)
        job = engine.submit(DownloadRequest(BIG)).job
        assert engine.wait_idle(60)
        assert engine.job(job.id).state == "done"
        ranges = [r.headers.get("range") for r in gets(hub, "/big.bin")]
        assert ranges == [None, f"bytes={11 * MIB}-"]
        assert hub.bytes_sent("*/big.bin") == 12 * MIB
        assert_cache_matches(tmp_path / "cache", hub, BIG)


def test_connection_reset_is_retried_by_hftui(xet: bool, engine_factory, tmp_path: Path) -> None:
    with HubServer(small_spec(xet=xet)) as hub:
        hub.add_fault(body_fault(hub, BIG, "big.bin", "reset_after", after_bytes=2 * MIB))
        engine = engine_factory(hub)
        job = engine.submit(DownloadRequest(BIG)).job
        messages: list[str] = []
        engine.on_event = lambda e: messages.append(engine.job(job.id).message)
        assert engine.wait_idle(60)
        assert engine.job(job.id).state == "done"
        assert len(body_gets(hub, BIG, "big.bin")) >= 2
        assert any("connection reset" in m and "retry 1/2" in m for m in messages), messages
        assert_cache_matches(tmp_path / "cache", hub, BIG)


def test_5xx_on_some_files_is_retried(xet: bool, engine_factory, tmp_path: Path) -> None:
    with HubServer(small_spec(xet=xet)) as hub:
        hub.add_fault(body_fault(hub, MODEL, "model.safetensors", "status", status=503))
        hub.add_fault(body_fault(hub, MODEL, "onnx/model.onnx", "status", status=500))
        engine = engine_factory(hub)
        job = engine.submit(DownloadRequest(MODEL)).job
        assert engine.wait_idle(60)
        assert engine.job(job.id).state == "done"
        statuses = [r.status for r in body_gets(hub, MODEL, "model.safetensors")]
        assert statuses[0] == 503 and statuses[-1] in (200, 206), statuses
        assert_cache_matches(tmp_path / "cache", hub, MODEL)


def test_permanent_failures_beside_a_success(xet: bool, engine_factory, tmp_path: Path) -> None:
    with HubServer(small_spec(xet=xet)) as hub:
        hub.add_fault(body_fault(hub, BIG, "big.bin", "status", status=500, times=None))
        engine = engine_factory(hub, retries=1, max_jobs=5)
        broken = engine.submit(DownloadRequest(BIG)).job
        missing = engine.submit(DownloadRequest("acme/does-not-exist")).job
        no_rev = engine.submit(DownloadRequest(MODEL, revision="no-such-branch")).job
        gated = engine.submit(DownloadRequest(GATED)).job
        good = engine.submit(DownloadRequest(MODEL)).job
        assert engine.wait_idle(60)
        state = {j.id: j for j in engine.jobs()}
        assert state[good.id].state == "done"
        assert state[broken.id].state == "failed"
        where = " on the Xet storage" if xet else ""
        assert state[broken.id].error == f"server error 500{where} (after 1 retry)"
        assert state[missing.id].error.startswith("repo not found: model acme/does-not-exist")
        assert state[no_rev.id].error.startswith("revision not found: no-such-branch")
        assert "gated" in state[gated.id].error and "HF_TOKEN" in state[gated.id].error
        assert hub.token not in state[gated.id].error
        assert_cache_matches(tmp_path / "cache", hub, MODEL)


def test_network_down_fails_with_reason(engine_factory, tmp_path: Path) -> None:
    with HubServer(small_spec()) as hub:
        endpoint = hub.endpoint
    engine = engine_factory(hub, retries=0)
    engine.endpoint = endpoint  # server stopped: connection refused
    job = engine.submit(DownloadRequest(MODEL)).job
    assert engine.wait_idle(30)
    assert engine.job(job.id).error.startswith("network down")


def test_disk_space_hold_by_margin_setting(xet: bool, engine_factory, tmp_path: Path) -> None:
    with HubServer(small_spec(xet=xet)) as hub:
        disk_space_hold_by_margin(hub, engine_factory, tmp_path)


def disk_space_hold_by_margin(hub: HubServer, engine_factory: Any, tmp_path: Path) -> None:
    engine = engine_factory(hub, disk_margin_mb=10**9)  # a margin no disk has
    job = engine.submit(DownloadRequest(BIG)).job
    assert engine.wait_idle(30)
    held = engine.job(job.id)
    assert held.state == "paused" and held.held
    assert held.message.startswith("held: needs ") and "more free space" in held.message
    assert not (tmp_path / "cache" / "models--acme--big-file" / "blobs").exists() or not any(
        (tmp_path / "cache" / "models--acme--big-file" / "blobs").iterdir()
    )
    engine.settings = engine.settings.replace(disk_margin_mb=0)
    engine.resume(job.id)
    assert engine.wait_idle(30)
    assert engine.job(job.id).state == "done"


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    with mounted_tmpfs(tmp_path / "small", "20m") as point:
        yield point


@pytest.mark.root
def test_disk_space_hold_on_a_small_filesystem(hub: HubServer, small_fs: Path, tmp_path: Path) -> None:
    (small_fs / "filler").write_bytes(b"\0" * (12 * MIB))  # 8 MiB left; BIG needs 12 MiB
    engine = DownloadEngine(Settings(disk_margin_mb=1), endpoint=hub.endpoint, token=False)
    engine.start()
    try:
        job = engine.submit(DownloadRequest(BIG, cache_dir=str(small_fs / "cache"))).job
        assert engine.wait_idle(30)
        held = engine.job(job.id)
        assert held.state == "paused" and held.held, held
        assert "more free space" in held.message and str(small_fs) in held.message
        assert incomplete_files(small_fs) == []
        blobs = small_fs / "cache" / "models--acme--big-file" / "blobs"
        assert not blobs.exists() or not any(blobs.iterdir())
        # Free the space, resume: it completes.
        (small_fs / "filler").unlink()
        engine.resume(job.id)
        assert engine.wait_idle(30)
        assert engine.job(job.id).state == "done"
        assert_cache_matches(small_fs / "cache", hub, BIG)
    finally:
        engine.shutdown(2.0)


@pytest.mark.root
def test_read_only_destination_fails_at_once(hub: HubServer, small_fs: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(small_fs)], check=True)
    engine = DownloadEngine(Settings(), endpoint=hub.endpoint, token=False)
    engine.start()
    seen = len(hub.requests)
    try:
        job = engine.submit(DownloadRequest(MODEL, cache_dir=str(small_fs / "cache"))).job
        assert engine.wait_idle(30)
        failed = engine.job(job.id)
        assert failed.state == "failed" and failed.error.startswith("permission denied")
        assert hub.requests[seen:] == []  # failed before any request
    finally:
        engine.shutdown(2.0)


def test_stall_is_retried(xet: bool, engine_factory, tmp_path: Path) -> None:
    with HubServer(small_spec(xet=xet)) as hub:
        hub.add_fault(
            body_fault(hub, MODEL, "model.safetensors", "stall", after_bytes=1000, stall_seconds=3.0)
        )
        engine = engine_factory(hub, stall_timeout=1.0)
        job = engine.submit(DownloadRequest(MODEL)).job
        assert engine.wait_idle(60)
        assert engine.job(job.id).state == "done"
        assert len(body_gets(hub, MODEL, "model.safetensors")) >= 2
        assert_cache_matches(tmp_path / "cache", hub, MODEL)


def test_pause_of_a_stalled_body_frees_the_slot_at_once(xet: bool, engine_factory, tmp_path: Path) -> None:
    # The server sends 1000 bytes of weights.bin, then nothing for 20 s: the file thread is
    # blocked in a read. Pause must not wait for the stall (or stall_timeout) to end.
    with HubServer(timing_spec(xet=xet)) as hub:
        hub.add_fault(body_fault(hub, SLOW, "weights.bin", "stall", after_bytes=1000, stall_seconds=20.0))
        engine = engine_factory(hub, stall_timeout=30.0)
        job = engine.submit(DownloadRequest(SLOW)).job
        # (The server records a request when it has answered: the stalled one shows after the stall.)
        wait_for(lambda: engine.job(job.id).state == "running", what="the transfer of weights.bin")
        time.sleep(0.3)  # the body is now stalled after its first 1000 bytes
        engine.pause(job.id)
        wait_for(
            lambda: job.id not in engine.running_ids(),
            timeout=2.0,
            what="the job thread to return within 2 s",
        )
        assert engine.job(job.id).state == "paused"
        assert incomplete_files(tmp_path / "cache") == []
        hub.clear_faults()
        engine.resume(job.id)
        assert engine.wait_idle(30)
        assert engine.job(job.id).state == "done"
        assert_cache_matches(tmp_path / "cache", hub, SLOW)


def test_a_paused_job_shows_what_a_resume_keeps(xet: bool, engine_factory, tmp_path: Path) -> None:
    # small.json completes; weights.bin is partly downloaded when the job is paused. Over HTTP its
    # bytes are kept (hftui.core.downloads.kept), so the row counts them and the resume fetches only
    # the rest; over Xet a 3 MiB file (under one xorb) is the library's, whose partial file goes.
    with HubServer(timing_spec(xet=xet)) as hub:
        hub.set_bandwidth(400_000)
        engine = engine_factory(hub)
        job = engine.submit(DownloadRequest(SLOW)).job
        wait_for(lambda: engine.job(job.id).files_done >= 1, what="small.json done")
        wait_for(lambda: engine.job(job.id).bytes_done > 300_000, what="weights.bin under way")
        engine.pause(job.id)
        wait_for(lambda: job.id not in engine.running_ids(), timeout=5, what="the job to stop")
        paused = engine.job(job.id)
        small = hub.files(SLOW, "main")["small.json"].size
        kept = sorted((tmp_path / "cache").rglob("*.part"))
        assert len(kept) == (0 if xet else 1) and paused.state == "paused"
        kept_bytes = kept[0].stat().st_size if kept else 0
        assert (paused.bytes_done, paused.files_done) == (small + kept_bytes, 1), paused
        assert xet or paused.bytes_done >= 300_000
        assert paused.bytes_total == small + 3 * MIB and paused.speed == 0 and paused.eta is None
        assert incomplete_files(tmp_path / "cache") == []
        hub.set_bandwidth(None)
        engine.resume(job.id)
        assert engine.wait_idle(30) and engine.job(job.id).state == "done"
        assert xet or hub.bytes_sent("*/weights.bin") <= 3 * MIB + 0.1 * paused.bytes_done
        assert_cache_matches(tmp_path / "cache", hub, SLOW)
        assert sorted((tmp_path / "cache").rglob("*.part")) == []


def test_shutdown_keeps_running_jobs_unfinished(xet: bool, engine_factory) -> None:
    with HubServer(timing_spec(xet=xet)) as hub:
        hub.set_bandwidth(300_000)
        engine = engine_factory(hub)
        job = engine.submit(DownloadRequest(SLOW)).job
        wait_for(lambda: engine.job(job.id).bytes_done > 0, what="bytes")
        done = threading.Event()
        assert engine.shutdown(2.0)
        done.set()
        assert engine.job(job.id).state == "queued"
        assert "next launch" in engine.job(job.id).message


def test_files_already_complete_do_not_count_as_done(xet: bool, engine_factory, tmp_path: Path) -> None:
    with HubServer(timing_spec(xet=xet)) as hub:
        engine = engine_factory(hub)
        first = engine.submit(DownloadRequest(SLOW, allow_patterns=("*.json",))).job
        assert engine.wait_idle(30) and engine.job(first.id).state == "done"
        hub.set_bandwidth(2_000_000)
        seen: list[tuple[int, int | None, int, int | None]] = []
        engine.on_event = lambda e: seen.append(
            (lambda j: (j.files_done, j.files_total, j.bytes_done, j.bytes_total))(engine.job(e.job_id))
        )
        job = engine.submit(DownloadRequest(SLOW)).job
        assert engine.wait_idle(30)
        final = engine.job(job.id)
        assert final.state == "done" and (final.files_done, final.files_total) == (1, 1)
        # small.json was complete already: "1/1 files" must not show while weights.bin still moves.
        early = [s for s in seen if s[1] == 1 and s[0] == 1 and s[2] < (s[3] or 0)]
        assert early == [], early[:3]


def test_retry_budget_starts_afresh_after_files_complete(xet: bool, engine_factory, tmp_path: Path) -> None:
    spec = small_spec(xet=xet)
    files = {f"part-{i}.bin": {"size": 300_000, "seed": f"p{i}"} for i in range(3)}
    spec["repos"].append({"id": "test/parts", "branches": {"main": {"files": files}}})
    with HubServer(spec) as hub:
        for name in files:  # every file is reset once; one file at a time
            hub.add_fault(body_fault(hub, "test/parts", name, "reset_after", after_bytes=50_000, times=1))
        engine = engine_factory(hub, retries=1, max_workers=1)
        job = engine.submit(DownloadRequest("test/parts")).job
        assert engine.wait_idle(60)
        # Three resets, but each retry completed a file before the next one: not a dead job.
        assert engine.job(job.id).state == "done", engine.job(job.id).error
        assert_cache_matches(tmp_path / "cache", hub, "test/parts")


@pytest.mark.root
def test_local_dir_copy_from_the_cache_counts_for_the_disk_space_hold(
    hub: HubServer, small_fs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "cache"))  # the user's default cache
    engine = DownloadEngine(Settings(disk_margin_mb=1), endpoint=hub.endpoint, token=False)
    engine.start()
    try:
        cached = engine.submit(DownloadRequest(BIG)).job
        assert engine.wait_idle(30) and engine.job(cached.id).state == "done"
        (small_fs / "filler").write_bytes(b"\0" * (12 * MIB))  # 8 MiB left; big.bin is 12 MiB
        local = small_fs / "local"
        job = engine.submit(DownloadRequest(BIG, local_dir=str(local))).job
        assert engine.wait_idle(30)
        held = engine.job(job.id)
        # The library would copy big.bin from the cache (no download) and hit a full disk.
        assert held.state == "paused" and held.held, held
        assert "more free space" in held.message
        assert not (local / "big.bin").exists()
    finally:
        engine.shutdown(2.0)


@pytest.mark.root
def test_two_jobs_that_fit_alone_but_not_together(hub: HubServer, small_fs: Path) -> None:
    spec = small_spec()
    spec["repos"].append(
        {"id": "test/big-two", "branches": {"main": {"files": {"two.bin": {"size": 12 * MIB}}}}}
    )
    with HubServer(spec) as hub2:
        hub2.set_bandwidth(1_000_000)
        engine = DownloadEngine(
            Settings(disk_margin_mb=1, max_jobs=2),
            endpoint=hub2.endpoint,
            token=False,
            default_cache=str(small_fs / "cache"),
        )
        engine.start()
        try:
            a = engine.submit(DownloadRequest(BIG)).job
            b = engine.submit(DownloadRequest("test/big-two")).job
            wait_for(lambda: any(engine.job(j.id).held for j in (a, b)), timeout=20, what="one job held")
            held, other = (a, b) if engine.job(a.id).held else (b, a)
            assert "still coming from other jobs" in engine.job(held.id).message
            hub2.set_bandwidth(None)
            assert engine.wait_idle(30)
            assert engine.job(other.id).state == "done"
            assert engine.job(held.id).state == "paused" and engine.job(held.id).error is None
            assert incomplete_files(small_fs) == []
        finally:
            engine.shutdown(2.0)
