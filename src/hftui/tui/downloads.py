"""Bridge between the download engine (hftui.core) and the app.

The engine runs in a child process (`hftui.core.downloads.process.EngineProcess`: the same
`DownloadEngine` as the headless CLI, kept away from the UI's GIL). This controller starts
it, turns its events into `DownloadsChanged` messages (posted thread-safely from the
process's reader thread, never touching widgets there), and offers the small API the app and
the panes use. Reads come from the process's mirror and never block; an action shows its
outcome at once and its answer is awaited off the event loop (`perform`). Progress is throttled
by the engine (≤ 10/s per job) and paced here for the UI (one refresh per 0.25 s for all jobs,
the last one never dropped: `hftui.core.downloads.pacing`); `DownloadsChanged.can_replace`
coalesces adjacent messages.

The child starts with the app when a saved queue exists (to restore and resume it), else on
the first download, so browsing the cache never costs a process.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hftui.core import vocab
from hftui.core.downloads.engine import EngineEvent, LoadReport
from hftui.core.downloads.models import DownloadRequest
from hftui.core.downloads.pacing import Pacer
from hftui.core.downloads.persist import QueueStore
from hftui.core.downloads.process import EngineProcess, EngineUnavailable
from hftui.core.downloads.queue import Job, JobState, QueueError, QueueTotals

if TYPE_CHECKING:
    from hftui.tui.app import HfTuiApp

DOWNLOAD_NICENESS = 10
"""OS niceness of the download process, so keys stay responsive while jobs run."""

PROGRESS_UI_INTERVAL = 0.25
"""Seconds between progress-only refreshes of the queue pane and summary (state changes: at once)."""

MAX_RESTARTS = 3
"""Times the download process is restarted after it ended unexpectedly, per app session."""

_ACTIONS = {
    "toggle_pause": "toggle_pause",
    "cancel": "cancel",
    "retry": "retry",
    "remove": "remove",
    "up": "move",
    "down": "move",
}
"""The Queue pane's job actions -> the engine action that `EngineProcess.begin` sends."""


@dataclass(frozen=True)
class SubmitOutcome:
    accepted: bool
    message: str
    job_id: str | None = None


class DownloadsController:
    def __init__(self, app: HfTuiApp) -> None:
        self.app = app
        self.engine: EngineProcess | None = None
        self.load_report = LoadReport()
        self._started = False
        self._closing = False
        self._restarts = 0
        self.progress_pacer = Pacer(self._post_progress, PROGRESS_UI_INTERVAL)
        """Paces the progress refreshes of the queue (`hftui.core.downloads.pacing`)."""
        self._save_errors_shown = 0
        self._save_errors_lock = threading.Lock()

    # -- lifecycle --------------------------------------------------------------------------

    def _build(self) -> EngineProcess:
        if self.engine is None:
            from hftui.settings import state_dir

            self.engine = EngineProcess(
                self.app.settings,
                endpoint=self.app.endpoint,
                default_cache=str(self.app.cache_dir),
                state_directory=state_dir(),
                niceness=DOWNLOAD_NICENESS,
                on_event=self._on_event,
                on_loaded=self._on_loaded,
                on_lost=self._on_lost,
            )
        return self.engine

    def start(self) -> None:
        """Called once the app is mounted: start the download process if a saved queue exists."""
        if self._started:
            return
        self._started = True
        from huggingface_hub.utils import logging as hf_logging

        # Library warnings would be written over the screen; panes show what happens instead.
        hf_logging.set_verbosity_error()
        from hftui.settings import state_dir

        store = QueueStore(state_dir())
        # A lock file without a queue file may be another hftui's: its load says so.
        if store.path.exists() or store.lock_path.exists():
            try:
                self._build().start()
            except EngineUnavailable as exc:
                self.app.notify(
                    f"{exc}: saved downloads cannot be resumed", title="Download queue", severity="error"
                )

    def _on_loaded(self, report: LoadReport) -> None:
        # On the process's reader thread: hand over to the UI thread.
        from hftui.tui.messages import DownloadsLoaded

        if not self._closing:
            self.app.post_message(DownloadsLoaded(report))

    def _on_lost(self, reason: str) -> None:
        from hftui.tui.messages import DownloadsLost

        if not self._closing:
            self.app.post_message(DownloadsLost(reason))

    def apply_load_report(self, report: LoadReport) -> None:
        """On the UI thread, once the saved queue is read: warnings, resume notice or prompt."""
        from hftui.tui.messages import DownloadsChanged

        self.load_report = report
        for warning in report.warnings:
            self.app.notify(warning, title="Download queue", severity="warning", timeout=10)
        self.app.post_message(DownloadsChanged())  # show the restored jobs
        restarted = self.engine is not None and self.engine.loads > 1
        if restarted:
            # A restarted download process resumed what the dead one was running (the loss
            # notice said so); these jobs are not "from the last session".
            return
        if report.unfinished and not report.ask:
            state = (
                "resuming" if self.app.settings.resume_on_launch == "auto" else "paused (press p to resume)"
            )
            self.app.notify(
                f"{vocab.count(len(report.unfinished), 'unfinished download')} from the last session: {state}",
                title="Download queue",
                timeout=6,
            )
        if report.ask:
            self._ask_resume(report.unfinished)

    def process_lost(self, reason: str) -> None:
        """On the UI thread: the download process died. Say so, and restart it (bounded)."""
        from hftui.settings import state_dir
        from hftui.tui.messages import DownloadsChanged

        self.app.post_message(DownloadsChanged())
        log = state_dir() / "download-process.log"
        if self._closing:
            return
        if self._restarts < MAX_RESTARTS and self.engine is not None:
            self._restarts += 1
            self.app.notify(
                f"{reason}; restarting it (saved jobs are restored). Details: {log}",
                title="Download queue",
                severity="error",
                timeout=15,
            )
            try:
                self.engine.start()
            except EngineUnavailable as exc:
                self.app.notify(str(exc), title="Download queue", severity="error", timeout=30)
        else:
            # Not restarted automatically again (a process that keeps dying must not loop), but
            # the next action starts it: say that, not that downloads are gone for good.
            stops = self._restarts + 1
            self.app.notify(
                f"{reason}; it stopped {vocab.count(stops, 'time')}, so it is not restarted "
                f"automatically: unfinished jobs carry on with your next download or queue action. "
                f"Details: {log}",
                title="Download queue",
                severity="error",
                timeout=30,
            )

    def _ask_resume(self, job_ids: list[str]) -> None:
        from hftui.tui.screens.confirm import ConfirmScreen

        engine = self._build()
        titles = []
        for job in engine.jobs():
            if job.id in job_ids:
                titles.append(
                    f"• {job.title}  ({vocab.size(job.bytes_done)} of {vocab.size(job.bytes_total)})"
                )
        body = "\n".join(titles[:15]) + (f"\n… and {len(titles) - 15} more" if len(titles) > 15 else "")

        async def answer(resume: bool | None) -> None:
            if resume:
                try:
                    await asyncio.to_thread(engine.resume_many, job_ids)
                except EngineUnavailable as exc:
                    self.app.notify(f"Cannot resume: {exc}", severity="error")
                    return
                self.app.notify(f"Resumed {vocab.count(len(job_ids), 'download')}")
            else:
                self.app.notify("Unfinished downloads stay paused in the Queue pane (p resumes)")

        self.app.push_screen(
            ConfirmScreen(
                f"Resume {vocab.count(len(job_ids), 'unfinished download')}?",
                body or "(unfinished jobs)",
                confirm_label="Resume",
            ),
            answer,
        )

    def _post_progress(self) -> None:
        from hftui.tui.messages import DownloadsChanged

        if not self._closing:
            self.app.post_message(DownloadsChanged())

    def _on_event(self, event: EngineEvent) -> None:
        # Called from the download process's reader thread; post_message is thread-safe and
        # non-blocking.
        from hftui.tui.messages import DownloadsChanged

        if self._closing:
            return  # the app is tearing down: its widgets may already be gone
        self._report_save_errors()
        if event.kind == "progress":
            # Progress ticks only refresh numbers: at most one refresh per PROGRESS_UI_INTERVAL for
            # all jobs together (the last one is never dropped), so the UI thread spends its time
            # on keys, not on redrawing counters.
            self.progress_pacer.poke()
            return
        self.progress_pacer.delivered()
        finished: tuple[tuple[str, str], ...] = ()
        if event.finished and self.engine is not None:
            cache = str(self.app.cache_dir)
            for job_id, repo in zip(event.finished_job_ids, event.finished, strict=False):
                try:
                    request = self.engine.job(job_id).request
                except QueueError:
                    continue
                if request.local_dir is None and (request.cache_dir or cache) == cache:
                    finished += (repo,)
        self.app.post_message(DownloadsChanged(finished=finished))

    def _report_save_errors(self) -> None:
        """Tell the user (once per distinct reason) that the queue could not be saved."""
        engine = self.engine
        if engine is None or len(engine.save_errors) <= self._save_errors_shown:
            return
        with self._save_errors_lock:
            new = engine.save_errors[self._save_errors_shown :]
            self._save_errors_shown += len(new)
        for message in new:
            self.app.notify(
                f"{message}: unfinished downloads will not be restored after a restart",
                title="Download queue",
                severity="error",
                timeout=15,
            )

    # -- API used by the app and panes -------------------------------------------------------

    def submit(self, request: Any) -> SubmitOutcome:
        if not isinstance(request, DownloadRequest):
            return SubmitOutcome(False, "not a download request")
        try:
            result = self._build().submit(request)
        except EngineUnavailable as exc:
            return SubmitOutcome(False, f"Cannot queue the download: {exc}")
        except QueueError as exc:
            return SubmitOutcome(False, f"Cannot queue the download: {exc}")
        return SubmitOutcome(result.accepted, result.message, result.job.id)

    def jobs(self) -> list[Job]:
        return [] if self.engine is None else self.engine.jobs()

    def totals(self) -> QueueTotals:
        return self._build().totals()

    async def perform(self, action: str, job_id: str, shown: Callable[[], None]) -> str:
        """Run a user action on a job (on the UI thread); returns a message for the user.

        The action is sent without waiting and the engine's mirror shows its outcome at once
        (`EngineProcess.begin`): `shown` is called then, to repaint the queue before the download
        process answers. The answer is awaited off the event loop; a refusal says why (and the
        mirror shows the child's state again). If the process is not running, `act` starts it in
        a thread first, as any call does.
        """
        engine = self.engine
        if engine is None or not engine.started or engine.lost is not None or action not in _ACTIONS:
            return await asyncio.to_thread(self.act, action, job_id)
        try:
            call = engine.begin(_ACTIONS[action], job_id, -1 if action == "up" else 1)
        except (QueueError, EngineUnavailable) as exc:
            return f"Cannot do that: {exc}"
        shown()
        return await asyncio.to_thread(self._outcome, action, call.result)

    def act(self, action: str, job_id: str) -> str:
        """Run a user action on a job and wait for it (off the UI thread); returns a message."""
        engine = self._build()
        if action not in _ACTIONS:
            return f"unknown action {action}"
        calls: dict[str, Callable[[], Any]] = {
            "toggle_pause": lambda: engine.toggle_pause(job_id),
            "cancel": lambda: engine.cancel(job_id),
            "retry": lambda: engine.retry(job_id),
            "remove": lambda: engine.remove(job_id),
            "up": lambda: engine.move(job_id, -1),
            "down": lambda: engine.move(job_id, 1),
        }
        return self._outcome(action, calls[action])

    @staticmethod
    def _outcome(action: str, answer: Callable[[], Any]) -> str:
        try:
            value = answer()
        except (QueueError, EngineUnavailable) as exc:
            return f"Cannot do that: {exc}"
        if action in ("up", "down"):
            return "" if value else f"Already at the {'top' if action == 'up' else 'bottom'}"
        job: Job = value
        if action == "toggle_pause":
            return f"{'Paused' if job.state == JobState.PAUSED else 'Resumed'}: {job.title}"
        verb = {"cancel": "Cancelled", "retry": "Retrying", "remove": "Removed"}[action]
        return f"{verb}: {job.title}"

    def active_repos(self) -> set[tuple[str, str]]:
        """(repo_type, repo_id) of jobs checking or running into the app's cache."""
        if self.engine is None:
            return set()
        return self.engine.active_repos(str(self.app.cache_dir))

    def running_count(self) -> int:
        return 0 if self.engine is None else self.engine.running_count()

    def summary_text(self) -> str:
        return "Queue: empty" if self.engine is None else vocab.queue_totals(self.engine.totals())

    def shutdown(self, timeout: float = 2.0) -> None:
        """Stop running jobs cleanly (called from a thread when the app quits)."""
        self._closing = True
        if self.engine is not None:
            self.engine.shutdown(timeout)
