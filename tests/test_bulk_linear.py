"""Bulk deletions scale linearly (issue 17): counted, not timed.

Pruning the detached revisions of N repos and of 4N repos: the repos the scanner visits, the
shared-store listings, the writer checks and the /proc walks of the execution grow at most 4x (a
per-repo cost), never 16x (a per-repo cost that itself grows with the cache).

Planning too: each repo whose kept revision reaches the shared store protects a payload, and
planning once tested every repo against every protected target (`path_in`), so planning the prune
of 5,000 repos took 10 s against 0.6 s for 1,000."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cachebuilders import add_revision

from hftui.core.cache import cleanup, writers
from hftui.core.cache import scan as scan_module
from hftui.core.cache.cleanup import (
    ExecutionReport,
    Mark,
    cross_links,
    execute_plan,
    plan_deletion,
    plan_detached,
)
from hftui.core.cache.scan import scan_cache


def _build(cache: Path, n: int) -> None:
    for i in range(n):
        repo = f"org/m{i}"
        # Every other kept revision keeps its weights in the shared store: the plan protects them.
        add_revision(cache, repo, {"config.json": b"{}", "w.bin": f"new {i}".encode()}, store=i % 2 == 0)
        add_revision(cache, repo, {"config.json": b"{}", "w.bin": f"old {i}".encode()}, refs=())
    # Every fourth repo keeps its weights in the shared blob store, as Xet downloads do.
    for i in range(0, n, 4):
        add_revision(cache, f"org/s{i}", {"big.bin": f"payload {i}".encode()}, store=True)


def _counting(counts: Counter[str], name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        counts[name] += 1
        return function(*args, **kwargs)

    return wrapper


def _counts(
    tmp_path: Path, n: int, monkeypatch: pytest.MonkeyPatch, *, whole_repos: bool = False
) -> Counter[str]:
    """The work of pruning the detached revisions of n repos (`whole_repos`: of deleting the n
    repos, every one marked, as the Cache pane does after marking them all)."""
    cache = tmp_path / f"hub-{n}-{whole_repos}"
    _build(cache, n)
    report = scan_cache(cache, processes=1)
    infos = {
        (r.repo_type, r.repo_id): r.to_cached_repo_info()
        for r in report.valid_repos
        if r.repo_type and any(rev.detached for rev in r.revisions)
    }
    assert len(infos) == n
    state = tmp_path / "no-state"
    counts: Counter[str] = Counter()
    with monkeypatch.context() as patch:
        patch.setattr(cleanup, "path_in", _counting(counts, "planning path tests", cleanup.path_in))
        reach = cross_links(report.repos, report.cache_dir)
        if whole_repos:
            marks = [Mark.repo(*key) for key in infos]
            plan = plan_deletion(infos, marks, cache_dir=Path(report.cache_dir), state_dir=state, reach=reach)
        else:
            plan = plan_detached(infos, cache_dir=Path(report.cache_dir), state_dir=state, reach=reach)
            assert len(plan.protected) >= n // 2  # the kept revisions' store payloads
    with monkeypatch.context() as patch:
        patch.setattr(scan_module, "scan_repo", _counting(counts, "scanner visits", scan_module.scan_repo))
        patch.setattr(scan_module, "list_store", _counting(counts, "store listings", scan_module.list_store))
        patch.setattr(writers, "_pids_with_open", _counting(counts, "/proc walks", writers._pids_with_open))
        patch.setattr(writers, "flock_holders", _counting(counts, "/proc/locks reads", writers.flock_holders))
        patch.setattr(writers, "queued_writers", _counting(counts, "queue reads", writers.queued_writers))
        # The file system calls themselves: a per-repo count that grows with the cache would be
        # ours; a per-call time that grows is the disk's (rmdir took 0.25-1.9 ms a call on the
        # shared VM depending on other jobs' I/O, at any cache size).
        for name in ("lstat", "stat", "scandir", "listdir", "rmdir", "unlink", "open", "readlink"):
            patch.setattr(os, name, _counting(counts, f"os.{name}", getattr(os, name)))
        outcome = execute_plan(plan, state_dir=state)
    assert isinstance(outcome, ExecutionReport) and outcome.ok, outcome
    if whole_repos:
        assert not any((cache / f"models--org--m{i}").exists() for i in range(n))
    else:
        assert len([o for o in outcome.outcomes if o.kind == "snapshot" and o.status == "deleted"]) == n
    return counts


def test_pruning_4x_the_repos_costs_at_most_4x_the_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    small = _counts(tmp_path, 20, monkeypatch)
    large = _counts(tmp_path, 80, monkeypatch)
    assert small["scanner visits"] >= 20  # each repo is checked against the disk
    assert small["os.rmdir"] >= 20 and small["os.unlink"] >= 20  # the calls counted are the real ones
    for what in set(small) | set(large):
        assert large[what] <= 4 * small[what] + 2, (what, small, large)
    # One listing of the shared store per execution, however many repos.
    assert large["store listings"] == small["store listings"] <= 2


def test_deleting_4x_the_marked_repos_costs_at_most_4x_the_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    small = _counts(tmp_path, 20, monkeypatch, whole_repos=True)
    large = _counts(tmp_path, 80, monkeypatch, whole_repos=True)
    assert small["scanner visits"] >= 20 and small["os.rmdir"] >= 20
    for what in set(small) | set(large):
        assert large[what] <= 4 * small[what] + 2, (what, small, large)
    assert large["store listings"] == small["store listings"] <= 2
