"""Snapshot tests of the Browse and Queue panes and of every modal, at 80×24 and 120×40.

The app runs on an empty cache at a fixed path with a pinned clock and free-space figure; Browse shows a
repo of the local Hub (content-addressed, so its commit and sizes are the same on every run); modals are
pushed with fixed data. The footer in each picture is the keyboard model at work: only keys that act.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hubfixtures import MODEL, small_spec
from textual.widgets import Input

from hftui.hub import HubServer
from hftui.settings import Settings
from hftui.tui.app import make_app

# Empty datasets and Xet dirs: the header would otherwise sum up whatever earlier tests in this
# worker left in the session's, and the snapshots would depend on test order.
NO_OTHER_ROOTS = {
    "xet_cache": tempfile.mkdtemp(prefix="hftui-no-xet-"),
    "datasets_cache": tempfile.mkdtemp(prefix="hftui-no-datasets-"),
}

SIZES = [(80, 24), (120, 40)]
NOW = 1_767_225_600.0


@pytest.fixture
def fixed_cache(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    base = Path("/tmp") / f"hftui-snap-{request.node.name.replace('[', '-').replace(']', '')}"
    shutil.rmtree(base, ignore_errors=True)
    target = base / "hub"
    target.mkdir(parents=True)
    monkeypatch.setattr("hftui.tui.widgets.cache_table.now", lambda: NOW)
    monkeypatch.setattr("hftui.tui.panes.cache.disk_free", lambda path: 123_400_000_000)
    monkeypatch.setattr("hftui.core.hub.patterns.free_space", lambda path: (123_400_000_000, Path(path)))
    yield target
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def snap_hub() -> Iterator[HubServer]:
    with HubServer(small_spec()) as server:
        yield server


async def settle(pilot: Any) -> None:
    for _ in range(4):
        await pilot.pause()
        await pilot.app.workers.wait_for_complete()
    await pilot.pause()


# -- panes -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
def test_browse_before_a_repo_is_open(snap_compare, fixed_cache: Path, size: tuple[int, int]) -> None:
    async def run_before(pilot: Any) -> None:
        await settle(pilot)
        await pilot.press("2")
        await settle(pilot)

    assert snap_compare(
        make_app(Settings(cache_dir=str(fixed_cache), **NO_OTHER_ROOTS)),
        run_before=run_before,
        terminal_size=size,
    )


@pytest.mark.parametrize("size", SIZES)
def test_browse_with_a_repo_and_a_preset(
    snap_compare, fixed_cache: Path, snap_hub: HubServer, size: tuple[int, int]
) -> None:
    async def run_before(pilot: Any) -> None:
        await settle(pilot)
        await pilot.press("2", "o", *MODEL, "enter")
        await settle(pilot)
        await pilot.press("s", "j")
        await settle(pilot)

    app = make_app(Settings(cache_dir=str(fixed_cache), **NO_OTHER_ROOTS, endpoint=snap_hub.endpoint))
    app.sub_title = "snapshot"  # the Hub's port is different each run
    assert snap_compare(app, run_before=run_before, terminal_size=size)


@pytest.mark.parametrize("size", SIZES)
def test_browse_typing_in_the_repo_box(snap_compare, fixed_cache: Path, size: tuple[int, int]) -> None:
    """The box visibly has focus, and the footer offers F-keys and escape, not `1 2 3` or `/`."""

    async def run_before(pilot: Any) -> None:
        await settle(pilot)
        for box in pilot.app.query(Input):
            box.cursor_blink = False  # a blinking cursor would make the picture depend on timing
        await pilot.press("2", "o", "a", "c", "m", "e")
        await settle(pilot)

    assert snap_compare(
        make_app(Settings(cache_dir=str(fixed_cache), **NO_OTHER_ROOTS)),
        run_before=run_before,
        terminal_size=size,
    )


@pytest.mark.parametrize("size", SIZES)
def test_queue_empty(snap_compare, fixed_cache: Path, size: tuple[int, int]) -> None:
    async def run_before(pilot: Any) -> None:
        await settle(pilot)
        await pilot.press("3")
        await settle(pilot)

    assert snap_compare(
        make_app(Settings(cache_dir=str(fixed_cache), **NO_OTHER_ROOTS)),
        run_before=run_before,
        terminal_size=size,
    )


@pytest.mark.parametrize("size", SIZES)
def test_read_only_badge(snap_compare, fixed_cache: Path, size: tuple[int, int]) -> None:
    app = make_app(Settings(cache_dir=str(fixed_cache), **NO_OTHER_ROOTS, read_only=True))
    assert snap_compare(app, run_before=settle, terminal_size=size)


# -- modals ----------------------------------------------------------------------------------------


def _modal(factory: Any) -> Any:
    async def run_before(pilot: Any) -> None:
        await settle(pilot)
        pilot.app.push_screen(factory())
        await settle(pilot)

    return run_before


def _help() -> Any:
    from hftui.tui.screens.help import HelpScreen

    return HelpScreen(read_only=False, keymap={})


def _presets() -> Any:
    from hftui.tui.screens.revision_picker import ChoicePicker

    return ChoicePicker(
        "Presets",
        [
            ("Safetensors weights only (s)", "safetensors"),
            ("Config and tokenizer only (c)", "config"),
            ("One GGUF quantization… (Q)", "gguf"),
            ("This folder only: (root)/", "folder"),
            ("Everything: clear the globs (a)", "all"),
        ],
    )


def _revisions() -> Any:
    from hftui.core.hub.remote import RefInfo, RepoRefs
    from hftui.tui.screens.revision_picker import RevisionPicker

    refs = RepoRefs(
        branches=(
            RefInfo("main", "refs/heads/main", "a" * 40, "branch"),
            RefInfo("feature/long-context", "refs/heads/feature/long-context", "b" * 40, "branch"),
        ),
        tags=(RefInfo("v1.0", "refs/tags/v1.0", "c" * 40, "tag"),),
        pull_requests=(RefInfo("refs/pr/1", "refs/pr/1", "d" * 40, "pr"),),
    )
    return RevisionPicker(refs, "main")


def _copy() -> Any:
    from hftui.core.cache.clipboard import copy_choices
    from hftui.tui.screens.cache_copy import CopyMenuScreen

    return CopyMenuScreen(
        copy_choices(
            "acme/bert-mini", "model", "/data/hf/hub/models--acme--bert-mini/snapshots/" + "a" * 40, "main"
        )
    )


def _prune() -> Any:
    from hftui.tui.screens.prune import PruneChoice, PruneScreen

    return PruneScreen(
        [
            PruneChoice("detached", "Detached revisions", 2, 1_234_000_000),
            PruneChoice("incomplete", "Orphaned .incomplete files", 3, 45_600_000),
            PruneChoice("locks", "Stale lock files", 4, 0),
        ]
    )


def _quit() -> Any:
    from hftui.tui.screens.confirm import ConfirmScreen

    return ConfirmScreen(
        "Quit hftui?",
        "2 download job(s) are running. They will be stopped cleanly (finished files are kept) and "
        "resume on the next launch.",
        confirm_label="Stop and quit",
    )


MODALS = {
    "help": _help,
    "presets": _presets,
    "revisions": _revisions,
    "copy": _copy,
    "prune": _prune,
    "quit": _quit,
}


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x40"])
@pytest.mark.parametrize("modal", sorted(MODALS))
def test_modal(snap_compare, fixed_cache: Path, modal: str, size: tuple[int, int]) -> None:
    app = make_app(Settings(cache_dir=str(fixed_cache), **NO_OTHER_ROOTS))
    assert snap_compare(app, run_before=_modal(MODALS[modal]), terminal_size=size)
