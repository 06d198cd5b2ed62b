"""The filter grammar of `hf cache ls -f` (plus name=GLOB), its errors, and sort keys."""

from __future__ import annotations

from pathlib import Path

import pytest
from cachebuilders import add_revision

from hftui.core.cache import filters as filters_module
from hftui.core.cache.filters import (
    Filter,
    FilterError,
    SortSpec,
    matches,
    parse_filter,
    parse_query,
    parse_sort,
    sort_repos,
)
from hftui.core.cache.scan import RepoRecord, scan_cache

NOW = 1_800_000_000.0
DAY = 86_400


def _repo(
    repo_id: str = "Org/Bert-Base",
    repo_type: str = "model",
    size: int = 2_000_000_000,
    accessed_days: float = 40,
    modified_days: float = 3,
    refs: tuple[str, ...] = ("main", "v1.0"),
) -> RepoRecord:
    from hftui.core.cache.records import UNKNOWN_COMPLETENESS, RevisionRecord

    record = RepoRecord(f"/c/{repo_type}s--{repo_id.replace('/', '--')}", f"{repo_type}s--{repo_id}")
    record.repo_id, record.repo_type = repo_id, repo_type
    record.blobs = {"blobs/x": (size, NOW - accessed_days * DAY, NOW - modified_days * DAY)}
    record.size_on_disk = size
    record.last_accessed = NOW - accessed_days * DAY
    record.last_modified = NOW - modified_days * DAY
    record.revisions = (
        RevisionRecord(
            record.repo_path,
            "a" * 40,
            "/s",
            frozenset(refs),
            (("x", "blobs/x"),),
            size,
            record.last_modified,
            UNKNOWN_COMPLETENESS,
        ),
    )
    return record


def test_units_are_the_librarys() -> None:
    from huggingface_hub.utils._parsing import BYTE_UNITS, TIME_UNITS

    assert filters_module.BYTE_UNITS == BYTE_UNITS
    assert filters_module.TIME_UNITS == TIME_UNITS


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("size>1GB", True),
        ("size>1.5gb", True),
        ("size>=2000000000", True),
        ("size>2g", False),
        ("size<3G", True),
        ("size<=1999999999", False),
        ("size=2GB", True),
        ("size!=2GB", False),
        ("size > 500 MB", True),
        ("size>1TB", False),
        ("size<1p", True),
        ("size>1000k", True),
        ("size>1kb", True),
        ("size>1m", True),
        ("size>1t", False),
        ("size>1pb", False),
        ("accessed>30d", True),
        ("accessed>6w", False),
        ("accessed<2mo", True),
        ("accessed<1y", True),
        ("accessed>=40d", True),
        ("accessed<=39d", False),
        ("accessed>3455999", True),
        ("accessed!=1h", True),
        ("accessed=40d", True),
        ("modified<1w", True),
        ("modified>2d", True),
        ("modified>3600s", True),
        ("modified<60m", False),
        ("modified<73h", True),
        ("type=model", True),
        ("TYPE=Model", True),
        ("type=dataset", False),
        ("refs=main", True),
        ("refs=V1.0", True),
        ("refs=dev", False),
        ("name=org/bert*", True),
        ("name=*BERT*", True),
        ("name=bert*", False),
        ("name!=*gpt*", True),
        ("name=org/bert-bas?", True),
    ],
)
def test_each_key_and_operator(text: str, expected: bool) -> None:
    assert matches(_repo(), [parse_filter(text)], now=NOW) is expected


def test_filters_are_anded_and_revisions_use_their_own_figures() -> None:
    repo = _repo()
    assert matches(repo, [parse_filter("type=model"), parse_filter("size>1GB")], now=NOW)
    assert not matches(repo, [parse_filter("type=model"), parse_filter("size>3GB")], now=NOW)
    revision = repo.revisions[0]
    assert matches(repo, [parse_filter("refs=v1.0")], now=NOW, revision=revision)
    assert matches(repo, [], now=NOW)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("size>1.5XB", "unknown unit 'XB' in 'size>1.5XB': size units are k, kb, m, mb, g, gb, t, tb, p, pb"),
        (
            "foo=bar",
            "unknown key 'foo' in 'foo=bar': valid keys are accessed, modified, name, refs, size, type",
        ),
        ("accessed>", "missing value after '>' in 'accessed>'"),
        ("accessed>3x", "unknown unit 'x' in 'accessed>3x': age units are s, m, h, d, w, mo, y"),
        ("size>big", "invalid size 'big' in 'size>big': expected a number with an optional unit, e.g. 500MB"),
        ("size==1", "unknown operator '==' in 'size==1': use one of = != > < >= <="),
        ("type>model", "only '=' works with 'type' (got '>' in 'type>model')"),
        ("refs!=main", "only '=' works with 'refs' (got '!=' in 'refs!=main')"),
        ("name>a", "only '=' and '!=' work with 'name' (got '>' in 'name>a')"),
        ("type=modle", "unknown type 'modle' in 'type=modle': use one of model, dataset, space, kernel"),
        ("bert", "missing operator in 'bert': expected KEY OP VALUE, e.g. size>1GB"),
        ("", "empty filter"),
        ("=5", "invalid filter '=5'"),
    ],
)
def test_bad_filters_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(FilterError) as info:
        parse_filter(text)
    assert str(info.value).startswith(message)


def test_query_box_accepts_free_text() -> None:
    query = parse_query("bert size>1GB")
    assert [f.key for f in query] == ["text", "size"]
    assert matches(_repo(), query, now=NOW)
    assert not matches(_repo(), parse_query("gpt"), now=NOW)
    assert matches(_repo(repo_type="dataset"), parse_query("dataset/org"), now=NOW)
    assert parse_query("") == []
    with pytest.raises(FilterError, match="unknown key"):
        parse_query("bert foo=1")
    assert isinstance(parse_query("'org/bert base'")[0], Filter)


def test_sort_keys_and_default_orders(tmp_path: Path) -> None:
    assert parse_sort("size") == SortSpec("size", True)
    assert parse_sort("name") == SortSpec("name", False)
    assert parse_sort("accessed:asc") == SortSpec("accessed", False)
    assert parse_sort("MODIFIED:desc") == SortSpec("modified", True)
    assert parse_sort("files") == SortSpec("files", True)
    for bad, message in (("colour", "unknown sort key 'colour'"), ("size:up", "unknown sort order 'up'")):
        with pytest.raises(FilterError, match=message):
            parse_sort(bad)

    repos = [
        _repo("a/small", size=10, accessed_days=1, modified_days=9),
        _repo("c/big", size=1000, accessed_days=5, modified_days=1),
        _repo("b/mid", size=100, accessed_days=3, modified_days=5),
    ]
    names = lambda spec: [r.repo_id for r in sort_repos(repos, parse_sort(spec))]  # noqa: E731
    assert names("size") == ["c/big", "b/mid", "a/small"]
    assert names("size:asc") == ["a/small", "b/mid", "c/big"]
    assert names("name") == ["a/small", "b/mid", "c/big"]
    assert names("accessed") == ["a/small", "b/mid", "c/big"]
    assert names("modified") == ["c/big", "b/mid", "a/small"]

    cache = tmp_path / "hub"
    cache.mkdir()
    add_revision(cache, "x/many", {f"f{i}": b"%d" % i for i in range(5)})
    add_revision(cache, "x/few", {"f": b"big" * 100})
    report = scan_cache(cache)
    assert [r.repo_id for r in sort_repos(report.repos, parse_sort("files"))] == ["x/many", "x/few"]
    assert [r.repo_id for r in sort_repos(report.repos)] == ["x/few", "x/many"]
