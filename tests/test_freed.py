"""Every "deleting frees" figure equals the payload bytes that really leave the disk (issue 12).

Caches come from real downloads from the local Hub server; the shared blob store is built with
the library's own publishing code (`share_with_library`). `payload_bytes` is the `du`-style
truth: bytes of payload inodes whose every link is inside the cache.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest
from cachebuilders import add_incomplete, payload_bytes, repo_folder, share_with_library
from hubfixtures import download_into

from hftui.core.cache.cleanup import (
    DeletionPlan,
    ExecutionReport,
    Mark,
    cross_links,
    execute_plan,
    plan_deletion,
    plan_detached,
)
from hftui.core.cache.scan import scan_cache
from hftui.hub import HubServer

# The fixtures are registered as `template` and `cache`; modules that build on these caches import
# `freed_template, freed_cache` (under those names ruff sees no parameter shadowing an import).

MB = 1_000_000
SHARED = {"size": MB, "seed": "shared-weights"}


def _spec() -> dict:
    return {
        "repos": [
            {
                "id": "t/a",
                "branches": {
                    "main": {"files": {"w.bin": SHARED, "a.txt": "a"}},
                    "dev": {"from": "main", "files": {"d.txt": "d"}},
                },
            },
            {"id": "t/b", "branches": {"main": {"files": {"w.bin": SHARED, "b.bin": {"size": 100_000}}}}},
            {"id": "t/c", "branches": {"main": {"files": {"w.bin": SHARED, "c.bin": {"size": 2 * MB}}}}},
            # Identical content, so identical commit hashes (the server derives them from content).
            {"id": "t/x", "branches": {"main": {"files": {"t.bin": {"size": MB, "seed": "twin"}}}}},
            {"id": "t/y", "branches": {"main": {"files": {"t.bin": {"size": MB, "seed": "twin"}}}}},
        ]
    }


@pytest.fixture(scope="module", name="template")
def freed_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("freed") / "hub"
    # Plain LFS: these cases build the shared store themselves (share_with_library) where they want it.
    with HubServer(_spec(), xet=False) as hub:
        for repo in ("t/a", "t/b", "t/c", "t/x", "t/y"):
            download_into(root, hub, repo)
        download_into(root, hub, "t/a", revision="dev")
    return root


@pytest.fixture(name="cache")
def freed_cache(template: Path, tmp_path: Path) -> Iterator[Path]:
    target = tmp_path / "hub"
    shutil.copytree(template, target, symlinks=True)
    yield target


def _plan(cache: Path, marks: Iterable[Mark]) -> DeletionPlan:
    report = scan_cache(cache, processes=1)
    root = Path(report.cache_dir)
    infos = {(r.repo_type, r.repo_id): r.to_cached_repo_info() for r in report.valid_repos}
    return plan_deletion(infos, marks, cache_dir=root, reach=cross_links(report.repos, root))


def _delete_and_measure(cache: Path, plan: DeletionPlan) -> tuple[int, ExecutionReport]:
    before = payload_bytes(cache)
    report = execute_plan(plan)
    return before - payload_bytes(cache), report


def _rev(cache: Path, repo: str, ref: str) -> str:
    return (cache / repo_folder(repo) / "refs" / ref).read_text()


def _file_marks(cache: Path, repo: str, path: str) -> list[Mark]:
    snapshots = cache / repo_folder(repo) / "snapshots"
    return [Mark.file("model", repo, c.name, path) for c in sorted(snapshots.iterdir())]


def test_marks_across_repos_sharing_a_store_payload(cache: Path) -> None:
    """Issue 12.1: repo B + repo C + one file in both revisions of A, all sharing one store payload."""
    share_with_library(cache)
    marks = [Mark.repo("model", "t/b"), Mark.repo("model", "t/c"), *_file_marks(cache, "t/a", "w.bin")]
    plan = _plan(cache, marks)
    assert len(plan.strategies) == 2  # a delete_revisions and a delete_files: neither frees the payload alone
    assert plan.library_freed_size == 100_000 + 2 * MB  # what the library's figures add up to
    freed, report = _delete_and_measure(cache, plan)
    assert report.ok, report.problems
    assert plan.expected_freed_size == freed == report.freed_size == 100_000 + 3 * MB
    assert scan_cache(cache).warnings == []


def test_repos_with_colliding_commit_hashes_sharing_a_payload(cache: Path) -> None:
    share_with_library(cache)
    assert _rev(cache, "t/x", "main") == _rev(cache, "t/y", "main")
    plan = _plan(cache, [Mark.repo("model", "t/x"), Mark.repo("model", "t/y")])
    assert len(plan.strategies) == 2 and plan.library_freed_size == 0
    freed, report = _delete_and_measure(cache, plan)
    assert report.ok
    assert plan.expected_freed_size == freed == report.freed_size == MB


def test_collision_without_the_store_counts_each_copy(cache: Path) -> None:
    plan = _plan(cache, [Mark.repo("model", "t/x"), Mark.repo("model", "t/y")])
    freed, report = _delete_and_measure(cache, plan)
    assert plan.expected_freed_size == freed == report.freed_size == 2 * MB


def _blob_of(cache: Path, repo: str, name: str) -> Path:
    entry = cache / repo_folder(repo) / "snapshots" / _rev(cache, repo, "main") / name
    return Path(os.path.abspath(entry.parent / os.readlink(entry)))


def test_hard_linked_blobs_free_only_with_their_last_link(cache: Path, tmp_path: Path) -> None:
    a_blob, b_blob = _blob_of(cache, "t/a", "w.bin"), _blob_of(cache, "t/b", "w.bin")
    b_blob.unlink()
    os.link(a_blob, b_blob)  # deduplicated by hand, as some tools do
    c_blob = _blob_of(cache, "t/c", "c.bin")
    os.link(c_blob, tmp_path / "outside-link")  # also linked from outside the cache

    plan = _plan(cache, [Mark.repo("model", "t/b"), Mark.repo("model", "t/c")])
    freed, report = _delete_and_measure(cache, plan)
    # b.bin (B's own) and C's w.bin; not B's w.bin (A still links it), not c.bin (linked outside).
    assert plan.expected_freed_size == freed == report.freed_size == 100_000 + MB
    assert (tmp_path / "outside-link").stat().st_size == 2 * MB

    plan = _plan(cache, [Mark.repo("model", "t/a")])
    freed, report = _delete_and_measure(cache, plan)
    assert plan.expected_freed_size == freed == report.freed_size == MB + 2  # w.bin + a.txt + d.txt


def test_symlinked_folders_free_nothing_behind_the_link(cache: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    blobs = cache / repo_folder("t/c") / "blobs"
    shutil.move(blobs, elsewhere / "c-blobs")
    blobs.symlink_to(elsewhere / "c-blobs")
    snapshot = cache / repo_folder("t/b") / "snapshots" / _rev(cache, "t/b", "main")
    real = elsewhere / "b-snapshot"
    shutil.copytree(snapshot, real, symlinks=False)  # regular files behind a linked snapshot
    shutil.rmtree(snapshot)
    snapshot.symlink_to(real)
    outside_before = sorted((p, p.stat().st_size) for p in elsewhere.rglob("*") if p.is_file())

    plan = _plan(cache, [Mark.repo("model", "t/b"), Mark.repo("model", "t/c")])
    freed, report = _delete_and_measure(cache, plan)
    # B's own blobs go; its snapshot's copies and C's blobs live elsewhere and stay.
    assert plan.expected_freed_size == freed == report.freed_size == 100_000 + MB
    assert sorted((p, p.stat().st_size) for p in elsewhere.rglob("*") if p.is_file()) == outside_before


def test_orphaned_incomplete_files_of_a_deleted_repo_are_counted(cache: Path) -> None:
    for i in range(3):
        add_incomplete(cache, "t/b", f"{i:040x}", 123_456)
    plan = _plan(cache, [Mark.repo("model", "t/b")])
    freed, report = _delete_and_measure(cache, plan)
    assert plan.expected_freed_size == freed == report.freed_size == MB + 100_000 + 3 * 123_456


def test_detached_revision_frees_only_its_own_blobs(cache: Path) -> None:
    dev = _rev(cache, "t/a", "dev")
    (cache / repo_folder("t/a") / "refs" / "dev").unlink()
    report = scan_cache(cache, processes=1)
    root = Path(report.cache_dir)
    infos = {(r.repo_type, r.repo_id): r.to_cached_repo_info() for r in report.valid_repos}
    plan = plan_detached(infos, cache_dir=root, reach=cross_links(report.repos, root))
    assert [i.mark.commit_hash for i in plan.items] == [dev]
    freed, result = _delete_and_measure(cache, plan)
    assert plan.expected_freed_size == freed == result.freed_size == 1  # d.txt only


def test_a_blob_another_repo_reaches_is_never_deleted(cache: Path) -> None:
    """A snapshot entry of A links straight into B's blobs: B cannot go alone; A and B together can."""
    b_blob = _blob_of(cache, "t/b", "b.bin")
    entry = cache / repo_folder("t/a") / "snapshots" / _rev(cache, "t/a", "main") / "b.bin"
    entry.symlink_to(os.path.relpath(b_blob, entry.parent))

    plan = _plan(cache, [Mark.repo("model", "t/b")])
    assert plan.is_empty and "still used by model/t/a" in plan.refused[0].reason
    plan = _plan(cache, [Mark.revision("model", "t/b", _rev(cache, "t/b", "main"))])
    assert plan.is_empty and plan.refused

    plan = _plan(cache, [Mark.repo("model", "t/a"), Mark.repo("model", "t/b")])
    freed, report = _delete_and_measure(cache, plan)
    assert report.ok
    assert plan.expected_freed_size == freed == report.freed_size == 2 * MB + 2 + 100_000


def test_a_store_payload_reached_directly_is_not_swept(cache: Path) -> None:
    """An entry of C links straight to `blobs/xx/<hash>` (not through a repo blob, so not in the
    manifest). Deleting B, the manifest's only reference, must leave the payload."""
    payloads = share_with_library(cache, [repo_folder("t/b")])
    payload = next(p for p in payloads if p.stat().st_size == MB)
    entry = cache / repo_folder("t/c") / "snapshots" / _rev(cache, "t/c", "main") / "direct.bin"
    entry.symlink_to(os.path.relpath(payload, entry.parent))
    plan = _plan(cache, [Mark.repo("model", "t/b")])
    assert Path(payload) in plan.protected
    freed, report = _delete_and_measure(cache, plan)
    assert payload.exists() and scan_cache(cache).warnings == []
    assert plan.expected_freed_size == freed == report.freed_size == 100_000


def test_a_repo_blob_that_links_into_the_store_and_is_reached_from_another_repo_stays(cache: Path) -> None:
    """Found by the property test: A's entry links to B's `blobs/<etag>`, itself a link into the
    store. Deleting B would leave A's entry dangling even though the payload stays."""
    share_with_library(cache, [repo_folder("t/b")])
    b_blob = _blob_of(cache, "t/b", "b.bin")
    entry = cache / repo_folder("t/a") / "snapshots" / _rev(cache, "t/a", "main") / "b.bin"
    entry.symlink_to(os.path.relpath(b_blob, entry.parent))
    plan = _plan(cache, [Mark.repo("model", "t/b")])
    assert plan.is_empty and "still used by model/t/a" in plan.refused[0].reason
    assert scan_cache(cache).warnings == []


def test_a_blob_listed_by_another_groups_strategy_stays_while_its_repo_uses_it(tmp_path: Path) -> None:
    """Found by the property test: repos A and B share a commit hash, so they are planned in two
    groups. A's marked file links into B's blobs, so A's `delete_files` lists B's blob; B's other
    revision, which stays, still uses it."""
    from cachebuilders import add_revision

    cache = tmp_path / "hub"
    cache.mkdir()
    same = "c" * 40
    add_revision(cache, "h/a", {"w.bin": 20_000}, commit=same, store=True, tree=False)
    add_revision(cache, "h/b", {"w.bin": 20_000}, commit=same, store=True, tree=False)
    add_revision(cache, "h/b", {"w.bin": 20_000, "x.bin": 3_000}, refs=("v2",), store=True, tree=False)
    b_blob = _blob_of(cache, "h/b", "w.bin")
    entry = cache / repo_folder("h/a") / "snapshots" / same / "linked.bin"
    entry.symlink_to(os.path.relpath(b_blob, entry.parent))
    plan = _plan(cache, [Mark.file("model", "h/a", same, "linked.bin"), Mark.revision("model", "h/b", same)])
    assert len(plan.strategies) == 2
    freed, report = _delete_and_measure(cache, plan)
    assert plan.expected_freed_size == freed == report.freed_size == 0
    assert [(o.kind, o.status) for o in report.problems] == [("blob", "kept")]
    assert "still used by" in report.problems[0].message
    assert scan_cache(cache).warnings == []
