"""The Cache pane's update checks: a view over `UpdateMonitor` (core), kept out of the pane so the pane
only wires four hooks (scan finished, downloads finished, one key, one message).

The check runs in the monitor's thread; results come back as `UpdatesChanged` messages posted to the
pane (never a widget call from that thread). After an update's download lands, its ref moves (in a
thread worker) and the superseded revision is *marked* for deletion: `d` then shows the usual
confirmation with the exact bytes it frees. Nothing is deleted without that confirmation, and a
revision with local changes (or still named by a ref) is never marked.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from textual.message import Message

from hftui.core import vocab

if TYPE_CHECKING:
    from hftui.core.cache.records import CacheReport, RepoRecord
    from hftui.core.hub.update_monitor import UpdateMonitor
    from hftui.core.hub.update_plan import PruneOffer, Superseded

RepoKey = tuple[str, str]


@dataclass
class UpdatesChanged(Message):
    """Update check results arrived for these `type/id`s (empty: the check finished)."""

    cache_ids: tuple[str, ...] = field(default_factory=tuple)


@dataclass
class UpdatesLanded(Message):
    """Updates whose downloads finished: refs moved, superseded revisions offered."""

    landed: tuple[Superseded, ...] = ()
    offer: PruneOffer | None = None
    notes: tuple[str, ...] = ()


class CacheUpdates:
    def __init__(self, pane: Any) -> None:
        self.pane = pane
        self._monitor: UpdateMonitor | None = None

    @property
    def monitor(self) -> UpdateMonitor:
        if self._monitor is None:
            from hftui.core.hub.update_monitor import UpdateMonitor

            services = self.pane.services
            self._monitor = UpdateMonitor(
                cache_dir=services.cache_dir,
                endpoint=services.endpoint,
                ttl_seconds=services.settings.update_check_minutes * 60,
                on_change=lambda ids: self.pane.post_message(UpdatesChanged(tuple(ids))),
            )
        return self._monitor

    # -- reading ------------------------------------------------------------------------------

    def badge(self, record: RepoRecord) -> str:
        """What the status cell adds: `↑12.3 MB`, `ref gone`, `repo gone`; nothing when up to date or unknown."""
        if self._monitor is None:
            return ""
        result = self._monitor.result(record.cache_id)
        if result is None or result.state in ("up to date", "not checked"):
            return ""
        return self._monitor.cell(record.cache_id).replace("↑ ", "↑")

    def results(self) -> dict[str, Any]:
        return self._monitor.results() if self._monitor is not None else {}

    def header(self) -> str:
        """A few words for the pane's header: `2 updates`, `rate limited: check later`; nothing when there
        is nothing to act on (up to date, offline, the Hub unreachable: the table says nothing either)."""
        monitor = self._monitor
        if monitor is None or monitor.checking or monitor.last_report is None:
            return ""
        report = monitor.last_report
        parts = []
        # From the current results: a repo checked again after its update landed counts as it is now.
        available = monitor.available_count()
        if available:
            parts.append(vocab.count(available, "update") + (" (offline)" if report.offline else ""))
        if report.retry_after is not None:
            parts.append("rate limited: check later")
        return ", ".join(parts)

    # -- hooks --------------------------------------------------------------------------------

    def scan_finished(self, report: CacheReport | None) -> None:
        if report is not None and report.exists:
            self.monitor.check(report.valid_repos)

    def update(self, record: RepoRecord | None) -> None:
        """The `U` key: queue the downloads that bring the highlighted repo up to date."""
        if record is None or record.repo_type is None:
            self.pane.notify("Highlight a repo to update.", severity="warning")
            return
        if self.monitor.checking and self.monitor.result(record.cache_id) is None:
            self.pane.notify("Still checking the Hub for updates; try again in a moment.", severity="warning")
            return
        intent = self.monitor.update(record)
        if not intent.requests:
            self.pane.notify(intent.message, severity="warning", timeout=8)
            return
        for request in intent.requests:
            self.pane.services.enqueue_download(request)
        self.pane.notify(
            f"{intent.message}. The old revision is offered for deletion when it lands.", timeout=6
        )

    def downloads_finished(self, repos: Iterable[RepoKey]) -> None:
        keys = list(repos)
        if keys and self.monitor.has_pending(keys):
            self.pane.run_worker(
                lambda: self._settle(keys), thread=True, group="cache-updates", exit_on_error=False
            )

    def _settle(self, keys: Sequence[RepoKey]) -> None:
        from hftui.core.cache.scan import scan_cache

        monitor = self.monitor
        settled = monitor.settle()
        notes = tuple(
            f"{vocab.display_id(p.repo_type, p.repo_id)} {p.ref}: {why}" for p, why in settled.dropped
        )
        offer = None
        if settled.landed:
            report = scan_cache(monitor.cache_dir, processes=1)
            landed_keys = {s.repo_key for s in settled.landed}
            offer = monitor.offer(report, landed_keys)
            monitor.recheck(r for r in report.valid_repos if (r.repo_type, r.repo_id) in landed_keys)
        self.pane.post_message(UpdatesLanded(settled.landed, offer, notes))

    def describe_landed(self, event: UpdatesLanded, *, read_only: bool) -> tuple[str, str]:
        """(title, text) of the notification after updates land."""
        names = ", ".join(f"{vocab.display_id(s.repo_type, s.repo_id)}@{s.ref}" for s in event.landed)
        lines = [f"Updated {names}."] if event.landed else []
        offer = event.offer
        if offer is not None and offer.prunable:
            revisions = vocab.count(len(offer.prunable), "superseded revision")
            frees = f"{vocab.size(offer.freed_bytes)}, shared blobs kept"
            if read_only:
                lines.append(f"{revisions} would free {frees} (read-only: not marked).")
            else:
                lines.append(f"{revisions} marked for deletion: d frees {frees}.")
        if offer is not None:
            lines.extend(f"Kept {entry.label}: {reason}" for entry, reason in offer.kept)
        lines.extend(event.notes)
        return "Updates", "\n".join(lines)


__all__ = ["CacheUpdates", "UpdatesChanged", "UpdatesLanded"]
