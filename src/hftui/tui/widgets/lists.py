"""The list widgets of hftui: one set of list keys (up/down/pgup/pgdn/home/end and j k g G) everywhere."""

from __future__ import annotations

from typing import Any, ClassVar, TypeVar

from textual.binding import BindingType
from textual.widgets import DataTable, OptionList, Tree

from hftui.tui.keyboard import OPTION_KEYS, TABLE_KEYS, TREE_KEYS

T = TypeVar("T")


class ListTable(DataTable[Any]):
    """A row-cursor table: `home`/`g` first row, `end`/`G` last row, `j`/`k` down/up."""

    BINDINGS: ClassVar[list[BindingType]] = TABLE_KEYS


class ListTree(Tree[T]):
    """A tree with the list keys (`home`/`end` already move its cursor; `g`/`G`/`j`/`k` join them)."""

    BINDINGS: ClassVar[list[BindingType]] = TREE_KEYS


class ListOptions(OptionList):
    """An option list (modals, search results) with the list keys."""

    BINDINGS: ClassVar[list[BindingType]] = OPTION_KEYS


__all__ = ["ListOptions", "ListTable", "ListTree"]
