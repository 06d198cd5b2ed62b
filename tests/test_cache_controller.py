"""CacheController without a UI: intents in, state and listener events out, real caches on disk.

Background work runs on `ThreadRunner` (real threads) or `StepRunner` (bodies run when the test
says so), and callbacks run when the test drains them, so every interleaving below is chosen by the
test, never by timing.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path

import pytest
from cachebuilders import add_revision
from hubfixtures import MODEL
from test_cleanup_support import repos_by_key, state

from hftui.core.cache import cleanup
from hftui.core.cache.cleanup import Mark
from hftui.core.cache.scan import RepoRecord, scan_cache
from hftui.core.controllers.cache import CacheController, CacheListener, ConfirmRequest, Notice, PruneOption
from hftui.core.controllers.runner import Task, ThreadRunner

M = ("model", MODEL)
MODEL_DIR = "models--acme--bert-mini"


class Recorder(CacheListener):
    def __init__(self) -> None:
        self.changes: list[tuple[list[str], list[str]]] = []
        self.confirms: list[ConfirmRequest] = []
        self.notices: list[Notice] = []
        self.prunes: list[Sequence[PruneOption]] = []
        self.marks: list[list[str]] = []
        self.cache_changes: list[tuple[tuple[str, str], ...]] = []
        self.frees: dict[str, Mapping[str, int]] = {}

    def records_changed(self, changed: Sequence[RepoRecord], removed: Sequence[str]) -> None:
        self.changes.append(([r.name for r in changed], list(removed)))

    def confirm(self, request: ConfirmRequest) -> None:
        self.confirms.append(request)

    def notice(self, notice: Notice) -> None:
        self.notices.append(notice)

    def prune_options(self, options: Sequence[PruneOption]) -> None:
        self.prunes.append(options)

    def marks_changed(self, names: Collection[str]) -> None:
        self.marks.append(sorted(names))

    def cache_changed(self, repos: tuple[tuple[str, str], ...]) -> None:
        self.cache_changes.append(repos)

    def frees_ready(self, name: str, frees: Mapping[str, int]) -> None:
        self.frees[name] = frees


class StepRunner:
    """Bodies wait until `run_next()` runs one on the calling thread; callbacks wait for `drain()`."""

    def __init__(self) -> None:
        self.bodies: list[tuple[str, Callable[[Task], None]]] = []
        self.delivered: list[Callable[[], None]] = []

    def start(self, group: str, body: Callable[[Task], None]) -> None:
        self.bodies.append((group, body))

    def cancelled(self) -> bool:
        return False

    def deliver(self, callback: Callable[[], None]) -> None:
        self.delivered.append(callback)

    def run_next(self, group: str) -> None:
        index = next(i for i, (g, _) in enumerate(self.bodies) if g == group)
        _, body = self.bodies.pop(index)
        body(self)

    def drain(self) -> None:
        while self.delivered:
            self.delivered.pop(0)()


def scanned(cache_dir: Path, **kwargs: object) -> tuple[CacheController, ThreadRunner, Recorder]:
    runner = ThreadRunner()
    controller = CacheController(cache_dir, runner, processes=1, **kwargs)  # type: ignore[arg-type]
    recorder = Recorder()
    controller.listeners.append(recorder)
    controller.start_scan()
    runner.wait_idle()
    assert not controller.scanning and controller.report is not None
    return controller, runner, recorder


def test_scan_then_mark_delete_confirm_frees_the_library_figure(cache: Path) -> None:
    before = state(cache)
    library = repos_by_key(cache)[M]
    from huggingface_hub import scan_cache_dir

    expected = scan_cache_dir(cache).delete_revisions(*(r.commit_hash for r in library.revisions))
    controller, runner, seen = scanned(cache)
    assert set(controller.records) == {MODEL_DIR, "datasets--acme--tiny-corpus", "spaces--acme--demo-space"}

    assert controller.mark_repo(MODEL_DIR)
    assert seen.marks[-1] == [MODEL_DIR]  # only the row that flipped is redrawn
    assert controller.plan_state == "computing"
    runner.wait_idle()
    assert controller.plan_state == "ready" and controller.plan is not None
    assert controller.plan.expected_freed_size == expected.expected_freed_size
    assert not seen.confirms  # marking computes figures; only `d` asks

    controller.request_delete()
    runner.wait_idle()
    (request,) = seen.confirms
    controller.confirmed(request)
    assert controller.operation is not None  # running until its result is delivered
    runner.wait_idle()

    assert controller.operation is None
    assert MODEL_DIR not in controller.records and not controller.marks
    assert seen.changes[-1] == ([], [MODEL_DIR])  # one change, of just what was deleted
    assert seen.notices[-1].text.startswith("Freed") and seen.notices[-1].severity == "information"
    assert seen.cache_changes == [(M,)]
    assert state(cache) == {k: v for k, v in before.items() if k != M}
    # The report folded in matches a fresh scan.
    fresh = scan_cache(cache)
    assert controller.report is not None and controller.report.size_on_disk == fresh.size_on_disk
    assert sorted(r.name for r in controller.report.repos) == sorted(r.name for r in fresh.repos)


def test_a_failing_plan_computation_reaches_the_user_and_d_tries_again(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    controller, runner, seen = scanned(cache)

    def broken(*args: object, **kwargs: object) -> object:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(cleanup, "plan_deletion", broken)
    controller.mark_repo(MODEL_DIR)
    runner.wait_idle()
    assert controller.plan_state == "failed" and controller.plan is None
    assert "RuntimeError: disk on fire" in controller.plan_error
    assert any(n.severity == "error" and "disk on fire" in n.text for n in seen.notices)

    controller.request_delete()  # still failing: another message, no confirmation, no hang
    runner.wait_idle()
    assert not seen.confirms and sum("disk on fire" in n.text for n in seen.notices) == 2

    monkeypatch.undo()
    controller.request_delete()
    runner.wait_idle()
    assert controller.plan_state == "ready" and len(seen.confirms) == 1


def test_failing_prune_and_frees_computations_reach_the_user(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    controller, runner, seen = scanned(cache)

    def broken(*args: object, **kwargs: object) -> object:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(cleanup, "plan_detached", broken)
    controller.request_prune()
    runner.wait_idle()
    assert not seen.prunes
    assert "prune" in seen.notices[-1].text and "Input/output error" in seen.notices[-1].text

    monkeypatch.setattr(cleanup, "plan_deletion", broken)
    controller.compute_frees(MODEL_DIR)
    runner.wait_idle()
    assert MODEL_DIR not in seen.frees and "Input/output error" in seen.notices[-1].text


def test_a_failing_execution_says_so_and_shows_the_disk_as_it_is(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hftui.core.controllers import cache as controller_module

    controller, runner, seen = scanned(cache)
    controller.mark_repo(MODEL_DIR)
    controller.request_delete()
    runner.wait_idle()

    def broken(*args: object, **kwargs: object) -> object:
        raise RuntimeError("bug in the executor")

    monkeypatch.setattr(controller_module, "execute_plan", broken)
    controller.confirmed(seen.confirms[-1])
    runner.wait_idle()
    assert controller.operation is None
    assert any(n.severity == "error" and "bug in the executor" in n.text for n in seen.notices)
    assert MODEL_DIR in controller.records  # rescanned: still on disk, still shown
    assert (cache / MODEL_DIR).is_dir()


def test_prune_offers_four_plans_and_rescan_waits_for_the_running_prune(cache: Path) -> None:
    (cache / MODEL_DIR / "refs" / "v0.9").unlink()  # the old revision becomes detached
    before = state(cache)
    runner = StepRunner()
    controller = CacheController(cache, runner, processes=1)
    seen = Recorder()
    controller.listeners.append(seen)
    controller.start_scan()
    runner.run_next("cache-scan")
    runner.drain()
    assert controller.report is not None

    controller.request_prune()
    runner.run_next("cache-plan")
    runner.drain()
    (options,) = seen.prunes
    # The four prune plans first (kept partial downloads, when that feature offers them, after).
    assert [o.key for o in options][:4] == ["detached", "incomplete", "locks", "shared"]
    detached = options[0]
    assert detached.count == 1 and detached.size > 0
    controller.choose_prune(detached)
    controller.confirmed(seen.confirms[-1])
    assert controller.operation is not None and controller.operation.total > 0

    generation = controller.generation
    controller.start_scan()  # asked for while the prune runs: it waits
    controller.repos_changed([M])  # so does a rescan a download asks for
    assert controller.rescan_pending and controller.generation == generation
    assert not [g for g, _ in runner.bodies if g in ("cache-scan", "cache-rescan")]

    runner.run_next("cache-delete")
    runner.drain()
    assert controller.operation is None
    assert controller.generation == generation + 1 and controller.scanning  # now it scans
    runner.run_next("cache-scan")
    runner.drain()
    record = controller.records[MODEL_DIR]
    assert not any(rev.detached for rev in record.revisions)
    after = state(cache)
    assert len(after[M]) == len(before[M]) - 1


def test_cancel_between_items_deletes_nothing_more(cache: Path) -> None:
    before = state(cache)
    runner = StepRunner()
    controller = CacheController(cache, runner, processes=1)
    seen = Recorder()
    controller.listeners.append(seen)
    controller.start_scan()
    runner.run_next("cache-scan")
    runner.drain()
    controller.mark_repo(MODEL_DIR)
    controller.request_delete()
    runner.run_next("cache-plan")  # the marks' plan (stale once `d` asks for a fresh one)
    runner.drain()  # ...which then starts
    runner.run_next("cache-plan")  # `d`'s fresh plan
    runner.drain()
    controller.confirmed(seen.confirms[-1])
    assert controller.cancel_operation()
    runner.run_next("cache-delete")
    runner.drain()
    assert controller.operation is None
    assert "cancelled" in seen.notices[-1].text and seen.notices[-1].severity == "warning"
    assert state(cache) == before
    assert MODEL_DIR in controller.records


def test_progress_reaches_the_listener_while_deleting(tmp_path: Path) -> None:
    cache = tmp_path / "hub"
    for i in range(40):
        add_revision(cache, f"org/r{i}", {"w.bin": 1000 + i})
    runner = ThreadRunner()
    controller = CacheController(cache, runner, processes=1)
    progress: list[tuple[int, int]] = []

    class Progress(CacheListener):
        def status_changed(self) -> None:
            if controller.operation is not None:
                progress.append((controller.operation.done, controller.operation.total))

    controller.listeners.append(Progress())
    controller.start_scan()
    runner.wait_idle()
    for name in list(controller.records):
        controller.mark_repo(name)
    controller.request_delete()
    confirms: list[ConfirmRequest] = []

    class Confirms(CacheListener):
        def confirm(self, request: ConfirmRequest) -> None:
            confirms.append(request)

    controller.listeners.append(Confirms())
    runner.wait_idle()
    controller.confirmed(confirms[-1])
    runner.wait_idle()
    assert progress and progress[-1][0] == progress[-1][1] >= 40  # every step of 40 repos, reported
    assert not controller.records and not any(cache.iterdir())


def test_bulk_prune_is_one_change_and_the_report_matches_a_fresh_scan(tmp_path: Path) -> None:
    cache = tmp_path / "hub"
    count = 300
    for i in range(count):
        add_revision(cache, f"org/r{i}", {"w.bin": 1000 + i, "c.json": b"old%d" % i}, refs=())
        add_revision(cache, f"org/r{i}", {"w.bin": 1000 + i, "c.json": b"new%d" % i})
    controller, runner, seen = scanned(cache)
    assert all(any(rev.detached for rev in r.revisions) for r in controller.records.values())
    seen.changes.clear()

    controller.request_prune()
    runner.wait_idle()
    detached = seen.prunes[-1][0]
    assert detached.count == count
    controller.choose_prune(detached)
    controller.confirmed(seen.confirms[-1])
    runner.wait_idle()

    # One change naming each touched repo once: the view updates in time proportional to it.
    assert len(seen.changes) == 1
    changed, removed = seen.changes[0]
    assert sorted(changed) == sorted(controller.records) and len(changed) == count and not removed
    assert not any(rev.detached for r in controller.records.values() for rev in r.revisions)
    fresh = scan_cache(cache, processes=1)
    assert controller.report is not None
    assert controller.report.size_on_disk == fresh.size_on_disk
    assert {r.name: r for r in controller.report.repos} == {r.name: r for r in fresh.repos}


def test_marks_of_deleted_items_are_forgotten_and_only_flipped_rows_redrawn(cache: Path) -> None:
    controller, runner, seen = scanned(cache)
    record = controller.records[MODEL_DIR]
    assert record.repo_type is not None
    revision = record.revisions[0]
    controller.toggle(Mark.revision(record.repo_type, record.repo_id, revision.commit_hash))
    assert seen.marks[-1] == []  # a revision mark flips no repo row
    assert controller.is_marked(record, revision)
    assert not controller.is_repo_marked(record)
    runner.wait_idle()
    controller.clear_marks()
    assert controller.plan is None and controller.plan_state == "idle"


def test_read_only_never_marks_or_deletes(cache: Path) -> None:
    controller, runner, seen = scanned(cache, read_only=True)
    assert not controller.mark_repo(MODEL_DIR)
    controller.request_prune()
    runner.wait_idle()
    assert not controller.marks and not seen.prunes and not seen.confirms


def test_a_download_into_a_marked_repo_refuses_it(cache: Path) -> None:
    busy: set[tuple[str, str]] = set()
    controller, runner, seen = scanned(cache, busy=lambda: busy)
    controller.mark_repo(MODEL_DIR)
    runner.wait_idle()
    request_plan = controller.plan
    assert request_plan is not None and not request_plan.refused
    controller.request_delete()
    runner.wait_idle()
    busy.add(M)  # a download starts between the confirmation and "yes"
    controller.confirmed(seen.confirms[-1])
    runner.wait_idle()
    assert "a download started meanwhile" in seen.notices[-1].text
    assert (cache / MODEL_DIR).is_dir()


def test_a_revision_added_after_the_confirmation_brings_a_new_confirmation(cache: Path) -> None:
    controller, runner, seen = scanned(cache)
    record = controller.records[MODEL_DIR]
    assert record.repo_type is not None
    old = next(rev for rev in record.revisions if "v0.9" in rev.refs)
    controller.toggle(Mark.revision(record.repo_type, record.repo_id, old.commit_hash))
    controller.request_delete()
    runner.wait_idle()
    first = seen.confirms[-1]
    assert not first.changes

    # Another process downloads into the repo between the confirmation and "yes".
    add_revision(cache, MODEL, {"late.bin": b"downloaded after the scan"}, refs=("v2",))
    before = state(cache)
    controller.confirmed(first)
    runner.wait_idle()

    assert state(cache) == before  # nothing deleted
    second = seen.confirms[-1]
    assert second is not first and second.changes  # what changed, for the new confirmation
    assert any(n.severity == "warning" and n.text.startswith("Nothing deleted") for n in seen.notices)
    assert len(controller.records[MODEL_DIR].revisions) == len(record.revisions) + 1  # the row is fresh

    controller.confirmed(second)
    runner.wait_idle()
    after = state(cache)
    assert old.commit_hash not in after[M] and len(after[M]) == len(before[M]) - 1
    assert seen.notices[-1].text.startswith("Freed")


def test_marks_toggled_while_a_plan_runs_start_one_plan_not_one_each(tmp_path: Path) -> None:
    """Marking repo after repo (space held down over 10,000 rows) plans the marks as they are once
    the running plan ends: two plans, not one whole-cache plan per key press."""
    cache = tmp_path / "hub"
    for i in range(40):
        add_revision(cache, f"org/r{i}", {"w.bin": 1000 + i})
    runner = StepRunner()
    controller = CacheController(cache, runner, processes=1)
    controller.start_scan()
    runner.run_next("cache-scan")
    runner.drain()
    for name in sorted(controller.records):
        controller.mark_repo(name)
    assert [group for group, _ in runner.bodies] == ["cache-plan"]  # the first mark's
    assert controller.plan_state == "computing"
    runner.run_next("cache-plan")
    runner.drain()  # stale: the plan of all 40 marks starts
    assert [group for group, _ in runner.bodies] == ["cache-plan"] and controller.plan is None
    runner.run_next("cache-plan")
    runner.drain()
    assert not runner.bodies
    assert controller.plan_state == "ready" and controller.plan is not None
    assert len(controller.plan.items) == 40
    controller.clear_marks()
    assert controller.plan_state == "idle" and not runner.bodies


def test_a_plan_made_before_a_rescan_of_its_repo_is_made_again(tmp_path: Path) -> None:
    """An update lands: its superseded revision is marked at once, before the rescan that shows the
    new revision sharing its README. The plan made then would offer the README too; after the
    rescan the plan offers only what deleting the old revision frees now."""
    cache = tmp_path / "hub"
    old = add_revision(cache, "org/moving", {"config.json": b'{"v": 1}', "README.md": b"shared readme"})
    runner = StepRunner()
    controller = CacheController(cache, runner, processes=1)
    controller.start_scan()
    runner.run_next("cache-scan")
    runner.drain()
    folder = "models--org--moving"

    add_revision(cache, "org/moving", {"config.json": b'{"v": 10}', "README.md": b"shared readme"})
    controller.add_marks([Mark.revision("model", "org/moving", old)])
    controller.repos_changed([("model", "org/moving")])
    runner.run_next("cache-plan")  # made from the records of before the update
    runner.drain()
    assert controller.plan is not None
    # The old records hold one revision: deleting it took the whole folder, README and all.
    assert controller.plan.expected_freed_size > len(b'{"v": 1}') + len(b"shared readme")

    runner.run_next("cache-rescan")
    runner.drain()
    assert len(controller.records[folder].revisions) == 2
    assert controller.plan_state == "computing"
    runner.run_next("cache-plan")
    runner.drain()
    assert controller.plan_state == "ready" and controller.plan is not None
    assert controller.plan.expected_freed_size == len(b'{"v": 1}')
    from huggingface_hub import scan_cache_dir

    assert (
        controller.plan.expected_freed_size == scan_cache_dir(cache).delete_revisions(old).expected_freed_size
    )
