"""The Cache pane at scale (issue 16): every repo of a big cache becomes a row, and rows that stream in
below the visible ones cost no redraw. Counted, never timed (`benchmarks/cache_ui.py` times it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from cachebuilders import add_revision
from textual.app import App, ComposeResult

from hftui.core.cache.records import RepoRecord
from hftui.settings import Settings
from hftui.tui.app import make_app
from hftui.tui.panes.cache import CachePane
from hftui.tui.widgets.cache_table import MARK, CacheTable

REPOS = 2500


def _big_cache(cache: Path) -> None:
    for i in range(REPOS):
        repo_type = "dataset" if i % 7 == 0 else "model"
        # Sizes from sparse files: a real spread for the size bar and the sort, no bytes written.
        add_revision(
            cache,
            f"org{i % 40}/repo-{i}",
            {"config.json": b"{}", "model.bin": 1000 + 37 * i},
            repo_type=repo_type,
            tree=False,
        )


async def test_every_repo_of_a_big_cache_is_a_row_as_in_the_headless_scan(tmp_path: Path) -> None:
    cache = tmp_path / "hub"
    _big_cache(cache)
    headless = subprocess.run(
        [sys.executable, "-m", "hftui", "scan", "--json", "--cache-dir", str(cache)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    scanned = {Path(repo["repo_path"]).name for repo in json.loads(headless.stdout)["repos"]}
    assert len(scanned) == REPOS

    # Worker processes as in the app on a big cache (rows arrive in batches while the scan runs).
    app = make_app(Settings(cache_dir=str(cache), scan_processes=2))
    async with app.run_test(size=(120, 40)) as pilot:
        pane = app.query_one(CachePane)
        table = pane.table
        for _ in range(2000):  # waits on the pane's state, a pause at a time, not on a clock
            if pane.report is not None and not pane.scanning and not pane.busy:
                break
            await pilot.pause(0.02)
        assert pane.report is not None and not pane.scanning and not pane.busy
        await pilot.pause()
        assert table.row_count == REPOS
        assert {str(row.key.value) for row in table.ordered_rows} == scanned
        last = str(table.ordered_rows[-1].key.value)
        await pilot.press("G")
        await pilot.pause()
        assert table.current_name == last
        record = table.records[last]
        shown = [table.render_line(y).text for y in range(table.size.height)]
        assert any(record.repo_id in line for line in shown), shown


class _TableApp(App[None]):
    def compose(self) -> ComposeResult:
        yield CacheTable()


def _records(start: int, n: int, size: int) -> list[RepoRecord]:
    out = []
    for i in range(start, start + n):
        record = RepoRecord(f"/nonexistent/models--org--m{i}", f"models--org--m{i}")
        record.repo_type, record.repo_id = "model", f"org/m{i}"
        record.size_on_disk = size
        out.append(record)
    return out


async def test_rows_added_below_the_screen_redraw_no_visible_cell() -> None:
    app = _TableApp()
    async with app.run_test(size=(120, 30)) as pilot:
        table = app.query_one(CacheTable)
        table.put(_records(0, 200, 5000), lambda record: False, 0.0)
        await pilot.pause()
        drawn = table.rendered_cells
        assert drawn > 0
        # DataTable re-rendered every visible cell after any change; rows appended below the
        # visible ones (as a scan's batches are, until the batch is sorted) now draw nothing.
        table.put(_records(200, 300, 10), lambda record: False, 0.0)
        await pilot.pause()
        assert table.row_count == 500
        assert table.rendered_cells == drawn
        # A changed cell is drawn again, and shows its new value.
        table.set_marked("models--org--m3", True)
        await pilot.pause()
        assert table.rendered_cells > drawn
        line = table.render_line(3 + 1).text  # below the header
        assert line.lstrip().startswith(MARK) and "org/m3" in line
