"""Textual internals hftui relies on, in one module (the core never imports Textual).

Checked against textual 8.2.8. `tests/test_compat.py` fails if an upgrade removes one of them.

`Tree` caches rendered lines keyed by its own and its nodes' update counters, so a label that
depends on state *outside* the nodes (which files the patterns match, which are on disk) is not
redrawn by `refresh()`: the cache must be dropped. Textual has no public call for that short of
rebuilding every node (`clear()`), which would lose the expansion state and cost ~1 s for 10k nodes.

`DataTable` measures column widths in `_update_dimensions` (every cell of every new row, each through
Rich's `measure`, ~15 µs a cell) and `_update_column_widths` (a cell updated with `update_width=True`
that got narrower re-measures its *whole column*, once per cell: an update of N rows costs N x N
measures; a bulk prune of 1,000 repos spent minutes there). `CellWidthTable` overrides both with the
same result from plain cell lengths, and a narrower cell re-measures its column once per idle pass.
`add_rows_keyed` adds many rows with one cursor update (`add_row` re-validates the cursor, a reactive
with watchers, once per row).

Every change to a `DataTable` (a row added, one cell updated, a sort) bumps its `_update_count`, and
all its render caches are keyed on it: each batch of rows streaming in re-rendered every visible cell
through Rich (~60% of the app's time while 10,000 rows arrived), and rebuilt `_y_offsets`, a list of
one tuple per row. `CellWidthTable` keeps cell renders keyed on what they are drawn from (the cell
object itself, its width, style and place), and answers `_y_offsets` from the row order (rows are
one line high).
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import zip_longest
from typing import Any

from rich.cells import cell_len
from rich.style import Style
from rich.text import Text
from textual._types import SegmentLines
from textual.cache import LRUCache
from textual.geometry import Region, Size
from textual.render import measure
from textual.widgets import DataTable, Tree
from textual.widgets._data_table import CellKey, ColumnKey, DuplicateKey, Row, RowKey, default_cell_formatter

CHECKED_AGAINST = {"textual": "8.2.8"}


def repaint_tree_lines(tree: Tree[Any]) -> None:
    """Redraw every line of `tree` on its next paint (labels changed, widths did not)."""
    tree._line_cache.clear()
    tree.refresh()


def remeasure_tree(tree: Tree[Any]) -> None:
    """Rebuild `tree`'s lines and widths (labels changed width), keeping nodes and their expansion."""
    tree._invalidate()


class _OneLineOffsets(list[tuple[RowKey, int]]):
    """`DataTable._y_offsets` of a table whose rows are all one line: (row key, 0) for line y,
    read from the row order instead of a list of every row built anew after each change."""

    def __init__(self, table: CellWidthTable) -> None:
        super().__init__()
        self.table = table

    def __len__(self) -> int:
        return len(self.table.rows)

    def __getitem__(self, y: Any) -> Any:
        if not isinstance(y, int) or not 0 <= y < len(self):
            raise IndexError(y)
        return self.table._row_locations.get_key(y), 0


class CellWidthTable(DataTable[Any]):
    """A `DataTable` of one-line rows that measures a column once per idle pass, not once per cell,
    and re-renders only the cells that changed.

    `measured_cells` counts the cells whose width was taken (tests check it grows linearly);
    `rendered_cells` the cells drawn through Rich (tests check a batch of rows below the visible ones
    draws none)."""

    measured_cells = 0
    rendered_cells = 0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Before DataTable's __init__, which already clears the caches (`_clear_caches`).
        self._cell_renders: LRUCache[tuple[Any, ...], tuple[object, SegmentLines]] = LRUCache(4096)
        super().__init__(*args, **kwargs)

    def _clear_caches(self) -> None:
        super()._clear_caches()  # (a theme or CSS change, a resize, `clear`)
        self._cell_renders.clear()

    @property
    def _y_offsets(self) -> list[tuple[RowKey, int]]:
        return _OneLineOffsets(self)

    def _get_row_region(self, row_index: int) -> Region:
        if not self.is_valid_row_index(row_index):
            return Region(0, 0, 0, 0)
        width = sum(column.get_render_width(self) for column in self.columns.values())
        top = self.header_height if self.show_header else 0
        return Region(0, top + row_index, max(self.size.width, width + self._row_label_column_width), 1)

    def _render_cell(
        self,
        row_index: int,
        column_index: int,
        base_style: Style,
        width: int,
        cursor: bool = False,
        hover: bool = False,
    ) -> SegmentLines:
        if row_index < 0 or column_index < 0:  # the header and row labels: few, drawn as DataTable does
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        row_key = self._row_locations.get_key(row_index)
        column_key = self._column_locations.get_key(column_index)
        cell = self._data[row_key].get(column_key) if row_key is not None and column_key is not None else None
        key = (
            row_key,
            column_key,
            row_index,  # the cell's mouse meta names its place
            column_index,
            width,
            base_style,
            cursor,
            hover,
            self._show_hover_cursor,
            self.show_cursor,
            self._pseudo_class_state,
        )
        cached = self._cell_renders.get(key)
        if cached is not None and cached[0] is cell:
            return cached[1]
        self.rendered_cells += 1
        lines = super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        self._cell_renders[key] = (cell, lines)
        return lines

    def cell_width(self, cell: object) -> int:
        self.measured_cells += 1
        if isinstance(cell, Text):
            return cell_len(cell.plain)
        if isinstance(cell, str) and "[" not in cell and "\n" not in cell:
            return cell_len(cell)  # no markup: the formatter's Text has the same width
        return measure(self.app.console, default_cell_formatter(cell, wrap=False, height=1), 1)

    def add_rows_keyed(self, rows: Iterable[tuple[str, list[Any]]]) -> None:
        """`add_row(*cells, key=key)` for each (key, cells), one-line rows, without a label."""
        columns = [column.key for column in self.ordered_columns]
        was_empty = self.row_count == 0
        added = False
        for key, cells in rows:
            row_key = RowKey(key)
            if row_key in self._row_locations:
                raise DuplicateKey(f"The row key {row_key!r} already exists.")
            if len(cells) > len(columns):
                raise ValueError("More values provided than there are columns.")
            self._row_locations[row_key] = len(self.rows)
            self._data[row_key] = dict(zip_longest(columns, cells))
            self.rows[row_key] = Row(row_key, 1, None, False)
            self._new_rows.add(row_key)
            added = True
        if not added:
            return
        self._require_update_dimensions = True
        self.cursor_coordinate = self.cursor_coordinate
        if was_empty and self.columns and self.show_cursor and self.cursor_type != "none":
            self._highlight_cursor()
        self._update_count += 1
        self.check_idle()

    def _label_width(self, column_key: ColumnKey) -> int:
        label = self.columns[column_key].label
        return cell_len(label.plain)

    def _update_column_widths(self, updated_cells: set[CellKey]) -> None:
        narrower: set[ColumnKey] = set()
        for row_key, column_key in updated_cells:
            column = self.columns.get(column_key)
            if column is None or row_key not in self.rows:
                continue
            width = max(self.cell_width(self._data[row_key][column_key]), self._label_width(column_key))
            if width >= column.content_width:
                column.content_width = width
            else:
                narrower.add(column_key)
        for column_key in narrower:
            column = self.columns[column_key]
            widths = (self.cell_width(row.get(column_key)) for row in self._data.values())
            column.content_width = max(self._label_width(column_key), *widths)
        self._require_update_dimensions = True

    def _update_dimensions(self, new_rows: Iterable[RowKey]) -> None:
        columns = self.columns
        for row_key in new_rows:
            if row_key not in self.rows:
                continue  # removed before the table was idle
            for column_key, cell in self._data[row_key].items():
                column = columns.get(column_key)
                if column is not None:
                    width = self.cell_width(cell)
                    if width > column.content_width:
                        column.content_width = width
        width = sum(column.get_render_width(self) for column in columns.values())
        header_height = self.header_height if self.show_header else 0
        self.virtual_size = Size(width + self._row_label_column_width, self._total_row_height + header_height)
        # (DataTable re-sets `hover_coordinate` here, which walks every row in order to refresh one
        # cell: the cell under the mouse is redrawn on the next mouse move instead.)
        self._update_count += 1
        self.refresh(layout=True)


__all__ = ["CHECKED_AGAINST", "CellWidthTable", "remeasure_tree", "repaint_tree_lines"]


def message_clock() -> float:
    """The clock of `Message.time` (a public attribute) now: textual._time.get_time, private.

    Why: a confirmation ignores a `y` typed before it was on screen, which needs the key's time
    and the screen's on one clock. Checked with textual 8.2.8 (monotonic on Linux/macOS)."""
    from textual import _time

    return float(_time.get_time())
