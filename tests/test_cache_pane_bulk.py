"""The Cache pane after a bulk operation costs what changed (issue 17): counted, not timed.

* A prune that changes k repos of a cache of N redraws k rows, whatever N is. (It used to clear the
  table and add every row again once more than 32 rows changed.)
* The update check posts one result per repo, in bursts of thousands: drawing them reads each
  named repo, never every row per result (N results x N rows made a 5,000-repo prune that ran
  during a check crawl: the event loop held the GIL the deletion's thread needed).
* The "Freed" notification is raised only once the table shows the change it reports (a bulk
  update is drawn a slice at a time), so it never expires before the screen catches up.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from cachebuilders import add_revision
from conftest import update_check_done

from hftui.core.cache.records import RepoRecord
from hftui.settings import Settings
from hftui.tui.app import make_app
from hftui.tui.cache_updates import UpdatesChanged
from hftui.tui.panes import cache as cache_pane
from hftui.tui.panes.cache import CachePane

CHANGED = 40
"""Repos with a detached revision: more than the pane redraws in one go (BULK_ROWS)."""


def _build(cache: Path, n: int) -> None:
    for i in range(n):
        repo = f"org/m{i:04d}"
        add_revision(cache, repo, {"config.json": b"{}", "w.bin": f"new {i}".encode()})
        if i < CHANGED:
            add_revision(cache, repo, {"config.json": b"{}", "w.bin": f"old {i}".encode()}, refs=())


async def _settle(pilot: Any, app: Any) -> None:
    for _ in range(3):
        await pilot.pause()
        await app.workers.wait_for_complete()
    await pilot.pause()


def _freed_on_screen(app: Any) -> bool:
    return any("Freed" in str(toast.render()) for toast in app.query("Toast"))


async def _prune(tmp_path: Path, n: int) -> tuple[int, Counter[str]]:
    """Prune the detached revisions of CHANGED repos in a cache of n; (rows redrawn, what was seen)."""
    cache = tmp_path / f"hub-{n}"
    _build(cache, n)
    app = make_app(Settings(cache_dir=str(cache)))
    seen: Counter[str] = Counter()
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await _settle(pilot, app)
        pane = app.query_one(CachePane)
        assert pane.table.row_count == n
        await pilot.press("p")
        await _settle(pilot, app)
        assert type(app.screen).__name__ == "PruneScreen"
        await pilot.press("enter")  # detached revisions: the first choice
        await _settle(pilot, app)
        assert type(app.screen).__name__ == "DeleteConfirmScreen"
        assert app.screen.plan.item_count == CHANGED

        redrawn = [0]
        table_put = pane.table.put

        def counting_put(records: Any, *args: Any, **kwargs: Any) -> None:
            records = list(records)
            redrawn[0] += len(records)
            table_put(records, *args, **kwargs)

        pane.table.put = counting_put  # type: ignore[method-assign]
        await pilot.press("y")

        def table_done() -> bool:
            return not (pane.deleting or pane.busy) and not any(
                "detached" in str(pane.table.get_cell(name, "status")) for name in pane.table.rows
            )

        # Wait for the events (a loaded machine may take seconds), checking at each step that
        # the notification never shows before the rows it reports are drawn.
        for _ in range(2400):
            done, freed = table_done(), _freed_on_screen(app)
            seen["rows pending"] += bool(pane._pending or pane._adding)
            if freed and not done:
                seen["freed before the table"] += 1
            if done and freed:
                break
            await pilot.pause(0.05)
        seen["table done"] += table_done()
        seen["freed shown"] += _freed_on_screen(app)
        assert pane.table.row_count == n
    return redrawn[0], seen


@pytest.mark.parametrize("n", [60])
async def test_a_prune_of_k_repos_redraws_k_rows_whatever_the_cache_size(tmp_path: Path, n: int) -> None:
    assert cache_pane.BULK_ROWS < CHANGED  # the changed rows are more than one redraw
    small, small_seen = await _prune(tmp_path, n)
    large, large_seen = await _prune(tmp_path, 4 * n)
    for seen in (small_seen, large_seen):
        assert seen["table done"] and seen["freed shown"], seen
        assert not seen["freed before the table"], seen
    assert small == large == CHANGED, (small, large)


async def _update_reads(tmp_path: Path, n: int, monkeypatch: pytest.MonkeyPatch) -> tuple[int, int]:
    """(record ids read, passes) to draw one update result per repo, posted one message each."""
    cache = tmp_path / f"hub-{n}"
    _build(cache, n)
    app = make_app(Settings(cache_dir=str(cache)))
    async with app.run_test(size=(120, 40)) as pilot:
        await _settle(pilot, app)
        pane = app.query_one(CachePane)
        assert pane.table.row_count == n
        # The app's own check (of an unreachable Hub in tests) is over before the burst starts.
        await update_check_done(pilot, pane.updates.monitor)
        await _settle(pilot, app)
        reads = [0]
        original = RepoRecord.cache_id

        def counted(record: RepoRecord) -> str:
            reads[0] += 1
            return original.fget(record)  # type: ignore[attr-defined,no-any-return]

        statuses: list[str] = []
        refresh = pane.table.refresh_status

        def counting_refresh(names: Any) -> None:
            names = list(names)
            statuses.extend(names)
            refresh(names)

        pane.table.refresh_status = counting_refresh  # type: ignore[method-assign]
        passes = pane.updates_drawn
        ids = [record.cache_id for record in pane.table.records.values()]
        with monkeypatch.context() as patch:
            patch.setattr(RepoRecord, "cache_id", property(counted))
            for cache_id in ids:
                pane.post_message(UpdatesChanged((cache_id,)))
            await _settle(pilot, app)
            for _ in range(600):  # drawn a moment later: wait for that, not for a time
                if pane.updates_drawn > passes and not pane._updates_flush_queued:
                    break
                await pilot.pause(0.05)
        assert sorted(statuses) == sorted(pane.table.records)  # every named row redrawn, once
        return reads[0], pane.updates_drawn - passes


async def test_a_burst_of_update_results_reads_each_repo_not_every_row_per_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    small, small_passes = await _update_reads(tmp_path, 40, monkeypatch)
    large, large_passes = await _update_reads(tmp_path, 160, monkeypatch)
    assert small >= 40  # each result is matched to its row
    assert large <= 4 * small + 8, (small, large)
    assert large_passes <= 4 * max(small_passes, 1), (small_passes, large_passes)
