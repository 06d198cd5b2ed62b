"""The repo detail of the Cache pane: its revisions, and the files of the selected one as a tree."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Static
from textual.widgets.tree import TreeNode

from hftui.core import vocab
from hftui.core.cache.names import printable
from hftui.core.downloads.kept import describe, iter_repo_kept, kept_by_repo
from hftui.core.vocab import revision_status as vocab_revision_status
from hftui.tui import actions
from hftui.tui.widgets.cache_table import MARK, ago, size_text
from hftui.tui.widgets.lists import ListTable, ListTree

if TYPE_CHECKING:
    from hftui.core.cache.scan import RepoRecord, RevisionRecord


@dataclass(frozen=True)
class FileEntry:
    """`node.data` of the file tree: a path in the snapshot (a folder when `is_dir`)."""

    path: str
    is_dir: bool
    size: int


def revision_status(revision: RevisionRecord) -> str:
    """`hftui scan --revisions`' words (core/vocab.py), plus `detached` (the CLI has it in REFS)."""
    return ("detached, " if revision.detached else "") + vocab_revision_status(revision)


class RevisionTable(ListTable):
    DEFAULT_CSS = "RevisionTable { height: auto; max-height: 40%; }"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(cursor_type="row", **kwargs)

    def on_mount(self) -> None:
        for key, label in (
            ("mark", " "),
            ("commit", "commit"),
            ("refs", "refs"),
            ("size", "size"),
            ("frees", "frees"),
            ("files", "files"),
            ("modified", "modified"),
            ("status", "status"),
        ):
            self.add_column(label, key=key)


class FileTree(ListTree[FileEntry]):
    """`space` marks (the pane decides what that means); `enter` expands and collapses."""

    DEFAULT_CSS = "FileTree { height: 1fr; }"

    BINDINGS: ClassVar[list[BindingType]] = actions.bindings("cache.detail")

    @dataclass
    class MarkRequested(Message):
        entry: FileEntry

    read_only = False
    """Set by the Cache pane from --read-only: marking only leads to deleting."""

    ACTION_SCOPE = "cache.detail"

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return not (action == "toggle_node" and self.read_only)

    def why_disabled(self, action: str) -> str | None:
        return (
            "Read-only mode (--read-only): marking, deleting and pruning are off."
            if action == "toggle_node" and self.read_only
            else None
        )

    def action_toggle_node(self) -> None:  # space
        node = self.cursor_node
        if node is not None and node.data is not None:
            self.post_message(self.MarkRequested(node.data))


def _tree_of(files: list[tuple[str, int]]) -> dict[str, Any]:
    root: dict[str, Any] = {}
    for path, size in files:
        parts = path.split("/")
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part + "/", {})
        node[parts[-1]] = size
    return root


def _size(node: dict[str, Any] | int) -> int:
    return node if isinstance(node, int) else sum(_size(child) for child in node.values())


class RepoDetail(Vertical):
    DEFAULT_CSS = """
    RepoDetail { height: 1fr; }
    RepoDetail #detail-title { height: auto; padding: 0 1; background: $boost; }
    RepoDetail #files-title { height: 1; padding: 0 1; color: $text-muted; }
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.record: RepoRecord | None = None
        self.revision: RevisionRecord | None = None
        self.frees: dict[str, int] = {}

    def compose(self) -> ComposeResult:
        yield Static(id="detail-title")
        yield RevisionTable(id="revisions")
        yield Static("files", id="files-title")
        tree = FileTree("files", id="files")
        tree.show_root = False
        tree.guide_depth = 2
        yield tree

    @property
    def revisions(self) -> RevisionTable:
        return self.query_one(RevisionTable)

    @property
    def file_tree(self) -> FileTree:
        return self.query_one(FileTree)

    def show(
        self, record: RepoRecord, *, is_marked: Callable[..., bool], now: float, keep_revision: bool = False
    ) -> None:
        previous = self.revision.commit_hash if (keep_revision and self.revision) else None
        self.record = record
        title = Text.assemble(
            (printable(f"{record.repo_type}/{record.repo_id}"), "bold"),
            f"  ·  {size_text(record.size_on_disk)}  ·  {vocab.count(record.nb_files, 'file')}  ·  "
            f"{vocab.count(len(record.revisions), 'revision')}  ·  {printable(record.repo_path)}",
        )
        if record.warnings:
            title.append(f"\n⚠ {printable(record.warnings[0].message)}")
        kept = kept_by_repo("", list(iter_repo_kept(record.repo_path)))
        if kept:
            title.append(f"\nkept partial downloads: {describe(kept[0], now)} (resumed by the next download)")
        self.query_one("#detail-title", Static).update(title)
        table = self.revisions
        table.clear()
        ordered = sorted(record.revisions, key=lambda r: (r.detached, -r.last_modified, r.commit_hash))
        for revision in ordered:
            table.add_row(*self._revision_cells(revision, is_marked, now), key=revision.commit_hash)
        if ordered:
            index = next((i for i, r in enumerate(ordered) if r.commit_hash == previous), 0)
            table.move_cursor(row=index)
            self.show_revision(ordered[index], is_marked=is_marked)
        else:
            self.revision = None
            self.file_tree.clear()

    def _revision_cells(
        self, revision: RevisionRecord, is_marked: Callable[..., bool], now: float
    ) -> list[Any]:
        frees = self.frees.get(revision.commit_hash)
        return [
            MARK if is_marked(revision=revision) else " ",
            revision.commit_hash[:10],
            printable(", ".join(sorted(revision.refs))) or "(detached)",
            Text(size_text(revision.size_on_disk), justify="right"),
            Text("…" if frees is None else size_text(frees), justify="right"),
            Text(str(revision.nb_files), justify="right"),
            ago(revision.last_modified, now),
            revision_status(revision),
        ]

    def set_frees(self, frees: dict[str, int]) -> None:
        self.frees = frees
        for commit, value in frees.items():
            if commit in self.revisions.rows:
                self.revisions.update_cell(
                    commit, "frees", Text(size_text(value), justify="right"), update_width=True
                )

    def refresh_marks(self, is_marked: Callable[..., bool]) -> None:
        if self.record is None:
            return
        for revision in self.record.revisions:
            if revision.commit_hash in self.revisions.rows:
                self.revisions.update_cell(
                    revision.commit_hash, "mark", MARK if is_marked(revision=revision) else " "
                )
        self._relabel(self.file_tree.root, is_marked)

    def show_revision(self, revision: RevisionRecord, *, is_marked: Callable[..., bool]) -> None:
        assert self.record is not None
        self.revision = revision
        blobs = self.record.blobs
        files = [(path, blobs[key][0] if key in blobs else 0) for path, key in revision.files]
        missing = revision.completeness.missing_files
        self.query_one("#files-title", Static).update(
            f"files of {revision.commit_hash[:10]} ({printable(', '.join(sorted(revision.refs))) or 'detached'})"
            + (f" · {len(missing)} not downloaded" if missing else "")
        )
        tree = self.file_tree
        tree.clear()
        self._fill(tree.root, _tree_of(files), "", is_marked)
        if missing:
            absent = tree.root.add(
                Text(
                    f"  not downloaded ({len(missing)}, {size_text(revision.completeness.missing_bytes)})",
                    style="italic",
                )
            )
            for path in missing[:500]:
                absent.add_leaf(Text(f"  ✗ {printable(path)}", style="italic"))
            if len(missing) > 500:
                absent.add_leaf(Text(f"  … {len(missing) - 500} more", style="italic"))
        tree.root.expand()
        for child in tree.root.children:
            if len(tree.root.children) <= 12:
                child.expand()
        # A cursor on the first entry, so `space` marks something as soon as the tree has focus.
        tree.cursor_line = 0 if tree.root.children else -1

    def _fill(
        self, parent: TreeNode[FileEntry], node: dict[str, Any], prefix: str, is_marked: Callable[..., bool]
    ) -> None:
        folders = sorted(k for k in node if k.endswith("/"))
        files = sorted(k for k in node if not k.endswith("/"))
        for name in folders + files:
            child = node[name]
            path = prefix + name.rstrip("/")
            entry = FileEntry(path, isinstance(child, dict), _size(child))
            if entry.is_dir:
                branch = parent.add(self._label(entry, is_marked), data=entry)
                self._fill(branch, child, path + "/", is_marked)
            else:
                parent.add_leaf(self._label(entry, is_marked), data=entry)

    def _label(self, entry: FileEntry, is_marked: Callable[..., bool]) -> Text:
        marked = is_marked(path=entry.path, is_dir=entry.is_dir)
        name = printable(entry.path.rpartition("/")[2]) + ("/" if entry.is_dir else "")
        return Text.assemble(
            (MARK + " " if marked else "  "),
            (name, "bold" if entry.is_dir else ""),
            f"  {size_text(entry.size)}",
        )

    def _relabel(self, node: TreeNode[FileEntry], is_marked: Callable[..., bool]) -> None:
        for child in node.children:
            if child.data is not None:
                child.set_label(self._label(child.data, is_marked))
            self._relabel(child, is_marked)
