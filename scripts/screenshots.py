"""Regenerate the README screenshots (`screenshots/*.svg`) from the demo cache.

    python scripts/screenshots.py            # every scenario
    python scripts/screenshots.py cache-list # only the named ones

Each scenario is a named async function that drives the app to one state; add your pane's
scenarios to SCENARIOS. The demo Hub and cache are built once (huggingface_hub's own download
code against the local Hub server) and deleted afterwards.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "screenshots"

Drive = Callable[[Any], Awaitable[None]]


@dataclass(frozen=True)
class Scenario:
    name: str
    size: tuple[int, int]
    drive: Drive
    settings: dict[str, Any] | None = None


async def settle(pilot: Any) -> None:
    for _ in range(3):
        await pilot.pause()
        await pilot.app.workers.wait_for_complete()
    await pilot.pause()


# -- Cache pane ---------------------------------------------------------------------------------


async def cache_list(pilot: Any) -> None:
    await settle(pilot)


async def cache_detail_marks(pilot: Any) -> None:
    from hftui.hub.demo import PARTIAL_REPO
    from hftui.tui.panes.cache import CachePane, folder_name

    await settle(pilot)
    pane = pilot.app.query_one(CachePane)
    pane.table.move_cursor(row=pane.table.get_row_index(folder_name("model", PARTIAL_REPO)))
    await pilot.press("space")  # mark a whole repo
    from hftui.hub.demo import DETACHED_REPO

    pane.table.move_cursor(row=pane.table.get_row_index(folder_name("model", DETACHED_REPO)))
    await pilot.press("enter")
    await settle(pilot)
    detached = next(
        i
        for i, r in enumerate(pane.detail.revisions.rows)
        if not pane.detail.record.revision(str(r.value)).refs
    )
    pane.detail.revisions.move_cursor(row=detached)
    await pilot.press("space")  # mark the detached revision
    pane.detail.revisions.move_cursor(row=0)
    await pilot.pause()
    await pilot.press("tab", "down", "space")  # and a file of the current one
    await settle(pilot)


async def cache_confirm(pilot: Any) -> None:
    await cache_detail_marks(pilot)
    await pilot.press("d")
    await settle(pilot)


async def cache_prune(pilot: Any) -> None:
    await settle(pilot)
    await pilot.press("p")
    await settle(pilot)


async def cache_verify(pilot: Any) -> None:
    """`v` on a repo with a corrupt blob: the mismatch, and `r` offered to re-download just that file."""
    from hftui.hub.demo import COMPLETE_REPO
    from hftui.tui.panes.cache import CachePane, folder_name
    from hftui.tui.screens.cache_verify import VerifyScreen

    await settle(pilot)
    pane = pilot.app.query_one(CachePane)
    record = pane.table.records[folder_name("model", COMPLETE_REPO)]
    revision = record.revision("main")
    snapshot = Path(record.repo_path) / "snapshots" / revision.commit_hash
    largest = max((p for p in snapshot.rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)
    blob = largest.resolve()
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size: only the hash can tell
    blob.write_bytes(bytes(data))
    pane.table.move_cursor(row=pane.table.get_row_index(record.name))
    await pilot.press("v")
    for _ in range(300):
        await pilot.pause(0.05)
        if isinstance(pilot.app.screen, VerifyScreen) and pilot.app.screen.result is not None:
            break
    await settle(pilot)


# -- Browse pane --------------------------------------------------------------------------------


async def _browse(pilot: Any, repo_input: str) -> Any:
    from hftui.tui.panes.browse import BrowsePane

    await settle(pilot)
    await pilot.press("2")
    pane = pilot.app.query_one(BrowsePane)
    pane.open_repo(repo_input)
    await settle(pilot)
    return pane


async def browse_selection(pilot: Any) -> None:
    from hftui.hub.demo import COMPLETE_REPO

    pane = await _browse(pilot, f"{COMPLETE_REPO}@v1.0")
    pane.repo_tree.focus()
    await pilot.press("s")  # preset: safetensors weights only
    await settle(pilot)
    for node in pane.repo_tree.root.children:
        if str(node.label).startswith("onnx"):
            node.expand()
    await settle(pilot)


async def browse_gguf(pilot: Any) -> None:
    from hftui.hub.demo import GGUF_REPO

    await _browse(pilot, f"{GGUF_REPO}:Q4_K_M")
    await settle(pilot)


# -- Queue pane ---------------------------------------------------------------------------------

_demo_hub: Any = None  # the demo's HubServer, so a scenario can throttle it


async def queue_states(pilot: Any) -> None:
    import time

    from hftui.core.downloads.models import DownloadRequest
    from hftui.hub.demo import COMPLETE_REPO, DATASET_REPO, GATED_REPO, GGUF_REPO
    from hftui.tui.panes.queue import QueuePane

    app = pilot.app
    await settle(pilot)
    app.enqueue_download(DownloadRequest(COMPLETE_REPO, allow_patterns=("*.json", "*.txt")))
    deadline = time.monotonic() + 20
    while any(j.state != "done" for j in app.downloads.jobs()) and time.monotonic() < deadline:
        await pilot.pause(0.05)
    _demo_hub.set_bandwidth(1_500_000)  # slow enough to catch jobs mid-flight
    app.enqueue_download(DownloadRequest(GATED_REPO))  # no token: fails with a hint
    app.enqueue_download(DownloadRequest(GGUF_REPO, allow_patterns=("*Q8_0.gguf",)))
    app.enqueue_download(DownloadRequest(DATASET_REPO, repo_type="dataset"))
    app.enqueue_download(DownloadRequest(GGUF_REPO, allow_patterns=("*Q5_K_M.gguf",)))
    app.enqueue_download(DownloadRequest(GGUF_REPO, allow_patterns=("*Q2_K.gguf",)))
    await pilot.press("3")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        running = [j for j in app.downloads.jobs() if j.state == "running"]
        if len(running) == 2 and all(j.bytes_done > 3_000_000 for j in running):
            break
        await pilot.pause(0.1)
    last = app.downloads.jobs()[-1]
    app.downloads.act("toggle_pause", last.id)
    pane = app.query_one(QueuePane)
    pane.focus_default()
    await pilot.pause()
    await pilot.press("down")  # highlight the failed job: its error and hint show below the table
    await pilot.pause(0.6)


async def cache_updates(pilot: Any) -> None:
    """The Hub moves on after the cache was built: the status says ↑, U updates, the old revision is marked."""
    from hftui.hub.demo import COMPLETE_REPO, move_upstream
    from hftui.tui.panes.cache import CachePane, folder_name

    await settle(pilot)
    pane = pilot.app.query_one(CachePane)
    pane.updates.monitor.wait(60)
    if not _demo_hub.spec.repo(COMPLETE_REPO).head.title.startswith("Fix"):  # type: ignore[union-attr]
        move_upstream(_demo_hub)  # last scenarios: the others see the Hub as the cache was built
    assert pane.report is not None
    pane.updates.monitor.check(pane.report.valid_repos, force=True)
    pane.updates.monitor.wait(60)
    await settle(pilot)
    pane.table.move_cursor(row=pane.table.get_row_index(folder_name("model", COMPLETE_REPO)))
    await settle(pilot)


async def cache_updated(pilot: Any) -> None:
    """After U: the update landed, the superseded revision is marked with what deleting it frees."""
    from hftui.core.cache.cleanup import Mark
    from hftui.hub.demo import COMPLETE_REPO
    from hftui.tui.panes.cache import CachePane

    await cache_updates(pilot)
    pane = pilot.app.query_one(CachePane)
    old = pane.updates.monitor.result(f"model/{COMPLETE_REPO}").refs[0].cached_commit
    await pilot.press("U")
    for _ in range(600):
        await pilot.pause(0.1)
        if Mark.revision("model", COMPLETE_REPO, old) in pane.marks:
            break
    await settle(pilot)


async def roots(pilot: Any) -> None:
    """`R`: the other roots around the demo cache (a datasets cache written by datasets, a local dir
    downloaded from the demo Hub, a second hub cache, the Xet dir), with duplicates and a warning."""
    import time

    from huggingface_hub import snapshot_download

    from hftui.hub.demo import COMPLETE_REPO
    from hftui.tui.screens.roots import RootsScreen

    await settle(pilot)
    settings = pilot.app.settings
    home = Path(settings.cache_dir).parent
    base = home.parent
    # A dataset prepared by the real `datasets` library from a small CSV (no network).
    import datasets

    data = base / "notes.csv"
    data.write_text("text,label\n" + "".join(f"line {i},{i % 2}\n" for i in range(2000)))
    datasets.load_dataset("csv", data_files=str(data), cache_dir=str(home / "datasets"))
    # hf download --local-dir from the demo Hub: a full copy of a cached repo (duplicate bytes).
    snapshot_download(
        COMPLETE_REPO, endpoint=settings.endpoint, local_dir=str(base / "models" / "bert"), token=False
    )
    # hf_xet's dir: logs, and a chunk cache (sparse: its size without the bytes).
    (home / "xet" / "logs").mkdir(parents=True)
    (home / "xet" / "logs" / "xet-20261201.log").write_text("INFO started\n" * 400)
    chunks = home / "xet" / "https___cas_serv_huggingface_co" / "chunk-cache"
    chunks.mkdir(parents=True)
    with open(chunks / "cache.bin", "wb") as fh:
        fh.truncate(3_200_000_000)
    old = time.time() - 9 * 86400
    os.utime(chunks / "cache.bin", (old, old))
    settings.datasets_cache = str(home / "datasets")
    settings.xet_cache = str(home / "xet")
    settings.local_dir_search = [str(base / "models")]
    settings.local_dirs = [str(base / "mnt" / "team-share")]  # not mounted: a warning
    await pilot.press("R")
    for _ in range(300):
        await pilot.pause(0.1)
        screen = pilot.app.screen
        if isinstance(screen, RootsScreen) and screen.controller.report is not None:
            break
    await settle(pilot)


SCENARIOS: list[Scenario] = [
    Scenario("cache-list", (120, 36), cache_list),
    Scenario("cache-list-80x24", (80, 24), cache_list),
    Scenario("cache-detail-marks", (120, 36), cache_detail_marks),
    Scenario("cache-confirm", (120, 36), cache_confirm),
    Scenario("cache-prune", (120, 36), cache_prune),
    Scenario("cache-verify", (120, 36), cache_verify),
    Scenario("browse-selection", (120, 36), browse_selection),
    Scenario("browse-gguf", (120, 36), browse_gguf),
    Scenario("queue", (120, 36), queue_states, {"max_jobs": 2, "disk_margin_mb": 0}),
    Scenario("roots", (80, 24), roots),
    # Last: they move a branch on the shared demo Hub.
    Scenario("cache-updates", (120, 36), cache_updates),
    Scenario("cache-updated", (120, 36), cache_updated),
]


async def shoot(scenario: Scenario, cache_dir: Path, endpoint: str) -> Path:
    from hftui.settings import Settings
    from hftui.tui.app import make_app

    app = make_app(Settings(cache_dir=str(cache_dir), endpoint=endpoint, **(scenario.settings or {})))
    async with app.run_test(size=scenario.size) as pilot:
        await scenario.drive(pilot)
        path = app.save_screenshot(filename=f"{scenario.name}.svg", path=str(OUT))
        app.downloads.shutdown(2.0)
    return Path(path)


def main(argv: list[str]) -> int:
    from hftui.hub.demo import demo_session

    wanted = set(argv)
    chosen = [s for s in SCENARIOS if not wanted or s.name in wanted]
    if wanted - {s.name for s in SCENARIOS}:
        print(
            f"unknown scenario(s): {', '.join(sorted(wanted - {s.name for s in SCENARIOS}))}", file=sys.stderr
        )
        return 2
    OUT.mkdir(exist_ok=True)
    global _demo_hub
    with demo_session() as demo:
        _demo_hub = demo.hub
        for scenario in chosen:
            # A fresh copy per scenario (under a realistic path): scenarios may delete things.
            base = Path(tempfile.mkdtemp(prefix="hftui-shot-"))
            # A saved queue per scenario: the user's is never touched, and one scenario's paused
            # jobs do not greet the next one with a resume dialog.
            os.environ["XDG_STATE_HOME"] = str(base / "state")
            cache_dir = base / "huggingface" / "hub"
            shutil.copytree(demo.cache_dir, cache_dir, symlinks=True)
            try:
                print(asyncio.run(shoot(scenario, cache_dir, demo.endpoint)))
            finally:
                demo.hub.set_bandwidth(None)
                shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
