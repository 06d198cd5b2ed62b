"""Progress pacing (`hftui.core.downloads.pacing`), driven by a fast fake progress source: the jobs'
own `ProgressTracker`s fed a body chunk every 0.1 ms of a simulated clock. Nothing waits on a real
clock: the fake clock moves, and the pacer's deferred deliveries run when it passes their time."""

from __future__ import annotations

import heapq
import itertools
from collections import Counter
from collections.abc import Callable

import pytest

from hftui.core.downloads.job import Progress, ProgressTracker
from hftui.core.downloads.pacing import Pacer


class FakeTime:
    """A clock and a timer queue: `advance` runs the callbacks whose time has come, in order."""

    def __init__(self) -> None:
        self.now = 0.0
        self._due: list[tuple[float, int, Callable[[], None]]] = []
        self._count = 0

    def clock(self) -> float:
        return self.now

    def defer(self, delay: float, callback: Callable[[], None]) -> None:
        self._count += 1
        heapq.heappush(self._due, (self.now + delay, self._count, callback))

    def advance(self, seconds: float) -> None:
        end = self.now + seconds
        while self._due and self._due[0][0] <= end:
            when, _, callback = heapq.heappop(self._due)
            self.now = max(self.now, when)
            callback()
        self.now = end


def test_a_flood_of_progress_from_many_jobs_refreshes_the_table_at_most_4_times_a_second() -> None:
    time = FakeTime()
    refreshes: list[tuple[float, dict[str, int]]] = []
    latest: dict[str, int] = {}

    # What the app does on each delivery: refresh the table from the latest figures.
    pacer = Pacer(
        lambda: refreshes.append((time.now, dict(latest))), 0.25, clock=time.clock, defer=time.defer
    )

    def report_for(job: str) -> Callable[[Progress], None]:
        def report(progress: Progress) -> None:
            latest[job] = progress.bytes_done
            pacer.poke()

        return report

    jobs = [f"job{i}" for i in range(8)]
    trackers = {
        job: ProgressTracker(
            report_for(job), lambda: False, bytes_total=10**12, files_total=1, clock=time.clock
        )
        for job in jobs
    }
    seconds, step = 4.0, 0.0001
    for _ in range(int(seconds / step)):
        for job in jobs:
            trackers[job].add_transfer(1024)  # 8 jobs x 10,000 chunks a second each
        time.advance(step)
    sent = {job: trackers[job].received() for job in jobs}
    time.advance(1.0)  # the stream stopped: the trailing delivery comes

    # The trackers let through at most 10 reports a second per job: 800 pokes a second here.
    assert all(9 * seconds <= tracker.reports <= 10 * seconds + 1 for tracker in trackers.values())
    per_second = Counter(int(when) for when, _ in refreshes)
    assert max(per_second.values()) <= 4, per_second  # 0.25 s apart, whatever the number of jobs
    assert min(per_second[s] for s in range(int(seconds))) >= 3  # and still a few each second
    gaps = [b - a for (a, _), (b, _) in itertools.pairwise(refreshes)]
    assert min(gaps) >= 0.25 - 1e-9
    # The last refresh shows the last figures each tracker reported: nothing is left stale.
    assert refreshes[-1][1] == latest
    assert all(sent[job] - latest[job] <= 1024 * 10_000 * 0.1 for job in jobs)


def test_the_first_change_after_a_quiet_spell_is_shown_at_once_and_state_changes_reset_the_window() -> None:
    time = FakeTime()
    shown: list[float] = []
    pacer = Pacer(lambda: shown.append(time.now), 0.25, clock=time.clock, defer=time.defer)
    pacer.poke()
    assert shown == [0.0]  # not deferred
    time.advance(0.1)
    pacer.poke()
    pacer.poke()
    assert shown == [0.0]  # within the interval: one delivery, later
    time.advance(0.2)
    assert shown == [0.0, 0.25]
    time.advance(5.0)
    pacer.poke()
    assert shown[-1] == pytest.approx(5.3)
    # A state change refreshed everything (unpaced): the next progress waits a whole interval.
    time.advance(1.0)
    pacer.delivered()
    pacer.poke()
    assert shown[-1] == pytest.approx(5.3)
    time.advance(0.25)
    assert shown[-1] == pytest.approx(6.55) and pacer.deliveries == 4


async def test_the_app_refreshes_the_queue_through_the_pacer(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The app's side: a flood of progress events from the download process becomes one queue
    refresh per interval (and the last one), while a state change is shown at once."""
    import threading

    from hftui.core.downloads.engine import EngineEvent
    from hftui.settings import Settings
    from hftui.tui.app import make_app
    from hftui.tui.messages import DownloadsChanged

    seen: list[object] = []
    app = make_app(Settings(cache_dir=str(tmp_path / "cache"), endpoint="http://127.0.0.1:9"))
    async with app.run_test(message_hook=seen.append) as pilot:
        time = FakeTime()
        controller = app.downloads
        controller.progress_pacer = Pacer(
            controller.progress_pacer.deliver, 0.25, clock=time.clock, defer=time.defer
        )

        def flood() -> None:  # on another thread, as the download process's reader does
            for _ in range(5000):
                controller._on_event(EngineEvent("progress", "job"))

        def count() -> int:
            return sum(isinstance(m, DownloadsChanged) for m in seen)

        worker = threading.Thread(target=flood)
        worker.start()
        worker.join()
        await pilot.pause()
        assert count() == 1  # the first at once, the other 4,999 wait for the interval's end
        time.advance(0.25)
        await pilot.pause()
        assert count() == 2  # one trailing refresh shows them all
        controller._on_event(EngineEvent("changed", "job"))  # a state change: at once
        await pilot.pause()
        assert count() == 3
        controller._on_event(EngineEvent("progress", "job"))
        await pilot.pause()
        assert count() == 3  # the state change showed everything: progress waits an interval
