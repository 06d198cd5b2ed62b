"""RepoTree: the files of one repo revision, filled lazily, one folder (and one page) at a time.

`node.data` is a `RemoteFile`, a `RemoteFolder` or a `MoreNode` ("… N more"). Labels are drawn by
`render_label` from the tree's view state - matched paths, folder totals, local cache state - so a pattern
change only repaints visible lines; nothing is rebuilt.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.cells import cell_len
from rich.style import Style
from rich.text import Text
from textual import events
from textual.message import Message
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from hftui.core import vocab
from hftui.core.hub.browse_index import FolderIndex, RemoteFolder
from hftui.core.hub.browse_local import LocalIndex
from hftui.core.hub.remote import RemoteFile
from hftui.tui import actions
from hftui.tui.compat import remeasure_tree, repaint_tree_lines
from hftui.tui.keyboard import has_focus_now
from hftui.tui.widgets.lists import ListTree

PAGE = 200
"""Children added per folder expansion (and per "more" line): keeps each UI step far below 100 ms."""


@dataclass(frozen=True)
class MoreNode:
    folder: str
    offset: int
    remaining: int


NodeData = RemoteFile | RemoteFolder | MoreNode


def other_text(where: str | None) -> str:
    """``in v1.0`` (cached for another revision) or ``same as a/b.bin`` (same blob at another path here)."""
    if where and where.startswith("="):
        return f"same as {where[1:]}"
    return f"in {where or 'another revision'}"


class RepoTree(ListTree[NodeData]):
    """The repo's files. `space` toggles selection, `enter` queues, `right`/`left` open and close folders."""

    DEFAULT_CSS = """
    RepoTree { height: 1fr; border: round $panel; }
    RepoTree:focus { border: round $primary; }
    """

    BINDINGS = actions.bindings("browse.tree")
    ACTION_SCOPE = "browse.tree"
    NEEDS_LISTING = frozenset({"toggle_selection", "queue", "open_folder", "close_folder"})

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # Selecting and queueing need a listing: before one is shown these keys leave the footer.
        return self.index is not None or action not in self.NEEDS_LISTING

    def why_disabled(self, action: str) -> str | None:
        if action in self.NEEDS_LISTING and self.index is None:
            return "No file list yet: press o to type a repo (or / to search the Hub)."
        return None

    @dataclass
    class ToggleRequested(Message):
        tree: RepoTree
        path: str
        is_folder: bool

        @property
        def control(self) -> RepoTree:
            return self.tree

    @dataclass
    class QueueRequested(Message):
        tree: RepoTree

        @property
        def control(self) -> RepoTree:
            return self.tree

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("(no repo)", id=id)
        self.show_root = True
        self.guide_depth = 3
        self.index: FolderIndex | None = None
        self.local: LocalIndex | None = None
        self.matched: frozenset[str] = frozenset()
        self.matched_totals: dict[str, tuple[int, int]] = {}
        self.auto_expand = False
        self.held_keys: list[events.Key] | None = None
        """Keys typed while the listing loads (None: not loading); replayed, in order, once it shows."""

    # -- filling -----------------------------------------------------------------------------------

    def show_listing(self, label: str, index: FolderIndex, local: LocalIndex | None) -> None:
        """Replace the tree with a new listing: only the root's first page of children is created."""
        self.index = index
        self.local = local
        self.clear()
        self.root.set_label(Text(label))
        self.root.data = RemoteFolder("")
        self.root.expand()
        self._fill(self.root, "", 0)
        self.cursor_line = 0
        self.refresh_bindings()

    # -- type-ahead while a listing loads ------------------------------------------------------------

    def hold_keys(self) -> None:
        """From now until `release_keys`, keys that reach the tree wait (its listing is on the way)."""
        if self.held_keys is None:
            self.held_keys = []

    def release_keys(self) -> list[events.Key]:
        """The listing is shown: the keys typed meanwhile, to act on it now in the order typed (the
        pane replays them through the app's key gate)."""
        keys, self.held_keys = self.held_keys or [], None
        if not has_focus_now(self):
            return []  # the user moved on (F-key, mouse): keys meant for this tree go nowhere else
        return keys

    def drop_keys(self) -> int:
        """The listing failed: keys typed for it are dropped (never run on another widget)."""
        keys, self.held_keys = self.held_keys or [], None
        return len(keys)

    def on_key(self, event: events.Key) -> None:
        if self.held_keys is None:
            return
        if event.key == "escape":
            self.held_keys = []  # escape cancels what was typed ahead, and acts as usual
            return
        self.held_keys.append(event)
        event.stop()
        event.prevent_default()

    def show_empty(self, label: str) -> None:
        self.index = None
        self.clear()
        self.root.set_label(Text(label))
        self.root.data = None
        self.refresh_bindings()

    def _fill(self, node: TreeNode[NodeData], folder: str, offset: int) -> None:
        assert self.index is not None
        children = self.index.children(folder)
        page = children[offset : offset + PAGE]
        for child in page:
            # Text labels: a file name is never parsed as markup (and from_markup is the costly part of add).
            if isinstance(child, RemoteFolder):
                node.add(Text(child.name), child, allow_expand=True)
            else:
                node.add_leaf(Text(child.path.rsplit("/", 1)[-1]), child)
        rest = len(children) - offset - len(page)
        if rest > 0:
            node.add_leaf(Text(f"… {rest:,} more (enter)"), MoreNode(folder, offset + len(page), rest))

    def _on_tree_node_expanded(self, event: Tree.NodeExpanded[NodeData]) -> None:
        node = event.node
        if isinstance(node.data, RemoteFolder) and not node.children and node is not self.root:
            self._fill(node, node.data.path, 0)

    def expand_more(self, node: TreeNode[NodeData]) -> None:
        if not isinstance(node.data, MoreNode) or node.parent is None:
            return
        parent, more = node.parent, node.data
        node.remove()
        self._fill(parent, more.folder, more.offset)

    def reveal(self, folder: str) -> None:
        """Expand the folders down to `folder` and put the cursor there."""
        if self.index is None or not folder:
            return
        node = self.root
        parts = folder.strip("/").split("/")
        for i in range(len(parts)):
            path = "/".join(parts[: i + 1])
            child = next(
                (c for c in node.children if isinstance(c.data, RemoteFolder) and c.data.path == path), None
            )
            if child is None:
                return
            if not child.children:
                self._fill(child, path, 0)
            child.expand()
            node = child
        self.move_cursor(node)

    # -- view state ----------------------------------------------------------------------------------

    def set_view(
        self,
        *,
        matched: frozenset[str] | None = None,
        matched_totals: dict[str, tuple[int, int]] | None = None,
        local: LocalIndex | None = None,
    ) -> None:
        if matched is not None:
            self.matched = matched
        if matched_totals is not None:
            self.matched_totals = matched_totals
        if local is not None:
            self.local = local
            remeasure_tree(self)  # line widths depend on the local marks
        # The line cache is keyed by node updates, not by our view state.
        repaint_tree_lines(self)

    def _node_text(self, data: NodeData | None, name: str) -> Text:
        if isinstance(data, RemoteFile):
            selected = data.path in self.matched
            text = Text("● " if selected else "○ ", style="bold green" if selected else "dim")
            text.append(name, style="bold" if selected else "")
            text.append(f"  {vocab.size(data.size)}", style="dim")
            if data.is_lfs:
                text.append(" LFS", style="cyan")
            state = self.local.state(data.path) if self.local is not None else "missing"
            if state == "cached":
                text.append("  ✓ cached", style="green")
            elif state == "other" and self.local is not None:
                text.append(f"  ◐ {other_text(self.local.other_revision.get(data.path))}", style="yellow")
            return text
        if isinstance(data, RemoteFolder):
            total = self.index.totals.get(data.path, (0, 0)) if self.index is not None else (0, 0)
            got = self.matched_totals.get(data.path, (0, 0))
            if got[0] == 0:
                mark, style = "○ ", "dim"
            elif got[0] == total[0]:
                mark, style = "● ", "bold green"
            else:
                mark, style = "◐ ", "bold yellow"
            text = Text(mark, style=style)
            text.append(f"{name}/" if data.path else name, style="bold")
            text.append(f"  {vocab.count(total[0], 'file')}, {vocab.size(total[1])}", style="dim")
            if 0 < got[0] < total[0]:
                text.append(f"  ({got[0]:,} selected, {vocab.size(got[1])})", style="yellow")
            return text
        if isinstance(data, MoreNode):
            return Text(name, style="italic dim")
        return Text(name)

    def render_label(self, node: TreeNode[NodeData], base_style: Style, style: Style) -> Text:
        text = self._node_text(node.data, str(node.label))
        text.stylize(style)
        if node.allow_expand:
            prefix = (
                self.ICON_NODE_EXPANDED if node.is_expanded else self.ICON_NODE,
                base_style + Style(bold=True),
            )
            return Text.assemble(prefix, text)
        return text

    def get_label_width(self, node: TreeNode[NodeData]) -> int:
        # Called for every line on each rebuild: computed from the parts `_node_text` draws, without building
        # the Text. Exact for files (a fixed +48 made a horizontal scrollbar appear on nearly every 80-column
        # screen, taking one of the few tree lines); folders leave out the "(N selected, X)" note.
        data = node.data
        width = cell_len(str(node.label)) + 2
        if isinstance(data, RemoteFile):
            width += 2 + len(vocab.size(data.size)) + (4 if data.is_lfs else 0)
            state = self.local.state(data.path) if self.local is not None else "missing"
            if state == "cached":
                width += 10
            elif state == "other" and self.local is not None:
                width += 4 + cell_len(other_text(self.local.other_revision.get(data.path)))
        elif isinstance(data, RemoteFolder):
            total = self.index.totals.get(data.path, (0, 0)) if self.index is not None else (0, 0)
            width += 1 + 2 + len(f"{vocab.count(total[0], 'file')}, {vocab.size(total[1])}")
        if node.allow_expand:
            width += 2
        return width

    # -- actions -------------------------------------------------------------------------------------

    def cursor_target(self) -> tuple[str, bool] | None:
        node = self.cursor_node
        if node is None:
            return None
        if isinstance(node.data, RemoteFile):
            return node.data.path, False
        if isinstance(node.data, RemoteFolder):
            return node.data.path, True
        return None

    def action_toggle_selection(self) -> None:
        target = self.cursor_target()
        if target is not None:
            self.post_message(self.ToggleRequested(self, target[0], target[1]))

    def action_queue(self) -> None:
        node = self.cursor_node
        if node is not None and isinstance(node.data, MoreNode):
            self.expand_more(node)
            return
        self.post_message(self.QueueRequested(self))

    def action_open_folder(self) -> None:
        node = self.cursor_node
        if node is None:
            return
        if isinstance(node.data, MoreNode):
            self.expand_more(node)
        elif node.allow_expand and not node.is_expanded:
            node.expand()
        elif node.children:
            self.move_cursor(node.children[0])

    def action_close_folder(self) -> None:
        node = self.cursor_node
        if node is None:
            return
        if node.allow_expand and node.is_expanded and node is not self.root:
            node.collapse()
        elif node.parent is not None:
            self.move_cursor(node.parent)

    def selected_folder(self) -> str:
        """The folder under the cursor, or the folder of the file under the cursor ("" = root)."""
        node = self.cursor_node
        if node is None:
            return ""
        if isinstance(node.data, RemoteFolder):
            return node.data.path
        if isinstance(node.data, RemoteFile):
            return node.data.path.rsplit("/", 1)[0] if "/" in node.data.path else ""
        if isinstance(node.data, MoreNode):
            return node.data.folder
        return ""


__all__ = ["PAGE", "MoreNode", "RepoTree"]
