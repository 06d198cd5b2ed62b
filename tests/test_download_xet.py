"""The download engine on the real Hub's main path: Xet (the default) and plain HTTP (Xet disabled).

Every test runs the library's real code (huggingface_hub + hf_xet, in the engine's job processes)
against the local Hub with Xet on. `mode` "xet" downloads over Xet (reconstructions + xorbs on the
CAS); "http" sets HF_HUB_DISABLE_XET=1, which the job processes inherit, so the same files come
through the CAS's plain-bytes bridge. Assertions are on the server's byte counters and the files on
disk (SHA-256 equal to the server's), never on wall-clock times.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import wait_for

from hftui.core.downloads.engine import DownloadEngine, EngineEvent
from hftui.core.downloads.models import DownloadRequest
from hftui.hub import Fault, HubServer
from hftui.settings import Settings

MIB = 1024 * 1024
A = "acme/xet-a"
B = "acme/xet-b"
C = "acme/xet-c"
RATE = 1_000_000
"""Bytes per second per response while a test needs a transfer to be under way."""


def spec() -> dict[str, Any]:
    return {
        "repos": [
            {
                "id": A,
                "branches": {
                    "main": {
                        "files": {
                            "config.json": '{"a": 1}',
                            "a.bin": {"size": 24 * MIB, "seed": "a"},
                            "extra/a2.bin": {"size": 2 * MIB + 777, "seed": "a2"},
                            "pinned.bin": {"size": 300_000, "xet": False},
                        }
                    }
                },
            },
            {"id": B, "branches": {"main": {"files": {"b.bin": {"size": 24 * MIB, "seed": "b"}}}}},
            {"id": C, "branches": {"main": {"files": {"c.bin": {"size": 3 * MIB, "seed": "c"}}}}},
        ]
    }


@pytest.fixture(params=["xet", "http"], name="mode")
def transfer_mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "http":
        monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
    else:
        monkeypatch.delenv("HF_HUB_DISABLE_XET", raising=False)
    return str(request.param)


def transfer_glob(hub: HubServer, repo_id: str, path: str, mode: str) -> str:
    """The CAS paths that carry this file's bytes in `mode`."""
    xet_hash = hub.xet_hash(repo_id, path)
    return f"/xorbs/{xet_hash}/*" if mode == "xet" else f"/bridge/{xet_hash}"


def sent(hub: HubServer, repo_id: str, path: str, mode: str) -> int:
    return hub.bytes_sent(transfer_glob(hub, repo_id, path, mode), server="cas")


def wait_silent(hub: HubServer, files: list[tuple[str, str]], mode: str) -> dict[str, int]:
    """The byte counts of `files` once they stopped growing (the server may finish the write it
    was in when the client went away)."""
    last = {r: sent(hub, r, p, mode) for r, p in files}
    while True:
        time.sleep(0.3)
        now = {r: sent(hub, r, p, mode) for r, p in files}
        if now == last:
            return now
        last = now


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def snapshot(cache: Path, hub: HubServer, repo_id: str) -> Path:
    return cache / f"models--{repo_id.replace('/', '--')}" / "snapshots" / hub.commit(repo_id)


def assert_complete(cache: Path, hub: HubServer, repo_id: str) -> None:
    folder = snapshot(cache, hub, repo_id)
    for path, info in hub.files(repo_id).items():
        assert sha256(folder / path) == info.sha256, f"{path} differs from the server"
    assert not list(cache.rglob("*.incomplete"))


def blobs(cache: Path, repo_id: str) -> list[str]:
    folder = cache / f"models--{repo_id.replace('/', '--')}" / "blobs"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


@pytest.fixture
def make_engine(tmp_path: Path) -> Iterator[Callable[..., DownloadEngine]]:
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


def test_every_file_equals_the_server_and_travels_the_chosen_path(
    mode: str, make_engine, tmp_path: Path
) -> None:
    with HubServer(spec()) as hub:
        engine = make_engine(hub)
        job = engine.submit(DownloadRequest(A)).job
        assert engine.wait_idle(60)
        done = engine.job(job.id)
        assert done.state == "done", done.error
        assert done.files_done == done.files_total == 4
        assert done.bytes_done == done.bytes_total == sum(f.size for f in hub.files(A).values())
        assert_complete(tmp_path / "cache", hub, A)
        for path in ("a.bin", "extra/a2.bin"):
            assert sent(hub, A, path, mode) >= hub.files(A)[path].size
            other = "http" if mode == "xet" else "xet"
            assert sent(hub, A, path, other) == 0
        assert hub.bytes_sent("*/resolve/*/pinned.bin", server="hub") == hub.files(A)["pinned.bin"].size


def test_a_job_sends_no_more_hub_requests_than_hf_download(mode: str, make_engine, tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    with HubServer(spec()) as hub:
        script = (
            "import sys; from huggingface_hub import snapshot_download; "
            "snapshot_download(sys.argv[1], endpoint=sys.argv[2], cache_dir=sys.argv[3], token=False)"
        )
        subprocess.run(
            [sys.executable, "-c", script, A, hub.endpoint, str(tmp_path / "hf")],
            check=True,
            env=dict(os.environ),
            timeout=120,
        )
        theirs = [(r.method, r.path) for r in hub.requests if r.server == "hub"]
        hub.clear_requests()
        engine = make_engine(hub)
        job = engine.submit(DownloadRequest(A)).job
        assert engine.wait_idle(60) and engine.job(job.id).state == "done"
        ours = [(r.method, r.path) for r in hub.requests if r.server == "hub"]
        assert sorted(ours) == sorted(theirs)
        heads = [r for r in ours if r[0] == "HEAD"]
        # Over Xet only the plain files need a HEAD (Xet metadata comes from the tree listing).
        expected_heads = 2 if mode == "xet" else 4
        assert len(heads) == expected_heads, heads


def test_pause_and_cancel_silence_the_server_while_the_other_job_goes_on(
    mode: str, make_engine, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    with HubServer(spec()) as hub:
        hub.set_bandwidth(RATE)
        engine = make_engine(hub, max_jobs=3)
        a = engine.submit(DownloadRequest(A, allow_patterns=("a.bin",))).job
        b = engine.submit(DownloadRequest(B)).job
        c = engine.submit(DownloadRequest(C)).job
        wait_for(
            lambda: all(sent(hub, *f, mode) > 300_000 for f in ((A, "a.bin"), (B, "b.bin"), (C, "c.bin"))),
            what="three transfers under way",
            timeout=30,
        )
        at_stop = {r: sent(hub, r, p, mode) for r, p in ((A, "a.bin"), (C, "c.bin"))}
        engine.pause(a.id)
        engine.cancel(c.id)
        wait_for(lambda: not ({a.id, c.id} & engine.running_ids()), timeout=10, what="the jobs to stop")
        silent = wait_silent(hub, [(A, "a.bin"), (C, "c.bin")], mode)
        # Between the call and the stop at most what 2 s of their transfers carry (each file has at
        # most a few responses open): nothing like the rest of the file, which is what arrived
        # before jobs ran in processes of their own.
        for repo in (A, C):
            assert silent[repo] - at_stop[repo] <= 2 * RATE * 4, (repo, at_stop, silent)
        b_before = sent(hub, B, "b.bin", mode)
        wait_for(
            lambda: sent(hub, B, "b.bin", mode) > b_before + 1_000_000,
            what="the other job to go on",
            timeout=30,
        )
        assert {r: sent(hub, r, p, mode) for r, p in ((A, "a.bin"), (C, "c.bin"))} == silent
        assert engine.job(a.id).state == "paused" and engine.job(c.id).state == "cancelled"
        assert engine.job(b.id).state == "running"
        for repo in (A, C):
            assert not list((cache / f"models--{repo.replace('/', '--')}").rglob("*.incomplete"))
        assert hub.file_sha256(A, "a.bin") not in blobs(cache, A)
        assert hub.file_sha256(C, "c.bin") not in blobs(cache, C)

        hub.set_bandwidth(None)
        engine.resume(a.id)
        assert engine.wait_idle(60)
        assert engine.job(a.id).state == "done" and engine.job(b.id).state == "done"
        assert sha256(snapshot(cache, hub, A) / "a.bin") == hub.file_sha256(A, "a.bin")
        assert_complete(cache, hub, B)


def test_a_paused_job_leaves_the_other_jobs_rate_alone(mode: str, make_engine) -> None:
    with HubServer(spec()) as hub:
        hub.set_bandwidth(RATE)
        engine = make_engine(hub)
        a = engine.submit(DownloadRequest(A, allow_patterns=("a.bin",))).job
        engine.submit(DownloadRequest(B))
        wait_for(
            lambda: sent(hub, B, "b.bin", mode) > 500_000 and sent(hub, A, "a.bin", mode) > 0, timeout=30
        )

        def rate() -> float:
            first, t0 = sent(hub, B, "b.bin", mode), time.monotonic()
            wait_for(lambda: sent(hub, B, "b.bin", mode) >= first + 1_500_000, what="b to move", timeout=30)
            return (sent(hub, B, "b.bin", mode) - first) / (time.monotonic() - t0)

        before = rate()
        engine.pause(a.id)
        wait_for(lambda: a.id not in engine.running_ids(), timeout=10, what="a to stop")
        after = rate()
        # Measured by the server: pausing a does not slow b down (it may speed up).
        assert after >= 0.6 * before, (before, after)


def test_progress_comes_from_transfer_updates(mode: str, make_engine) -> None:
    with HubServer(spec()) as hub:
        hub.set_bandwidth(4 * RATE)
        engine = make_engine(hub)
        job = engine.submit(DownloadRequest(B)).job
        seen: list[tuple[int, float, float | None]] = []
        engine.on_event = lambda e: seen.append(
            (lambda j: (j.bytes_done, j.speed, j.eta))(engine.job(job.id))
            if e.job_id == job.id
            else (0, 0, 0)
        )
        assert engine.wait_idle(60) and engine.job(job.id).state == "done"
        total = 24 * MIB
        moving = [s for s in seen if 0 < s[0] < total]
        # A 24 MiB Xet file is written to disk in one block: progress from disk writes would jump
        # from 0 to done. Transfer updates give many steps, each with a speed and an ETA.
        assert len({s[0] for s in moving}) >= 10, moving[:5]
        assert all(s[1] > 0 and s[2] is not None and s[2] < 3600 for s in moving[3:]), moving[:10]


FAULTS = {
    "reset": (
        lambda g: Fault("reset_after", path_glob=g, server="cas", after_bytes=1_000_000),
        "connection reset",
    ),
    "close": (
        lambda g: Fault("close_after", path_glob=g, server="cas", after_bytes=1_000_000),
        "connection reset",
    ),
    "stall": (
        lambda g: Fault("stall", path_glob=g, server="cas", after_bytes=1_000_000, stall_seconds=8.0),
        "stalled",
    ),
    "503": (lambda g: Fault("status", path_glob=g, server="cas", status=503), "server error 503"),
    "429": (lambda g: Fault("status", path_glob=g, server="cas", status=429), "server error 429"),
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_a_transient_fault_is_retried_with_a_note(mode: str, fault: str, make_engine, tmp_path: Path) -> None:
    make_fault, note = FAULTS[fault]
    with HubServer(spec()) as hub:
        hub.add_fault(make_fault(transfer_glob(hub, C, "c.bin", mode)))
        engine = make_engine(hub, stall_timeout=2.0)
        job = engine.submit(DownloadRequest(C)).job
        messages: list[str] = []
        engine.on_event = lambda e: messages.append(engine.job(job.id).message)
        assert engine.wait_idle(60)
        assert engine.job(job.id).state == "done", engine.job(job.id).error
        # Over Xet hftui retries (a fresh process, with its budget); over HTTP the library resumes
        # or retries the request itself and the transport names the fault while it does.
        notes = [m for m in messages if note in m and ("retry 1/2" in m if mode == "xet" else "retry" in m)]
        assert notes, messages
        if mode == "xet" and fault in ("503", "429"):
            assert "on the Xet storage" in notes[0], notes
        assert "Error" not in notes[0] and "domain" not in notes[0]  # no Rust error chain
        assert_complete(tmp_path / "cache", hub, C)


@pytest.mark.parametrize("status", [503, 429])
def test_a_persistent_server_error_ends_in_a_specific_message(
    mode: str, status: int, make_engine, tmp_path: Path
) -> None:
    if mode == "http" and status == 429:
        pytest.skip("over HTTP the library itself retries a 429 five times (31 s) before hftui does")
    with HubServer(spec()) as hub:
        glob = transfer_glob(hub, C, "c.bin", mode)
        hub.add_fault(Fault("status", path_glob=glob, server="cas", status=status, times=None))
        engine = make_engine(hub, retries=1)
        bad = engine.submit(DownloadRequest(C)).job
        good = engine.submit(DownloadRequest(A, allow_patterns=("extra/*",))).job
        assert engine.wait_idle(60)
        where = " on the Xet storage" if mode == "xet" else ""
        assert engine.job(bad.id).error == f"server error {status}{where} (after 1 retry)"
        assert engine.job(good.id).state == "done"
        assert blobs(tmp_path / "cache", C) == []


def test_an_expired_token_is_refetched_by_a_retry(make_engine, tmp_path: Path) -> None:
    spec_ = spec()
    with HubServer(spec_) as hub:
        hub.set_bandwidth(2 * RATE)
        engine = make_engine(hub, max_workers=1)
        job = engine.submit(DownloadRequest(A, allow_patterns=("*.bin",))).job
        messages: list[str] = []
        engine.on_event = lambda e: messages.append(engine.job(job.id).message)
        wait_for(
            lambda: sum(sent(hub, A, p, "xet") for p in ("a.bin", "extra/a2.bin")) > 0,
            what="xorbs",
            timeout=30,
        )
        hub.expire_xet_tokens()  # the token the job holds is refused from now on
        hub.set_bandwidth(None)
        assert engine.wait_idle(60)
        assert engine.job(job.id).state == "done", engine.job(job.id).error
        assert any("refused the access token (401)" in m and "retry 1/2" in m for m in messages), messages
        assert sha256(snapshot(tmp_path / "cache", hub, A) / "a.bin") == hub.file_sha256(A, "a.bin")


BAD = {
    "unknown_hash": "unknown to the Xet storage (404): c.bin",
    "xorb_404": "data missing on the Xet storage (404 for a xorb)",
    "truncated_xorb": "malformed data from the Xet storage: a xorb ended early (truncated)",
    "malformed_xorb": "malformed data from the Xet storage: chunk header version too high",
    "size_mismatch": "size mismatch: the Xet storage rebuilt",
}


def bad_spec() -> dict[str, Any]:
    spec_ = spec()
    for kind in BAD:
        files = {f"{kind}.bin": {"size": 3 * MIB, "seed": kind}}
        spec_["repos"].append({"id": f"acme/bad-{kind}", "branches": {"main": {"files": files}}})
    return spec_


def test_bad_xet_data_fails_that_job_only_and_leaves_no_blob(make_engine, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    with HubServer(bad_spec()) as hub:
        for kind in BAD:
            hub.break_xet(f"acme/bad-{kind}", f"{kind}.bin", kind)  # type: ignore[arg-type]
        engine = make_engine(hub, max_jobs=len(BAD) + 1)
        bad = {kind: engine.submit(DownloadRequest(f"acme/bad-{kind}")).job for kind in BAD}
        good = engine.submit(DownloadRequest(A, allow_patterns=("extra/*", "*.json"))).job
        assert engine.wait_idle(60)
        for kind, job in bad.items():
            failed = engine.job(job.id)
            expected = BAD[kind].replace("c.bin", f"{kind}.bin")
            assert failed.state == "failed" and failed.error.startswith(expected), (kind, failed.error)
            assert "retry" not in failed.error  # bad data is not retried
            assert blobs(cache, f"acme/bad-{kind}") == []
        assert engine.job(good.id).state == "done"
        assert not list(cache.rglob("*.incomplete"))


@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_xet_token_fails_with_the_reason(status: int, make_engine, tmp_path: Path) -> None:
    with HubServer(spec()) as hub:
        hub.add_fault(
            Fault("status", path_glob="/api/*/xet-read-token/*", server="hub", status=status, times=None)
        )
        engine = make_engine(hub)
        job = engine.submit(DownloadRequest(C)).job
        assert engine.wait_idle(60)
        error = engine.job(job.id).error or ""
        assert error.startswith(f"the Hub refused a Xet read token ({status}) for model {C}"), error
        assert hub.bytes_sent("*", server="cas") == 0
        assert blobs(tmp_path / "cache", C) == []


def test_quitting_the_app_stops_its_xet_jobs(mode: str, tmp_path: Path) -> None:
    """The TUI's engine runs in a child process that runs each job in a process of its own: quitting
    (`EngineProcess.shutdown`) must stop them all, alone, and leave no process and no partial file."""
    import os

    from hftui.core.downloads.process import EngineProcess

    with HubServer(spec()) as hub:
        hub.set_bandwidth(RATE)
        engine = EngineProcess(
            Settings(disk_margin_mb=0),
            endpoint=hub.endpoint,
            default_cache=str(tmp_path / "cache"),
            state_directory=tmp_path / "state",
        )
        try:
            engine.submit(DownloadRequest(A, allow_patterns=("a.bin",)))
            engine.submit(DownloadRequest(B))
            files = [(A, "a.bin"), (B, "b.bin")]
            wait_for(
                lambda: all(sent(hub, r, p, mode) > 200_000 for r, p in files),
                what="both transfers",
                timeout=30,
            )
            child = engine.pid
            jobs = [int(p) for p in os.listdir("/proc") if p.isdigit() and _parent(int(p)) == child]
            assert len(jobs) >= 2  # the two job processes (and maybe a warm spare)
            assert engine.shutdown(2.0)
        finally:
            engine.shutdown(2.0)
        silent = wait_silent(hub, files, mode)
        assert all(n < 24 * MIB for n in silent.values())
        time.sleep(0.5)
        assert {r: sent(hub, r, p, mode) for r, p in files} == silent
        assert not [p for p in jobs if _alive(p)]
        assert not list((tmp_path / "cache").rglob("*.incomplete"))


def _parent(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
