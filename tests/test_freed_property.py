"""Property: on random caches and random marks, the figure shown is what leaves the disk (issue 12).

Random caches mix the layouts that broke the figures before: the shared blob store on or off,
payloads shared across repos and revisions, repos whose commit hashes collide, hard-linked blobs
and snapshot entries linked into another repo's blobs. For each random set of marks the plan's
"deleting frees" figure, the `du`-style payload bytes that disappear (`payload_bytes`) and the
executor's "freed" figure must be the same number, and the cache must scan clean afterwards (no
deletion removed a byte an entry still reaches).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from cachebuilders import add_revision, payload_bytes, repo_folder
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hftui.core.cache.cleanup import (
    Mark,
    cross_links,
    execute_plan,
    plan_deletion,
    plan_detached,
    plan_shared_blobs,
)
from hftui.core.cache.scan import scan_cache

REPOS = ["p/a", "p/b", "p/c"]
FILES = ["w.bin", "x.bin", "sub/y.bin"]
SIZES = [1_000, 20_000, 300_000]


def _build(data: st.DataObject, cache: Path) -> None:
    store = data.draw(st.booleans(), label="store")
    collide = data.draw(st.booleans(), label="collide")
    for i, repo in enumerate(REPOS):
        for rev in range(data.draw(st.integers(1, 2), label=f"{repo} revisions")):
            chosen = data.draw(st.lists(st.sampled_from(FILES), min_size=1, max_size=3, unique=True))
            files: dict[str, int | bytes] = {name: data.draw(st.sampled_from(SIZES)) for name in chosen}
            refs = ("main",) if rev == 0 else data.draw(st.sampled_from([(), ("dev",)]))
            # Two repos with the same content and commit hash (the Hub derives hashes from content).
            commit = "c" * 40 if collide and rev == 0 and i < 2 else None
            if commit is not None:
                files = {"w.bin": 20_000}
            add_revision(cache, repo, files, refs=refs, commit=commit, store=store, tree=False)
    regular = sorted(
        p
        for r in REPOS
        for p in (cache / repo_folder(r) / "blobs").glob("*")
        if p.is_file() and not p.is_symlink()
    )
    if len(regular) >= 2 and data.draw(st.booleans(), label="hard link"):
        src, dst = data.draw(st.permutations(regular))[:2]
        if src.parent != dst.parent:
            dst.unlink()
            os.link(src, dst)
    if data.draw(st.booleans(), label="cross-repo link"):
        blobs = sorted(p for r in REPOS[1:] for p in (cache / repo_folder(r) / "blobs").glob("*"))
        snapshot = next((cache / repo_folder(REPOS[0]) / "snapshots").iterdir())
        if blobs:
            target = data.draw(st.sampled_from(blobs))
            entry = snapshot / "linked.bin"
            entry.symlink_to(os.path.relpath(target, entry.parent))


def _marks(data: st.DataObject, cache: Path) -> list[Mark]:
    report = scan_cache(cache, processes=1)
    candidates: list[Mark] = []
    for repo in report.valid_repos:
        assert repo.repo_type is not None
        candidates.append(Mark.repo(repo.repo_type, repo.repo_id))
        for rev in repo.revisions:
            candidates.append(Mark.revision(repo.repo_type, repo.repo_id, rev.commit_hash))
            for path, _ in rev.files:
                candidates.append(Mark.file(repo.repo_type, repo.repo_id, rev.commit_hash, path))
            candidates.append(Mark.file(repo.repo_type, repo.repo_id, rev.commit_hash, "sub", is_dir=True))
    return data.draw(
        st.lists(st.sampled_from(candidates), min_size=1, max_size=5, unique=True), label="marks"
    )


def _check(cache: Path, plan) -> None:  # type: ignore[no-untyped-def]
    before = payload_bytes(cache)
    result = execute_plan(plan)
    assert not [o for o in result.problems if o.status == "failed"], result.problems
    gone = before - payload_bytes(cache)
    assert plan.expected_freed_size == gone == result.freed_size
    after = scan_cache(cache, processes=1)
    assert [w.message for w in after.warnings] == []


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_freed_figure_is_what_leaves_the_disk(data: st.DataObject) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp) / "hub"
        cache.mkdir()
        _build(data, cache)
        marks = _marks(data, cache)
        report = scan_cache(cache, processes=1)
        root = Path(report.cache_dir)
        infos = {(r.repo_type, r.repo_id): r.to_cached_repo_info() for r in report.valid_repos}
        _check(cache, plan_deletion(infos, marks, cache_dir=root, reach=cross_links(report.repos, root)))

        # Then prune what is left: detached revisions, then unreferenced store payloads.
        report = scan_cache(cache, processes=1)
        infos = {(r.repo_type, r.repo_id): r.to_cached_repo_info() for r in report.valid_repos}
        _check(cache, plan_detached(infos, cache_dir=root, reach=cross_links(report.repos, root)))
        report = scan_cache(cache, processes=1)
        blobs = [(Path(b.path), b.size_on_disk) for b in report.unreferenced_shared_blobs]
        _check(cache, plan_shared_blobs(blobs, cache_dir=root, reach=cross_links(report.repos, root)))
