"""Update checks for a live view (the Cache pane): results by repo, checked in the background, and the
intents a view needs (update this repo, settle finished updates, offer the superseded revisions).

UI-free and thread-safe. A view reads `cell()` / `result()` and is told through `on_change` (called
from the checking thread: the view posts a message, it never touches a widget from there).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from hftui.core import vocab
from hftui.core.cache.cleanup import Mark
from hftui.core.cache.records import CacheReport, RepoRecord
from hftui.core.downloads.models import DownloadRequest
from hftui.core.hub.update_plan import (
    Pending,
    PruneOffer,
    Settled,
    SupersededLedger,
    offer_prune,
    plan_updates,
    settle,
)
from hftui.core.hub.updates import CheckReport, CheckStore, RepoUpdate, UpdateChecker, default_store_path

_SHORT = {
    "up to date": "current",
    "ref gone upstream": "ref gone",
    "repo gone": "repo gone",
    "not checked": "not checked",
}


def short_label(update: RepoUpdate | None, *, checking: bool = False) -> str:
    """A narrow table cell: `↑ 12.3 MB`, `current`, `ref gone`, `repo gone`, `offline`, `…` while checking."""
    if update is None:
        return "…" if checking else ""
    if update.state == "update available":
        fetch = update.bytes_to_fetch
        return f"↑ {vocab.size(fetch)}" if fetch is not None else "↑ update"
    if update.state == "not checked" and update.reason:
        return update.reason
    return _SHORT.get(update.state, update.state)


@dataclass(frozen=True)
class UpdateIntent:
    """What pressing "update" on a repo does: the downloads to queue, or why there is nothing to do."""

    requests: tuple[DownloadRequest, ...]
    message: str


class UpdateMonitor:
    def __init__(
        self,
        *,
        cache_dir: str | Path,
        endpoint: str | None,
        ttl_seconds: float,
        token: str | bool | None = None,
        store: CheckStore | None = None,
        ledger: SupersededLedger | None = None,
        on_change: Callable[[Sequence[str]], None] | None = None,
        max_workers: int = 8,
    ) -> None:
        self.cache_dir = str(cache_dir)
        self.checker = UpdateChecker(
            endpoint=endpoint,
            token=token,
            ttl_seconds=ttl_seconds,
            store=store if store is not None else CheckStore(default_store_path()),
            max_workers=max_workers,
        )
        self.ledger = ledger if ledger is not None else SupersededLedger()
        self.on_change = on_change
        self._lock = threading.Lock()
        self._results: dict[str, RepoUpdate] = {}
        self._available: set[str] = set()
        """The `type/id`s whose current result is "update available": a view's header counts them
        on every result, so the count must not walk (or copy) every result each time."""
        self._thread: threading.Thread | None = None
        self._cancel = threading.Event()
        self.last_report: CheckReport | None = None
        self.error: str | None = None

    # reading

    @property
    def checking(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def result(self, cache_id: str) -> RepoUpdate | None:
        with self._lock:
            return self._results.get(cache_id)

    def results(self) -> dict[str, RepoUpdate]:
        with self._lock:
            return dict(self._results)

    def available_count(self) -> int:
        """How many repos have an update available now (their current result, not a past one)."""
        with self._lock:
            return len(self._available)

    def cell(self, cache_id: str) -> str:
        return short_label(self.result(cache_id), checking=self.checking)

    def summary(self) -> str:
        if self.checking:
            return "checking the Hub for updates…"
        if self.error:
            return f"update check failed: {self.error}"
        return self.last_report.summary() if self.last_report is not None else ""

    # checking

    def check(self, repos: Iterable[RepoRecord], *, force: bool = False) -> bool:
        """Start a background check of `repos`; False when one is already running."""
        if self.checking:
            return False
        todo = list(repos)
        self._cancel.clear()
        self.error = None

        def run() -> None:
            try:
                self.last_report = self.checker.check(
                    todo, force=force, cancel=self._cancel.is_set, on_result=self._store
                )
            except Exception as exc:  # a worker failure reaches the user, never a silent thread death
                self.error = str(exc) or type(exc).__name__
            finally:
                if self.on_change is not None:
                    self.on_change(())

        self._thread = threading.Thread(target=run, name="update-check", daemon=True)
        self._thread.start()
        return True

    def recheck(self, repos: Iterable[RepoRecord]) -> None:
        """Check these repos again now, in the calling thread (after an update landed: the stored refs
        answer, so this asks the Hub nothing while they are fresh)."""
        self.checker.check(list(repos), cancel=self._cancel.is_set, on_result=self._store)

    def wait(self, timeout: float | None = None) -> bool:
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return not self.checking

    def stop(self) -> None:
        self._cancel.set()

    def _store(self, result: RepoUpdate) -> None:
        cache_id = f"{result.repo_type}/{result.repo_id}"
        with self._lock:
            self._results[cache_id] = result
            if result.state == "update available":
                self._available.add(cache_id)
            else:
                self._available.discard(cache_id)
        if self.on_change is not None:
            self.on_change((cache_id,))

    # intents

    def update(self, repo: RepoRecord) -> UpdateIntent:
        """The downloads that bring `repo` up to date (recorded as pending: its refs move once they land)."""
        name = vocab.display_id(repo.repo_type or "model", repo.repo_id)
        result = self.result(repo.cache_id)
        if result is None:
            return UpdateIntent((), f"{name}: not checked yet")
        if result.state != "update available":
            detail = f": {result.detail}" if result.detail else ""
            return UpdateIntent((), f"{name}: {result.label}{detail}")
        jobs, notes = plan_updates(repo, result, cache_dir=self.cache_dir)
        if not jobs:
            return UpdateIntent((), "; ".join(notes) or f"{name}: nothing to update")
        self.ledger.add_pending(Pending.of(job, self.cache_dir) for job in jobs)
        fetch = result.bytes_to_fetch
        cost = f", {vocab.size(fetch)} to fetch" if fetch is not None else ""
        refs = ", ".join(job.ref for job in jobs)
        return UpdateIntent(tuple(job.request for job in jobs), f"Updating {name} ({refs}{cost})")

    def has_pending(self, repo_keys: Iterable[tuple[str, str]] | None = None) -> bool:
        pending = self.ledger.pending(self.cache_dir)
        if repo_keys is None:
            return bool(pending)
        keys = set(repo_keys)
        return any(p.repo_key in keys for p in pending)

    def settle(self) -> Settled:
        """Move the refs of updates whose downloads have landed (call when downloads finish)."""
        return settle(self.ledger, self.cache_dir)

    def offer(self, report: CacheReport, repo_keys: Iterable[tuple[str, str]] | None = None) -> PruneOffer:
        """The superseded revisions that can be deleted now (and those kept, with the reason)."""
        keys = set(repo_keys) if repo_keys is not None else None
        entries = [e for e in self.ledger.entries(self.cache_dir) if keys is None or e.repo_key in keys]
        offer = offer_prune(report, entries)
        if offer.stale:
            self.ledger.discard(offer.stale)
        return offer

    @staticmethod
    def marks(offer: PruneOffer) -> list[Mark]:
        return [Mark.revision(e.repo_type, e.repo_id, e.old_commit) for e in offer.prunable]


__all__ = ["UpdateIntent", "UpdateMonitor", "short_label"]
