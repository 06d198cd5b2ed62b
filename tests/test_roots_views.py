"""The Roots controller (no UI, real threads) and the Roots screen (Pilot), on real layouts."""

from __future__ import annotations

import time
from pathlib import Path

from hubfixtures import MODEL, download_into, hub_server  # noqa: F401
from test_roots import _age, _csv_dataset

from hftui.core.cache.roots import Root
from hftui.core.controllers.cache import Notice
from hftui.core.controllers.roots import RootConfirm, RootsController, RootsListener
from hftui.core.controllers.runner import ThreadRunner
from hftui.settings import Settings
from hftui.tui.app import make_app
from hftui.tui.panes.cache import CachePane
from hftui.tui.widgets.cache_table import size_text


class Recorder(RootsListener):
    def __init__(self) -> None:
        self.confirms: list[RootConfirm] = []
        self.notices: list[Notice] = []

    def confirm(self, request: RootConfirm) -> None:
        self.confirms.append(request)

    def notice(self, notice: Notice) -> None:
        self.notices.append(notice)


def _controller(
    roots: list[Root], *, read_only: bool = False
) -> tuple[RootsController, ThreadRunner, Recorder]:
    runner = ThreadRunner()
    controller = RootsController(lambda: roots, runner, read_only=read_only)
    recorder = Recorder()
    controller.listeners.append(recorder)
    return controller, runner, recorder


def test_controller_plans_confirms_and_deletes_a_datasets_entry(tmp_path: Path) -> None:
    cache = tmp_path / "datasets"
    _csv_dataset(tmp_path, cache)
    _age(cache)
    root = Root("datasets", str(cache), explicit=True)
    controller, runner, seen = _controller([root])
    controller.start_scan()
    runner.wait_idle()
    entry = next(e for e in controller.report.scans[0].entries if e.kind == "dataset")
    controller.request_delete(str(cache), [entry.path], entry.name, entry.rebuild)
    runner.wait_idle()
    (request,) = seen.confirms
    assert request.plan.can_run and request.plan.size == entry.size and "re-prepares" in request.note
    controller.confirmed(request)
    runner.wait_idle()
    assert not Path(entry.path).exists()
    assert seen.notices[-1].text.startswith(f"Deleted {entry.name}:")
    assert controller.report is not None and not [
        e for e in controller.report.scans[0].entries if e.kind == "dataset"
    ]


def test_controller_shows_a_new_plan_when_the_disk_changed(tmp_path: Path) -> None:
    xet = tmp_path / "xet"
    (xet / "logs").mkdir(parents=True)
    (xet / "logs" / "a.log").write_bytes(b"a" * 100)
    _age(xet)
    controller, runner, seen = _controller([Root("xet", str(xet), explicit=True)])
    controller.start_scan()
    runner.wait_idle()
    controller.request_delete(str(xet), [str(xet / "logs")], "logs")
    runner.wait_idle()
    first = seen.confirms[-1]
    (xet / "logs" / "b.log").write_bytes(b"b" * 50)  # hf_xet writes a new log meanwhile
    controller.confirmed(first)
    runner.wait_idle()
    assert (xet / "logs" / "a.log").exists()  # nothing deleted
    second = seen.confirms[-1]
    assert second is not first and second.changes and second.plan.size == 150
    assert not second.plan.can_run  # the new file is a live writer: refused, with the reason
    assert any("being written" in why for why in second.plan.refused)


def test_controller_in_read_only_mode_deletes_nothing(tmp_path: Path) -> None:
    xet = tmp_path / "xet"
    (xet / "logs").mkdir(parents=True)
    (xet / "logs" / "a.log").write_bytes(b"a" * 100)
    _age(xet)
    controller, runner, seen = _controller([Root("xet", str(xet), explicit=True)], read_only=True)
    controller.start_scan()
    runner.wait_idle()
    controller.request_delete(str(xet), [str(xet / "logs")], "logs")
    runner.wait_idle()
    assert not seen.confirms and "read-only" in seen.notices[-1].text
    assert (xet / "logs" / "a.log").exists()


async def _settle(pilot, app) -> None:
    for _ in range(3):
        await pilot.pause()
        await app.workers.wait_for_complete()
    await pilot.pause()


async def _until(pilot, predicate, what: str) -> None:
    deadline = time.monotonic() + 30
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.05)


async def test_roots_screen_groups_roots_and_deletes_after_confirmation(tmp_path: Path, hub) -> None:
    from huggingface_hub import snapshot_download

    from hftui.tui.screens.confirm import ConfirmScreen
    from hftui.tui.screens.roots import RootsScreen

    cache = tmp_path / "hub"
    download_into(cache, hub, MODEL)
    local = tmp_path / "models" / "bert"
    snapshot_download(MODEL, endpoint=hub.endpoint, local_dir=str(local), token=False)
    datasets_cache = tmp_path / "datasets"
    _csv_dataset(tmp_path, datasets_cache)
    xet = tmp_path / "xet"
    (xet / "logs").mkdir(parents=True)
    (xet / "logs" / "a.log").write_bytes(b"l" * 4000)
    _age(tmp_path)
    settings = Settings(
        cache_dir=str(cache),
        datasets_cache=str(datasets_cache),
        xet_cache=str(xet),
        local_dir_search=[str(tmp_path / "models")],
    )
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await _settle(pilot, app)
        # The Cache pane's header sums up the other roots, so they are seen without `R`.
        pane = app.query_one(CachePane)
        await _until(pilot, lambda: pane.controller.roots_glance is not None, "the roots glance")
        await pilot.resize_terminal(160, 24)  # at 80 columns the glance gives way to the figures
        await _until(pilot, lambda: "(R)" in str(app.query_one("#cache-header").render()), "the wide header")
        header = str(app.query_one("#cache-header").render())
        await pilot.resize_terminal(80, 24)
        await pilot.press("R")
        await _until(pilot, lambda: isinstance(app.screen, RootsScreen), "the Roots screen")
        screen = app.screen
        assert isinstance(screen, RootsScreen)
        await _until(pilot, lambda: screen.controller.report is not None, "the roots scan")
        report = screen.controller.report
        others = sum(s.size for s in report.scans if s.root.path != str(cache))
        twice = size_text(report.duplicate_bytes)
        assert f"+3 roots {size_text(others)}, {twice} twice (R)" in header, header
        kinds = [row.what for row in screen.rows.values() if row.kind == "root"]
        assert kinds == ["hub cache", "datasets cache", "local dir", "Xet cache"]
        assert any(row.kind == "dup" for row in screen.rows.values())
        header = str(screen.query_one("#roots-header").render())
        assert "4 roots" in header and "duplicated" in header
        # The Xet logs entry: highlight it, d, y.
        keys = list(screen.rows)
        target = next(
            k for k, row in screen.rows.items() if row.kind == "entry" and row.path == str(xet / "logs")
        )
        table = screen.query_one("DataTable")
        table.move_cursor(row=keys.index(target))
        await pilot.press("d")
        await _until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the confirmation")
        body = str(app.screen.body)
        assert "Frees 4.0 kB (1 file)" in body and "logs are not needed" in body
        await pilot.press("y")
        await _until(pilot, lambda: not (xet / "logs").exists(), "the deletion")
        await _until(
            pilot,
            lambda: screen.controller.report is not None and not screen.controller.deleting,
            "the rescan",
        )
        assert screen.controller.report.scan_of(str(xet)).size == 0
        await pilot.press("escape")
        assert not isinstance(app.screen, RootsScreen)


async def test_roots_screen_read_only_offers_no_delete(tmp_path: Path) -> None:
    from hftui.tui.screens.roots import RootsScreen

    xet = tmp_path / "xet"
    (xet / "logs").mkdir(parents=True)
    (xet / "logs" / "a.log").write_bytes(b"l" * 10)
    _age(xet)
    app = make_app(Settings(cache_dir=str(tmp_path / "hub"), xet_cache=str(xet), read_only=True))
    async with app.run_test(size=(80, 24)) as pilot:
        await _settle(pilot, app)
        await pilot.press("R")
        await _until(pilot, lambda: isinstance(app.screen, RootsScreen), "the Roots screen")
        screen = app.screen
        await _until(pilot, lambda: screen.controller.report is not None, "the roots scan")
        assert "delete" not in {key.action for key in screen.query("FooterKey")}
        keys = list(screen.rows)
        target = next(k for k, row in screen.rows.items() if row.kind == "entry")
        screen.query_one("DataTable").move_cursor(row=keys.index(target))
        await pilot.press("d")
        await pilot.pause()
        assert isinstance(app.screen, RootsScreen) and (xet / "logs" / "a.log").exists()


def test_two_hub_caches_free_the_other_side_by_the_hub_cache_plan(tmp_path: Path, hub) -> None:
    from huggingface_hub import scan_cache_dir

    personal, shared = tmp_path / "personal", tmp_path / "shared"
    download_into(personal, hub, MODEL)
    download_into(shared, hub, MODEL)
    roots = [Root("hub", str(personal), "opened"), Root("hub", str(shared), "cache_dirs", explicit=True)]
    controller, runner, seen = _controller(roots)
    controller.start_scan()
    runner.wait_idle()
    assert controller.report is not None
    ((root, owner, size, others),) = controller.report.hub_repo_duplicates()
    assert (root, owner, others) == (str(shared), "models--acme--bert-mini", [str(personal)])
    assert size == controller.report.scan_of(str(shared)).size

    # The opened cache is the Cache pane's: refused here.
    controller.request_delete(str(personal), [str(personal / owner)], owner)
    runner.wait_idle()
    assert not seen.confirms and "Cache pane" in seen.notices[-1].text

    library = scan_cache_dir(shared)
    expected = library.delete_revisions(*[r.commit_hash for repo in library.repos for r in repo.revisions])
    controller.request_delete(str(shared), [str(shared / owner)], f"{owner} in {shared}")
    runner.wait_idle()
    assert len(seen.confirms) == 1, [n.text for n in seen.notices]
    (request,) = seen.confirms
    assert request.hub_plan is not None and request.plan.can_run
    assert request.plan.size == expected.expected_freed_size > 0
    controller.confirmed(request)
    runner.wait_idle()
    assert not (shared / owner).exists() and (personal / owner).is_dir()
    assert seen.notices[-1].text.startswith(f"Deleted {owner} in {shared}:")
    assert controller.report is not None and controller.report.duplicates == []
