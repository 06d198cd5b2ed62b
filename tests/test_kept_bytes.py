"""Kept bytes across pause, retry, restart, kill -9 and faults (issue 11), plain HTTP path.

Real downloads against the local Hub; the witness for what a resume re-fetched is the server's
body byte counter (`HubServer.bytes_sent`). Every case ends with the blob's SHA-256 equal to
the server's and no `.incomplete` or kept-bytes file left.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import test_download
from hubfixtures import MIB, small_spec
from test_download import assert_cache_matches, incomplete_files, wait_for

from hftui.core.downloads import kept as kept_mod
from hftui.core.downloads.engine import DownloadEngine
from hftui.core.downloads.models import DownloadRequest
from hftui.hub import Fault, HubServer
from hftui.settings import Settings

engine_factory = test_download.engine_factory
small_fs = test_download.small_fs

REPO = "test/kept"
FOLDER = "models--test--kept"
SIZE = 4 * MIB
RATE = 1_000_000
"""Server bandwidth while a test waits for ~50 %: about 2 s to get there."""


def kept_spec(seed: str = "v1") -> dict[str, Any]:
    spec = small_spec()
    spec["repos"].append(
        {
            "id": REPO,
            "type": "model",
            "branches": {
                "main": {"files": {"config.json": '{"a": 1}', "weights.bin": {"size": SIZE, "seed": seed}}}
            },
        }
    )
    return spec


def parts(cache: Path) -> list[Path]:
    while True:
        try:
            return sorted(cache.rglob("*.part"))
        except FileNotFoundError:
            # A temporary folder of a running download vanished while rglob walked into it
            # (seen once in 10 runs of the kill -9 test, while the retry was starting).
            continue


def part_size(cache: Path) -> int:
    found = parts(cache)
    return found[0].stat().st_size if found else 0


def assert_clean(cache: Path) -> None:
    """No kept-bytes file, state file or folder, no `.incomplete` left."""
    assert sorted(cache.rglob(kept_mod.KEPT_DIR_NAME)) == []
    assert parts(cache) == []
    assert incomplete_files(cache) == []


def fill_up(path: Path) -> None:
    """Write zeros until the filesystem is full."""
    with open(path, "wb") as handle:
        try:
            while True:
                handle.write(b"\0" * MIB)
                handle.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    # (closing may flush nothing more: the buffer was flushed or failed above)


def settled(hub: HubServer) -> None:
    """Wait until the server has stopped writing every response body.

    A server notices that a client stopped (paused, killed) only at its next write, so right
    after a stop its byte counters can still grow by one paced piece (50 kB at `RATE`), and a
    killed process's sockets close only once the kernel has reaped it. Byte counters read
    before this are not final."""
    wait_for(lambda: hub.bodies_in_flight() == 0, what="the server to finish writing")


def pause_at_half(
    engine: DownloadEngine,
    job_id: str,
    cache: Path,
    hub: HubServer,
    kept: Callable[[Path], int] | None = None,
    at: int = SIZE // 2,
) -> int:
    """Pause the job once `at` bytes (half) of weights.bin are kept; the bytes kept once
    everything is still.

    `kept` measures what is kept (the `.part` size over HTTP, where it is the truth; the
    recorded prefix over Xet, where ranges ahead of it are not kept)."""
    measure = kept or part_size
    # A budget, not a measurement: a job process starting on a loaded machine can take a while.
    wait_for(lambda: measure(cache) >= at, timeout=60, what=f"{at} bytes of weights.bin kept")
    engine.pause(job_id)
    wait_for(lambda: job_id not in engine._threads, timeout=5, what="the job to stop")
    hub.release_holds()  # a response a test held (`hold_past_half`) ends, to a stopped client
    hub.clear_faults()
    settled(hub)
    return measure(cache)


def weights_sent(hub: HubServer) -> int:
    return hub.bytes_sent("*/weights.bin")


def hold_at(hub: HubServer, offset: int = SIZE // 2 + 100_000) -> None:
    """Hold weights.bin's body at `offset` until the test releases it (`pause_at_half` does): a
    test that only needs the download stopped past a point gets there at full speed, however
    loaded the machine. (The engine's stall timeout must outlast the wait: 30 s.) Tests of what
    a stop with bytes in flight keeps pace the server instead."""
    hub.add_fault(Fault("hold", path_glob="*/weights.bin", after_bytes=offset, stall_seconds=120))


def test_pause_at_half_then_resume_fetches_only_the_rest(engine_factory, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    with HubServer(kept_spec()) as hub:
        hub.set_bandwidth(RATE)
        engine = engine_factory(hub)
        job = engine.submit(DownloadRequest(REPO)).job
        kept = pause_at_half(engine, job.id, cache, hub)
        paused = engine.job(job.id)
        config = hub.files(REPO)["config.json"].size
        assert paused.state == "paused" and paused.bytes_done == config + kept, paused
        state = kept_mod.KeptStore(cache, REPO, "model").read_meta(hub.files(REPO)["weights.bin"].sha256)
        assert state is not None and state.path == "weights.bin" and state.size == SIZE
        sent_before = weights_sent(hub)
        assert sent_before >= kept  # the server sent at least what is kept (a little more is in flight)

        hub.set_bandwidth(None)
        engine.resume(job.id)
        assert engine.wait_idle(30) and engine.job(job.id).state == "done"
        ranges = [
            r.headers.get("range")
            for r in hub.requests
            if r.path.endswith("/weights.bin") and r.method == "GET"
        ]
        assert ranges == [None, f"bytes={kept}-"]
        refetched = weights_sent(hub) - SIZE
        assert refetched <= 0.1 * kept, f"re-fetched {refetched} of {kept} kept bytes"
        assert_cache_matches(cache, hub, REPO)
        assert_clean(cache)


def test_connection_reset_mid_file_resumes_from_the_kept_bytes(engine_factory, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    with HubServer(kept_spec()) as hub:
        hub.add_fault(Fault("reset_after", path_glob="*/weights.bin", after_bytes=SIZE // 2))
        # Paced, so the client has read nearly all that was sent when the RST drops the rest.
        hub.set_bandwidth(2 * RATE)
        engine = engine_factory(hub)
        job = engine.submit(DownloadRequest(REPO)).job
        notes: list[str] = []
        engine.on_event = lambda e: notes.append(engine.job(job.id).message)
        assert engine.wait_idle(60) and engine.job(job.id).state == "done"
        assert any("connection reset" in n and "retry 1/2" in n for n in notes), notes
        gets = [r for r in hub.requests if r.path.endswith("/weights.bin") and r.method == "GET"]
        assert len(gets) == 2 and gets[1].headers.get("range", "").startswith("bytes=")
        resumed_at = int(gets[1].headers["range"][len("bytes=") : -1])
        assert resumed_at >= SIZE // 2 - MIB // 4  # what reached the client before the reset was kept
        # The server wrote half the file before the reset (some of it died in flight with the
        # connection), then exactly what was not kept: no kept byte was fetched twice.
        assert weights_sent(hub) == SIZE // 2 + (SIZE - resumed_at)
        assert_cache_matches(cache, hub, REPO)
        assert_clean(cache)


def test_a_file_changed_on_the_hub_discards_the_old_kept_bytes(engine_factory, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    hub = HubServer(kept_spec("v1")).start()
    port = hub.port
    try:
        hold_at(hub)
        engine = engine_factory(hub, stall_timeout=30.0)
        job = engine.submit(DownloadRequest(REPO)).job
        pause_at_half(engine, job.id, cache, hub)
        old = parts(cache)[0]
    finally:
        hub.stop()
    # A new commit on main changes weights.bin (same endpoint, so the same engine).
    with HubServer(kept_spec("v2"), port=port) as hub2:
        notes: list[str] = []
        engine.on_event = lambda e: notes.append(engine.job(job.id).message)
        engine.resume(job.id)
        assert engine.wait_idle(30) and engine.job(job.id).state == "done"
        assert any("changed on the Hub" in n for n in notes), notes
        assert not old.exists()
        assert hub2.bytes_sent("*/weights.bin") == SIZE
        assert_cache_matches(cache, hub2, REPO)
        assert_clean(cache)
        old_blob = cache / FOLDER / "blobs" / old.name.removesuffix(".part")
        assert not old_blob.exists()  # nothing of the old version entered the cache


def test_corrupted_kept_bytes_are_caught_by_sha256_and_fetched_again(engine_factory, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    with HubServer(kept_spec()) as hub:
        hold_at(hub)
        engine = engine_factory(hub, stall_timeout=30.0)
        job = engine.submit(DownloadRequest(REPO)).job
        kept = pause_at_half(engine, job.id, cache, hub)
        with open(parts(cache)[0], "r+b") as handle:  # same size, different bytes
            handle.seek(kept // 2)
            handle.write(b"\xff" * 4096)
        notes: list[str] = []
        engine.on_event = lambda e: notes.append(engine.job(job.id).message)
        sent = weights_sent(hub)
        engine.resume(job.id)
        assert engine.wait_idle(30) and engine.job(job.id).state == "done"
        assert any("SHA-256" in n and "fetching the file again" in n for n in notes), notes
        # The rest, then the whole file again: the corrupt bytes never reached blobs/.
        assert weights_sent(hub) - sent == (SIZE - kept) + SIZE
        assert_cache_matches(cache, hub, REPO)
        assert_clean(cache)


def test_disk_space_hold_counts_only_what_is_left_to_fetch(small_fs: Path) -> None:
    cache = small_fs / "cache"
    with HubServer(kept_spec()) as hub:
        hold_at(hub, 3 * MIB + 100_000)
        engine = DownloadEngine(
            Settings(disk_margin_mb=1, stall_timeout=30.0), endpoint=hub.endpoint, token=False
        )
        engine.start()
        try:
            job = engine.submit(DownloadRequest(REPO, cache_dir=str(cache))).job
            wait_for(lambda: part_size(cache) >= 3 * MIB, what="3 MiB kept")
            engine.pause(job.id)
            wait_for(lambda: job.id not in engine._threads, timeout=5, what="the job to stop")
            hub.release_holds()
            hub.clear_faults()
            settled(hub)
            resume_with_room_for_the_rest_only(engine, job.id, hub, small_fs, kept=part_size(cache))
        finally:
            engine.shutdown(2.0)


def resume_with_room_for_the_rest_only(
    engine: DownloadEngine, job_id: str, hub: HubServer, small_fs: Path, *, kept: int
) -> None:
    """Fill `small_fs` to leave less room than the file but more than what is not kept (plus the
    1 MiB margin), resume, and check the job ends with the right files: the disk-space hold asked
    for the rest only."""
    free = os.statvfs(small_fs).f_bavail * os.statvfs(small_fs).f_frsize
    (small_fs / "filler").write_bytes(b"\0" * (free - (SIZE - kept) - 2 * MIB))
    assert os.statvfs(small_fs).f_bavail * os.statvfs(small_fs).f_frsize < SIZE + MIB
    engine.resume(job_id)
    assert engine.wait_idle(30)
    assert engine.job(job_id).state == "done", engine.job(job_id)
    cache = small_fs / "cache"
    assert_cache_matches(cache, hub, REPO)
    assert_clean(cache)


@pytest.mark.root
def test_full_disk_while_resuming_keeps_the_bytes_and_spares_other_jobs(
    small_fs: Path, tmp_path: Path
) -> None:
    cache = small_fs / "cache"
    other_cache = tmp_path / "other"
    with HubServer(kept_spec()) as hub:
        hub.set_bandwidth(RATE)
        engine = DownloadEngine(
            Settings(disk_margin_mb=0, stall_timeout=5.0, retries=1), endpoint=hub.endpoint, token=False
        )
        engine.start()
        try:
            job = engine.submit(DownloadRequest(REPO, cache_dir=str(cache))).job
            other = engine.submit(DownloadRequest("acme/big-file", cache_dir=str(other_cache))).job
            wait_for(lambda: part_size(cache) >= MIB, what="1 MiB kept")
            # Fill the disk while the file is coming: the next writes hit ENOSPC.
            fill_up(small_fs / "filler")
            hub.set_bandwidth(None)  # (the other job need not crawl)
            assert engine.wait_idle(60)
            failed = engine.job(job.id)
            assert failed.state == "failed" and failed.error is not None
            assert failed.error.startswith("disk full") and str(small_fs) in failed.error, failed.error
            assert engine.job(other.id).state == "done"  # another job is unaffected
            # What was kept is a true prefix of the file: nothing corrupt.
            kept_bytes = parts(cache)[0].read_bytes()
            assert kept_bytes == hub.read_file(REPO, "weights.bin")[: len(kept_bytes)]
            assert not (cache / FOLDER / "blobs").exists() or not any(
                p.name.startswith(hub.files(REPO)["weights.bin"].sha256)
                for p in (cache / FOLDER / "blobs").iterdir()
            )
            # Room again: the retry completes from the kept bytes.
            (small_fs / "filler").unlink()
            settled(hub)
            sent = weights_sent(hub)
            engine.retry(job.id)
            assert engine.wait_idle(30) and engine.job(job.id).state == "done"
            assert weights_sent(hub) - sent <= SIZE - len(kept_bytes) + 0.1 * len(kept_bytes)
            assert_cache_matches(cache, hub, REPO)
            assert_clean(cache)
        finally:
            engine.shutdown(2.0)


# -- bad kept-bytes input -------------------------------------------------------------------


def _seed_store(
    cache: Path, hub: HubServer, *, part: bytes | None, kept: int | None = None
) -> kept_mod.KeptStore:
    """Hand-made kept bytes for weights.bin (as an earlier attempt would have left them)."""
    info = hub.files(REPO)["weights.bin"]
    store = kept_mod.KeptStore(cache, REPO, "model")
    store.ensure()
    store.write_meta(
        kept_mod.KeptMeta(
            repo_id=REPO,
            repo_type="model",
            revision=hub.commit(REPO),
            path="weights.bin",
            size=info.size,
            etag=info.sha256,
            sha256=info.sha256,
            kept=len(part) if kept is None and part is not None else int(kept or 0),
            updated=time.time(),
        )
    )
    if part is not None:
        store.part_path(info.sha256).write_bytes(part)
    return store


def _run(engine_factory, hub: HubServer, cache: Path) -> tuple[Any, list[str]]:
    engine = engine_factory(hub)
    notes: list[str] = []
    job = engine.submit(DownloadRequest(REPO)).job
    engine.on_event = lambda e: notes.append(engine.job(job.id).message)
    assert engine.wait_idle(30)
    return engine.job(job.id), notes


def test_kept_bytes_larger_than_the_file_are_discarded(engine_factory, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    with HubServer(kept_spec()) as hub:
        _seed_store(cache, hub, part=b"\0" * (SIZE + 10))
        job, notes = _run(engine_factory, hub, cache)
        assert job.state == "done"
        assert any("larger than the file" in n for n in notes), notes
        assert weights_sent(hub) == SIZE
        assert_cache_matches(cache, hub, REPO)
        assert_clean(cache)


def test_truncated_kept_bytes_resume_from_what_is_there(engine_factory, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    with HubServer(kept_spec()) as hub:
        prefix = hub.read_file(REPO, "weights.bin")[:MIB]
        _seed_store(cache, hub, part=prefix, kept=3 * MIB)  # the state says 3 MiB, 1 MiB is there
        job, notes = _run(engine_factory, hub, cache)
        assert job.state == "done"
        assert any("shorter than recorded" in n for n in notes), notes
        assert weights_sent(hub) == SIZE - MIB
        assert_cache_matches(cache, hub, REPO)
        assert_clean(cache)


def test_state_pointing_at_missing_kept_bytes_starts_over(engine_factory, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    with HubServer(kept_spec()) as hub:
        _seed_store(cache, hub, part=None, kept=2 * MIB)
        job, notes = _run(engine_factory, hub, cache)
        assert job.state == "done"
        assert any("are gone" in n for n in notes), notes
        assert weights_sent(hub) == SIZE
        assert_cache_matches(cache, hub, REPO)
        assert_clean(cache)


def test_unreadable_state_file_is_discarded(engine_factory, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    with HubServer(kept_spec()) as hub:
        store = _seed_store(cache, hub, part=hub.read_file(REPO, "weights.bin")[:MIB])
        store.meta_path(hub.files(REPO)["weights.bin"].sha256).write_text("{not json")
        job, notes = _run(engine_factory, hub, cache)
        assert job.state == "done"
        assert any("state unreadable" in n for n in notes), notes
        assert weights_sent(hub) == SIZE
        assert_cache_matches(cache, hub, REPO)
        assert_clean(cache)


def _as_nobody(hub: HubServer, cache: Path, home: Path) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [
            "setpriv",
            "--reuid=nobody",
            "--regid=nogroup",
            "--clear-groups",
            sys.executable,
            "-m",
            "hftui",
            "download",
            REPO,
            "--cache-dir",
            str(cache),
        ],
        capture_output=True,
        text=True,
        timeout=90,
        env={
            **os.environ,
            "HF_ENDPOINT": hub.endpoint,
            "HF_TOKEN": "",
            "HF_HOME": str(home),
            "XDG_STATE_HOME": str(home),
            "XDG_CONFIG_HOME": str(home),
            "HOME": str(home),
        },
    )
    if "setpriv" in result.stderr and result.returncode not in (0, 1):
        pytest.skip(f"setpriv not usable: {result.stderr.strip()}")
    return result


@pytest.mark.root
def test_kept_bytes_owned_by_another_user(tmp_path: Path) -> None:
    base = Path(tempfile.mkdtemp(prefix="hftui-kept-"))
    try:
        base.chmod(0o777)
        home = base / "home"
        home.mkdir()
        cache = base / "cache"
        with HubServer(kept_spec()) as hub:
            store = _seed_store(cache, hub, part=hub.read_file(REPO, "weights.bin")[: 2 * MIB])
            part = store.part_path(hub.files(REPO)["weights.bin"].sha256)
            part.chmod(0o600)  # root's: nobody can neither read nor append to it
            for path in [cache, *cache.rglob("*")]:
                if path.is_dir():
                    path.chmod(0o777)
            home.chmod(0o777)
            result = _as_nobody(hub, cache, home)
            assert result.returncode == 0, result.stdout + result.stderr
            assert f"done      {REPO}" in result.stdout
            assert weights_sent(hub) == SIZE  # the unusable bytes were replaced, not trusted
            assert_cache_matches(cache, hub, REPO)
            assert_clean(cache)
    finally:
        subprocess.run(["rm", "-rf", str(base)], check=False)


# -- processes -----------------------------------------------------------------------------


def _download_cmd(cache: Path) -> list[str]:
    return [sys.executable, "-m", "hftui", "download", REPO, "--cache-dir", str(cache), "--json"]


def _env(hub: HubServer) -> dict[str, str]:
    return {**os.environ, "HF_ENDPOINT": hub.endpoint, "HF_TOKEN": ""}


def test_kill_9_at_half_then_relaunch_fetches_only_the_rest(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    with HubServer(kept_spec()) as hub:
        hub.set_bandwidth(RATE)
        proc = subprocess.Popen(
            _download_cmd(cache), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=_env(hub)
        )
        try:
            wait_for(lambda: part_size(cache) >= SIZE // 2, what="half of weights.bin kept")
            proc.send_signal(signal.SIGKILL)
        finally:
            proc.wait(10)
        # Its job process ends when it sees the parent gone: wait for it, as a relaunch would
        # otherwise find the blob's lock still held.
        settled(hub)
        kept = part_size(cache)
        hub.set_bandwidth(None)
        rerun = subprocess.run(
            _download_cmd(cache), capture_output=True, text=True, timeout=90, env=_env(hub)
        )
        assert rerun.returncode == 0, rerun.stderr
        refetched = weights_sent(hub) - SIZE
        assert refetched <= 0.1 * kept, f"re-fetched {refetched} of {kept} kept bytes"
        assert_cache_matches(cache, hub, REPO)
        assert_clean(cache)


def test_two_processes_resuming_the_same_job(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    with HubServer(kept_spec()) as hub:
        hold_at(hub)
        proc = subprocess.Popen(
            _download_cmd(cache), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=_env(hub)
        )
        try:
            wait_for(lambda: part_size(cache) >= SIZE // 2, what="half of weights.bin kept")
            proc.send_signal(signal.SIGKILL)
        finally:
            proc.wait(10)
        # Its job process ends when it sees the parent gone: wait for it (its blob lock is
        # released), so that the held body goes to no one.
        wait_for(
            lambda: not any(kept_mod.lock_held(e) for e in kept_mod.iter_kept(cache)),
            what="the job process to end",
        )
        hub.release_holds()
        hub.clear_faults()
        settled(hub)
        kept, before = part_size(cache), weights_sent(hub)
        # Two hftui processes resume at once: one writes the blob under the library's lock, the
        # other waits for it and links it.
        runs = [
            subprocess.Popen(
                _download_cmd(cache), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(hub)
            )
            for _ in range(2)
        ]
        for run in runs:
            out, err = run.communicate(timeout=90)
            assert run.returncode == 0, err
            assert json.loads(out.strip().splitlines()[-1])["done"] == 1
        # (What the server wrote after the release went to no one: counted before, not after.)
        refetched = weights_sent(hub) - before - (SIZE - kept)
        assert refetched <= 0.1 * kept, f"re-fetched {refetched} of {kept} kept bytes"
        assert_cache_matches(cache, hub, REPO)
        assert_clean(cache)


def test_kept_file_is_a_prefix_of_the_blob(tmp_path: Path) -> None:
    # Whatever the stop, the `.part` holds the file's first bytes, in order.
    cache = tmp_path / "cache"
    with HubServer(kept_spec()) as hub:
        hub.set_bandwidth(RATE)
        proc = subprocess.Popen(
            _download_cmd(cache), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_env(hub)
        )
        try:
            wait_for(lambda: part_size(cache) >= MIB, what="1 MiB kept")
            proc.send_signal(signal.SIGKILL)
        finally:
            proc.wait(10)
        data = parts(cache)[0].read_bytes()
        expected = hub.read_file(REPO, "weights.bin")
        assert hashlib.sha256(data).hexdigest() == hashlib.sha256(expected[: len(data)]).hexdigest()


# -- what the user sees ----------------------------------------------------------------------


def test_a_stopped_job_says_what_is_kept_and_what_a_resume_fetches() -> None:
    from hftui.core.downloads.queue import Job, JobState
    from hftui.tui.panes.queue import job_cells

    job = Job(DownloadRequest(REPO), state=JobState.PAUSED, bytes_done=2_100_000, bytes_total=4_200_000)
    job.message = "paused"
    assert job.kept_summary == "kept 2.1 MB · resume fetches 2.1 MB"
    cells = job_cells(job, 1)
    assert cells["progress"] == " 50% 2.1 MB kept / 4.2 MB"
    assert cells["note"].plain == "paused · kept 2.1 MB · resume fetches 2.1 MB"
    job.state = JobState.FAILED
    assert job.kept_summary == "kept 2.1 MB · retry fetches 2.1 MB"
    for state, done in ((JobState.RUNNING, 2_100_000), (JobState.DONE, 4_200_000), (JobState.PAUSED, 0)):
        job.state, job.bytes_done = state, done
        assert job.kept_summary is None


def test_a_job_restored_after_kill_9_counts_its_kept_bytes(tmp_path: Path) -> None:
    from hftui.core.downloads.persist import QueueStore
    from hftui.core.downloads.queue import DownloadQueue

    cache = tmp_path / "cache"
    with HubServer(kept_spec()) as hub:
        _seed_store(cache, hub, part=hub.read_file(REPO, "weights.bin")[: 2 * MIB])
        queue = DownloadQueue()
        job = queue.submit(DownloadRequest(REPO, cache_dir=str(cache))).job
        job.state, job.bytes_total = "running", SIZE + 8  # as last saved: before any byte came
        other = queue.submit(DownloadRequest(REPO, cache_dir=str(cache), allow_patterns=("*.json",))).job
        other.state = "running"
        store = QueueStore(tmp_path / "state")
        store.acquire()
        store.save(queue.to_json())
        store.release()
        engine = DownloadEngine(
            Settings(), endpoint=hub.endpoint, token=False, store=QueueStore(tmp_path / "state")
        )
        engine.load()
        try:
            restored = engine.job(job.id)
            assert restored.state == "paused" and restored.bytes_done == 2 * MIB
            assert restored.kept_summary == "kept 2.1 MB · resume fetches 2.1 MB"
            assert engine.job(other.id).bytes_done == 0  # its patterns select none of the kept files
        finally:
            engine.shutdown(1.0)


# -- cancel then retry; kill -9 of the job's own process --------------------------------------


def test_cancel_at_half_then_retry_fetches_only_the_rest(engine_factory, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    with HubServer(kept_spec()) as hub:
        hub.set_bandwidth(RATE)
        engine = engine_factory(hub)
        job = engine.submit(DownloadRequest(REPO)).job
        wait_for(lambda: part_size(cache) >= SIZE // 2, what="half of weights.bin kept")
        engine.cancel(job.id)
        wait_for(lambda: job.id not in engine._threads, timeout=5, what="the job to stop")
        kept = part_size(cache)
        cancelled = engine.job(job.id)
        assert cancelled.state == "cancelled" and cancelled.kept_summary is not None
        hub.set_bandwidth(None)
        engine.retry(job.id)
        assert engine.wait_idle(30) and engine.job(job.id).state == "done"
        refetched = weights_sent(hub) - SIZE
        assert refetched <= 0.1 * kept, f"re-fetched {refetched} of {kept} kept bytes"
        assert_cache_matches(cache, hub, REPO)
        assert_clean(cache)


def _job_processes() -> list[int]:
    """PIDs of this process's per-job download processes (`hftui.core.downloads.worker`)."""
    me, found = os.getpid(), []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == me and b"hftui.core.downloads.worker" in cmdline:
            found.append(int(entry))
    return found


def test_kill_9_of_the_job_process_at_half_is_retried_from_the_kept_bytes(
    engine_factory, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    with HubServer(kept_spec()) as hub:
        hub.set_bandwidth(RATE)
        engine = engine_factory(hub)
        job = engine.submit(DownloadRequest(REPO)).job
        wait_for(lambda: part_size(cache) >= SIZE // 2, what="half of weights.bin kept")
        for pid in _job_processes():  # the job's process (and a warm spare, if any)
            os.kill(pid, signal.SIGKILL)
        # Before the cap goes: a process not yet reaped would still be sent the rest at full speed.
        settled(hub)
        kept = part_size(cache)
        hub.set_bandwidth(None)
        assert engine.wait_idle(60) and engine.job(job.id).state == "done", engine.job(job.id)
        # The retry asked for the rest only. (What the killed process had received but not yet
        # written died with it: bytes in flight, never kept.)
        ranges = [
            r.headers.get("range")
            for r in hub.requests
            if r.path.endswith("/weights.bin") and r.method == "GET"
        ]
        assert ranges[-1] == f"bytes={kept}-", ranges
        refetched = weights_sent(hub) - SIZE
        assert refetched <= 0.1 * kept + 256 * 1024, f"re-fetched {refetched} of {kept} kept bytes"
        assert_cache_matches(cache, hub, REPO)
        assert_clean(cache)
