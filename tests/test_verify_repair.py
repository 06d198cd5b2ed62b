"""Issue 13: verify leads somewhere. A corrupt blob in a real cache; `v` finds it; one key queues a
re-download of exactly that file through the normal queue; afterwards its SHA-256 is the server's."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from conftest import until
from hubfixtures import MODEL, download_into, hub_server, small_spec  # noqa: F401
from test_cache_pane import settle
from test_download import body_gets, xet_param  # noqa: F401

from hftui.core.cache.verify import VerifyResult, redownload_request, verify_revision
from hftui.hub import HubServer
from hftui.settings import Settings
from hftui.tui.app import make_app
from hftui.tui.panes.cache import CachePane
from hftui.tui.screens.cache_verify import VerifyScreen

MODEL_DIR = "models--acme--bert-mini"


def _corrupt_largest(cache: Path, hub: HubServer) -> tuple[Path, str]:
    """Flip one byte of the largest file's blob (same size: only a hash can tell). -> (snapshot, path)."""
    snapshot = cache / MODEL_DIR / "snapshots" / hub.commit(MODEL)
    path = max(hub.files(MODEL).items(), key=lambda item: item[1].size)[0]
    blob = (snapshot / path).resolve()
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF
    blob.write_bytes(bytes(data))
    return snapshot, path


def xet_on(hub: HubServer) -> bool:
    return bool(hub.xet)


def test_the_request_names_exactly_the_bad_files() -> None:
    result = VerifyResult(
        "c" * 40, checked=["a.json"], mismatched=[("w[1]*.bin", "sha256 …"), ("b.bin", "size")]
    )
    request = redownload_request(result, repo_type="dataset", repo_id="org/d", cache_dir="/c")
    assert request is not None
    assert request.allow_patterns == ("b.bin", "w[[]1][*].bin")  # globs that match only themselves
    assert (request.revision, request.force_download, request.cache_dir) == ("c" * 40, True, "/c")
    assert "re-download 2 bad files" in request.label
    assert (
        redownload_request(VerifyResult("c" * 40), repo_type="model", repo_id="o/m", cache_dir="/c") is None
    )


async def test_verify_mismatch_then_r_redownloads_only_the_bad_file(tmp_path: Path, xet: bool) -> None:
    with HubServer(small_spec(xet=xet)) as hub:
        await _redownload_only_the_bad_file(tmp_path, hub)


async def _redownload_only_the_bad_file(tmp_path: Path, hub: HubServer) -> None:
    cache = tmp_path / "hub"
    download_into(cache, hub, MODEL)
    snapshot, bad = _corrupt_largest(cache, hub)
    app = make_app(Settings(cache_dir=str(cache), endpoint=hub.endpoint, disk_margin_mb=0))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, app)
        pane = app.query_one(CachePane)
        pane.table.move_cursor(row=pane.table.get_row_index(MODEL_DIR))
        await pilot.press("v")
        await until(pilot, lambda: isinstance(app.screen, VerifyScreen) and app.screen.result is not None)
        screen = app.screen
        assert isinstance(screen, VerifyScreen) and screen.result is not None
        assert screen.result.bad_paths == [bad]
        assert "r: re-download this file" in str(screen.query_one("#result-text").render())
        hub.clear_requests()
        await pilot.press("r")
        await until(pilot, lambda: not isinstance(app.screen, VerifyScreen), what="dialog closed")
        await until(pilot, lambda: bool(app.downloads.jobs()), what="job queued")
        (job,) = app.downloads.jobs()
        await until(
            pilot, lambda: app.downloads.jobs()[0].state in ("done", "failed"), timeout=60, what="job end"
        )
        job = app.downloads.jobs()[0]
        assert job.state == "done", job.error
        assert job.files_total == 1 and job.bytes_total == hub.files(MODEL)[bad].size
    # Only the bad file's bytes travelled (its GET, or its xorb ranges over Xet).
    carried = {path for path in hub.files(MODEL) if body_gets(hub, MODEL, path)}
    assert carried == {bad}
    assert not xet_on(hub) or hub.is_xet(MODEL, bad)  # with Xet on, the repair travelled over Xet
    digest = hashlib.sha256((snapshot / bad).read_bytes()).hexdigest()
    assert digest == hub.file_sha256(MODEL, bad)
    assert verify_revision(cache / MODEL_DIR, hub.commit(MODEL)).ok


async def test_cannot_verify_stops_the_spinner_and_offers_no_redownload(
    tmp_path: Path, hub: HubServer
) -> None:
    cache = tmp_path / "hub"
    download_into(cache, hub, MODEL)
    shutil.rmtree(cache / MODEL_DIR / "trees", ignore_errors=True)  # no listing to verify against
    app = make_app(Settings(cache_dir=str(cache), endpoint=hub.endpoint))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, app)
        pane = app.query_one(CachePane)
        pane.table.move_cursor(row=pane.table.get_row_index(MODEL_DIR))
        await pilot.press("v")
        await until(
            pilot,
            lambda: (
                isinstance(app.screen, VerifyScreen)
                and "cannot verify" in str(app.screen.query_one("#result-text").render())
            ),
            what="cannot verify",
        )
        from textual.widgets import ProgressBar

        screen = app.screen
        assert not screen.query_one(ProgressBar).display  # no spinner turning after the verdict
        assert screen.check_action("redownload", ()) is False
        await pilot.press("r")  # does nothing: no job
        await pilot.pause()
        assert app.downloads.jobs() == []
