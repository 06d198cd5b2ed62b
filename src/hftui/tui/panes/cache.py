"""The Cache pane: a plain table of the cache until the cache-browser issue lands."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from textual import work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, Static


class CachePane(Vertical):
    DEFAULT_CSS = """
    CachePane { height: 1fr; }
    CachePane #cache-header { height: 1; padding: 0 1; background: $boost; }
    CachePane DataTable { height: 1fr; }
    """

    def compose(self) -> ComposeResult:
        yield Static("Scanning…", id="cache-header")
        yield DataTable(id="cache-table", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("type", "repo", "size", "files", "revisions", "refs")
        self.rescan()

    def focus_default(self) -> None:
        self.query_one(DataTable).focus()

    @work(thread=True, exclusive=True, group="cache-scan", exit_on_error=False)
    def rescan(self) -> None:
        import humanize
        from huggingface_hub import scan_cache_dir

        cache_dir = self.app.cache_dir  # type: ignore[attr-defined]
        if not cache_dir.is_dir():
            self.app.call_from_thread(self._show, f"{cache_dir} (empty: nothing downloaded yet)", [])
            return
        info = scan_cache_dir(cache_dir)
        rows = [
            (
                repo.repo_type,
                repo.repo_id,
                humanize.naturalsize(repo.size_on_disk),
                str(repo.nb_files),
                str(len(repo.revisions)),
                ", ".join(sorted(r for rev in repo.revisions for r in rev.refs)),
            )
            for repo in sorted(info.repos, key=lambda r: -r.size_on_disk)
        ]
        header = f"{cache_dir}  ·  {humanize.naturalsize(info.size_on_disk)}  ·  {len(rows)} repos"
        self.app.call_from_thread(self._show, header, rows)

    def _show(self, header: str, rows: list[tuple[str, ...]]) -> None:
        self.query_one("#cache-header", Static).update(header)
        table = self.query_one(DataTable)
        table.clear()
        table.add_rows(rows)

    def commands(self) -> Iterable[tuple[str, str, Callable[[], object]]]:
        return (("Rescan cache", "Scan the cache directory again", self.rescan),)
