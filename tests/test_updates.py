"""Update checks against the local Hub: caches built by real downloads, refs moved on the server,
requests counted at the server."""

from __future__ import annotations

from pathlib import Path

import pytest
from cachebuilders import add_revision
from updatefixtures import (
    DOOMED,
    GATED,
    MOVING,
    OLDNAME,
    UNICODE_BRANCH,
    api_requests,
    download,
    moving_hub,  # noqa: F401
)

from hftui.core.cache.scan import scan_cache
from hftui.core.hub.update_plan import Pending, SupersededLedger, glob_escape, move_ref, plan_updates, settle
from hftui.core.hub.updates import CheckStore, UpdateChecker, local_changes
from hftui.hub import Fault, HubServer


def checker(hub: HubServer, tmp_path: Path, **kwargs: object) -> UpdateChecker:
    kwargs.setdefault("token", False)
    kwargs.setdefault("ttl_seconds", 0)
    return UpdateChecker(endpoint=hub.endpoint, store=CheckStore(tmp_path / "checks.json"), **kwargs)  # type: ignore[arg-type]


def test_moved_branch_reports_changed_added_removed_and_bytes_to_fetch(
    moving: HubServer, tmp_path: Path
) -> None:
    hub = moving
    cache = tmp_path / "hub"
    # A GGUF user: one quantization plus the small files.
    download(cache, hub, MOVING, allow_patterns=["*Q4_K_M.gguf", "*.json"])
    old = hub.commit(MOVING)
    new = hub.push(
        MOVING,
        "main",
        files={
            "config.json": '{"v": 2}',
            "model-Q4_K_M.gguf": {"size": 210_000, "seed": "requant"},
            "model-Q5_K_M.gguf": {"size": 250_000},
        },
        remove=["tokenizer.json"],
    )
    hub.clear_requests()
    report = checker(hub, tmp_path).check(scan_cache(cache).repos)

    result = report.get("model", MOVING)
    assert result is not None and result.state == "update available", result
    (ref,) = result.refs
    assert (ref.ref, ref.kind, ref.cached_commit, ref.remote_commit) == ("main", "branch", old, new)
    assert ref.changes is not None
    assert ref.changes.changed == ("config.json", "model-Q4_K_M.gguf")
    assert ref.changes.removed == ("tokenizer.json",)
    assert ref.changes.added == ("model-Q5_K_M.gguf",)  # upstream; not in the user's selection
    remote = hub.files(MOVING)
    assert ref.changes.bytes_to_fetch == remote["config.json"].size + remote["model-Q4_K_M.gguf"].size
    assert result.bytes_to_fetch == ref.changes.bytes_to_fetch
    # One refs request for the repo, one tree listing for the new commit; nothing downloaded.
    assert api_requests(hub, "refs") == [f"/api/models/{MOVING}/refs"]
    assert len(api_requests(hub, "tree")) == 1
    assert not [r for r in hub.requests if "/resolve/" in r.path]

    # Within update_check_minutes the stored answer is used: no request at all.
    hub.clear_requests()
    again = checker(hub, tmp_path, ttl_seconds=3600).check(scan_cache(cache).repos)
    assert hub.requests == []
    stored = again.get("model", MOVING)
    assert stored is not None and stored.from_store and stored.refs == result.refs


def test_update_job_keeps_the_selection_glob_escaped(moving: HubServer, tmp_path: Path) -> None:
    hub = moving
    cache = tmp_path / "hub"
    download(cache, hub, MOVING, allow_patterns=["*Q8_0.gguf", "README.md"])
    hub.push(MOVING, "main", files={"README.md": "# moved\n"})
    report = scan_cache(cache)
    result = checker(hub, tmp_path).check(report.repos).get("model", MOVING)
    assert result is not None
    repo = report.find(f"model/{MOVING}")
    assert repo is not None
    (job,), notes = plan_updates(repo, result, cache_dir=str(cache))
    assert notes == []
    # By commit: the ref moves only once the selection has landed (see test_update_cli).
    assert (job.ref, job.request.revision) == ("main", hub.commit(MOVING))
    assert job.request.allow_patterns == ("README.md", "model-Q8_0.gguf")
    assert glob_escape("w[1]*?.bin") == "w[[]1][*][?].bin"


def test_moved_tag_and_pr_ref(moving: HubServer, tmp_path: Path) -> None:
    hub = moving
    cache = tmp_path / "hub"
    download(cache, hub, MOVING, revision="v1", allow_patterns=["*.json"])
    download(cache, hub, MOVING, revision="refs/pr/1", allow_patterns=["README.md"])
    hub.push(MOVING, "main", files={"config.json": '{"v": 3}'})
    new_tag = hub.set_tag(MOVING, "v1", "main")
    new_pr = hub.push(MOVING, "refs/pr/1", files={"README.md": "# pr 1, take 2\n"})
    hub.clear_requests()
    result = checker(hub, tmp_path).check(scan_cache(cache).repos).get("model", MOVING)
    assert result is not None and result.state == "update available"
    by_ref = {ref.ref: ref for ref in result.refs}
    assert by_ref["v1"].kind == "tag" and by_ref["v1"].remote_commit == new_tag
    assert by_ref["refs/pr/1"].kind == "pr" and by_ref["refs/pr/1"].remote_commit == new_pr
    assert by_ref["refs/pr/1"].changes is not None and by_ref["refs/pr/1"].changes.changed == ("README.md",)
    assert by_ref["v1"].changes is not None and by_ref["v1"].changes.changed == ("config.json",)
    # Still one refs request for the repo: pull requests come with it.
    assert len(api_requests(hub, "refs")) == 1


def test_branch_with_slashes_and_unicode(moving: HubServer, tmp_path: Path) -> None:
    hub = moving
    cache = tmp_path / "hub"
    download(cache, hub, MOVING, revision=UNICODE_BRANCH, allow_patterns=["notes.txt"])
    assert (cache / "models--acme--moving-gguf" / "refs" / "feature" / "ünïcode-β").is_file()
    new = hub.push(MOVING, UNICODE_BRANCH, files={"notes.txt": "ü, again"})
    result = checker(hub, tmp_path).check(scan_cache(cache).repos).get("model", MOVING)
    assert result is not None and result.state == "update available"
    (ref,) = result.refs
    assert ref.ref == UNICODE_BRANCH and ref.remote_commit == new
    assert ref.changes is not None and ref.changes.changed == ("notes.txt",)

    # The update lands and the ref file under refs/feature/ moves.
    report = scan_cache(cache)
    repo = report.find(f"model/{MOVING}")
    assert repo is not None
    (job,), _ = plan_updates(repo, result, cache_dir=str(cache))
    ledger = SupersededLedger(tmp_path / "updates.json")
    ledger.add_pending([Pending.of(job, str(cache))])
    download(cache, hub, MOVING, revision=new, allow_patterns=list(job.request.allow_patterns))
    assert [s.ref for s in settle(ledger, str(cache)).landed] == [UNICODE_BRANCH]
    assert (cache / "models--acme--moving-gguf" / "refs" / "feature" / "ünïcode-β").read_text() == new


def test_ref_gone_and_repo_gone(moving: HubServer, tmp_path: Path) -> None:
    hub = moving
    cache = tmp_path / "hub"
    download(cache, hub, DOOMED, revision="dev")
    download(cache, hub, MOVING, allow_patterns=["README.md"])
    hub.delete_ref(DOOMED, "dev")
    report = checker(hub, tmp_path).check(scan_cache(cache).repos)
    doomed = report.get("model", DOOMED)
    assert doomed is not None and doomed.state == "ref gone upstream"
    assert [(r.ref, r.state) for r in doomed.refs] == [("dev", "ref gone upstream")]

    hub.delete_repo(DOOMED)
    report = checker(hub, tmp_path).check(scan_cache(cache).repos)
    doomed = report.get("model", DOOMED)
    assert doomed is not None and doomed.state == "repo gone" and "no such repo" in doomed.detail
    moving = report.get("model", MOVING)
    assert moving is not None and moving.state == "up to date"  # one repo's trouble stays its own


def test_gated_repo_is_checked_and_says_when_access_is_refused(moving: HubServer, tmp_path: Path) -> None:
    hub = moving
    cache = tmp_path / "hub"
    download(cache, hub, GATED, token=hub.token)
    new = hub.push(GATED, "main", files={"config.json": '{"gated": 2}'})
    # The refs listing of a gated repo is public, as on the Hub: the check works without a token.
    result = checker(hub, tmp_path).check(scan_cache(cache).repos).get("model", GATED)
    assert result is not None and result.state == "update available"
    assert result.refs[0].remote_commit == new
    # A Hub that refuses the listing itself gives a clear per-repo state, not an error.
    hub.add_fault(Fault("status", path_glob=f"/api/models/{GATED}/refs", status=403, times=None))
    refused = checker(hub, tmp_path, ttl_seconds=0).check(scan_cache(cache).repos).get("model", GATED)
    assert refused is not None and refused.state == "not checked"
    assert refused.reason == "not authorized"


def test_renamed_repo_is_followed_and_said(moving: HubServer, tmp_path: Path) -> None:
    hub = moving
    cache = tmp_path / "hub"
    download(cache, hub, OLDNAME)
    hub.rename_repo(OLDNAME, "acme/new-name")
    new = hub.push("acme/new-name", "main", files={"a.bin": {"size": 10_000, "seed": "v2"}})
    hub.clear_requests()
    result = checker(hub, tmp_path).check(scan_cache(cache).repos).get("model", OLDNAME)
    assert result is not None and result.state == "update available"
    assert result.renamed_to == "acme/new-name"
    assert result.refs[0].remote_commit == new
    assert "renamed to acme/new-name" in result.describe()
    assert result.refs[0].changes is not None and result.refs[0].changes.bytes_to_fetch == 10_000


def test_offline_makes_no_request(moving: HubServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    hub = moving
    cache = tmp_path / "hub"
    download(cache, hub, MOVING, allow_patterns=["*.json"])
    hub.push(MOVING, "main", files={"config.json": "{}"})
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    hub.clear_requests()
    report = checker(hub, tmp_path).check(scan_cache(cache).repos)
    assert hub.requests == []
    result = report.get("model", MOVING)
    assert result is not None and (result.state, result.reason) == ("not checked", "offline")
    assert report.offline and "the Hub was not asked" in report.summary()

    # A stored answer is still shown offline, with its age, and still asks nothing.
    monkeypatch.delenv("HF_HUB_OFFLINE")
    checker(hub, tmp_path).check(scan_cache(cache).repos)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    hub.clear_requests()
    offline = checker(hub, tmp_path, ttl_seconds=0).check(scan_cache(cache).repos).get("model", MOVING)
    assert hub.requests == []
    assert offline is not None and offline.state == "update available" and offline.reason == "offline"
    assert offline.refs[0].changes is not None  # the tree of the new commit was stored too


def test_500_repos_cost_one_request_each(tmp_path: Path) -> None:
    repos = [
        {
            "id": f"org{i // 100}/repo-{i:03d}",
            "branches": {"main": {"files": {"config.json": f'{{"n": {i}}}'}}},
        }
        for i in range(500)
    ]
    with HubServer({"repos": repos}) as hub:
        cache = tmp_path / "hub"
        moved = set()
        for i, spec in enumerate(repos):
            repo_id = spec["id"]
            assert isinstance(repo_id, str)
            commit = hub.commit(repo_id)
            add_revision(cache, repo_id, {"config.json": f'{{"n": {i}}}'.encode()}, commit=commit)
            if i % 50 == 0:
                hub.push(repo_id, "main", files={"config.json": "{}"})
                moved.add(repo_id)
        hub.clear_requests()
        report = checker(hub, tmp_path, max_workers=8).check(scan_cache(cache, processes=1).repos)
        assert len(report.results) == 500
        updated = {key[1] for key, r in report.results.items() if r.state == "update available"}
        assert updated == moved
        assert report.count("up to date") == 490
        # Counted at the server: one refs request per repo, one tree listing per moved ref, nothing else.
        assert len(api_requests(hub, "refs")) == 500
        assert len(api_requests(hub, "tree")) == len(moved)
        assert len([r for r in hub.requests if r.path != "/api/agent-harnesses"]) == 500 + len(moved)


def test_429_halfway_backs_off_and_finishes(tmp_path: Path) -> None:
    repos = [{"id": f"org/r{i}", "branches": {"main": {"files": {"a.txt": str(i)}}}} for i in range(12)]
    with HubServer({"repos": repos}) as hub:
        cache = tmp_path / "hub"
        for spec in repos:
            repo_id = str(spec["id"])
            add_revision(cache, repo_id, {"a.txt": b"x"}, commit=hub.commit(repo_id))
        seen: list[str] = []

        def halfway(result: object) -> None:
            seen.append("x")
            if len(seen) == 6:
                hub.add_fault(
                    Fault("status", path_glob="/api/models/*/refs", status=429, retry_after=1, times=3)
                )

        report = checker(hub, tmp_path, max_workers=2).check(
            scan_cache(cache, processes=1).repos, on_result=halfway
        )
        assert report.count("up to date") == 12  # all finished after backing off
        assert report.rate_limited == 3 and report.waited >= 0.9
        assert "rate-limited 3 requests" in report.summary() and "backed off" in report.summary()
        refused = [r for r in hub.requests if r.status == 429]
        assert len(refused) == 3


def test_429_that_lasts_leaves_repos_unchecked_and_next_check_waits(tmp_path: Path) -> None:
    repos = [{"id": f"org/r{i}", "branches": {"main": {"files": {"a.txt": str(i)}}}} for i in range(4)]
    with HubServer({"repos": repos}) as hub:
        cache = tmp_path / "hub"
        for spec in repos:
            repo_id = str(spec["id"])
            add_revision(cache, repo_id, {"a.txt": b"x"}, commit=hub.commit(repo_id))
        hub.add_fault(
            Fault("status", path_glob="/api/models/*/refs", status=429, retry_after=3600, times=None)
        )
        report = checker(hub, tmp_path, max_workers=1).check(scan_cache(cache, processes=1).repos)
        assert {(r.state, r.reason) for r in report.results.values()} == {("not checked", "rate limited")}
        assert report.retry_after is not None and "check again after" in report.summary()
        # The Hub asked for an hour: the next check (another process, same store) does not ask before.
        hub.clear_requests()
        again = checker(hub, tmp_path, max_workers=1).check(scan_cache(cache, processes=1).repos)
        assert hub.requests == []
        assert all(
            r.reason == "rate limited" and "check again after" in r.detail for r in again.results.values()
        )


def test_ref_to_a_commit_missing_from_snapshots(moving: HubServer, tmp_path: Path) -> None:
    hub = moving
    cache = tmp_path / "hub"
    download(cache, hub, MOVING, allow_patterns=["README.md"])
    download(cache, hub, DOOMED)
    (cache / "models--acme--doomed" / "refs" / "main").write_text("f" * 40)
    hub.clear_requests()
    report = checker(hub, tmp_path).check(scan_cache(cache).repos)
    broken = report.get("model", DOOMED)
    assert broken is not None and (broken.state, broken.reason) == ("not checked", "broken cache entry")
    assert "f" * 40 in broken.detail
    assert api_requests(hub, "refs") == [f"/api/models/{MOVING}/refs"]  # nothing asked for the broken one
    moving = report.get("model", MOVING)
    assert moving is not None and moving.state == "up to date"


def test_local_changes_and_detached_revisions_are_flagged(moving: HubServer, tmp_path: Path) -> None:
    hub = moving
    cache = tmp_path / "hub"
    snapshot = Path(download(cache, hub, MOVING, allow_patterns=["*.json", "README.md"]))
    detached = hub.commit(MOVING)
    hub.push(MOVING, "main", files={"README.md": "# two\n"})
    download(
        cache, hub, MOVING, revision=hub.commit(MOVING), allow_patterns=["README.md"]
    )  # by commit: no ref
    # A file edited by hand (the link replaced by a real file) and one added by hand.
    (snapshot / "config.json").unlink()
    (snapshot / "config.json").write_text('{"mine": true}')
    (snapshot / "my-notes.txt").write_text("mine")
    report = scan_cache(cache)
    repo = report.find(f"model/{MOVING}")
    assert repo is not None
    revision = repo.revision(detached)
    assert revision is not None
    assert local_changes(repo, revision) == ("config.json", "my-notes.txt")
    result = checker(hub, tmp_path).check(report.repos).get("model", MOVING)
    assert result is not None
    assert dict(result.local_changes) == {detached: ("config.json", "my-notes.txt")}
    assert result.detached == (hub.commit(MOVING),)
    assert "local changes: 2 files" in result.describe()
    # The update leaves the user's files out of the selection.
    (job,), _ = plan_updates(repo, result, cache_dir=str(cache))
    assert job.request.allow_patterns == ("README.md", "tokenizer.json")


def test_an_interrupted_update_settles_later_and_never_leaves_a_dangling_ref(
    moving: HubServer, tmp_path: Path
) -> None:
    hub = moving
    cache = tmp_path / "hub"
    download(cache, hub, MOVING, allow_patterns=["config.json", "README.md"])
    old = hub.commit(MOVING)
    new = hub.push(MOVING, "main", files={"config.json": '{"v": 7}'})
    report = scan_cache(cache)
    result = checker(hub, tmp_path).check(report.repos).get("model", MOVING)
    repo = report.find(f"model/{MOVING}")
    assert result is not None and repo is not None
    (job,), _ = plan_updates(repo, result, cache_dir=str(cache))
    ledger = SupersededLedger(tmp_path / "updates.json")
    ledger.add_pending([Pending.of(job, str(cache))])
    ref_file = cache / "models--acme--moving-gguf" / "refs" / "main"

    # Nothing downloaded yet (the process died): the ref stays, the update waits.
    waiting = settle(ledger, str(cache))
    assert waiting.landed == () and len(waiting.waiting) == 1
    assert ref_file.read_text() == old

    # The download completes (by commit: the library does not touch refs/main), then the ref moves.
    download(cache, hub, MOVING, revision=new, allow_patterns=list(job.request.allow_patterns))
    assert ref_file.read_text() == old
    settled = settle(ledger, str(cache))
    assert [(s.ref, s.old_commit, s.new_commit) for s in settled.landed] == [("main", old, new)]
    assert ref_file.read_text() == new
    assert ledger.pending() == [] and [e.old_commit for e in ledger.entries(str(cache))] == [old]
    assert scan_cache(cache).warnings == []

    # A ref someone else moved meanwhile is left alone.
    assert not move_ref(str(ref_file.parents[1]), "main", old, "e" * 40)
    assert ref_file.read_text() == new


def test_broken_state_files_are_ignored_and_rewritten(moving: HubServer, tmp_path: Path) -> None:
    hub = moving
    cache = tmp_path / "hub"
    download(cache, hub, MOVING, allow_patterns=["README.md"])
    store_path = tmp_path / "checks.json"
    for garbage in ("{not json", '{"version": 1, "refs": [1, 2]}', "[]", '{"version": 99}'):
        store_path.write_text(garbage)
        report = UpdateChecker(endpoint=hub.endpoint, token=False, store=CheckStore(store_path)).check(
            scan_cache(cache).repos
        )
        result = report.get("model", MOVING)
        assert result is not None and result.state == "up to date" and not result.from_store
        assert CheckStore(store_path).refs  # rewritten in the current format
    ledger_path = tmp_path / "updates.json"
    ledger_path.write_text('{"pending": [{"bogus": 1}], "superseded": "nope"}')
    ledger = SupersededLedger(ledger_path)
    assert ledger.pending() == [] and ledger.entries() == []
    assert settle(ledger, str(cache)).landed == ()


def test_monitor_checks_in_the_background_then_updates_settles_and_offers(
    moving: HubServer, tmp_path: Path
) -> None:
    from hftui.core.cache.cleanup import execute_plan
    from hftui.core.hub.update_monitor import UpdateMonitor

    hub = moving
    cache = tmp_path / "hub"
    download(cache, hub, MOVING, allow_patterns=["config.json", "README.md"])
    download(cache, hub, DOOMED)
    old = hub.commit(MOVING)
    new = hub.push(MOVING, "main", files={"config.json": '{"v": 10}'})
    changed: list[str] = []
    monitor = UpdateMonitor(
        cache_dir=cache,
        endpoint=hub.endpoint,
        token=False,
        ttl_seconds=0,
        store=CheckStore(tmp_path / "checks.json"),
        ledger=SupersededLedger(tmp_path / "updates.json"),
        on_change=changed.extend,
    )
    report = scan_cache(cache)
    assert monitor.check(report.repos)
    assert monitor.wait(60)
    assert sorted(changed) == [f"model/{DOOMED}", f"model/{MOVING}"]
    assert monitor.cell(f"model/{MOVING}") == "↑ 9 B" and monitor.cell(f"model/{DOOMED}") == "current"
    assert "1 update available" in monitor.summary()

    repo = report.find(f"model/{MOVING}")
    assert repo is not None
    intent = monitor.update(repo)
    assert [r.revision for r in intent.requests] == [
        new
    ] and "Updating acme/moving-gguf (main, 9 B" in intent.message
    assert monitor.has_pending([("model", MOVING)])
    doomed = report.find(f"model/{DOOMED}")
    assert doomed is not None and monitor.update(doomed).requests == ()

    (request,) = intent.requests
    download(cache, hub, MOVING, revision=request.revision, allow_patterns=list(request.allow_patterns))
    settled = monitor.settle()
    assert [(s.old_commit, s.new_commit) for s in settled.landed] == [(old, new)]
    offer = monitor.offer(scan_cache(cache), [("model", MOVING)])
    assert [e.old_commit for e in offer.prunable] == [old] and offer.freed_bytes == len('{"v": 1}')
    assert monitor.marks(offer)[0].commit_hash == old
    result = execute_plan(offer.plan)
    assert (
        result.freed_size == offer.freed_bytes
        and not (cache / "models--acme--moving-gguf" / "snapshots" / old).exists()
    )


@pytest.mark.parametrize(
    ("text", "expected", "problem"),
    [
        ("update_check_minutes = 0", 0, None),
        ("update_check_minutes = 90", 90, None),
        ("update_check_minutes = -1", 60, "must be between 0 and 525600"),
        ("update_check_minutes = 1e3", 60, "must be a whole number"),
        ('update_check_minutes = "soon"', 60, "must be a whole number"),
        ("update_check_minutes = 600000", 60, "must be between 0 and 525600"),
    ],
)
def test_update_check_minutes_setting_is_validated(
    tmp_path: Path, text: str, expected: int, problem: str | None
) -> None:
    from hftui.settings import load_settings

    path = tmp_path / "settings.toml"
    path.write_text(text + "\n")
    loaded = load_settings(path)
    assert loaded.settings.update_check_minutes == expected
    messages = [str(p) for p in loaded.problems]
    assert (problem is None and messages == []) or (
        problem is not None and any(problem in m for m in messages)
    )
