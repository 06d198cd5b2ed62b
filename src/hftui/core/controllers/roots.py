"""RootsController: the Roots view's decisions (docs/roots.md), without a UI.

It scans every root (`hftui.core.cache.roots_scan`) in the background, keeps the report on show,
and runs the plan -> confirm -> execute flow of `hftui.core.cache.root_delete` for a root's entry
(a datasets config, its downloads, a local dir, a part of the Xet dir) or for the local-dir side
of a duplicate. Like `CacheController`, background work goes through a `Runner` and results come
back on the owner thread, the only place state changes; every failure reaches the listeners.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import TYPE_CHECKING, TypeVar

from hftui.core.cache.root_delete import RootDeletion, RootPlan, execute_root_plan, plan_root_deletion
from hftui.core.cache.roots import FsInfo, Root
from hftui.core.controllers.cache import Notice, Severity, describe
from hftui.core.controllers.runner import Runner, Task, spawn

if TYPE_CHECKING:
    from hftui.core.cache.cleanup import DeletionPlan
    from hftui.core.cache.reuse import ScanIndex
    from hftui.core.cache.roots_scan import RootsReport
    from hftui.core.cache.scan import CacheReport, RepoRecord

T = TypeVar("T")


@dataclass(frozen=True)
class RootConfirm:
    """Ask the user to confirm `plan` (`what` names it); `changes` is set when the disk changed
    since the last confirmation (then nothing was deleted)."""

    plan: RootPlan
    what: str
    changes: tuple[str, ...] = ()
    note: str = ""
    """What it takes to get the bytes back (the entry's rebuild note)."""
    hub_plan: DeletionPlan | None = None
    """For a repo of a hub cache other than the opened one: the hub cache's own plan (the figures
    in `plan` are its)."""


class RootsListener:
    def report_changed(self) -> None:
        """A scan started (`report` is None, `scanning`) or finished."""

    def confirm(self, request: RootConfirm) -> None:
        """Show a confirmation of `request.plan`."""

    def notice(self, notice: Notice) -> None:
        """Tell the user something."""


class RootsController:
    def __init__(
        self,
        roots: Callable[[], Sequence[Root]],
        runner: Runner,
        *,
        read_only: bool = False,
        hub_reports: Callable[[], Mapping[str, CacheReport]] = dict,
    ) -> None:
        self._roots = roots
        self.runner = runner
        self.read_only = read_only
        self._hub_reports = hub_reports
        self.listeners: list[RootsListener] = []
        self.report: RootsReport | None = None
        self.scanning = False
        self.deleting = False
        self.generation = 0
        self._cancel = threading.Event()
        self._indexes: dict[str, ScanIndex] = {}
        """Per other hub cache, what the session last read of each repo (rescans reuse it)."""

    def _emit(self, name: str, *args: object) -> None:
        for listener in list(self.listeners):
            getattr(listener, name)(*args)

    def _notice(self, text: str, severity: Severity = "information", *, timeout: float = 6.0) -> None:
        self._emit("notice", Notice(text, severity, "Roots", timeout))

    def _spawn(
        self,
        group: str,
        work: Callable[[Task], T],
        done: Callable[[T], None],
        failed: Callable[[BaseException], None],
    ) -> None:
        spawn(self.runner, group, work, done, failed)

    # -- scanning -------------------------------------------------------------------------------------

    def start_scan(self) -> None:
        self.generation += 1
        generation = self.generation
        self.scanning, self.report = True, None
        self._emit("report_changed")
        roots = list(self._roots())
        reuse = dict(self._hub_reports())
        from hftui.core.cache.reuse import ScanIndex

        # Each scan updates copies; the one that lands keeps them (see _scanned).
        indexes = {
            root.path: replace(self._indexes[root.path], records=dict(self._indexes[root.path].records))
            if root.path in self._indexes
            else ScanIndex(os.path.realpath(root.path))
            for root in roots
            if root.kind == "hub" and root.path not in reuse
        }

        def work(task: Task) -> RootsReport:
            from hftui.core.cache.roots import check_roots
            from hftui.core.cache.roots_scan import scan_roots

            return scan_roots(check_roots(roots), hub_reports=reuse, indexes=indexes)

        self._spawn(
            "roots-scan",
            work,
            partial(self._scanned, generation, indexes),
            partial(self._scan_failed, generation),
        )

    def _scanned(self, generation: int, indexes: dict[str, ScanIndex], report: RootsReport) -> None:
        if generation != self.generation:
            return
        self._indexes = indexes
        self.scanning, self.report = False, report
        self._emit("report_changed")

    def _scan_failed(self, generation: int, exc: BaseException) -> None:
        if generation != self.generation:
            return
        self.scanning = False
        self._emit("report_changed")
        self._notice(f"Scanning the roots failed: {describe(exc)}", "error", timeout=10)

    # -- deletion -------------------------------------------------------------------------------------

    def _root_of(self, path: str) -> Root | None:
        if self.report is None:
            return None
        scan = next((s for s in self.report.scans if s.root.path == path), None)
        return scan.root if scan is not None else None

    def request_delete(self, root_path: str, paths: Sequence[str], what: str, note: str = "") -> None:
        """Plan deleting `paths` of the root at `root_path` with real figures, then ask to confirm."""
        if self.read_only:
            self._notice("hftui runs read-only: nothing can be deleted.", "warning")
            return
        if self.deleting:
            self._notice("A deletion is still running.", "warning")
            return
        root = self._root_of(root_path)
        scan = self.report.scan_of(root_path) if self.report is not None else None
        if root is None or scan is None:
            return
        if root.kind == "hub" and root.source == "opened":
            self._notice("Repos of the cache hftui opened are deleted in the Cache pane (1).", "warning")
            return
        fs = scan.fs
        if root.kind == "hub":
            cache = scan.hub_report
            import os

            wanted = {os.path.realpath(p) for p in paths}
            records = [
                r
                for r in (cache.repos if cache is not None else [])
                if os.path.realpath(r.repo_path) in wanted
            ]
            if not records or cache is None:
                self._notice(f"{what} is no longer in {root.path}: press r to rescan.", "warning")
                return
            report = cache

            def hub_work(task: Task) -> RootConfirm:
                return _hub_confirm(root, fs, report, records, what, note)

            self._spawn(
                "roots-plan",
                hub_work,
                lambda request: self._emit("confirm", request),
                lambda exc: self._notice(f"Could not compute what deleting frees: {describe(exc)}", "error"),
            )
            return

        def work(task: Task) -> RootPlan:
            return plan_root_deletion(root, list(paths), fs=fs)

        self._spawn(
            "roots-plan",
            work,
            lambda plan: self._emit("confirm", RootConfirm(plan, what, note=note)),
            lambda exc: self._notice(f"Could not compute what deleting frees: {describe(exc)}", "error"),
        )

    def confirmed(self, request: RootConfirm) -> None:
        """The user said yes: check the disk again and delete, off the owner thread."""
        if self.read_only or self.deleting or not request.plan.can_run:
            return
        self.deleting = True
        read_only = self.read_only

        def work(task: Task) -> RootDeletion:
            if request.hub_plan is not None:
                return _execute_hub(request)
            return execute_root_plan(request.plan, read_only=read_only)

        def failed(exc: BaseException) -> None:
            self.deleting = False
            self._notice(f"The deletion stopped: {describe(exc)}", "error", timeout=15)
            self.start_scan()

        self._spawn("roots-delete", work, partial(self._executed, request), failed)

    def _executed(self, request: RootConfirm, done: RootDeletion) -> None:
        from hftui.core import vocab

        self.deleting = False
        if done.changed is not None:
            self._notice(
                "The disk changed since the confirmation: nothing was deleted.", "warning", timeout=10
            )
            self._emit(
                "confirm", RootConfirm(done.changed, request.what, ("the files changed since the last look",))
            )
            return
        if done.refused:
            self._notice("Not deleted: " + "; ".join(done.refused), "warning", timeout=10)
            return
        text = f"Deleted {request.what}: {vocab.size(done.freed)} freed."
        if done.problems:
            self._notice(text + "\n" + "\n".join(done.problems[:4]), "error", timeout=15)
        else:
            self._notice(text)
        self.start_scan()


def _hub_confirm(
    root: Root, fs: FsInfo | None, cache: CacheReport, records: Sequence[RepoRecord], what: str, note: str
) -> RootConfirm:
    """The hub cache's own plan for deleting these repos (shared blobs, live writers, aliases:
    every rule of the Cache pane), shown in the Roots screen's terms."""
    import os
    from pathlib import Path

    from hftui.core.cache.cleanup import Mark, cross_links, plan_deletion
    from hftui.core.cache.root_delete import Target

    real = Path(os.path.realpath(root.path))
    keys = {(str(r.repo_type), r.repo_id): r for r in records if r.repo_type and not r.warnings}
    plan = plan_deletion(
        {key: r.to_cached_repo_info() for key, r in keys.items()},
        [Mark.repo(*key) for key in keys],
        cache_dir=real,
        reach=cross_links(cache.repos, real),
    )
    refused = [f"{r.mark.repo_id}: {r.reason}" for r in plan.refused]
    if fs is not None and fs.read_only:
        refused.append(f"{root.path} is on a read-only filesystem ({fs.describe()})")
    targets = tuple(
        Target(r.repo_path, plan.expected_freed_size if i == 0 else 0, r.nb_files, r.last_modified)
        for i, r in enumerate(keys.values())
    )
    shown = RootPlan(root, fs, targets, tuple(refused) if refused or plan.items else ("nothing to delete",))
    return RootConfirm(shown, what, note=note, hub_plan=plan)


def _execute_hub(request: RootConfirm) -> RootDeletion:
    from hftui.core.cache.cleanup import execute_plan
    from hftui.core.cache.revalidate import PlanChanged

    assert request.hub_plan is not None
    outcome = execute_plan(request.hub_plan)
    result = RootDeletion(request.plan)
    if isinstance(outcome, PlanChanged):
        result.refused = (f"the cache changed since the confirmation ({outcome.summary()}); press d again",)
        return result
    result.freed = outcome.freed_size
    result.deleted = [str(o.path) for o in outcome.outcomes if o.status == "deleted"]
    result.problems = [f"{o.path}: {o.message}" for o in outcome.problems]
    return result


__all__ = ["RootConfirm", "RootsController", "RootsListener"]
