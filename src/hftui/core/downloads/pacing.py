"""At most one screen update per interval for a stream of progress, the latest never lost.

Why. Progress arrives from every running job (each throttled to 10 reports a second by its
`ProgressTracker`, relayed by the download process), and every update a UI makes repaints the
queue table: Textual's `DataTable.update_cell` drops the table's render caches, so the next frame
renders every visible row again. Left to the event rate, a queue of busy jobs keeps the UI thread
repainting numbers while keys wait (measured: docs/benchmarks.md). A `Pacer` lets through the
first change of a quiet period at once, then at most one per `interval` whatever the number of
jobs, and always a last one after the stream stops, so the figures shown are never stale by more
than `interval`.

Threads. `poke` may be called from any thread; `deliver` runs on the poking thread or on the
`defer` timer's thread and must only hand over to the UI (post a message). The clock and the timer are parameters, so tests drive it without waiting.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

Defer = Callable[[float, Callable[[], None]], None]


def _timer(delay: float, callback: Callable[[], None]) -> None:
    timer = threading.Timer(delay, callback)
    timer.daemon = True
    timer.start()


class Pacer:
    def __init__(
        self,
        deliver: Callable[[], None],
        interval: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        defer: Defer = _timer,
    ) -> None:
        self.deliver = deliver
        self.interval = interval
        self._clock = clock
        self._defer = defer
        self._lock = threading.Lock()
        self._last = float("-inf")
        self._scheduled = False
        self.deliveries = 0

    def poke(self) -> None:
        """Something changed: deliver now, or once the current interval ends (one delivery for
        every poke until then)."""
        with self._lock:
            if self._scheduled:
                return  # the delivery on its way will show this change too
            now = self._clock()
            wait = self._last + self.interval - now
            if wait > 0:
                self._scheduled = True
            else:
                self._last = now
                self.deliveries += 1
        if wait > 0:
            self._defer(wait, self._fire)
        else:
            self.deliver()

    @property
    def pending(self) -> bool:
        """A paced delivery is on its way (tests wait for quiet before painting by hand)."""
        with self._lock:
            return self._scheduled

    def delivered(self) -> None:
        """An update the pacer did not pace has just shown everything (a state change): the next
        progress waits a whole interval."""
        with self._lock:
            self._last = self._clock()

    def _fire(self) -> None:
        with self._lock:
            self._scheduled = False
            self._last = self._clock()
            self.deliveries += 1
        self.deliver()
