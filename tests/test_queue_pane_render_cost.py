"""What a cursor key and a progress tick cost the UI thread in the Queue pane.

A layout of the whole screen (Textual's reflow) is the expensive part of a screen update, and
`Static.update` asks for one on every call. The Queue pane's detail and overall lines and the
queue summary change on every cursor key and progress tick, but their size rarely does: these
tests count the reflows (via the screen's public `screen_layout_refresh_signal`, published once
per reflow) and check that the text shown is still right, and that a detail which needs more
lines still gets them.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from hubfixtures import DATASET, MODEL, hub_server  # noqa: F401
from rich.text import Text
from test_queue_pane import until
from textual.geometry import Region
from textual.widget import Widget
from textual.widgets import DataTable

from hftui.core.downloads.models import DownloadRequest
from hftui.core.downloads.queue import Job, QueueTotals
from hftui.hub import HubServer
from hftui.settings import Settings
from hftui.tui.app import HfTuiApp, make_app
from hftui.tui.panes.queue import QueuePane
from hftui.tui.widgets.summary import QueueSummary, SteadyStatic, same_content

SIZE = (120, 36)


def shown(widget: Widget) -> list[str]:
    """The lines the widget paints in its whole region (padding included), trailing blanks stripped."""
    width, height = widget.outer_size
    return [strip.text.rstrip() for strip in widget.render_lines(Region(0, 0, width, height))]


def count_reflows(app: HfTuiApp) -> list[object]:
    reflows: list[object] = []
    app.screen.screen_layout_refresh_signal.subscribe(app.screen, reflows.append, immediate=True)
    return reflows


async def queue_with_two_done_jobs(app: HfTuiApp, pilot) -> tuple[QueuePane, DataTable]:
    await pilot.press("3")
    await pilot.pause()
    for request in (DownloadRequest(MODEL), DownloadRequest(DATASET, repo_type="dataset")):
        assert app.downloads.submit(request).accepted
    await until(
        pilot,
        lambda: len(app.downloads.jobs()) == 2 and all(j.state == "done" for j in app.downloads.jobs()),
        what="both jobs done",
    )
    pane = app.query_one(QueuePane)
    table = pane.query_one(DataTable)
    await until(pilot, lambda: table.row_count == 2, what="two rows")
    # The last real progress update may still be paced: let it land before a test paints by hand.
    await until(pilot, lambda: not app.downloads.progress_pacer.pending, what="no paced update on its way")
    await pilot.pause()
    pane.focus_default()
    await pilot.pause()
    return pane, table


def running_copies(jobs: list[Job], tick: int, note: str = "") -> list[Job]:
    """The same jobs as if they were downloading, `tick` steps in (progress moves every tick)."""
    return [
        dataclasses.replace(
            job,
            state="running",
            bytes_total=50_000_000,
            bytes_done=tick * 1_500_000 + index,
            files_total=5,
            files_done=tick % 5,
            speed=1_000_000.0 + tick * 10_000,
            eta=40.0 - tick,
            message=note if index == 0 else "",
        )
        for index, job in enumerate(jobs)
    ]


def fake_progress(app: HfTuiApp, monkeypatch: pytest.MonkeyPatch, jobs: list[Job]) -> dict[str, object]:
    """Make the controller report `state["jobs"]` (what the Queue pane reads on a refresh)."""
    state: dict[str, object] = {"jobs": jobs}

    def totals() -> QueueTotals:
        current: list[Job] = state["jobs"]  # type: ignore[assignment]
        return QueueTotals(
            jobs=len(current),
            running=sum(j.state == "running" for j in current),
            queued=0,
            paused=0,
            done=sum(j.state == "done" for j in current),
            failed=0,
            bytes_done=sum(j.bytes_done for j in current),
            bytes_total=sum(j.bytes_total or 0 for j in current),
            speed=sum(j.speed for j in current),
        )

    monkeypatch.setattr(app.downloads, "jobs", lambda: list(state["jobs"]))  # type: ignore[call-overload]
    monkeypatch.setattr(app.downloads, "totals", totals)
    return state


async def test_cursor_keys_repaint_the_detail_without_a_screen_reflow(tmp_path: Path, hub: HubServer) -> None:
    app = make_app(Settings(cache_dir=str(tmp_path / "cache"), endpoint=hub.endpoint, disk_margin_mb=0))
    async with app.run_test(size=SIZE) as pilot:
        pane, table = await queue_with_two_done_jobs(app, pilot)
        detail = pane.query_one("#queue-detail", SteadyStatic)
        first, second = (job.request for job in app.downloads.jobs())
        assert table.cursor_row == 0
        assert shown(detail)[0].strip().startswith(f"{first.repo_type} {first.repo_id}@main")

        reflows = count_reflows(app)
        for expected_row, expected in ((1, second), (0, first), (1, second)):
            await pilot.press("down" if expected_row == 1 else "up")
            await pilot.pause()
            assert table.cursor_row == expected_row
            lines = shown(detail)
            assert len(lines) == 2 and lines[1].strip() == "", lines
            assert lines[0].strip().startswith(f"{expected.repo_type} {expected.repo_id}@main"), lines
            assert str(tmp_path / "cache") in lines[0]
        assert reflows == [], f"{len(reflows)} screen reflow(s) for 3 cursor keys"


async def test_progress_ticks_repaint_without_a_screen_reflow(
    tmp_path: Path, hub: HubServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app(Settings(cache_dir=str(tmp_path / "cache"), endpoint=hub.endpoint, disk_margin_mb=0))
    async with app.run_test(size=SIZE) as pilot:
        pane, table = await queue_with_two_done_jobs(app, pilot)
        real = app.downloads.jobs()
        state = fake_progress(app, monkeypatch, running_copies(real, 1))
        summary = app.query_one(QueueSummary)
        overall = pane.query_one("#queue-overall", SteadyStatic)
        detail = pane.query_one("#queue-detail", SteadyStatic)
        pane.refresh_jobs()
        await pilot.pause()

        reflows = count_reflows(app)
        for tick in range(2, 6):
            state["jobs"] = running_copies(real, tick)
            # What the app does on a progress tick (DownloadsChanged).
            summary.update_summary(f"Queue: 2 running  ·  tick {tick}")
            pane.refresh_jobs()
            await pilot.pause()
            done = tick * 1_500_000
            assert str(table.get_cell(real[0].id, "progress")).startswith(f"{100 * done / 50_000_000:3.0f}% ")
            assert str(table.get_cell(real[0].id, "files")) == f"{tick % 5}/5"
            assert shown(summary) == [f" Queue: 2 running  ·  tick {tick}"]
            (overall_line,) = shown(overall)
            assert "2 jobs: 2 running, 0 queued, 0 paused, 0 done, 0 failed" in overall_line
            assert overall_line.endswith("/s"), overall_line  # total speed, moves every tick
            first = real[0].request
            assert shown(detail)[0].strip().startswith(f"{first.repo_type} {first.repo_id}")
        assert reflows == [], f"{len(reflows)} screen reflow(s) for 4 progress ticks"

        # Nor while another pane is shown (the Queue pane's widgets are hidden then).
        await pilot.press("1")
        await pilot.pause()
        reflows.clear()
        for tick in range(6, 9):
            state["jobs"] = running_copies(real, tick)
            summary.update_summary(f"Queue: 2 running  ·  tick {tick}")
            pane.refresh_jobs()
            await pilot.pause()
            assert shown(summary) == [f" Queue: 2 running  ·  tick {tick}"]
        assert reflows == [], f"{len(reflows)} screen reflow(s) for 3 progress ticks on the Cache pane"

        # Back on the Queue pane, it shows the latest figures.
        await pilot.press("3")
        await pilot.pause()
        assert str(table.get_cell(real[0].id, "files")) == "3/5"
        assert "/s" in shown(overall)[0]


async def test_a_detail_that_needs_more_lines_still_gets_them(
    tmp_path: Path, hub: HubServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app(Settings(cache_dir=str(tmp_path / "cache"), endpoint=hub.endpoint, disk_margin_mb=0))
    async with app.run_test(size=SIZE) as pilot:
        pane, table = await queue_with_two_done_jobs(app, pilot)
        real = app.downloads.jobs()
        state = fake_progress(app, monkeypatch, running_copies(real, 1))
        detail = pane.query_one("#queue-detail", SteadyStatic)
        pane.refresh_jobs()
        await pilot.pause()
        lines = shown(detail)
        assert len(lines) == 2 and lines[1].strip() == "", lines  # a line kept for a note

        # A note for the highlighted job fills that line: the table does not move. (The screen
        # may still reflow here: the table's own note column widens.)
        table_height = table.outer_size.height
        state["jobs"] = running_copies(real, 2, note="retrying after a dropped connection")
        pane.refresh_jobs()
        await pilot.pause()
        lines = shown(detail)
        assert len(lines) == 2 and lines[1].strip() == "retrying after a dropped connection", lines
        assert table.outer_size.height == table_height

        # A note too long for one line wraps: the detail grows (up to its max-height of 4).
        long_note = " ".join(f"word{i:03d}" for i in range(30))  # ~240 cells at width 120
        state["jobs"] = running_copies(real, 3, note=long_note)
        pane.refresh_jobs()
        await pilot.pause()
        lines = shown(detail)
        assert len(lines) == 4, lines
        assert " ".join(" ".join(lines[1:]).split()) == long_note
        assert table.outer_size.height == table_height - 2

        # The note goes away: back to two lines, and the table gets the space back.
        state["jobs"] = running_copies(real, 4)
        pane.refresh_jobs()
        await pilot.pause()
        assert len(shown(detail)) == 2
        assert table.outer_size.height == table_height

        # The cursor onto a job with or without a one-line note: the detail keeps its size.
        state["jobs"] = running_copies(real, 5, note="held: needs 2 GB more disk space")
        pane.refresh_jobs()
        await pilot.pause()
        reflows = count_reflows(app)
        await pilot.press("down")
        await pilot.pause()
        assert table.cursor_row == 1
        assert shown(detail)[1].strip() == ""
        await pilot.press("up")
        await pilot.pause()
        assert shown(detail)[1].strip() == "held: needs 2 GB more disk space"
        assert reflows == [] and table.outer_size.height == table_height


def test_same_content_tells_styles_apart() -> None:
    # rich's Text.__eq__ ignores the base style: a state cell that only changes colour must
    # still be updated.
    assert Text("done", style="green") == Text("done", style="red")
    assert not same_content(Text("done", style="green"), Text("done", style="red"))
    assert same_content(Text("done", style="green"), Text("done", style="green"))
    assert same_content("12%", "12%") and not same_content("12%", "13%")
    assert not same_content(None, "") and not same_content("x", Text("x"))
