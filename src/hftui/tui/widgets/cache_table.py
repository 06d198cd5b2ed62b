"""The repo table of the Cache pane: one row per top-level cache entry, keyed by its folder name."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from rich.cells import cell_len
from rich.text import Text
from textual import events

from hftui.core.cache.names import printable

# One vocabulary for every pane and the CLI (sizes in decimal units, ages like "3d ago").
from hftui.core.vocab import ago, repo_status
from hftui.core.vocab import size as size_text
from hftui.tui.compat import CellWidthTable
from hftui.tui.widgets.lists import ListTable

if TYPE_CHECKING:
    from hftui.core.cache.scan import RepoRecord

BAR_WIDTH = 8
COLUMNS = (
    ("mark", " "),
    ("type", "type"),
    ("repo", "repo"),
    ("size", "size"),
    ("bar", ""),
    ("status", "status"),
    ("files", "files"),
    ("revs", "revs"),
    ("refs", "refs"),
    ("accessed", "accessed"),
    ("modified", "modified"),
)
"""The spec's order, except status right after the size bar, so it is visible at 80 columns."""
DROP_ORDER = ("bar", "revs", "files", "refs", "type", "status", "modified", "accessed", "size")
"""When the terminal is too narrow for every column, whole columns go in this order (never cut to
`acc`). The ones a filter names (accessed>30d, modified, size) go last, so a filter never works on a
column you cannot see; the mark and the repo name always stay."""
MARK = "●"


class KeyedText(Text):
    """A cell that knows which row it belongs to (so sorting can look the record up)."""

    row_name: str = ""


def bar(size: int, largest: int) -> Text:
    if largest <= 0:
        return Text(" " * BAR_WIDTH)
    eighths = round(BAR_WIDTH * 8 * size / largest)
    full, rest = divmod(eighths, 8)
    partial = " ▏▎▍▌▋▊▉"[rest] if rest else ""
    cells = ("█" * full + partial).ljust(BAR_WIDTH)[:BAR_WIDTH]
    return Text(cells, style="$accent" if False else "")


def status_of(record: RepoRecord) -> str:
    """The status words `hftui scan` prints too (core/vocab.py); a broken entry gets a warning mark."""
    text = repo_status(record)
    return f"⚠ {text}" if record.warnings else text


class CacheTable(CellWidthTable, ListTable):
    """Rows are added in batches while the scan streams; sorting and filtering never rebuild cells."""

    DEFAULT_CSS = """
    CacheTable { height: 1fr; scrollbar-size-horizontal: 1; }
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self.records: dict[str, RepoRecord] = {}
        self.sort_values: dict[str, dict[str, Any]] = {}
        """name -> precomputed sort keys (`RepoRecord.size_on_disk` sums its blobs on every call)."""
        self.largest = 0
        self.badge: Callable[[RepoRecord], str] = lambda record: ""
        """Extra words for the status cell (the update check's `↑12.3 MB`); set by the pane."""
        self.urgency: Callable[[RepoRecord], Any] = lambda record: 0
        """The `update` sort key (read when sorting: check results arrive after the rows); set by the pane."""
        self.shown_columns: tuple[str, ...] = tuple(key for key, _ in COLUMNS)
        self.widths: dict[str, int] = {key: cell_len(label) for key, label in COLUMNS}
        """The widest cell of each column, shown or not (to know which columns fit)."""

    held_keys: list[events.Key] | None = None
    """Keys typed while a dialog's figures are computed (None: not waiting); they go to the dialog."""

    def hold_keys(self) -> None:
        """From now until `take_keys`/`drop_keys`, keys that reach the list wait for the dialog."""
        if self.held_keys is None:
            self.held_keys = []

    def take_keys(self) -> list[events.Key]:
        keys, self.held_keys = self.held_keys or [], None
        return keys

    def drop_keys(self) -> int:
        return len(self.take_keys())

    def on_key(self, event: events.Key) -> None:
        if self.held_keys is None:
            return
        self.held_keys.append(event)
        event.stop()
        event.prevent_default()

    def on_mount(self) -> None:
        for key, label in COLUMNS:
            self.add_column(label, key=key)

    # -- columns by priority ------------------------------------------------------------------

    def columns_that_fit(self, width: int) -> tuple[str, ...]:
        """The columns shown at `width` cells: all of them, minus whole columns in DROP_ORDER."""
        shown = [key for key, _ in COLUMNS]
        pad = 2 * self.cell_padding

        def total() -> int:
            return sum(self.widths[key] + pad for key in shown)

        for key in DROP_ORDER:
            if total() <= width:
                break
            shown.remove(key)
        return tuple(shown)

    def fit_columns(self) -> None:
        """Show the columns that fit the table's width now (after a resize, or wider cells)."""
        width = self.scrollable_content_region.width
        if width <= 0:
            return
        wanted = self.columns_that_fit(width)
        if wanted == self.shown_columns:
            return
        order = [str(row.key.value) for row in self.ordered_rows]
        marked = {name for name in order if str(self.get_cell(name, "mark")) == MARK}
        cursor = self.current_name
        t = now()
        self.shown_columns = wanted
        with self.app.batch_update():
            self.clear(columns=True)
            labels = dict(COLUMNS)
            for key in wanted:
                self.add_column(labels[key], key=key)
            self.add_rows_keyed(
                (name, [cells[key] for key in wanted])
                for name in order
                for cells in (self._cells(self.records[name], name in marked, t),)
            )
            if cursor is not None and cursor in self.rows:
                self.move_cursor(row=self.get_row_index(cursor), animate=False)

    def on_resize(self) -> None:
        self.call_after_refresh(self.fit_columns)

    # -- rows ---------------------------------------------------------------------------------

    def size_of(self, name: str) -> int:
        return int(self.sort_values[name]["size"]) if name in self.sort_values else 0

    def status_text(self, record: RepoRecord) -> str:
        badge = self.badge(record)
        return f"{status_of(record)} {badge}" if badge else status_of(record)

    def refresh_status(self, names: Iterable[str]) -> None:
        for name in names:
            record = self.records.get(name)
            if record is not None:
                text = self.status_text(record)
                self._measure("status", text)
                if (
                    name in self.rows
                    and "status" in self.shown_columns
                    and self.get_cell(name, "status") != text
                ):
                    self.update_cell(name, "status", text, update_width=True)

    def _measure(self, key: str, value: Any) -> None:
        width = cell_len(value.plain if isinstance(value, Text) else str(value))
        if width > self.widths[key]:
            self.widths[key] = width

    def _cells(self, record: RepoRecord, marked: bool, now: float) -> dict[str, Any]:
        size = self.size_of(record.name)
        # Folder names may hold newlines or escape sequences: one visible line per row.
        name = KeyedText(printable(record.repo_id if record.repo_type else record.name))
        name.row_name = record.name
        if record.warnings:
            name.stylize("bold")
        values = [
            MARK if marked else " ",
            record.repo_type or "?",
            name,
            Text(size_text(size), justify="right"),
            bar(size, self.largest),
            self.status_text(record),
            Text(str(record.nb_files), justify="right"),
            Text(str(len(record.revisions)), justify="right"),
            printable(", ".join(sorted(record.refs))) or "-",
            ago(record.last_accessed, now),
            ago(record.last_modified, now),
        ]
        return {key: value for (key, _), value in zip(COLUMNS, values, strict=True)}

    def _row(self, cells: dict[str, Any]) -> list[Any]:
        for key, value in cells.items():
            self._measure(key, value)
        return [cells[key] for key in self.shown_columns]

    def put(self, records: Iterable[RepoRecord], marked: Callable[[RepoRecord], bool], now: float) -> None:
        """Add or update rows (keyed by folder name)."""
        records = list(records)
        for record in records:
            self.records[record.name] = record
            self.sort_values[record.name] = {
                "size": record.size_on_disk,
                "name": record.cache_id.lower(),
                "accessed": record.last_accessed,
                "modified": record.last_modified,
            }
        largest = max((v["size"] for v in self.sort_values.values()), default=0)
        rescale = largest != self.largest
        self.largest = largest
        new_rows = []
        for record in records:
            cells = self._cells(record, marked(record), now)
            row = self._row(cells)
            if record.name in self.rows:
                for key, value in zip(self.shown_columns, row, strict=True):
                    self.update_cell(record.name, key, value, update_width=True)
            else:
                new_rows.append((record.name, row))
        self.add_rows_keyed(new_rows)
        if rescale and "bar" in self.shown_columns:
            for name in self.records:
                if name in self.rows:
                    self.update_cell(name, "bar", bar(self.size_of(name), self.largest))
        if self.is_mounted:
            self.call_after_refresh(self.fit_columns)  # wider cells may no longer fit

    def drop(self, name: str) -> None:
        self.records.pop(name, None)
        self.sort_values.pop(name, None)
        if name in self.rows:
            self.remove_row(name)

    def set_marked(self, name: str, marked: bool) -> None:
        if name in self.rows:
            self.update_cell(name, "mark", MARK if marked else " ")

    def show_only(self, visible: set[str], marked: Callable[[RepoRecord], bool], now: float) -> None:
        """Filter: remove rows that fail, add back those that pass."""
        for name in [str(k.value) for k in self.rows if k.value not in visible]:
            self.remove_row(name)
        missing = [self.records[n] for n in visible if n not in self.rows and n in self.records]
        self.add_rows_keyed(
            (record.name, self._row(self._cells(record, marked(record), now))) for record in missing
        )

    def sort_by(self, key: str, descending: bool) -> None:
        values = self.sort_values
        records, urgency = self.records, self.urgency

        def sort_key(cell: KeyedText) -> Any:
            entry = values[cell.row_name]
            if key == "update":
                return (urgency(records[cell.row_name]), entry["name"])
            return (entry[key], entry["name"])

        self.sort("repo", key=sort_key, reverse=descending)

    @property
    def current_name(self) -> str | None:
        if not self.row_count:
            return None
        try:
            row_key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key
        except Exception:
            return None
        return str(row_key.value)


def now() -> float:
    return time.time()
