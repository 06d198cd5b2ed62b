"""The Textual app: three panes (Cache, Browse, Queue), a queue summary line, help and palette.

The app owns settings, the download controller (downloads outlive any pane) and pane switching.
Everything a pane does lives in that pane's module; this file only routes cross-pane messages.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path

from textual import events, on
from textual.app import App, ComposeResult, SystemCommand
from textual.css.query import NoMatches
from textual.dom import DOMNode
from textual.screen import Screen
from textual.widgets import Header, TabbedContent, TabPane

from hftui import __version__
from hftui.core import vocab
from hftui.core.downloads.engine import LoadReport
from hftui.core.downloads.models import DownloadRequest
from hftui.settings import Settings, SettingsProblem
from hftui.tui import actions
from hftui.tui.downloads import DownloadsController
from hftui.tui.keyboard import KeyGate, KeySettled
from hftui.tui.messages import CacheChanged, DownloadsChanged, DownloadsLoaded, DownloadsLost, OpenInBrowser
from hftui.tui.panes.browse import BrowsePane
from hftui.tui.panes.cache import CachePane
from hftui.tui.panes.queue import QueuePane
from hftui.tui.screens.confirm import ConfirmScreen
from hftui.tui.screens.help import HelpScreen
from hftui.tui.widgets.key_bar import KeyBar
from hftui.tui.widgets.summary import QueueSummary


class HfTuiApp(App[int]):
    CSS_PATH = "app.tcss"
    TITLE = "hftui"
    ENABLE_COMMAND_PALETTE = True
    # The Cache pane is shown first: its table has focus from the first frame. (A focus set a moment
    # after start took focus back from a pane the user had already switched to with a key.)
    AUTO_FOCUS = "#cache-list"

    # Function keys (f1-f3) and ctrl+c are bound with priority: they work even while an input has focus.
    BINDINGS = actions.bindings("app")

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
        # The user's [keymap]: ids that exist rebind their keys; the rest are reported on mount.
        self.keymap, self.keymap_problems = actions.check_keymap(settings.keymap)
        self.set_keymap(self.keymap)
        self.sub_title = ("DEMO · " if demo else "") + str(self.cache_dir)
        if settings.read_only:
            # The mode is visible on every pane: nothing can be marked, deleted or pruned.
            self.title = f"{self.TITLE} · READ-ONLY"
        self.keys = KeyGate(self, super().on_event)

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
                yield CachePane(self, id="cache-pane")
            with TabPane("2 Browse", id="browse"):
                yield BrowsePane(self, id="browse-pane")
            with TabPane("3 Queue", id="queue"):
                yield QueuePane(self, id="queue-pane")
        yield QueueSummary(id="queue-summary")
        yield KeyBar(id="key-bar")

    def on_mount(self) -> None:
        for problem in self.startup_problems:
            self.notify(str(problem), title="Settings", severity="warning", timeout=10)
        for message in self.keymap_problems:
            self.notify(message, title="Settings", severity="warning", timeout=10)
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

    async def on_event(self, event: events.Event) -> None:
        # Keys from the terminal go through the gate: one at a time, in order (tui/keyboard.py).
        if isinstance(event, events.Key) and not event.is_forwarded:
            await self.keys.arrived(event)
            return
        await super().on_event(event)

    def on_key(self, event: events.Key) -> None:
        # A key that reached the app unhandled: if it is one of ours that cannot act right now, say
        # why in one line instead of doing nothing (the footer has already left it out).
        active = self.screen.active_bindings.get(event.key)
        if active is not None and active.enabled:
            return
        reason = self._why_disabled(event.key)
        if reason:
            event.prevent_default()
            self.notify(reason, title="Not available", severity="warning", timeout=4)

    def _why_disabled(self, key: str) -> str | None:
        focused = self.focused
        if focused is None:
            return None
        for node in focused.ancestors_with_self:
            scope = getattr(node, "ACTION_SCOPE", None)
            why = getattr(node, "why_disabled", None)
            if scope is None or why is None:
                continue
            for action in actions.actions_in(scope):
                keys = self.keymap.get(action.id, action.keys)
                if action.bound and key in [k.strip() for k in keys.split(",")]:
                    reason = why(action.name)
                    if reason:
                        return str(reason)
        return None

    @on(KeySettled)
    async def _key_settled(self, message: KeySettled) -> None:
        await self.keys.settled(message)

    def action_show_pane(self, pane: str) -> None:
        tabs = self.query_one(TabbedContent)
        tabs.active = pane  # shows the pane at once (a ContentSwitcher flips `display`)
        focus: dict[str, Callable[[], None]] = {
            "cache": self.cache_pane.focus_default,
            "browse": self.browse_pane.focus_default,
            "queue": self.queue_pane.focus_default,
        }
        # Now, not after a refresh: the next key typed must reach the pane just shown.
        focus[pane]()

    @property
    def active_pane(self) -> str:
        return str(self.query_one(TabbedContent).active)

    def action_help(self) -> None:
        self.push_screen(HelpScreen(read_only=self.read_only, keymap=self.keymap))

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
                f"{vocab.count(running, 'download job')} {'is' if running == 1 else 'are'} running. "
                "They will be stopped cleanly "
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

    def enqueue_download(self, request: DownloadRequest) -> str:
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
        self.queue_pane.refresh_jobs()
        if event.finished:
            self.cache_pane.repos_changed(event.finished)
            self.browse_pane.local_cache_changed(event.finished)

    @on(DownloadsLoaded)
    def _downloads_loaded(self, event: DownloadsLoaded) -> None:
        if isinstance(event.report, LoadReport):
            self.downloads.apply_load_report(event.report)

    @on(DownloadsLost)
    def _downloads_lost(self, event: DownloadsLost) -> None:
        self.downloads.process_lost(event.reason)

    @on(CacheChanged)
    def _cache_changed(self, event: CacheChanged) -> None:
        self.browse_pane.local_cache_changed(event.repos)

    @on(OpenInBrowser)
    def _open_in_browser(self, event: OpenInBrowser) -> None:
        self.action_show_pane("browse")
        self.browse_pane.open_repo(event.repo_input)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """Every action with a palette title, from `tui/actions.py` (destructive ones not in --read-only)."""
        for action in actions.ACTIONS:
            if not action.title or (action.destructive and self.read_only):
                continue
            yield SystemCommand(
                action.title,
                actions.palette_help(action, self.keymap),
                partial(self._run_from_palette, action),
            )

    def _run_from_palette(self, action: actions.Action) -> None:
        # Show the pane first (it focuses its default widget), then act (the action may move focus).
        pane = action.scope.split(".")[0]
        if pane != "app":
            self.action_show_pane(pane)
        self.call_after_refresh(self._run_in_scope, action)

    async def _run_in_scope(self, action: actions.Action) -> None:
        target: DOMNode = self
        if action.scope == "cache":
            target = self.cache_pane
        elif action.scope == "browse":
            target = self.browse_pane
        elif action.scope == "browse.tree":
            target = self.browse_pane.repo_tree
        elif action.scope == "queue":
            target = self.queue_pane
        # Through check_action, like a key: a refused action (read-only, nothing marked) does nothing.
        await self.run_action(action.action, target)

    def action_toggle_theme(self) -> None:
        self.theme = "textual-light" if self.theme != "textual-light" else "textual-dark"

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
