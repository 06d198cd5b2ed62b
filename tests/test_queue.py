"""The queue state machine, the progress adapter, error classification and the saved queue: no network."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hftui.core.downloads.job import (
    JobFailure,
    ProgressTracker,
    backoff_delay,
    bytes_to_write,
    classify,
    make_tqdm_class,
    space_shortfall,
    sweep_orphans,
)
from hftui.core.downloads.models import DownloadRequest
from hftui.core.downloads.persist import QueueInUse, QueueStore
from hftui.core.downloads.queue import (
    DownloadQueue,
    JobState,
    QueueError,
)
from hftui.core.downloads.transport import JobCancelled

A = DownloadRequest("org/a")
B = DownloadRequest("org/b")
C = DownloadRequest("org/c")


def run_to(queue: DownloadQueue, job_id: str, state: str) -> None:
    queue.mark_checking(job_id)
    if state == JobState.RUNNING:
        queue.mark_running(job_id, bytes_total=100, files_total=2)


# -- state machine -------------------------------------------------------------------------


def test_submit_detects_duplicates_of_active_jobs_only() -> None:
    q = DownloadQueue()
    first = q.submit(A)
    assert first.accepted
    again = q.submit(DownloadRequest("org/a", label="typed differently"))
    assert not again.accepted and again.job.id == first.job.id
    assert "Already in the queue" in again.message
    # Patterns make a different job; so does a different destination.
    assert q.submit(DownloadRequest("org/a", allow_patterns=("*.json",))).accepted
    assert q.submit(DownloadRequest("org/a", local_dir="/tmp/x")).accepted
    # A finished job does not block a new identical request.
    run_to(q, first.job.id, JobState.RUNNING)
    q.finish(first.job.id)
    assert q.submit(A).accepted


@pytest.mark.parametrize("state", [JobState.QUEUED, JobState.CHECKING, JobState.RUNNING, JobState.PAUSED])
def test_duplicate_in_every_active_state(state: str) -> None:
    q = DownloadQueue()
    job = q.submit(A).job
    if state in (JobState.CHECKING, JobState.RUNNING):
        run_to(q, job.id, state)
    elif state == JobState.PAUSED:
        q.pause(job.id)
    assert q.get(job.id).state == state
    assert not q.submit(A).accepted


def test_startable_respects_max_jobs_order_and_busy_threads() -> None:
    q = DownloadQueue()
    a, b, c = (q.submit(r).job for r in (A, B, C))
    assert [j.id for j in q.startable(2)] == [a.id, b.id]
    q.mark_checking(a.id)
    assert [j.id for j in q.startable(2)] == [b.id]
    # A paused job whose thread still winds down holds its slot.
    q.pause(a.id)
    assert [j.id for j in q.startable(2, busy={a.id})] == [b.id]
    assert q.startable(1, busy={a.id}) == []
    q.move(c.id, -2)
    assert [j.id for j in q.startable(2)] == [c.id, b.id]


def test_full_lifecycle_and_progress() -> None:
    q = DownloadQueue()
    job = q.submit(A).job
    q.mark_checking(job.id)
    q.mark_running(job.id, bytes_total=1000, files_total=3)
    assert q.progress(job.id, bytes_done=500, files_done=1, speed=100.0, eta=5.0)
    assert (job.bytes_done, job.files_done, job.speed, job.eta) == (500, 1, 100.0, 5.0)
    q.finish(job.id)
    assert job.state == JobState.DONE and job.bytes_done == 1000 and job.files_done == 3 and job.speed == 0
    assert not q.progress(job.id, bytes_done=1)  # late tick after the end is ignored
    assert job.bytes_done == 1000


def test_pause_resume_cancel_retry_remove() -> None:
    q = DownloadQueue()
    job = q.submit(A).job
    run_to(q, job.id, JobState.RUNNING)
    q.toggle_pause(job.id)
    assert job.state == JobState.PAUSED
    q.toggle_pause(job.id)
    assert job.state == JobState.QUEUED
    run_to(q, job.id, JobState.RUNNING)
    with pytest.raises(QueueError, match="cannot remove a running job"):
        q.remove(job.id)
    with pytest.raises(QueueError):
        q.retry(job.id)
    q.cancel(job.id)
    assert job.state == JobState.CANCELLED
    with pytest.raises(QueueError):
        q.pause(job.id)
    q.retry(job.id)
    assert job.state == JobState.QUEUED
    run_to(q, job.id, JobState.CHECKING)
    q.fail(job.id, "repo not found")
    assert job.state == JobState.FAILED and job.error == "repo not found"
    q.retry(job.id)
    assert job.error is None
    q.pause(job.id)
    q.remove(job.id)
    assert len(q) == 0


def test_retry_refused_when_identical_job_is_active() -> None:
    q = DownloadQueue()
    job = q.submit(A).job
    q.cancel(job.id)
    q.submit(A)
    with pytest.raises(QueueError, match="already in the queue"):
        q.retry(job.id)


def test_hold_and_interrupt() -> None:
    q = DownloadQueue()
    job = q.submit(A).job
    q.mark_checking(job.id)
    q.hold(job.id, "held: needs 5 MiB more")
    assert job.state == JobState.PAUSED and job.held and "5 MiB" in job.message
    q.resume(job.id)
    assert job.state == JobState.QUEUED and not job.held
    run_to(q, job.id, JobState.RUNNING)
    q.interrupt(job.id)
    assert job.state == JobState.QUEUED and "next launch" in job.message


def test_move_and_totals_and_json_roundtrip() -> None:
    q = DownloadQueue()
    a, b, c = (q.submit(r).job for r in (A, B, C))
    assert not q.move(a.id, -1)
    assert q.move(a.id, 1)
    assert [j.id for j in q.jobs] == [b.id, a.id, c.id]
    run_to(q, b.id, JobState.RUNNING)
    q.progress(b.id, bytes_done=40, speed=10.0)
    totals = q.totals()
    assert (totals.jobs, totals.running, totals.queued, totals.bytes_done, totals.bytes_total) == (
        3,
        1,
        2,
        40,
        100,
    )
    copy = DownloadQueue.from_json(json.loads(json.dumps(q.to_json())))
    assert [(j.id, j.state, j.request) for j in copy.jobs] == [(j.id, j.state, j.request) for j in q.jobs]
    views = q.views()
    views[0].state = "x"
    assert q.jobs[0].state == JobState.RUNNING


# -- progress adapter ----------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_tracker_throttles_reports_and_aggregates_bars() -> None:
    clock = FakeClock()
    reports = []
    tracker = ProgressTracker(reports.append, lambda: False, bytes_total=1000, files_total=2, clock=clock)
    cls = make_tqdm_class(tracker)
    files_bar = cls(total=2, desc="Fetching 2 files")
    transfer = cls(total=0, unit="B", desc="Downloading bytes")
    written = cls(total=0, unit="B", desc="Reconstructing (incomplete total...)")
    for _ in range(50):  # 50 updates within the same instant -> one report
        written.update(10)
        transfer.update(10)
    assert len(reports) == 1
    clock.now = 0.5
    tracker.add_net(100)
    assert len(reports) == 2
    assert reports[-1].bytes_done == 500  # max(disk 500, net 100)
    files_bar.update(1)  # a finished file is always reported
    assert reports[-1].files_done == 1
    clock.now = 1.5
    tracker.add_net(900)
    snap = tracker.snapshot()
    assert snap.bytes_done == 1000 and snap.speed > 0
    # tqdm API the library calls on these bars exists
    written.set_postfix_str("x")
    written.refresh()
    written.set_description("done")
    assert written.format_dict["rate"] is None
    with cls(total=1) as bar:
        bar.update()


def test_files_already_complete_are_not_counted_as_done() -> None:
    # The library's file bar counts every file of the selection, including the ones already
    # complete (they finish at once); files_total only counts the ones to download.
    reports = []
    tracker = ProgressTracker(
        reports.append, lambda: False, bytes_total=1000, files_total=1, files_skipped=3, clock=FakeClock()
    )
    files_bar = make_tqdm_class(tracker)(total=4, desc="Fetching 4 files")
    for _ in range(3):
        files_bar.update(1)
    assert reports[-1].files_done == 0
    files_bar.update(1)
    assert reports[-1].files_done == 1


def test_stream_wrapper_counts_bytes_in_batches_and_flushes_the_rest() -> None:
    from hftui.core.downloads import http_transport, transport

    counted: list[int] = []
    channel = transport.JobChannel(lambda: False, 5.0, counted.append)
    reads = [b"x" * 65536] * 100 + [b"y" * 10]
    stream = http_transport._CancellableStream(iter(reads), channel, count=True)
    assert b"".join(stream) == b"".join(reads)
    assert sum(counted) == 100 * 65536 + 10
    assert len(counted) <= 100 * 65536 // transport.COUNT_BATCH + 2  # not one call per read
    # A body cut short (cancel, reset) still counts what was read.
    counted.clear()
    cancel = {"now": False}
    channel = transport.JobChannel(lambda: cancel["now"], 5.0, counted.append)
    stream = http_transport._CancellableStream(iter(reads), channel, count=True)
    with pytest.raises(JobCancelled):
        for number, _chunk in enumerate(stream):
            if number == 2:
                cancel["now"] = True
    assert sum(counted) == 3 * 65536


def test_bytes_to_write_counts_cache_copies_into_a_local_dir(tmp_path: Path) -> None:
    from huggingface_hub import DryRunFileInfo

    (tmp_path / "present.bin").write_bytes(b"x")

    def info(name: str, size: int, will_download: bool) -> DryRunFileInfo:
        return DryRunFileInfo(
            commit_hash="c" * 40,
            file_size=size,
            filename=name,
            local_path=str(tmp_path / name),
            is_cached=not will_download,
            will_download=will_download,
        )

    plan = [info("new.bin", 100, True), info("in-cache.bin", 20, False), info("present.bin", 7, False)]
    # A local dir gets a copy of a file the Hub cache holds (not downloaded, but written).
    assert bytes_to_write(plan, local_dir=True) == 120
    assert bytes_to_write(plan, local_dir=False) == 100


def test_adapter_raises_when_cancelled() -> None:
    cancelled = False
    tracker = ProgressTracker(lambda p: None, lambda: cancelled, bytes_total=10, files_total=1)
    bar = make_tqdm_class(tracker)(total=0, unit="B", desc="Reconstructing")
    bar.update(1)
    cancelled = True
    with pytest.raises(JobCancelled):
        bar.update(1)


# -- error classification ------------------------------------------------------------------


def _http_error(cls, status: int, message: str = "boom"):
    import httpx2

    response = httpx2.Response(status, request=httpx2.Request("GET", "http://x/api/models/o/n"))
    return cls(message, response=response)


def test_classify_specific_and_transient_errors() -> None:
    import httpx2
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    req = DownloadRequest("org/name", revision="v2")
    assert "repo not found" in classify(_http_error(RepositoryNotFoundError, 404), req).message
    gated = classify(_http_error(GatedRepoError, 403), req)
    assert "gated" in gated.message and "HF_TOKEN" in gated.message and not gated.transient
    assert "revision not found: v2" in classify(_http_error(RevisionNotFoundError, 404), req).message
    assert classify(_http_error(HfHubHTTPError, 503), req).transient
    assert classify(_http_error(HfHubHTTPError, 429), req).transient
    assert "unauthorized" in classify(_http_error(HfHubHTTPError, 401), req).message
    reset = classify(httpx2.ReadError("[Errno 104] Connection reset by peer"), req)
    assert reset.transient and "connection reset" in reset.message
    assert classify(httpx2.ReadTimeout("t"), req).transient
    # The library wraps a connect error when the Hub is unreachable: the cause decides.
    try:
        try:
            raise httpx2.ConnectError("refused")
        except httpx2.ConnectError as inner:
            raise LocalEntryNotFoundError("cannot find") from inner
    except LocalEntryNotFoundError as outer:
        down = classify(outer, req)
    assert down.transient and down.message.startswith("network down")
    full = classify(OSError(errno.ENOSPC, "No space left on device"), req)
    assert full.message.startswith("disk full") and not full.transient
    denied = classify(PermissionError(errno.EACCES, "Permission denied", "/x/y"), req)
    assert denied.message == "permission denied: /x/y"
    secret = classify(RuntimeError("bad token hf_secret123"), req, token="hf_secret123")
    assert "hf_secret123" not in secret.message
    assert classify(JobFailure("custom"), req).message == "custom"


def test_backoff_grows_and_is_capped() -> None:
    assert [backoff_delay(n) for n in (1, 2, 3, 4, 10)] == [1, 2, 4, 8, 15]


def test_space_shortfall(tmp_path: Path) -> None:
    import shutil

    free = shutil.disk_usage(tmp_path).free
    assert space_shortfall(0, tmp_path, 10**18) == 0
    assert space_shortfall(1, tmp_path / "missing" / "dir", 0) == 0  # nearest existing ancestor is used
    assert space_shortfall(1000, tmp_path, free) >= 1000


def test_sweep_orphans_removes_only_unlocked_incomplete_files(tmp_path: Path) -> None:
    import fcntl

    req = DownloadRequest("org/name")
    blobs = tmp_path / "models--org--name" / "blobs"
    locks = tmp_path / ".locks" / "models--org--name"
    blobs.mkdir(parents=True)
    locks.mkdir(parents=True)
    orphan = blobs / "aaa.1234abcd.incomplete"
    live = blobs / "bbb.5678abcd.incomplete"
    done = blobs / "ccc"
    for f in (orphan, live, done):
        f.write_bytes(b"x")
    with open(locks / "bbb.lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        removed = sweep_orphans(req, tmp_path)
    assert removed == [orphan]
    assert live.exists() and done.exists() and not orphan.exists()


# -- saved queue ---------------------------------------------------------------------------


def test_store_save_is_atomic_and_roundtrips(tmp_path: Path) -> None:
    store = QueueStore(tmp_path / "state")
    store.acquire()
    q = DownloadQueue()
    q.submit(A)
    store.save(q.to_json())
    assert store.load().jobs == q.to_json()
    assert [p.name for p in (tmp_path / "state").iterdir() if p.suffix == ".tmp"] == []
    store.release()


def test_store_corrupt_file_is_moved_aside(tmp_path: Path) -> None:
    store = QueueStore(tmp_path)
    store.path.write_text('{"version": 1, "jobs": [ {"id": ')
    loaded = store.load()
    assert loaded.jobs == [] and "corrupt" in loaded.warnings[0]
    assert not store.path.exists()
    aside = list(tmp_path.glob("queue.json.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_text().startswith('{"version"')


def test_store_lock_names_the_owner_pid(tmp_path: Path) -> None:
    code = (
        "import sys, time\n"
        "from hftui.core.downloads.persist import QueueStore\n"
        f"s = QueueStore({str(tmp_path)!r}); s.acquire(); print('locked', flush=True); time.sleep(30)\n"
    )
    owner = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert owner.stdout is not None and owner.stdout.readline().strip() == "locked"
        with pytest.raises(QueueInUse) as info:
            QueueStore(tmp_path).acquire()
        assert info.value.pid == owner.pid
        assert f"PID {owner.pid}" in str(info.value)
    finally:
        owner.kill()
        owner.wait()
    # The kernel drops the lock with the process: no stale lock after kill -9.
    store = QueueStore(tmp_path)
    store.acquire()
    assert (tmp_path / "queue.lock").read_text().strip() == str(os.getpid())
    store.release()


def test_engine_pins_the_destination_and_spots_duplicates_spelled_differently(tmp_path: Path) -> None:
    from hftui.core.downloads.engine import DownloadEngine
    from hftui.settings import Settings

    cache = tmp_path / "cache"
    store = QueueStore(tmp_path / "state")
    engine = DownloadEngine(Settings(), default_cache=str(cache), store=store)
    engine.load()
    first = engine.submit(DownloadRequest("org/a"))
    assert first.accepted and first.job.request.cache_dir == str(cache)
    assert not engine.submit(DownloadRequest("org/a", cache_dir=f"{cache}/")).accepted
    assert not engine.submit(
        DownloadRequest("org/a", cache_dir=str(tmp_path / "x" / ".." / "cache"))
    ).accepted
    local = engine.submit(
        DownloadRequest("org/a", local_dir="~/hftui-test-models/a", allow_patterns=("*.json",))
    )
    assert local.accepted and local.job.request.local_dir == os.path.expanduser("~/hftui-test-models/a")
    again = DownloadRequest(
        "org/a", local_dir=os.path.expanduser("~/hftui-test-models/a/"), allow_patterns=("*.json", "*.json")
    )
    assert not engine.submit(again).accepted
    assert engine.submit(DownloadRequest("org/a", allow_patterns=("*.md",))).accepted  # other patterns
    engine.shutdown(0.1)
    # Restored by an hftui opened on another cache, the job still goes where it was queued.
    other = DownloadEngine(
        Settings(), default_cache=str(tmp_path / "other"), store=QueueStore(tmp_path / "state")
    )
    other.load()
    assert other.job(first.job.id).request.cache_dir == str(cache)
    other.shutdown(0.1)


def test_job_title_names_the_repo_type_like_the_repo_input() -> None:
    from hftui.core.downloads.models import DownloadRequest
    from hftui.core.downloads.queue import Job

    assert Job(DownloadRequest("acme/ds", repo_type="dataset")).title == "datasets/acme/ds"
    assert Job(DownloadRequest("acme/m")).title == "acme/m"
    assert Job(DownloadRequest("acme/m", label="acme/m:Q4_K_M")).title == "acme/m:Q4_K_M"


def test_saving_never_makes_an_action_wait_for_the_disk(tmp_path: Path) -> None:
    import threading

    from hftui.core.downloads.engine import DownloadEngine
    from hftui.settings import Settings

    class SlowDisk(QueueStore):
        """A store whose fsync takes as long as the test says (as on a busy disk)."""

        def __init__(self, directory: Path) -> None:
            super().__init__(directory)
            self.gate = threading.Event()
            self.gate.set()

        def save(self, jobs) -> None:
            self.gate.wait(10)
            super().save(jobs)

    store = SlowDisk(tmp_path / "state")
    engine = DownloadEngine(Settings(), default_cache=str(tmp_path / "cache"), store=store)
    engine.load()  # not started: jobs stay queued, nothing is downloaded
    store.gate.clear()  # the disk hangs from now on
    first = engine.submit(DownloadRequest("org/a")).job
    second = engine.submit(DownloadRequest("org/b")).job
    engine.pause(first.id)  # all of these returned although nothing could be written
    assert engine.job(first.id).state == "paused"
    assert not engine.flush(0.2)
    store.gate.set()
    assert engine.flush(5)
    saved = {job["id"]: job["state"] for job in json.loads(store.path.read_text())["jobs"]}
    assert saved == {first.id: "paused", second.id: "queued"}  # the newest state, not an older one
    engine.shutdown(1.0)
    assert not store.locked


def test_a_queue_that_cannot_be_written_is_reported_and_saved_once_it_can(tmp_path: Path) -> None:
    from hftui.core.downloads.engine import DownloadEngine, EngineEvent
    from hftui.settings import Settings

    events: list[EngineEvent] = []
    state = tmp_path / "state"
    store = QueueStore(state)
    engine = DownloadEngine(
        Settings(), default_cache=str(tmp_path / "cache"), store=store, on_event=events.append
    )
    engine.load()
    (state / "queue.json").mkdir()  # the save's final rename cannot replace a directory
    job = engine.submit(DownloadRequest("org/a")).job
    assert engine.flush(5)
    assert len(engine.save_errors) == 1 and "cannot save the queue" in engine.save_errors[0]
    assert any(event.kind == "changed" and event.job_id is None for event in events)
    assert list(state.glob(".queue-*.tmp")) == []  # no temporary file left behind
    (state / "queue.json").rmdir()
    engine.pause(job.id)
    assert engine.flush(5)
    assert [saved["state"] for saved in json.loads((state / "queue.json").read_text())["jobs"]] == ["paused"]
    engine.shutdown(1.0)
