"""The download engine: a `DownloadQueue`, its own job threads, persistence and events.

Threads. One dedicated `threading.Thread` per working job (at most `settings.max_jobs`), never
Textual's shared executor, so downloads neither starve the UI's workers nor depend on a pane.
Each job thread runs `run_job` (which runs huggingface_hub's own pool of `max_workers` file
threads). The same engine runs headless (`hftui download`) and in the TUI.

Locking. All queue state lives in one `DownloadQueue` guarded by one `RLock`; every public
method and every callback from a job thread takes it for a few microseconds (no I/O under it:
`queue.json` is written on state changes by a `BackgroundSaver`, never on progress ticks). Job
threads never hold it while downloading. A single lock was chosen over "one writer thread"
because the headless CLI has no event loop and the critical sections are tiny.

Events. `on_event(EngineEvent)` is called *outside* the lock from whichever thread changed
something: job threads (progress, throttled to ≤ 10/s per job by the tracker; finished) or the
caller's thread (user actions). The TUI's callback only posts a message (thread-safe); the CLI
prints.

Processes. Each job thread runs its job in a child process of its own
(`hftui.core.downloads.worker`): Xet transfers run in hf_xet's Rust threads, out of reach of
anything but the process they run in.

Cancellation. Pause/cancel/quit set the job's `CancelSignal`; the job thread sees it within
0.05 s and kills the job's process, whose sockets the kernel closes at once (Xet and plain HTTP
alike), then removes its `.incomplete` files. The job's state changes at once; its slot is freed
when its thread has returned. (A runner that runs the job in this process - `job.run_job` - is
stopped by the same signal through `hftui.core.downloads.transport`, for plain HTTP only.)
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from hftui.core.disk import device_of
from hftui.core.downloads import job as dl
from hftui.core.downloads import transport
from hftui.core.downloads.models import DownloadRequest
from hftui.core.downloads.persist import BackgroundSaver, QueueInUse, QueueStore
from hftui.core.downloads.queue import (
    WORKING_STATES,
    DownloadQueue,
    Job,
    JobState,
    QueueError,
    QueueTotals,
    SubmitResult,
)

if TYPE_CHECKING:
    from hftui.settings import Settings

RepoKey = tuple[str, str]

STALL_DISPLAY_AFTER = 3.0
"""Seconds without a byte after which a running job shows no speed and no ETA."""


@dataclass(frozen=True)
class EngineEvent:
    kind: str
    """"changed" (a state changed, a job was added/removed/moved) or "progress"."""
    job_id: str | None = None
    finished: tuple[RepoKey, ...] = ()
    """Repos whose job just completed (state done)."""
    finished_job_ids: tuple[str, ...] = ()


@dataclass
class LoadReport:
    warnings: list[str] = field(default_factory=list)
    in_use_pid: int | None = None
    in_use: bool = False
    restored: int = 0
    unfinished: list[str] = field(default_factory=list)
    """Ids of unfinished jobs from the last session (already resumed when the policy is "auto")."""
    ask: bool = False
    """True when the policy is "ask": `unfinished` are paused until the user answers."""


Runner = Callable[..., dl.JobResult]


class DownloadEngine:
    def __init__(
        self,
        settings: Settings,
        *,
        endpoint: str | None = None,
        token: str | bool | None = None,
        default_cache: str | None = None,
        on_event: Callable[[EngineEvent], None] | None = None,
        store: QueueStore | None = None,
        hold_fails: bool = False,
        runner: Runner | None = None,
    ) -> None:
        self.settings = settings
        self.endpoint = endpoint
        self.token = token
        self.default_cache = default_cache
        self.on_event = on_event
        self.store = store
        self.hold_fails = hold_fails
        if runner is None:
            # Imported here: the worker module imports the IPC framing of `process`, which
            # imports this module.
            from hftui.core.downloads.worker import run_job_in_process

            runner = run_job_in_process
        self.runner: Runner = runner
        self.queue = DownloadQueue()
        self._lock = threading.RLock()
        self._idle = threading.Condition(self._lock)
        self._threads: dict[str, threading.Thread] = {}
        self._cancel: dict[str, transport.CancelSignal] = {}
        self._claims: dict[str, tuple[int, int]] = {}
        """job id -> (st_dev of its destination, bytes it will write): see `_claim_space`."""
        self._started = False
        self._closing = False
        self.save_errors: list[str] = []
        self._saver: BackgroundSaver | None = None
        self._store_closed = False
        self._bytes_seen: dict[str, tuple[int, float]] = {}
        """job id -> (bytes done, when that count last grew): see `_watch_stalls`."""
        self._stop_watch = threading.Event()

    # -- lifecycle ------------------------------------------------------------------------

    def load(self) -> LoadReport:
        """Lock and read the saved queue (if a store is set); apply `settings.resume_on_launch`."""
        report = LoadReport()
        if self.store is None:
            return report
        try:
            self.store.acquire()
        except QueueInUse as exc:
            report.in_use = True
            report.in_use_pid = exc.pid
            report.warnings.append(str(exc))
            self.store = None
            return report
        except OSError as exc:
            report.warnings.append(f"cannot lock the saved queue ({exc.strerror or exc}); it is not used")
            self.store = None
            return report
        loaded = self.store.load()
        report.warnings.extend(loaded.warnings)
        policy = getattr(self.settings, "resume_on_launch", "ask")
        with self._lock:
            for index, item in enumerate(loaded.jobs, start=1):
                try:
                    job = Job.from_json(item)
                except (KeyError, TypeError, ValueError) as exc:
                    report.warnings.append(f"saved job {index} skipped: {exc}")
                    continue
                if any(existing.id == job.id for existing in self.queue.jobs):
                    continue
                if job.state in WORKING_STATES:
                    job.state = JobState.QUEUED
                if job.state == JobState.QUEUED:
                    report.unfinished.append(job.id)
                    if policy == "auto":
                        job.message = "resumed from the last session"
                    else:
                        job.state = JobState.PAUSED
                        job.message = "from the last session"
                job.speed, job.eta = 0.0, None
                self._count_kept(job)
                self.queue.jobs.append(job)
                report.restored += 1
            report.ask = policy == "ask" and bool(report.unfinished)
            self._save()
        return report

    def _count_kept(self, job: Job) -> None:
        """A restored unfinished job counts the bytes kept for it on disk (after a kill -9 the
        saved count is from before they arrived), so its row does not read 0 until resumed."""
        if job.state in (JobState.DONE, JobState.CANCELLED) or job.request.local_dir:
            return
        cache = job.request.cache_dir or self.default_cache
        if not cache:
            return
        from hftui.core.downloads.kept import kept_for_request

        try:
            kept, _ = kept_for_request(cache, job.request)
        except Exception:  # a count for display: never a reason to lose a saved job
            return
        job.bytes_done = max(job.bytes_done, kept)

    def start(self) -> None:
        with self._lock:
            first, self._started = not self._started, True
        if first:
            threading.Thread(target=self._watch_stalls, name="hftui-download-stalls", daemon=True).start()
            self._warm()
        self._schedule()

    def shutdown(self, timeout: float = 2.0) -> bool:
        """Stop every job cleanly (unfinished ones stay queued for the next launch).

        Returns True when all job threads returned within `timeout`.
        """
        deadline = time.monotonic() + timeout
        self._stop_watch.set()
        with self._lock:
            self._closing = True
            for job_id in list(self._threads):
                self._cancel[job_id].set()
            threads = list(self._threads.values())
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            clean = not self._threads
            for job in self.queue.jobs:
                if job.state in WORKING_STATES:
                    self.queue.interrupt(job.id)
            self._save()
            self._store_closed = True  # what follows is not saved: the lock is about to go
        from hftui.core.downloads.worker import close_spares

        close_spares()
        # The last state must be on disk before the lock goes to the next hftui.
        self.flush(max(1.0, deadline - time.monotonic()))
        with self._lock:
            if self.store is not None:
                self.store.release()
        return clean

    # -- user actions -------------------------------------------------------------------------

    def normalize(self, request: DownloadRequest) -> DownloadRequest:
        """Pin the destination of a new job and spell it one way.

        A job without a destination goes to the engine's default cache *now*: saved and
        restored by an hftui opened on another cache, it still finishes where it started. And
        the same destination written differently (`~/m`, `m/`, the default cache by its path)
        must not make a duplicate look like a new job.
        """

        def absolute(path: str | None) -> str | None:
            return None if path is None else os.path.abspath(os.path.expanduser(path))

        cache_dir, local_dir = absolute(request.cache_dir), absolute(request.local_dir)
        if cache_dir is None and local_dir is None:
            cache_dir = absolute(self.default_cache)
        patterns = tuple(dict.fromkeys(request.allow_patterns)), tuple(dict.fromkeys(request.ignore_patterns))
        return replace(
            request,
            cache_dir=cache_dir,
            local_dir=local_dir,
            allow_patterns=patterns[0],
            ignore_patterns=patterns[1],
        )

    def submit(self, request: DownloadRequest) -> SubmitResult:
        request = self.normalize(request)
        with self._lock:
            result = self.queue.submit(request)
            if result.accepted:
                self._save()
        if result.accepted:
            self._emit(EngineEvent("changed", result.job.id))
            self._schedule()
        return result

    def pause(self, job_id: str) -> Job:
        return self._act(job_id, self.queue.pause, stop=True)

    def resume(self, job_id: str) -> Job:
        return self._act(job_id, self.queue.resume)

    def toggle_pause(self, job_id: str) -> Job:
        with self._lock:
            paused = self.queue.get(job_id).state == JobState.PAUSED
        return self.resume(job_id) if paused else self.pause(job_id)

    def cancel(self, job_id: str) -> Job:
        return self._act(job_id, self.queue.cancel, stop=True)

    def retry(self, job_id: str) -> Job:
        return self._act(job_id, self.queue.retry)

    def remove(self, job_id: str) -> Job:
        return self._act(job_id, self.queue.remove)

    def move(self, job_id: str, delta: int) -> bool:
        with self._lock:
            moved = self.queue.move(job_id, delta)
            if moved:
                self._save()
        if moved:
            self._emit(EngineEvent("changed", job_id))
            self._schedule()
        return moved

    def resume_many(self, job_ids: list[str]) -> int:
        count = 0
        with self._lock:
            for job_id in job_ids:
                try:
                    if self.queue.get(job_id).state == JobState.PAUSED:
                        self.queue.resume(job_id)
                        count += 1
                except QueueError:
                    continue
            self._save()
        self._emit(EngineEvent("changed"))
        self._schedule()
        return count

    # -- reading --------------------------------------------------------------------------------

    def jobs(self) -> list[Job]:
        with self._lock:
            return self.queue.views()

    def job(self, job_id: str) -> Job:
        with self._lock:
            from dataclasses import replace

            return replace(self.queue.get(job_id))

    def totals(self) -> QueueTotals:
        with self._lock:
            return self.queue.totals()

    def running_count(self) -> int:
        with self._lock:
            return len(self.queue.working())

    def active_repos(self, cache_dir: str | None = None) -> set[RepoKey]:
        """Repos of checking/running jobs (into `cache_dir` when given)."""
        with self._lock:
            return self.queue.active_repos(cache_dir, self.default_cache)

    def running_ids(self) -> set[str]:
        """Ids of the jobs whose thread has not returned yet."""
        with self._lock:
            return set(self._threads)

    def thread_count(self) -> int:
        """Job threads still alive (a stopped job's thread may outlive its state change briefly)."""
        with self._lock:
            return len(self._threads)

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until no job is queued or working and no job thread is alive."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._idle:
            while self._threads or any(
                j.state in (JobState.QUEUED, JobState.CHECKING, JobState.RUNNING) for j in self.queue.jobs
            ):
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._idle.wait(0.2 if remaining is None else min(0.2, remaining))
            return True

    # -- internals --------------------------------------------------------------------------

    def _act(self, job_id: str, action: Callable[[str], Job], *, stop: bool = False) -> Job:
        with self._lock:
            job = action(job_id)
            if stop and job_id in self._cancel:
                self._cancel[job_id].set()
            self._save()
            self._idle.notify_all()
        self._emit(EngineEvent("changed", job_id))
        self._schedule()
        return job

    def _save(self) -> None:
        """Hand the queue to the background saver (called under the lock; never waits for disk)."""
        if self.store is None or not self.store.locked or self._store_closed:
            return
        if self._saver is None or self._saver.store is not self.store:
            self._saver = BackgroundSaver(self.store, self._on_save_error)
        self._saver.submit(self.queue.to_json())

    def _on_save_error(self, exc: Exception) -> None:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        message = f"cannot save the queue: {reason}"
        if message not in self.save_errors:
            self.save_errors.append(message)
            self._emit(EngineEvent("changed"))

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every change so far is on disk (True) or `timeout` passed (False)."""
        saver = self._saver
        return True if saver is None else saver.flush(timeout)

    def _emit(self, event: EngineEvent) -> None:
        if self.on_event is not None:
            try:
                self.on_event(event)
            except Exception:  # a broken display must never break a download
                pass

    def _warm(self) -> None:
        """Have a job process ready (when jobs run in processes: the default runner)."""
        from hftui.core.downloads import worker  # not at the top: worker -> process -> engine

        if self.runner is worker.run_job_in_process:
            worker.spares.warm()

    def _schedule(self) -> None:
        started: list[str] = []
        with self._lock:
            if not self._started or self._closing:
                return
            for job in self.queue.startable(int(self.settings.max_jobs), busy=set(self._threads)):
                self.queue.mark_checking(job.id)
                cancel = transport.CancelSignal()
                self._cancel[job.id] = cancel
                thread = threading.Thread(
                    target=self._work,
                    args=(job.id, job.request, cancel),
                    name=f"hftui-download-{job.id}",
                    daemon=True,
                )
                self._threads[job.id] = thread
                started.append(job.id)
                thread.start()
            if started:
                self._save()
            waiting = any(job.state == JobState.QUEUED for job in self.queue.jobs)
        if waiting:
            self._warm()  # the next job to start will not wait for the library's import
        for job_id in started:
            self._emit(EngineEvent("changed", job_id))

    def _work(self, job_id: str, request: DownloadRequest, cancel: transport.CancelSignal) -> None:
        try:
            result = self.runner(
                request,
                settings=self.settings,
                endpoint=self.endpoint,
                token=self.token,
                report=lambda progress: self._on_progress(job_id, progress),
                is_cancelled=cancel.is_set,
                default_cache=self.default_cache,
                claim_space=lambda dest, nbytes: self._claim_space(job_id, dest, nbytes),
                cancel_signal=cancel,
            )
        except BaseException as exc:  # never let a job thread die silently
            result = dl.JobResult(dl.JobOutcome.FAILED, f"internal error: {type(exc).__name__}: {exc}")
        finished: tuple[RepoKey, ...] = ()
        with self._lock:
            try:
                job = self.queue.get(job_id)
            except QueueError:
                job = None
            stopped = (dl.JobOutcome.CANCELLED, dl.JobOutcome.FAILED)
            if job is not None and result.status in stopped and result.kept is not None:
                # What the row says is kept must be what a resume (or retry) keeps: whole files
                # and the kept bytes of unfinished ones, not every byte that had arrived.
                job.bytes_done, job.files_done = result.kept
            if job is not None and job.state in WORKING_STATES:
                if self._closing or result.status == dl.JobOutcome.CANCELLED:
                    self.queue.interrupt(job_id)
                elif result.status == dl.JobOutcome.DONE:
                    job.path, job.commit, job.copied = result.path, result.commit, result.copied
                    if job.state == JobState.CHECKING:
                        self.queue.mark_running(
                            job_id, bytes_total=result.bytes_total, files_total=result.files_total
                        )
                    else:  # after retries: every attempt's files, not just the last one's
                        job.bytes_total, job.files_total = result.bytes_total, result.files_total
                    self.queue.finish(job_id)
                    finished = (job.repo_key,)
                elif result.status == dl.JobOutcome.HELD:
                    if job.bytes_total is None:
                        job.bytes_total = result.bytes_total
                        job.files_total = result.files_total
                    if self.hold_fails:
                        self.queue.fail(job_id, result.message)
                    else:
                        self.queue.hold(job_id, result.message)
                else:
                    self.queue.fail(job_id, result.message or "failed")
            self._save()
        # Report the outcome before the thread counts as gone, so `wait_idle` never returns
        # ahead of the last event (the CLI prints it).
        self._emit(EngineEvent("changed", job_id, finished, (job_id,) if finished else ()))
        with self._lock:
            self._threads.pop(job_id, None)
            self._cancel.pop(job_id, None)
            self._claims.pop(job_id, None)
            self._bytes_seen.pop(job_id, None)
            self._idle.notify_all()
        # No job changed, but observers that count live threads (the TUI's mirror) must hear it.
        self._emit(EngineEvent("progress"))
        self._schedule()

    def _watch_stalls(self) -> None:
        """Zero the speed and ETA of running jobs whose bytes stopped moving.

        Progress (and with it the speed) is only reported when bytes arrive, so a body that
        stalls would show its last speed and ETA, frozen, until `stall_timeout` (30 s) ends
        the read. Once a second this looks for running jobs that moved no byte for
        `STALL_DISPLAY_AFTER` seconds and says so; the next bytes report a real speed again.
        """
        while not self._stop_watch.wait(1.0):
            now = time.monotonic()
            stalled: list[str] = []
            with self._lock:
                for job in self.queue.jobs:
                    seen = self._bytes_seen.get(job.id)
                    if job.state != JobState.RUNNING or seen is None or (not job.speed and job.eta is None):
                        continue
                    if now - seen[1] >= STALL_DISPLAY_AFTER:
                        self.queue.progress(job.id, speed=0.0, eta=None)
                        stalled.append(job.id)
            for job_id in stalled:
                self._emit(EngineEvent("progress", job_id))

    def _claim_space(self, job_id: str, dest: Any, nbytes: int) -> int:
        """Record that `job_id` will write `nbytes` under `dest`; return what other live jobs
        still have to write to the same filesystem (their claim minus the bytes already done).

        Claim and sum happen under the lock, so of two jobs checked at the same moment the
        second one always sees the first.
        """
        device = device_of(dest)
        with self._lock:
            others = 0
            for other_id, (other_device, claimed) in self._claims.items():
                if other_id == job_id or other_device != device or other_id not in self._threads:
                    continue
                try:
                    done = self.queue.get(other_id).bytes_done
                except QueueError:
                    done = 0
                others += max(0, claimed - done)
            self._claims[job_id] = (device, nbytes)
            return others

    def _on_progress(self, job_id: str, progress: dl.Progress) -> None:
        kind = "progress"
        with self._lock:
            try:
                job = self.queue.get(job_id)
            except QueueError:
                return
            if job.state not in WORKING_STATES:
                return
            if progress.phase == "start":
                self.queue.mark_running(
                    job_id, bytes_total=progress.bytes_total or 0, files_total=progress.files_total or 0
                )
                self._save()
                kind = "changed"
            elif progress.phase == "checking":
                self.queue.progress(job_id, message=progress.message or "", speed=0.0, eta=None)
            else:
                if job.state != JobState.RUNNING:
                    return
                seen = self._bytes_seen.get(job_id)
                if seen is None or progress.bytes_done != seen[0]:
                    self._bytes_seen[job_id] = (progress.bytes_done, time.monotonic())
                self.queue.progress(
                    job_id,
                    bytes_done=progress.bytes_done,
                    files_done=progress.files_done,
                    speed=progress.speed,
                    eta=progress.eta,
                    message=progress.message or "",  # a fault being recovered from, while it lasts
                )
        self._emit(EngineEvent(kind, job_id))
