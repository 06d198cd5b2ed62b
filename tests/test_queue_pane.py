"""The Queue pane and the app's download controller, driven with Pilot against the local Hub."""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import record_notifications, until
from hubfixtures import BIG, MODEL, hub_server, small_spec  # noqa: F401
from test_download import OTHER, SLOW, assert_cache_matches, incomplete_files, timing_spec, xet_param  # noqa: F401
from textual.binding import Binding
from textual.widgets import DataTable, Static

from hftui.core.downloads.models import DownloadRequest
from hftui.hub import HubServer
from hftui.settings import Settings, state_dir
from hftui.tui.app import HfTuiApp, make_app
from hftui.tui.messages import DownloadsChanged
from hftui.tui.panes.queue import QueuePane
from hftui.tui.screens.confirm import ConfirmScreen

SIZE = (120, 36)


async def show_queue(app: HfTuiApp, pilot) -> DataTable:
    await pilot.press("3")
    await pilot.pause()
    pane = app.query_one(QueuePane)
    pane.focus_default()
    await pilot.pause()
    return pane.query_one(DataTable)


def states(app: HfTuiApp) -> dict[str, str]:
    return {job.request.repo_id: job.state for job in app.downloads.jobs()}


def cell(app: HfTuiApp, job_id: str, column: str) -> str:
    table = app.query_one(QueuePane).query_one(DataTable)
    return str(table.get_cell(job_id, column))


def app_for(hub: HubServer, cache: Path, **settings) -> HfTuiApp:
    return make_app(Settings(cache_dir=str(cache), endpoint=hub.endpoint, disk_margin_mb=0, **settings))


async def test_queue_pane_shows_jobs_and_keys_act_on_the_highlighted_job(xet: bool, tmp_path: Path) -> None:
    seen: list[object] = []
    with HubServer(timing_spec(xet=xet)) as hub:
        hub.set_bandwidth(300_000)
        app = app_for(hub, tmp_path / "cache", max_jobs=1)
        async with app.run_test(size=SIZE, message_hook=seen.append) as pilot:
            assert app.downloads.summary_text() == "Queue: empty"
            app.enqueue_download(DownloadRequest(SLOW))
            app.enqueue_download(DownloadRequest(OTHER))
            app.enqueue_download(DownloadRequest("acme/missing-repo"))
            assert "Already in the queue" in app.enqueue_download(DownloadRequest(SLOW))
            await show_queue(app, pilot)
            await until(pilot, lambda: states(app)[SLOW] == "running", what="first job running")
            pane = app.query_one(QueuePane)
            table = pane.query_one(DataTable)
            assert table.row_count == 3
            assert app.focused is table
            assert "running" in app.downloads.summary_text()
            jobs = {j.request.repo_id: j.id for j in app.downloads.jobs()}
            await until(pilot, lambda: "/s" in cell(app, jobs[SLOW], "speed"), what="speed shown")
            assert "%" in cell(app, jobs[SLOW], "progress") and "/" in cell(app, jobs[SLOW], "files")

            # K/J move: the missing repo goes to the top (it will start next).
            table.move_cursor(row=2)
            await pilot.press("K", "K")
            assert [j.request.repo_id for j in app.downloads.jobs()] == ["acme/missing-repo", SLOW, OTHER]
            assert pane.highlighted_job_id() == jobs["acme/missing-repo"]
            await pilot.press("J")
            assert [j.request.repo_id for j in app.downloads.jobs()][1] == "acme/missing-repo"
            table.move_cursor(row=0)  # SLOW, running

            await pilot.press("p")  # pause the running job -> the next one starts
            assert states(app)[SLOW] == "paused"
            await until(
                pilot, lambda: states(app)["acme/missing-repo"] == "failed", what="missing repo to fail"
            )
            await pilot.pause()
            assert "repo not found" in cell(app, jobs["acme/missing-repo"], "note")
            await until(pilot, lambda: states(app)[OTHER] == "running", what="third job running")

            await pilot.press("x")  # cancel the paused SLOW job
            assert states(app)[SLOW] == "cancelled"
            await pilot.press("r")  # retry it: queued again
            assert states(app)[SLOW] == "queued"
            await pilot.press("delete")  # a queued job can be removed
            assert SLOW not in states(app)
            table.move_cursor(row=[j.id for j in app.downloads.jobs()].index(jobs[OTHER]))
            await pilot.press("delete")  # a running job cannot
            assert states(app)[OTHER] == "running"
            order = [j.id for j in app.downloads.jobs()]
            table.move_cursor(row=order.index(jobs["acme/missing-repo"]))
            await pilot.press("r")  # retry the failed job: queued behind the running one (max_jobs=1)
            assert states(app)["acme/missing-repo"] == "queued"
            table.move_cursor(row=order.index(jobs[OTHER]))
            await pilot.press("x")  # cancel the running job: stops at once, nothing half-written left
            assert states(app)[OTHER] == "cancelled"
            await until(
                pilot, lambda: states(app)["acme/missing-repo"] == "failed", what="retry to fail again"
            )
            await until(pilot, lambda: app.downloads.running_count() == 0, what="threads to stop")
            await until(
                pilot, lambda: app.downloads.engine.thread_count() == 0, timeout=2, what="threads gone"
            )
            assert incomplete_files(tmp_path / "cache") == []
            titles = [c.title for c in app.get_system_commands(app.screen)]
            assert "Queue: pause/resume job" in titles and "Queue: move job down" in titles
            keys = {b.key for b in QueuePane.BINDINGS if isinstance(b, Binding)}
            assert {"p", "x", "r", "delete,backspace", "K,shift+up", "J,shift+down"} <= keys


async def test_quit_asks_then_stops_and_next_launch_resumes(xet: bool, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    with HubServer(timing_spec(xet=xet)) as hub:
        hub.set_bandwidth(300_000)
        app = app_for(hub, cache, resume_on_launch="ask")
        async with app.run_test(size=SIZE) as pilot:
            app.enqueue_download(DownloadRequest(SLOW))
            app.enqueue_download(DownloadRequest(MODEL, allow_patterns=("*.json",)))
            await until(pilot, lambda: states(app)[MODEL] == "done", what="model done")
            await until(pilot, lambda: app.downloads.jobs()[0].bytes_done > 0, what="bytes")
            assert app.downloads.running_count() == 1
            await pilot.press("q")  # a job runs: quitting asks first
            await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="quit prompt")
            await pilot.press("n")  # ...and "no" keeps everything going
            await pilot.pause()
            assert app.is_running and app.downloads.running_count() == 1
            await pilot.press("q")
            await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="quit prompt")
            await pilot.press("y")
            # Stopped within 2 s (plus a UI round trip): a budget for the event, not a measurement.
            await until(pilot, lambda: not app.is_running, timeout=2.5, what="app to exit within 2.5 s")
            assert app.downloads.running_count() == 0
        saved = json.loads((state_dir() / "queue.json").read_text())
        assert {j["request"]["repo_id"]: j["state"] for j in saved["jobs"]} == {SLOW: "queued", MODEL: "done"}
        assert incomplete_files(cache) == []

        # Next launch, policy "ask": a prompt lists the job; yes resumes it.
        hub.set_bandwidth(None)
        app2 = app_for(hub, cache, resume_on_launch="ask")
        async with app2.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: isinstance(app2.screen, ConfirmScreen), what="resume prompt")
            assert states(app2) == {SLOW: "paused", MODEL: "done"}
            await pilot.press("y")
            await until(pilot, lambda: states(app2)[SLOW] == "done", what="resumed job done")
        assert_cache_matches(cache, hub, SLOW)

        # "auto" and "never" on a fresh unfinished job.
        saved = json.loads((state_dir() / "queue.json").read_text())
        saved["jobs"][0]["state"] = "running"
        (state_dir() / "queue.json").write_text(json.dumps(saved))
        app3 = app_for(hub, cache, resume_on_launch="never")
        async with app3.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: SLOW in states(app3), what="saved queue restored")
            assert states(app3)[SLOW] == "paused" and not isinstance(app3.screen, ConfirmScreen)
            table = await show_queue(app3, pilot)
            table.move_cursor(row=0)
            await pilot.press("p")
            await until(pilot, lambda: states(app3)[SLOW] == "done", what="manual resume")


async def test_auto_resume_after_kill(tmp_path: Path, hub: HubServer) -> None:
    # What a kill -9 leaves: a saved queue with a running job and no lock holder.
    cache = tmp_path / "cache"
    state_dir().mkdir(parents=True, exist_ok=True)
    job = {
        "id": "abc12345",
        "request": DownloadRequest(MODEL).to_json(),
        "state": "running",
        "bytes_done": 10,
    }
    (state_dir() / "queue.json").write_text(json.dumps({"version": 1, "jobs": [job]}))
    app = app_for(hub, cache, resume_on_launch="auto")
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: states(app).get(MODEL) == "done", what="auto resume")
    assert_cache_matches(cache, hub, MODEL)


async def test_corrupt_saved_queue_is_moved_aside_and_app_starts(tmp_path: Path) -> None:
    state_dir().mkdir(parents=True, exist_ok=True)
    (state_dir() / "queue.json").write_text("{ not json")
    app = make_app(Settings(cache_dir=str(tmp_path / "cache")))
    notes_seen = record_notifications(app)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: any("corrupt" in n for n in notes_seen), what="warning")
        notes = list(notes_seen)
        assert any("corrupt" in n and "moved aside" in n for n in notes), notes
        assert app.downloads.jobs() == []
    assert not (state_dir() / "queue.json").exists() or json.loads((state_dir() / "queue.json").read_text())
    assert list(state_dir().glob("queue.json.corrupt-*"))


async def test_second_process_sees_the_lock_with_pid(tmp_path: Path) -> None:
    state_dir().mkdir(parents=True, exist_ok=True)
    job = {"id": "abc12345", "request": DownloadRequest(MODEL).to_json(), "state": "queued"}
    (state_dir() / "queue.json").write_text(json.dumps({"version": 1, "jobs": [job]}))
    code = (
        "import time\nfrom hftui.core.downloads.persist import QueueStore\n"
        f"s = QueueStore({str(state_dir())!r}); s.acquire(); print('locked', flush=True); time.sleep(30)\n"
    )
    owner = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert owner.stdout is not None and owner.stdout.readline().strip() == "locked"
        app = make_app(Settings(cache_dir=str(tmp_path / "cache"), resume_on_launch="auto"))
        notes_seen = record_notifications(app)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: app.downloads.load_report.in_use, what="load report")
            notes = list(notes_seen)
            assert any(f"in use by another hftui (PID {owner.pid})" in n for n in notes), notes
            assert app.downloads.jobs() == []  # the other process's jobs are not run here
            # ... and the Queue pane keeps saying why, after the toast is gone.
            await show_queue(app, pilot)
            overall = str(app.query_one(QueuePane).query_one("#queue-overall", Static).render())
            assert f"in use by another hftui (PID {owner.pid})" in overall, overall
    finally:
        owner.kill()
        owner.wait()
    assert json.loads((state_dir() / "queue.json").read_text())["jobs"] == [job]  # untouched


async def test_progress_reaches_the_table_via_messages_only(tmp_path: Path, hub: HubServer) -> None:
    seen: list[object] = []
    app = app_for(hub, tmp_path / "cache")
    async with app.run_test(size=SIZE, message_hook=seen.append) as pilot:
        await pilot.press("3")
        outcome = app.downloads.submit(DownloadRequest(BIG))
        await until(pilot, lambda: states(app)[BIG] == "done", what="done")
        await pilot.pause()
        assert outcome.job_id is not None
        assert cell(app, outcome.job_id, "state") == "done"
        assert "100%" in cell(app, outcome.job_id, "progress")
        assert cell(app, outcome.job_id, "files") == "2/2"
        assert ("model", BIG) not in app.downloads.active_repos()
        finished = [m.finished for m in seen if isinstance(m, DownloadsChanged) and m.finished]
        assert finished == [(("model", BIG),)]


@pytest.mark.root
async def test_a_queue_that_cannot_be_saved_is_reported(tmp_path: Path) -> None:
    # A real full disk under the state directory, filled once the download process holds the lock.
    state = state_dir()
    state.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(state)], capture_output=True, text=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        (state / "queue.json").write_text(json.dumps({"version": 1, "jobs": []}))
        app = make_app(Settings(cache_dir=str(tmp_path / "cache"), endpoint="http://127.0.0.1:9", retries=0))
        notes_seen = record_notifications(app)
        async with app.run_test(size=SIZE) as pilot:
            assert app.downloads.engine is not None
            await until(pilot, lambda: app.downloads.engine.wait_loaded(0), what="saved queue loaded")
            with (state / "filler").open("wb") as filler, contextlib.suppress(OSError):
                while True:
                    filler.write(b"\0" * 65536)
                    filler.flush()
            outcome = app.downloads.submit(DownloadRequest(MODEL))
            assert outcome.accepted, outcome.message  # the job runs; only saving it fails
            await until(pilot, lambda: any("cannot save the queue" in n for n in notes_seen))
            notes = [n for n in notes_seen if "cannot save the queue" in n]
            assert len(notes) == 1 and "No space left on device" in notes[0], notes
    finally:
        subprocess.run(["umount", "-l", str(state)], check=False)


def test_a_job_with_nothing_left_to_fetch_reads_already_cached() -> None:
    from hftui.core.downloads.queue import Job
    from hftui.tui.panes.queue import job_cells

    done = Job(DownloadRequest(MODEL), state="done", bytes_total=0, bytes_done=0, files_total=0)
    cells = job_cells(done, 1)
    assert cells["progress"] == "already cached" and cells["files"] == ""
    fetched = Job(
        DownloadRequest(MODEL), state="done", bytes_total=10, bytes_done=10, files_total=2, files_done=2
    )
    assert job_cells(fetched, 1)["progress"].startswith("100%") and job_cells(fetched, 1)["files"] == "2/2"


async def test_patterns_and_paths_with_brackets_show_as_typed(tmp_path: Path) -> None:
    # A DataTable reads plain strings as markup: "[ab]*" would vanish as an unknown tag.
    dest = Path("/tmp") / f"[x]{tmp_path.name[-12:]}"  # short enough to show whole
    app = make_app(Settings(cache_dir=str(tmp_path / "cache"), endpoint="http://127.0.0.1:9", retries=0))
    try:
        async with app.run_test(size=(160, 30)) as pilot:
            table = await show_queue(app, pilot)
            app.downloads.submit(DownloadRequest(MODEL, allow_patterns=("[ab]*",), local_dir=str(dest)))
            await until(pilot, lambda: table.row_count == 1, what="the job's row")
            await pilot.pause()
            shown = "\n".join(strip.text for strip in table.render_lines(table.region.reset_offset))
            assert f"{MODEL} [[ab]*]" in shown, shown
            assert str(dest) in shown, shown
    finally:
        shutil.rmtree(dest, ignore_errors=True)


async def test_a_crashed_download_process_is_reported_and_its_jobs_resume(tmp_path: Path) -> None:
    import os
    import signal

    cache = tmp_path / "cache"
    with HubServer(timing_spec()) as hub:
        hub.set_bandwidth(200_000)
        app = app_for(hub, cache, resume_on_launch="auto")
        notes_seen = record_notifications(app)
        async with app.run_test(size=SIZE) as pilot:
            app.downloads.submit(DownloadRequest(SLOW))
            await until(pilot, lambda: states(app).get(SLOW) == "running", what="running")
            engine = app.downloads.engine
            assert engine is not None and engine.pid is not None and engine.pid != os.getpid()
            first = engine.pid
            hub.set_bandwidth(None)
            os.kill(first, signal.SIGKILL)
            await until(
                pilot,
                lambda: any("stopped unexpectedly" in n for n in notes_seen),
                what="the crash to be reported",
            )
            await until(pilot, lambda: states(app).get(SLOW) == "done", what="the job to resume and finish")
            assert engine.pid not in (None, first)
            await pilot.pause()
            assert "1 done" in app.downloads.summary_text()
            second = engine.pid
        assert second is not None and not Path(f"/proc/{second}").exists()  # quitting ended it
    assert_cache_matches(cache, hub, SLOW)


async def test_after_a_crash_running_jobs_carry_on_without_a_resume_prompt(tmp_path: Path) -> None:
    """With the default launch policy ("ask"), a restarted download process must not pause the
    job it was running and ask again as if it came from the last session."""
    import os
    import signal

    cache = tmp_path / "cache"
    prompts: list[object] = []
    with HubServer(timing_spec()) as hub:
        hub.set_bandwidth(200_000)
        app = app_for(hub, cache)
        notes_seen = record_notifications(app)
        assert app.settings.resume_on_launch == "ask"
        async with app.run_test(size=SIZE) as pilot:
            app.downloads.submit(DownloadRequest(SLOW))
            await until(pilot, lambda: states(app).get(SLOW) == "running", what="running")
            engine = app.downloads.engine
            assert engine is not None and engine.pid is not None
            hub.set_bandwidth(None)
            os.kill(engine.pid, signal.SIGKILL)

            def finished() -> bool:
                if isinstance(app.screen, ConfirmScreen):
                    prompts.append(app.screen)
                return states(app).get(SLOW) == "done"

            await until(pilot, finished, what="the job to carry on and finish")
            assert prompts == []
            messages = list(notes_seen)
            assert any("stopped unexpectedly" in m for m in messages), messages
            assert not any("last session" in m for m in messages), messages
    assert_cache_matches(cache, hub, SLOW)


async def test_after_the_last_automatic_restart_the_next_action_still_downloads(
    tmp_path: Path, monkeypatch
) -> None:
    import os
    import signal

    from hftui.tui import downloads

    monkeypatch.setattr(downloads, "MAX_RESTARTS", 0)
    cache = tmp_path / "cache"
    with HubServer(timing_spec()) as hub:
        app = app_for(hub, cache)
        notes_seen = record_notifications(app)
        async with app.run_test(size=SIZE) as pilot:
            app.downloads.submit(DownloadRequest(MODEL, allow_patterns=("*.json",)))
            await until(pilot, lambda: states(app).get(MODEL) == "done", what="first job")
            engine = app.downloads.engine
            assert engine is not None and engine.pid is not None
            os.kill(engine.pid, signal.SIGKILL)
            await until(
                pilot,
                lambda: any("stopped unexpectedly" in n for n in notes_seen),
                what="the crash to be reported",
            )
            notice = [n for n in notes_seen if "stopped unexpectedly" in n][-1]
            # What the notice says must match what happens: the next download works.
            assert "unavailable" not in notice and "next download" in notice, notice
            assert app.downloads.submit(DownloadRequest(SLOW)).accepted
            await until(pilot, lambda: states(app).get(SLOW) == "done", what="a download after the crash")
    assert_cache_matches(cache, hub, SLOW)


async def test_the_summary_line_counts_cancelled_jobs(tmp_path: Path) -> None:
    with HubServer(timing_spec()) as hub:
        hub.set_bandwidth(200_000)
        app = app_for(hub, tmp_path / "cache")
        async with app.run_test(size=SIZE) as pilot:
            job_id = app.downloads.submit(DownloadRequest(SLOW)).job_id
            assert job_id is not None
            await until(pilot, lambda: states(app).get(SLOW) == "running", what="running")
            assert app.downloads.act("cancel", job_id).startswith("Cancelled")
            assert app.downloads.summary_text() == "Queue: 0 running · 1 cancelled · 0 done"
            await show_queue(app, pilot)
            overall = str(app.query_one(QueuePane).query_one("#queue-overall").render())
            assert overall.startswith(
                "1 job: 0 running, 0 queued, 0 paused, 0 done, 0 failed, 1 cancelled"
            ), overall


async def test_p_shows_the_new_state_before_the_download_process_answers(tmp_path: Path) -> None:
    """A key press shows the action's outcome at once, even when the download process is slow to
    answer (here it cannot: it is stopped with SIGSTOP); its answer then confirms it."""
    import os
    import signal

    from textual import events

    with HubServer(timing_spec()) as hub:
        hub.set_bandwidth(300_000)
        app = app_for(hub, tmp_path / "cache")
        async with app.run_test(size=SIZE) as pilot:
            notes = record_notifications(app)
            app.enqueue_download(DownloadRequest(SLOW))
            await show_queue(app, pilot)
            await until(pilot, lambda: states(app)[SLOW] == "running", what="the job to run")
            (job,) = app.downloads.jobs()
            await until(pilot, lambda: cell(app, job.id, "state") == "running", what="the row")
            engine = app.downloads.engine
            assert engine is not None and engine.pid is not None
            os.kill(engine.pid, signal.SIGSTOP)
            try:
                # A real key event, not `pilot.press` (which waits for the action to finish).
                app.post_message(events.Key("p", "p"))
                await until(pilot, lambda: cell(app, job.id, "state") == "paused", what="paused shown")
                assert engine.pending_actions() == 1  # shown before any answer
                assert not any(note.startswith("Paused") for note in notes)
            finally:
                os.kill(engine.pid, signal.SIGCONT)
            await until(pilot, lambda: engine.pending_actions() == 0, what="the answer")
            await until(pilot, lambda: any(n == f"Paused: {job.title}" for n in notes), what="the toast")
            assert cell(app, job.id, "state") == "paused"
            await until(pilot, lambda: engine.thread_count() == 0, what="the job process to stop")
