"""The app frame: three panes reachable by one key, the queue summary on every pane, help, palette."""

from __future__ import annotations

from pathlib import Path

from conftest import record_notifications, until
from textual.widgets import TabbedContent

from hftui.settings import Settings, SettingsProblem
from hftui.tui.app import make_app
from hftui.tui.screens.help import HelpScreen
from hftui.tui.widgets.summary import QueueSummary


async def test_each_pane_is_one_key_away(tmp_path: Path) -> None:
    app = make_app(Settings(cache_dir=str(tmp_path)))
    async with app.run_test(size=(80, 24)) as pilot:
        assert app.query_one(TabbedContent).active == "cache"
        # Every pane opens with focus on its list or tree (Browse too), so digits always switch panes;
        # function keys do as well, also from a text box (docs/keys.md).
        steps = (
            ("2", "browse"),
            ("3", "queue"),
            ("2", "browse"),
            ("f3", "queue"),
            ("1", "cache"),
            ("3", "queue"),
            ("f2", "browse"),
            ("f1", "cache"),
        )
        for key, pane in steps:
            await pilot.press(key)
            await until(
                pilot, lambda p=pane: app.active_pane == p and app.focused is not None, what=f"{pane} shown"
            )
            summary = app.query_one(QueueSummary)
            assert summary.display and summary.region.height == 1, "queue summary must show on every pane"


async def test_help_lists_pane_keys_and_closes(tmp_path: Path) -> None:
    app = make_app(Settings(cache_dir=str(tmp_path)))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        from rich.console import Console

        console = Console(width=80, record=True)
        console.print(app.screen.table)
        text = console.export_text()
        assert "Everywhere" in text and "Browse" in text and "?" in text
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, HelpScreen)


async def test_palette_offers_pane_switching(tmp_path: Path) -> None:
    app = make_app(Settings(cache_dir=str(tmp_path)))
    async with app.run_test(size=(80, 24)):
        titles = [command.title for command in app.get_system_commands(app.screen)]
        assert {
            "Show Cache pane",
            "Show Browse pane",
            "Show Queue pane",
            "Help: key bindings",
            "Quit",
        } <= set(titles)


async def test_settings_problem_is_notified(tmp_path: Path) -> None:
    problem = SettingsProblem(tmp_path / "settings.toml", 3, "max_jobs must be a whole number")
    app = make_app(Settings(cache_dir=str(tmp_path)), startup_problems=[problem])
    notes_seen = record_notifications(app)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        messages = list(notes_seen)
        assert any("settings.toml:3" in m for m in messages)


async def test_light_theme_setting(tmp_path: Path) -> None:
    app = make_app(Settings(cache_dir=str(tmp_path), theme="light"))
    async with app.run_test(size=(80, 24)):
        assert app.theme == "textual-light"
        assert app.current_theme.dark is False


async def test_quit_key_exits(tmp_path: Path) -> None:
    app = make_app(Settings(cache_dir=str(tmp_path)))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 0


async def test_help_hides_destructive_keys_in_read_only(tmp_path: Path) -> None:
    from rich.console import Console

    texts = {}
    for read_only in (False, True):
        app = make_app(Settings(cache_dir=str(tmp_path), read_only=read_only))
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("question_mark")
            await pilot.pause()
            console = Console(width=100, record=True)
            console.print(app.screen.table)
            texts[read_only] = console.export_text()
    assert "Delete" in texts[False]
    assert "Delete" not in texts[True] and "Prune" not in texts[True]
