"""The repo table of the Cache pane: one row per top-level cache entry, keyed by its folder name."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from rich.text import Text

from hftui.core.cache.names import printable

# One vocabulary for every pane and the CLI (sizes in decimal units, ages like "3d ago").
from hftui.core.downloads.kept import KEPT_DIR_NAME
from hftui.core.vocab import ago
from hftui.core.vocab import size as size_text
from hftui.tui.compat import CellWidthTable

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
    if record.warnings:
        return "⚠ " + ("unreadable" if record.warnings[0].kind == "error" else "corrupt")
    parts = []
    complete = record.complete
    parts.append({True: "complete", False: "partial", None: "?"}[complete])
    if any(rev.detached for rev in record.revisions):
        parts.append("detached")
    if record.incomplete_files:
        parts.append("tmp")
    if os.path.isdir(os.path.join(record.repo_path, KEPT_DIR_NAME)):
        parts.append("kept")  # partial downloads kept for a resume (docs/kept-bytes.md)
    return "+".join(parts)


class CacheTable(CellWidthTable):
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

    def on_mount(self) -> None:
        for key, label in COLUMNS:
            self.add_column(label, key=key)

    # -- rows ---------------------------------------------------------------------------------

    def size_of(self, name: str) -> int:
        return int(self.sort_values[name]["size"]) if name in self.sort_values else 0

    def status_text(self, record: RepoRecord) -> str:
        badge = self.badge(record)
        return f"{status_of(record)} {badge}" if badge else status_of(record)

    def refresh_status(self, names: Iterable[str]) -> None:
        for name in names:
            record = self.records.get(name)
            if record is not None and name in self.rows:
                self.update_cell(name, "status", self.status_text(record), update_width=True)

    def _cells(self, record: RepoRecord, marked: bool, now: float) -> list[Any]:
        size = self.size_of(record.name)
        # Folder names may hold newlines or escape sequences: one visible line per row.
        name = KeyedText(printable(record.repo_id if record.repo_type else record.name))
        name.row_name = record.name
        if record.warnings:
            name.stylize("bold")
        return [
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
            if record.name in self.rows:
                for (key, _), value in zip(COLUMNS, cells, strict=True):
                    self.update_cell(record.name, key, value, update_width=True)
            else:
                new_rows.append((record.name, cells))
        self.add_rows_keyed(new_rows)
        if rescale:
            for name in self.records:
                if name in self.rows:
                    self.update_cell(name, "bar", bar(self.size_of(name), self.largest))

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
        self.add_rows_keyed((record.name, self._cells(record, marked(record), now)) for record in missing)

    def sort_by(self, key: str, descending: bool) -> None:
        values = self.sort_values

        def sort_key(cell: KeyedText) -> Any:
            entry = values[cell.row_name]
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
