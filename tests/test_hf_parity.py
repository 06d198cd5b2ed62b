"""`hftui scan` orders and filters rows exactly as `hf cache ls` does (issue 12.5).

The oracle is huggingface_hub's own CLI code (`collect_cache_entries`, `compile_cache_sort`,
`compile_cache_filter`) run on `scan_cache_dir`; hftui's side runs through `hftui scan`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cachebuilders import add_revision

from hftui.cli import main

SORTS = ["size", "size:asc", "modified", "modified:asc", "accessed", "name", "name:desc"]
FILTERS = [
    "size>1_000",
    "size>+5",
    "size>=1k",
    "size<2KB",
    "size= 1000",
    "size!=1000",
    "modified<1_000_000",
    "accessed>+0",
    "type=model",
    "refs=main",
    "refs=V1",
]


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    root = tmp_path / "hub"
    root.mkdir()
    # Equal sizes across repos and revisions, ids differing only in case: every sort has ties.
    for repo in ("Org/B", "org/a", "org/C", "org/a-bis"):
        add_revision(root, repo, {"w.bin": 1000, "c.json": repo.encode()[:1]})
        add_revision(root, repo, {"w.bin": 1000, "x.json": b"x"}, refs=("v1",))
    add_revision(root, "org/big", {"w.bin": 5000})
    add_revision(root, "org/data", {"d.bin": 1000}, repo_type="dataset", refs=())
    add_revision(root, "org/zero", {"e.bin": b""})
    return root


def _hf_rows(cache: Path, sort: str | None, filters: list[str], *, revisions: bool) -> list[tuple[str, str]]:
    import time

    from huggingface_hub import scan_cache_dir
    from huggingface_hub.cli.cache import collect_cache_entries, compile_cache_filter, compile_cache_sort

    entries, refs_map = collect_cache_entries(scan_cache_dir(cache), include_revisions=revisions)
    now = time.time()
    for expr in filters:
        test = compile_cache_filter(expr, refs_map)
        entries = [(repo, rev) for repo, rev in entries if test(repo, rev, now)]
    if sort:
        key, reverse = compile_cache_sort(sort)
        entries.sort(key=key, reverse=reverse)
    return [(repo.cache_id, rev.commit_hash[:12] if rev is not None else "") for repo, rev in entries]


def _our_rows(
    cache: Path, sort: str, filters: list[str], *, revisions: bool, capsys: pytest.CaptureFixture[str]
) -> list[tuple[str, str]]:
    argv = ["scan", "--cache-dir", str(cache), "--sort", sort]
    for expr in filters:
        argv += ["-f", expr]
    capsys.readouterr()
    if revisions:
        assert main([*argv, "--revisions"]) == 0
        lines = capsys.readouterr().out.splitlines()
        rows = lines[2 : lines.index("")]
        return [(row.split()[0], row.split()[1]) for row in rows]
    assert main([*argv, "--json"]) == 0
    return [(repo["cache_id"], "") for repo in json.loads(capsys.readouterr().out)["repos"]]


@pytest.mark.parametrize("revisions", [False, True])
@pytest.mark.parametrize("sort", SORTS)
def test_sort_order_is_hfs(
    cache: Path, sort: str, revisions: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    expected = _hf_rows(cache, sort, [], revisions=revisions)
    assert len(expected) == (11 if revisions else 7)
    assert _our_rows(cache, sort, [], revisions=revisions, capsys=capsys) == expected


@pytest.mark.parametrize("revisions", [False, True])
@pytest.mark.parametrize("expr", FILTERS)
def test_filter_grammar_and_matches_are_hfs(
    cache: Path, expr: str, revisions: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    expected = _hf_rows(cache, "size", [expr], revisions=revisions)
    assert _our_rows(cache, "size", [expr], revisions=revisions, capsys=capsys) == expected


def test_hf_accepts_what_we_accept_for_numbers() -> None:
    """Our number reading is hf's (int() first), plus decimals: both sides agree on every integer form."""
    from huggingface_hub.utils._parsing import parse_duration, parse_size

    from hftui.core.cache.filters import parse_filter

    for value in ("1_000", "+5", " 7", "0", "12kb", "3GB", "-1"):
        assert parse_filter(f"size>{value}").number == parse_size(value)
    for value in ("1_000", "+5", "30d", "2mo", "1w"):
        assert parse_filter(f"accessed>{value}").number == parse_duration(value)
    assert parse_filter("size>1.5GB").number == 1_500_000_000  # our extension
