"""Snapshot tests of the Cache pane's main states at 80×24 and 120×40 (each pins the Textual version).

The cache is a copy of the downloaded test cache at a fixed path, with fixed timestamps, a pinned
clock and a pinned free-space figure, so the pictures only change when the UI does.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from hftui.settings import Settings
from hftui.tui.app import make_app
from hftui.tui.panes.cache import CachePane

# Empty datasets and Xet dirs: the header would otherwise sum up whatever earlier tests in this
# worker left in the session's, and the snapshots would depend on test order.
NO_OTHER_ROOTS = {
    "xet_cache": tempfile.mkdtemp(prefix="hftui-no-xet-"),
    "datasets_cache": tempfile.mkdtemp(prefix="hftui-no-datasets-"),
}

NOW = 1_767_225_600.0  # 2026-01-01 00:00 UTC
DAY = 86400.0


@pytest.fixture
def snap_cache(
    template_cache: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    base = Path("/tmp") / f"hftui-snap-{request.node.name.replace('[', '-').replace(']', '')}"
    shutil.rmtree(base, ignore_errors=True)
    target = base / "hub"
    shutil.copytree(template_cache, target, symlinks=True)
    for i, repo in enumerate(sorted(p for p in target.iterdir() if "--" in p.name)):
        for root, dirs, files in os.walk(repo):
            for name in files + dirs:
                path = Path(root, name)
                if not path.is_symlink():
                    os.utime(path, (NOW - (i + 1) * 9 * DAY, NOW - (i + 2) * 30 * DAY))
    monkeypatch.setattr("hftui.tui.widgets.cache_table.now", lambda: NOW)
    monkeypatch.setattr("hftui.tui.panes.cache.disk_free", lambda path: 123_400_000_000)
    yield target
    shutil.rmtree(base, ignore_errors=True)


async def _settle(pilot) -> None:
    for _ in range(3):
        await pilot.pause()
        await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def _app(cache: Path, theme: str = "dark"):
    return make_app(Settings(cache_dir=str(cache), **NO_OTHER_ROOTS, theme=theme))


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_list(snap_compare, snap_cache: Path, size: tuple[int, int]) -> None:
    assert snap_compare(_app(snap_cache), run_before=_settle, terminal_size=size)


def test_list_light_with_marks(snap_compare, snap_cache: Path) -> None:
    async def run_before(pilot) -> None:
        await _settle(pilot)
        await pilot.press("space", "space")
        await _settle(pilot)

    assert snap_compare(_app(snap_cache, "light"), run_before=run_before, terminal_size=(80, 24))


def test_detail_with_marks(snap_compare, snap_cache: Path) -> None:
    async def run_before(pilot) -> None:
        await _settle(pilot)
        await pilot.press("enter")
        await _settle(pilot)
        await pilot.press("space", "tab", "down", "space")
        await _settle(pilot)

    assert snap_compare(_app(snap_cache), run_before=run_before, terminal_size=(120, 40))


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_confirm_dialog(snap_compare, snap_cache: Path, size: tuple[int, int]) -> None:
    async def run_before(pilot) -> None:
        await _settle(pilot)
        await pilot.press("space", "space", "d")
        await _settle(pilot)

    assert snap_compare(_app(snap_cache), run_before=run_before, terminal_size=size)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_verify_dialog(snap_compare, snap_cache: Path, size: tuple[int, int]) -> None:
    async def run_before(pilot) -> None:
        await _settle(pilot)
        await pilot.press("v")
        await _settle(pilot)

    assert snap_compare(_app(snap_cache), run_before=run_before, terminal_size=size)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_prune_preview(snap_compare, snap_cache: Path, size: tuple[int, int]) -> None:
    async def run_before(pilot) -> None:
        await _settle(pilot)
        pane = pilot.app.query_one(CachePane)
        assert pane.report is not None
        await pilot.press("p")
        await _settle(pilot)

    assert snap_compare(_app(snap_cache), run_before=run_before, terminal_size=size)
