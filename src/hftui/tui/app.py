"""The Textual app: three panes (Cache, Browse, Queue), a queue summary line, help and palette.

The app owns settings, the download controller (downloads outlive any pane) and pane switching.
Everything a pane does lives in that pane's module; this file only routes cross-pane messages.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterable
from pathlib import Path

from textual import on
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widgets import Footer, Header, TabbedContent, TabPane

from hftui import __version__
from hftui.core.downloads.engine import LoadReport
from hftui.settings import Settings, SettingsProblem
from hftui.tui.downloads import DownloadsController
from hftui.tui.messages import CacheChanged, DownloadsChanged, DownloadsLoaded, DownloadsLost, OpenInBrowser
from hftui.tui.panes.browse import BrowsePane
from hftui.tui.panes.cache import CachePane
from hftui.tui.panes.queue import QueuePane
from hftui.tui.screens.confirm import ConfirmScreen
from hftui.tui.screens.help import HelpScreen
from hftui.tui.widgets.summary import QueueSummary

PANES = (("cache", "Cache", "1"), ("browse", "Browse", "2"), ("queue", "Queue", "3"))
# One footer entry ("1 2 3 Panes") instead of three keeps the pane's own keys visible at 80 columns.
PANE_KEYS = Binding.Group("Panes", compact=True)


class HfTuiApp(App[int]):
    CSS_PATH = "app.tcss"
    TITLE = "hftui"
    ENABLE_COMMAND_PALETTE = True

    BINDINGS = [
        Binding("1", "show_pane('cache')", "Cache", id="pane.cache", group=PANE_KEYS),
        Binding("2", "show_pane('browse')", "Browse", id="pane.browse", group=PANE_KEYS),
        Binding("3", "show_pane('queue')", "Queue", id="pane.queue", group=PANE_KEYS),
        # Function keys reach the panes even while an input has focus (digits would be typed).
        Binding("f1", "show_pane('cache')", "Cache", show=False, priority=True),
        Binding("f2", "show_pane('browse')", "Browse", show=False, priority=True),
        Binding("f3", "show_pane('queue')", "Queue", show=False, priority=True),
        Binding("question_mark", "help", "Help", id="app.help"),
        Binding("q", "quit", "Quit", id="app.quit"),
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True),
    ]

    def __init__(
        self,
        settings: Settings,
        *,
        startup_problems: Iterable[SettingsProblem] = (),
        demo: bool = False,
    ) -> None:
        super().__init__()
        self.settings = settings
        self.startup_problems = list(startup_problems)
        self.demo = demo
        self.downloads = DownloadsController(self)
        self.theme = "textual-light" if settings.theme == "light" else "textual-dark"
        self.sub_title = ("DEMO · " if demo else "") + str(self.cache_dir)

    # -- facts panes rely on -------------------------------------------------------------

    @property
    def cache_dir(self) -> Path:
        if self.settings.cache_dir:
            return Path(self.settings.cache_dir)
        from hftui.core.cache.paths import default_cache_dir

        return default_cache_dir()

    @property
    def read_only(self) -> bool:
        return self.settings.read_only

    @property
    def endpoint(self) -> str | None:
        return self.settings.endpoint

    # -- layout ----------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header(icon="⛁")
        with TabbedContent(initial="cache", id="panes"):
            with TabPane("1 Cache", id="cache"):
                yield CachePane(id="cache-pane")
            with TabPane("2 Browse", id="browse"):
                yield BrowsePane(id="browse-pane")
            with TabPane("3 Queue", id="queue"):
                yield QueuePane(id="queue-pane")
        yield QueueSummary(id="queue-summary")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        for problem in self.startup_problems:
            self.notify(str(problem), title="Settings", severity="warning", timeout=10)
        if self.read_only:
            self.notify("Read-only mode: nothing will be deleted.", timeout=4)
        self.downloads.start()
        self.query_one(QueueSummary).update_summary(self.downloads.summary_text())
        # Everything built so far lives as long as the app; freezing it keeps full garbage
        # collections (which walk every object) from stalling the event loop for >100 ms on
        # big repo trees (measured in benchmarks/browse.py).
        gc.collect()
        gc.freeze()

    @property
    def cache_pane(self) -> CachePane:
        return self.query_one(CachePane)

    @property
    def browse_pane(self) -> BrowsePane:
        return self.query_one(BrowsePane)

    @property
    def queue_pane(self) -> QueuePane:
        return self.query_one(QueuePane)

    # -- actions ---------------------------------------------------------------------------

    def action_show_pane(self, pane: str) -> None:
        tabs = self.query_one(TabbedContent)
        tabs.active = pane
        focus = getattr(self.query_one(f"#{pane}-pane"), "focus_default", None)
        if callable(focus):
            self.call_after_refresh(focus)

    @property
    def active_pane(self) -> str:
        return str(self.query_one(TabbedContent).active)

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    async def action_quit(self) -> None:
        running = self.downloads.running_count()
        if not running:
            await self._stop_downloads_and_exit()
            return

        async def answered(confirmed: bool | None) -> None:
            if confirmed:
                await self._stop_downloads_and_exit()

        self.push_screen(
            ConfirmScreen(
                "Quit hftui?",
                f"{running} download job(s) are running. They will be stopped cleanly "
                "(finished files are kept) and resume on the next launch.",
                confirm_label="Stop and quit",
            ),
            answered,
        )

    async def _stop_downloads_and_exit(self) -> None:
        # Off the event loop: stopping waits (≤ 2 s) for job threads to drop their connections.
        await asyncio.to_thread(self.downloads.shutdown, 2.0)
        self.exit(0)

    def on_unmount(self) -> None:
        # However the app ends (quit key, ctrl+c, an exception), job threads stop and the
        # saved-queue lock is released. A no-op when the quit action already did it.
        self.downloads.shutdown(2.0)

    def enqueue_download(self, request: object) -> str:
        """Submit a download request (from the Browse pane); returns a message for the user."""
        # The calling pane shows the outcome inline; a toast as well would say it twice.
        return self.downloads.submit(request).message

    # -- cross-pane routing ------------------------------------------------------------------

    @on(DownloadsChanged)
    def _downloads_changed(self, event: DownloadsChanged) -> None:
        try:
            summary = self.query_one(QueueSummary)
        except NoMatches:
            return  # posted while the app was tearing down its screen
        summary.update_summary(self.downloads.summary_text())
        refresh_jobs = getattr(self.queue_pane, "refresh_jobs", None)
        if callable(refresh_jobs):
            refresh_jobs()
        if event.finished:
            repos_changed = getattr(self.cache_pane, "repos_changed", None)
            if callable(repos_changed):
                repos_changed(event.finished)
            local_changed = getattr(self.browse_pane, "local_cache_changed", None)
            if callable(local_changed):
                local_changed(event.finished)

    @on(DownloadsLoaded)
    def _downloads_loaded(self, event: DownloadsLoaded) -> None:
        if isinstance(event.report, LoadReport):
            self.downloads.apply_load_report(event.report)

    @on(DownloadsLost)
    def _downloads_lost(self, event: DownloadsLost) -> None:
        self.downloads.process_lost(event.reason)

    @on(CacheChanged)
    def _cache_changed(self, event: CacheChanged) -> None:
        local_changed = getattr(self.browse_pane, "local_cache_changed", None)
        if callable(local_changed):
            local_changed(event.repos)

    @on(OpenInBrowser)
    def _open_in_browser(self, event: OpenInBrowser) -> None:
        self.action_show_pane("browse")
        open_repo = getattr(self.browse_pane, "open_repo", None)
        if callable(open_repo):
            open_repo(event.repo_input)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        for pane_id, title, key in PANES:
            yield SystemCommand(
                f"Show {title} pane",
                f"Switch to the {title} pane (key {key})",
                lambda p=pane_id: self.action_show_pane(p),
            )
        yield SystemCommand("Help: key bindings", "Every key hftui knows (key ?)", self.action_help)
        yield SystemCommand(
            "Toggle light/dark theme",
            "Switch between the light and the dark theme",
            lambda: setattr(
                self, "theme", "textual-light" if self.theme != "textual-light" else "textual-dark"
            ),
        )
        for pane in (self.cache_pane, self.browse_pane, self.queue_pane):
            for title, help_text, callback in pane.commands():
                yield SystemCommand(title, help_text, callback)
        yield SystemCommand(
            "Save screenshot", "Save an SVG screenshot to the current directory", self.action_screenshot
        )
        yield SystemCommand("Quit", "Quit hftui (key q)", self.action_quit)

    def action_screenshot(self) -> None:  # type: ignore[override]
        path = self.save_screenshot()
        self.notify(f"Screenshot saved: {path}")


def make_app(
    settings: Settings,
    *,
    startup_problems: Iterable[SettingsProblem] = (),
    demo: bool = False,
) -> HfTuiApp:
    """Build the app; the CLI and the tests share this factory."""
    return HfTuiApp(settings, startup_problems=startup_problems, demo=demo)


__all__ = ["HfTuiApp", "__version__", "make_app"]
