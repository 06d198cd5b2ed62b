"""Bridge between the download engine (hftui.core) and the app.

The engine (`hftui.core.dl_engine.DownloadEngine`) owns the jobs, its own job threads and the
saved queue; this controller builds it for the app, turns its events into `DownloadsChanged`
messages (posted thread-safely, never touching widgets from a job thread), and offers the
small API the app and the panes use. Progress events are already throttled per job (≤ 10/s)
by the engine; `DownloadsChanged.can_replace` coalesces adjacent ones on the message queue.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hftui.core import dl_format as fmt
from hftui.core.dl_engine import DownloadEngine, EngineEvent, LoadReport
from hftui.core.models import DownloadRequest
from hftui.core.persist import QueueStore
from hftui.core.queue import Job, QueueError, QueueTotals

if TYPE_CHECKING:
    from hftui.tui.app import HfTuiApp

DOWNLOAD_NICENESS = 10
"""OS niceness of download threads in the TUI, so keys stay responsive while jobs run."""

PROGRESS_UI_INTERVAL = 0.25
"""Seconds between progress-only refreshes of the queue pane and summary (state changes: at once)."""


@dataclass(frozen=True)
class SubmitOutcome:
    accepted: bool
    message: str
    job_id: str | None = None


class DownloadsController:
    def __init__(self, app: HfTuiApp) -> None:
        self.app = app
        self.engine: DownloadEngine | None = None
        self.load_report = LoadReport()
        self._started = False
        self._closing = False
        self._last_progress_post = 0.0
        self._save_errors_shown = 0
        self._save_errors_lock = threading.Lock()

    # -- lifecycle --------------------------------------------------------------------------

    def _build(self) -> DownloadEngine:
        if self.engine is None:
            from hftui.settings import state_dir

            settings = self.app.settings
            self.engine = DownloadEngine(
                settings,
                endpoint=self.app.endpoint,
                token=None,
                default_cache=str(self.app.cache_dir),
                on_event=self._on_event,
                store=QueueStore(state_dir()),
            )
        return self.engine

    def start(self) -> None:
        """Called once the app is mounted: load the saved queue, resume per settings."""
        if self._started:
            return
        self._started = True
        from huggingface_hub.utils import logging as hf_logging

        # Library warnings ("trying to resume...") would be written over the screen; the queue
        # pane shows what happens instead.
        hf_logging.set_verbosity_error()
        from hftui.core import dl_transport

        dl_transport.set_download_niceness(DOWNLOAD_NICENESS)
        engine = self._build()
        report = engine.load()
        self.load_report = report
        for warning in report.warnings:
            self.app.notify(warning, title="Download queue", severity="warning", timeout=10)
        engine.start()
        from hftui.tui.messages import DownloadsChanged

        self.app.post_message(DownloadsChanged())  # show the restored jobs
        if report.unfinished and not report.ask:
            state = (
                "resuming" if self.app.settings.resume_on_launch == "auto" else "paused (press p to resume)"
            )
            self.app.notify(
                f"{len(report.unfinished)} unfinished download(s) from the last session: {state}",
                title="Download queue",
                timeout=6,
            )
        if report.ask:
            self._ask_resume(report.unfinished)

    def _ask_resume(self, job_ids: list[str]) -> None:
        from hftui.tui.screens.confirm import ConfirmScreen

        engine = self._build()
        titles = []
        for job in engine.jobs():
            if job.id in job_ids:
                titles.append(f"• {job.title}  ({fmt.size(job.bytes_done)} of {fmt.size(job.bytes_total)})")
        body = "\n".join(titles[:15]) + (f"\n… and {len(titles) - 15} more" if len(titles) > 15 else "")

        def answer(resume: bool | None) -> None:
            if resume:
                engine.resume_many(job_ids)
                self.app.notify(f"Resumed {len(job_ids)} download(s)")
            else:
                self.app.notify("Unfinished downloads stay paused in the Queue pane (p resumes)")

        self.app.push_screen(
            ConfirmScreen(
                f"Resume {len(job_ids)} unfinished download(s)?",
                body or "(unfinished jobs)",
                confirm_label="Resume",
            ),
            answer,
        )

    def _on_event(self, event: EngineEvent) -> None:
        # Called from job threads or the UI thread; post_message is thread-safe and non-blocking.
        from hftui.tui.messages import DownloadsChanged

        if self._closing:
            return  # the app is tearing down: its widgets may already be gone
        self._report_save_errors()
        if event.kind == "progress":
            # Progress ticks only refresh numbers: at most PROGRESS_UI_INTERVAL apart for all jobs
            # together, so the UI thread spends its time on keys, not on redrawing counters.
            now = time.monotonic()
            if now - self._last_progress_post < PROGRESS_UI_INTERVAL:
                return
            self._last_progress_post = now
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
        result = self._build().submit(request)
        return SubmitOutcome(result.accepted, result.message, result.job.id)

    def jobs(self) -> list[Job]:
        return self._build().jobs()

    def totals(self) -> QueueTotals:
        return self._build().totals()

    def act(self, action: str, job_id: str) -> str:
        """Run a user action on a job; returns a message for the user (errors included)."""
        engine = self._build()
        try:
            if action == "toggle_pause":
                job = engine.toggle_pause(job_id)
                return f"{'Paused' if job.state == 'paused' else 'Resumed'}: {job.title}"
            if action == "cancel":
                return f"Cancelled: {engine.cancel(job_id).title}"
            if action == "retry":
                return f"Retrying: {engine.retry(job_id).title}"
            if action == "remove":
                return f"Removed: {engine.remove(job_id).title}"
            if action in ("up", "down"):
                moved = engine.move(job_id, -1 if action == "up" else 1)
                return "" if moved else f"Already at the {'top' if action == 'up' else 'bottom'}"
        except QueueError as exc:
            return f"Cannot do that: {exc}"
        return f"unknown action {action}"

    def active_repos(self) -> set[tuple[str, str]]:
        """(repo_type, repo_id) of jobs checking or running into the app's cache."""
        if self.engine is None:
            return set()
        return self.engine.active_repos(str(self.app.cache_dir))

    def running_count(self) -> int:
        return 0 if self.engine is None else self.engine.running_count()

    def summary_text(self) -> str:
        if self.engine is None:
            return "Queue: empty"
        totals = self.engine.totals()
        if not totals.jobs:
            return "Queue: empty"
        parts = [f"Queue: {totals.running} running"]
        if totals.queued:
            parts.append(f"{totals.queued} queued")
        if totals.paused:
            parts.append(f"{totals.paused} paused")
        if totals.failed:
            parts.append(f"{totals.failed} failed")
        parts.append(f"{totals.done} done")
        text = " · ".join(parts)
        if totals.bytes_total:
            text += f"  ·  {fmt.size(totals.bytes_done)} / {fmt.size(totals.bytes_total)}"
        if totals.speed:
            text += f"  ·  {fmt.speed(totals.speed)}"
        return text

    def shutdown(self, timeout: float = 2.0) -> None:
        """Stop running jobs cleanly (called from a thread when the app quits)."""
        self._closing = True
        if self.engine is not None:
            self.engine.shutdown(timeout)
