"""What the Browse pane does, without a UI: open a repo, list a revision, shape a selection, queue it.

`BrowseController` holds the pane's state (the repo, its listing, the selection, the last preview,
the line said to the user) and takes the user's intents as methods. It tells its view what changed
through the small `BrowseView` protocol, and runs slow work (Hub calls, disk scans, work over
20,000 files) through an injected `Runner`: the Textual pane runs it in thread workers, tests run
it inline. Every answer carries the generation it was asked for, so a late answer for a repo the
user already left is dropped; every failure of that work ends as a line for the user.

No Textual here (a test enforces it). Messages are facts: when the user can do something next
(retry, open a repo first), `Notice.hint` says so and the view words it with the current key.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar

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
    split_globs,
    toggle,
)
from hftui.core.hub.remote import (
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

T = TypeVar("T")
Severity = Literal["information", "warning", "error"]
Hint = Literal["", "retry", "open_repo", "select_all", "search_retry", "search_results"]

SHORT_COMMIT_RE = re.compile(r"[0-9a-f]{7,39}")
SYNC_FILES = 3000
"""Up to this many files, work over a listing (a toggle, a preset) runs at once (well under 10 ms);
above, through the runner (a preset over 20,000 files takes longer than a frame)."""


@dataclass(frozen=True)
class Notice:
    """The line said to the user."""

    text: str
    severity: Severity = "information"
    hint: Hint = ""
    """What the user can do next, for the view to word with a key (`retry`: ask the Hub again)."""


@dataclass(frozen=True)
class Inputs:
    """What the pattern bar holds right now (the view reads its widgets into this)."""

    include: str = ""
    exclude: str = ""
    local_dir: str = ""
    force: bool = False
    pending: bool = False
    """A debounced edit has not been applied yet."""


@dataclass(frozen=True)
class Loaded:
    listing: Listing
    index: FolderIndex
    local: LocalIndex


class Runner(Protocol):
    """Runs `work` off the event loop, then `done(result)` on it; if `work` raises, `failed(exc)`.

    `group` names the kind of work; with `exclusive`, a new run cancels the older one of its group."""

    def __call__(
        self,
        group: str,
        work: Callable[[], T],
        done: Callable[[T], None],
        failed: Callable[[BaseException], None],
        *,
        exclusive: bool = True,
    ) -> None: ...


class BrowseView(Protocol):
    """What the controller tells its view (each `show_*` is a fact to render) and the one thing it asks."""

    def inputs(self) -> Inputs:
        """What the pattern bar holds right now."""
        ...

    def show_notice(self, notice: Notice) -> None: ...

    def show_selection(self, selection: Selection) -> None: ...

    def show_preview(self, preview: Preview) -> None: ...

    def show_bar_problem(self, text: str) -> None:
        """The globs or the destination cannot be used (shown where the preview goes)."""
        ...

    def show_loading(self, label: str) -> None: ...

    def show_load_failed(self, label: str, error: RemoteError) -> None: ...

    def show_listing(self, label: str, loaded: Loaded, reveal: str | None) -> None: ...

    def show_local(self, local: LocalIndex) -> None: ...

    def show_revision(self, revision: str) -> None: ...

    def show_repo_type(self, repo_type: str) -> None: ...

    def show_search(self, query: str, repo_type: str, hits: list[SearchHit]) -> None: ...


def _failure(exc: BaseException) -> RemoteError:
    if isinstance(exc, RemoteError):
        return exc
    return RemoteError("other", f"{type(exc).__name__}: {exc}")  # never a traceback on screen


class BrowseController:
    def __init__(
        self,
        view: BrowseView,
        run: Runner,
        *,
        cache_dir: Path,
        endpoint: str | None,
        remote: Callable[[], Remote],
    ) -> None:
        self.view = view
        self.run = run
        self.cache_dir = cache_dir
        self.endpoint = endpoint
        self._remote_factory = remote
        self._remote: Remote | None = None
        # -- observable state --
        self.ref: RepoRef | None = None
        self.revision: str | None = None
        self.listing: Listing | None = None
        self.index: FolderIndex | None = None
        self.local: LocalIndex | None = None
        self.refs: RepoRefs | None = None
        self.selection = Selection()
        self.last_preview: Preview | None = None
        self.access_error: RemoteError | None = None
        self.notice = Notice("Type a repo and press enter, or search the Hub.")
        self.search_hits: list[SearchHit] = []
        self.repo_type = "model"
        self.type_picked = False
        """The repo type was last set by the user (not from a typed prefix or URL)."""
        self.generation = 0
        self._preview_generation = 0
        self._pending_ref: RepoRef | None = None
        self._toggles: list[tuple[str, bool]] = []
        self._toggle_busy = False

    def remote(self) -> Remote:
        """Built on first use, in a worker thread (HubRemote imports huggingface_hub)."""
        if self._remote is None:
            self._remote = self._remote_factory()
        return self._remote

    def say(self, text: str, severity: Severity = "information", hint: Hint = "") -> None:
        self.notice = Notice(text, severity, hint)
        self.view.show_notice(self.notice)

    # -- opening a repo ----------------------------------------------------------------------------

    def pick_type(self, repo_type: str, repo_text: str) -> None:
        """The user chose a repo type: reopen the typed repo as that type if it was another."""
        self.repo_type = repo_type
        self.type_picked = True
        if repo_text.strip() and self.ref is not None and self.ref.repo_type != repo_type:
            self.open(repo_text)

    def open(self, text: str, revision_text: str = "") -> bool:
        """Open any accepted form of a repo reference; False (and a notice) if it is not one."""
        # A bare org/name is a model unless the type was picked by hand: after `datasets/x/y` the box shows
        # "dataset", but the next bare id typed is still a model, as on the Hub.
        default_type = self.repo_type if self.type_picked else "model"
        try:
            ref = parse_repo_input(text, endpoint=self.endpoint, repo_type=default_type)
        except RepoRefError as err:
            self.say(err.message, "error")
            return False
        same_repo = self.ref is not None and (self.ref.repo_id, self.ref.repo_type) == (
            ref.repo_id,
            ref.repo_type,
        )
        if ref.revision is not None:
            revision: str | None = ref.revision
        elif same_repo:
            revision = revision_text.strip() or None
        else:
            revision = None
        if ref.repo_type != self.repo_type:
            self.repo_type = ref.repo_type
            self.type_picked = False
            self.view.show_repo_type(ref.repo_type)
        self.load(ref, revision, keep_selection=same_repo and not ref.path and not ref.quant)
        return True

    def submit_revision(self, text: str, repo_text: str) -> None:
        """A revision typed in its box (`#3` is PR 3, a short hash is completed from the refs)."""
        if self.ref is None:
            self.open(repo_text)
            return
        text = text.strip()
        resolved = resolve_ref_input(text, self.refs) if text and self.refs is not None else None
        self.load(self.ref, resolved[0] if resolved else text or None, keep_selection=True)

    def pick_revision(self, revision: str) -> None:
        if self.ref is not None:
            self.load(self.ref, revision, keep_selection=True)

    def reload(self, repo_text: str) -> None:
        if self.ref is None:
            self.open(repo_text)
            return
        self.load(self.ref, self.revision, keep_selection=True)

    def load(self, ref: RepoRef, revision: str | None, *, keep_selection: bool) -> None:
        self.ref = ref
        self.revision = revision
        self.view.show_revision(revision or "")
        self.generation += 1
        generation = self.generation
        self.listing = self.index = None
        self.access_error = None
        self.last_preview = None
        self.refs = None
        self._pending_ref = ref
        if not keep_selection:
            self.selection = Selection()
            self.view.show_selection(self.selection)
        name = f"{ref.prefixed_id}@{revision or 'main'}"
        self.view.show_loading(f"{name}: loading…")
        self.say(f"Loading {name} from {self.endpoint or 'the Hub'}…")
        cache_dir = self.cache_dir
        repo_id, repo_type = ref.repo_id, ref.repo_type

        def fetch() -> Loaded:
            listing = load_listing(self.remote(), repo_id, repo_type, revision, cache_dir)
            index = build_index(listing.files)
            local = local_index(cache_dir, repo_id, repo_type, listing.info.commit, listing.files)
            return Loaded(listing, index, local)

        self.run(
            "browse-load",
            fetch,
            lambda loaded: self._loaded(generation, loaded),
            lambda exc: self._load_failed(generation, _failure(exc)),
        )
        self.run(
            "browse-refs",
            lambda: self.remote().list_refs(repo_id, repo_type),
            lambda refs: self._refs_loaded(generation, refs),
            lambda exc: None,  # refs only help the revision picker, which says when they are missing
        )

    def _refs_loaded(self, generation: int, refs: RepoRefs) -> None:
        if generation == self.generation:
            self.refs = refs

    def _load_failed(self, generation: int, error: RemoteError) -> None:
        if generation != self.generation:
            return
        name = f"{self.ref.prefixed_id}@{self.revision or 'main'}" if self.ref else "repo"
        self.say(error.message, "error", "retry" if error.retryable else "")
        self.view.show_load_failed(f"{name}: not loaded", error)

    def _loaded(self, generation: int, loaded: Loaded) -> None:
        if generation != self.generation:
            return
        listing, index = loaded.listing, loaded.index
        self.listing, self.index, self.local = listing, index, loaded.local
        info = listing.info
        if (
            self.revision
            and SHORT_COMMIT_RE.fullmatch(self.revision)
            and info.commit.startswith(self.revision)
        ):
            # A short hash: queue (and copy) the full one, so huggingface_hub writes no refs/<short hash>.
            self.revision = info.commit
            self.view.show_revision(info.commit)
        ref = self.ref
        assert ref is not None
        total = index.totals.get("", (0, 0))
        label = f"{ref.prefixed_id}@{info.revision} ({info.commit[:10]})"
        if listing.offline:
            label += " - offline: cached listing"
        counts = loaded.local.counts()
        summary = (
            f"{ref.prefixed_id}@{info.revision} · commit {info.commit[:10]} · {vocab.count(total[0], 'file')}, "
            f"{vocab.size(total[1])} · {counts['cached']:,} cached, {counts['other']:,} in another revision"
        )
        severity: Severity = "information"
        hint: Hint = ""
        if listing.offline:
            summary = f"{listing.notice} {summary}"
            severity = "warning"
            hint = "retry" if listing.retryable else ""
        # What the input itself asked for: a folder, a file, a quantization.
        pending, self._pending_ref = self._pending_ref, None
        extra = ""
        reveal = None
        if pending is not None and pending.quant:
            result = preset_quant(listing.files, pending.quant)
            extra = " · " + result.message
            # Not found: the globs asked for stay (they match nothing, so queuing refuses) - never "everything",
            # which would queue the whole repo for someone who asked for one quantization or one file.
            self.selection = result.selection or Selection(pending.allow_patterns())
            if result.selection is None:
                severity = "warning"
        elif pending is not None and pending.path:
            if pending.path_is_file:
                self.selection = only(listing.files, pending.path, is_folder=False)
                if pending.path not in index.by_path:
                    extra, severity = f" · No file {pending.path!r} in this revision.", "warning"
            else:
                self.selection = only(listing.files, pending.path, is_folder=True)
                if index.is_folder(pending.path):
                    reveal = pending.path
                else:
                    extra, severity = f" · No folder {pending.path!r} in this revision.", "warning"
        self.view.show_listing(label, loaded, reveal)
        self.say(summary + extra, severity, hint)
        self.view.show_selection(self.selection)
        self.request_preview(self.selection, self.view.inputs())
        if info.gated and listing.files and not listing.offline:
            smallest = min(listing.files, key=lambda f: f.size)
            repo_id, repo_type, commit = info.repo_id, info.repo_type, info.commit
            self.run(
                "browse-access",
                lambda: self.remote().check_access(repo_id, repo_type, commit, smallest.path),
                lambda _: self._access_checked(generation, None),
                lambda exc: self._access_failed(generation, exc),
            )

    def _access_checked(self, generation: int, error: RemoteError | None) -> None:
        if generation != self.generation:
            return
        self.access_error = error
        if error is not None and error.kind in ("gated", "auth"):
            self.say(f"{error.message} The file list is shown; downloads would be refused.", "error")
        elif error is None:
            self.say(
                self.notice.text + " · gated repo: you have access.", self.notice.severity, self.notice.hint
            )

    def _access_failed(self, generation: int, exc: BaseException) -> None:
        if isinstance(exc, RemoteError):
            self._access_checked(generation, exc)
        elif (
            generation == self.generation
        ):  # not a Hub answer: unknown, so not refused (the download will say)
            self.say(f"{self.notice.text} · could not check access: {_failure(exc).message}", "warning")

    def local_cache_changed(self, repos: set[tuple[str, str]]) -> None:
        """Downloads or deletions touched these repos: refresh which files are on disk if ours is one."""
        listing = self.listing
        if listing is None or (listing.info.repo_type, listing.info.repo_id) not in repos:
            return
        generation, info, cache_dir = self.generation, listing.info, self.cache_dir
        self.run(
            "browse-local",
            lambda: local_index(cache_dir, info.repo_id, info.repo_type, info.commit, listing.files),
            lambda local: self._local_refreshed(generation, local),
            lambda exc: self.say(f"Could not re-read the local cache: {_failure(exc).message}", "warning"),
        )

    def _local_refreshed(self, generation: int, local: LocalIndex) -> None:
        if generation != self.generation:
            return
        self.local = local
        self.view.show_local(local)
        self.request_preview(self.selection, self.view.inputs())

    # -- selection and preview ---------------------------------------------------------------------

    def destination(self, inputs: Inputs) -> tuple[Path | None, str | None]:
        """(local dir or None for the cache, problem)."""
        text = inputs.local_dir
        if not text:
            return None, None
        path = Path(text).expanduser()
        if not path.is_absolute():
            path = Path.cwd() / path
        if path.exists() and not path.is_dir():
            return None, f"Local dir {text!r} is a file, not a folder."
        return path, None

    def selection_from(self, inputs: Inputs) -> Selection | None:
        try:
            return Selection(split_globs(inputs.include), split_globs(inputs.exclude))
        except PatternError as err:
            self.view.show_bar_problem(str(err))
            return None

    def inputs_changed(self) -> None:
        """The user edited the globs, the destination or the force switch."""
        inputs = self.view.inputs()
        selection = self.selection_from(inputs)
        if selection is not None:
            self.selection = selection
            self.request_preview(selection, inputs)

    def request_preview(self, selection: Selection, inputs: Inputs) -> None:
        listing = self.listing
        if listing is None:
            return
        local_dir, problem = self.destination(inputs)
        if problem:
            self.view.show_bar_problem(problem)
            return
        self._preview_generation += 1
        generation = self._preview_generation
        local, cache_dir, force = self.local, self.cache_dir, inputs.force
        self.run(
            "browse-preview",
            lambda: preview(
                listing.files, selection, local=local, cache_dir=cache_dir, local_dir=local_dir, force=force
            ),
            lambda p: self._preview_ready(generation, p),
            lambda exc: self.view.show_bar_problem(f"Preview failed: {_failure(exc).message}"),
        )

    def _preview_ready(self, generation: int, p: Preview) -> None:
        if generation != self._preview_generation or self.listing is None:
            return
        self._show_preview(p)

    def _show_preview(self, p: Preview) -> None:
        self.last_preview = p
        self.view.show_preview(p)

    def current_preview(self, inputs: Inputs) -> Preview | None:
        """The preview of exactly what the inputs say now (computed here if the runner has not caught up)."""
        if self.listing is None:
            return None
        selection = self.selection_from(inputs)
        if selection is None:
            return None
        self.selection = selection
        local_dir, problem = self.destination(inputs)
        if problem:
            self.say(problem, "error")
            return None
        p = self.last_preview
        if (
            p is None
            or inputs.pending
            or p.selection != selection
            or (local_dir is not None) != p.approximate
        ):
            p = preview(
                self.listing.files, selection, local=self.local, cache_dir=self.cache_dir, local_dir=local_dir,
                force=inputs.force,
            )  # fmt: skip
            self._preview_generation += 1
            self._show_preview(p)
        return p

    def apply(self, selection: Selection, message: str | None = None, severity: Severity = "warning") -> None:
        self.selection = selection
        self.view.show_selection(selection)
        if message:
            self.say(message, severity)
        self.request_preview(selection, self.view.inputs())

    def need_listing(self) -> bool:
        if self.listing is None:
            self.say("Open a repo first, or search the Hub.", "warning", "open_repo")
            return False
        return True

    def toggle(self, path: str, is_folder: bool) -> None:
        """Select or unselect a file or folder; toggles apply in order, each to the previous result."""
        if self.listing is None:
            return
        self._toggles.append((path, is_folder))
        if not self._toggle_busy:
            self._next_toggle()

    def _next_toggle(self) -> None:
        if not self._toggles or self.listing is None:
            self._toggle_busy = False
            self._toggles.clear()
            return
        selection = self.selection_from(self.view.inputs())
        if selection is None:
            self._toggles.clear()
            return
        path, is_folder = self._toggles.pop(0)
        files = self.listing.files
        if len(files) <= SYNC_FILES:
            self._toggle_busy = False
            self._toggled(self.generation, toggle(files, selection, path, is_folder=is_folder))
            return
        self._toggle_busy = True
        generation = self.generation
        self.run(
            "browse-toggle",
            lambda: toggle(files, selection, path, is_folder=is_folder),
            lambda result: self._toggled(generation, result),
            lambda exc: self._toggled(
                generation, ToggleResult(selection, False, f"Toggle failed: {_failure(exc).message}")
            ),
            exclusive=False,
        )

    def _toggled(self, generation: int, result: ToggleResult) -> None:
        self._toggle_busy = False
        if generation != self.generation:
            self._toggles.clear()
            return
        # The bar shows the result: the next toggle starts from it.
        self.selection = result.selection
        self.view.show_selection(result.selection)
        if result.message:
            self.say(result.message, "warning", "select_all" if result.nothing_selected else "")
        self.request_preview(result.selection, self.view.inputs())
        if self._toggles:
            self._next_toggle()

    def select_all(self) -> None:
        if self.need_listing():
            self.apply(Selection(), "Everything selected (no include/exclude globs).", "information")

    def only_this(self, target: tuple[str, bool] | None) -> None:
        if not self.need_listing() or target is None:
            return
        path, is_folder = target
        if is_folder and not path:
            self.select_all()
            return
        assert self.listing is not None
        self.apply(
            only(self.listing.files, path, is_folder=is_folder),
            f"Only {path}{'/' if is_folder else ''}.",
            "information",
        )

    def preset(self, name: str, folder: str = "") -> None:
        """safetensors, config, folder (the one given), all; gguf is `quantizations` then `preset_quant`."""
        if not self.need_listing():
            return
        assert self.listing is not None
        files = self.listing.files
        if name == "safetensors":
            self._over_files("browse-preset", lambda: preset_safetensors(files), self._apply_preset)
        elif name == "config":
            self._over_files("browse-preset", lambda: preset_config_tokenizer(files), self._apply_preset)
        elif name == "folder":
            self._apply_preset(preset_folder(folder))
        elif name == "all":
            self.select_all()

    def quant(self, name: str) -> None:
        if self.listing is not None:
            files = self.listing.files
            self._over_files("browse-preset", lambda: preset_quant(files, name), self._apply_preset)

    def quantizations(self, done: Callable[[list[Quantization]], None]) -> None:
        """The GGUF quantizations of this revision, for a picker (none: a notice instead)."""
        if not self.need_listing():
            return
        assert self.listing is not None
        files = self.listing.files

        def shown(quants: list[Quantization]) -> None:
            if quants:
                done(quants)
            else:
                self.say("No GGUF files in this revision.", "warning")

        self._over_files("browse-preset", lambda: gguf_quantizations(files), shown)

    def _apply_preset(self, result: PresetResult) -> None:
        if result.selection is None:
            self.say(result.message, "warning")
            return
        self.apply(result.selection, result.message, "information")

    def _over_files(self, group: str, work: Callable[[], Any], done: Callable[[Any], None]) -> None:
        if self.listing is None or len(self.listing.files) <= SYNC_FILES:
            done(work())
            return
        generation = self.generation

        def finished(result: Any) -> None:
            if generation == self.generation:
                done(result)

        self.run(
            group,
            work,
            finished,
            lambda exc: self.say(f"Failed: {_failure(exc).message}", "error"),
            exclusive=False,
        )

    # -- queuing and the equivalent command ------------------------------------------------------------

    def _request_fields(self, inputs: Inputs) -> dict[str, Any] | None:
        p = self.current_preview(inputs)
        if p is None or self.listing is None:
            return None
        local_dir, _ = self.destination(inputs)
        info = self.listing.info
        return {
            "preview": p,
            "repo_id": info.repo_id,
            "repo_type": info.repo_type,
            "revision": self.revision,
            "include": p.selection.include,
            "exclude": p.selection.exclude,
            "local_dir": local_dir,
            "force": inputs.force,
        }

    def download_request(self) -> DownloadRequest | None:
        """The request that queues exactly what the preview shows, or None (and a notice saying why)."""
        if not self.need_listing():
            return None
        fields = self._request_fields(self.view.inputs())
        if fields is None:
            return None
        p: Preview = fields["preview"]
        problem = p.problem()
        if problem:
            self.say(f"Not queued: {problem}", "error")
            return None
        if self.access_error is not None:
            self.say(f"Not queued: {self.access_error.message}", "error")
            return None
        assert self.listing is not None
        if self.listing.offline:
            self.say(
                f"Not queued: {self.listing.notice or 'offline'} Downloads need the Hub.", "error", "retry"
            )
            return None
        local_dir = fields["local_dir"]
        if p.nothing_to_do and not fields["force"]:
            # A job would fetch nothing and copy nothing: queue none, and say why (force re-fetches).
            where = f"already in {local_dir}" if local_dir else "already cached"
            self.say(
                f"Not queued: all {vocab.count(p.count, 'file')} ({vocab.size(p.bytes)}) {where}; "
                "nothing to download (force download fetches them again)."
            )
            return None
        rev = fields["revision"] or "main"
        name = self.ref.prefixed_id if self.ref else fields["repo_id"]
        # The label announces what moves: the bytes to fetch (and to copy), not the whole selection's.
        moving = [f"{vocab.size(p.download_bytes)} to fetch"] if p.download_files or fields["force"] else []
        if p.copy_files:
            moving.append(f"{vocab.size(p.copy_bytes)} to copy")
        return DownloadRequest(
            repo_id=fields["repo_id"],
            repo_type=fields["repo_type"],
            revision=fields["revision"],
            allow_patterns=tuple(fields["include"]),
            ignore_patterns=tuple(fields["exclude"]),
            cache_dir=None,
            local_dir=str(fields["local_dir"]) if fields["local_dir"] else None,
            force_download=fields["force"],
            label=f"{name}@{rev} · {vocab.count(p.count, 'file')}, {', '.join(moving)}",
        )

    def queued(self, request: DownloadRequest, outcome: str) -> None:
        self.say(outcome or f"Queued {request.label}.")

    def command_line(self, *, cache_dir: str | None) -> str | None:
        """The `hf download` command that fetches the same selection (`cache_dir`: the configured one)."""
        fields = self._request_fields(self.view.inputs())
        if fields is None:
            return None
        return hf_download_command(
            fields["repo_id"],
            repo_type=fields["repo_type"],
            revision=fields["revision"],
            include=fields["include"],
            exclude=fields["exclude"],
            cache_dir=cache_dir if fields["local_dir"] is None else None,
            local_dir=fields["local_dir"],
            force_download=fields["force"],
            endpoint=self.endpoint,
        )

    # -- search ------------------------------------------------------------------------------------------

    def search(self, query: str) -> None:
        query = query.strip()
        if len(query) < 2:
            self.say("Type at least 2 characters to search.", "warning")
            return
        repo_type = self.repo_type
        self.say(f"Searching {repo_type}s for {query!r}…")
        self.run(
            "browse-search",
            lambda: self.remote().search(query, repo_type, limit=50),
            lambda hits: self._search_done(query, repo_type, hits, None),
            lambda exc: self._search_done(query, repo_type, [], _failure(exc)),
        )

    def _search_done(
        self, query: str, repo_type: str, hits: list[SearchHit], error: RemoteError | None
    ) -> None:
        self.search_hits = hits
        if error is not None:
            self.say(f"Search failed: {error.message}", "error", "search_retry" if error.retryable else "")
            self.view.show_search(query, repo_type, [])
            return
        if not hits:
            self.say(f"No {repo_type} repo matches {query!r}.", "warning")
            self.view.show_search(query, repo_type, [])
            return
        self.view.show_search(query, repo_type, hits)
        self.say(f"{vocab.count(len(hits), f'{repo_type} repo')} match {query!r}.", hint="search_results")


__all__ = [
    "SYNC_FILES",
    "BrowseController",
    "BrowseView",
    "Inputs",
    "Loaded",
    "Notice",
    "RemoteFile",
    "Runner",
]
