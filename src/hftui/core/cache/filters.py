"""Filters and sort keys for cache listings: the grammar of `hf cache ls -f/--sort`, plus `name=GLOB`.

A filter is `KEY OP VALUE`:

* `size` (`=`, `!=`, `>`, `<`, `>=`, `<=`): bytes, with an optional unit k/kb, m/mb, g/gb, t/tb,
  p/pb (powers of 1000, case-insensitive, as `hf` parses them). A value without a unit is read
  the way `hf` reads it, with Python's `int()` (so `1_000`, `+5` and ` 7 ` are numbers);
  decimals such as `1.5GB` are accepted too (an extension: `hf` only takes integers).
* `accessed`, `modified` (same operators): an age, compared with `now - timestamp`, with units
  s, m, h, d, w, mo, y (a plain number is seconds). `accessed>30d` = not used for 30 days.
* `type=model|dataset|space|kernel`, `refs=NAME` (`=` only, case-insensitive, as in `hf`).
* `name=GLOB` / `name!=GLOB`: `fnmatch` on the repo id, case-insensitive (ours).
* `update=available` / `update!=…` (ours): the update check's state (`available`, `up-to-date`,
  `ref-gone`, `repo-gone`, `not-checked`); callers pass the check's results as `updates`.

Several filters are ANDed. `parse_query` reads the TUI's filter box, where a word without an
operator matches as a substring of the repo id. Errors are `FilterError`s whose message says
what is wrong and what would be right.
"""

from __future__ import annotations

import fnmatch
import re
import shlex
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from hftui.core.compat import BYTE_UNITS, TIME_UNITS
from hftui.core.vocab import REPO_TYPES

if TYPE_CHECKING:
    from hftui.core.cache.scan import RepoRecord, RevisionRecord

__all__ = [
    "FILTER_KEYS",
    "SORT_KEYS",
    "Filter",
    "FilterError",
    "SortSpec",
    "matches",
    "parse_cli_filter",
    "parse_filter",
    "parse_query",
    "parse_sort",
    "sort_repos",
    "sort_revisions",
]


FILTER_KEYS = ("accessed", "modified", "name", "refs", "size", "type", "update")
OPERATORS = ("=", "!=", ">", "<", ">=", "<=")

SORT_KEYS = ("accessed", "files", "modified", "name", "size", "update")
# `update` ascending = most urgent first (update available, biggest fetch first; up to date last).
_DEFAULT_DESCENDING = {
    "accessed": True,
    "files": True,
    "modified": True,
    "size": True,
    "name": False,
    "update": False,
}

_FILTER = re.compile(r"\s*(?P<key>[A-Za-z_]+)\s*(?P<op>==|!=|>=|<=|>|<|=)\s*(?P<value>.*?)\s*")
_OPERATOR_CHARS = re.compile(r"[=!<>]")
_QUANTITY = re.compile(r"(?P<number>\d+(?:\.\d+)?|\.\d+)\s*(?P<unit>[A-Za-z]*)")
_SORT = re.compile(r"\s*(?P<key>[A-Za-z_]+)\s*(?::\s*(?P<order>[A-Za-z]*)\s*)?")


class FilterError(ValueError):
    """A filter or sort expression that cannot be used; the message is one line for the user."""


Op = Literal["=", "!=", ">", "<", ">=", "<=", "~"]


@dataclass(frozen=True)
class Filter:
    """One parsed condition. `number` holds bytes or seconds for size/time keys; `text` the
    lower-cased value for the others. `op == "~"` is the free-text substring match."""

    key: str
    op: Op
    text: str
    number: float = 0.0
    source: str = ""

    def __str__(self) -> str:
        return self.source or f"{self.key}{self.op}{self.text}"

    def matches(
        self,
        repo: RepoRecord,
        revision: RevisionRecord | None = None,
        *,
        now: float | None = None,
        updates: Mapping[str, Any] | None = None,
    ) -> bool:
        key = self.key
        if key == "update":
            found = (updates or {}).get(repo.cache_id)
            state = found.state if found is not None else "not checked"
            return (state == self.text) == (self.op == "=")
        if key == "size":
            size = revision.size_on_disk if revision is not None else repo.size_on_disk
            return _compare(size, self.op, self.number)
        if key in ("accessed", "modified"):
            if key == "accessed":
                timestamp = repo.last_accessed
            else:
                timestamp = revision.last_modified if revision is not None else repo.last_modified
            return _compare((time.time() if now is None else now) - timestamp, self.op, self.number)
        if key == "type":
            return (repo.repo_type or "") == self.text
        if key == "refs":
            refs = revision.refs if revision is not None else repo.refs
            return self.text in {ref.lower() for ref in refs}
        if key == "name":
            hit = fnmatch.fnmatchcase(repo.repo_id.lower(), self.text)
            return hit if self.op == "=" else not hit
        # free text
        return self.text in repo.repo_id.lower() or self.text in repo.cache_id.lower()


def _compare(left: float, op: str, right: float) -> bool:
    if op == "=":
        return left == right
    if op == "!=":
        return left != right
    if op == ">":
        return left > right
    if op == "<":
        return left < right
    if op == ">=":
        return left >= right
    return left <= right


def _quantity(value: str, expr: str, units: dict[str, int], what: str, example: str) -> float:
    try:
        return int(value)  # hf's first try (`_parse_with_unit`): underscores, a sign, spaces
    except ValueError:
        pass
    match = _QUANTITY.fullmatch(value)
    if match is None:
        raise FilterError(
            f"invalid {what} '{value}' in '{expr}': expected a number with an optional unit, e.g. {example}"
        )
    unit = match.group("unit").lower()
    if unit and unit not in units:
        raise FilterError(
            f"unknown unit '{match.group('unit')}' in '{expr}': {what} units are {', '.join(units)}"
        )
    return float(match.group("number")) * (units[unit] if unit else 1)


def parse_filter(text: str) -> Filter:
    """Parse one `KEY OP VALUE` filter; raise `FilterError` saying what is wrong."""
    expr = text.strip()
    if not expr:
        raise FilterError("empty filter: expected KEY OP VALUE, e.g. size>1GB")
    match = _FILTER.fullmatch(expr)
    if match is None:
        if not _OPERATOR_CHARS.search(expr):
            raise FilterError(
                f"missing operator in '{expr}': expected KEY OP VALUE, e.g. size>1GB (keys: {', '.join(FILTER_KEYS)})"
            )
        raise FilterError(f"invalid filter '{expr}': expected KEY OP VALUE, e.g. size>1GB or name=*bert*")
    key = match.group("key").lower()
    op = match.group("op")
    value = match.group("value")
    if key not in FILTER_KEYS:
        raise FilterError(
            f"unknown key '{match.group('key')}' in '{expr}': valid keys are {', '.join(FILTER_KEYS)}"
        )
    if op == "==":
        raise FilterError(f"unknown operator '==' in '{expr}': use one of {' '.join(OPERATORS)}")
    if not value:
        raise FilterError(f"missing value after '{op}' in '{expr}'")
    if key == "size":
        return Filter(key, op, value, _quantity(value, expr, BYTE_UNITS, "size", "500MB"), expr)  # type: ignore[arg-type]
    if key in ("accessed", "modified"):
        return Filter(key, op, value, _quantity(value, expr, TIME_UNITS, "age", "30d"), expr)  # type: ignore[arg-type]
    if key == "update":
        from hftui.core.hub.updates import filter_state

        if op not in ("=", "!="):
            raise FilterError(f"only '=' and '!=' work with 'update' (got '{op}' in '{expr}')")
        try:
            return Filter(key, op, filter_state(value), source=expr)  # type: ignore[arg-type]
        except ValueError as exc:
            raise FilterError(f"{exc} (in '{expr}')") from None
    if key == "name":
        if op not in ("=", "!="):
            raise FilterError(f"only '=' and '!=' work with 'name' (got '{op}' in '{expr}')")
        return Filter(key, op, value.lower(), source=expr)  # type: ignore[arg-type]
    if op != "=":
        raise FilterError(f"only '=' works with '{key}' (got '{op}' in '{expr}')")
    if key == "type" and value.lower() not in REPO_TYPES:
        raise FilterError(f"unknown type '{value}' in '{expr}': use one of {', '.join(REPO_TYPES)}")
    return Filter(key, "=", value.lower(), source=expr)


def parse_query(text: str) -> list[Filter]:
    """Parse the TUI's filter box: space-separated filters, where a word without an operator
    matches as a case-insensitive substring of the repo id."""
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise FilterError(f"unbalanced quotes in '{text}'") from exc
    filters = []
    for word in words:
        if _OPERATOR_CHARS.search(word):
            filters.append(parse_filter(word))
        else:
            filters.append(Filter("text", "~", word.lower(), source=word))
    return filters


def parse_cli_filter(text: str) -> list[Filter]:
    """One `-f` of `hftui scan`: a whole `KEY OP VALUE` is one filter, exactly as `hf cache ls -f`
    reads it (`size= 1000` included); anything else is read like the TUI's filter box, so a bare
    word (`org1/`) matches inside the repo id and `"org1/ size>1GB"` ANDs two terms."""
    if _FILTER.fullmatch(text):
        return [parse_filter(text)]
    return parse_query(text)


def matches(
    repo: RepoRecord,
    filters: Iterable[Filter],
    *,
    now: float | None = None,
    revision: RevisionRecord | None = None,
    updates: Mapping[str, Any] | None = None,
) -> bool:
    """True when the repo (or one of its revisions, if given) passes every filter. `updates` maps
    `type/id` to the update check's `RepoUpdate` (for `update=`; a repo not in it is "not checked")."""
    now = time.time() if now is None else now
    return all(item.matches(repo, revision, now=now, updates=updates) for item in filters)


@dataclass(frozen=True)
class SortSpec:
    key: str = "size"
    descending: bool = True

    def __str__(self) -> str:
        return f"{self.key}:{'desc' if self.descending else 'asc'}"


def parse_sort(text: str) -> SortSpec:
    """`KEY[:asc|:desc]` with KEY one of size, name, accessed, modified, files. Without an order,
    names sort ascending and the others descending (biggest, newest first), like `hf cache ls`."""
    match = _SORT.fullmatch(text)
    if match is None:
        raise FilterError(f"invalid sort '{text}': expected KEY[:asc|:desc], e.g. size:desc")
    key = match.group("key").lower()
    if key not in SORT_KEYS:
        raise FilterError(f"unknown sort key '{match.group('key')}': valid keys are {', '.join(SORT_KEYS)}")
    order = match.group("order")
    if order is None:
        return SortSpec(key, _DEFAULT_DESCENDING[key])
    if order.lower() not in ("asc", "desc"):
        raise FilterError(f"unknown sort order '{order}' in '{text}': use asc or desc")
    return SortSpec(key, order.lower() == "desc")


def _sort_value(
    spec: SortSpec,
    repo: RepoRecord,
    revision: RevisionRecord | None,
    updates: Mapping[str, Any] | None = None,
) -> Any:
    key = spec.key
    if key == "update":
        from hftui.core.hub.updates import urgency

        return urgency((updates or {}).get(repo.cache_id))
    if key == "name":
        return repo.cache_id.lower()
    if key == "accessed":
        return repo.last_accessed  # no per-revision access time, as in hf
    if key == "size":
        return revision.size_on_disk if revision is not None else repo.size_on_disk
    if key == "files":
        return revision.nb_files if revision is not None else repo.nb_files
    return revision.last_modified if revision is not None else repo.last_modified


def sort_repos(
    repos: Sequence[RepoRecord], spec: SortSpec = SortSpec(), *, updates: Mapping[str, Any] | None = None
) -> list[RepoRecord]:
    """Sorted copy, ordered as `hf cache ls --sort` orders: rows start sorted by `type/id` and the
    sort is stable, so ties stay in `type/id` order (case-sensitive, also when descending)."""
    by_id = sorted(repos, key=lambda repo: repo.cache_id)
    return sorted(by_id, key=lambda repo: _sort_value(spec, repo, None, updates), reverse=spec.descending)


def sort_revisions(
    entries: Iterable[tuple[RepoRecord, RevisionRecord]],
    spec: SortSpec = SortSpec(),
    *,
    updates: Mapping[str, Any] | None = None,
) -> list[tuple[RepoRecord, RevisionRecord]]:
    """Revision rows sorted across repos (`hf cache ls --revisions --sort`): ties stay in
    (`type/id`, commit hash) order."""
    base = sorted(entries, key=lambda entry: (entry[0].cache_id, entry[1].commit_hash))
    return sorted(
        base, key=lambda entry: _sort_value(spec, entry[0], entry[1], updates), reverse=spec.descending
    )
