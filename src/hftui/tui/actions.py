"""Every user action declared once: its id, keys, footer text, palette entry and help line.

Each pane's `BINDINGS`, the command palette (`HfTuiApp.get_system_commands`) and the `?` screen
are generated from `ACTIONS`, so a key, a description or a `--read-only` rule cannot disagree
between them (Braindrop declares its commands the same way). The `id` is the binding id that
Textual keymaps use: `[keymap]` in settings.toml maps an id to new keys (`"browse.search" = "f"`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from textual.binding import Binding, BindingType

PANE_KEYS = Binding.Group("Panes", compact=True)
"""One footer entry ("1 2 3 Panes") instead of three keeps the pane's own keys visible at 80 columns."""

_GROUPS = {"panes": PANE_KEYS}


@dataclass(frozen=True)
class Action:
    id: str
    """Stable id: the binding id a keymap rebinds, `<scope>.<name>`."""
    scope: str
    """Where the key is bound: `app`, a pane (`cache`, `browse`, `queue`) or a widget in it (`browse.tree`)."""
    keys: str
    """Textual key names, comma-separated (`delete,backspace`); empty for palette-only actions."""
    action: str
    """The Textual action string run on the scope's widget (`sort('size')`)."""
    description: str
    """Short footer text."""
    help: str = ""
    """One line for `?` and the palette (default: the description)."""
    title: str = ""
    """Command palette title; empty: not in the palette."""
    show: bool = True
    """Shown in the footer."""
    destructive: bool = False
    """Deletes or marks for deletion: hidden and refused with --read-only."""
    tooltip: str = ""
    priority: bool = False
    bound: bool = True
    """False when a widget handles the key itself (enter in a table): documented, not bound here."""
    anywhere: str = ""
    """Extra keys bound with priority, so they work while an input has focus (f1, ctrl+f)."""
    show_anywhere: bool = False
    """Show the `anywhere` keys in the footer: while a text box has focus (and types the plain key as
    text) the footer then offers them instead (`F1 F2 F3 Panes`, `^c Quit`)."""
    group: str = ""
    in_help: bool = True

    @property
    def help_line(self) -> str:
        return self.help or self.description

    @property
    def name(self) -> str:
        """The action's method name without arguments (`sort` for `sort('size')`)."""
        return self.action.split("(")[0]

    def bindings(self) -> list[Binding]:
        out: list[Binding] = []
        group = _GROUPS.get(self.group)
        if self.bound and self.keys:
            out.append(
                Binding(
                    self.keys,
                    self.action,
                    self.description,
                    show=self.show,
                    priority=self.priority,
                    tooltip=self.tooltip,
                    id=self.id,
                    group=group,
                )
            )
        if self.anywhere:
            out.append(
                Binding(
                    self.anywhere,
                    self.action,
                    self.description,
                    show=self.show_anywhere,
                    priority=True,
                    id=f"{self.id}.anywhere",
                    group=group,
                )
            )
        return out


A = Action
ACTIONS: tuple[Action, ...] = (
    # -- everywhere ------------------------------------------------------------------------------
    A("pane.cache", "app", "1", "show_pane('cache')", "Cache", "Show the Cache pane", "Show Cache pane", group="panes", anywhere="f1", show_anywhere=True),
    A("pane.browse", "app", "2", "show_pane('browse')", "Browse", "Show the Browse pane", "Show Browse pane", group="panes", anywhere="f2", show_anywhere=True),
    A("pane.queue", "app", "3", "show_pane('queue')", "Queue", "Show the Queue pane", "Show Queue pane", group="panes", anywhere="f3", show_anywhere=True),
    A("app.help", "app", "question_mark", "help", "Help", "Every key hftui knows", "Help: key bindings"),
    A("app.theme", "app", "", "toggle_theme", "Theme", "Switch between the light and the dark theme", "Toggle light/dark theme"),
    A("app.screenshot", "app", "", "screenshot", "Screenshot", "Save an SVG screenshot to the current directory", "Save screenshot"),
    A("app.palette", "app", "ctrl+p", "command_palette", "Palette", "Every action, searchable", bound=False),
    A("app.quit", "app", "q", "quit", "Quit", "Quit hftui (running downloads resume next time)", "Quit", anywhere="ctrl+c", show_anywhere=True),
    # -- every list and tree (bound by the list widgets, tui/widgets/lists.py; listed for `?`) -----
    A("list.down", "list", "down,j", "cursor_down", "Down", "Next row (every list and tree)", bound=False),
    A("list.up", "list", "up,k", "cursor_up", "Up", "Previous row", bound=False),
    A("list.page", "list", "pageup,pagedown", "page_down", "Page", "A page up / down", bound=False),
    A("list.first", "list", "home,g", "scroll_top", "First", "First row (not a sideways scroll)", bound=False),
    A("list.last", "list", "end,G", "scroll_bottom", "Last", "Last row", bound=False),
    # -- Cache -------------------------------------------------------------------------------------
    A("cache.open", "cache", "enter", "open", "Open", "Open the repo (in the detail: expand/collapse a folder)", "Cache: open repo", bound=False),
    A("cache.mark", "cache", "space", "toggle_mark", "Mark", "Mark/unmark a repo, a revision, or a file/folder in the tree", "Cache: mark/unmark", destructive=True),
    A("cache.delete", "cache", "d", "delete", "Delete…", "Delete the marked items (a confirmation shows what it frees first)", "Cache: delete marked…", destructive=True),
    A("cache.unmark", "cache", "u", "clear_marks", "Unmark all", "Clear every mark", "Cache: unmark all", show=False, destructive=True),
    A("cache.back", "cache", "escape", "back", "Back", "Back to the repo list, close the filter, or cancel a running deletion", "Cache: back"),
    A("cache.filter", "cache", "slash", "filter", "Filter", "Filter repos: text, size>1GB, accessed>30d, type=…, refs=…, name=GLOB", "Cache: filter"),
    A("cache.sort.size", "cache", "s", "sort('size')", "Sort: size", "Sort the repo table by size (again: reverse)", "Cache: sort by size"),
    A("cache.sort.name", "cache", "n", "sort('name')", "Sort: name", "Sort the repo table by name (again: reverse)", "Cache: sort by name", show=False),
    A("cache.sort.accessed", "cache", "a", "sort('accessed')", "Sort: accessed", "Sort the repo table by last access (again: reverse)", "Cache: sort by accessed", show=False),
    A("cache.sort.modified", "cache", "m", "sort('modified')", "Sort: modified", "Sort the repo table by last modification (again: reverse)", "Cache: sort by modified", show=False),
    A("cache.sort.update", "cache", "t", "sort('update')", "Sort: updates", "Sort the repo table by update status: update available first, biggest fetch first (again: reverse)", "Cache: sort by update status", show=False),
    A("cache.prune", "cache", "p", "prune", "Prune…", "Prune detached revisions, orphaned .incomplete files, stale locks, unreferenced shared blobs, abandoned kept partial downloads", "Cache: prune…", destructive=True),
    A("cache.copy", "cache", "c", "copy", "Copy…", "Copy the snapshot path, the repo id or a from_pretrained snippet", "Cache: copy…"),
    A("cache.verify", "cache", "v", "verify", "Verify", "Hash the files of a revision against the cached listing", "Cache: verify revision"),
    A("cache.rescan", "cache", "r", "rescan", "Rescan", "Scan the cache directory again", "Cache: rescan"),
    A("cache.browse", "cache", "b", "browse", "Browse", "Open the highlighted repo in the Browse pane", "Cache: browse repo", show=False),
    A("cache.update", "cache", "U", "update_repo", "Update", "Download the highlighted repo's newer revision (same files); the old one is then marked for deletion", "Cache: update repo", show=False),
    A("cache.roots", "cache", "R", "roots", "Roots", "Every Hugging Face folder on the box: other hub caches, the datasets cache, local dirs, the Xet dir; duplicates", "Cache: roots (datasets, local dirs, Xet)", show=False),
    A("roots.delete", "roots", "d", "delete", "Delete…", "Delete the highlighted entry (a confirmation shows what it frees first)", destructive=True),
    A("roots.rescan", "roots", "r", "rescan", "Rescan", "Scan every root again"),
    A("roots.back", "roots", "escape", "back", "Back", "Back to the Cache pane"),
    A("cache.focus", "cache", "tab", "switch_focus", "Revisions/files", "In a repo: move between its revisions and its files", "Cache: revisions/files", show=False),
    A("cache.tree.mark", "cache.detail", "space", "toggle_node", "Mark", destructive=True, in_help=False),
    # -- Browse ------------------------------------------------------------------------------------
    A("browse.select", "browse.tree", "space", "toggle_selection", "Select", "Select/unselect this file or folder", "Browse: select/unselect", tooltip="Toggle this file or folder"),
    A("browse.queue", "browse.tree", "enter", "queue", "Queue", "Queue the selection for download", "Browse: queue the selection", tooltip="Queue the selection for download"),
    A("browse.open_folder", "browse.tree", "right,l", "open_folder", "Open folder", "Open the folder under the cursor", "Browse: open folder", show=False),
    A("browse.close_folder", "browse.tree", "left,h", "close_folder", "Close folder", "Close the folder (or go to its parent)", "Browse: close folder", show=False),
    # At 80 columns the footer fits about six entries: the repo and revision boxes are on screen (their
    # placeholders name o and v), so their keys are left to help and the palette.
    A("browse.repo", "browse", "o", "focus_repo", "Open repo", "Type a repo id, URL or org/name:QUANT", "Browse: open a repo", tooltip="Type a repo id, URL or org/name:QUANT"),
    A("browse.search", "browse", "slash", "focus_search", "Search", "Find repos by name on the Hub", "Browse: search the Hub", tooltip="Find repos by name on the Hub", anywhere="ctrl+f"),
    A("browse.revision", "browse", "v", "pick_revision", "Revision", "Pick a branch, tag, PR or commit", "Browse: pick revision", show=False, tooltip="Pick a branch, tag, PR or commit"),
    A("browse.presets", "browse", "p", "presets", "Presets", "Choose a selection preset", "Browse: presets"),
    A("browse.safetensors", "browse", "s", "preset('safetensors')", "Safetensors only", "Preset: safetensors weights only", "Browse: safetensors weights only", show=False),
    A("browse.config", "browse", "c", "preset('config')", "Config+tokenizer", "Preset: config and tokenizer only", "Browse: config and tokenizer only", show=False),
    A("browse.quant", "browse", "Q", "pick_quant", "GGUF quant", "Preset: one GGUF quantization", "Browse: one GGUF quantization", show=False),
    A("browse.folder", "browse", "", "preset('folder')", "This folder", "Preset for the folder under the cursor", "Browse: this folder only"),
    A("browse.only_this", "browse", "t", "only_this", "Only this", "Select only the file or folder under the cursor", "Browse: only this", show=False),
    A("browse.all", "browse", "a", "select_all", "Everything", "Select everything (clear include/exclude globs)", "Browse: select everything", show=False),
    A("browse.include", "browse", "i", "focus_include", "Include globs", "Edit the include globs", "Browse: include globs", show=False),
    A("browse.exclude", "browse", "x", "focus_exclude", "Exclude globs", "Edit the exclude globs", "Browse: exclude globs", show=False),
    A("browse.local_dir", "browse", "d", "focus_local_dir", "Local dir", "Download into a folder instead of the cache", "Browse: local dir", show=False),
    A("browse.force", "browse", "F", "toggle_force", "Force download", "Download again even what is cached", "Browse: force download", show=False),
    A("browse.copy", "browse", "y", "copy_command", "Copy cmd", "Copy the equivalent hf download command", "Browse: copy hf download command", tooltip="Copy the equivalent hf download command"),
    A("browse.reload", "browse", "r", "reload", "Reload/retry", "Ask the Hub again", "Browse: reload / retry", show=False),
    A("browse.back", "browse", "escape", "focus_tree", "Back to tree", "Leave the input, back to the file tree", "Browse: back to the tree"),
    # -- Queue -------------------------------------------------------------------------------------
    A("queue.pause", "queue", "p", "toggle_pause", "Pause/resume", "Pause or resume the highlighted download", "Queue: pause/resume job"),
    A("queue.cancel", "queue", "x", "cancel_job", "Cancel", "Cancel the highlighted download; finished files are kept", "Queue: cancel job"),
    A("queue.retry", "queue", "r", "retry_job", "Retry", "Queue a failed or cancelled download again", "Queue: retry job"),
    A("queue.remove", "queue", "delete,backspace", "remove_job", "Remove", "Remove the highlighted job from the list", "Queue: remove job"),
    A("queue.up", "queue", "K,shift+up", "move_job(-1)", "Move up", "Start the highlighted job earlier", "Queue: move job up"),
    A("queue.down", "queue", "J,shift+down", "move_job(1)", "Move down", "Start the highlighted job later", "Queue: move job down"),
)  # fmt: skip

BY_ID: dict[str, Action] = {a.id: a for a in ACTIONS}

HELP_SECTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Everywhere", ("app",)),
    ("Lists and trees", ("list",)),
    ("Cache", ("cache", "cache.detail")),
    ("Roots (R in Cache)", ("roots",)),
    ("Browse", ("browse.tree", "browse")),
    ("Queue", ("queue",)),
)


def actions_in(*scopes: str) -> list[Action]:
    return [a for a in ACTIONS if a.scope in scopes]


def bindings(scope: str) -> list[BindingType]:
    """The `BINDINGS` of the widget that owns `scope`."""
    return [binding for action in actions_in(scope) for binding in action.bindings()]


def destructive_names(scope: str) -> frozenset[str]:
    """Action method names refused with --read-only (for `check_action`)."""
    return frozenset(a.name for a in actions_in(scope) if a.destructive)


_KEY_NAMES = {"question_mark": "?", "slash": "/", "space": "space", "ctrl+p": "ctrl+p"}


def key_text(keys: str) -> str:
    """Keys as the user types them: `question_mark` -> `?`, `delete,backspace` -> `delete, backspace`."""
    return ", ".join(_KEY_NAMES.get(k.strip(), k.strip()) for k in keys.split(",") if k.strip())


def keys_of(action: Action, keymap: Mapping[str, str] | None = None) -> str:
    """The keys that run `action` now (a user keymap wins), shown to the user; "" if none."""
    keys = [(keymap or {}).get(action.id, action.keys)]
    if action.anywhere:
        keys.append((keymap or {}).get(f"{action.id}.anywhere", action.anywhere))
    return key_text(",".join(k for k in keys if k))


def palette_help(action: Action, keymap: Mapping[str, str] | None = None) -> str:
    keys = keys_of(action, keymap)
    return f"{action.help_line} (key {keys})" if keys else action.help_line


def help_rows(
    scopes: Iterable[str], *, read_only: bool, keymap: Mapping[str, str] | None = None
) -> list[tuple[str, str, str]]:
    """(keys, help line, id) for the `?` screen; destructive actions are left out with --read-only."""
    return [
        (keys_of(a, keymap), a.help_line, a.id)
        for a in actions_in(*scopes)
        if a.in_help and keys_of(a, keymap) and not (read_only and a.destructive)
    ]


def keymap_ids() -> set[str]:
    """Every binding id a keymap may name."""
    ids = {a.id for a in ACTIONS if a.bound and a.keys}
    ids |= {f"{a.id}.anywhere" for a in ACTIONS if a.anywhere}
    return ids


def check_keymap(keymap: Mapping[str, object]) -> tuple[dict[str, str], list[str]]:
    """(the usable part of a user keymap, one problem message per entry that cannot be used)."""
    usable: dict[str, str] = {}
    problems: list[str] = []
    known = keymap_ids()
    for action_id, keys in keymap.items():
        if action_id not in known:
            close = sorted(i for i in known if i.split(".")[0] == action_id.split(".")[0])
            hint = f" (ids in {action_id.split('.')[0]!r}: {', '.join(close)})" if close else ""
            problems.append(f"[keymap] unknown action id {action_id!r}; ignored{hint}")
        elif not isinstance(keys, str) or not keys.strip() or any(not k.strip() for k in keys.split(",")):
            problems.append(
                f'[keymap] {action_id} needs keys like "f5" or "ctrl+r,f5" (got {keys!r}); ignored'
            )
        else:
            usable[action_id] = ",".join(k.strip() for k in keys.split(","))
    return usable, problems


__all__ = [
    "ACTIONS",
    "BY_ID",
    "HELP_SECTIONS",
    "PANE_KEYS",
    "Action",
    "actions_in",
    "bindings",
    "check_keymap",
    "destructive_names",
    "help_rows",
    "key_text",
    "keymap_ids",
    "keys_of",
    "palette_help",
]
