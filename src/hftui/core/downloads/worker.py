"""One OS process per running download job.

Why. Over Xet, a file's bytes move in hf_xet's Rust threads: they never pass through
huggingface_hub's httpx client (so hftui's job-aware transport neither sees nor cuts them), an
exception raised from the progress callback is caught and ignored by hf_xet, and the library's
only abort (`abort_xet_session`) stops every transfer of the process. In its own process, a job
can be stopped for sure and alone: the engine kills that process (SIGKILL), the kernel closes its
sockets, the server stops sending - measured at the local Hub's byte counters, well within 2 s
(see docs/downloads-xet.md). The same holds for plain HTTP, so both paths share one mechanism.

Parent side (`run_job_in_process`, the engine's default runner): same signature as `job.run_job`.
It takes a warm child, sends it the job, relays its progress to `report`, answers its disk-space
claims and returns its `JobResult`. On pause/cancel/quit it kills the child, removes the
`.incomplete` files it left (under the library's locks, like `sweep_orphans`) and reports what
a resume keeps (`kept_after_stop`): whole files on disk and the bytes of unfinished large files
in the kept-bytes store (`hftui.core.downloads.kept`, which survives the kill), never the bytes
that had merely arrived.

Child side (`python -m hftui.core.downloads.worker FD`): imports the library while it waits for a
job (a spare child is kept warm, so a job does not pay the ~0.4 s import), configures hf_xet
from the job's settings (its read timeout becomes hftui's stall timeout, its own retries are
turned off so every fault reaches hftui's retry budget and shows a note), runs `job.run_job` -
the one caller of `snapshot_download` - and sends its result. It exits at once when the engine's
end of the socket closes (quit, crash, kill -9 of the engine), and ignores terminal signals (it
runs in a process group or a session of its own): the engine decides. Under the TUI's download
process it stays in that process's session, so that its niceness counts against the UI's (see
`hftui.core.downloads.process`, `process_group`).

Protocol: the length-prefixed pickles of `hftui.core.downloads.process` over a socket pair.
Parent -> child: `("job", JobSpec)`, `("claimed", others)`. Child -> parent: `("progress",
Progress)`, `("plan", [(local_path, size)], started)`, `("claim", dest, nbytes)`, `("result",
JobResult)`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import queue as queue_mod
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, NamedTuple

from hftui.core.downloads import job as dl
from hftui.core.downloads.models import DownloadRequest
from hftui.core.downloads.process import _child_environment, lower_priority, recv_message, send_message

POLL_INTERVAL = 0.05
"""Seconds between looks at the job's stop flag while waiting for its child."""

SPARE_IDLE_EXIT = 300.0
"""A spare child that got no job within this many seconds exits (the next job starts a new one)."""

XET_RETRY_ENV = "HF_XET_CLIENT_RETRY_MAX_ATTEMPTS"
XET_READ_TIMEOUT_ENV = "HF_XET_CLIENT_READ_TIMEOUT"
XET_CONNECT_TIMEOUT_ENV = "HF_XET_CLIENT_CONNECT_TIMEOUT"


@dataclass(frozen=True)
class JobSpec:
    request: DownloadRequest
    settings: Any
    endpoint: str | None
    token: str | bool | None
    default_cache: str | None


class KeptFile(NamedTuple):
    """A planned file, as `dl.kept_on_disk` reads it."""

    local_path: str
    file_size: int | None


# -- parent side --------------------------------------------------------------------------------


class _Child:
    """A started child process and the parent's end of its socket."""

    def __init__(self, env: dict[str, str], niceness: int = 0) -> None:
        parent_end, child_end = socket.socketpair()
        self.env_key = _env_key(env)
        try:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "hftui.core.downloads.worker",
                    str(child_end.fileno()),
                ],
                pass_fds=(child_end.fileno(),),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=_log_target(),
                # Niced below us (the TUI's download process): our session, so that the nice
                # value counts against the UI's (autogroups: see `process.EngineProcess.start`).
                # At our priority (headless `hftui download`): a session of its own, as before,
                # which keeps each job's CPU share when other programs compete for the cores.
                process_group=0 if niceness > 0 else None,
                start_new_session=niceness <= 0,
                close_fds=True,
                env=env,
            )
        except OSError:
            parent_end.close()
            raise
        finally:
            child_end.close()
        lower_priority(self.proc.pid, niceness)
        self.sock = parent_end
        self.send_lock = threading.Lock()

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def send(self, message: object) -> None:
        send_message(self.sock, self.send_lock, message)

    def kill(self) -> None:
        with contextlib.suppress(OSError):
            self.proc.kill()
        self.proc.wait()
        with contextlib.suppress(OSError):
            self.sock.close()

    def close(self) -> None:
        """Let a child that finished exit on its own (it does right after its result)."""
        try:
            self.proc.wait(timeout=2.0)
        except subprocess.TimeoutExpired:
            self.kill()
        with contextlib.suppress(OSError):
            self.sock.close()


def _log_target() -> Any:
    # The children's stderr (library warnings, hf_xet's own messages) must never reach the
    # user's terminal or the TUI; HFTUI_JOB_LOG names a file to keep it for debugging.
    path = os.environ.get("HFTUI_JOB_LOG")
    if path:
        with contextlib.suppress(OSError):
            return open(path, "ab")  # Popen dups it; the GC closes ours
    return subprocess.DEVNULL


def _env_key(env: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(env.items()))


class _Spares:
    """At most one warm child kept ready for the next job (process-wide).

    Warmed when the engine starts and while jobs wait in the queue, not after every start: an
    idle import competes for the CPU with the downloads (measured: 2-core box, plain HTTP)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._spare: _Child | None = None
        self.niceness = 0
        """Added to this process's niceness in each job process (`set_job_niceness`)."""

    def take(self) -> _Child:
        env = _child_environment()
        key = _env_key(env)
        with self._lock:
            spare, self._spare = self._spare, None
        if spare is not None and (not spare.alive or spare.env_key != key):
            spare.kill()
            spare = None
        return spare or _Child(env, self.niceness)

    def warm(self) -> None:
        """Start the spare now, so the first job does not wait for the library's import."""
        with self._lock:
            if self._spare is None:
                with contextlib.suppress(OSError):
                    self._spare = _Child(_child_environment(), self.niceness)

    def close(self) -> None:
        with self._lock:
            spare, self._spare = self._spare, None
        if spare is not None:
            spare.kill()


spares = _Spares()


def set_job_niceness(increment: int) -> None:
    """Run job processes `increment` steps nicer than this process (the TUI's engine process sets
    it, so that the busy threads of Xet transfers never delay the engine's answers to the app:
    measured, see docs/downloads-xet.md)."""
    spares.niceness = increment
    spares.close()  # a spare started before runs at the old priority


def close_spares() -> None:
    """Stop the warm spare child (the engine calls this when it shuts down)."""
    spares.close()


def run_job_in_process(
    request: DownloadRequest,
    *,
    settings: Any,
    endpoint: str | None,
    token: str | bool | None = None,
    report: Callable[[dl.Progress], None],
    is_cancelled: Callable[[], bool],
    default_cache: str | None = None,
    claim_space: Callable[[Path, int], int] | None = None,
    cancel_signal: Any = None,
) -> dl.JobResult:
    """`job.run_job` in child processes that a pause, cancel or quit kills. Never raises.

    Each attempt is a fresh process: a retry starts with no state left by the failed one (hf_xet's
    session, and the Xet token huggingface_hub caches per process - which a CAS that revoked it
    would refuse again). Transient failures are retried here with hftui's backoff and budget
    (`settings.retries`), each with a note on the row.
    """
    if default_cache is None:
        # Resolved here, so a child sees the same default cache as this process (tests and the
        # app may point huggingface_hub at another cache after import).
        from huggingface_hub import constants

        default_cache = constants.HF_HUB_CACHE
    retries = int(settings.retries)
    attempt = 0
    # Every file an attempt set out to fetch (local path -> size): a retry plans only what is still
    # missing, but a finished job reports all it downloaded.
    fetched: dict[str, int] = {}
    while True:
        if is_cancelled():
            return dl.JobResult(dl.JobOutcome.CANCELLED)
        try:
            child = spares.take()
        except OSError as exc:
            # Some sandboxes forbid starting programs. A download in this process beats no
            # download: plain HTTP stays fully controlled (the transport); a Xet transfer
            # cannot be cut before its file ends - the row says so.
            report(
                dl.Progress("checking", message=f"no download process ({exc.strerror or exc}); in-process")
            )
            return dl.run_job(
                request,
                settings=settings,
                endpoint=endpoint,
                token=token,
                report=report,
                is_cancelled=is_cancelled,
                default_cache=default_cache,
                claim_space=claim_space,
                cancel_signal=cancel_signal,
                attempts_used=attempt,
            )
        spec = JobSpec(request, settings, endpoint, token, default_cache)
        result = _attempt(child, spec, request, report, is_cancelled, claim_space, fetched)
        if result.status == dl.JobOutcome.DONE and fetched:
            return replace(result, bytes_total=sum(fetched.values()), files_total=len(fetched))
        if result.status != dl.JobOutcome.FAILED or not result.transient:
            return result
        if result.progressed:
            attempt = 0  # files were completed: the budget starts afresh (as in `run_job`)
        if attempt >= retries:
            return replace(result, message=result.message + (dl.retries_note(attempt) if attempt else ""))
        attempt += 1
        delay = dl.backoff_delay(attempt)
        spares.warm()  # the retry's process imports the library during the backoff
        report(
            dl.Progress("checking", message=f"{result.message}; retry {attempt}/{retries} in {delay:.0f} s")
        )
        if dl._sleep_unless_cancelled(delay, is_cancelled):
            return dl.JobResult(dl.JobOutcome.CANCELLED, "", result.bytes_total, result.files_total)


def _attempt(
    child: _Child,
    spec: JobSpec,
    request: DownloadRequest,
    report: Callable[[dl.Progress], None],
    is_cancelled: Callable[[], bool],
    claim_space: Callable[[Path, int], int] | None,
    fetched: dict[str, int] | None = None,
) -> dl.JobResult:
    """One attempt in `child`: relay its messages until its result, or kill it when stopped.
    `fetched` gathers the files the attempt planned (local path -> size)."""
    planned: list[KeptFile] = []
    started = time.time()
    bytes_total = files_total = 0
    try:
        # The child retries nothing itself: every transient failure comes back here.
        child.send(("job", replace(spec, settings=_no_retries(spec.settings))))
    except OSError:
        child.kill()
        return dl.JobResult(
            dl.JobOutcome.FAILED, "the download process of this job did not start", transient=True
        )
    while True:
        if is_cancelled():
            child.kill()
            _remove_partial_files(request, spec.default_cache)
            return dl.JobResult(
                dl.JobOutcome.CANCELLED,
                "",
                bytes_total,
                files_total,
                kept=dl.kept_after_stop(request, spec.default_cache, planned, started),
            )
        try:
            ready, _, _ = select.select([child.sock], [], [], POLL_INTERVAL)
            if not ready:
                continue
            message = recv_message(child.sock)
        except (EOFError, OSError, ValueError):
            code = child.proc.wait()
            if is_cancelled():
                continue
            _remove_partial_files(request, spec.default_cache)
            why = f"signal {-code}" if code < 0 else f"exit code {code}"
            return dl.JobResult(
                dl.JobOutcome.FAILED,
                f"the download process of this job stopped unexpectedly ({why})",
                bytes_total,
                files_total,
                transient=True,
            )
        kind = message[0]
        if kind == "progress":
            progress: dl.Progress = message[1]
            if progress.phase == "start":
                bytes_total, files_total = progress.bytes_total or 0, progress.files_total or 0
            report(progress)
        elif kind == "plan":
            planned = [KeptFile(path, size) for path, size in message[1]]
            started = message[2]
            if fetched is not None:
                fetched.update((str(path), int(size or 0)) for path, size in message[1])
        elif kind == "claim":
            others = claim_space(Path(message[1]), int(message[2])) if claim_space is not None else 0
            try:
                child.send(("claimed", others))
            except OSError:
                pass  # the child is gone: the next read says so
        elif kind == "result":
            result: dl.JobResult = message[1]
            child.close()
            return result


def _no_retries(settings: Any) -> Any:
    if dataclasses.is_dataclass(settings) and not isinstance(settings, type):
        return dataclasses.replace(settings, retries=0)
    return settings


def _remove_partial_files(request: DownloadRequest, default_cache: str | None) -> None:
    """Remove what a killed child was writing: nothing half-written may stay to look complete.

    The child's locks died with it, so `sweep_orphans` (which only touches files whose download
    lock it can take) removes its `.incomplete` files and leaves other live jobs' alone.
    """
    with contextlib.suppress(OSError):
        dl.sweep_orphans(request, dl.destination_dir(request, default_cache))


# -- child side ---------------------------------------------------------------------------------


def _configure_xet(settings: Any) -> None:
    """hf_xet's own configuration (public, through its environment variables), set before the
    library opens its Xet session in this process.

    * read/connect timeout = hftui's stall timeout: a stalled xorb response ends after it (hf_xet's
      default is 300 s);
    * no retries inside hf_xet: a reset, a 5xx/429 or a timeout reaches hftui at once, which
      retries the file under its own budget and says so on the row (hf_xet would retry for up
      to 6 minutes, silently). The price: such a retry fetches the file from its first byte
      (hf_xet 1.8 keeps no chunk cache). A user who prefers hf_xet's own retries sets
      HF_XET_CLIENT_RETRY_MAX_ATTEMPTS, which is then left alone.
    """
    stall = max(1, round(float(settings.stall_timeout)))
    os.environ[XET_READ_TIMEOUT_ENV] = f"{stall}s"
    os.environ[XET_CONNECT_TIMEOUT_ENV] = f"{stall}s"
    os.environ.setdefault(XET_RETRY_ENV, "0")


class _ChildSide:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.send_lock = threading.Lock()
        self.replies: queue_mod.SimpleQueue[Any] = queue_mod.SimpleQueue()

    def send(self, message: object) -> None:
        try:
            send_message(self.sock, self.send_lock, message)
        except OSError:
            os._exit(0)  # the engine is gone: nothing to report to, nothing to finish

    def listen(self) -> None:
        while True:
            try:
                message = recv_message(self.sock)
            except (EOFError, OSError, ValueError):
                os._exit(0)  # the engine is gone (or killed us): stop the transfers now
            self.replies.put(message)

    def claim(self, dest: Path, nbytes: int) -> int:
        self.send(("claim", str(dest), nbytes))
        message = self.replies.get()
        return int(message[1])

    def run(self) -> int:
        # Warm up while no job is known: the next job starts without the import.
        import huggingface_hub.file_download  # noqa: F401
        from huggingface_hub.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        with contextlib.suppress(ImportError):
            import hf_xet  # noqa: F401

        ready, _, _ = select.select([self.sock], [], [], SPARE_IDLE_EXIT)
        if not ready:
            return 0
        try:
            kind, spec = recv_message(self.sock)
        except (EOFError, OSError, ValueError):
            return 0
        if kind != "job":
            return 2
        threading.Thread(target=self.listen, name="hftui-job-listen", daemon=True).start()
        _configure_xet(spec.settings)
        result = dl.run_job(
            spec.request,
            settings=spec.settings,
            endpoint=spec.endpoint,
            token=spec.token,
            report=lambda progress: self.send(("progress", progress)),
            is_cancelled=lambda: False,
            default_cache=spec.default_cache,
            claim_space=self.claim,
            on_plan=lambda files, since: self.send(
                ("plan", [(f.local_path, f.file_size) for f in files], since)
            ),
            sole_job=True,
        )
        self.send(("result", result))
        return 0


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or not args[0].isdigit():
        print("usage: python -m hftui.core.downloads.worker FD  (started by hftui)", file=sys.stderr)
        return 2
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from hftui.core.downloads.allocator import tune_for_transfers

    tune_for_transfers()  # before the library's threads exist
    sock = socket.socket(fileno=int(args[0]))
    code = _ChildSide(sock).run()
    sys.stdout.flush()
    sys.stderr.flush()
    # Library threads (hf_xet's runtime, the HTTP pool) may still exist: do not wait for them.
    os._exit(code)


if __name__ == "__main__":
    # Run the imported module, not this `__main__` copy: pickles must name the classes the
    # engine knows (`hftui.core.downloads.worker.JobSpec`, not `__main__.JobSpec`).
    from hftui.core.downloads import worker

    raise SystemExit(worker.main())
