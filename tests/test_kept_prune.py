"""Prune of kept partial downloads (issue 11): the Cache pane's controller and `hftui scan` apply
both rules, `kept_max_age_days` from the settings and "whose job is gone" from the queue."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from test_cache_controller import Recorder, StepRunner

from hftui.core.controllers.cache import CacheController
from hftui.core.downloads import kept
from hftui.core.downloads.models import DownloadRequest
from hftui.core.downloads.persist import QueueStore, unfinished_requests
from hftui.core.downloads.queue import DownloadQueue

REPO = "test/kept"
DAY = 86400.0


def seed(cache: Path, *, path: str = "weights.bin", days_old: float = 0.0, etag: str = "a" * 64) -> Path:
    """Hand-made kept bytes of `path` in REPO (as a paused download leaves them)."""
    store = kept.KeptStore(cache, REPO, "model")
    store.ensure()
    store.write_meta(
        kept.KeptMeta(
            REPO, "model", "c" * 40, path, 10_000, etag, sha256=etag, kept=1000, updated=time.time()
        )
    )
    part = store.part_path(etag)
    part.write_bytes(b"k" * 1000)
    if days_old:
        when = time.time() - days_old * DAY
        for file in (part, store.meta_path(etag)):
            os.utime(file, (when, when))
    return part


def kept_offer(cache: Path, **kwargs: object) -> tuple[set[str], dict[str, str]]:
    """(.part paths prune offers, why each one is left) from the controller's kept-bytes option."""
    runner = StepRunner()
    controller = CacheController(cache, runner, processes=1, **kwargs)  # type: ignore[arg-type]
    seen = Recorder()
    controller.listeners.append(seen)
    controller.start_scan()
    runner.run_next("cache-scan")
    runner.drain()
    controller.request_prune()
    runner.run_next("cache-plan")
    runner.drain()
    (options,) = seen.prunes
    [option] = [o for o in options if o.key == "kept"]
    offered = {str(f.path) for f in option.plan.loose_files}
    return offered, dict((path, why) for path, why in option.skipped)


def test_the_controller_reads_kept_max_age_days(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    old = seed(cache, days_old=3)
    # Default 14 days and no queue known: three days old is kept.
    offered, left = kept_offer(cache)
    assert offered == set() and left[str(old)] == "recent"
    # The setting at 2 days: offered.
    offered, _ = kept_offer(cache, kept_max_age_days=2)
    assert offered == {str(old)}
    # 0: no age limit at all.
    offered, _ = kept_offer(cache, kept_max_age_days=0)
    assert offered == set()


def test_the_controller_offers_kept_bytes_whose_job_is_gone(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    wanted = seed(cache, path="weights.bin", etag="a" * 64)
    orphan = seed(cache, path="other.bin", etag="b" * 64)
    queue = [DownloadRequest(REPO, allow_patterns=("weights.bin",))]
    offered, left = kept_offer(cache, queued_requests=lambda: queue)
    assert offered == {str(orphan)}
    assert left[str(wanted)] == "a download in the queue will resume it"
    # The queue cannot be read (None, or the callable fails): only the age rule applies.
    for unknown in (lambda: None, lambda: 1 / 0):
        offered, _ = kept_offer(cache, queued_requests=unknown)
        assert offered == set()
    # An empty queue: nobody will resume either.
    offered, _ = kept_offer(cache, queued_requests=lambda: [])
    assert offered == {str(wanted), str(orphan)}


def save_queue(state: Path, requests: list[tuple[DownloadRequest, str]]) -> None:
    queue = DownloadQueue()
    for request, job_state in requests:
        queue.submit(request).job.state = job_state  # type: ignore[assignment]
    QueueStore(state / "hftui").save(queue.to_json())


def test_unfinished_requests_of_the_saved_queue(tmp_path: Path) -> None:
    state = tmp_path / "state"
    assert unfinished_requests(state / "hftui") == []  # no saved queue: no job
    save_queue(
        state,
        [
            (DownloadRequest(REPO), "paused"),
            (DownloadRequest("acme/done"), "done"),
            (DownloadRequest("a/b"), "failed"),
        ],
    )
    assert [r.repo_id for r in unfinished_requests(state / "hftui") or []] == [REPO, "a/b"]
    (state / "hftui" / "queue.json").write_text("{not json")
    assert unfinished_requests(state / "hftui") is None  # unreadable: unknown, and left in place
    assert (state / "hftui" / "queue.json").read_text() == "{not json"


def scan_json(cache: Path, state: Path, config: Path) -> list[dict[str, object]]:
    env = {**os.environ, "XDG_STATE_HOME": str(state), "XDG_CONFIG_HOME": str(config)}
    out = subprocess.run(
        [sys.executable, "-m", "hftui", "scan", "--cache-dir", str(cache), "--json"],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    ).stdout
    return json.loads(out)["kept_partial"]


def test_hftui_scan_says_which_kept_bytes_prune_would_offer(tmp_path: Path) -> None:
    cache, state, config = tmp_path / "cache", tmp_path / "state", tmp_path / "config"
    wanted = seed(cache, path="weights.bin", etag="a" * 64, days_old=3)
    orphan = seed(cache, path="other.bin", etag="b" * 64)
    save_queue(state, [(DownloadRequest(REPO, allow_patterns=("weights.bin",)), "paused")])
    by_path = {e["kept_path"]: e["abandoned"] for e in scan_json(cache, state, config)}
    assert by_path == {str(wanted): None, str(orphan): "no download in the queue needs it"}
    # The setting from the user's settings file: 2 days makes the 3-day-old one abandoned too.
    (config / "hftui").mkdir(parents=True)
    (config / "hftui" / "settings.toml").write_text("kept_max_age_days = 2\n")
    by_path = {e["kept_path"]: e["abandoned"] for e in scan_json(cache, state, config)}
    assert by_path[str(wanted)] == "no byte for 3 days"
    text = subprocess.run(
        [sys.executable, "-m", "hftui", "scan", "--cache-dir", str(cache)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "XDG_STATE_HOME": str(state), "XDG_CONFIG_HOME": str(config)},
    ).stdout
    assert "2 of them are abandoned" in text and "other.bin: no download in the queue needs it" in text
