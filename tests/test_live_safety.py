"""Issue 17: deleting from a live, shared cache loses nothing it still needs.

Each case has a second process act on the cache between the scan (the figures the user confirms)
and the deletion: a real `snapshot_download` from the local Hub in a subprocess, a lock held by
another process, another hftui's queue, a symlinked repo folder. A manifest of every path with
its SHA-256 before and after checks that only what was confirmed changed.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from cachebuilders import add_revision, repo_folder
from hubfixtures import BIG, MODEL, download_into, hub_server, small_spec  # noqa: F401
from test_cleanup_support import manifest

from hftui.core.cache.cleanup import (
    DeletionPlan,
    ExecutionReport,
    Mark,
    execute_plan,
    plan_deletion,
    plan_detached,
)
from hftui.core.cache.revalidate import PlanChanged
from hftui.core.cache.scan import scan_cache
from hftui.core.cache.writers import find_writers
from hftui.hub import HubServer
from hftui.hub.server import Fault

M = ("model", MODEL)
MODEL_DIR = repo_folder(MODEL)


def scanned(cache: Path) -> dict[tuple[str, str], Any]:
    """What the Cache pane plans from: the fast scanner's records as library types."""
    report = scan_cache(cache, processes=1)
    return {(r.repo_type, r.repo_id): r.to_cached_repo_info() for r in report.valid_repos}


def download_elsewhere(cache: Path, hub: HubServer, repo_id: str, revision: str, *, xet: bool = True) -> None:
    """A second process runs a real `snapshot_download` into the same cache."""
    script = "import sys; from huggingface_hub import snapshot_download; " + (
        "snapshot_download(sys.argv[1], revision=sys.argv[2], cache_dir=sys.argv[3], endpoint=sys.argv[4], token=False)"
    )
    env = {**os.environ, "HF_HUB_DISABLE_XET": "" if xet else "1"}
    subprocess.run(
        [sys.executable, "-c", script, repo_id, revision, str(cache), hub.endpoint],
        check=True,
        env=env,
        capture_output=True,
        timeout=120,
    )


def changed(before: Mapping[str, Any], after: Mapping[str, Any]) -> set[str]:
    return {p for p in before.keys() | after.keys() if before.get(p) != after.get(p)}


def planned_paths(plan: DeletionPlan, cache: Path) -> list[str]:
    return [os.path.relpath(p, os.path.realpath(cache)) for _, p in plan.paths()]


def only_planned_paths_went(
    before: Mapping[str, Any], after: Mapping[str, Any], plan: DeletionPlan, cache: Path
) -> None:
    """Everything that changed was removed (nothing rewritten) and lies under a path the plan named."""
    named = planned_paths(plan, cache)
    for path in changed(before, after):
        assert path not in after, f"{path} was changed, not removed"
        assert any(path == n or path.startswith(n + os.sep) for n in named), f"{path} was not in the plan"


def resolves_fully(snapshot: Path, hub: HubServer, repo_id: str, revision: str) -> None:
    """Every file of the revision is there and has the server's SHA-256 (no dangling link)."""
    import hashlib

    for path, info in hub.files(repo_id, revision).items():
        data = (snapshot / path).read_bytes()
        assert hashlib.sha256(data).hexdigest() == info.sha256, path


def report_of(outcome: ExecutionReport | PlanChanged) -> ExecutionReport:
    assert isinstance(outcome, ExecutionReport), getattr(outcome, "changes", outcome)
    return outcome


# -- stale plans ---------------------------------------------------------------------------------


def test_stale_plan_a_revision_downloaded_after_the_scan_is_not_deleted_with_the_repo(
    tmp_path: Path, hub: HubServer
) -> None:
    cache = tmp_path / "hub"
    download_into(cache, hub, MODEL, revision="v0.9")
    repos = scanned(cache)
    (old,) = repos[M].revisions
    plan = plan_deletion(repos, [Mark.revision(*M, old.commit_hash)], cache_dir=cache.resolve())
    assert plan.strategies[0].repos  # the library's plan: every revision -> the whole repo folder

    download_elsewhere(cache, hub, MODEL, "main")  # between the scan and the confirmation
    before = manifest(cache)
    outcome = execute_plan(plan)
    assert isinstance(outcome, PlanChanged)
    assert manifest(cache) == before  # nothing deleted
    assert any("new revision" in line and "main" in line for line in outcome.changes)
    new_plan = outcome.plan
    assert not any(s.repos for s in new_plan.strategies)  # now only the revision, not the folder

    report = report_of(execute_plan(new_plan))
    assert report.ok
    after = manifest(cache)
    only_planned_paths_went(before, after, new_plan, cache)
    main = cache / MODEL_DIR / "snapshots" / hub.commit(MODEL, "main")
    resolves_fully(main, hub, MODEL, "main")
    assert not (cache / MODEL_DIR / "snapshots" / old.commit_hash).exists()


@pytest.mark.parametrize("xet", [True, False], ids=["xet-on", "xet-off"])
def test_stale_plan_blobs_a_new_revision_shares_are_kept(tmp_path: Path, hub: HubServer, xet: bool) -> None:
    cache = tmp_path / "hub"
    download_into(cache, hub, MODEL)
    repos = scanned(cache)
    (main,) = repos[M].revisions
    plan = plan_deletion(repos, [Mark.revision(*M, main.commit_hash)], cache_dir=cache.resolve())

    download_elsewhere(cache, hub, MODEL, "refs/pr/1", xet=xet)  # shares most blobs with main
    before = manifest(cache)
    outcome = execute_plan(plan)
    assert isinstance(outcome, PlanChanged) and manifest(cache) == before

    report = report_of(execute_plan(outcome.plan))
    assert report.ok, report.problems
    only_planned_paths_went(before, manifest(cache), outcome.plan, cache)
    pr = cache / MODEL_DIR / "snapshots" / hub.commit(MODEL, "refs/pr/1")
    resolves_fully(pr, hub, MODEL, "refs/pr/1")
    assert scan_cache(cache, processes=1).warnings == []


def test_stale_prune_a_revision_reattached_meanwhile_is_kept(tmp_path: Path, hub: HubServer) -> None:
    cache = tmp_path / "hub"
    download_into(cache, hub, MODEL)
    download_into(cache, hub, MODEL, revision="v0.9")
    (cache / MODEL_DIR / "refs" / "v0.9").unlink()  # v0.9's revision is detached
    plan = plan_detached(scanned(cache), cache_dir=cache.resolve())
    assert len(plan.items) == 1

    download_elsewhere(cache, hub, MODEL, "v0.9")  # writes refs/v0.9 again: re-attached
    before = manifest(cache)
    outcome = execute_plan(plan)
    assert isinstance(outcome, PlanChanged)
    assert any("new ref v0.9" in line for line in outcome.changes)
    assert outcome.plan.is_empty  # nothing is detached any more
    assert manifest(cache) == before
    assert scan_cache(cache, processes=1).warnings == []  # no dangling ref


# -- writers ---------------------------------------------------------------------------------------


def _wait_for(condition: Any, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def stalled_download(tmp_path: Path) -> Iterator[tuple[Path, subprocess.Popen[bytes], HubServer]]:
    """BIG's config.json cached; a second process downloading big.bin, stalled mid-body."""
    cache = tmp_path / "hub"
    with HubServer(small_spec()) as hub:
        download_into(cache, hub, BIG, allow_patterns=["config.json"])
        # Past the client's first 10 MiB chunk, so bytes reach the disk before the stall.
        hub.add_fault(Fault("stall", path_glob="*/big.bin", after_bytes=11 << 20, stall_seconds=120))
        script = (
            "import sys; from huggingface_hub import snapshot_download; "
            "snapshot_download(sys.argv[1], cache_dir=sys.argv[2], endpoint=sys.argv[3], token=False)"
        )
        proc = subprocess.Popen(
            [sys.executable, "-c", script, BIG, str(cache), hub.endpoint],
            env={**os.environ, "HF_HUB_DISABLE_XET": "1", "HF_HUB_DOWNLOAD_TIMEOUT": "300"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        blobs = cache / repo_folder(BIG) / "blobs"
        try:
            _wait_for(
                lambda: any(
                    p.name.endswith(".incomplete") and p.stat().st_size >= 10 << 20 for p in blobs.iterdir()
                ),
                "the second download to write",
            )
            yield cache, proc, hub
        finally:
            proc.kill()
            proc.wait()
            hub.clear_faults()


def test_a_repo_being_downloaded_is_refused_with_the_writers_pid(
    stalled_download: tuple[Path, subprocess.Popen[bytes], HubServer], tmp_path: Path
) -> None:
    cache, proc, _hub = stalled_download
    key = ("model", BIG)
    repos = scanned(cache)
    plan = plan_deletion(repos, [Mark.repo(*key)], cache_dir=cache.resolve())
    assert plan.is_empty
    (refusal,) = plan.refused
    assert f"PID {proc.pid}" in refusal.reason and "wait for the download" in refusal.reason

    blind_writers = find_writers(cache, [repo_folder(BIG)]).writers[repo_folder(BIG)]
    assert [w.kind for w in blind_writers] == ["lock"] and blind_writers[0].pid == proc.pid
    # Planned before the writer is seen (e.g. by a caller that skips the check): execution refuses.
    blind = plan_deletion(repos, [Mark.repo(*key)], cache_dir=cache.resolve(), check_writers=False)
    before = manifest(cache)
    outcome = execute_plan(blind)
    assert isinstance(outcome, PlanChanged) and manifest(cache) == before
    assert any(f"PID {proc.pid}" in line for line in outcome.changes)
    assert outcome.plan.refused and outcome.plan.is_empty

    # The writer dies: its lock file stays but nobody holds it; that is not a writer, and it is
    # offered to prune as a stale lock.
    proc.kill()
    proc.wait()
    writers = find_writers(cache, [repo_folder(BIG)])
    assert not writers.writers
    held_before = {Path(w.path) for w in blind_writers}
    assert held_before <= {Path(s.path) for s in writers.stale_locks}
    plan = plan_deletion(scanned(cache), [Mark.repo(*key)], cache_dir=cache.resolve())
    assert not plan.refused and not plan.is_empty


def test_a_lock_held_by_another_process_refuses_the_repo(tmp_path: Path, hub: HubServer) -> None:
    cache = tmp_path / "hub"
    download_into(cache, hub, MODEL)
    repos = scanned(cache)
    plan = plan_deletion(repos, [Mark.repo(*M)], cache_dir=cache.resolve())
    lock = next((cache / ".locks" / MODEL_DIR).glob("*.lock"))
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from filelock import FileLock; l = FileLock(sys.argv[1]); l.acquire(); "
            "print('held', flush=True); sys.stdin.read()",
            str(lock),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == b"held"
        before = manifest(cache)
        outcome = execute_plan(plan)
        assert isinstance(outcome, PlanChanged) and manifest(cache) == before
        (refusal,) = outcome.plan.refused
        assert f"PID {holder.pid}" in refusal.reason and lock.name in refusal.reason
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait()
    report = report_of(execute_plan(plan))  # the holder is gone: the confirmed plan is still true
    assert report.ok and not (cache / MODEL_DIR).exists()


def test_a_job_in_another_hftuis_queue_refuses_the_repo(tmp_path: Path, hub: HubServer) -> None:
    cache = tmp_path / "hub"
    download_into(cache, hub, MODEL)
    state = tmp_path / "other-hftui-state"
    script = textwrap.dedent(
        """
        import sys
        from pathlib import Path
        from hftui.core.downloads.persist import QueueStore
        store = QueueStore(Path(sys.argv[1]))
        store.acquire()
        request = {"repo_id": sys.argv[2], "repo_type": "model", "revision": "v0.9", "cache_dir": sys.argv[3]}
        store.save([{"id": "j1", "request": request, "state": "paused"}])
        print("ready", flush=True)
        sys.stdin.read()
        """
    )
    other = subprocess.Popen(
        [sys.executable, "-c", script, str(state), MODEL, str(cache)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert other.stdout is not None and other.stdout.readline().strip() == b"ready"
        plan = plan_deletion(scanned(cache), [Mark.repo(*M)], cache_dir=cache.resolve(), state_dir=state)
        (refusal,) = plan.refused
        assert f"hftui PID {other.pid}" in refusal.reason and "job paused" in refusal.reason
    finally:
        assert other.stdin is not None
        other.stdin.close()
        other.wait()
    # That hftui quit: its saved queue writes nothing until it starts again.
    plan = plan_deletion(scanned(cache), [Mark.repo(*M)], cache_dir=cache.resolve(), state_dir=state)
    assert not plan.refused


# -- aliases ---------------------------------------------------------------------------------------


def test_a_repo_folder_aliasing_another_is_never_deleted_through(tmp_path: Path, hub: HubServer) -> None:
    from huggingface_hub import scan_cache_dir

    cache = tmp_path / "hub"
    download_into(cache, hub, MODEL)
    alias = cache / "models--acme--alias"
    alias.symlink_to(MODEL_DIR)
    # The library's own scan shows the alias as a second repo with the same revision.
    info = scan_cache_dir(cache)
    by_key = {(r.repo_type, r.repo_id): r for r in info.repos}
    aliased = by_key[("model", "acme/alias")]
    (rev,) = aliased.revisions
    plan = plan_deletion(by_key, [Mark.revision("model", "acme/alias", rev.commit_hash)], cache_dir=cache)
    before = manifest(cache)
    outcome = execute_plan(plan)
    assert manifest(cache) == before  # the real repo's revision, refs and blobs, and the alias
    assert isinstance(outcome, PlanChanged) and outcome.plan.is_empty
    assert f"Same folder as {MODEL_DIR}" in outcome.changes[0]
    # And should a path through the alias reach the executor, its guard refuses it.
    from hftui.core.cache.cleanup import _Guard

    why = _Guard(cache).reason(alias / "snapshots" / rev.commit_hash)
    assert why is not None and "never deleted through an alias" in why


# -- bad input ---------------------------------------------------------------------------------------


def _two_repos(cache: Path) -> dict[tuple[str, str], Any]:
    add_revision(cache, "org/first", {"a.bin": b"a" * 1000, "c.json": b"{}"})
    add_revision(cache, "org/second", {"b.bin": b"b" * 2000, "c.json": b"{}"})
    return scanned(cache)


def test_a_repo_folder_replaced_by_a_file_or_an_outside_symlink_before_deletion(tmp_path: Path) -> None:
    cache = tmp_path / "hub"
    repos = _two_repos(cache)
    marks = [Mark.repo("model", "org/first"), Mark.repo("model", "org/second")]
    plan = plan_deletion(repos, marks, cache_dir=cache.resolve())

    # Before the deletion starts: a new plan, nothing deleted.
    outside = tmp_path / "outside"
    shutil.move(cache / repo_folder("org/second"), outside)
    (cache / repo_folder("org/second")).symlink_to(outside)
    outside_before, before = manifest(outside), manifest(cache)
    outcome = execute_plan(plan)
    assert isinstance(outcome, PlanChanged) and manifest(cache) == before
    assert any("replaced by a symlink" in line for line in outcome.changes)

    # While it runs (after the first repo), the second folder is replaced: it is not started.
    (cache / repo_folder("org/second")).unlink()
    shutil.move(outside, cache / repo_folder("org/second"))
    plan = plan_deletion(scanned(cache), marks, cache_dir=cache.resolve())

    def swap(done: int, total: int) -> None:
        second = cache / repo_folder("org/second")
        if done == 1 and second.is_dir() and not second.is_symlink():
            shutil.move(second, outside)
            second.write_text("not a folder")

    report = report_of(execute_plan(plan, progress=swap))
    assert not (cache / repo_folder("org/first")).exists()  # the rest of the plan was done
    (problem,) = report.problems
    assert problem.status == "refused" and "not started" in problem.message
    assert (cache / repo_folder("org/second")).read_text() == "not a folder"
    assert manifest(outside) == outside_before


def test_a_ref_rewritten_mid_deletion_keeps_the_revision_it_now_names(tmp_path: Path) -> None:
    cache = tmp_path / "hub"
    keep = add_revision(cache, "org/r", {"a.bin": b"a" * 100}, refs=("main",))
    old1 = add_revision(cache, "org/r", {"a.bin": b"b" * 100}, refs=())
    old2 = add_revision(cache, "org/r", {"a.bin": b"c" * 100}, refs=())
    plan = plan_detached(scanned(cache), cache_dir=cache.resolve())
    assert len(plan.items) == 2
    ref = cache / repo_folder("org/r") / "refs" / "main"

    def rewrite(done: int, total: int) -> None:
        if done == 1:
            ref.write_text(old2)  # another process moves main while we delete

    report = report_of(execute_plan(plan, progress=rewrite))
    snapshots = cache / repo_folder("org/r") / "snapshots"
    assert not (snapshots / old1).exists()
    assert (snapshots / old2).is_dir() and (snapshots / keep).is_dir()
    kept = [o for o in report.problems if o.kind == "snapshot"]
    assert kept and "ref main now points to it" in kept[0].message
    assert scan_cache(cache, processes=1).warnings == []  # consistent: no dangling ref or link
    assert (snapshots / old2 / "a.bin").read_bytes() == b"c" * 100


@pytest.mark.root
def test_permissions_changed_under_an_unprivileged_user(tmp_path: Path, world_tmp: Path) -> None:
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root (to hand the cache to nobody) and setpriv")
    cache = world_tmp / "hub"
    _two_repos(cache)
    subprocess.run(["chown", "-R", "nobody:nogroup", str(cache)], check=True)
    first, second = cache / repo_folder("org/first"), cache / repo_folder("org/second")
    # A blob whose mode changed is still removable (its folder decides); a blobs folder that
    # became read-only is not, so that repo is not started.
    next((first / "blobs").iterdir()).chmod(0)
    (second / "blobs").chmod(0o555)
    second_before = manifest(second)
    script = textwrap.dedent(
        f"""
        import json
        from pathlib import Path
        from hftui.core.cache.scan import scan_cache
        from hftui.core.cache.cleanup import Mark, plan_deletion, execute_plan
        report = scan_cache({str(cache)!r}, processes=1)
        repos = {{(r.repo_type, r.repo_id): r.to_cached_repo_info() for r in report.valid_repos}}
        plan = plan_deletion(repos, [Mark.repo("model", "org/first"), Mark.repo("model", "org/second")],
                             cache_dir=Path(report.cache_dir))
        out = execute_plan(plan)
        print(json.dumps([[o.kind, str(o.path), o.status, o.message] for o in out.outcomes]))
        """
    )
    proc = subprocess.run(
        ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env={**os.environ, "HOME": str(world_tmp), "XDG_STATE_HOME": str(world_tmp / "state")},
        timeout=120,
    )
    if proc.returncode != 0 and "Permission denied" in proc.stderr and "python" in proc.stderr.lower():
        pytest.skip("nobody cannot run this interpreter")
    assert proc.returncode == 0, proc.stderr[-2000:]
    import json

    outcomes = json.loads(proc.stdout.strip().splitlines()[-1])
    problems = [o for o in outcomes if o[2] != "deleted"]
    assert len(problems) == 1 and problems[0][:3] == ["repo", str(second), "refused"]
    assert "not started" in problems[0][3] and "blobs: permission denied" in problems[0][3]
    assert not first.exists()
    (second / "blobs").chmod(0o755)
    assert manifest(second) == second_before


@pytest.mark.root
def test_a_cache_on_a_read_only_mount_is_not_started(tmp_path: Path) -> None:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("needs root to bind-mount the cache read-only")
    source = tmp_path / "rw"
    _two_repos(source)
    cache = tmp_path / "ro"
    cache.mkdir()
    if subprocess.run(["mount", "--bind", str(source), str(cache)], capture_output=True).returncode != 0:
        pytest.skip("bind mounts are not available here")
    try:
        if subprocess.run(["mount", "-o", "remount,ro,bind", str(cache)], capture_output=True).returncode:
            pytest.skip("a read-only remount is not available here")
        marks = [Mark.repo("model", "org/first"), Mark.repo("model", "org/second")]
        plan = plan_deletion(scanned(cache), marks, cache_dir=cache.resolve())
        before = manifest(cache)
        report = report_of(execute_plan(plan))
        assert manifest(cache) == before
        assert [o.status for o in report.outcomes] == ["refused", "refused"]
        assert all(
            "not started" in o.message and "read-only file system" in o.message for o in report.outcomes
        )
        assert report.freed_size == 0
    finally:
        subprocess.run(["umount", str(cache)], check=False)


def test_a_signal_free_kill_leaves_no_live_writer(tmp_path: Path) -> None:
    """A lock file whose holder was killed (SIGKILL) is stale, not a writer: the kernel drops flocks."""
    locks = tmp_path / "hub" / ".locks" / "models--org--x"
    locks.mkdir(parents=True)
    lock = locks / "abc.lock"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from filelock import FileLock; lock = FileLock(sys.argv[1]); lock.acquire(); "
            "print('held', flush=True); sys.stdin.read()",
            str(lock),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == b"held"
    assert find_writers(tmp_path / "hub", ["models--org--x"]).writers["models--org--x"][0].pid == holder.pid
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    report = find_writers(tmp_path / "hub", ["models--org--x"])
    assert not report.writers and [s.path for s in report.stale_locks] == [str(lock)]


def test_the_scan_shows_a_folder_reached_by_two_names_once(tmp_path: Path) -> None:
    cache = tmp_path / "hub"
    add_revision(cache, "org/real", {"a.bin": b"a" * 100})
    (cache / repo_folder("org/alias")).symlink_to(repo_folder("org/real"))
    outside = tmp_path / "elsewhere" / repo_folder("org/ext")
    add_revision(tmp_path / "elsewhere", "org/ext", {"b.bin": b"b" * 100})
    (cache / repo_folder("org/ext")).symlink_to(outside)  # a repo kept on another disk: fine
    (cache / repo_folder("org/ext2")).symlink_to(outside)  # ... but reached by two names
    report = scan_cache(cache, processes=1)
    assert sorted(r.cache_id for r in report.valid_repos) == ["model/org/ext", "model/org/real"]
    aliases = {r.name: r.warnings[0] for r in report.repos if r.warnings}
    assert set(aliases) == {repo_folder("org/alias"), repo_folder("org/ext2")}
    assert all(w.kind == "alias" for w in aliases.values())
    assert f"Same folder as {repo_folder('org/real')}" in aliases[repo_folder("org/alias")].message
    assert report.size_on_disk == 200  # each folder counted once
    from hftui.core.cache.scan import rescan_repo

    again = rescan_repo(cache, repo_folder("org/alias"))
    assert again.warnings and again.warnings[0].kind == "alias"


async def test_the_cache_pane_shows_a_new_confirmation_when_the_cache_changed(
    tmp_path: Path, hub: HubServer
) -> None:
    """End to end: scan, mark the only revision, a second process downloads another one, confirm:
    nothing is deleted, the user is told why and sees a new confirmation with the new figures."""
    from hftui.settings import Settings
    from hftui.tui.app import make_app
    from hftui.tui.panes.cache import CachePane

    cache = tmp_path / "hub"
    download_into(cache, hub, MODEL, revision="v0.9")
    notes: list[str] = []
    app = make_app(Settings(cache_dir=str(cache)))

    async def settle(pilot: Any) -> None:
        for _ in range(3):
            await pilot.pause()
            await app.workers.wait_for_complete()
        await pilot.pause()

    async with app.run_test(size=(120, 40)) as pilot:
        app.notify = lambda message, **kw: notes.append(str(message))  # type: ignore[method-assign]
        await settle(pilot)
        pane = app.query_one(CachePane)
        pane.table.move_cursor(row=pane.table.get_row_index(MODEL_DIR))
        await pilot.press("space", "d")
        await settle(pilot)
        assert type(app.screen).__name__ == "DeleteConfirmScreen"
        first = app.screen.plan  # type: ignore[attr-defined]
        download_elsewhere(cache, hub, MODEL, "main")  # while the confirmation is on screen
        before = manifest(cache)
        await pilot.press("y")
        await settle(pilot)
        assert manifest(cache) == before  # nothing deleted
        assert any("Nothing deleted" in n and "new revision" in n for n in notes)
        assert type(app.screen).__name__ == "DeleteConfirmScreen"  # the new confirmation
        second = app.screen.plan  # type: ignore[attr-defined]
        assert second is not first and len(second.items) == 1
        assert second.items[0].size_on_disk > first.items[0].size_on_disk  # the repo grew
        await pilot.press("y")
        await settle(pilot)
    assert not (cache / MODEL_DIR).exists()  # confirmed again on the disk as it is: the repo went
