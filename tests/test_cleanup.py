"""Deletion plans and their execution, against real caches downloaded from the local Hub server."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hubfixtures import DATASET, MODEL, SPACE
from privileges import skip_unless_nobody_can_run_python
from test_cleanup_support import blob_bytes, manifest, repos_by_key, revision_with, state

from hftui.core.cache.cleanup import (
    Mark,
    execute_plan,
    plan_deletion,
    plan_detached,
    plan_loose_files,
    plan_shared_blobs,
    summarize,
)
from hftui.core.cache.revalidate import PlanChanged

M = ("model", MODEL)


def _library_info(cache_dir: Path):
    from huggingface_hub import scan_cache_dir

    return scan_cache_dir(cache_dir)


def _expected(before, removed):
    """`before` state with (repo_key, commit|None, path|None) removed."""
    out = {k: {c: (refs, set(files)) for c, (refs, files) in revs.items()} for k, revs in before.items()}
    for key, commit, path in removed:
        if commit is None:
            out.pop(key)
        elif path is None:
            out[key].pop(commit)
            if not out[key]:
                out.pop(key)
        else:
            refs, files = out[key][commit]
            out[key][commit] = (refs, {f for f in files if f[0] != path and not f[0].startswith(path + "/")})
    return {k: {c: (refs, frozenset(files)) for c, (refs, files) in revs.items()} for k, revs in out.items()}


def test_repo_mark_frees_what_the_library_says_and_only_that(cache: Path) -> None:
    before = state(cache)
    repos = repos_by_key(cache)
    info = _library_info(cache)
    library = info.delete_revisions(*(r.commit_hash for r in repos[M].revisions))
    plan = plan_deletion(repos, [Mark.repo(*M)], cache_dir=cache)
    assert plan.expected_freed_size == library.expected_freed_size > 0
    on_disk = blob_bytes(cache)
    report = execute_plan(plan)
    assert report.ok, report.outcomes
    assert on_disk - blob_bytes(cache) == plan.expected_freed_size == report.freed_size
    assert state(cache) == _expected(before, [(M, None, None)])
    assert not (cache / "models--acme--bert-mini").exists()


def test_revision_mark_keeps_blobs_shared_with_other_revisions(cache: Path) -> None:
    before = state(cache)
    repos = repos_by_key(cache)
    pr = revision_with(repos[M], "refs/pr/1")
    main = revision_with(repos[M], "main")
    plan = plan_deletion(repos, [Mark.revision(*M, pr.commit_hash)], cache_dir=cache)
    assert (
        plan.expected_freed_size == _library_info(cache).delete_revisions(pr.commit_hash).expected_freed_size
    )
    assert plan.expected_freed_size < pr.size_on_disk  # most of the PR's blobs are main's too
    report = execute_plan(plan)
    assert report.ok
    assert state(cache) == _expected(before, [(M, pr.commit_hash, None)])
    for f in main.files:  # main still complete
        assert f.file_path.read_bytes()


def test_file_and_folder_marks_use_delete_files(cache: Path) -> None:
    before = state(cache)
    repos = repos_by_key(cache)
    main = revision_with(repos[M], "main")
    marks = [
        Mark.file(*M, main.commit_hash, "onnx", is_dir=True),
        Mark.file(*M, main.commit_hash, "README.md"),
    ]
    selected = [
        f
        for f in main.files
        if f.file_path.relative_to(main.snapshot_path).as_posix() in ("README.md",)
        or f.file_path.relative_to(main.snapshot_path).as_posix().startswith("onnx/")
    ]
    library = _library_info(cache).delete_files(*selected)
    plan = plan_deletion(repos, marks, cache_dir=cache)
    assert plan.expected_freed_size == library.expected_freed_size
    on_disk = blob_bytes(cache)
    report = execute_plan(plan)
    assert report.ok
    assert on_disk - blob_bytes(cache) == plan.expected_freed_size
    assert state(cache) == _expected(
        before, [(M, main.commit_hash, "onnx"), (M, main.commit_hash, "README.md")]
    )


def test_mixed_marks_free_blobs_shared_between_a_deleted_revision_and_deleted_files(cache: Path) -> None:
    repos = repos_by_key(cache)
    main = revision_with(repos[M], "main")
    pr = revision_with(repos[M], "refs/pr/1")
    marks = [
        Mark.revision(*M, pr.commit_hash),
        Mark.file(*M, main.commit_hash, "model.safetensors"),  # same blob in main and the PR
        Mark.file(*M, pr.commit_hash, "config.json"),  # subsumed by the revision mark
        Mark.repo("space", SPACE),
    ]
    plan = plan_deletion(repos, marks, cache_dir=cache)
    subsumed = [i for i in plan.items if i.mark.path == "config.json"]
    assert subsumed and subsumed[0].note
    weights = next(f for f in main.files if f.file_name == "model.safetensors")
    # Neither library strategy alone frees the shared weights; the combined plan does.
    alone = _library_info(cache).delete_revisions(pr.commit_hash).expected_freed_size
    assert plan.expected_freed_size >= alone + weights.size_on_disk
    on_disk = blob_bytes(cache)
    report = execute_plan(plan)
    assert report.ok
    assert on_disk - blob_bytes(cache) == plan.expected_freed_size == report.freed_size
    assert not weights.blob_path.exists()
    after = state(cache)
    assert ("space", SPACE) not in after
    assert pr.commit_hash not in after[M]


def test_plan_from_scanner_records_equals_plan_from_library(cache: Path) -> None:
    from hftui.core.cache.scan import scan_cache

    report = scan_cache(cache, processes=1)
    ours = {(r.repo_type, r.repo_id): r.to_cached_repo_info() for r in report.valid_repos}
    lib = repos_by_key(cache)
    main = revision_with(lib[M], "main")
    marks = [Mark.revision(*M, main.commit_hash), Mark.repo("dataset", DATASET)]
    a = plan_deletion(ours, marks, cache_dir=Path(report.cache_dir))
    b = plan_deletion(lib, marks, cache_dir=cache)
    assert a.expected_freed_size == b.expected_freed_size
    assert [s.blobs for s in a.strategies] == [s.blobs for s in b.strategies]


def test_busy_repo_is_refused(cache: Path) -> None:
    repos = repos_by_key(cache)
    plan = plan_deletion(repos, [Mark.repo(*M)], cache_dir=cache, busy={M: "a download is running"})
    assert plan.is_empty and plan.refused[0].reason == "a download is running"


def test_symlink_pointing_outside_the_cache_is_unlinked_never_followed(cache: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    precious = outside / "precious.bin"
    precious.write_bytes(b"x" * 1000)
    repos = repos_by_key(cache)
    pr = revision_with(repos[M], "refs/pr/1")
    link = pr.snapshot_path / "linked.bin"
    link.symlink_to(precious)
    # and a repo blob that is itself a symlink to a folder outside
    space_blob = next(iter(repos[("space", SPACE)].revisions)).snapshot_path / "data"
    space_blob.symlink_to(outside, target_is_directory=True)
    repos = repos_by_key(cache)
    plan = plan_deletion(
        repos, [Mark.revision(*M, pr.commit_hash), Mark.repo("space", SPACE)], cache_dir=cache
    )
    report = execute_plan(plan)
    assert precious.read_bytes() == b"x" * 1000
    assert not os.path.lexists(link)
    refused = [o for o in report.outcomes if o.status == "refused"]
    assert [o.path for o in refused] == [precious]
    assert "outside the cache" in refused[0].message
    assert not (cache / "spaces--acme--demo-space").exists()


def test_vanished_before_execution_gives_a_new_plan_and_during_it_is_reported_not_raised(cache: Path) -> None:
    from hftui.core.cache.revalidate import PlanChanged

    repos = repos_by_key(cache)
    pr = revision_with(repos[M], "refs/pr/1")
    marks = [Mark.revision(*M, pr.commit_hash), Mark.repo("space", SPACE)]
    plan = plan_deletion(repos, marks, cache_dir=cache)
    shutil.rmtree(cache / "spaces--acme--demo-space")  # another process got there first
    before = state(cache)
    changed = execute_plan(plan)
    assert isinstance(changed, PlanChanged) and state(cache) == before  # nothing deleted
    assert any("space" in line and "gone" in line for line in changed.changes)
    assert changed.plan.not_found == (Mark.repo("space", SPACE),)

    # Gone between the last check and its removal: "already gone", and the rest goes on.
    def vanish(done: int, total: int) -> None:
        if done == 1:
            shutil.rmtree(pr.snapshot_path)

    report = execute_plan(changed.plan, progress=vanish)
    assert not isinstance(report, PlanChanged)
    assert {o.path for o in report.vanished} == {pr.snapshot_path}
    assert not report.problems
    assert "already gone" in summarize(report)
    assert pr.commit_hash not in state(cache)[M]


def _chattr_works(path: Path) -> bool:
    probe = path / "chattr-probe"
    probe.mkdir()
    ok = subprocess.run(["chattr", "+i", str(probe)], capture_output=True).returncode == 0
    subprocess.run(["chattr", "-i", str(probe)], capture_output=True)
    probe.rmdir()
    return ok


def test_a_repo_that_cannot_be_deleted_whole_is_not_started_and_the_rest_goes_on(cache: Path) -> None:
    if shutil.which("chattr") is None or not _chattr_works(cache):
        pytest.skip("chattr +i is not supported on this filesystem")
    repos = repos_by_key(cache)
    main = revision_with(repos[M], "main")
    pr = revision_with(repos[M], "refs/pr/1")
    marks = [
        Mark.file(*M, main.commit_hash, "onnx", is_dir=True),
        Mark.file(*M, pr.commit_hash, "onnx", is_dir=True),  # so the onnx blobs are freed
        Mark.repo("space", SPACE),
    ]
    plan = plan_deletion(repos, marks, cache_dir=cache)
    locked = main.snapshot_path / "onnx" / "extra"
    model_dir = cache / "models--acme--bert-mini"
    subprocess.run(["chattr", "+i", str(locked)], check=True)
    try:
        before = manifest(model_dir)
        report = execute_plan(plan)
        assert manifest(model_dir) == before  # not half a repo: none of it
    finally:
        subprocess.run(["chattr", "-i", str(locked)], check=True)
    assert not isinstance(report, PlanChanged)
    (problem,) = report.problems
    assert problem.kind == "repo" and problem.path == model_dir and problem.status == "refused"
    assert "not started" in problem.message and "onnx/extra" in problem.message
    assert "permission denied" in problem.message
    assert not (cache / "spaces--acme--demo-space").exists()
    assert report.freed_size < plan.expected_freed_size


@pytest.mark.root
def test_permission_denied_as_unprivileged_user(template_cache: Path, tmp_path_factory) -> None:
    skip_unless_nobody_can_run_python()
    import tempfile

    base = Path(tempfile.mkdtemp(prefix="hftui-perm-"))
    try:
        os.chmod(base, 0o755)
        cache_dir = base / "hub"
        shutil.copytree(template_cache, cache_dir, symlinks=True)
        subprocess.run(["chown", "-R", "nobody:nogroup", str(cache_dir)], check=True)
        # One snapshot stays root's: nobody cannot remove entries inside it.
        repos = repos_by_key(cache_dir)
        pr = revision_with(repos[M], "refs/pr/1")
        subprocess.run(["chown", "root:root", str(pr.snapshot_path)], check=True)
        model_before = manifest(pr.snapshot_path.parents[1])
        script = textwrap.dedent(
            f"""
            import json
            from pathlib import Path
            from hftui.core.cache.scan import scan_cache
            from hftui.core.cache.cleanup import Mark, plan_deletion, execute_plan
            report = scan_cache({str(cache_dir)!r}, processes=1)
            repos = {{(r.repo_type, r.repo_id): r.to_cached_repo_info() for r in report.valid_repos}}
            plan = plan_deletion(repos, [Mark.revision("model", {MODEL!r}, {pr.commit_hash!r}),
                                         Mark.repo("space", {SPACE!r})], cache_dir=Path(report.cache_dir))
            out = execute_plan(plan)
            print(json.dumps([[o.kind, str(o.path), o.status, o.message] for o in out.outcomes]))
            """
        )
        proc = subprocess.run(
            ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", sys.executable, "-c", script],
            capture_output=True,
            text=True,
            env={**os.environ, "HOME": str(base)},
        )
        assert proc.returncode == 0, proc.stderr
        outcomes = json.loads(proc.stdout.strip().splitlines()[-1])
        problems = [o for o in outcomes if o[2] != "deleted"]
        assert len(problems) == 1 and problems[0][:3] == ["repo", str(pr.snapshot_path.parents[1]), "refused"]
        assert "not started" in problems[0][3] and "permission denied" in problems[0][3]
        assert manifest(pr.snapshot_path.parents[1]) == model_before  # the repo is untouched
        assert not (cache_dir / "spaces--acme--demo-space").exists()  # the rest went on
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_prune_detached_revisions(cache: Path) -> None:
    (cache / "models--acme--bert-mini" / "refs" / "v0.9").unlink()
    repos = repos_by_key(cache)
    detached = [r for r in repos[M].revisions if not r.refs]
    assert len(detached) == 1
    plan = plan_detached(repos, cache_dir=cache)
    assert (
        plan.expected_freed_size
        == _library_info(cache).delete_revisions(detached[0].commit_hash).expected_freed_size
    )
    assert execute_plan(plan).ok
    assert detached[0].commit_hash not in state(cache)[M]


def test_prune_incomplete_files_and_locks(cache: Path) -> None:
    from hftui.core.cache.scan import scan_cache

    blobs = cache / "models--acme--bert-mini" / "blobs"
    (blobs / "abc.incomplete").write_bytes(b"1" * 500)
    (blobs / "def.0123abcd.incomplete").write_bytes(b"2" * 700)
    report = scan_cache(cache, processes=1)
    incomplete = [(Path(i.path), i.size_on_disk) for i in report.incomplete_files if not i.in_progress]
    assert sum(s for _, s in incomplete) == 1200
    plan, skipped = plan_loose_files(incomplete, kind="incomplete", cache_dir=cache)
    assert plan.expected_freed_size == 1200 and not skipped
    locks = [(Path(lock.path), lock.size_on_disk) for lock in report.stale_locks]
    assert locks
    lock_plan, _ = plan_loose_files(locks, kind="lock", cache_dir=cache)
    assert execute_plan(plan).ok and execute_plan(lock_plan).ok
    assert not list(blobs.glob("*.incomplete"))
    assert not [p for p in (cache / ".locks").rglob("*.lock")]
    # busy repo: skipped with a reason
    (blobs / "ghi.incomplete").write_bytes(b"3")
    plan, skipped = plan_loose_files(
        [(blobs / "ghi.incomplete", 1)], kind="incomplete", cache_dir=cache, busy_repo_dirs=[blobs.parent]
    )
    assert plan.is_empty and "download" in skipped[0][1]


def _make_shared_store(cache: Path) -> tuple[Path, Path]:
    """Hand-made 2.x shared blob store: one payload used by the space repo, one nobody uses."""
    store = cache / "blobs"
    store.mkdir()
    (store / ".huggingface-shared-blobs").write_text("1\n")
    used_hash, orphan_hash = "ab" + "1" * 62, "cd" + "2" * 62
    (store / "ab").mkdir()
    (store / "cd").mkdir()
    repo_blobs = cache / "spaces--acme--demo-space" / "blobs"
    etag = sorted(p for p in repo_blobs.iterdir())[0]
    payload = store / "ab" / used_hash
    shutil.move(etag, payload)
    etag.symlink_to(os.path.relpath(payload, etag.parent))
    (store / "ab" / f"{used_hash}.refs").write_text(f"spaces--acme--demo-space/blobs/{etag.name}\n")
    orphan = store / "cd" / orphan_hash
    orphan.write_bytes(b"o" * 4096)
    (store / "cd" / f"{orphan_hash}.refs").write_text("")
    return payload, orphan


def test_shared_store_payload_swept_with_its_last_repo_and_unreferenced_pruned(cache: Path) -> None:
    from hftui.core.cache.scan import scan_cache

    payload, orphan = _make_shared_store(cache)
    size = payload.stat().st_size
    report = scan_cache(cache, processes=1)
    assert [Path(b.path) for b in report.unreferenced_shared_blobs] == [orphan]
    repos = {(r.repo_type, r.repo_id): r.to_cached_repo_info() for r in report.valid_repos}
    plan = plan_deletion(repos, [Mark.repo("space", SPACE)], cache_dir=Path(report.cache_dir))
    lib = report.to_hf_cache_info().delete_revisions(
        *(r.commit_hash for r in repos[("space", SPACE)].revisions)
    )
    assert plan.expected_freed_size == lib.expected_freed_size and plan.expected_freed_size >= size
    assert execute_plan(plan).ok
    assert not payload.exists()
    prune = plan_shared_blobs(
        [(Path(b.path), b.size_on_disk) for b in report.unreferenced_shared_blobs], cache_dir=cache
    )
    assert prune.expected_freed_size == 4096
    assert execute_plan(prune).ok and not orphan.exists()


def test_repo_folder_that_is_a_symlink_is_unlinked_and_frees_nothing(tmp_path: Path) -> None:
    from cachebuilders import add_revision, repo_folder

    from hftui.core.cache.cleanup import LINKED_REPO_NOTE
    from hftui.core.cache.scan import scan_cache

    cache, elsewhere = tmp_path / "hub", tmp_path / "elsewhere"
    cache.mkdir()
    first = add_revision(elsewhere, "ext/linked", {"w.bin": b"w" * 500, "c.json": b"{}"})
    add_revision(elsewhere, "ext/linked", {"w.bin": b"v" * 500, "c.json": b"{}"}, refs=("v2",))
    os.symlink(elsewhere / repo_folder("ext/linked"), cache / repo_folder("ext/linked"))
    add_revision(cache, "org/kept", {"a.bin": b"a" * 10})
    before = sorted(str(p) for p in elsewhere.rglob("*"))
    report = scan_cache(cache)
    infos = {("model", "ext/linked"): report.find("model/ext/linked").to_cached_repo_info()}  # type: ignore[union-attr]
    root = Path(report.cache_dir)

    # A revision or a file: every path resolves outside the cache, so everything is refused.
    for mark in (
        Mark.revision("model", "ext/linked", first),
        Mark.file("model", "ext/linked", first, "w.bin"),
    ):
        result = execute_plan(plan_deletion(infos, [mark], cache_dir=root))
        assert {o.status for o in result.outcomes} == {"refused"} and result.freed_size == 0

    # The whole repo: the link goes, what it points to stays, and nothing is claimed freed.
    plan = plan_deletion(infos, [Mark.repo("model", "ext/linked")], cache_dir=root)
    assert plan.items[0].note == LINKED_REPO_NOTE
    result = execute_plan(plan)
    assert not os.path.lexists(cache / repo_folder("ext/linked"))
    assert sorted(str(p) for p in elsewhere.rglob("*")) == before
    assert result.freed_size == 0 and result.ok
    assert summarize(result) == "Freed 0 B."


def test_a_blob_of_another_repo_reached_by_a_link_is_kept(tmp_path: Path) -> None:
    """A cache deduplicated by hand: a snapshot entry of repo A links to a blob of repo B. The
    library, given only A, would delete B's blob with A's file; B still needs it."""
    from cachebuilders import add_revision, repo_folder

    from hftui.core.cache.scan import scan_cache

    cache = tmp_path / "hub"
    cache.mkdir()
    add_revision(cache, "org/b", {"w.bin": b"w" * 300})
    b_blob = next((cache / repo_folder("org/b") / "blobs").iterdir())
    commit = add_revision(cache, "org/a", {"c.json": b"{}"})
    entry = cache / repo_folder("org/a") / "snapshots" / commit / "w.bin"
    entry.symlink_to(os.path.relpath(b_blob, entry.parent))
    report = scan_cache(cache)
    infos = {("model", "org/a"): report.find("model/org/a").to_cached_repo_info()}  # type: ignore[union-attr]
    plan = plan_deletion(
        infos, [Mark.file("model", "org/a", commit, "w.bin")], cache_dir=Path(report.cache_dir)
    )
    assert Path(report.cache_dir) / repo_folder("org/b") / "blobs" / b_blob.name in plan.strategies[0].blobs
    result = execute_plan(plan)
    assert not os.path.lexists(entry)
    assert b_blob.read_bytes() == b"w" * 300
    assert [(o.kind, o.status) for o in result.problems] == [("blob", "kept")]
    assert result.freed_size == 0
    assert scan_cache(cache).warnings == []
