"""The Cache pane shows kept partial downloads and prunes abandoned ones (issue 11)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from hubfixtures import MODEL
from test_cache_pane import MODEL_DIR, app_for, settle

from hftui.core.downloads import kept
from hftui.tui.panes.cache import CachePane


def seed(cache: Path, nbytes: int) -> kept.KeptStore:
    store = kept.KeptStore(cache, MODEL, "model")
    store.ensure()
    etag = "a" * 64
    store.write_meta(
        kept.KeptMeta(
            MODEL,
            "model",
            "c" * 40,
            "big.bin",
            10 * nbytes,
            etag,
            sha256=etag,
            kept=nbytes,
            updated=time.time(),
        )
    )
    store.part_path(etag).write_bytes(b"k" * nbytes)
    return store


async def test_cache_pane_shows_and_prunes_abandoned_kept_bytes(cache: Path) -> None:
    store = seed(cache, 4321)
    month_ago = time.time() - 30 * 86400  # no byte for a month: abandoned
    for path in store.folder.iterdir():
        os.utime(path, (month_ago, month_ago))
    app = app_for(cache)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, app)
        pane = app.query_one(CachePane)
        assert "kept" in pane.table.get_cell(MODEL_DIR, "status")
        await pilot.press("p")
        await settle(pilot, app)
        screen = app.screen
        assert type(screen).__name__ == "PruneScreen"
        by_key = {c.key: c for c in screen.choices}
        # No byte for longer than kept_max_age_days: offered, with its real size.
        assert by_key["kept"].count == 1 and by_key["kept"].size == 4321
        options = screen.query_one("OptionList")
        options.highlighted = [c.key for c in screen.choices].index("kept")
        await pilot.press("enter")
        await settle(pilot, app)
        assert type(app.screen).__name__ == "DeleteConfirmScreen"
        assert app.screen.plan.expected_freed_size == 4321
        await pilot.press("y")
        await settle(pilot, app)
        assert list(kept.iter_kept(cache)) == [] and not store.folder.exists()
        assert "kept" not in pane.table.get_cell(MODEL_DIR, "status")


async def test_repo_detail_says_what_is_kept(cache: Path) -> None:
    seed(cache, 1_500_000)
    app = app_for(cache)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, app)
        pane = app.query_one(CachePane)
        pane.table.move_cursor(row=pane.table.get_row_index(MODEL_DIR))
        await pilot.press("enter")
        await settle(pilot, app)
        title = str(app.query_one("#detail-title").render())
        assert "kept partial downloads: 1.5 MB of 15.0 MB in 1 file, last byte just now" in title
