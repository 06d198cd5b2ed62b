"""The download queue as a pure state machine: no threads, no I/O, no UI.

The engine (`hftui.core.downloads.engine`) owns one `DownloadQueue` and mutates it under its lock; the
TUI and the headless CLI only read copies (`JobView`). Every rule about what may happen to a
job (duplicates, order, which transitions are allowed, how many run at once) lives here and is
unit tested without a network or a thread.

States::

    queued ──► checking ──► running ──► done
       ▲  │         │           │ └────► failed ──(retry)──► queued
       │  │         └───────────┴──────► paused ──(resume)─► queued
       │  └──────────────(cancel)──────► cancelled ─(retry)─► queued

`checking` is the dry run + disk-space check before bytes move. A job held for lack of disk
space is `paused` with `held=True` and a message saying how much is missing.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any

from hftui.core.downloads.models import DownloadRequest
from hftui.core.vocab import display_id, size


class JobState(str, Enum):
    """A job's state. str-valued: `queue.json` and the CLI's JSON lines carry the plain word."""

    QUEUED = "queued"
    CHECKING = "checking"
    RUNNING = "running"
    PAUSED = "paused"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    # The word itself in f-strings and str(), on every Python from 3.10 (like 3.11's StrEnum).
    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)


STATES = tuple(JobState)
ACTIVE_STATES = frozenset({JobState.QUEUED, JobState.CHECKING, JobState.RUNNING, JobState.PAUSED})
"""A new request identical to a job in one of these states is a duplicate."""
WORKING_STATES = frozenset({JobState.CHECKING, JobState.RUNNING})
"""States that hold a download slot."""
FINAL_STATES = frozenset({JobState.DONE, JobState.FAILED, JobState.CANCELLED})
"""States a job leaves only when the user retries it."""


class QueueError(Exception):
    """An action that does not apply to the job in its current state (message for the user)."""


@dataclass
class Job:
    request: DownloadRequest
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    state: JobState = JobState.QUEUED
    bytes_done: int = 0
    bytes_total: int | None = None
    files_done: int = 0
    files_total: int | None = None
    speed: float = 0.0
    """Bytes per second over the last few seconds (0 when not running)."""
    eta: float | None = None
    error: str | None = None
    """Why the job failed (state failed), specific and token-free."""
    message: str = ""
    """A note for the user: held for disk space, retrying after a fault, interrupted..."""
    held: bool = False
    added_at: float = field(default_factory=time.time)
    finished_at: float | None = None
    path: str | None = None
    """Where a finished download is (the snapshot folder or the local dir); not saved."""
    commit: str | None = None
    """The commit a finished download is at; not saved."""
    copied: tuple[int, int] = (0, 0)
    """(bytes, files) a finished local-dir job copied from the Hub cache (not downloaded); not saved."""

    def __post_init__(self) -> None:
        self.state = JobState(self.state)  # a plain word (from JSON or a caller) becomes the member

    @property
    def repo_key(self) -> tuple[str, str]:
        return (self.request.repo_type, self.request.repo_id)

    @property
    def title(self) -> str:
        request = self.request
        if request.label:
            return request.label
        # The same prefixes the repo input accepts, so a dataset is not mistaken for a model.
        return display_id(request.repo_type, request.repo_id)

    @property
    def kept_summary(self) -> str | None:
        """For a stopped job with bytes on disk: what is kept and what a resume will fetch
        ("kept 2.1 MB · resume fetches 2.1 MB"); None otherwise.

        A stopped job's `bytes_done` is what a resume keeps (whole files and the kept bytes of
        unfinished ones, see `hftui.core.downloads.kept`), so the rest is what it fetches."""
        if self.state not in (JobState.QUEUED, JobState.PAUSED, JobState.FAILED, JobState.CANCELLED):
            return None
        if not self.bytes_total or not 0 < self.bytes_done < self.bytes_total:
            return None
        verb = "resume" if self.state in (JobState.QUEUED, JobState.PAUSED) else "retry"
        return f"kept {size(self.bytes_done)} · {verb} fetches {size(self.bytes_total - self.bytes_done)}"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "request": self.request.to_json(),
            "state": str(self.state),
            "bytes_done": self.bytes_done,
            "bytes_total": self.bytes_total,
            "files_done": self.files_done,
            "files_total": self.files_total,
            "error": self.error,
            "message": self.message,
            "held": self.held,
            "added_at": self.added_at,
            "finished_at": self.finished_at,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Job:
        try:
            state = JobState(data.get("state", JobState.QUEUED))
        except ValueError:
            raise ValueError(f"unknown job state {data.get('state')!r}") from None
        return cls(
            request=DownloadRequest.from_json(data["request"]),
            id=str(data["id"]),
            state=state,
            bytes_done=int(data.get("bytes_done") or 0),
            bytes_total=data.get("bytes_total"),
            files_done=int(data.get("files_done") or 0),
            files_total=data.get("files_total"),
            error=data.get("error"),
            message=str(data.get("message") or ""),
            held=bool(data.get("held", False)),
            added_at=float(data.get("added_at") or time.time()),
            finished_at=data.get("finished_at"),
        )


@dataclass(frozen=True)
class SubmitResult:
    accepted: bool
    job: Job
    """The new job, or the existing job the request duplicates."""
    message: str


@dataclass(frozen=True)
class QueueTotals:
    jobs: int
    running: int
    queued: int
    paused: int
    done: int
    failed: int
    bytes_done: int
    bytes_total: int
    speed: float
    cancelled: int = 0


def _settle(job: Job, state: JobState, message: str, *, finished: bool = False) -> Job:
    """Move a job to a state where no bytes move: no speed, no ETA, and the note for it."""
    job.state = state
    job.message = message
    job.speed = 0.0
    job.eta = None
    if finished:
        job.finished_at = time.time()
    return job


class DownloadQueue:
    """Ordered jobs and the rules for changing them. Not thread-safe: one owner mutates it."""

    def __init__(self, jobs: list[Job] | None = None) -> None:
        self.jobs: list[Job] = list(jobs or [])

    # -- lookup ------------------------------------------------------------------------

    def get(self, job_id: str) -> Job:
        for job in self.jobs:
            if job.id == job_id:
                return job
        raise QueueError(f"no job {job_id}")

    def __len__(self) -> int:
        return len(self.jobs)

    def find_duplicate(self, request: DownloadRequest) -> Job | None:
        identity = request.identity
        for job in self.jobs:
            if job.state in ACTIVE_STATES and job.request.identity == identity:
                return job
        return None

    # -- adding and scheduling ---------------------------------------------------------

    def submit(self, request: DownloadRequest) -> SubmitResult:
        duplicate = self.find_duplicate(request)
        if duplicate is not None:
            return SubmitResult(
                False, duplicate, f"Already in the queue ({duplicate.state}): {duplicate.title}"
            )
        job = Job(request=request)
        self.jobs.append(job)
        return SubmitResult(True, job, f"Queued: {job.title}")

    def working(self) -> list[Job]:
        return [job for job in self.jobs if job.state in WORKING_STATES]

    def active_repos(self, cache_dir: str | None, default_cache: str | None) -> set[tuple[str, str]]:
        """(repo_type, repo_id) of checking/running jobs (writing into `cache_dir` when given)."""
        return {
            job.repo_key
            for job in self.working()
            if cache_dir is None
            or (
                job.request.local_dir is None
                and (job.request.cache_dir or default_cache) in (None, cache_dir)
            )
        }

    def startable(self, max_jobs: int, busy: set[str] | frozenset[str] = frozenset()) -> list[Job]:
        """Queued jobs (in queue order) that may start now.

        `busy` are ids whose worker is still winding down (a paused job's thread that has not
        returned yet); they occupy a slot and cannot start again until it is free.
        """
        occupied = {job.id for job in self.working()} | set(busy)
        free = max(0, max_jobs - len(occupied))
        if free == 0:
            return []
        ready = [job for job in self.jobs if job.state == JobState.QUEUED and job.id not in busy]
        return ready[:free]

    # -- transitions driven by the worker ----------------------------------------------

    def mark_checking(self, job_id: str) -> Job:
        job = self._expect(job_id, {JobState.QUEUED}, "start")
        job.state = JobState.CHECKING
        job.error = None
        job.held = False
        job.message = "checking"
        job.speed = 0.0
        job.eta = None
        return job

    def mark_running(self, job_id: str, *, bytes_total: int, files_total: int) -> Job:
        job = self._expect(job_id, {JobState.CHECKING, JobState.RUNNING}, "run")
        job.state = JobState.RUNNING
        job.bytes_total = bytes_total
        job.files_total = files_total
        job.bytes_done = 0
        job.files_done = 0
        job.message = ""
        return job

    def progress(
        self,
        job_id: str,
        *,
        bytes_done: int | None = None,
        files_done: int | None = None,
        speed: float | None = None,
        eta: float | None = None,
        message: str | None = None,
    ) -> bool:
        """Record progress of a working job. Returns False (and changes nothing) otherwise."""
        job = self.get(job_id)
        if job.state not in WORKING_STATES:
            return False
        if bytes_done is not None:
            job.bytes_done = bytes_done
        if files_done is not None:
            job.files_done = files_done
        if speed is not None:
            job.speed = speed
        job.eta = eta
        if message is not None:
            job.message = message
        return True

    def finish(self, job_id: str) -> Job:
        job = self._expect(job_id, WORKING_STATES, "finish")
        job.state = JobState.DONE
        if job.bytes_total is not None:
            job.bytes_done = job.bytes_total
        if job.files_total is not None:
            job.files_done = job.files_total
        return _settle(job, JobState.DONE, "", finished=True)

    def fail(self, job_id: str, error: str) -> Job:
        job = self._expect(job_id, WORKING_STATES | {JobState.QUEUED}, "fail")
        job.error = error
        return _settle(job, JobState.FAILED, "", finished=True)

    def hold(self, job_id: str, message: str) -> Job:
        """Park a job that cannot start (not enough disk space): paused, with the reason."""
        job = self._expect(job_id, WORKING_STATES, "hold")
        job.held = True
        return _settle(job, JobState.PAUSED, message)

    def interrupt(self, job_id: str, message: str = "interrupted; resumes on the next launch") -> Job:
        """A working job stopped because hftui is quitting: it stays unfinished (queued)."""
        job = self.get(job_id)
        return _settle(job, JobState.QUEUED, message) if job.state in WORKING_STATES else job

    # -- user actions --------------------------------------------------------------------

    def pause(self, job_id: str) -> Job:
        job = self._expect(job_id, {JobState.QUEUED, JobState.CHECKING, JobState.RUNNING}, "pause")
        job.held = False
        return _settle(job, JobState.PAUSED, "paused")

    def resume(self, job_id: str) -> Job:
        job = self._expect(job_id, {JobState.PAUSED}, "resume")
        job.state = JobState.QUEUED
        job.held = False
        job.message = ""
        return job

    def toggle_pause(self, job_id: str) -> Job:
        job = self.get(job_id)
        return self.resume(job_id) if job.state == JobState.PAUSED else self.pause(job_id)

    def cancel(self, job_id: str) -> Job:
        job = self._expect(job_id, ACTIVE_STATES, "cancel")
        job.held = False
        return _settle(job, JobState.CANCELLED, "", finished=True)

    def retry(self, job_id: str) -> Job:
        job = self._expect(job_id, {JobState.FAILED, JobState.CANCELLED}, "retry")
        duplicate = self.find_duplicate(job.request)
        if duplicate is not None:
            raise QueueError(f"the same download is already in the queue ({duplicate.state})")
        job.state = JobState.QUEUED
        job.error = None
        job.message = ""
        job.finished_at = None
        return job

    def remove(self, job_id: str) -> Job:
        job = self.get(job_id)
        if job.state in WORKING_STATES:
            raise QueueError(f"cannot remove a {job.state} job: pause or cancel it first")
        self.jobs.remove(job)
        return job

    def move(self, job_id: str, delta: int) -> bool:
        """Move a job up (delta < 0) or down in the queue order. Returns False at an edge."""
        job = self.get(job_id)
        index = self.jobs.index(job)
        target = max(0, min(len(self.jobs) - 1, index + delta))
        if target == index:
            return False
        self.jobs.insert(target, self.jobs.pop(index))
        return True

    # -- reading --------------------------------------------------------------------------

    def unfinished(self) -> list[Job]:
        return [job for job in self.jobs if job.state in ACTIVE_STATES]

    def views(self) -> list[Job]:
        """Copies of the jobs, safe to hand to another thread."""
        return [replace(job) for job in self.jobs]

    def totals(self) -> QueueTotals:
        count = {state: 0 for state in STATES}
        bytes_done = bytes_total = 0
        speed = 0.0
        for job in self.jobs:
            count[job.state] += 1
            if job.state in ACTIVE_STATES and job.bytes_total:
                bytes_done += job.bytes_done
                bytes_total += job.bytes_total
            if job.state in WORKING_STATES:
                speed += job.speed
        return QueueTotals(
            jobs=len(self.jobs),
            running=count[JobState.RUNNING] + count[JobState.CHECKING],
            queued=count[JobState.QUEUED],
            paused=count[JobState.PAUSED],
            done=count[JobState.DONE],
            failed=count[JobState.FAILED],
            bytes_done=bytes_done,
            bytes_total=bytes_total,
            speed=speed,
            cancelled=count[JobState.CANCELLED],
        )

    def to_json(self) -> list[dict[str, Any]]:
        return [job.to_json() for job in self.jobs]

    @classmethod
    def from_json(cls, data: list[dict[str, Any]]) -> DownloadQueue:
        return cls([Job.from_json(item) for item in data])

    # -- helpers --------------------------------------------------------------------------

    def _expect(self, job_id: str, states: set[JobState] | frozenset[JobState], verb: str) -> Job:
        job = self.get(job_id)
        if job.state not in states:
            raise QueueError(f"cannot {verb} a {job.state} job")
        return job
