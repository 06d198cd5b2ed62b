"""Cache totals and prune candidates when entries reach blobs in unusual ways (issue 12.2, 12.3).

Layouts start from real downloads (local Hub server) and the library's own shared-store
publishing; then entries are linked by hand the way deduplicating tools and users do.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from cachebuilders import add_store_only_blob, assert_same_as_library, repo_folder, share_with_library
from hubfixtures import download_into

from hftui.core.cache.cleanup import cross_links, execute_plan, plan_shared_blobs
from hftui.core.cache.scan import scan_cache
from hftui.hub import HubServer

SPEC = {
    "repos": [
        {"id": "t/a", "branches": {"main": {"files": {"a.bin": {"size": 5_000}, "c.json": "{}"}}}},
        {"id": "t/b", "branches": {"main": {"files": {"b.bin": {"size": 70}, "w.bin": {"size": 2_000_000}}}}},
    ]
}


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("figures") / "hub"
    # Plain LFS: the cases add store links by hand where they want them.
    with HubServer(SPEC, xet=False) as hub:
        download_into(root, hub, "t/a")
        download_into(root, hub, "t/b")
    return root


@pytest.fixture
def cache(template: Path, tmp_path: Path) -> Iterator[Path]:
    target = tmp_path / "hub"
    shutil.copytree(template, target, symlinks=True)
    yield target


def _snapshot(cache: Path, repo: str) -> Path:
    folder = cache / repo_folder(repo)
    return folder / "snapshots" / (folder / "refs" / "main").read_text()


def _link(entry: Path, target: Path) -> None:
    entry.symlink_to(os.path.relpath(target, entry.parent))


def test_entry_linked_to_another_repos_blob_is_counted_once(cache: Path) -> None:
    b_entry = _snapshot(cache, "t/b") / "b.bin"
    _link(_snapshot(cache, "t/a") / "b.bin", b_entry.parent / os.readlink(b_entry))
    report = assert_same_as_library(cache)  # equal to scan_cache_dir's total
    assert report.size_on_disk == 5_000 + 2 + 70 + 2_000_000
    assert report.find("model/t/a").size_on_disk == 5_000 + 2 + 70  # type: ignore[union-attr]


def test_entry_linked_straight_into_the_store_is_counted_once_and_never_pruned(cache: Path) -> None:
    payload = next(
        p for p in share_with_library(cache, [repo_folder("t/b")]) if p.stat().st_size == 2_000_000
    )
    _link(_snapshot(cache, "t/a") / "w.bin", payload)
    report = assert_same_as_library(cache)
    assert report.size_on_disk == 5_000 + 2 + 70 + 2_000_000

    # B goes (by hand): the manifest lists no valid link, so `hf cache prune` would take the payload.
    shutil.rmtree(cache / repo_folder("t/b"))
    from huggingface_hub.utils import _shared_blobs

    assert payload in _shared_blobs.unreferenced_shared_blobs(cache)
    report = scan_cache(cache)
    # B's other payload (b.bin, 70 B) is really unreferenced; the linked one is not.
    assert [b.size_on_disk for b in report.unreferenced_shared_blobs] == [70]
    assert report.warnings == []
    # Even a stale candidate list cannot make prune delete it.
    root = Path(report.cache_dir)
    plan = plan_shared_blobs([(payload, 2_000_000)], cache_dir=root, reach=cross_links(report.repos, root))
    assert plan.is_empty and plan.expected_freed_size == 0
    execute_plan(plan)
    assert payload.exists() and scan_cache(cache).warnings == []


def test_entry_linked_to_another_repos_store_link_is_counted_once(cache: Path) -> None:
    share_with_library(cache, [repo_folder("t/b")])
    b_entry = _snapshot(cache, "t/b") / "w.bin"
    _link(_snapshot(cache, "t/a") / "w.bin", b_entry.parent / os.readlink(b_entry))
    report = assert_same_as_library(cache)
    assert report.size_on_disk == 5_000 + 2 + 70 + 2_000_000


def test_hard_link_to_a_store_payload_keeps_it_off_the_prune_list(cache: Path) -> None:
    payload = add_store_only_blob(cache, b"p" * 4_096)
    blob = next((cache / repo_folder("t/a") / "blobs").iterdir())
    target = _snapshot(cache, "t/a") / "hard.bin"
    os.link(payload, blob.with_name("f" * 40))
    _link(target, blob.with_name("f" * 40))
    report = scan_cache(cache)
    assert report.unreferenced_shared_blobs == []
