"""How a controller runs background work without knowing which UI (if any) is on top.

A controller hands a `Runner` a body to run off the owner thread (the UI's event loop). The body
gets a `Task`: it asks `task.cancelled()` between steps and hands results back with
`task.deliver(callback)`, which runs `callback` on the owner thread. Controllers only change their
state in delivered callbacks, so their state has one writer and needs no locks.

`ThreadRunner` is the plain-threads implementation for tests and headless use: delivered
callbacks queue up until the owner calls `drain()` (or `wait_idle()`). The Textual pane supplies
its own runner backed by thread workers and messages.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from functools import partial
from typing import Protocol, TypeVar

T = TypeVar("T")


class Task(Protocol):
    def cancelled(self) -> bool:
        """True once the owner is shutting down (or the work was cancelled): stop early."""
        ...

    def deliver(self, callback: Callable[[], None]) -> None:
        """Run `callback` on the owner thread, soon; safe to call from the worker thread."""
        ...


class Runner(Protocol):
    def start(self, group: str, body: Callable[[Task], None]) -> None:
        """Run `body(task)` off the owner thread. `group` names the kind of work (for logs and
        for a UI's worker list); bodies in one group may overlap."""
        ...


def spawn(
    runner: Runner,
    group: str,
    work: Callable[[Task], T],
    done: Callable[[T], None],
    failed: Callable[[BaseException], None],
) -> None:
    """Run `work` in the background; `done(result)` or `failed(exc)` runs on the owner thread."""

    def body(task: Task) -> None:
        try:
            result = work(task)
        except Exception as exc:
            task.deliver(partial(failed, exc))
            return
        task.deliver(partial(done, result))

    runner.start(group, body)


class _ThreadTask:
    def __init__(self, runner: ThreadRunner) -> None:
        self._runner = runner

    def cancelled(self) -> bool:
        return self._runner.stopping.is_set()

    def deliver(self, callback: Callable[[], None]) -> None:
        self._runner.delivered.put(callback)


class ThreadRunner:
    """Runs each body in its own thread; callbacks wait in a queue for the owner's `drain()`."""

    def __init__(self) -> None:
        self.delivered: queue.Queue[Callable[[], None]] = queue.Queue()
        self.stopping = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self, group: str, body: Callable[[Task], None]) -> None:
        thread = threading.Thread(target=body, args=(_ThreadTask(self),), name=f"hftui-{group}", daemon=True)
        self._threads.append(thread)
        thread.start()

    def drain(self) -> int:
        """Run the callbacks delivered so far, on the calling thread; returns how many ran."""
        ran = 0
        while True:
            try:
                callback = self.delivered.get_nowait()
            except queue.Empty:
                return ran
            callback()
            ran += 1

    def busy(self) -> bool:
        return any(thread.is_alive() for thread in self._threads)

    def wait_idle(self, timeout: float = 60.0) -> None:
        """Run delivered callbacks until no body is running and nothing is left to deliver (a
        callback may start more work, which is waited for too)."""
        import time

        deadline = time.monotonic() + timeout
        while True:
            self.drain()
            alive = [thread for thread in self._threads if thread.is_alive()]
            if not alive and self.delivered.empty():
                self._threads.clear()
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"background work still running: {[t.name for t in alive]}")
            try:
                callback = self.delivered.get(timeout=0.01)
            except queue.Empty:
                continue
            callback()

    def stop(self) -> None:
        self.stopping.set()
