"""The Browse pane: open a Hub repo, see its files, pick exactly what to download, queue it.

A view over `core.controllers.browse.BrowseController`, which holds the state and decides; this pane
binds keys, renders what the controller says changed (`BrowseView`), and runs the controller's slow
work in thread workers (`Runner`): each posts its result back as a message, so state only changes
on the event loop, and a failure becomes a line for the user (never a silent stop).

Layout (top to bottom): repo input + repo type + revision, Hub search, an inline message line, the lazily
filled `RepoTree`, and the `PatternBar` (include/exclude globs, destination, force, preview line).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Input, Label, OptionList, Select, Static
from textual.widgets.option_list import Option
from textual.worker import Worker, WorkerState

from hftui.core import vocab
from hftui.core.controllers.browse import BrowseController, Inputs, Loaded, Notice
from hftui.core.hub.browse_local import LocalIndex
from hftui.core.hub.patterns import Preview, Quantization, Selection, rooted_hint
from hftui.core.hub.remote import HubRemote, Listing, Remote, RemoteError, SearchHit
from hftui.tui import actions
from hftui.tui.keyboard import focus_now, has_focus_now
from hftui.tui.screens.revision_picker import ChoicePicker, RevisionPicker
from hftui.tui.widgets.lists import ListOptions
from hftui.tui.widgets.pattern_bar import PatternBar
from hftui.tui.widgets.repo_tree import RepoTree
from hftui.tui.widgets.text_box import TextBox

if TYPE_CHECKING:
    from hftui.tui.services import AppServices

REPO_TYPES = [(repo_type, repo_type) for repo_type in vocab.REPO_TYPES]
WORK_LABELS = {
    "browse-load": "Loading the file list",
    "browse-refs": "Listing branches and tags",
    "browse-access": "Checking access",
    "browse-local": "Reading the local cache",
    "browse-preview": "Computing the preview",
    "browse-toggle": "Selecting",
    "browse-preset": "Applying the preset",
    "browse-search": "Searching the Hub",
}


class BrowsePane(Vertical):
    DEFAULT_CSS = """
    BrowsePane { height: 1fr; }
    BrowsePane > Horizontal { height: 1; margin: 0 0 0 0; }
    BrowsePane > Horizontal > Label { width: 10; color: $text-muted; padding: 0 0 0 1; }
    BrowsePane #repo-input { width: 1fr; }
    BrowsePane #repo-type { width: 14; }
    BrowsePane #revision-at { width: 3; padding: 0 1; }
    BrowsePane #revision-input { width: 28; }
    BrowsePane #search-input { width: 1fr; }
    BrowsePane #search-results { height: auto; max-height: 10; display: none; border: round $primary; }
    BrowsePane #search-results.-shown { display: block; }
    /* At most two lines (an error: four), so the file tree keeps its rows at 80x24. */
    BrowsePane #browse-message { height: auto; max-height: 2; padding: 0 1; color: $text-muted; }
    BrowsePane #browse-message.-error { max-height: 4; }
    BrowsePane #browse-message.-error { color: $error; text-style: bold; }
    BrowsePane #browse-message.-warning { color: $warning; }
    """

    BINDINGS = actions.bindings("browse")
    ACTION_SCOPE = "browse"

    @dataclass(repr=False)
    class WorkDone(Message):
        """A controller job finished in a worker thread: hand its result over on the event loop."""

        done: Callable[[Any], None]
        result: Any

    @dataclass(repr=False)
    class WorkFailed(Message):
        failed: Callable[[BaseException], None]
        error: BaseException

    def __init__(self, services: AppServices, *, remote: Remote | None = None, id: str | None = None) -> None:
        super().__init__(id=id)
        self.services = services
        given = remote
        self.controller = BrowseController(
            self,
            self._run,
            cache_dir=services.cache_dir,
            endpoint=services.endpoint,
            remote=lambda: given if given is not None else HubRemote(services.endpoint, token=None),
        )
        self.last_command: str | None = None
        self._message_text = ""

    def compose(self) -> ComposeResult:
        with Horizontal(id="browse-repo-row"):
            yield Label("Repo")
            yield TextBox(
                placeholder="(o) org/name · datasets/org/name · https://huggingface.co/org/name/tree/REV · org/name:Q4_K_M",
                id="repo-input",
                compact=True,
            )
            yield Select(REPO_TYPES, value="model", allow_blank=False, id="repo-type", compact=True)
            yield Label("@", id="revision-at")
            yield TextBox(placeholder="main (v: pick)", id="revision-input", compact=True)
        with Horizontal(id="browse-search-row"):
            yield Label("Search")
            yield TextBox(
                placeholder="(/) find repos by name on the Hub, then enter", id="search-input", compact=True
            )
        yield ListOptions(id="search-results", markup=False)
        # markup=False: messages quote what the user typed and file names (`[/x]` would be a markup error)
        yield Static(
            "Press o to type a repo id or URL, / to search the Hub.", id="browse-message", markup=False
        )
        yield RepoTree(id="repo-tree")
        yield PatternBar(id="pattern-bar")

    # -- typed lookups and the controller's state ---------------------------------------------------

    @property
    def repo_tree(self) -> RepoTree:
        return self.query_one(RepoTree)

    @property
    def bar(self) -> PatternBar:
        return self.query_one(PatternBar)

    @property
    def repo_input(self) -> Input:
        return self.query_one("#repo-input", Input)

    @property
    def revision_input(self) -> Input:
        return self.query_one("#revision-input", Input)

    @property
    def repo_type(self) -> str:
        return self.controller.repo_type

    @property
    def listing(self) -> Listing | None:
        return self.controller.listing

    @property
    def local(self) -> LocalIndex | None:
        return self.controller.local

    @property
    def selection(self) -> Selection:
        return self.controller.selection

    @property
    def last_preview(self) -> Preview | None:
        return self.controller.last_preview

    @property
    def message_text(self) -> str:
        """The line shown to the user, hint included."""
        return self._message_text

    @property
    def message_severity(self) -> str:
        return self.controller.notice.severity

    # -- the controller's runner: thread workers that report back, never silently ----------------------

    def _run(
        self,
        group: str,
        work: Callable[[], Any],
        done: Callable[[Any], None],
        failed: Callable[[BaseException], None],
        *,
        exclusive: bool = True,
    ) -> None:
        def job() -> None:
            try:
                result = work()
            except Exception as exc:
                self.post_message(self.WorkFailed(failed, exc))
                return
            self.post_message(self.WorkDone(done, result))

        # A fixed description: by default `run_worker` builds one from the repr of the work, which for a
        # 20,000-file listing alone stalled the loop for ~80 ms.
        self.run_worker(
            job, thread=True, group=group, exclusive=exclusive, exit_on_error=False, description=group
        )

    @on(WorkDone)
    def _work_done(self, event: WorkDone) -> None:
        event.stop()
        event.done(event.result)

    @on(WorkFailed)
    def _work_failed(self, event: WorkFailed) -> None:
        event.stop()
        event.failed(event.error)

    @on(Worker.StateChanged)
    def _worker_state(self, event: Worker.StateChanged) -> None:
        # `job` catches what the work raises; this is the fallback for anything else (a bug in the
        # hand-over itself): the user hears about it instead of a pane that silently stops.
        event.stop()
        if event.state == WorkerState.ERROR and event.worker.error is not None:
            what = WORK_LABELS.get(event.worker.group, event.worker.group)
            error = event.worker.error
            self.show_notice(Notice(f"{what} failed: {type(error).__name__}: {error}", "error"))

    # -- BrowseView: what the controller asks of the screen ------------------------------------------------

    def inputs(self) -> Inputs:
        bar = self.bar
        return Inputs(bar.include_text, bar.exclude_text, bar.local_dir_text, bar.force, bar.pending)

    def show_notice(self, notice: Notice) -> None:
        text = self._message_text = notice.text + self._hint_text(notice)
        line = self.query_one("#browse-message", Static)
        line.update(text)
        line.set_class(notice.severity == "error", "-error")
        line.set_class(notice.severity == "warning", "-warning")

    def show_selection(self, selection: Selection) -> None:
        self.bar.set_selection(selection)

    def show_preview(self, preview: Preview) -> None:
        self.repo_tree.set_view(matched=preview.matched_paths, matched_totals=preview.folder_totals)
        text, severity = preview_text(preview)
        self.bar.show_preview(text, severity)

    def show_bar_problem(self, text: str) -> None:
        self.bar.show_preview(text, "error")

    def show_loading(self, label: str) -> None:
        tree = self.repo_tree
        tree.show_empty(label)
        self.bar.show_preview("Loading the file list…")
        # The tree is where the next keys belong (enter in the repo box opened it): it takes focus
        # now and holds what is typed until the listing is there, then applies it in order.
        if self._focus_outside_bar():
            focus_now(tree)
        if has_focus_now(tree):
            tree.hold_keys()

    def show_load_failed(self, label: str, error: RemoteError) -> None:
        self.repo_tree.drop_keys()
        self.repo_tree.show_empty(label)
        self.bar.show_preview("No file list.", "warning")
        if error.kind == "revision":
            focus_now(self.revision_input)

    def show_listing(self, label: str, loaded: Loaded, reveal: str | None) -> None:
        self.repo_tree.show_listing(label, loaded.index, loaded.local)
        if reveal:
            self.repo_tree.reveal(reveal)
        if self._focus_outside_bar():
            focus_now(self.repo_tree)
        self.services.keys.replay(self.repo_tree.release_keys())

    def _focus_outside_bar(self) -> bool:
        """Focus is not in the glob/destination boxes (where the user may be typing while it loads)."""
        focused = self.app.focused
        return focused is None or not any(isinstance(a, PatternBar) for a in focused.ancestors_with_self)

    def show_local(self, local: LocalIndex) -> None:
        self.repo_tree.set_view(local=local)

    def show_revision(self, revision: str) -> None:
        with self.revision_input.prevent(Input.Changed):
            self.revision_input.value = revision

    def show_repo_type(self, repo_type: str) -> None:
        select = self.query_one("#repo-type", Select)
        with select.prevent(Select.Changed):
            select.value = repo_type

    def show_search(self, query: str, repo_type: str, hits: list[SearchHit]) -> None:
        results = self.query_one("#search-results", OptionList)
        results.clear_options()
        if not hits:
            self._hide_results()
            return
        for hit in hits:
            shown = vocab.display_id(hit.repo_type, hit.repo_id)
            results.add_option(Option(f"{shown}   ↓{hit.downloads:,} ♥{hit.likes:,}", id=shown))
        results.add_class("-shown")
        results.highlighted = 0
        focus_now(results)

    def _key(self, action_id: str) -> str:
        """The key that runs an action now (the user's keymap may have changed it)."""
        return actions.keys_of(actions.BY_ID[action_id], self.services.keymap)

    def _hint_text(self, notice: Notice) -> str:
        if notice.hint == "retry":
            return f" Press {self._key('browse.reload')} to retry."
        if notice.hint == "open_repo":
            return f" ({self._key('browse.repo')}: open a repo, {self._key('browse.search')}: search)"
        if notice.hint == "select_all":
            return f" Press {self._key('browse.all')} for everything."
        if notice.hint == "search_retry":
            return " Press enter to retry."
        if notice.hint == "search_results":
            return " Enter opens one, escape closes."
        return ""

    # -- app hooks -----------------------------------------------------------------------------------------

    def focus_default(self) -> None:
        # Always the tree, even before a repo is open: a pane key must never land in a text box, so
        # `2` then `3` reaches the Queue. Typing a repo starts with `o` (or `/` to search).
        focus_now(self.repo_tree)

    NEEDS_LISTING = frozenset(
        {"presets", "preset", "pick_quant", "only_this", "select_all", "copy_command", "toggle_force"}
    )

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "focus_tree":
            return not has_focus_now(self.repo_tree)  # escape: back to the tree from a box or the results
        if action in self.NEEDS_LISTING:
            return self.is_mounted and self.listing is not None
        return True

    def why_disabled(self, action: str) -> str | None:
        if action in self.NEEDS_LISTING and self.listing is None:
            return "No file list yet: press o to type a repo (or / to search the Hub)."
        return None

    def open_repo(self, text: str) -> None:
        """Open `text` (any accepted form) - called by the app when another pane asks to browse a repo."""
        with self.repo_input.prevent(Input.Changed):
            self.repo_input.value = text
        self._open(text)

    def local_cache_changed(self, repos: Iterable[tuple[str, str]]) -> None:
        self.controller.local_cache_changed(set(repos))

    # -- user input -> intents ---------------------------------------------------------------------------

    def _open(self, text: str) -> None:
        if not self.controller.open(text, self.revision_input.value):
            focus_now(self.repo_input)

    @on(Input.Submitted, "#repo-input")
    def _repo_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._open(event.value)

    @on(Input.Submitted, "#revision-input")
    def _revision_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.controller.submit_revision(event.value, self.repo_input.value)

    @on(Select.Changed, "#repo-type")
    def _type_changed(self, event: Select.Changed) -> None:
        event.stop()
        if isinstance(event.value, str):
            self.controller.pick_type(event.value, self.repo_input.value)

    @on(PatternBar.Changed)
    def _patterns_changed(self, event: PatternBar.Changed) -> None:
        event.stop()
        self.controller.inputs_changed()
        if event.immediate and isinstance(self.app.focused, Input) and self.listing is not None:
            focus_now(self.repo_tree)  # enter in a glob input: back to the tree, where enter queues

    @on(RepoTree.QueueRequested)
    async def _queue_requested(self, event: RepoTree.QueueRequested) -> None:
        event.stop()
        await self.action_queue()

    @on(RepoTree.ToggleRequested)
    def _toggle(self, event: RepoTree.ToggleRequested) -> None:
        event.stop()
        self.controller.toggle(event.path, event.is_folder)

    @on(Input.Submitted, "#search-input")
    def _search_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.controller.search(event.value)

    @on(OptionList.OptionSelected, "#search-results")
    def _search_picked(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self._hide_results()
        if event.option.id:
            self.open_repo(event.option.id)

    def _hide_results(self) -> None:
        self.query_one("#search-results", OptionList).remove_class("-shown")

    # -- actions ----------------------------------------------------------------------------------------

    def action_focus_repo(self) -> None:
        focus_now(self.repo_input)

    def action_focus_search(self) -> None:
        focus_now(self.query_one("#search-input", Input))

    def action_focus_include(self) -> None:
        focus_now(self.query_one("#include-input", Input))

    def action_focus_exclude(self) -> None:
        focus_now(self.query_one("#exclude-input", Input))

    def action_focus_local_dir(self) -> None:
        focus_now(self.query_one("#local-dir-input", Input))

    def action_focus_tree(self) -> None:
        self._hide_results()
        focus_now(self.repo_tree)

    def action_toggle_force(self) -> None:
        self.bar.toggle_force()

    def action_reload(self) -> None:
        self.controller.reload(self.repo_input.value)

    def action_select_all(self) -> None:
        self.controller.select_all()

    def action_only_this(self) -> None:
        self.controller.only_this(self.repo_tree.cursor_target())

    def action_preset(self, name: str) -> None:
        if name == "gguf":
            self.action_pick_quant()
        else:
            self.controller.preset(name, self.repo_tree.selected_folder())

    def action_presets(self) -> None:
        if not self.controller.need_listing():
            return
        folder = self.repo_tree.selected_folder()
        key = self._key
        choices = [
            (f"Safetensors weights only ({key('browse.safetensors')})", "safetensors"),
            (f"Config and tokenizer only ({key('browse.config')})", "config"),
            (f"One GGUF quantization… ({key('browse.quant')})", "gguf"),
            (f"This folder only: {folder or '(root)'}/", "folder"),
            (f"Everything: clear the globs ({key('browse.all')})", "all"),
        ]

        def chosen(value: str | None) -> None:
            if value:
                self.action_preset(value)

        self.app.push_screen(ChoicePicker("Presets", choices), chosen)

    def action_pick_quant(self) -> None:
        self.controller.quantizations(self._show_quants)

    def _show_quants(self, quants: list[Quantization]) -> None:
        choices = [
            (f"{q.name:<10} {vocab.count(q.files, 'file'):>9}  {vocab.size(q.bytes):>10}", q.name)
            for q in quants
        ]

        def chosen(value: str | None) -> None:
            if value:
                self.controller.quant(value)

        self.app.push_screen(
            ChoicePicker("GGUF quantizations in this revision (case-insensitive)", choices), chosen
        )

    def action_pick_revision(self) -> None:
        if self.controller.ref is None:
            self.controller.say("Open a repo first, then pick its revision.", "warning", "open_repo")
            return
        refs = self.controller.refs
        note = None if refs is not None else "Branches and tags are not loaded (yet); type a revision."

        def chosen(value: str | None) -> None:
            if value:
                self.controller.pick_revision(value)

        self.app.push_screen(
            RevisionPicker(refs, self.controller.revision or "main", loading_message=note), chosen
        )

    async def action_queue(self) -> None:
        request = self.controller.download_request()
        if request is None:
            return
        # Queuing asks the download process (and may first start it): off the event loop.
        outcome = await asyncio.to_thread(self.services.enqueue_download, request)
        self.controller.queued(request, outcome)

    def command_line(self) -> str | None:
        return self.controller.command_line(cache_dir=self.services.settings.cache_dir)

    def action_copy_command(self) -> None:
        if not self.controller.need_listing():
            return
        line = self.command_line()
        if line is None:
            return
        self.last_command = line
        self.app.copy_to_clipboard(line)
        p = self.last_preview
        warn = f"  (warning: {p.problem()})" if p is not None and p.problem() else ""
        self.controller.say(f"Copied: {line}{warn}", "warning" if warn else "information")


def preview_text(p: Preview) -> tuple[str, str]:
    """The preview line and its severity."""
    approx = "≈" if p.approximate else ""
    parts = [
        f"{p.count:,} of {vocab.count(p.total_files, 'file')}",
        f"{vocab.size(p.bytes)} matched",
        f"{approx}{vocab.size(p.download_bytes)} to download ({vocab.count(p.download_files, 'file')})",
    ]
    if p.copy_files:
        parts.append(
            f"{approx}{vocab.size(p.copy_bytes)} copied from the cache ({vocab.count(p.copy_files, 'file')})"
        )
    severity = "information"
    if p.free_after is not None:
        if p.free_after < 0:
            parts.append(f"NOT ENOUGH SPACE: {vocab.size(p.free_bytes or 0)} free on {p.disk_path}")
            severity = "error"
        else:
            parts.append(f"{vocab.size(p.free_after)} free after")
    text = " · ".join(parts)
    problem = p.problem()
    if problem:
        return f"{text}\n{problem}", "error"
    if p.dead_excludes:
        text += (
            f"\nExclude glob(s) matching nothing: {', '.join(p.dead_excludes)}{rooted_hint(p.dead_excludes)}"
        )
        severity = "warning" if severity == "information" else severity
    return text, severity


__all__ = ["BrowsePane", "preview_text"]
