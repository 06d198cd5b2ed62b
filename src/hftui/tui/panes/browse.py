"""The Browse pane: open a Hub repo, see its files, pick exactly what to download, queue it.

Layout (top to bottom): repo input + repo type + revision, Hub search, an inline message line, the lazily
filled `RepoTree`, and the `PatternBar` (include/exclude globs, destination, force, preview line).

Every Hub or disk call runs in a thread worker (with a fixed `description`: by default `@work` builds one
from the `repr` of every argument, which for a 20,000-file listing alone stalls the loop for ~80 ms) (`exclusive=True` per group: the latest request wins) that
posts one of the messages nested below; handlers on the event loop own all state. Each load carries a
generation number so a late answer for a repo the user already left is dropped.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Input, Label, OptionList, Select, Static
from textual.widgets.option_list import Option

from hftui.core import vocab
from hftui.core.downloads.models import DownloadRequest
from hftui.core.hub.browse_index import FolderIndex, build_index
from hftui.core.hub.browse_local import LocalIndex, local_index
from hftui.core.hub.hfcmd import hf_download_command
from hftui.core.hub.patterns import (
    PatternError,
    PresetResult,
    Preview,
    Quantization,
    Selection,
    ToggleResult,
    gguf_quantizations,
    only,
    preset_config_tokenizer,
    preset_folder,
    preset_quant,
    preset_safetensors,
    preview,
    rooted_hint,
    split_globs,
    toggle,
)
from hftui.core.hub.remote import (
    HubRemote,
    Listing,
    Remote,
    RemoteError,
    RemoteFile,
    RepoRefs,
    SearchHit,
    load_listing,
    resolve_ref_input,
)
from hftui.core.hub.repo_ref import RepoRef, RepoRefError, parse_repo_input
from hftui.tui.screens.revision_picker import ChoicePicker, RevisionPicker
from hftui.tui.widgets.pattern_bar import PatternBar
from hftui.tui.widgets.repo_tree import RepoTree

REPO_TYPES = [(repo_type, repo_type) for repo_type in vocab.REPO_TYPES]
SHORT_COMMIT_RE = re.compile(r"[0-9a-f]{7,39}")
SYNC_TOGGLE_FILES = 3000
"""Up to this many files a toggle is computed on the event loop (well under 10 ms); above, in a worker."""


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
    BrowsePane #browse-message { height: auto; padding: 0 1; color: $text-muted; }
    BrowsePane #browse-message.-error { color: $error; text-style: bold; }
    BrowsePane #browse-message.-warning { color: $warning; }
    """

    BINDINGS = [
        # At 80 columns the footer fits about six entries: the repo and revision boxes are on screen (their
        # placeholders name o and v), so their keys are left to help and the palette.
        Binding("o", "focus_repo", "Open repo", show=False, tooltip="Type a repo id, URL or org/name:QUANT"),
        Binding("slash", "focus_search", "Search", tooltip="Find repos by name on the Hub"),
        Binding("ctrl+f", "focus_search", "Search (from any input)", show=False, priority=True),
        Binding("v", "pick_revision", "Revision", show=False, tooltip="Pick a branch, tag, PR or commit"),
        Binding("p", "presets", "Presets"),
        Binding("s", "preset('safetensors')", "Safetensors only", show=False),
        Binding("c", "preset('config')", "Config+tokenizer", show=False),
        Binding("g", "pick_quant", "GGUF quant", show=False),
        Binding("t", "only_this", "Only this", show=False),
        Binding("a", "select_all", "Everything", show=False),
        Binding("i", "focus_include", "Include globs", show=False),
        Binding("x", "focus_exclude", "Exclude globs", show=False),
        Binding("d", "focus_local_dir", "Local dir", show=False),
        Binding("F", "toggle_force", "Force download", show=False),
        Binding("y", "copy_command", "Copy cmd", tooltip="Copy the equivalent hf download command"),
        Binding("r", "reload", "Reload/retry", show=False),
        Binding("escape", "focus_tree", "Back to tree", show=False),
    ]

    # -- worker -> pane messages -------------------------------------------------------------------

    @dataclass(repr=False)
    class ListingLoaded(Message):
        generation: int
        listing: Listing
        index: FolderIndex
        local: LocalIndex

    @dataclass(repr=False)
    class LoadFailed(Message):
        generation: int
        error: RemoteError

    @dataclass(repr=False)
    class RefsLoaded(Message):
        generation: int
        refs: RepoRefs | None
        error: RemoteError | None

    @dataclass(repr=False)
    class SearchDone(Message):
        query: str
        repo_type: str
        hits: list[SearchHit]
        error: RemoteError | None

    @dataclass(repr=False)
    class PreviewReady(Message):
        generation: int
        preview: Preview

    @dataclass(repr=False)
    class AccessChecked(Message):
        generation: int
        error: RemoteError | None

    @dataclass(repr=False)
    class Toggled(Message):
        generation: int
        result: ToggleResult

    @dataclass(repr=False)
    class Computed(Message):
        generation: int
        result: Any
        done: Callable[[Any], None]

    @dataclass(repr=False)
    class LocalRefreshed(Message):
        generation: int
        local: LocalIndex

    # -- state -----------------------------------------------------------------------------------------

    def __init__(self, *, remote: Remote | None = None, id: str | None = None) -> None:
        super().__init__(id=id)
        self._remote = remote
        self.ref: RepoRef | None = None
        self.revision: str | None = None
        self.listing: Listing | None = None
        self.index: FolderIndex | None = None
        self.local: LocalIndex | None = None
        self.refs: RepoRefs | None = None
        self.selection = Selection()
        self.last_preview: Preview | None = None
        self.access_error: RemoteError | None = None
        self.message_text = ""
        self.message_severity = "information"
        self.last_command: str | None = None
        self.search_hits: list[SearchHit] = []
        self._generation = 0
        self._preview_generation = 0
        self._pending_ref: RepoRef | None = None
        self._toggle_queue: list[tuple[str, bool]] = []
        self._toggle_busy = False
        self._type_picked = False
        """The repo type box was last set by the user (not from a typed prefix or URL)."""

    def compose(self) -> ComposeResult:
        with Horizontal(id="browse-repo-row"):
            yield Label("Repo")
            yield Input(
                placeholder="(o) org/name · datasets/org/name · https://huggingface.co/org/name/tree/REV · org/name:Q4_K_M",
                id="repo-input",
                compact=True,
            )
            yield Select(REPO_TYPES, value="model", allow_blank=False, id="repo-type", compact=True)
            yield Label("@", id="revision-at")
            yield Input(placeholder="main (v: pick)", id="revision-input", compact=True)
        with Horizontal(id="browse-search-row"):
            yield Label("Search")
            yield Input(
                placeholder="(/) find repos by name on the Hub, then enter", id="search-input", compact=True
            )
        yield OptionList(id="search-results", markup=False)
        # markup=False: messages quote what the user typed and file names (`[/x]` would be a markup error)
        yield Static("Type a repo and press enter, or search the Hub (/).", id="browse-message", markup=False)
        yield RepoTree(id="repo-tree")
        yield PatternBar(id="pattern-bar")

    # -- typed lookups -----------------------------------------------------------------------------------

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
        value = self.query_one("#repo-type", Select).value
        return value if isinstance(value, str) else "model"

    @property
    def endpoint(self) -> str | None:
        return getattr(self.app, "endpoint", None)

    @property
    def cache_dir(self) -> Path | None:
        return getattr(self.app, "cache_dir", None)

    def _get_remote(self) -> Remote:
        """Called from worker threads: building HubRemote imports huggingface_hub, kept off the event loop."""
        if self._remote is None:
            self._remote = HubRemote(self.endpoint, token=None)
        return self._remote

    # -- app hooks -----------------------------------------------------------------------------------------

    def focus_default(self) -> None:
        if self.listing is not None:
            self.repo_tree.focus()
        else:
            self.repo_input.focus()

    def open_repo(self, text: str) -> None:
        """Open `text` (any accepted form) - called by the app when another pane asks to browse a repo."""
        with self.repo_input.prevent(Input.Changed):
            self.repo_input.value = text
        self._open(text)

    def local_cache_changed(self, repos: Iterable[tuple[str, str]]) -> None:
        if self.listing is None:
            return
        info = self.listing.info
        if (info.repo_type, info.repo_id) in set(repos):
            self._refresh_local(self._generation, self.listing)

    @classmethod
    def help_bindings(cls) -> list[BindingType]:
        return [*RepoTree.BINDINGS, *cls.BINDINGS]

    def commands(self) -> Iterable[tuple[str, str, Callable[[], object]]]:
        return (
            (
                "Browse: open a repo",
                "Type a repo id, URL or org/name:QUANT (key o)",
                self._command(self.action_focus_repo),
            ),
            ("Browse: search the Hub", "Find repos by name (key /)", self._command(self.action_focus_search)),
            (
                "Browse: pick revision",
                "Branches, tags, PRs or a commit (key v)",
                self._command(self.action_pick_revision),
            ),
            (
                "Browse: safetensors weights only",
                "Preset (key s)",
                self._command(lambda: self.action_preset("safetensors")),
            ),
            (
                "Browse: config and tokenizer only",
                "Preset (key c)",
                self._command(lambda: self.action_preset("config")),
            ),
            ("Browse: one GGUF quantization", "Preset (key g)", self._command(self.action_pick_quant)),
            (
                "Browse: this folder only",
                "Preset for the folder under the cursor",
                self._command(lambda: self.action_preset("folder")),
            ),
            (
                "Browse: select everything",
                "Clear include/exclude globs (key a)",
                self._command(self.action_select_all),
            ),
            (
                "Browse: queue the selection",
                "Add it to the download queue (enter)",
                self._command(self.action_queue),
            ),
            (
                "Browse: copy hf download command",
                "The equivalent command line (key y)",
                self._command(self.action_copy_command),
            ),
            ("Browse: reload / retry", "Ask the Hub again (key r)", self._command(self.action_reload)),
        )

    def _command(self, action: Callable[[], object]) -> Callable[[], object]:
        def run() -> None:
            # Show the pane first (it focuses its default widget), then act (the action may move focus).
            self._show_self()
            self.app.call_after_refresh(action)

        return run

    def _show_self(self) -> None:
        show = getattr(self.app, "action_show_pane", None)
        if callable(show):
            show("browse")

    # -- messages to the user --------------------------------------------------------------------------

    def say(self, text: str, severity: str = "information") -> None:
        self.message_text = text
        self.message_severity = severity
        line = self.query_one("#browse-message", Static)
        line.update(text)
        line.set_class(severity == "error", "-error")
        line.set_class(severity == "warning", "-warning")

    # -- opening a repo --------------------------------------------------------------------------------

    @on(Input.Submitted, "#repo-input")
    def _repo_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._open(event.value)

    @on(Input.Submitted, "#revision-input")
    def _revision_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if self.ref is None:
            self._open(self.repo_input.value)
            return
        text = event.value.strip()
        resolved = resolve_ref_input(text, self.refs) if text and self.refs is not None else None
        self._load(
            self.ref, resolved[0] if resolved else text or None, keep_selection=True
        )  # `#3` = refs/pr/3

    @on(Select.Changed, "#repo-type")
    def _type_changed(self, event: Select.Changed) -> None:
        event.stop()
        self._type_picked = True
        if self.repo_input.value.strip() and self.ref is not None and self.ref.repo_type != self.repo_type:
            self._open(self.repo_input.value)

    def _open(self, text: str) -> None:
        # A bare org/name is a model unless the type was picked by hand: after `datasets/x/y` the box shows
        # "dataset", but the next bare id typed is still a model, as on the Hub.
        default_type = self.repo_type if self._type_picked else "model"
        try:
            ref = parse_repo_input(text, endpoint=self.endpoint, repo_type=default_type)
        except RepoRefError as err:
            self.say(err.message, "error")
            self.repo_input.focus()
            return
        same_repo = self.ref is not None and (self.ref.repo_id, self.ref.repo_type) == (
            ref.repo_id,
            ref.repo_type,
        )
        if ref.revision is not None:
            revision: str | None = ref.revision
        elif same_repo:
            revision = self.revision_input.value.strip() or None
        else:
            revision = None
        if ref.repo_type != self.repo_type:
            select = self.query_one("#repo-type", Select)
            with select.prevent(Select.Changed):
                select.value = ref.repo_type
            self._type_picked = False
        keep = same_repo and not ref.path and not ref.quant
        self._load(ref, revision, keep_selection=keep)

    def _load(self, ref: RepoRef, revision: str | None, *, keep_selection: bool) -> None:
        self.ref = ref
        self.revision = revision
        with self.revision_input.prevent(Input.Changed):
            self.revision_input.value = revision or ""
        self._generation += 1
        self.listing = None
        self.index = None
        self.access_error = None
        self.last_preview = None
        self._pending_ref = ref
        if not keep_selection:
            self.selection = Selection()
            self.bar.set_selection(self.selection)
        self.repo_tree.show_empty(f"{ref.prefixed_id}@{revision or 'main'}: loading…")
        self.bar.show_preview("Loading the file list…")
        self.say(f"Loading {ref.prefixed_id}@{revision or 'main'} from {self.endpoint or 'the Hub'}…")
        self._load_worker(self._generation, ref.repo_id, ref.repo_type, revision, self.cache_dir)
        self.refs = None
        self._refs_worker(self._generation, ref.repo_id, ref.repo_type)

    @work(thread=True, exclusive=True, group="browse-load", exit_on_error=False, description="browse-load")
    def _load_worker(
        self, generation: int, repo_id: str, repo_type: str, revision: str | None, cache_dir: Path | None
    ) -> None:
        try:
            remote = self._get_remote()
            listing = load_listing(remote, repo_id, repo_type, revision, cache_dir)
            index = build_index(listing.files)
            local = local_index(cache_dir, repo_id, repo_type, listing.info.commit, listing.files)
        except RemoteError as err:
            self.post_message(self.LoadFailed(generation, err))
            return
        except Exception as exc:  # never a traceback on screen
            self.post_message(
                self.LoadFailed(generation, RemoteError("other", f"{type(exc).__name__}: {exc}"))
            )
            return
        self.post_message(self.ListingLoaded(generation, listing, index, local))

    @work(thread=True, exclusive=True, group="browse-refs", exit_on_error=False, description="browse-refs")
    def _refs_worker(self, generation: int, repo_id: str, repo_type: str) -> None:
        try:
            refs = self._get_remote().list_refs(repo_id, repo_type)
        except RemoteError as err:
            self.post_message(self.RefsLoaded(generation, None, err))
            return
        except Exception as exc:
            self.post_message(self.RefsLoaded(generation, None, RemoteError("other", str(exc))))
            return
        self.post_message(self.RefsLoaded(generation, refs, None))

    @on(RefsLoaded)
    def _refs_loaded(self, event: RefsLoaded) -> None:
        event.stop()
        if event.generation == self._generation:
            self.refs = event.refs

    @on(LoadFailed)
    def _load_failed(self, event: LoadFailed) -> None:
        event.stop()
        if event.generation != self._generation:
            return
        err = event.error
        ref = self.ref
        name = f"{ref.prefixed_id}@{self.revision or 'main'}" if ref else "repo"
        text = err.message + (" Press r to retry." if err.retryable else "")
        self.say(text, "error")
        self.repo_tree.show_empty(f"{name}: not loaded")
        self.bar.show_preview("No file list.", "warning")
        if err.kind == "revision":
            self.revision_input.focus()

    @on(ListingLoaded)
    def _listing_loaded(self, event: ListingLoaded) -> None:
        event.stop()
        if event.generation != self._generation:
            return
        listing = event.listing
        self.listing, self.index, self.local = listing, event.index, event.local
        info = listing.info
        if (
            self.revision
            and SHORT_COMMIT_RE.fullmatch(self.revision)
            and info.commit.startswith(self.revision)
        ):
            # A short hash: queue (and copy) the full one, so huggingface_hub writes no refs/<short hash>.
            self.revision = info.commit
            with self.revision_input.prevent(Input.Changed):
                self.revision_input.value = info.commit
        ref = self.ref
        assert ref is not None
        total = event.index.totals.get("", (0, 0))
        label = f"{ref.prefixed_id}@{info.revision} ({info.commit[:10]})"
        if listing.offline:
            label += " - offline: cached listing"
        self.repo_tree.show_listing(label, event.index, event.local)
        counts = event.local.counts()
        summary = (
            f"{ref.prefixed_id}@{info.revision} · commit {info.commit[:10]} · {total[0]:,} files, {vocab.size(total[1])}"
            f" · {counts['cached']:,} cached, {counts['other']:,} in another revision"
        )
        severity = "information"
        if listing.offline:
            summary = f"{listing.notice} {summary}"
            severity = "warning"
        # What the input itself asked for: a folder, a file, a quantization.
        pending, self._pending_ref = self._pending_ref, None
        extra = ""
        if pending is not None and pending.quant:
            result = preset_quant(listing.files, pending.quant)
            extra = " · " + result.message
            # Not found: the globs asked for stay (they match nothing, so enter refuses) - never "everything",
            # which would queue the whole repo for someone who asked for one quantization or one file.
            self.selection = result.selection or Selection(pending.allow_patterns())
            if result.selection is None:
                severity = "warning"
        elif pending is not None and pending.path:
            if pending.path_is_file:
                self.selection = only(listing.files, pending.path, is_folder=False)
                if pending.path not in event.index.by_path:
                    extra, severity = f" · No file {pending.path!r} in this revision.", "warning"
            else:
                self.selection = only(listing.files, pending.path, is_folder=True)
                if event.index.is_folder(pending.path):
                    self.repo_tree.reveal(pending.path)
                else:
                    extra, severity = f" · No folder {pending.path!r} in this revision.", "warning"
        self.say(summary + extra, severity)
        self.bar.set_selection(self.selection)
        self._request_preview(self.selection)
        if info.gated and listing.files and not listing.offline:
            smallest = min(listing.files, key=lambda f: f.size)
            self._access_worker(self._generation, info.repo_id, info.repo_type, info.commit, smallest.path)
        focused = self.app.focused
        if focused is None or not any(isinstance(a, PatternBar) for a in focused.ancestors_with_self):
            self.repo_tree.focus()

    @work(
        thread=True, exclusive=True, group="browse-access", exit_on_error=False, description="browse-access"
    )
    def _access_worker(self, generation: int, repo_id: str, repo_type: str, commit: str, path: str) -> None:
        remote = self._get_remote()
        try:
            remote.check_access(repo_id, repo_type, commit, path)
        except RemoteError as err:
            self.post_message(self.AccessChecked(generation, err))
            return
        except Exception:
            return
        self.post_message(self.AccessChecked(generation, None))

    @on(AccessChecked)
    def _access_checked(self, event: AccessChecked) -> None:
        event.stop()
        if event.generation != self._generation:
            return
        self.access_error = event.error
        if event.error is not None and event.error.kind in ("gated", "auth"):
            self.say(f"{event.error.message} The file list is shown; downloads would be refused.", "error")
        elif event.error is None:
            self.say(self.message_text + " · gated repo: you have access.", self.message_severity)

    @work(thread=True, exclusive=True, group="browse-local", exit_on_error=False, description="browse-local")
    def _refresh_local(self, generation: int, listing: Listing) -> None:
        info = listing.info
        local = local_index(self.cache_dir, info.repo_id, info.repo_type, info.commit, listing.files)
        self.post_message(self.LocalRefreshed(generation, local))

    @on(LocalRefreshed)
    def _local_refreshed(self, event: LocalRefreshed) -> None:
        event.stop()
        if event.generation != self._generation:
            return
        self.local = event.local
        self.repo_tree.set_view(local=event.local)
        self._request_preview(self.selection)

    # -- selection and preview -------------------------------------------------------------------------

    def _destination(self) -> tuple[Path | None, str | None]:
        """(local_dir or None, problem)."""
        text = self.bar.local_dir_text
        if not text:
            return None, None
        path = Path(text).expanduser()
        if not path.is_absolute():
            path = Path.cwd() / path
        if path.exists() and not path.is_dir():
            return None, f"Local dir {text!r} is a file, not a folder."
        return path, None

    def _selection_from_bar(self) -> Selection | None:
        try:
            return Selection(split_globs(self.bar.include_text), split_globs(self.bar.exclude_text))
        except PatternError as err:
            self.bar.show_preview(str(err), "error")
            return None

    @on(PatternBar.Changed)
    def _patterns_changed(self, event: PatternBar.Changed) -> None:
        event.stop()
        selection = self._selection_from_bar()
        if selection is not None:
            self.selection = selection
            self._request_preview(selection)
        if event.immediate and isinstance(self.app.focused, Input) and self.listing is not None:
            self.repo_tree.focus()  # enter in a glob input: back to the tree, where enter queues

    def _request_preview(self, selection: Selection) -> None:
        if self.listing is None:
            return
        local_dir, problem = self._destination()
        if problem:
            self.bar.show_preview(problem, "error")
            return
        self._preview_generation += 1
        self._preview_worker(
            self._preview_generation,
            self.listing,
            selection,
            self.local,
            self.cache_dir,
            local_dir,
            self.bar.force,
        )

    @work(
        thread=True, exclusive=True, group="browse-preview", exit_on_error=False, description="browse-preview"
    )
    def _preview_worker(
        self,
        generation: int,
        listing: Listing,
        selection: Selection,
        local: LocalIndex | None,
        cache_dir: Path | None,
        local_dir: Path | None,
        force: bool,
    ) -> None:
        result = preview(
            listing.files, selection, local=local, cache_dir=cache_dir, local_dir=local_dir, force=force
        )
        self.post_message(self.PreviewReady(generation, result))

    @on(PreviewReady)
    def _preview_ready(self, event: PreviewReady) -> None:
        event.stop()
        if event.generation != self._preview_generation or self.listing is None:
            return
        self._show_preview(event.preview)

    def _show_preview(self, p: Preview) -> None:
        self.last_preview = p
        self.repo_tree.set_view(matched=p.matched_paths, matched_totals=p.folder_totals)
        text, severity = preview_text(p)
        self.bar.show_preview(text, severity)

    def _current_preview(self) -> Preview | None:
        """The preview of exactly what the inputs say now (computed here if a worker has not caught up)."""
        if self.listing is None:
            return None
        selection = self._selection_from_bar()
        if selection is None:
            return None
        self.selection = selection
        local_dir, problem = self._destination()
        if problem:
            self.say(problem, "error")
            return None
        p = self.last_preview
        if (
            p is None
            or self.bar.pending
            or p.selection != selection
            or (local_dir is not None) != p.approximate
        ):
            p = preview(
                self.listing.files, selection, local=self.local, cache_dir=self.cache_dir, local_dir=local_dir,
                force=self.bar.force,
            )  # fmt: skip
            self._preview_generation += 1
            self._show_preview(p)
        return p

    @on(RepoTree.QueueRequested)
    async def _queue_requested(self, event: RepoTree.QueueRequested) -> None:
        event.stop()
        await self.action_queue()

    @on(RepoTree.ToggleRequested)
    def _toggle(self, event: RepoTree.ToggleRequested) -> None:
        event.stop()
        if self.listing is None:
            return
        self._toggle_queue.append((event.path, event.is_folder))
        if not self._toggle_busy:
            self._next_toggle()

    def _next_toggle(self) -> None:
        """Toggles apply in order, each to the result of the previous one (big repos: in a worker)."""
        if not self._toggle_queue or self.listing is None:
            self._toggle_busy = False
            self._toggle_queue.clear()
            return
        selection = self._selection_from_bar()
        if selection is None:
            self._toggle_queue.clear()
            return
        path, is_folder = self._toggle_queue.pop(0)
        files = self.listing.files
        if len(files) <= SYNC_TOGGLE_FILES:
            self._toggle_busy = False
            result = toggle(files, selection, path, is_folder=is_folder)
            self._apply(result.selection, result.message)
            if self._toggle_queue:
                self._next_toggle()
            return
        self._toggle_busy = True
        self._toggle_worker(self._generation, files, selection, path, is_folder)

    @work(
        thread=True, exclusive=False, group="browse-toggle", exit_on_error=False, description="browse-toggle"
    )
    def _toggle_worker(
        self, generation: int, files: tuple[RemoteFile, ...], selection: Selection, path: str, is_folder: bool
    ) -> None:
        try:
            result = toggle(files, selection, path, is_folder=is_folder)
        except Exception as exc:  # pragma: no cover - defensive
            result = ToggleResult(selection, False, f"Toggle failed: {exc}")
        self.post_message(self.Toggled(generation, result))

    @on(Toggled)
    def _toggled(self, event: Toggled) -> None:
        event.stop()
        if event.generation != self._generation:
            self._toggle_busy = False
            self._toggle_queue.clear()
            return
        self._apply(event.result.selection, event.result.message)
        self._toggle_busy = False
        if self._toggle_queue:
            self._next_toggle()

    def _apply(self, selection: Selection, message: str | None = None, severity: str = "warning") -> None:
        self.selection = selection
        self.bar.set_selection(selection)
        if message:
            self.say(message, severity)
        self._request_preview(selection)

    def _apply_preset(self, result: PresetResult) -> None:
        if result.selection is None:
            self.say(result.message, "warning")
            return
        self._apply(result.selection, result.message, "information")

    def _off_loop(self, fn: Callable[[], Any], done: Callable[[Any], None]) -> None:
        """Run `fn` (core work over the listing) and hand its result to `done` on the event loop: directly for
        small repos, in a worker for big ones (a preset over 20,000 files takes longer than a frame)."""
        if self.listing is None or len(self.listing.files) <= SYNC_TOGGLE_FILES:
            done(fn())
            return
        self._compute_worker(self._generation, fn, done)

    @work(
        thread=True,
        exclusive=False,
        group="browse-compute",
        exit_on_error=False,
        description="browse-compute",
    )
    def _compute_worker(self, generation: int, fn: Callable[[], Any], done: Callable[[Any], None]) -> None:
        try:
            result = fn()
        except Exception as exc:  # pragma: no cover - defensive
            result = exc
        self.post_message(self.Computed(generation, result, done))

    @on(Computed)
    def _computed(self, event: Computed) -> None:
        event.stop()
        if event.generation != self._generation:
            return
        if isinstance(event.result, Exception):
            self.say(f"Failed: {type(event.result).__name__}: {event.result}", "error")
            return
        event.done(event.result)

    # -- actions ----------------------------------------------------------------------------------------

    def _need_listing(self) -> bool:
        if self.listing is None:
            self.say("Open a repo first (o), or search the Hub (/).", "warning")
            return False
        return True

    def action_focus_repo(self) -> None:
        self.repo_input.focus()

    def action_focus_search(self) -> None:
        self.query_one("#search-input", Input).focus()

    def action_focus_include(self) -> None:
        self.query_one("#include-input", Input).focus()

    def action_focus_exclude(self) -> None:
        self.query_one("#exclude-input", Input).focus()

    def action_focus_local_dir(self) -> None:
        self.query_one("#local-dir-input", Input).focus()

    def action_focus_tree(self) -> None:
        self._hide_results()
        self.repo_tree.focus()

    def action_toggle_force(self) -> None:
        self.bar.toggle_force()

    def action_reload(self) -> None:
        if self.ref is None:
            self._open(self.repo_input.value)
            return
        self._pending_ref = self.ref if (self.ref.quant or self.ref.path) and self.listing is None else None
        self._load(self.ref, self.revision, keep_selection=True)

    def action_select_all(self) -> None:
        if self._need_listing():
            self._apply(Selection(), "Everything selected (no include/exclude globs).", "information")

    def action_only_this(self) -> None:
        if not self._need_listing():
            return
        node = self.repo_tree.cursor_node
        target = self.repo_tree.cursor_target()
        if target is None or node is None:
            return
        path, is_folder = target
        if is_folder and not path:
            self.action_select_all()
            return
        assert self.listing is not None
        self._apply(
            only(self.listing.files, path, is_folder=is_folder),
            f"Only {path}{'/' if is_folder else ''}.",
            "information",
        )

    def action_preset(self, name: str) -> None:
        if not self._need_listing():
            return
        assert self.listing is not None
        files = self.listing.files
        if name == "safetensors":
            self._off_loop(lambda: preset_safetensors(files), self._apply_preset)
        elif name == "config":
            self._off_loop(lambda: preset_config_tokenizer(files), self._apply_preset)
        elif name == "folder":
            self._apply_preset(preset_folder(self.repo_tree.selected_folder()))
        elif name == "all":
            self.action_select_all()
        elif name == "gguf":
            self.action_pick_quant()

    def action_presets(self) -> None:
        if not self._need_listing():
            return
        folder = self.repo_tree.selected_folder()
        choices = [
            ("Safetensors weights only (s)", "safetensors"),
            ("Config and tokenizer only (c)", "config"),
            ("One GGUF quantization… (g)", "gguf"),
            (f"This folder only: {folder or '(root)'}/", "folder"),
            ("Everything: clear the globs (a)", "all"),
        ]

        def chosen(value: str | None) -> None:
            if value:
                self.action_preset(value)

        self.app.push_screen(ChoicePicker("Presets", choices), chosen)

    def action_pick_quant(self) -> None:
        if not self._need_listing():
            return
        assert self.listing is not None
        files = self.listing.files
        self._off_loop(lambda: gguf_quantizations(files), lambda quants: self._show_quants(files, quants))

    def _show_quants(self, files: tuple[RemoteFile, ...], quants: list[Quantization]) -> None:
        if not quants:
            self.say("No GGUF files in this revision.", "warning")
            return
        choices = [(f"{q.name:<10} {q.files:>3} file(s)  {vocab.size(q.bytes):>10}", q.name) for q in quants]

        def chosen(value: str | None) -> None:
            if value:
                self._off_loop(lambda: preset_quant(files, value), self._apply_preset)

        self.app.push_screen(
            ChoicePicker("GGUF quantizations in this revision (case-insensitive)", choices), chosen
        )

    def action_pick_revision(self) -> None:
        if self.ref is None:
            self.say("Open a repo first (o), then pick its revision.", "warning")
            return
        note = None if self.refs is not None else "Branches and tags are not loaded (yet); type a revision."

        def chosen(value: str | None) -> None:
            if value and self.ref is not None:
                self._load(self.ref, value, keep_selection=True)

        self.app.push_screen(RevisionPicker(self.refs, self.revision or "main", loading_message=note), chosen)

    def _request_fields(self) -> dict[str, Any] | None:
        p = self._current_preview()
        if p is None or self.listing is None:
            return None
        local_dir, _ = self._destination()
        info = self.listing.info
        return {
            "preview": p,
            "repo_id": info.repo_id,
            "repo_type": info.repo_type,
            "revision": self.revision,
            "include": p.selection.include,
            "exclude": p.selection.exclude,
            "local_dir": local_dir,
            "force": self.bar.force,
        }

    async def action_queue(self) -> None:
        if not self._need_listing():
            return
        fields = self._request_fields()
        if fields is None:
            return
        p: Preview = fields["preview"]
        problem = p.problem()
        if problem:
            self.say(f"Not queued: {problem}", "error")
            return
        if self.access_error is not None:
            self.say(f"Not queued: {self.access_error.message}", "error")
            return
        assert self.listing is not None
        if self.listing.offline:
            self.say(
                f"Not queued: {self.listing.notice or 'offline'} Downloads need the Hub; press r to retry.",
                "error",
            )
            return
        rev = fields["revision"] or "main"
        request = DownloadRequest(
            repo_id=fields["repo_id"],
            repo_type=fields["repo_type"],
            revision=fields["revision"],
            allow_patterns=tuple(fields["include"]),
            ignore_patterns=tuple(fields["exclude"]),
            cache_dir=None,
            local_dir=str(fields["local_dir"]) if fields["local_dir"] else None,
            force_download=fields["force"],
            label=f"{self.ref.prefixed_id if self.ref else fields['repo_id']}@{rev} · {vocab.count(p.count, 'file')}, "
            f"{vocab.size(p.bytes)}",
        )
        enqueue = getattr(self.app, "enqueue_download", None)
        if not callable(enqueue):
            self.say("The download queue is not available.", "error")
            return
        # Queuing asks the download process (and may first start it): off the event loop.
        outcome = await asyncio.to_thread(enqueue, request)
        self.say(f"{outcome}" if outcome else f"Queued {request.label}.")

    def command_line(self) -> str | None:
        fields = self._request_fields()
        if fields is None:
            return None
        settings = getattr(self.app, "settings", None)
        cache_dir = getattr(settings, "cache_dir", None) if fields["local_dir"] is None else None
        return hf_download_command(
            fields["repo_id"],
            repo_type=fields["repo_type"],
            revision=fields["revision"],
            include=fields["include"],
            exclude=fields["exclude"],
            cache_dir=cache_dir,
            local_dir=fields["local_dir"],
            force_download=fields["force"],
            endpoint=self.endpoint,
        )

    def action_copy_command(self) -> None:
        if not self._need_listing():
            return
        line = self.command_line()
        if line is None:
            return
        self.last_command = line
        self.app.copy_to_clipboard(line)
        p = self.last_preview
        warn = f"  (warning: {p.problem()})" if p is not None and p.problem() else ""
        self.say(f"Copied: {line}{warn}", "warning" if warn else "information")

    # -- search ----------------------------------------------------------------------------------------

    @on(Input.Submitted, "#search-input")
    def _search_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        query = event.value.strip()
        if len(query) < 2:
            self.say("Type at least 2 characters to search.", "warning")
            return
        self.say(f"Searching {self.repo_type}s for {query!r}…")
        self._search_worker(query, self.repo_type)

    @work(
        thread=True, exclusive=True, group="browse-search", exit_on_error=False, description="browse-search"
    )
    def _search_worker(self, query: str, repo_type: str) -> None:
        try:
            hits = self._get_remote().search(query, repo_type, limit=50)
        except RemoteError as err:
            self.post_message(self.SearchDone(query, repo_type, [], err))
            return
        except Exception as exc:
            self.post_message(self.SearchDone(query, repo_type, [], RemoteError("other", str(exc))))
            return
        self.post_message(self.SearchDone(query, repo_type, hits, None))

    @on(SearchDone)
    def _search_done(self, event: SearchDone) -> None:
        event.stop()
        results = self.query_one("#search-results", OptionList)
        results.clear_options()
        self.search_hits = event.hits
        if event.error is not None:
            self.say(
                f"Search failed: {event.error.message}"
                + (" Press enter to retry." if event.error.retryable else ""),
                "error",
            )
            self._hide_results()
            return
        if not event.hits:
            self.say(f"No {event.repo_type} repo matches {event.query!r}.", "warning")
            self._hide_results()
            return
        for hit in event.hits:
            prefix = "" if hit.repo_type == "model" else f"{hit.repo_type}s/"
            results.add_option(
                Option(
                    f"{prefix}{hit.repo_id}   ↓{hit.downloads:,} ♥{hit.likes:,}", id=f"{prefix}{hit.repo_id}"
                )
            )
        results.add_class("-shown")
        results.highlighted = 0
        results.focus()
        self.say(
            f"{len(event.hits)} {event.repo_type} repo(s) match {event.query!r}: enter opens one, escape closes."
        )

    @on(OptionList.OptionSelected, "#search-results")
    def _search_picked(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self._hide_results()
        if event.option.id:
            self.open_repo(event.option.id)

    def _hide_results(self) -> None:
        self.query_one("#search-results", OptionList).remove_class("-shown")


def preview_text(p: Preview) -> tuple[str, str]:
    """The preview line and its severity."""
    approx = "≈" if p.approximate else ""
    parts = [
        f"{p.count:,} of {p.total_files:,} files",
        f"{vocab.size(p.bytes)} matched",
        f"{approx}{vocab.size(p.download_bytes)} to download ({vocab.count(p.download_files, 'file')})",
    ]
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
