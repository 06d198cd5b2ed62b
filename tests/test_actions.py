"""Each action declared once (tui/actions.py) and generated into bindings, palette and help; user keymaps."""

from __future__ import annotations

from pathlib import Path

from conftest import until
from rich.console import Console
from textual.binding import Binding
from textual.widgets import TabbedContent

from hftui.settings import Settings, load_settings
from hftui.tui import actions
from hftui.tui.app import make_app
from hftui.tui.panes.browse import BrowsePane
from hftui.tui.panes.cache import CachePane
from hftui.tui.panes.queue import QueuePane
from hftui.tui.widgets.repo_tree import RepoTree


def test_ids_are_unique_and_every_binding_has_one() -> None:
    assert len(actions.BY_ID) == len(actions.ACTIONS)
    for owner in (BrowsePane, CachePane, QueuePane, RepoTree):
        for binding in owner.BINDINGS:
            assert isinstance(binding, Binding) and binding.id, (owner.__name__, binding)


def test_every_action_of_every_pane_is_in_the_palette() -> None:
    app = make_app(Settings())
    titles = {c.title for c in app.get_system_commands(None)}  # type: ignore[arg-type]
    for owner, scope in (
        (BrowsePane, "browse"),
        (CachePane, "cache"),
        (QueuePane, "queue"),
        (RepoTree, "browse.tree"),
    ):
        for binding in owner.BINDINGS:
            assert isinstance(binding, Binding)
            if binding.id and binding.id.endswith(".anywhere"):
                continue
            action = actions.BY_ID[binding.id or ""]
            assert action.scope == scope and action.title in titles, binding.id
    # And each palette entry names its key, from the same declaration.
    help_of = {c.title: c.help for c in app.get_system_commands(None)}  # type: ignore[arg-type]
    assert help_of["Queue: remove job"].endswith("(key delete, backspace)")
    assert help_of["Browse: search the Hub"].endswith("(key /, ctrl+f)")


def test_read_only_leaves_destructive_actions_out_of_palette_and_help() -> None:
    app = make_app(Settings(read_only=True))
    titles = {c.title for c in app.get_system_commands(None)}  # type: ignore[arg-type]
    destructive = {a.title for a in actions.ACTIONS if a.destructive and a.title}
    assert destructive and not (titles & destructive)
    rows = actions.help_rows(["cache"], read_only=True)
    assert not {action_id for _, _, action_id in rows} & {a.id for a in actions.ACTIONS if a.destructive}
    assert actions.destructive_names("cache") == {"toggle_mark", "delete", "prune", "clear_marks"}


def test_b_in_the_cache_says_it_opens_browse() -> None:
    b = actions.BY_ID["cache.browse"]
    assert "Browse" in b.help_line and "Hub" not in b.description


def test_keymap_check_reports_unknown_ids_and_bad_keys() -> None:
    usable, problems = actions.check_keymap(
        {
            "browse.search": "f",
            "browse.serch": "g",
            "queue.pause": "",
            "queue.cancel": 5,
            "pane.cache.anywhere": "f9",
        }
    )
    assert usable == {"browse.search": "f", "pane.cache.anywhere": "f9"}
    assert len(problems) == 3
    assert any("unknown action id 'browse.serch'" in p and "browse.search" in p for p in problems)


def test_settings_file_reads_a_keymap_table(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    path.write_text('max_jobs = 1\n\n[keymap]\n"queue.pause" = "space"\n')
    loaded = load_settings(path)
    assert loaded.settings.keymap == {"queue.pause": "space"} and not loaded.problems
    path.write_text("keymap = 3\n")
    loaded = load_settings(path)
    assert loaded.settings.keymap == {} and "keymap must be a table" in str(loaded.problems[0])


async def test_a_user_keymap_rebinds_a_key_and_help_shows_it(tmp_path: Path) -> None:
    settings = Settings(cache_dir=str(tmp_path), keymap={"pane.queue": "z", "no.such": "k"})
    app = make_app(settings)
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        await pilot.press("z")
        await pilot.pause()
        assert app.query_one(TabbedContent).active == "queue"
        await pilot.press("1")
        await pilot.press("3")  # the old key no longer switches
        await pilot.pause()
        assert app.query_one(TabbedContent).active == "cache"
        await pilot.press("question_mark")
        await pilot.pause()
        console = Console(width=110, record=True)
        console.print(app.screen.table)  # type: ignore[attr-defined]
        text = console.export_text()
        assert "pane.queue" in text and any(
            line.split()[:1] == ["z,"] or line.strip().startswith("z ") for line in text.splitlines()
        )
    assert any("no.such" in p for p in app.keymap_problems)


async def test_a_palette_entry_shows_its_pane_then_acts(tmp_path: Path) -> None:
    app = make_app(Settings(cache_dir=str(tmp_path)))
    async with app.run_test(size=(100, 30)) as pilot:
        commands = {c.title: c for c in app.get_system_commands(app.screen)}
        commands["Show Queue pane"].callback()
        await until(pilot, lambda: app.active_pane == "queue", what="the Queue pane")
        commands["Cache: filter"].callback()
        pane = app.query_one(CachePane)
        await until(
            pilot, lambda: app.active_pane == "cache" and pane.has_class("-filtering"), what="the filter"
        )
