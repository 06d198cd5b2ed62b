"""The download engine in a child process, for the TUI.

Why a process. The engine's job threads run huggingface_hub's file threads (8 per job), and
every chunk they read runs Python code under the GIL. With 2 jobs at full speed that is 16
threads queueing for the GIL beside the UI thread, and each of the dozens of times the event
loop wakes up to handle a key it waits its turn: measured on a 2-core box, key presses took
up to 0.28 s with the engine in the app's process, under 0.08 s with the same downloads in
a child process (`benchmarks/download.py`). So the TUI runs the very same `DownloadEngine` in
`python -m hftui.core.downloads.process`, at a lower OS priority, and talks to it over a socket
pair. The headless CLI has no UI to protect and keeps the engine in its own process. (Since
Xet, the engine runs each job in a process of its own - `hftui.core.downloads.worker` - which
inherits that priority; this process then mostly relays progress and answers the app.)

Protocol. Length-prefixed pickles over a `socket.socketpair` the parent created (only we read
what only our own child wrote). Parent -> child: one `Init`, then `("call", id, method, args)`.
Child -> parent: `("loaded", report, snapshot)`, `("event", event, snapshot)` and
`("reply", id, ok, value, snapshot)`. Every message carries a `Snapshot` of all jobs, numbered
in the order the child took them, so the parent's mirror (which answers every read without a
round trip) never goes backwards and is up to date when a call returns.

Lifetime. The child stops its jobs cleanly (finished files kept, the rest saved as queued
for the next launch) when told to, on SIGTERM/SIGHUP, and when the parent's end of the socket
closes: quitting, a crash or `kill -9` of the app all end the child within ~2 s (measured
0.02-0.04 s when no library thread is stuck). It runs in a process group of its own, so a
terminal's signals (Ctrl-C, Ctrl-Z, a hang-up) reach the app, which decides. Its stdout and stderr go to `download-process.log` in
the state directory, never to the app's terminal. If the child dies on its own, `on_lost` says
so; the next `start` (or call) starts a new one, which restores the saved queue and resumes
what was running whatever the launch policy.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import queue as queue_mod
import signal
import site
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, is_dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hftui.core import compat
from hftui.core.downloads.engine import EngineEvent, LoadReport, RepoKey
from hftui.core.downloads.models import DownloadRequest
from hftui.core.downloads.queue import (
    DownloadQueue,
    Job,
    JobState,
    QueueError,
    QueueTotals,
    SubmitResult,
)

if TYPE_CHECKING:
    from hftui.settings import Settings

CALLS = frozenset(
    {"submit", "toggle_pause", "pause", "resume", "cancel", "retry", "remove", "move", "resume_many"}
)
"""Engine methods the parent may call (anything else is refused)."""

PROGRESS_SEND_INTERVAL = 0.1
"""Seconds between progress-only messages to the parent (state changes go at once)."""

CALL_TIMEOUT = 10.0
"""How long a call waits for the child (its first call also waits for it to start)."""

JOB_NICENESS = 9
"""Job processes run this many steps nicer than this process (10 + 9 = 19, the lowest priority)."""

LOG_NAME = "download-process.log"

CHUNK_SIZE = 1024 * 1024
"""Body chunk size of the library's downloads in this process (`huggingface_hub.constants`)."""

_HEADER = struct.Struct("!I")


class EngineUnavailable(Exception):
    """The download process is gone or not answering (message for the user)."""


@dataclass(frozen=True)
class Init:
    settings: Settings
    endpoint: str | None
    default_cache: str | None
    state_directory: str | None
    owner_pid: int


@dataclass(frozen=True)
class Snapshot:
    seq: int
    jobs: list[Job]
    save_errors: list[str]
    threads: int


# -- framing ----------------------------------------------------------------------------------


def send_message(sock: socket.socket, lock: threading.Lock, message: object) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    with lock:
        sock.sendall(_HEADER.pack(len(data)) + data)


def _recv_exactly(sock: socket.socket, size: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < size:
        chunk = sock.recv(size - len(chunks))
        if not chunk:
            raise EOFError("connection closed")
        chunks += chunk
    return bytes(chunks)


def recv_message(sock: socket.socket) -> Any:
    (size,) = _HEADER.unpack(_recv_exactly(sock, _HEADER.size))
    return pickle.loads(_recv_exactly(sock, size))


# -- parent side ------------------------------------------------------------------------------


def lower_priority(pid: int, increment: int) -> None:
    """Run process `pid` `increment` steps nicer than this one, from the moment it starts: the
    child would nice itself only after its imports (0.3-0.5 s of CPU at the caller's priority)."""
    if increment <= 0:
        return
    with contextlib.suppress(OSError):  # a sandbox may refuse: the child then runs as we do
        mine = os.getpriority(os.PRIO_PROCESS, 0)
        os.setpriority(os.PRIO_PROCESS, pid, min(19, mine + increment))


def _child_environment() -> dict[str, str]:
    """The app's environment, plus where this hftui was imported from when Python would not
    find it on its own (a source checkout put on `sys.path` by a script, not installed)."""
    env = dict(os.environ)
    import hftui

    root = str(Path(hftui.__file__).resolve().parent.parent)
    default_paths = {str(Path(p).resolve()) for p in (*site.getsitepackages(), site.getusersitepackages())}
    if root not in default_paths:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    return env


@dataclass
class _Pending:
    done: threading.Event = field(default_factory=threading.Event)
    ok: bool = False
    value: Any = None
    intent: tuple[str, str, int] | None = None
    """(action, job id, position) shown in the mirror until the child answers (`begin`)."""


OPTIMISTIC = frozenset({"pause", "resume", "cancel", "retry", "remove", "move"})
"""Job actions whose outcome the mirror shows before the child answers (`EngineProcess.begin`)."""


class Call:
    """A call sent to the download process; `result` waits for its answer."""

    def __init__(self, owner: EngineProcess, call_id: int, pending: _Pending, timeout: float) -> None:
        self._owner = owner
        self._call_id = call_id
        self._pending = pending
        self._timeout = timeout

    @property
    def answered(self) -> bool:
        return self._pending.done.is_set()

    def result(self) -> Any:
        """The child's answer (raises its `QueueError`, or `EngineUnavailable`). Blocks: call it off
        the UI thread."""
        return self._owner._await(self._call_id, self._pending, self._timeout)


class EngineProcess:
    """`DownloadEngine`'s interface for the app, served by a child process.

    Reads (`jobs`, `totals`, `running_count`, `active_repos`, `save_errors`) come from a
    mirror and never block; actions are calls that wait for the child's answer. Callbacks
    (`on_event`, `on_loaded`, `on_lost`) run on this object's reader thread: they must only
    hand over to the UI (post a message), like the engine's own `on_event`.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        endpoint: str | None = None,
        default_cache: str | None = None,
        state_directory: Path | None = None,
        niceness: int = 10,
        on_event: Callable[[EngineEvent], None] | None = None,
        on_loaded: Callable[[LoadReport], None] | None = None,
        on_lost: Callable[[str], None] | None = None,
    ) -> None:
        self.settings = settings
        self.endpoint = endpoint
        self.default_cache = default_cache
        self.state_directory = state_directory
        self.niceness = niceness
        self.on_event = on_event
        self.on_loaded = on_loaded
        self.on_lost = on_lost
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._mirror = DownloadQueue()
        self._seq = -1
        self._save_errors: list[str] = []
        self._threads = 0
        self._pending: dict[int, _Pending] = {}
        self._next_call = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._sock: socket.socket | None = None
        self._reader: threading.Thread | None = None
        self._loaded = threading.Event()
        self.loads = 0
        """Load reports received: more than 1 means the current child is a restart."""
        self._stopping = False
        self._lost: str | None = None

    # -- lifecycle ------------------------------------------------------------------------

    @property
    def started(self) -> bool:
        return self._proc is not None

    @property
    def pid(self) -> int | None:
        """The child's PID while it runs."""
        proc = self._proc
        return None if proc is None else proc.pid

    def start(self) -> None:
        """Start the child (returns at once; its load report arrives through `on_loaded`)."""
        with self._lock:
            if self._proc is not None or self._stopping:
                return
            parent_end, child_end = socket.socketpair()
            log = self._open_log()
            try:
                self._proc = subprocess.Popen(
                    [sys.executable, "-m", "hftui.core.downloads.process", str(child_end.fileno())],
                    pass_fds=(child_end.fileno(),),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                    # A process group, not a new session: Linux's autogroup scheduling (on by
                    # default on desktop and server distributions) gives each session an equal
                    # CPU share whatever its processes' nice values, so a child in a session of
                    # its own ignored its niceness, and its job processes (niceness 19) competed
                    # with the UI as equals (measured: `docs/benchmarks.md`, key latency).
                    process_group=0,
                    close_fds=True,
                    env=_child_environment(),
                )
            except OSError as exc:
                parent_end.close()
                self._lost = f"cannot start the download process ({exc.strerror or exc})"
                raise EngineUnavailable(self._lost) from None
            finally:
                child_end.close()
                if log is not subprocess.DEVNULL:
                    log.close()
            lower_priority(self._proc.pid, self.niceness)
            self._sock = parent_end
            self._lost = None
            self._seq = -1  # a new child numbers its snapshots afresh
            self._loaded.clear()
            settings = self.settings
            if self.loads and is_dataclass(settings) and not isinstance(settings, type):
                # A restart after the child died: the jobs it was running must carry on. The
                # launch policy ("ask", "never") is about the last session; applied here, it
                # would pause them all again (and prompt) after every crash. Jobs the user
                # paused are saved as paused and stay so.
                settings = replace(settings, resume_on_launch="auto")
            init = Init(
                settings,
                self.endpoint,
                self.default_cache,
                None if self.state_directory is None else str(self.state_directory),
                os.getpid(),
            )
            send_message(parent_end, self._send_lock, init)
            self._reader = threading.Thread(
                target=self._read, args=(parent_end, self._proc), name="hftui-downloads-reader", daemon=True
            )
            self._reader.start()

    def _open_log(self) -> Any:
        if self.state_directory is None:
            return subprocess.DEVNULL
        try:
            self.state_directory.mkdir(parents=True, exist_ok=True)
            return open(self.state_directory / LOG_NAME, "wb")
        except OSError:
            return subprocess.DEVNULL

    def wait_loaded(self, timeout: float | None = None) -> bool:
        return self._loaded.wait(timeout)

    def shutdown(self, timeout: float = 2.0) -> bool:
        """Stop every job cleanly and end the child; True when it stopped in time."""
        with self._lock:
            self._stopping = True
            proc, sock = self._proc, self._sock
        if proc is None or sock is None:
            return True
        clean = False
        if proc.poll() is None and self._lost is None:
            try:
                clean = bool(self._call("shutdown", timeout, timeout=timeout + 3.0))
            except (EngineUnavailable, QueueError):
                clean = False
        try:
            proc.wait(timeout=2.0)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            clean = False
        with contextlib.suppress(OSError):
            sock.close()
        return clean

    # -- calls ------------------------------------------------------------------------------

    def _call(self, method: str, *args: Any, timeout: float = CALL_TIMEOUT) -> Any:
        return self._send(method, args, timeout).result()

    def _send(
        self, method: str, args: tuple[Any, ...], timeout: float, intent: tuple[str, str, int] | None = None
    ) -> Call:
        if self._stopping and method != "shutdown":
            raise EngineUnavailable("the download process has stopped (hftui is quitting)")
        if self._proc is None:
            self.start()
        sock = self._sock
        if self._lost is not None or sock is None:
            raise EngineUnavailable(self._lost or "the download process is not running")
        pending = _Pending(intent=intent)
        with self._lock:
            self._next_call += 1
            call_id = self._next_call
            self._pending[call_id] = pending
        try:
            send_message(sock, self._send_lock, ("call", call_id, method, args))
        except OSError as exc:
            with self._lock:
                self._pending.pop(call_id, None)
            raise EngineUnavailable(f"the download process is gone ({exc.strerror or exc})") from None
        return Call(self, call_id, pending, timeout)

    def _await(self, call_id: int, pending: _Pending, timeout: float) -> Any:
        if not pending.done.wait(timeout):
            with self._lock:
                self._pending.pop(call_id, None)
            raise EngineUnavailable(f"the download process did not answer within {timeout:.0f} s")
        if not pending.ok:
            if isinstance(pending.value, BaseException):
                raise pending.value
            raise EngineUnavailable(str(pending.value))
        return pending.value

    def begin(self, action: str, job_id: str, delta: int = 0) -> Call:
        """Send a job action without waiting for its answer; from now until the answer arrives,
        the reads (`jobs`, `job`, `totals`) show the job as the action leaves it.

        Why. An action is a round trip to a process that runs at a lower priority than the app
        and beside busy downloads: its answer can take a while on a loaded machine (measured:
        docs/benchmarks.md). The new state is known in advance - the child applies the same
        `DownloadQueue` rules to the same job - so the screen can show it at once. The answer
        reconciles: its snapshot replaces the mirror and the expectation is dropped, so a refusal
        (the job finished meanwhile, say) shows the child's state again and `Call.result` raises.

        `action` is one of `OPTIMISTIC`; "toggle_pause" is resolved here from the state shown, so
        what the user saw decides. The send does not wait for the child (a few hundred bytes into
        the socket's buffer): callable from the UI thread; `Call.result` is not.
        """
        if action == "toggle_pause":
            action = "resume" if self.job(job_id).state == JobState.PAUSED else "pause"
        if action not in OPTIMISTIC:
            raise QueueError(f"unknown action {action!r}")
        position = 0
        if action == "move":
            # The expectation is the place it lands, not the step: replayed over a snapshot that
            # already has the move, a step would move the job twice.
            with self._lock:
                order = [job.id for job in self._expected().jobs]
            if job_id in order:
                position = max(0, min(len(order) - 1, order.index(job_id) + delta))
            args: tuple[Any, ...] = (job_id, delta)
        else:
            args = (job_id,)
        return self._send(action, args, CALL_TIMEOUT, intent=(action, job_id, position))

    def submit(self, request: DownloadRequest) -> SubmitResult:
        result: SubmitResult = self._call("submit", request)
        return result

    def pause(self, job_id: str) -> Job:
        return self._job_call("pause", job_id)

    def resume(self, job_id: str) -> Job:
        return self._job_call("resume", job_id)

    def toggle_pause(self, job_id: str) -> Job:
        return self._job_call("toggle_pause", job_id)

    def cancel(self, job_id: str) -> Job:
        return self._job_call("cancel", job_id)

    def retry(self, job_id: str) -> Job:
        return self._job_call("retry", job_id)

    def remove(self, job_id: str) -> Job:
        return self._job_call("remove", job_id)

    def move(self, job_id: str, delta: int) -> bool:
        return bool(self._call("move", job_id, delta))

    def resume_many(self, job_ids: list[str]) -> int:
        return int(self._call("resume_many", list(job_ids)))

    def _job_call(self, method: str, job_id: str) -> Job:
        job: Job = self._call(method, job_id)
        return job

    # -- reads (from the mirror) ------------------------------------------------------------

    def _expected(self) -> DownloadQueue:
        """The mirror with the actions sent but not yet answered applied (under the lock).

        Each is replayed with the queue's own rules, over whatever the latest snapshot says: one
        the child took before it applied the action (an event on its way) shows the expected
        state all the same, and one taken after is left as it is (the rules refuse to pause a
        paused job or to resume a queued one; a move to where the job already is changes nothing).
        Running jobs keep their live figures.
        """
        intents = [p.intent for p in self._pending.values() if p.intent is not None]
        if not intents:
            return self._mirror
        view = DownloadQueue(self._mirror.views())
        for action, job_id, position in intents:
            with contextlib.suppress(QueueError):
                if action == "move":
                    job = view.get(job_id)
                    view.jobs.remove(job)
                    view.jobs.insert(min(position, len(view.jobs)), job)
                else:
                    getattr(view, action)(job_id)
        return view

    def pending_actions(self) -> int:
        """Actions sent (`begin`) whose answer has not arrived yet."""
        with self._lock:
            return sum(1 for p in self._pending.values() if p.intent is not None)

    def jobs(self) -> list[Job]:
        with self._lock:
            view = self._expected()
            return view.views() if view is self._mirror else view.jobs

    def job(self, job_id: str) -> Job:
        with self._lock:
            return replace(self._expected().get(job_id))

    def totals(self) -> QueueTotals:
        with self._lock:
            return self._expected().totals()

    def running_count(self) -> int:
        with self._lock:
            return len(self._mirror.working())

    def active_repos(self, cache_dir: str | None = None) -> set[RepoKey]:
        with self._lock:
            return self._mirror.active_repos(cache_dir, self.default_cache)

    def thread_count(self) -> int:
        with self._lock:
            return self._threads

    @property
    def save_errors(self) -> list[str]:
        with self._lock:
            return list(self._save_errors)

    @property
    def lost(self) -> str | None:
        """Why the child ended unexpectedly (None while it runs or after a clean shutdown)."""
        return self._lost

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until no job is queued or working and no job thread is alive."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._lock:
                busy = self._threads or any(
                    j.state in (JobState.QUEUED, JobState.CHECKING, JobState.RUNNING)
                    for j in self._mirror.jobs
                )
            if not busy or self._lost is not None:
                return not busy
            if deadline is not None and time.monotonic() > deadline:
                return False
            time.sleep(0.05)

    # -- reader thread ------------------------------------------------------------------------

    def _apply(self, snapshot: Snapshot) -> None:
        with self._lock:
            if snapshot.seq <= self._seq:
                return
            self._seq = snapshot.seq
            self._mirror.jobs = snapshot.jobs
            self._save_errors = snapshot.save_errors
            self._threads = snapshot.threads

    def _read(self, sock: socket.socket, proc: subprocess.Popen[bytes]) -> None:
        while True:
            try:
                message = recv_message(sock)
            except (EOFError, OSError, pickle.UnpicklingError):
                break
            kind = message[0]
            if kind == "reply":
                _, call_id, ok, value, snapshot = message
                self._apply(snapshot)
                with self._lock:
                    pending = self._pending.pop(call_id, None)
                if pending is not None:
                    pending.ok, pending.value = ok, value
                    pending.done.set()
            elif kind == "event":
                _, event, snapshot = message
                self._apply(snapshot)
                self._notify(self.on_event, event)
            elif kind == "loaded":
                _, report, snapshot = message
                self._apply(snapshot)
                with self._lock:
                    self.loads += 1
                self._loaded.set()
                self._notify(self.on_loaded, report)
        # The child is gone: release every waiting call, and say why unless we asked for it.
        code = proc.wait()
        with self._lock:
            pending_calls, self._pending = list(self._pending.values()), {}
            stopping = self._stopping
            if not stopping:
                self._lost = f"the download process stopped unexpectedly (exit code {code})"
                # Nothing runs any more; the saved queue keeps the jobs for the next start.
                for job in self._mirror.jobs:
                    self._mirror.interrupt(job.id, "interrupted: the download process stopped")
                self._threads = 0
                self._proc = None
        for pending in pending_calls:
            pending.ok, pending.value = False, self._lost or "the download process has stopped"
            pending.done.set()
        self._loaded.set()
        if not stopping and self._lost is not None:
            self._notify(self.on_lost, self._lost)

    @staticmethod
    def _notify(callback: Callable[[Any], None] | None, value: Any) -> None:
        if callback is None:
            return
        with contextlib.suppress(Exception):  # a broken display must never stop the reader
            callback(value)


# -- child side -------------------------------------------------------------------------------


class _Child:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.send_lock = threading.Lock()
        self.snapshot_lock = threading.Lock()
        self.seq = 0
        self.outbox: queue_mod.SimpleQueue[EngineEvent | None] = queue_mod.SimpleQueue()
        self.engine: Any = None
        self.shut_down = False

    def snapshot(self) -> Snapshot:
        with self.snapshot_lock:
            self.seq += 1
            engine = self.engine
            return Snapshot(self.seq, engine.jobs(), list(engine.save_errors), engine.thread_count())

    def send(self, message: object) -> None:
        send_message(self.sock, self.send_lock, message)

    def sender(self) -> None:
        """Forward engine events: state changes at once, progress at most every 0.1 s."""
        last_progress = 0.0
        while True:
            event = self.outbox.get()
            if event is None:
                return
            events = [event]
            if event.kind == "progress":
                time.sleep(max(0.0, last_progress + PROGRESS_SEND_INTERVAL - time.monotonic()))
            while True:
                try:
                    more = self.outbox.get_nowait()
                except queue_mod.Empty:
                    break
                if more is None:
                    self.outbox.put(None)
                    break
                events.append(more)
            changed = [e for e in events if e.kind != "progress"]
            merged = EngineEvent(
                "changed" if changed else "progress",
                events[-1].job_id if len({e.job_id for e in events}) == 1 else None,
                tuple(repo for e in events for repo in e.finished),
                tuple(job_id for e in events for job_id in e.finished_job_ids),
            )
            if not changed:
                last_progress = time.monotonic()
            try:
                self.send(("event", merged, self.snapshot()))
            except OSError:
                return

    def run(self) -> int:
        from hftui.core.downloads.engine import DownloadEngine
        from hftui.core.downloads.persist import QueueStore

        try:
            init = recv_message(self.sock)
        except (EOFError, OSError):
            return 0  # the app went away before saying what to do
        if not isinstance(init, Init):
            return 2
        from hftui.core.downloads import worker

        # Job processes below this one: the Xet transfers' busy threads must not delay our
        # answers to the app (an action key is a round trip through this process).
        worker.set_job_niceness(JOB_NICENESS)
        # The library reads bodies in 10 MiB chunks: each one is copied twice in a single call
        # that holds the GIL for milliseconds, 25 times a second per 250 MB/s. This process
        # must also answer the app's calls (pause, cancel) at once; with 1 MiB chunks the
        # slowest answers while two jobs ran at full speed fell from 131-161 ms to 19-48 ms.
        compat.set_download_chunk_size(CHUNK_SIZE)
        from huggingface_hub.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        store = None
        if init.state_directory is not None:
            store = QueueStore(Path(init.state_directory), owner_pid=init.owner_pid)
        self.engine = engine = DownloadEngine(
            init.settings,
            endpoint=init.endpoint,
            token=None,
            default_cache=init.default_cache,
            on_event=self.outbox.put,
            store=store,
        )
        stop = threading.Event()

        def on_signal(signum: int, frame: Any) -> None:
            stop.set()
            with contextlib.suppress(OSError):
                self.sock.shutdown(socket.SHUT_RD)  # wakes the command loop

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGHUP, on_signal)
        signal.signal(signal.SIGINT, signal.SIG_IGN)

        report = engine.load()
        self.send(("loaded", report, self.snapshot()))
        sender = threading.Thread(target=self.sender, name="hftui-downloads-sender", daemon=True)
        sender.start()
        engine.start()
        try:
            self.serve(stop)
        finally:
            if not self.shut_down:  # the app's "shutdown" call already spent the 2 s budget
                engine.shutdown(2.0)
            self.outbox.put(None)
            sender.join(1.0)
        return 0

    def serve(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                message = recv_message(self.sock)
            except (EOFError, OSError):
                return  # the app is gone (quit, crash or kill -9): stop cleanly
            _, call_id, method, args = message
            if method == "shutdown":
                clean = self.engine.shutdown(float(args[0]) if args else 2.0)
                self.shut_down = True
                with contextlib.suppress(OSError):
                    self.send(("reply", call_id, True, clean, self.snapshot()))
                return
            try:
                if method not in CALLS:
                    raise QueueError(f"unknown call {method!r}")
                ok, value = True, getattr(self.engine, method)(*args)
            except QueueError as exc:
                ok, value = False, exc
            except Exception as exc:  # reported to the caller, never fatal to running jobs
                ok, value = False, f"internal error: {type(exc).__name__}: {exc}"
            try:
                self.send(("reply", call_id, ok, value, self.snapshot()))
            except OSError:
                return


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or not args[0].isdigit():
        print("usage: python -m hftui.core.downloads.process FD  (started by the hftui app)", file=sys.stderr)
        return 2
    sock = socket.socket(fileno=int(args[0]))
    try:
        code = _Child(sock).run()
    finally:
        sock.close()
    # The queue is saved and its lock released by now. Exit at once rather than let the
    # interpreter wait for a library file thread that did not unwind within the 2 s budget.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    # Run the imported module, not this `__main__` copy: pickles must name the classes the
    # parent knows (`hftui.core.downloads.process.Snapshot`, not `__main__.Snapshot`).
    from hftui.core.downloads import process

    raise SystemExit(process.main())
