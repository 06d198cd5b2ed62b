"""Which cached repos have a newer revision on the Hub, and what updating each would fetch.

UI-free. For every ref the cache holds (a branch, a tag, `refs/pr/N`), the commit it names in
`refs/` is compared with the commit the Hub names now. One request per repo answers that for
every ref at once: the refs listing with pull requests. Only a ref that moved costs more: the
tree listing of its new commit (cached on disk forever, a commit never changes), which says what
changed in the user's selection — the paths the cached snapshot holds — and how many bytes an
update would really fetch (blobs the repo folder already holds cost nothing).

Results of the refs listing are kept on disk for `Settings.update_check_minutes`, so opening the
app twice does not ask the Hub twice. Every repo ends in one `UpdateState`, with a reason when it
was not checked (offline, gated, rate limited, network). Nothing here raises for one repo.

429 answers pause *every* worker until the Hub's `Retry-After` (or an exponential backoff) has
passed, then the repo is asked again; a repo still refused after `max_rate_limit_retries`, or a
wait longer than `max_backoff`, ends "not checked (rate limited)" and the time the Hub asked us
to wait is remembered, so the next check finishes the job instead of hammering.

The refs request is built here rather than through `HfApi.list_repo_refs` for one reason: a repo
renamed on the Hub answers with a redirect, which `list_repo_refs` follows silently; asking with
`follow_redirects=False` lets the user see "renamed to org/new". Only public helpers
(`get_session`, `build_hf_headers`, `hf_raise_for_status`) are used; the response is the same JSON.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urljoin, urlsplit

from hftui.core import vocab
from hftui.core.cache.listing import ListingError, read_listing
from hftui.core.cache.records import RepoRecord, RevisionRecord
from hftui.core.hub.errors import classify

UpdateState = Literal["update available", "up to date", "ref gone upstream", "repo gone", "not checked"]
UPDATE_STATES: tuple[UpdateState, ...] = (
    "update available",
    "ref gone upstream",
    "repo gone",
    "not checked",
    "up to date",
)
"""Most urgent first: the order `hftui scan --sort update` uses."""

FILTER_VALUES: dict[str, UpdateState] = {
    "available": "update available",
    "up-to-date": "up to date",
    "current": "up to date",
    "ref-gone": "ref gone upstream",
    "repo-gone": "repo gone",
    "gone": "repo gone",
    "not-checked": "not checked",
    "unchecked": "not checked",
}
"""The words of the `update=` filter term (`update=available`); the states themselves work too."""


def filter_state(text: str) -> UpdateState:
    """The state an `update=` filter value names; ValueError with the accepted words otherwise."""
    word = text.strip().lower()
    if word in FILTER_VALUES:
        return FILTER_VALUES[word]
    for state in UPDATE_STATES:
        if word in (state, state.replace(" ", "-")):
            return state
    raise ValueError(f"unknown update state {text!r}: use one of {', '.join(sorted(set(FILTER_VALUES)))}")


def urgency(update: RepoUpdate | None) -> tuple[int, int]:
    """Sort key, most urgent first: the state's rank, then the bytes an update fetches (bigger first)."""
    if update is None:
        return (UPDATE_STATES.index("not checked"), 0)
    return (UPDATE_STATES.index(update.state), -(update.bytes_to_fetch or 0))


RefKind = Literal["branch", "tag", "pr"]

STORE_VERSION = 1
_MAX_STORED_TREES = 256
_REDIRECTS = (301, 302, 303, 307, 308)
_MAX_REDIRECTS = 5


# -- results --------------------------------------------------------------------------------


@dataclass(frozen=True)
class FileChanges:
    """What a moved ref changed, seen from the user's selection (the paths the cached snapshot holds)."""

    changed: tuple[str, ...]
    """Selected paths whose content differs at the new commit."""
    removed: tuple[str, ...]
    """Selected paths the new commit no longer has."""
    added: tuple[str, ...] | None
    """Paths the new commit has and the cached commit had not (None: the cached commit's full listing is
    not in the cache, `trees/<commit>.json`). Not part of the selection, so an update does not fetch them."""
    files_to_fetch: int
    bytes_to_fetch: int
    """Bytes an update downloads for the selection: new blobs only, each counted once."""
    blobs_to_fetch: Mapping[str, int] = field(default_factory=dict, repr=False, compare=False)
    """etag -> size of those blobs, so several moved refs of one repo count a shared blob once."""

    @property
    def summary(self) -> str:
        parts = [f"{len(self.changed)} changed", f"{len(self.removed)} removed"]
        parts.append("? added" if self.added is None else f"{len(self.added)} added")
        return ", ".join(parts)


@dataclass(frozen=True)
class RefStatus:
    ref: str
    """As the cache names it under `refs/`: `main`, `feature/x`, `v1.0`, `refs/pr/3`."""
    cached_commit: str
    state: Literal["update available", "up to date", "ref gone upstream"]
    kind: RefKind | None = None
    remote_commit: str | None = None
    changes: FileChanges | None = None
    """For a moved ref; None when the new tree could not be listed (`note` says why)."""
    note: str = ""


@dataclass(frozen=True)
class RepoUpdate:
    """The update status of one cached repo."""

    repo_type: str
    repo_id: str
    state: UpdateState
    reason: str = ""
    """Why it was not checked or what to know: offline, gated, rate limited, network, broken cache entry,
    no ref, private or removed..."""
    detail: str = ""
    refs: tuple[RefStatus, ...] = ()
    renamed_to: str | None = None
    local_changes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """commit -> paths modified or added by hand in that snapshot (never pruned automatically)."""
    detached: tuple[str, ...] = ()
    """Cached commits no ref points to: nothing to follow, never pruned automatically."""
    checked_at: float | None = None
    """When the Hub answered (possibly in an earlier run: see `from_store`)."""
    from_store: bool = False

    @property
    def key(self) -> tuple[str, str]:
        return (self.repo_type, self.repo_id)

    @property
    def moved(self) -> tuple[RefStatus, ...]:
        return tuple(ref for ref in self.refs if ref.state == "update available")

    @property
    def bytes_to_fetch(self) -> int | None:
        """For every moved ref together (a blob two refs need is fetched once); None when unknown."""
        moved = self.moved
        if not moved or any(ref.changes is None for ref in moved):
            return None if moved else 0
        wanted: dict[str, int] = {}
        for ref in moved:
            if ref.changes is not None:
                wanted.update(ref.changes.blobs_to_fetch)
        return sum(wanted.values())

    @property
    def label(self) -> str:
        """`update available`, or `not checked (rate limited)`: the state and its reason in one cell."""
        return f"{self.state} ({self.reason})" if self.reason and self.state != "up to date" else self.state

    def describe(self) -> str:
        """One line for a table or a log: what changed and what an update costs."""
        parts: list[str] = []
        if self.renamed_to:
            parts.append(f"renamed to {self.renamed_to}")
        for ref in self.refs:
            if ref.state == "update available":
                text = f"{ref.ref}: {ref.cached_commit[:8]} -> {(ref.remote_commit or '')[:8]}"
                if ref.changes is not None:
                    text += f" ({ref.changes.summary}; {vocab.size(ref.changes.bytes_to_fetch)} to fetch)"
                elif ref.note:
                    text += f" ({ref.note})"
                parts.append(text)
            elif ref.state == "ref gone upstream":
                parts.append(f"{ref.ref}: gone upstream")
        if self.local_changes:
            files = sum(len(paths) for paths in self.local_changes.values())
            parts.append(f"local changes: {vocab.count(files, 'file')} (never pruned)")
        if self.detail and self.state != "up to date":
            parts.append(self.detail)
        return "; ".join(parts)

    def to_json(self) -> dict[str, Any]:
        return {
            "repo_type": self.repo_type,
            "repo_id": self.repo_id,
            "state": self.state,
            "reason": self.reason or None,
            "detail": self.detail or None,
            "renamed_to": self.renamed_to,
            "bytes_to_fetch": self.bytes_to_fetch,
            "checked_at": self.checked_at,
            "from_store": self.from_store,
            "refs": [
                {
                    "ref": ref.ref,
                    "kind": ref.kind,
                    "state": ref.state,
                    "cached_commit": ref.cached_commit,
                    "remote_commit": ref.remote_commit,
                    "note": ref.note or None,
                    "changes": None
                    if ref.changes is None
                    else {
                        "changed": list(ref.changes.changed),
                        "removed": list(ref.changes.removed),
                        "added": None if ref.changes.added is None else list(ref.changes.added),
                        "files_to_fetch": ref.changes.files_to_fetch,
                        "bytes_to_fetch": ref.changes.bytes_to_fetch,
                    },
                }
                for ref in self.refs
            ],
            "local_changes": {commit: list(paths) for commit, paths in self.local_changes.items()},
            "detached": list(self.detached),
        }


@dataclass
class CheckReport:
    results: dict[tuple[str, str], RepoUpdate] = field(default_factory=dict)
    requests: int = 0
    """Calls made to the Hub by this check (a redirected or paginated call counts once; the server's
    own log is the exact count)."""
    offline: bool = False
    rate_limited: int = 0
    """How many 429 answers the Hub gave during this check."""
    waited: float = 0.0
    """Seconds spent backing off after 429s."""
    retry_after: float | None = None
    """When the Hub wants to be asked again (epoch seconds), if some repos are still unchecked because of it."""
    cancelled: bool = False

    def get(self, repo_type: str, repo_id: str) -> RepoUpdate | None:
        return self.results.get((repo_type, repo_id))

    def count(self, state: UpdateState) -> int:
        return sum(1 for result in self.results.values() if result.state == state)

    def summary(self) -> str:
        """`12 repos checked: 2 update available, 9 up to date, 1 not checked (rate limited: ...)`."""
        counts = [f"{self.count(s)} {s}" for s in UPDATE_STATES if self.count(s)]
        text = f"{vocab.count(len(self.results), 'repo')}: " + (", ".join(counts) or "nothing cached")
        if self.offline:
            text += "; offline (HF_HUB_OFFLINE): the Hub was not asked"
        if self.rate_limited:
            text += f"; the Hub rate-limited {vocab.count(self.rate_limited, 'request')}"
            if self.waited:
                text += f", backed off {vocab.duration(self.waited)}"
            if self.retry_after is not None:
                text += f", check again after {time.strftime('%H:%M:%S', time.localtime(self.retry_after))}"
        return text


# -- the local side ------------------------------------------------------------------------------


def local_changes(repo: RepoRecord, revision: RevisionRecord) -> tuple[str, ...]:
    """Paths of `revision` the user changed by hand: a real file (or a link out of the repo) in the
    snapshot instead of a symlink into `blobs/`, or a blob whose size differs from the cached listing.

    huggingface_hub only ever writes symlinks into `blobs/`; anything else is the user's, and an update
    or a prune must not make it disappear silently."""
    try:
        listed = read_listing(repo.repo_path, revision.commit_hash)
    except ListingError:
        listed = {}
    blobs = repo.blobs
    changed: list[str] = []
    for path, key in revision.files:
        if not key.startswith("blobs/"):
            changed.append(path)
            continue
        entry = listed.get(path)
        if listed and entry is None:
            changed.append(path)  # linked by hand into a snapshot whose listing does not know it
        elif entry is not None and key in blobs and blobs[key][0] != entry.size:
            changed.append(path)
    return tuple(sorted(changed))


def selection(repo: RepoRecord, revision: RevisionRecord) -> dict[str, str]:
    """The user's selection in a revision: path -> etag (the blob's name) for the files the library
    put there, the hand-made ones left out."""
    own = set(local_changes(repo, revision))
    return {
        path: key.rpartition("/")[2]
        for path, key in revision.files
        if key.startswith("blobs/") and path not in own
    }


def _ref_kind_and_name(ref: str) -> tuple[RefKind | None, str]:
    if ref.startswith("refs/pr/"):
        return "pr", ref[len("refs/pr/") :]
    if ref.startswith("refs/heads/"):
        return "branch", ref[len("refs/heads/") :]
    if ref.startswith("refs/tags/"):
        return "tag", ref[len("refs/tags/") :]
    return None, ref


# -- the disk store of Hub answers ---------------------------------------------------------------


class CheckStore:
    """Hub answers kept between runs: refs listings (fresh for the TTL), tree listings of commits
    (forever: a commit never changes), and the time a 429 asked us to come back. One JSON file,
    written atomically; a broken file is ignored (and replaced on the next save)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self.refs: dict[str, dict[str, Any]] = {}
        self.trees: dict[str, dict[str, Any]] = {}
        self.retry_after: dict[str, float] = {}
        self._load()

    def _load(self) -> None:
        if self.path is None:
            return
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return
        if not isinstance(data, dict) or data.get("version") != STORE_VERSION:
            return
        for name in ("refs", "trees", "retry_after"):
            value = data.get(name)
            if isinstance(value, dict):
                setattr(self, name, value)

    def save(self) -> None:
        if self.path is None:
            return
        with self._lock:
            # Newest trees kept: the ones a check needs are the latest commits of each ref.
            trees = dict(sorted(self.trees.items(), key=lambda kv: kv[1].get("at", 0))[-_MAX_STORED_TREES:])
            data = {
                "version": STORE_VERSION,
                "refs": self.refs,
                "trees": trees,
                "retry_after": self.retry_after,
            }
            text = json.dumps(data, separators=(",", ":"))
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".update-checks.", dir=self.path.parent)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
            os.replace(tmp, self.path)
        except OSError:
            # A read-only state dir costs only the next check's requests.
            with contextlib.suppress(OSError, UnboundLocalError):
                os.unlink(tmp)

    def put_refs(self, key: str, entry: dict[str, Any]) -> None:
        with self._lock:
            self.refs[key] = entry

    def put_tree(self, key: str, files: dict[str, list[Any]]) -> None:
        with self._lock:
            self.trees[key] = {"at": time.time(), "files": files}


def default_store_path() -> Path:
    from hftui.settings import state_dir

    return state_dir() / "update-checks.json"


# -- the check ---------------------------------------------------------------------------------------


class _RateLimited(Exception):
    def __init__(self, retry_after: float | None) -> None:
        super().__init__("rate limited")
        self.retry_after = retry_after


class _Gate:
    """Shared by the workers: after a 429 nobody asks the Hub before `open_at`."""

    def __init__(self, sleep: Callable[[float], None], cancel: Callable[[], bool]) -> None:
        self.open_at = 0.0
        self.waited = 0.0
        self._lock = threading.Lock()
        self._sleep = sleep
        self._cancel = cancel

    def close_for(self, seconds: float) -> None:
        with self._lock:
            now = time.monotonic()
            until = max(self.open_at, now + seconds)
            # Wall time the check stands still (not summed per worker: they all wait together).
            self.waited += until - max(self.open_at, now)
            self.open_at = until

    def wait(self) -> None:
        while not self._cancel():
            delay = self.open_at - time.monotonic()
            if delay <= 0:
                return
            self._sleep(min(delay, 0.2))


class UpdateChecker:
    """Checks cached repos against the Hub. Safe to run in a worker thread; `check` never raises for a
    single repo, and reports each result through `on_result` as soon as it is known."""

    def __init__(
        self,
        *,
        endpoint: str | None = None,
        token: str | bool | None = None,
        ttl_seconds: float = 3600.0,
        store: CheckStore | None = None,
        max_workers: int = 8,
        max_rate_limit_retries: int = 3,
        max_backoff: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        from huggingface_hub import constants

        self.endpoint = (endpoint or constants.ENDPOINT).rstrip("/")
        self.token = token
        self.ttl_seconds = ttl_seconds
        self.store = store if store is not None else CheckStore(None)
        self.max_workers = max(1, max_workers)
        self.max_rate_limit_retries = max_rate_limit_retries
        self.max_backoff = max_backoff
        self._sleep = sleep
        self._lock = threading.Lock()
        self._ask_hub = True
        """Set by `check` for its run: one check at a time per checker."""

    # public

    def check(
        self,
        repos: Iterable[RepoRecord],
        *,
        force: bool = False,
        ask_hub: bool = True,
        cancel: Callable[[], bool] | None = None,
        on_result: Callable[[RepoUpdate], None] | None = None,
    ) -> CheckReport:
        """Check every repo; `force` ignores stored refs listings younger than the TTL. With
        `ask_hub=False` only stored answers are used (of any age), as offline, and nothing is requested."""
        is_cancelled = cancel or (lambda: False)
        report = CheckReport(offline=is_offline())
        self._ask_hub = ask_hub
        gate = _Gate(self._sleep, is_cancelled)
        todo = [repo for repo in repos]

        def finish(result: RepoUpdate) -> None:
            with self._lock:
                report.results[result.key] = result
            if on_result is not None:
                on_result(result)

        def run(repo: RepoRecord) -> None:
            if is_cancelled():
                return
            finish(self._check_repo(repo, report, gate, force=force, cancel=is_cancelled))

        if self.max_workers == 1 or len(todo) <= 1:
            for repo in todo:
                run(repo)
        else:
            workers = min(self.max_workers, len(todo))
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="update-check") as pool:
                # A few tasks queued per worker, not one future per repo up front: 10,000 futures
                # (each with its lock and condition) took ~20 MiB of the app's peak memory.
                in_flight: set[Future[None]] = set()
                for repo in todo:
                    if len(in_flight) >= 2 * workers:
                        done, in_flight = wait(in_flight, return_when=FIRST_COMPLETED)
                        for future in done:
                            future.result()
                    in_flight.add(pool.submit(run, repo))
                for future in in_flight:
                    future.result()
        report.cancelled = is_cancelled()
        report.waited = gate.waited
        self.store.save()
        return report

    # one repo

    def _store_key(self, repo_type: str, repo_id: str) -> str:
        return f"{self.endpoint}|{repo_type}/{repo_id}"

    def _check_repo(
        self, repo: RepoRecord, report: CheckReport, gate: _Gate, *, force: bool, cancel: Callable[[], bool]
    ) -> RepoUpdate:
        repo_type, repo_id = repo.repo_type or "model", repo.repo_id
        if repo.corrupt or repo.repo_type is None:
            message = repo.warnings[0].message if repo.warnings else "not a repo folder"
            return RepoUpdate(repo_type, repo_id, "not checked", "broken cache entry", message)
        changes = {
            revision.commit_hash: found
            for revision in repo.revisions
            if (found := local_changes(repo, revision))
        }
        detached = tuple(sorted(r.commit_hash for r in repo.revisions if not r.refs))
        base = RepoUpdate(repo_type, repo_id, "not checked", local_changes=changes, detached=detached)
        if not repo.refs:
            return _replace(
                base, reason="no ref", detail="only detached revisions: no branch or tag to follow"
            )

        key = self._store_key(repo_type, repo_id)
        stored = self.store.refs.get(key)
        now = time.time()
        fresh = stored is not None and not force and now - float(stored.get("at", 0)) < self.ttl_seconds
        if report.offline or not self._ask_hub:
            if stored is None:
                if not self._ask_hub and not report.offline:
                    return _replace(base, reason="never checked", detail="run `hftui update` to ask the Hub")
                return _replace(base, reason="offline", detail="HF_HUB_OFFLINE is set: the Hub was not asked")
            return self._compare(
                repo, base, stored, report, gate, cancel, from_store=True, offline=report.offline
            )
        if fresh:
            assert stored is not None
            return self._compare(repo, base, stored, report, gate, cancel, from_store=True)
        retry_at = self.store.retry_after.get(self.endpoint, 0.0)
        if retry_at > now:
            report.retry_after = max(report.retry_after or 0.0, retry_at)
            return _replace(base, reason="rate limited", detail=_retry_text(retry_at))

        try:
            entry = self._fetch_refs(repo_type, repo_id, report, gate, cancel)
        except _RateLimited as exc:
            retry_at = time.time() + (exc.retry_after or self.max_backoff)
            with self._lock:
                report.retry_after = max(report.retry_after or 0.0, retry_at)
                self.store.retry_after[self.endpoint] = max(
                    self.store.retry_after.get(self.endpoint, 0.0), retry_at
                )
            return _replace(base, reason="rate limited", detail=_retry_text(retry_at))
        except _Cancelled:
            return _replace(base, reason="cancelled")
        except Exception as exc:  # one repo's failure is its state, never the check's
            failure = classify(exc, token=self.token if isinstance(self.token, str) else None)
            if failure.kind in ("repo_not_found", "disabled"):
                entry = {"at": time.time(), "gone": failure.kind, "detail": failure.detail}
                self.store.put_refs(key, entry)
            elif failure.kind == "gated":
                return _replace(
                    base,
                    reason="gated",
                    detail="the Hub refuses access: request it on the repo page and log in",
                )
            elif failure.kind == "offline":
                report.offline = True
                return _replace(base, reason="offline", detail="HF_HUB_OFFLINE is set: the Hub was not asked")
            else:
                reason = {"unauthorized": "not authorized", "forbidden": "not authorized"}.get(
                    failure.kind,
                    "network" if failure.transient or failure.kind in ("network", "reset") else "error",
                )
                return _replace(base, reason=reason, detail=failure.detail)
        return self._compare(repo, base, entry, report, gate, cancel, from_store=False)

    def _compare(
        self,
        repo: RepoRecord,
        base: RepoUpdate,
        entry: Mapping[str, Any],
        report: CheckReport,
        gate: _Gate,
        cancel: Callable[[], bool],
        *,
        from_store: bool,
        offline: bool = False,
    ) -> RepoUpdate:
        checked_at = float(entry.get("at", 0)) or None
        extra: dict[str, Any] = {"checked_at": checked_at, "from_store": from_store}
        if offline:
            extra["reason"] = "offline"
            extra["detail"] = f"as of the last check, {_age(checked_at)}"
        if "gone" in entry:
            gone_detail = (
                "the Hub has no such repo: deleted, renamed without a redirect, or private (log in)"
                if entry["gone"] == "repo_not_found"
                else "the Hub disabled this repo"
            )
            return _replace(base, state="repo gone", **{"detail": gone_detail, **extra})
        branches = entry.get("branches", {})
        tags = entry.get("tags", {})
        prs = entry.get("prs", {})
        renamed_to = entry.get("renamed_to")
        remote_id = renamed_to or base.repo_id
        statuses: list[RefStatus] = []
        for revision in sorted(repo.revisions, key=lambda r: r.commit_hash):
            for ref in sorted(revision.refs):
                kind, name = _ref_kind_and_name(ref)
                target: str | None = None
                found_kind: RefKind
                if kind == "pr":
                    target, found_kind = prs.get(name), "pr"
                elif kind == "tag":
                    target, found_kind = tags.get(name), "tag"
                elif kind == "branch" or name in branches:
                    target, found_kind = branches.get(name), "branch"
                else:
                    target, found_kind = tags.get(name), "tag"
                if target is None:
                    statuses.append(RefStatus(ref, revision.commit_hash, "ref gone upstream", kind or None))
                    continue
                if target == revision.commit_hash:
                    statuses.append(RefStatus(ref, revision.commit_hash, "up to date", found_kind, target))
                    continue
                changes, note = None, ""
                try:
                    changes = self._changes(repo, revision, remote_id, target, report, gate, cancel, offline)
                except _RateLimited:
                    note = "rate limited: what changed is not known yet"
                except _Cancelled:
                    note = "cancelled"
                except _NoTree:
                    note = "what changed is not known yet (not listed)"
                except Exception as exc:
                    note = f"cannot list the new commit: {classify(exc).detail}"
                statuses.append(
                    RefStatus(
                        ref, revision.commit_hash, "update available", found_kind, target, changes, note
                    )
                )
        states = {status.state for status in statuses}
        state: UpdateState = (
            "update available"
            if "update available" in states
            else "ref gone upstream"
            if "ref gone upstream" in states
            else "up to date"
        )
        return _replace(base, state=state, refs=tuple(statuses), renamed_to=renamed_to, **extra)

    def _changes(
        self,
        repo: RepoRecord,
        revision: RevisionRecord,
        remote_id: str,
        commit: str,
        report: CheckReport,
        gate: _Gate,
        cancel: Callable[[], bool],
        offline: bool,
    ) -> FileChanges:
        tree = self._tree(repo.repo_type or "model", remote_id, commit, report, gate, cancel, offline)
        chosen = selection(repo, revision)
        try:
            before: set[str] | None = set(read_listing(repo.repo_path, revision.commit_hash))
        except ListingError:
            before = None
        changed = sorted(path for path, etag in chosen.items() if path in tree and tree[path][1] != etag)
        removed = sorted(path for path in chosen if path not in tree)
        added = None if before is None else tuple(sorted(set(tree) - before))
        blobs_dir = os.path.join(repo.repo_path, "blobs")
        wanted: dict[str, int] = {}
        for path in chosen:
            if path in tree:
                size, etag = tree[path]
                if etag not in wanted and not os.path.exists(os.path.join(blobs_dir, etag)):
                    wanted[etag] = int(size)
        return FileChanges(tuple(changed), tuple(removed), added, len(wanted), sum(wanted.values()), wanted)

    def _tree(
        self,
        repo_type: str,
        repo_id: str,
        commit: str,
        report: CheckReport,
        gate: _Gate,
        cancel: Callable[[], bool],
        offline: bool,
    ) -> dict[str, tuple[int, str]]:
        key = f"{self._store_key(repo_type, repo_id)}@{commit}"
        stored = self.store.trees.get(key)
        if stored is not None:
            return {path: (int(v[0]), str(v[1])) for path, v in stored["files"].items()}
        if offline or not self._ask_hub:
            raise _NoTree()
        from huggingface_hub import HfApi
        from huggingface_hub.hf_api import RepoFile

        api = HfApi(endpoint=self.endpoint, token=self.token)

        def listing() -> dict[str, list[Any]]:
            files: dict[str, list[Any]] = {}
            for item in api.list_repo_tree(repo_id, revision=commit, repo_type=repo_type, recursive=True):
                if isinstance(item, RepoFile):
                    # The name huggingface_hub gives the blob: the LFS SHA-256, else the git blob id.
                    files[item.path] = [item.size, item.lfs.sha256 if item.lfs else item.blob_id]
            return files

        files = self._with_backoff(listing, report, gate, cancel)
        self.store.put_tree(key, files)
        return {path: (int(v[0]), str(v[1])) for path, v in files.items()}

    # requests

    def _with_backoff(
        self, call: Callable[[], Any], report: CheckReport, gate: _Gate, cancel: Callable[[], bool]
    ) -> Any:
        from huggingface_hub.errors import HfHubHTTPError

        attempt = 0
        while True:
            gate.wait()
            if cancel():
                raise _Cancelled()
            with self._lock:
                report.requests += 1
            try:
                return call()
            except HfHubHTTPError as exc:
                response = exc.response
                if response is None or response.status_code != 429:
                    raise
                with self._lock:
                    report.rate_limited += 1
                retry_after = _retry_after_seconds(response.headers.get("Retry-After"))
                delay = retry_after if retry_after is not None else min(self.max_backoff, 2.0**attempt)
                attempt += 1
                if attempt > self.max_rate_limit_retries or delay > self.max_backoff:
                    raise _RateLimited(delay) from None
                gate.close_for(delay)

    def _fetch_refs(
        self, repo_type: str, repo_id: str, report: CheckReport, gate: _Gate, cancel: Callable[[], bool]
    ) -> dict[str, Any]:
        from huggingface_hub.utils import build_hf_headers, get_session, hf_raise_for_status

        renamed_to: list[str] = []

        def call() -> Any:
            url = f"{self.endpoint}/api/{repo_type}s/{repo_id}/refs"
            headers = build_hf_headers(token=self.token)
            for _ in range(_MAX_REDIRECTS):
                response = get_session().get(
                    url, headers=headers, params={"include_prs": 1}, follow_redirects=False
                )
                if response.status_code not in _REDIRECTS or "location" not in response.headers:
                    break
                url = urljoin(url, response.headers["location"])
                moved = _repo_id_from_refs_url(url, repo_type)
                if moved and moved != repo_id:
                    renamed_to[:] = [moved]
            hf_raise_for_status(response)
            return response.json()

        data = self._with_backoff(call, report, gate, cancel)

        def table(items: Any, *, pr: bool = False) -> dict[str, str]:
            out: dict[str, str] = {}
            for item in items or []:
                if not isinstance(item, dict) or not isinstance(item.get("targetCommit"), str):
                    continue
                name = item.get("ref") if pr else item.get("name")
                if not isinstance(name, str):
                    continue
                out[name.removeprefix("refs/pr/") if pr else name] = item["targetCommit"]
            return out

        entry: dict[str, Any] = {
            "at": time.time(),
            "branches": table(data.get("branches")),
            "tags": table(data.get("tags")),
            "prs": table(data.get("pullRequests"), pr=True),
            "renamed_to": renamed_to[0] if renamed_to else None,
        }
        self.store.put_refs(self._store_key(repo_type, repo_id), entry)
        return entry


class _Cancelled(Exception):
    pass


class _NoTree(Exception):
    pass


def is_offline() -> bool:
    """HF_HUB_OFFLINE as huggingface_hub read it at import, or as the environment says now (a check must
    not make the request the library would refuse anyway)."""
    from huggingface_hub import constants

    value = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or ""
    return constants.is_offline_mode() or value.strip().upper() in ("1", "ON", "YES", "TRUE")


def _replace(update: RepoUpdate, **changes: Any) -> RepoUpdate:
    import dataclasses

    return dataclasses.replace(update, **changes)


def _retry_after_seconds(value: str | None) -> float | None:
    if not value:
        return None
    with contextlib.suppress(ValueError):
        return max(0.0, float(value))
    from email.utils import parsedate_to_datetime

    with contextlib.suppress(TypeError, ValueError, IndexError):
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    return None


def _retry_text(retry_at: float) -> str:
    return f"the Hub asked to wait; check again after {time.strftime('%H:%M:%S', time.localtime(retry_at))}"


def _age(timestamp: float | None) -> str:
    return vocab.ago(timestamp, time.time()) if timestamp else "at an unknown time"


def _repo_id_from_refs_url(url: str, repo_type: str) -> str | None:
    path = unquote(urlsplit(url).path)
    match = re.search(rf"/api/{re.escape(repo_type)}s/(.+)/refs$", path)
    return match.group(1) if match else None


__all__ = [
    "FILTER_VALUES",
    "UPDATE_STATES",
    "CheckReport",
    "CheckStore",
    "FileChanges",
    "RefStatus",
    "RepoUpdate",
    "UpdateChecker",
    "UpdateState",
    "default_store_path",
    "filter_state",
    "local_changes",
    "selection",
    "urgency",
]
