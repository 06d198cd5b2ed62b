"""Issue 13: Browse's preview equals what a download does. Real downloads from the local Hub into real
caches and local dirs; the preview's figures are compared with the files that land on disk."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hubfixtures import MODEL, download_into, hub_server  # noqa: F401
from test_browse_controller import controller

from hftui.core.controllers.browse import Inputs
from hftui.core.downloads.engine import DownloadEngine
from hftui.core.downloads.queue import Job
from hftui.hub import HubServer
from hftui.settings import Settings


@pytest.fixture
def engine_for(tmp_path: Path) -> Iterator[object]:
    engines: list[DownloadEngine] = []

    def make(hub: HubServer, cache: Path) -> DownloadEngine:
        engine = DownloadEngine(
            Settings(disk_margin_mb=0), endpoint=hub.endpoint, token=False, default_cache=str(cache)
        )
        engines.append(engine)
        engine.start()
        return engine

    yield make
    for engine in engines:
        engine.shutdown(2.0)


def _run(engine: DownloadEngine, request: object) -> Job:
    outcome = engine.submit(request)  # type: ignore[arg-type]
    assert outcome.accepted, outcome.message
    assert engine.wait_idle(60)
    job = engine.job(outcome.job.id)
    assert job.state == "done", job.error
    return job


def _payload(root: Path) -> dict[str, int]:
    return {
        str(p.relative_to(root)): p.stat().st_size
        for p in root.rglob("*")
        if p.is_file() and ".cache" not in p.relative_to(root).parts
    }


def test_empty_local_dir_preview_counts_the_copies_that_land(
    tmp_path: Path, hub: HubServer, engine_for
) -> None:
    cache = tmp_path / "cache"
    download_into(cache, hub, MODEL)
    c, view = controller(hub, cache)
    assert c.open(MODEL)
    target = tmp_path / "out"
    target.mkdir()
    view.bar = Inputs("", "", str(target), False)
    c.inputs_changed()
    p = c.last_preview
    assert p is not None
    # Nothing travels, but every file is copied out of the cache: the preview says so, not `0 files`.
    assert (p.download_files, p.download_bytes) == (0, 0)
    assert p.copy_files == p.count == len(hub.files(MODEL)) and not p.nothing_to_do
    from hftui.tui.panes.browse import preview_text

    text, _ = preview_text(p)
    assert f"copied from the cache ({p.copy_files} files)" in text

    request = c.download_request()
    assert request is not None and "to copy" in request.label and "to fetch" not in request.label
    job = _run(engine_for(hub, cache), request)
    landed = _payload(target)
    assert len(landed) == p.copy_files and sum(landed.values()) == p.copy_bytes
    assert job.copied == (p.copy_bytes, p.copy_files)

    # Everything is in the dir now: the preview says nothing moves, and Enter queues nothing.
    c.inputs_changed()
    again = c.last_preview
    assert again is not None and again.nothing_to_do
    assert c.download_request() is None
    assert (
        c.notice.text.startswith(f"Not queued: all {p.count} files")
        and f"already in {target}" in c.notice.text
    )


def test_a_fully_cached_selection_queues_no_job(tmp_path: Path, hub: HubServer) -> None:
    cache = tmp_path / "cache"
    download_into(cache, hub, MODEL, allow_patterns=["*.json"])
    c, view = controller(hub, cache)
    assert c.open(MODEL)
    view.type_globs("*.json")
    c.inputs_changed()
    p = c.last_preview
    assert p is not None and p.count >= 2 and p.download_files == 0 and p.nothing_to_do
    assert c.download_request() is None
    assert "already cached; nothing to download" in c.notice.text
    # Force fetches them again: then a job is what the user asked for.
    view.bar = Inputs("*.json", "", "", True)
    c.inputs_changed()
    assert c.download_request() is not None


def test_the_cache_preview_is_what_the_job_fetches(tmp_path: Path, hub: HubServer, engine_for) -> None:
    cache = tmp_path / "cache"
    download_into(cache, hub, MODEL, allow_patterns=["config.json"])
    c, _view = controller(hub, cache)
    assert c.open(MODEL)
    p = c.last_preview
    assert p is not None and 0 < p.download_files < p.count
    request = c.download_request()
    assert request is not None
    from hftui.core import vocab

    assert f"{vocab.size(p.download_bytes)} to fetch" in request.label  # not the whole selection's size
    hub.reset_byte_counters()
    job = _run(engine_for(hub, cache), request)
    assert (job.files_total, job.bytes_total) == (p.download_files, p.download_bytes)
    assert hub.bytes_sent() >= p.download_bytes  # bodies really travelled (plus listings)


async def test_enter_in_browse_on_a_cached_selection_queues_nothing_and_says_so(
    tmp_path: Path, hub: HubServer
) -> None:
    from test_browse_pane import browse, open_typed, set_globs, settle

    download_into(tmp_path / "cache", hub, MODEL, allow_patterns=["*.json"])
    async with browse(tmp_path, hub.endpoint) as (app, pilot, pane, queued):
        await open_typed(app, pilot, pane, MODEL)
        await settle(app, pilot)
        await set_globs(app, pilot, pane, "*.json")
        assert "0 B to download (0 files)" in str(app.query_one("#preview-line").render())
        pane.repo_tree.focus()
        await pilot.press("enter")
        await pilot.pause()
        assert queued == []  # no no-op job
        assert "Not queued" in pane.message_text and "already cached" in pane.message_text


def test_a_local_dir_copy_reads_as_copied_in_the_queue_pane() -> None:
    from hftui.core.downloads.models import DownloadRequest
    from hftui.tui.panes.queue import job_cells

    copied = Job(
        DownloadRequest(MODEL, local_dir="/models/x"),
        state="done",
        bytes_total=0,
        files_total=0,
        copied=(1234, 3),
    )
    cells = job_cells(copied, 1)
    assert (cells["progress"], cells["files"]) == ("copied 1.2 kB", "3/3")
    unchanged = Job(DownloadRequest(MODEL, local_dir="/models/x"), state="done", bytes_total=0, files_total=0)
    assert job_cells(unchanged, 1)["progress"] == "already in the local dir"
