"""From an update check to downloads, and from finished downloads to the revision they superseded.

UI-free. An update is an ordinary `DownloadRequest` for the moved ref, with the cached snapshot's
paths as allow patterns (glob-escaped, so `model[1].bin` means that file and nothing else): a user
who took one GGUF quantization gets that quantization again, not the whole repo. It goes through
the normal queue (progress, pause, resume, disk hold).

When it has landed, the old revision is *superseded*: no ref names it any more and the new one
holds the same selection. Superseded revisions are remembered in a small ledger (state dir), so the
deletion can be offered right away or later (`hftui update --prune-old`), always through the cleanup
executor, which re-checks the disk at the moment of deletion. A revision with files changed or
added by hand, one another ref still names, or one whose successor is not in the cache, is never
pruned: the reason is said instead.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from hftui.core import vocab
from hftui.core.cache.cleanup import DeletionPlan, Mark, RepoKey, plan_deletion
from hftui.core.cache.records import CacheReport, RepoRecord
from hftui.core.downloads.models import DownloadRequest
from hftui.core.hub.updates import RepoUpdate, local_changes, selection

_GLOB_SPECIAL = re.compile(r"([*?\[])")


def glob_escape(path: str) -> str:
    """A pattern that `fnmatch` (huggingface_hub's allow_patterns) matches against `path` only."""
    return _GLOB_SPECIAL.sub(r"[\1]", path)


@dataclass(frozen=True)
class UpdateJob:
    """One download that brings one moved ref of one repo up to date."""

    repo_type: str
    repo_id: str
    ref: str
    old_commit: str
    new_commit: str
    """What the ref named when the check ran: the commit downloaded (a ref that moves again meanwhile is
    seen by the next check)."""
    request: DownloadRequest
    bytes_to_fetch: int | None
    paths: tuple[str, ...] = ()
    """The selection: the paths of the cached snapshot that the library put there."""


def plan_updates(
    repo: RepoRecord, update: RepoUpdate, *, cache_dir: str
) -> tuple[list[UpdateJob], list[str]]:
    """The downloads that update every moved ref of `repo`, and a note for each ref that cannot be."""
    jobs: list[UpdateJob] = []
    notes: list[str] = []
    name = vocab.display_id(update.repo_type, update.repo_id)
    for ref in update.moved:
        revision = repo.revision(ref.cached_commit)
        if revision is None:
            notes.append(f"{name} {ref.ref}: the cached revision {ref.cached_commit[:8]} is gone; rescan")
            continue
        chosen = selection(repo, revision)
        if not chosen:
            notes.append(
                f"{name} {ref.ref}: the cached snapshot holds no file the Hub gave; nothing to update"
            )
            continue
        if ref.remote_commit is None:
            continue
        # By commit, not by ref name: huggingface_hub moves `refs/<name>` before it downloads a byte, so a
        # failed or interrupted update would leave the ref naming a snapshot that is not there (a broken
        # cache entry) and the old revision detached. The ref moves once the selection has landed (`settle`).
        request = DownloadRequest(
            repo_id=update.repo_id,
            repo_type=update.repo_type,
            revision=ref.remote_commit,
            allow_patterns=tuple(glob_escape(path) for path in sorted(chosen)),
            cache_dir=cache_dir,
            label=f"update {name}@{ref.ref}",
        )
        jobs.append(
            UpdateJob(
                update.repo_type,
                update.repo_id,
                ref.ref,
                ref.cached_commit,
                ref.remote_commit,
                request,
                ref.changes.bytes_to_fetch if ref.changes is not None else None,
                tuple(sorted(chosen)),
            )
        )
    return jobs, notes


# -- superseded revisions -------------------------------------------------------------------


@dataclass(frozen=True)
class Superseded:
    cache_dir: str
    repo_type: str
    repo_id: str
    ref: str
    old_commit: str
    new_commit: str
    at: float

    @property
    def repo_key(self) -> RepoKey:
        return (self.repo_type, self.repo_id)

    @property
    def label(self) -> str:
        return f"{vocab.display_id(self.repo_type, self.repo_id)}@{self.ref} {self.old_commit[:8]}"


@dataclass(frozen=True)
class Pending:
    """An update whose download was queued and whose ref has not moved yet."""

    cache_dir: str
    repo_type: str
    repo_id: str
    ref: str
    old_commit: str
    new_commit: str
    paths: tuple[str, ...]
    at: float

    @property
    def repo_key(self) -> RepoKey:
        return (self.repo_type, self.repo_id)

    @classmethod
    def of(cls, job: UpdateJob, cache_dir: str) -> Pending:
        return cls(
            cache_dir,
            job.repo_type,
            job.repo_id,
            job.ref,
            job.old_commit,
            job.new_commit,
            job.paths,
            time.time(),
        )


def _snapshot_holds(repo_path: str, commit: str, paths: Iterable[str]) -> bool:
    """Every selected path the new commit has is in its snapshot (paths removed upstream excepted)."""
    from hftui.core.cache.listing import ListingError, read_listing

    snapshot = os.path.join(repo_path, "snapshots", commit)
    if not os.path.isdir(snapshot):
        return False
    try:
        listed: set[str] | None = set(read_listing(repo_path, commit))
    except ListingError:
        listed = None
    for path in paths:
        if (listed is None or path in listed) and not os.path.exists(os.path.join(snapshot, path)):
            return False
    return True


def move_ref(repo_path: str, ref: str, old_commit: str, new_commit: str) -> bool:
    """Point `refs/<ref>` at `new_commit` if it still names `old_commit` (atomically: a reader never
    sees a half-written ref). False when the ref was moved by someone else meanwhile."""
    path = os.path.join(repo_path, "refs", *ref.split("/"))
    try:
        with open(path, encoding="utf-8") as f:
            current = f.read().strip()
    except OSError:
        return False
    if current == new_commit:
        return True
    if current != old_commit:
        return False
    fd, tmp = tempfile.mkstemp(prefix=".ref.", dir=os.path.dirname(path))
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(new_commit)
    os.replace(tmp, path)
    return True


@dataclass(frozen=True)
class Settled:
    landed: tuple[Superseded, ...] = ()
    waiting: tuple[Pending, ...] = ()
    dropped: tuple[tuple[Pending, str], ...] = ()


def settle(ledger: SupersededLedger, cache_dir: str, *, give_up: Iterable[Pending] = ()) -> Settled:
    """Move the ref of every pending update whose selection has fully landed, and record the revision
    it superseded. `give_up` lists pending updates to forget when not landed (their download failed)."""
    abandon = {(p.repo_key, p.ref, p.new_commit) for p in give_up}
    landed: list[Superseded] = []
    waiting: list[Pending] = []
    dropped: list[tuple[Pending, str]] = []
    for pending in ledger.pending(cache_dir):
        repo_path = os.path.join(cache_dir, vocab.cache_folder(pending.repo_type, pending.repo_id))
        if _snapshot_holds(repo_path, pending.new_commit, pending.paths):
            if move_ref(repo_path, pending.ref, pending.old_commit, pending.new_commit):
                landed.append(
                    Superseded(
                        pending.cache_dir,
                        pending.repo_type,
                        pending.repo_id,
                        pending.ref,
                        pending.old_commit,
                        pending.new_commit,
                        time.time(),
                    )
                )
            else:
                dropped.append((pending, f"{pending.ref} was moved meanwhile; left as it is"))
        elif (pending.repo_key, pending.ref, pending.new_commit) in abandon:
            dropped.append((pending, "the download did not finish; the ref was not moved"))
        else:
            waiting.append(pending)
    ledger.record(
        landed, done=[p for p, _ in dropped] + [p for p in ledger.pending(cache_dir) if _landed_in(p, landed)]
    )
    return Settled(tuple(landed), tuple(waiting), tuple(dropped))


def _landed_in(pending: Pending, landed: Iterable[Superseded]) -> bool:
    return any(
        (s.repo_key, s.ref, s.new_commit) == (pending.repo_key, pending.ref, pending.new_commit)
        for s in landed
    )


class SupersededLedger:
    """Pending updates and superseded revisions not pruned yet, in one JSON file in the state dir
    (a broken file counts as empty)."""

    def __init__(self, path: Path | None = None) -> None:
        if path is None:
            from hftui.settings import state_dir

            path = state_dir() / "updates.json"
        self.path = path
        self._lock = threading.Lock()

    def _read(self) -> dict[str, list[Any]]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {"pending": [], "superseded": []}
        if not isinstance(data, dict):
            return {"pending": [], "superseded": []}
        return {
            key: data[key] if isinstance(data.get(key), list) else [] for key in ("pending", "superseded")
        }

    def _write(self, data: dict[str, list[Any]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".updates.", dir=self.path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(json.dumps(data, indent=1))
        os.replace(tmp, self.path)

    @staticmethod
    def _same_cache(entry: Any, cache_dir: str | None) -> bool:
        return cache_dir is None or os.path.abspath(entry.cache_dir) == os.path.abspath(cache_dir)

    def entries(self, cache_dir: str | None = None) -> list[Superseded]:
        out: list[Superseded] = []
        for item in self._read()["superseded"]:
            with contextlib.suppress(TypeError, ValueError):
                entry = Superseded(**item)
                if self._same_cache(entry, cache_dir):
                    out.append(entry)
        return out

    def pending(self, cache_dir: str | None = None) -> list[Pending]:
        out: list[Pending] = []
        for item in self._read()["pending"]:
            with contextlib.suppress(TypeError, ValueError):
                entry = Pending(**{**item, "paths": tuple(item.get("paths", ()))})
                if self._same_cache(entry, cache_dir):
                    out.append(entry)
        return out

    def add_pending(self, entries: Iterable[Pending]) -> None:
        new = list(entries)
        keys = {(p.cache_dir, p.repo_key, p.ref) for p in new}
        with self._lock:
            data = self._read()
            data["pending"] = [item for item in data["pending"] if _key_of(item, "ref") not in keys] + [
                asdict(p) for p in new
            ]
            self._write(data)

    def record(self, landed: Iterable[Superseded], *, done: Iterable[Pending] = ()) -> None:
        landed = list(landed)
        finished = {(p.cache_dir, p.repo_key, p.ref, p.new_commit) for p in done}
        olds = {(e.cache_dir, e.repo_key, e.old_commit) for e in landed}
        with self._lock:
            data = self._read()
            data["pending"] = [
                item for item in data["pending"] if _key_of(item, "ref", "new_commit") not in finished
            ]
            data["superseded"] = [
                item for item in data["superseded"] if _key_of(item, "old_commit") not in olds
            ] + [asdict(e) for e in landed]
            self._write(data)

    def add(self, entry: Superseded) -> None:
        self.record([entry])

    def discard(self, gone: Iterable[Superseded]) -> None:
        drop = {(e.cache_dir, e.repo_key, e.old_commit) for e in gone}
        with self._lock:
            data = self._read()
            data["superseded"] = [
                item for item in data["superseded"] if _key_of(item, "old_commit") not in drop
            ]
            self._write(data)


def _key_of(item: Any, *fields: str) -> tuple[Any, ...]:
    if not isinstance(item, dict):
        return ()
    return (
        item.get("cache_dir"),
        (item.get("repo_type"), item.get("repo_id")),
        *(item.get(f) for f in fields),
    )


@dataclass(frozen=True)
class PruneOffer:
    """What pruning superseded revisions would do, checked against the cache as scanned."""

    plan: DeletionPlan
    prunable: tuple[Superseded, ...]
    kept: tuple[tuple[Superseded, str], ...]
    """Superseded revisions that stay, with the reason (a ref still names it, files changed by hand...)."""
    stale: tuple[Superseded, ...]
    """Ledger entries whose old revision is no longer cached (deleted some other way)."""

    @property
    def freed_bytes(self) -> int:
        return self.plan.expected_freed_size


def offer_prune(
    report: CacheReport,
    entries: Iterable[Superseded],
    *,
    busy: Mapping[RepoKey, str] | None = None,
) -> PruneOffer:
    prunable: list[Superseded] = []
    kept: list[tuple[Superseded, str]] = []
    stale: list[Superseded] = []
    repos: dict[RepoKey, Any] = {}
    for entry in entries:
        repo = report.find(f"{entry.repo_type}/{entry.repo_id}")
        old = repo.revision(entry.old_commit) if repo is not None and not repo.corrupt else None
        if repo is None or old is None or old.commit_hash != entry.old_commit:
            if repo is not None and repo.corrupt:
                kept.append((entry, f"broken cache entry: {repo.warnings[0].message}"))
            else:
                stale.append(entry)
            continue
        if old.refs:
            kept.append((entry, f"still named by {', '.join(sorted(old.refs))}"))
            continue
        if repo.revision(entry.new_commit) is None:
            kept.append((entry, f"its successor {entry.new_commit[:8]} is not in the cache"))
            continue
        changed = local_changes(repo, old)
        if changed:
            kept.append(
                (entry, f"{vocab.count(len(changed), 'file')} changed or added by hand ({changed[0]}...)")
            )
            continue
        prunable.append(entry)
        if entry.repo_key not in repos:
            repos[entry.repo_key] = repo.to_cached_repo_info()
    marks = [Mark.revision(e.repo_type, e.repo_id, e.old_commit) for e in prunable]
    plan = plan_deletion(repos, marks, cache_dir=Path(report.cache_dir), busy=busy)
    refused = {(r.mark.repo_key, r.mark.commit_hash): r.reason for r in plan.refused}
    if refused:
        kept.extend(
            (e, refused[(e.repo_key, e.old_commit)])
            for e in prunable
            if (e.repo_key, e.old_commit) in refused
        )
        prunable = [e for e in prunable if (e.repo_key, e.old_commit) not in refused]
    return PruneOffer(plan, tuple(prunable), tuple(kept), tuple(stale))


__all__ = [
    "Pending",
    "PruneOffer",
    "Settled",
    "Superseded",
    "SupersededLedger",
    "UpdateJob",
    "glob_escape",
    "move_ref",
    "offer_prune",
    "plan_updates",
    "settle",
]
