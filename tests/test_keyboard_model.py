"""The keyboard model (docs/keys.md): keys act in the order typed, on what visibly has focus; pane keys
work from every pane; the footer shows only keys that act now and keeps `?` and `q` at 80 columns; list
keys everywhere; a key that cannot act says why.

Bursts are sent the way a terminal delivers them: every key posted to the app at once, with no pause for
the app to catch up between them (Pilot's `press` waits for idle after each key, which hides races).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import record_notifications, until
from hubfixtures import MODEL, hub_server  # noqa: F401
from textual import events
from textual.pilot import Pilot

from hftui.hub import Fault, HubServer
from hftui.settings import Settings
from hftui.tui.app import HfTuiApp, make_app
from hftui.tui.panes.cache import CachePane
from hftui.tui.widgets.key_bar import KeyBar

_KEY_OF = {
    "/": "slash",
    "-": "minus",
    "_": "underscore",
    ".": "full_stop",
    " ": "space",
    "?": "question_mark",
}
_CHAR_OF = {"space": " ", "enter": "\r", "slash": "/", "minus": "-", "underscore": "_", "full_stop": "."}
_CHAR_OF["question_mark"] = "?"


def key_event(key: str) -> events.Key:
    key = _KEY_OF.get(key, key)
    char = key if len(key) == 1 else _CHAR_OF.get(key)
    return events.Key(key, char)


async def burst(pilot: Pilot[Any], *keys: str) -> None:
    """Type `keys` as fast as a terminal delivers them, then wait until the app has handled them all."""
    app = pilot.app
    for key in keys:
        app.post_message(key_event(key))
    await pilot.pause()
    await until(pilot, lambda: not app.keys.busy and not app.keys.held, what="the keys handled")
    await pilot.pause()


def typed(text: str) -> list[str]:
    return [_KEY_OF.get(c, c) for c in text]


def footer(app: HfTuiApp) -> str:
    return app.query_one(KeyBar).render().plain


def footer_actions(app: HfTuiApp) -> set[str]:
    return {entry.action for entry in app.query_one(KeyBar).shown()}


# -- pane keys and focus ---------------------------------------------------------------------------


@pytest.mark.parametrize("size", [(80, 24), (100, 30)])
async def test_pane_keys_in_a_burst_switch_in_order_and_type_nothing(
    tmp_path: Path, size: tuple[int, int]
) -> None:
    app = make_app(Settings(cache_dir=str(tmp_path)))
    async with app.run_test(size=size) as pilot:
        for keys, pane in (
            (("2", "3"), "queue"),  # the old race: 3 was typed into Browse's repo box
            (("2", "1", "3", "2"), "browse"),
            (("1", "2", "3", "1", "2", "3", "1"), "cache"),
            (("f2", "f3", "2"), "browse"),
        ):
            await burst(pilot, *keys)
            assert app.active_pane == pane, keys
            assert app.browse_pane.repo_input.value == ""
            # Focus is inside the pane on screen, never left behind in a hidden one.
            focused = app.focused
            assert focused is not None
            assert app.query_one(f"#{pane}") in focused.ancestors


async def test_each_pane_is_one_key_away_again_and_again(tmp_path: Path) -> None:
    # Twenty-five switches in one app, each checked for where focus landed (the race this
    # guards against left focus in the pane just left). More rounds only cost suite time.
    app = make_app(Settings(cache_dir=str(tmp_path)))
    async with app.run_test(size=(80, 24)) as pilot:
        for _ in range(5):
            for key, pane in (
                ("2", "browse"),
                ("3", "queue"),
                ("1", "cache"),
                ("f2", "browse"),
                ("f1", "cache"),
            ):
                await pilot.press(key)
                assert app.active_pane == pane
                assert app.focused is not None and app.query_one(f"#{pane}") in app.focused.ancestors


async def test_digits_in_a_focused_text_box_are_text_and_the_footer_offers_f_keys(tmp_path: Path) -> None:
    app = make_app(Settings(cache_dir=str(tmp_path)))
    async with app.run_test(size=(80, 24)) as pilot:
        await burst(pilot, "2", "o", "1", "2", "3", "/", "q")
        pane = app.browse_pane
        assert app.active_pane == "browse" and app.focused is pane.repo_input
        assert pane.repo_input.value == "123/q"
        text = footer(app)
        # What acts now: F-keys switch panes, ctrl+c quits, escape leaves the box. Not `/ Search`, not `q`.
        assert "F1 F2 F3 Panes" in text and "^c Quit" in text and "esc Back to tree" in text, text
        assert "/ Search" not in text and "q Quit" not in text and "1 2 3" not in text, text
        # The box visibly has focus: highlighted, unlike the other boxes.
        other = app.query_one("#search-input")
        assert pane.repo_input.styles.background_tint != other.styles.background_tint
        await burst(pilot, "f3")
        assert app.active_pane == "queue"
        await burst(pilot, "2")
        assert (app.focused is pane.repo_tree and "1 2 3 Panes" in footer(app)) or "o Open repo" in footer(
            app
        )


async def test_the_footer_keeps_help_and_quit_at_80_columns_on_every_pane(tmp_path: Path) -> None:
    for read_only in (False, True):
        app = make_app(Settings(cache_dir=str(tmp_path), read_only=read_only))
        async with app.run_test(size=(80, 24)) as pilot:
            for key in ("1", "2", "3", "2", "o"):
                await burst(pilot, key)
                line = app.query_one(KeyBar)
                shown = footer(app)
                assert len(shown) <= 80 and shown.rstrip().endswith("^p palette"), shown
                assert ("? Help" in shown or key == "o") and ("q Quit" in shown or "^c Quit" in shown), shown
                # Only whole entries: nothing after the palette key, no entry cut in half.
                for entry in line.shown():
                    assert f"{entry.keys} {entry.description}" in shown


async def test_keys_that_cannot_act_leave_the_footer_and_say_why(tmp_path: Path) -> None:
    app = make_app(Settings(cache_dir=str(tmp_path), read_only=True))
    notes = record_notifications(app)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert "toggle_mark" not in footer_actions(app) and "delete" not in footer_actions(app)
        await burst(pilot, "space")
        assert notes and "Read-only" in notes[-1]
        await burst(pilot, "3")
        assert not footer_actions(app) & {"toggle_pause", "cancel_job", "retry_job"}
        await burst(pilot, "p")
        assert "queue is empty" in notes[-1]
        await burst(pilot, "2")
        assert "queue" not in footer_actions(app) and "toggle_selection" not in footer_actions(app)
        await burst(pilot, "enter")
        assert "No file list yet" in notes[-1]
        count = len(notes)
        await burst(pilot, "escape", "z")  # not our keys at all: no message
        assert len(notes) == count


async def test_nothing_marked_delete_says_so(tmp_path: Path) -> None:
    app = make_app(Settings(cache_dir=str(tmp_path)))
    notes = record_notifications(app)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert "delete" not in footer_actions(app)
        await burst(pilot, "d")
        assert "Nothing is marked" in notes[-1]


async def test_read_only_shows_a_badge_in_the_header(tmp_path: Path) -> None:
    for read_only in (False, True):
        app = make_app(Settings(cache_dir=str(tmp_path), read_only=read_only))
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            header = app.screen.query_one("Header")
            text = "".join(str(w.render()) for w in header.query("*"))
            assert ("READ-ONLY" in text) == read_only, text


# -- Browse: keys after `o`, keys while a listing loads ------------------------------------------------


async def _browse_app(tmp_path: Path, endpoint: str, queued: list[Any]) -> HfTuiApp:
    app = make_app(Settings(cache_dir=str(tmp_path / "cache"), endpoint=endpoint))

    def enqueue(request: object) -> str:
        queued.append(request)
        return "queued (test)"

    app.enqueue_download = enqueue  # type: ignore[method-assign]
    return app


async def test_keys_after_o_and_while_the_listing_loads_go_where_focus_will_be(tmp_path: Path) -> None:
    from hubfixtures import small_spec

    with HubServer(small_spec()) as hub:
        queued: list[Any] = []
        app = await _browse_app(tmp_path, hub.endpoint, queued)
        async with app.run_test(size=(100, 30)) as pilot:
            pane = app.browse_pane
            # A slow listing: the keys typed after enter certainly arrive while it loads.
            hub.add_fault(Fault("delay", path_glob="/api/models/*/tree/*", stall_seconds=1.0, times=1))
            await burst(pilot, "2", "o", *typed(MODEL), "enter", "j", "j", "space", "s", "c")
            assert pane.repo_input.value == MODEL, "keys after o go into the repo box, in order"
            await until(pilot, lambda: pane.listing is not None and pane.repo_tree.held_keys is None)
            await burst(pilot)  # the held keys, replayed
            await until(pilot, lambda: pane.repo_tree.cursor_line == 2, what="j j applied to the tree")
            tree = pane.repo_tree
            node = tree.get_node_at_line(2)
            assert node is not None and node.data is not None
            assert pane.repo_input.value == MODEL, "nothing typed after enter reached the repo box"
            assert queued == [], "enter in the repo box opened the repo; it queued nothing"
            # space selected the third line, then s and c applied their presets in that order: the
            # selection is what c alone gives (c replaces the selection).
            typed_ahead = pane.selection
            assert typed_ahead.include
            await burst(pilot, "a", "c")
            await until(pilot, lambda: pane.selection == typed_ahead, what="the same selection from c")


async def test_keys_typed_after_o_on_an_open_tree_never_run_as_tree_commands(
    tmp_path: Path, hub: HubServer
) -> None:
    queued: list[Any] = []
    app = await _browse_app(tmp_path, hub.endpoint, queued)
    async with app.run_test(size=(100, 30)) as pilot:
        pane = app.browse_pane
        await burst(pilot, "2", "o", *typed(MODEL), "enter")
        await until(pilot, lambda: pane.listing is not None and app.focused is pane.repo_tree)
        before = pane.selection
        # `o`, then text that is also a row of Browse commands (s: safetensors, c: config, a: all).
        await burst(pilot, "o", "s", "c", "a", "t", "x")
        assert app.focused is pane.repo_input and pane.repo_input.value.endswith("scatx")
        assert pane.selection == before and queued == []


# -- list keys ---------------------------------------------------------------------------------------


async def test_list_keys_in_the_cache_table_and_the_file_tree(cache: Path) -> None:
    app = make_app(Settings(cache_dir=str(cache)))
    async with app.run_test(size=(100, 30)) as pilot:
        pane = app.query_one(CachePane)
        await until(pilot, lambda: not pane.scanning and not pane.busy and pane.table.row_count >= 3)
        table = pane.table
        last = table.row_count - 1
        for keys, row in (
            (("end",), last),
            (("home",), 0),
            (("G",), last),
            (("g",), 0),
            (("j", "j"), 2),
            (("k",), 1),
        ):
            await burst(pilot, *keys)
            assert table.cursor_row == row, keys
        assert table.scroll_x == 0, "home/end move the cursor, never scroll sideways"
        await burst(pilot, "g", "enter", "tab")
        tree = pane.detail.file_tree
        assert app.focused is tree
        await burst(pilot, "G")
        assert tree.cursor_line == tree.last_line
        await burst(pilot, "g", "j")
        assert tree.cursor_line == 1


async def test_sorting_keeps_the_cursor_on_its_repo_and_in_view(tmp_path: Path) -> None:
    from cachebuilders import add_revision

    for i in range(60):
        add_revision(tmp_path, f"org/model-{i:02d}", {"w.bin": (i * 7919) % 997 + 1})
    app = make_app(Settings(cache_dir=str(tmp_path)))
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.query_one(CachePane)
        await until(pilot, lambda: not pane.scanning and not pane.busy and pane.table.row_count == 60)
        table = pane.table
        await burst(pilot, *["j"] * 40)
        name = table.current_name
        for key in ("n", "s", "a", "n"):
            await burst(pilot, key)
            assert table.current_name == name, key
            # The scroll follows the cursor on the next refresh: wait for it (a loaded machine is slow).
            await until(
                pilot,
                lambda: (
                    table.scroll_y
                    <= table.cursor_row
                    < table.scroll_y + table.scrollable_content_region.height - 1
                ),
                what=f"the cursor's row in view after {key}",
            )


# -- filters, resizes, the queue's error, the palette ------------------------------------------------


async def test_a_filter_typed_character_by_character_keeps_the_last_complete_one(cache: Path) -> None:
    app = make_app(Settings(cache_dir=str(cache)))
    async with app.run_test(size=(100, 30)) as pilot:
        pane = app.query_one(CachePane)
        await until(pilot, lambda: not pane.scanning and not pane.busy and pane.table.row_count == 3)

        def rows() -> list[str]:
            return sorted(str(k.value) for k in pane.table.rows)

        text = "type=space size>1"
        await burst(pilot, "slash")
        before = rows()
        steps: dict[str, list[str]] = {}
        for i, ch in enumerate(text):
            await burst(pilot, ch)
            prefix, now = text[: i + 1], rows()
            steps[prefix] = now
            if pane.query_one("#filter").has_class("-invalid"):
                # Half-typed (`type=s`, `size>`): says so, and the table keeps the last filter that parsed.
                assert now == before, prefix
                assert "still showing" in str(pane.query_one("#filter-error").render())
            before = now
        assert steps["type=space"] == ["spaces--acme--demo-space"]
        assert steps["type=space size>"] == steps["type=space size"]  # `size>` is half a term
        assert steps[text] == ["spaces--acme--demo-space"]
        assert pane.query_one("#filter").value == text


async def test_resizing_to_40x12_and_back_loses_nothing(cache: Path) -> None:
    app = make_app(Settings(cache_dir=str(cache)))
    async with app.run_test(size=(100, 30)) as pilot:
        pane = app.query_one(CachePane)
        await until(pilot, lambda: not pane.scanning and not pane.busy and pane.table.row_count == 3)
        await burst(pilot, "j", "space", "slash", "m", "enter")
        marks, cursor, rows = set(pane.marks), pane.table.current_name, pane.table.row_count
        for size in ((40, 12), (80, 24), (40, 12), (100, 30)):
            await pilot.resize_terminal(*size)
            await pilot.pause()
            await pilot.pause()
            assert set(pane.marks) == marks and pane.table.current_name == cursor
            assert pane.table.row_count == rows and pane.query_one("#filter").value == "m"
            shown = pane.table.shown_columns
            assert "repo" in shown and "mark" in shown
            if size == (40, 12):
                assert "accessed" not in shown and "bar" not in shown
        assert "accessed" in pane.table.shown_columns and "modified" in pane.table.shown_columns
        # Every pane survives the tiny size too, and comes back whole.
        for key in ("2", "3", "1"):
            await burst(pilot, key)
            await pilot.resize_terminal(40, 12)
            await pilot.pause()
            await pilot.resize_terminal(100, 30)
            await pilot.pause()
        assert app.active_pane == "cache" and set(pane.marks) == marks
        assert pane.query_one("#filter").value == "m" and pane.table.current_name == cursor


async def test_at_80_and_100_columns_filter_columns_are_whole_or_absent(tmp_path: Path) -> None:
    from cachebuilders import add_revision

    for i in range(5):
        add_revision(tmp_path, f"an-org/a-model-with-a-long-name-{i}", {"w.bin": 1000 + i})
    app = make_app(Settings(cache_dir=str(tmp_path)))
    async with app.run_test(size=(100, 30)) as pilot:
        pane = app.query_one(CachePane)
        await until(pilot, lambda: not pane.scanning and not pane.busy and pane.table.row_count == 5)
        for size in ((100, 30), (80, 24)):
            await pilot.resize_terminal(*size)
            await pilot.pause()
            await pilot.pause()
            table = pane.table
            assert "accessed" in table.shown_columns and "modified" in table.shown_columns, size
            # Nothing runs off the right edge: no column is cut (to `acc`) or hidden behind a scroll.
            assert table.virtual_size.width <= table.scrollable_content_region.width, size
            dropped = [key for key in ("bar", "revs", "files") if key not in table.shown_columns]
            assert dropped, "something had to go at this width, and it is the low-priority columns"


async def test_the_highlighted_jobs_error_is_shown_in_full_at_80_columns(
    tmp_path: Path, hub: HubServer
) -> None:
    from hftui.core.downloads.models import DownloadRequest
    from hftui.core.downloads.queue import JobState
    from hftui.tui.widgets.summary import SteadyStatic

    app = make_app(Settings(cache_dir=str(tmp_path / "cache"), endpoint=hub.endpoint))
    async with app.run_test(size=(80, 24)) as pilot:
        await burst(pilot, "3")
        long_name = "acme/" + "a-repo-that-does-not-exist-" * 3
        app.downloads.submit(DownloadRequest(long_name.rstrip("-"), cache_dir=str(tmp_path / "cache")))
        pane = app.queue_pane

        def failed() -> Any:
            jobs = app.downloads.jobs() if app.downloads.engine is not None else []
            return next((j for j in jobs if j.state == JobState.FAILED and j.error), None)

        await until(pilot, lambda: failed() is not None, what="the job to fail", timeout=60)
        await pilot.pause()
        error = failed().error
        detail = pane.query_one("#queue-detail", SteadyStatic)
        rendered = " ".join(app.export_screenshot() and str(detail.render()).split())
        assert " ".join(error.split()) in rendered, (error, rendered)
        # and every line of it is on screen (the box grows for it, up to 6 lines)
        lines = str(detail.render()).count("\n") + 1
        assert detail.region.height >= min(6, lines)


def test_every_browse_action_is_in_the_palette_from_the_same_declaration() -> None:
    from hftui.tui import actions

    app = make_app(Settings())
    titles = {c.title for c in app.get_system_commands(None)}  # type: ignore[arg-type]
    browse = [a for a in actions.ACTIONS if a.scope in ("browse", "browse.tree")]
    assert len(browse) >= 21
    assert {a.title for a in browse} <= titles
    b = actions.BY_ID["cache.browse"]
    assert b.action == "browse" and "Browse pane" in b.help_line and "Hub" not in b.description


async def test_keys_typed_as_a_dialog_opens_act_in_the_dialog(tmp_path: Path, hub: HubServer) -> None:
    queued: list[Any] = []
    app = await _browse_app(tmp_path, hub.endpoint, queued)
    async with app.run_test(size=(100, 30)) as pilot:
        pane = app.browse_pane
        await burst(pilot, "2", "o", *typed(MODEL), "enter")
        await until(pilot, lambda: pane.listing is not None and app.focused is pane.repo_tree)
        await burst(pilot, "a")
        await until(pilot, lambda: not pane.selection.include)
        # p opens the presets dialog; j and enter, typed before it is drawn, pick its second entry.
        await burst(pilot, "p", "j", "enter")
        await until(pilot, lambda: bool(pane.selection.include), what="the preset picked in the dialog")
        config = pane.selection
        assert app.screen is app.screen_stack[0] and pane.repo_tree.cursor_line == 0
        await burst(pilot, "a", "c")  # the same preset by its own key
        await until(pilot, lambda: pane.selection == config, what="c gives the same selection")
        assert queued == []


def test_queue_columns_drop_whole_in_their_declared_order() -> None:
    from hftui.tui.panes.queue import COLUMNS, DROP_ORDER, columns_that_fit

    rows = [
        {"repo": "model acme/" + "x" * 30, "note": "network error: connection reset", "dest": "/data/hub"}
    ]
    every = tuple(key for _, key in COLUMNS)
    assert columns_that_fit(400, rows) == every
    narrow = columns_that_fit(78, rows)
    assert {"repo", "state", "progress"} <= set(narrow)
    gone = [key for key in every if key not in narrow]
    assert gone and set(gone) <= set(DROP_ORDER) and list(narrow) == [k for k in every if k in narrow]
    assert "dest" in gone, "the first column to go is the destination"
    assert len(columns_that_fit(120, rows)) >= len(narrow)


async def test_queue_at_80_columns_has_no_cut_column_and_gets_them_back_when_wider(
    tmp_path: Path, hub: HubServer
) -> None:
    from textual.widgets import DataTable

    from hftui.core.downloads.models import DownloadRequest
    from hftui.core.downloads.queue import JobState

    app = make_app(Settings(cache_dir=str(tmp_path / "cache"), endpoint=hub.endpoint))
    async with app.run_test(size=(80, 24)) as pilot:
        await burst(pilot, "3")
        app.downloads.submit(DownloadRequest("acme/no-such-repo-anywhere", cache_dir=str(tmp_path / "cache")))
        await until(
            pilot,
            lambda: any(j.state == JobState.FAILED for j in app.downloads.jobs()),
            what="the job to fail",
            timeout=60,
        )
        table = app.queue_pane.query_one(DataTable)

        def fits() -> bool:
            return table.virtual_size.width <= table.scrollable_content_region.width

        await until(pilot, fits, what="the queue's columns to fit 80 cells")
        narrow = {str(key.value) for key in table.columns}
        assert "dest" not in narrow and {"repo", "state", "progress"} <= narrow
        await pilot.resize_terminal(240, 40)
        await until(pilot, lambda: len(table.columns) > len(narrow), what="columns back at 240 cells")
        await until(pilot, fits, what="the queue's columns to fit 240 cells")


async def test_keys_typed_while_prune_computes_go_to_its_dialog(cache: Path) -> None:
    from hftui.tui.screens.prune import PruneScreen

    app = make_app(Settings(cache_dir=str(cache)))
    async with app.run_test(size=(100, 30)) as pilot:
        pane = app.query_one(CachePane)
        await until(pilot, lambda: not pane.scanning and not pane.busy and pane.table.row_count == 3)
        name = pane.table.current_name
        await burst(pilot, "p", "j", "escape")  # j moves in the dialog's list, escape closes it
        await until(
            pilot,
            lambda: pane.table.held_keys is None and not isinstance(app.screen, PruneScreen),
            what="the prune dialog opened and closed by the keys typed before it showed",
        )
        assert pane.table.current_name == name, "no key typed for the dialog moved the list"


async def test_keys_typed_before_a_delete_confirmation_shows_are_not_an_answer(cache: Path) -> None:
    from hftui.tui.screens.delete_confirm import DeleteConfirmScreen

    app = make_app(Settings(cache_dir=str(cache)))
    async with app.run_test(size=(100, 30)) as pilot:
        pane = app.query_one(CachePane)
        await until(pilot, lambda: not pane.scanning and not pane.busy and pane.table.row_count == 3)
        await burst(pilot, "space")
        name = pane.table.current_name
        await burst(pilot, "d", "j", "y")
        await until(pilot, lambda: isinstance(app.screen, DeleteConfirmScreen), what="the confirmation")
        await pilot.pause()
        assert isinstance(app.screen, DeleteConfirmScreen), "a y typed ahead did not answer it"
        assert pane.table.current_name == name and pane.table.held_keys is None
        assert all((cache / n).exists() for n in [str(k.value) for k in pane.table.rows])
        await burst(pilot, "n")
        await until(pilot, lambda: not isinstance(app.screen, DeleteConfirmScreen), what="n closes it")
