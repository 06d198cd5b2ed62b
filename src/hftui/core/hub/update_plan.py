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
    new_commit: str | None
    """What the check saw; the download takes whatever the ref names when it runs."""
    request: DownloadRequest
    bytes_to_fetch: int | None


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
        request = DownloadRequest(
            repo_id=update.repo_id,
            repo_type=update.repo_type,
            revision=ref.ref,
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


def landed(job: UpdateJob, repo: RepoRecord | None, cache_dir: str) -> Superseded | None:
    """After the job's download finished: the revision it superseded, if the ref really moved."""
    if repo is None or repo.corrupt:
        return None
    now = repo.revision(job.ref)
    if now is None or now.commit_hash == job.old_commit:
        return None
    return Superseded(
        cache_dir, job.repo_type, job.repo_id, job.ref, job.old_commit, now.commit_hash, time.time()
    )


class SupersededLedger:
    """The superseded revisions not pruned yet, in one JSON file (a broken file counts as empty)."""

    def __init__(self, path: Path | None = None) -> None:
        if path is None:
            from hftui.settings import state_dir

            path = state_dir() / "superseded.json"
        self.path = path
        self._lock = threading.Lock()

    def entries(self, cache_dir: str | None = None) -> list[Superseded]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return []
        out: list[Superseded] = []
        for item in data if isinstance(data, list) else []:
            with contextlib.suppress(TypeError, ValueError):
                entry = Superseded(**item)
                if cache_dir is None or os.path.abspath(entry.cache_dir) == os.path.abspath(cache_dir):
                    out.append(entry)
        return out

    def _write(self, entries: Iterable[Superseded]) -> None:
        data = json.dumps([asdict(e) for e in entries], indent=1)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".superseded.", dir=self.path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(data)
        os.replace(tmp, self.path)

    def add(self, entry: Superseded) -> None:
        with self._lock:
            kept = [
                e
                for e in self.entries()
                if (e.cache_dir, e.repo_key, e.old_commit)
                != (entry.cache_dir, entry.repo_key, entry.old_commit)
            ]
            self._write([*kept, entry])

    def discard(self, gone: Iterable[Superseded]) -> None:
        drop = {(e.cache_dir, e.repo_key, e.old_commit) for e in gone}
        with self._lock:
            self._write([e for e in self.entries() if (e.cache_dir, e.repo_key, e.old_commit) not in drop])


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
    "PruneOffer",
    "Superseded",
    "SupersededLedger",
    "UpdateJob",
    "glob_escape",
    "landed",
    "offer_prune",
    "plan_updates",
]
