"""Textual internals hftui relies on, in one module (the core never imports Textual).

Checked against textual 8.2.8. `tests/test_compat.py` fails if an upgrade removes one of them.

`Tree` caches rendered lines keyed by its own and its nodes' update counters, so a label that
depends on state *outside* the nodes (which files the patterns match, which are on disk) is not
redrawn by `refresh()`: the cache must be dropped. Textual has no public call for that short of
rebuilding every node (`clear()`), which would lose the expansion state and cost ~1 s for 10k nodes.
"""

from __future__ import annotations

from typing import Any

from textual.widgets import Tree

CHECKED_AGAINST = {"textual": "8.2.8"}


def repaint_tree_lines(tree: Tree[Any]) -> None:
    """Redraw every line of `tree` on its next paint (labels changed, widths did not)."""
    tree._line_cache.clear()
    tree.refresh()


def remeasure_tree(tree: Tree[Any]) -> None:
    """Rebuild `tree`'s lines and widths (labels changed width), keeping nodes and their expansion."""
    tree._invalidate()


__all__ = ["CHECKED_AGAINST", "remeasure_tree", "repaint_tree_lines"]
