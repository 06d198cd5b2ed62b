"""The Cache pane's update status and its `U` key, driven with Pilot against the local Hub: the check,
the filter term, the download through the app's queue, the ref that moves, and the superseded revision
marked for a deletion that frees what the confirmation said."""

from __future__ import annotations

from pathlib import Path

from conftest import until, update_check_done
from updatefixtures import DOOMED, MOVING, download, moving_hub, regular_bytes  # noqa: F401

from hftui.core.cache.cleanup import Mark
from hftui.hub import HubServer
from hftui.settings import Settings
from hftui.tui.app import make_app
from hftui.tui.panes.cache import CachePane

FOLDER = "models--acme--moving-gguf"


async def settle(pilot, app) -> None:  # type: ignore[no-untyped-def]
    for _ in range(3):
        await pilot.pause()
        await app.workers.wait_for_complete()
    await pilot.pause()


async def test_status_filter_update_key_and_superseded_revision(moving: HubServer, tmp_path: Path) -> None:
    hub = moving
    cache = tmp_path / "hub"
    download(cache, hub, MOVING, allow_patterns=["config.json", "README.md"])
    download(cache, hub, DOOMED)
    old = hub.commit(MOVING)
    new = hub.push(MOVING, "main", files={"config.json": '{"v": 10}'})
    app = make_app(Settings(cache_dir=str(cache), endpoint=hub.endpoint))
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot, app)
        pane = app.query_one(CachePane)
        await update_check_done(pilot, pane.updates.monitor)
        await settle(pilot, app)
        assert str(pane.table.get_cell(FOLDER, "status")) == "partial ↑9 B"
        assert str(pane.table.get_cell("models--acme--doomed", "status")) == "complete"  # up to date
        assert "1 update" in str(pane.query_one("#cache-header").render())

        # The filter box takes the same term as `hftui scan -f`.
        await pilot.press("slash")
        for key in "update=available":
            await pilot.press(key)
        await settle(pilot, app)
        assert [str(k.value) for k in pane.table.rows] == [FOLDER]
        for _ in "update=available":
            await pilot.press("backspace")
        await pilot.press("escape")
        await settle(pilot, app)
        assert len(pane.table.rows) == 2

        # `t` sorts by update status: the repo with an update first whatever its name, again: last.
        def order() -> list[str]:
            return [str(pane.table.coordinate_to_cell_key((row, 0)).row_key.value) for row in range(2)]

        pane.table.focus()
        await pilot.press("n")
        await settle(pilot, app)
        assert order() == ["models--acme--doomed", FOLDER]
        await pilot.press("t")
        await settle(pilot, app)
        assert order() == [FOLDER, "models--acme--doomed"]
        assert "sort: update ↑" in str(pane.query_one("#cache-header").render())
        await pilot.press("t")
        await settle(pilot, app)
        assert order() == ["models--acme--doomed", FOLDER]
        assert "sort: update ↓" in str(pane.query_one("#cache-header").render())
        await pilot.press("s")  # back to the default (the header's words are checked below)
        await settle(pilot, app)

        pane.table.move_cursor(row=pane.table.get_row_index(FOLDER))
        await pilot.press("U")
        superseded = Mark.revision("model", MOVING, old)
        # The download runs in a job process at the lowest priority: beside another busy test
        # worker it can take far longer than alone, so the budget is generous (it is not a timing).
        for _ in range(1200):
            await pilot.pause(0.1)
            if superseded in pane.marks:
                break
        assert superseded in pane.marks
        # The repo is checked again after the update: its answer, not the one of a check that
        # ran while the new files were in and the ref not yet moved ("↑0 B"), is what counts.
        await update_check_done(pilot, pane.updates.monitor)
        await settle(pilot, app)
        assert "↑" not in str(pane.table.get_cell(FOLDER, "status"))  # checked again: up to date now
        assert " update" not in str(pane.query_one("#cache-header").render())
        assert (cache / FOLDER / "refs" / "main").read_text() == new
        assert (cache / FOLDER / "snapshots" / new / "config.json").read_text() == '{"v": 10}'
        # The revision is marked when the update lands; its figures are those of the plan made
        # after the rescan that shows the new revision sharing README.md.
        controller = pane.controller
        await until(
            pilot,
            lambda: len(controller.records[FOLDER].revisions) == 2 and controller.plan_state == "ready",
            60,
            "the plan after the rescan",
        )
        assert pane.plan is not None
        offered = pane.plan.expected_freed_size
        assert offered == len('{"v": 1}')  # the old config; README.md is shared and kept

        before = regular_bytes(cache, payloads_only=True)
        await pilot.press("d")
        await settle(pilot, app)
        assert type(app.screen).__name__ == "DeleteConfirmScreen"
        await pilot.press("y")
        await settle(pilot, app)
        assert not (cache / FOLDER / "snapshots" / old).exists()
        assert before - regular_bytes(cache, payloads_only=True) == offered
        assert (cache / FOLDER / "snapshots" / new / "README.md").read_text() == "# moving\n"


async def test_unreachable_hub_changes_nothing_on_screen(tmp_path: Path, moving: HubServer) -> None:
    hub = moving
    cache = tmp_path / "hub"
    download(cache, hub, MOVING, allow_patterns=["config.json"])
    app = make_app(Settings(cache_dir=str(cache), endpoint="http://127.0.0.1:9"))
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(pilot, app)
        pane = app.query_one(CachePane)
        await update_check_done(pilot, pane.updates.monitor)
        await settle(pilot, app)
        result = pane.updates.monitor.result(f"model/{MOVING}")
        assert result is not None and (result.state, result.reason) == ("not checked", "network")
        assert str(pane.table.get_cell(FOLDER, "status")) == "partial"
        assert " update" not in str(pane.query_one("#cache-header").render())
        await pilot.press("U")
        await settle(pilot, app)
        assert not app.downloads.jobs()
