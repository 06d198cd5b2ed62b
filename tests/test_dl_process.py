"""The download engine in a child process (what the TUI runs), against the local Hub server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import wait_for
from hubfixtures import BIG, MODEL, hub_server  # noqa: F401
from test_download import OTHER, SLOW, assert_cache_matches, incomplete_files, timing_spec

from hftui.core.downloads.engine import STALL_DISPLAY_AFTER, EngineEvent, LoadReport
from hftui.core.downloads.models import DownloadRequest
from hftui.core.downloads.persist import QueueStore
from hftui.core.downloads.process import EngineProcess, EngineUnavailable
from hftui.core.downloads.queue import QueueError
from hftui.hub import Fault, HubServer
from hftui.settings import Settings


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it is gone for our purposes.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


class Recorder:
    def __init__(self) -> None:
        self.events: list[EngineEvent] = []
        self.reports: list[LoadReport] = []
        self.lost: list[str] = []


@pytest.fixture
def make_process(tmp_path: Path) -> Iterator:
    made: list[EngineProcess] = []

    def make(hub: HubServer | None, **settings) -> tuple[EngineProcess, Recorder]:
        record = Recorder()
        settings.setdefault("disk_margin_mb", 0)
        engine = EngineProcess(
            Settings(**settings),
            endpoint=hub.endpoint if hub else "http://127.0.0.1:9",
            default_cache=str(tmp_path / "cache"),
            state_directory=tmp_path / "state",
            on_event=record.events.append,
            on_loaded=record.reports.append,
            on_lost=record.lost.append,
        )
        made.append(engine)
        return engine, record

    yield make
    for engine in made:
        engine.shutdown(2.0)


def test_jobs_run_in_the_child_and_the_mirror_follows(hub: HubServer, make_process, tmp_path: Path) -> None:
    engine, record = make_process(hub)
    assert engine.jobs() == [] and not engine.started  # nothing runs until asked
    result = engine.submit(DownloadRequest(MODEL))  # starts the process and waits for its answer
    assert result.accepted and engine.started and engine.pid != os.getpid()
    assert [job.id for job in engine.jobs()] == [result.job.id]  # up to date when the call returns
    again = engine.submit(DownloadRequest(MODEL))
    assert not again.accepted and again.job.id == result.job.id
    assert engine.wait_idle(30)
    done = engine.job(result.job.id)
    assert done.state == "done" and done.files_done == done.files_total and done.files_total
    assert engine.totals().done == 1 and engine.running_count() == 0 and engine.thread_count() == 0
    assert_cache_matches(tmp_path / "cache", hub, MODEL)
    assert record.reports and not record.reports[0].warnings
    finished = [event for event in record.events if event.finished]
    assert [e.finished for e in finished] == [(("model", MODEL),)]
    assert [e.finished_job_ids for e in finished] == [(result.job.id,)]
    # The saved queue names the app's PID, the process a user knows, as its owner.
    assert (tmp_path / "state" / "queue.lock").read_text().strip() == str(os.getpid())
    with pytest.raises(QueueError, match="no job"):
        engine.cancel("nope")
    pid = engine.pid
    assert engine.shutdown(2.0)
    assert pid is not None and not alive(pid)
    saved = json.loads((tmp_path / "state" / "queue.json").read_text())
    assert [job["state"] for job in saved["jobs"]] == ["done"]


def test_cancel_through_the_process_stops_traffic_within_2s(make_process, tmp_path: Path) -> None:
    with HubServer(timing_spec()) as hub:
        hub.set_bandwidth(300_000)
        engine, _ = make_process(hub)
        slow = engine.submit(DownloadRequest(SLOW)).job
        wait_for(lambda: engine.job(slow.id).bytes_done > 100_000, what="bytes moving")
        assert engine.cancel(slow.id).state == "cancelled"
        # The promise is "traffic stops within 2 s": a budget for the event, not a measurement.
        wait_for(lambda: engine.thread_count() == 0, timeout=2.0, what="the job thread to stop within 2 s")
        seen = len(hub.requests)
        # A window closed by an event, not a sleep: another whole download, during which the
        # cancelled job must not ask the server for anything.
        hub.set_bandwidth(None)
        other = engine.submit(DownloadRequest(OTHER)).job
        wait_for(lambda: engine.job(other.id).state == "done", timeout=60, what="the other download")
        assert [r for r in hub.requests[seen:] if SLOW in r.path] == []
        assert incomplete_files(tmp_path / "cache") == []


def test_killing_the_app_stops_the_child_cleanly_and_the_next_start_resumes(tmp_path: Path) -> None:
    """kill -9 of the app mid-download: the child notices, stops its job, saves it as unfinished."""
    state = tmp_path / "state"
    cache = tmp_path / "cache"
    with HubServer(timing_spec()) as hub:
        hub.set_bandwidth(300_000)
        script = textwrap.dedent(
            f"""
            import sys, time
            from hftui.core.downloads.process import EngineProcess
            from hftui.core.downloads.models import DownloadRequest
            from hftui.settings import Settings
            engine = EngineProcess(Settings(disk_margin_mb=0), endpoint={hub.endpoint!r},
                                   default_cache={str(cache)!r}, state_directory=__import__("pathlib").Path({str(state)!r}))
            job = engine.submit(DownloadRequest({SLOW!r})).job
            while engine.job(job.id).bytes_done < 100_000:
                time.sleep(0.02)
            print(engine.pid, flush=True)
            time.sleep(60)
            """
        )
        app = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
        try:
            assert app.stdout is not None
            child = int(app.stdout.readline())
            app.kill()
            app.wait()
            wait_for(lambda: not alive(child), timeout=5, what="the child to exit")
        finally:
            app.kill()
        saved = json.loads((state / "queue.json").read_text())
        assert [(job["request"]["repo_id"], job["state"]) for job in saved["jobs"]] == [(SLOW, "queued")]
        assert not QueueStore(state).lock_path.exists() or QueueStore(state).lock_path.read_text() == ""
        assert incomplete_files(cache) == []

        hub.set_bandwidth(None)
        engine = EngineProcess(
            Settings(disk_margin_mb=0, resume_on_launch="auto"),
            endpoint=hub.endpoint,
            default_cache=str(cache),
            state_directory=state,
        )
        try:
            engine.start()
            assert engine.wait_loaded(10)
            assert engine.wait_idle(30)
            assert [job.state for job in engine.jobs()] == ["done"]
        finally:
            engine.shutdown(2.0)
        assert_cache_matches(cache, hub, SLOW)


def test_a_crashed_child_is_reported_and_a_restart_restores_the_queue(make_process, tmp_path: Path) -> None:
    with HubServer(timing_spec()) as hub:
        hub.set_bandwidth(200_000)
        engine, record = make_process(hub, resume_on_launch="auto")
        slow = engine.submit(DownloadRequest(SLOW)).job
        wait_for(lambda: engine.job(slow.id).state == "running", what="running")
        pid = engine.pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: bool(record.lost), timeout=5, what="the loss to be reported")
        assert "stopped unexpectedly" in record.lost[0] and "-9" in record.lost[0]
        assert engine.job(slow.id).state == "queued" and engine.running_count() == 0
        # The next call starts a new process, which restores the saved queue and resumes the job.
        hub.set_bandwidth(None)
        engine.start()
        assert engine.wait_loaded(10)
        assert engine.pid not in (None, pid)
        assert engine.wait_idle(30)
        assert engine.job(slow.id).state == "done"
        assert_cache_matches(tmp_path / "cache", hub, SLOW)


def test_calls_after_shutdown_say_why(make_process) -> None:
    engine, _ = make_process(None)
    engine.start()
    assert engine.wait_loaded(10)
    engine.shutdown(2.0)
    with pytest.raises(EngineUnavailable, match="stopped"):
        engine.submit(DownloadRequest(MODEL))


def test_the_child_refuses_what_is_not_an_engine_action(make_process) -> None:
    engine, _ = make_process(None)
    with pytest.raises(QueueError, match="unknown call"):
        engine._call("shutdown_everything")


def test_a_process_that_cannot_start_is_a_clear_error(make_process, monkeypatch, tmp_path: Path) -> None:
    engine, _ = make_process(None)
    monkeypatch.setattr(sys, "executable", str(tmp_path / "no-such-python"))
    with pytest.raises(EngineUnavailable, match="cannot start the download process"):
        engine.submit(DownloadRequest(MODEL))
    assert not engine.started and engine.jobs() == []


async def test_the_app_says_why_a_download_cannot_be_queued(monkeypatch, tmp_path: Path) -> None:
    from hftui.tui.app import make_app

    monkeypatch.setattr(sys, "executable", str(tmp_path / "no-such-python"))
    app = make_app(Settings(cache_dir=str(tmp_path / "cache")))
    async with app.run_test(size=(100, 30)):
        outcome = app.downloads.submit(DownloadRequest(MODEL))
        assert not outcome.accepted
        assert "cannot start the download process" in outcome.message
        assert app.downloads.jobs() == [] and app.downloads.summary_text() == "Queue: empty"


@pytest.mark.parametrize("policy", ["ask", "never"])
def test_after_a_crash_the_restarted_child_carries_on_whatever_the_launch_policy(
    make_process, tmp_path: Path, policy: str
) -> None:
    """The launch policy is about jobs from the last session: after the child dies, what it was
    running carries on (no second prompt, nothing left paused), and a paused job stays paused."""
    with HubServer(timing_spec()) as hub:
        hub.set_bandwidth(300_000)
        engine, record = make_process(hub, resume_on_launch=policy)
        slow = engine.submit(DownloadRequest(SLOW)).job
        other = engine.submit(DownloadRequest(OTHER)).job
        assert engine.pause(other.id).state == "paused"
        wait_for(lambda: engine.job(slow.id).bytes_done > 100_000, what="bytes moving")
        pid = engine.pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: bool(record.lost), timeout=5, what="the loss to be reported")
        hub.set_bandwidth(None)
        engine.start()  # what the app does on DownloadsLost
        assert engine.wait_loaded(10)
        assert engine.job(slow.id).state != "paused"
        assert not record.reports[-1].ask  # no "Resume N unfinished download(s)?" again
        wait_for(lambda: engine.job(slow.id).state == "done", timeout=30, what="the job to carry on")
        assert engine.job(other.id).state == "paused"
        assert_cache_matches(tmp_path / "cache", hub, SLOW)


def test_a_stalled_body_shows_no_speed_and_no_eta(make_process) -> None:
    """Speed is reported as bytes arrive: a stalled body must not keep showing its last speed and
    ETA (frozen for up to stall_timeout) while nothing moves."""
    with HubServer(timing_spec()) as hub:
        hub.set_bandwidth(1_000_000)
        hub.add_fault(Fault("stall", path_glob="*/weights.bin", after_bytes=1_000_000, stall_seconds=15.0))
        engine, _ = make_process(hub, stall_timeout=30.0)
        job = engine.submit(DownloadRequest(SLOW)).job
        wait_for(lambda: engine.job(job.id).speed > 0, what="a speed to show")
        wait_for(lambda: engine.job(job.id).bytes_done >= 900_000, what="the bytes before the stall")
        wait_for(
            lambda: engine.job(job.id).speed == 0 and engine.job(job.id).eta is None,
            timeout=4 + STALL_DISPLAY_AFTER,
            what="the speed of the stalled job to drop to 0",
        )
        assert engine.job(job.id).state == "running"
        engine.cancel(job.id)  # cuts the stalled read (no 15 s wait)


def test_pausing_a_job_waiting_for_an_answer_frees_its_slot_at_once(make_process, tmp_path: Path) -> None:
    """A request the server does not answer (a busy API: here the HEAD of each file) has no body
    to cut: pause must still free the slot at once, not when the answer or stall_timeout comes."""
    with HubServer(timing_spec()) as hub:
        hub.add_fault(
            Fault("delay", path_glob=f"/{SLOW}/resolve/*", method=None, stall_seconds=20.0, times=None)
        )
        engine, _ = make_process(hub, max_jobs=1, stall_timeout=30.0)
        slow = engine.submit(DownloadRequest(SLOW)).job
        other = engine.submit(DownloadRequest(OTHER)).job
        wait_for(lambda: engine.job(slow.id).state == "running", what="the first job to ask for its files")
        time.sleep(0.5)  # its metadata request now waits for the delayed answer
        assert engine.pause(slow.id).state == "paused"
        wait_for(
            lambda: engine.job(other.id).state != "queued",
            timeout=2.0,
            what="the next job to start within 2 s",
        )
        wait_for(lambda: engine.job(other.id).state == "done", timeout=20, what="the next job to finish")
        assert_cache_matches(tmp_path / "cache", hub, OTHER)
        engine.resume(slow.id)
        wait_for(lambda: engine.job(slow.id).state == "running", what="the first job to ask again")
        time.sleep(0.5)
        assert engine.shutdown(2.0)  # and quitting stops it cleanly, within its 2 s budget


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def _autogroup(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/autogroup").read_text().split()[0]
    except (OSError, IndexError):
        return None  # a kernel without autogroup scheduling: nice values count everywhere


def test_the_download_processes_share_the_apps_session_so_their_niceness_counts(make_process) -> None:
    """The download process and its job processes run nicer than the app, in process groups of
    their own (terminal signals reach the app only) but in the app's session: with Linux's
    autogroup scheduling each session gets an equal CPU share whatever its nice values, so a job
    process in a session of its own competed with the UI as an equal (docs/benchmarks.md)."""
    engine, _ = make_process(None)
    engine.start()
    assert engine.wait_loaded(30)
    child = engine.pid
    assert child is not None
    # The engine keeps a warm job process once started: the process a job will run in.
    wait_for(lambda: _children(child) != [], what="a warm job process")
    ours = os.getpriority(os.PRIO_PROCESS, 0)
    expected = [(child, 10), *((job, 19) for job in _children(child))]
    # A job process is reniced by its parent right after it starts: a look in between sees the
    # parent's value (it happened under load), so the check waits for the renice.
    wait_for(
        lambda: all(os.getpriority(os.PRIO_PROCESS, pid) == min(19, ours + n) for pid, n in expected),
        what="the job processes reniced",
    )
    for pid, _niceness in expected:
        assert os.getsid(pid) == os.getsid(0), "a session of its own escapes nice (autogroups)"
        assert os.getpgid(pid) not in (os.getpgid(0), os.getpgid(child) if pid != child else -1)
        assert _autogroup(pid) == _autogroup(os.getpid())


def test_an_action_shows_its_outcome_before_the_child_answers(make_process) -> None:
    """`begin` sends an action without waiting: the mirror shows the job as the action leaves it at
    once (the child is stopped with SIGSTOP here, so it cannot have answered), and the answer
    reconciles: what the child accepts stays, what it refuses raises and shows the child's state."""
    with HubServer(timing_spec()) as hub:
        hub.set_bandwidth(300_000)
        engine, _ = make_process(hub)
        slow = engine.submit(DownloadRequest(SLOW)).job
        wait_for(lambda: engine.job(slow.id).state == "running", what="the job to run")
        child = engine.pid
        assert child is not None
        os.kill(child, signal.SIGSTOP)
        try:
            pause = engine.begin("toggle_pause", slow.id)
            assert engine.job(slow.id).state == "paused" and engine.jobs()[0].state == "paused"
            assert engine.totals().paused == 1 and engine.totals().running == 0
            assert not pause.answered and engine.pending_actions() == 1
            cancel = engine.begin("cancel", slow.id)
            twice = engine.begin("cancel", slow.id)  # the view cannot cancel it again: unchanged
            assert engine.job(slow.id).state == "cancelled" and engine.pending_actions() == 3
            with pytest.raises(QueueError, match="unknown action"):
                engine.begin("shutdown", slow.id)
        finally:
            os.kill(child, signal.SIGCONT)
        assert pause.result().state == "paused"
        assert cancel.result().state == "cancelled"
        with pytest.raises(QueueError, match="cannot cancel a cancelled job"):
            twice.result()
        assert engine.pending_actions() == 0 and engine.job(slow.id).state == "cancelled"
        # A move lands where it was expected, once, whatever the snapshots in between say.
        other = engine.submit(DownloadRequest(OTHER)).job
        assert [j.id for j in engine.jobs()] == [slow.id, other.id]
        assert engine.begin("move", other.id, -1).result() is True
        assert [j.id for j in engine.jobs()] == [other.id, slow.id]


def test_headless_job_processes_keep_a_session_of_their_own() -> None:
    """At the engine's own priority (headless `hftui download`) a job process starts a session of
    its own, as before: each job keeps its CPU share when other programs compete for the cores."""
    from hftui.core.downloads import worker

    child = worker._Child(worker._child_environment(), 0)
    try:
        assert os.getsid(child.proc.pid) == child.proc.pid != os.getsid(0)
        assert os.getpriority(os.PRIO_PROCESS, child.proc.pid) == os.getpriority(os.PRIO_PROCESS, 0)
    finally:
        child.kill()
