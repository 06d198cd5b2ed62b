"""The kept-bytes store as the cache sees it: scanners, `hftui scan`, prune and repo deletion.

Caches are built by real downloads from the local Hub, paused half-way (so the kept bytes are
the ones a real stop leaves), plus hand-made entries for the odd cases.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

import test_download
from test_kept_bytes import FOLDER, REPO, SIZE, _seed_store, kept_spec, pause_at_half

from hftui.core.cache.cleanup import Mark, execute_plan, plan_deletion, plan_loose_files
from hftui.core.downloads import kept
from hftui.core.downloads.models import DownloadRequest
from hftui.hub import HubServer

engine_factory = test_download.engine_factory


def paused_cache(engine_factory, hub: HubServer, cache: Path) -> int:
    hub.set_bandwidth(1_000_000)
    engine = engine_factory(hub)
    job = engine.submit(DownloadRequest(REPO)).job
    kept_bytes = pause_at_half(engine, job.id, cache, hub)
    engine.remove(job.id)
    return kept_bytes


def test_scanners_see_a_repo_with_kept_bytes_and_no_warning(engine_factory, tmp_path: Path) -> None:
    from huggingface_hub import scan_cache_dir

    from hftui.core.cache.scan import scan_cache

    cache = tmp_path / "cache"
    with HubServer(kept_spec()) as hub:
        kept_bytes = paused_cache(engine_factory, hub, cache)
        # A repo that has nothing but kept bytes (the first download of it was paused).
        other = kept.KeptStore(cache, "test/only-kept", "model")
        other.ensure()
        other.write_meta(kept.KeptMeta("test/only-kept", "model", "c" * 40, "w.bin", 10, "e" * 64, kept=4))
        other.part_path("e" * 64).write_bytes(b"abcd")
    info = scan_cache_dir(cache)
    assert info.warnings == []
    assert {r.repo_id for r in info.repos} == {REPO, "test/only-kept"}
    ours = scan_cache(cache)
    assert ours.warnings == [] and {r.repo_id for r in ours.repos} == {REPO, "test/only-kept"}
    by_repo = {r.repo_id: r for r in kept.kept_by_repo(cache)}
    assert by_repo[REPO].bytes == kept_bytes and by_repo[REPO].expected == SIZE and by_repo[REPO].files == 1
    assert by_repo["test/only-kept"].bytes == 4 and by_repo["test/only-kept"].problems == 0
    assert time.time() - by_repo[REPO].updated < 60


def test_hftui_scan_lists_kept_bytes_per_repo(engine_factory, tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    cache = tmp_path / "cache"
    with HubServer(kept_spec()) as hub:
        kept_bytes = paused_cache(engine_factory, hub, cache)
    out = subprocess.run(
        [sys.executable, "-m", "hftui", "scan", "--cache-dir", str(cache), "--json"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    data = json.loads(out)
    [entry] = data["kept_partial"]
    assert entry["repo_id"] == REPO and entry["kept_bytes"] == kept_bytes and entry["size"] == SIZE
    assert entry["path"] == "weights.bin" and entry["problem"] is None
    text = subprocess.run(
        [sys.executable, "-m", "hftui", "scan", "--cache-dir", str(cache)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "kept partial download" in text and REPO in text.split("kept partial download")[1]


def test_prune_offers_old_and_unwanted_kept_bytes_but_never_one_being_written(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    with HubServer(kept_spec()) as hub:
        store = _seed_store(cache, hub, part=hub.read_file(REPO, "weights.bin")[:1000])
    [entry] = list(kept.iter_kept(cache))
    wanted = [DownloadRequest(REPO, cache_dir=str(cache))]
    other = [DownloadRequest(REPO, cache_dir=str(cache), allow_patterns=("*.json",))]
    day = 86400.0
    # Fresh and wanted by a queued job: kept.
    offer, keep = kept.abandoned([entry], max_age=14 * day, requests=wanted)
    assert offer == [] and keep[0][1] == "a download in the queue will resume it"
    # Wanted, but no byte for 15 days: offered.
    offer, _ = kept.abandoned([entry], max_age=14 * day, requests=wanted, now=time.time() + 15 * day)
    assert offer and "15 days" in offer[0][1]
    # Fresh, but no job wants it (its job was removed, or only other files are queued): offered.
    for requests in ([], other):
        offer, _ = kept.abandoned([entry], max_age=14 * day, requests=requests)
        assert offer and offer[0][1] == "no download in the queue needs it"
    # Being written (a download holds the library's blob lock): never offered.
    lock = store.lock_path(entry.etag)
    lock.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        offer, keep = kept.abandoned([entry], max_age=1.0, requests=[], now=time.time() + 30 * day)
        assert offer == [] and keep[0][1] == "a download is writing it"
        # And a plan made before the lock was taken leaves it alone when executed.
        plan, _ = plan_loose_files([(entry.part_path, entry.part_bytes)], kind="kept", cache_dir=cache)
        report = execute_plan(plan)
        assert [o.status for o in report.outcomes] == ["kept"] and entry.part_path.exists()
    finally:
        os.close(fd)
    plan, _ = plan_loose_files([(entry.part_path, entry.part_bytes)], kind="kept", cache_dir=cache)
    assert plan.expected_freed_size == 1000
    report = execute_plan(plan)
    assert [o.status for o in report.outcomes] == ["deleted"]
    assert not entry.part_path.exists() and not entry.meta_path.exists() and not entry.folder.exists()


def test_unusable_entries_are_offered_with_their_reason(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    with HubServer(kept_spec()) as hub:
        store = _seed_store(cache, hub, part=None, kept=1000)  # state without bytes
        orphan = store.part_path("f" * 64)
        orphan.write_bytes(b"x" * 10)  # bytes without state
    offer, _ = kept.abandoned(list(kept.iter_kept(cache)), max_age=0, requests=None)
    reasons = sorted(why for _, why in offer)
    assert reasons == [
        "kept bytes without their state file",
        "state file points at kept bytes that no longer exist",
    ]


def test_deleting_a_repo_deletes_its_kept_bytes(engine_factory, tmp_path: Path) -> None:
    from huggingface_hub import scan_cache_dir

    cache = tmp_path / "cache"
    with HubServer(kept_spec()) as hub:
        paused_cache(engine_factory, hub, cache)
    assert list(kept.iter_kept(cache))
    repos = {(r.repo_type, r.repo_id): r for r in scan_cache_dir(cache).repos}
    plan = plan_deletion(repos, [Mark.repo("model", REPO)], cache_dir=cache)
    report = execute_plan(plan)
    assert report.ok, report.outcomes
    assert list(kept.iter_kept(cache)) == [] and not (cache / FOLDER).exists()


def test_a_paused_job_keeps_its_bytes_when_its_repo_is_rescanned(engine_factory, tmp_path: Path) -> None:
    # The kept file is inside the repo folder but outside blobs/ and snapshots/: the library's
    # own code never sees it, so it never counts it or deletes it on a revision deletion.
    from huggingface_hub import scan_cache_dir

    cache = tmp_path / "cache"
    with HubServer(kept_spec()) as hub:
        kept_bytes = paused_cache(engine_factory, hub, cache)
    [repo] = [r for r in scan_cache_dir(cache).repos if r.repo_id == REPO]
    assert repo.size_on_disk < kept_bytes  # config.json only
