"""The Cache pane's table updates in time proportional to what changed (issue 17): counted, not timed.

A status cell that got narrower (the update check's badge going away, "detached" gone after a
prune) used to make Textual's DataTable re-measure the whole column once per cell: N x N
measures for N rows. The table now re-measures a column once per idle pass."""

from __future__ import annotations

from typing import Any

import pytest
from textual.app import App, ComposeResult

from hftui.core.cache.records import RepoRecord
from hftui.tui.widgets.cache_table import CacheTable


def _records(n: int) -> list[RepoRecord]:
    out = []
    for i in range(n):
        record = RepoRecord(f"/nonexistent/models--org--m{i}", f"models--org--m{i}")
        record.repo_type, record.repo_id = "model", f"org/m{i}"
        record.size_on_disk = 1000 + i
        out.append(record)
    return out


class _TableApp(App[None]):
    def compose(self) -> ComposeResult:
        yield CacheTable()


_rich_measures = [0]


def _measured(table: CacheTable) -> int:
    """Cells measured by the table's own width code and by DataTable's (should it ever run)."""
    return table.measured_cells + _rich_measures[0]


@pytest.fixture(autouse=True)
def _count_datatable_measures(monkeypatch: pytest.MonkeyPatch) -> None:
    from textual.widgets import _data_table

    original = _data_table.measure

    def counting(*args: Any, **kwargs: Any) -> int:
        _rich_measures[0] += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(_data_table, "measure", counting)


async def _measures_for_update(n: int) -> tuple[int, int]:
    """(cells measured to add n rows, cells measured when every status cell gets narrower)."""
    app = _TableApp()
    async with app.run_test(size=(120, 30)) as pilot:
        table = app.query_one(CacheTable)
        badges = {"on": True}
        table.badge = lambda record: "↑12.3 MB update available" if badges["on"] else ""
        records = _records(n)
        start = _measured(table)
        table.put(records, lambda record: False, 0.0)
        await pilot.pause()
        assert table.row_count == n
        added = _measured(table) - start
        badges["on"] = False
        start = _measured(table)
        table.refresh_status([record.name for record in records])
        await pilot.pause()
        updated = _measured(table) - start
        widths: dict[Any, int] = {c.key: c.content_width for c in table.columns.values()}
        assert widths["status"] < len("complete ↑12.3 MB update available")
        return added, updated


@pytest.mark.parametrize("n", [100])
async def test_adding_and_narrowing_rows_measures_linearly(n: int) -> None:
    small = await _measures_for_update(n)
    large = await _measures_for_update(4 * n)
    for few, many in zip(small, large, strict=True):
        assert few > 0
        # Linear: 4x the rows, 4x the measures (plus a constant); quadratic would be 16x.
        assert many <= 4 * few + 50, (small, large)
