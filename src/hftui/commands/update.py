"""`hftui update`: which cached repos have a newer revision on the Hub; update them, prune the old one.

    hftui update                       check every cached repo and list its status (nothing downloads)
    hftui update REPO... | --all       download the new commit of every moved ref, same file selection
    hftui update ... --prune-old       then delete the superseded revisions (shared blobs kept)

REPO is `org/name`, `datasets/org/name` (the repo input form) or a cache id (`model/org/name`).
Downloads go through the same engine as `hftui download` (retries, disk-space hold, resume by
rerunning). Without `--prune-old`, the superseded revisions and what deleting them frees are listed
(and, on a terminal, offered); a later `hftui update --prune-old` deletes them. Exit code: 0 when
everything asked for was done, 1 when a download or a deletion failed, 2 for usage errors.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hftui.core import vocab

if TYPE_CHECKING:
    from hftui.core.cache.records import CacheReport, RepoRecord
    from hftui.core.hub.update_plan import PruneOffer, UpdateJob
    from hftui.core.hub.updates import CheckReport, UpdateState


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "update",
        help="check cached repos for newer revisions on the Hub; update them and prune the old ones",
        description=(
            "Compare every cached branch, tag and PR ref with the Hub (one request per repo) and show "
            "what changed and the bytes an update would fetch. With REPO or --all, download the new "
            "commits with the same file selection; with --prune-old, delete the superseded revisions."
        ),
    )
    parser.add_argument(
        "repos", nargs="*", metavar="REPO", help="org/name, datasets/org/name or model/org/name"
    )
    parser.add_argument("--all", action="store_true", help="update every repo that has an update")
    parser.add_argument(
        "--prune-old",
        action="store_true",
        help="delete the revisions an update superseded (never one with local changes or still named by a ref)",
    )
    parser.add_argument(
        "--refresh", action="store_true", help="ask the Hub now, even if the last check is still fresh"
    )
    parser.add_argument("--cache-dir", metavar="DIR", default=argparse.SUPPRESS, help="cache to update")
    parser.add_argument("--json", action="store_true", help="JSON events, one object per line, raw numbers")
    return parser


def run(args: argparse.Namespace) -> int:
    from hftui.core.cache.paths import CacheDirError, resolve_cache_dir
    from hftui.core.cache.scan import scan_cache
    from hftui.errors import UsageError
    from hftui.settings import load_settings

    settings_path = getattr(args, "settings", None)
    loaded = load_settings(Path(settings_path) if settings_path else None)
    for problem in loaded.problems:
        print(f"hftui: warning: {problem}", file=sys.stderr)
    settings = loaded.settings
    read_only = bool(getattr(args, "read_only", None) or settings.read_only)
    if args.prune_old and read_only:
        raise UsageError("--prune-old deletes revisions; it is refused in --read-only mode")
    if args.all and args.repos:
        raise UsageError("give REPO names or --all, not both")
    try:
        location = resolve_cache_dir(getattr(args, "cache_dir", None) or settings.cache_dir)
    except CacheDirError as exc:
        raise UsageError(str(exc)) from None
    cache_dir = str(location.path)
    try:
        report = scan_cache(cache_dir, processes=settings.scan_processes)
    except OSError as exc:
        raise UsageError(f"cannot read cache directory {cache_dir}: {exc.strerror or exc}") from None
    from hftui.core.hub.update_plan import SupersededLedger, settle

    # Updates an earlier run queued and that finished since (or were interrupted): move their refs now.
    if not read_only and settle(SupersededLedger(), cache_dir).landed:
        report = scan_cache(cache_dir, processes=settings.scan_processes)
    chosen = _choose(report, args.repos) if args.repos else report.repos
    endpoint = settings.endpoint or os.environ.get("HF_ENDPOINT") or None
    out = _Out(json_mode=args.json)

    from huggingface_hub.utils import logging as hf_logging

    from hftui.core.hub.updates import CheckStore, UpdateChecker, default_store_path

    hf_logging.set_verbosity_error()
    checker = UpdateChecker(
        endpoint=endpoint,
        ttl_seconds=settings.update_check_minutes * 60,
        store=CheckStore(default_store_path()),
    )
    updating = bool(args.repos or args.all)
    # An update acts on what the Hub says now; a plain listing may reuse a fresh check.
    check = checker.check(chosen, force=args.refresh or updating)
    out.check(report, check)

    failed = 0
    touched: set[tuple[str, str]] = (
        {(r.repo_type or "model", r.repo_id) for r in chosen} if args.repos else set()
    )
    if updating:
        jobs, notes, refused = _plan(report, check, cache_dir, named=bool(args.repos))
        for note in notes:
            out.note(note)
        failed = refused
        if jobs:
            failed_jobs, landed = _download(jobs, settings, endpoint, cache_dir, out)
            failed += failed_jobs
            touched |= {(job.repo_type, job.repo_id) for job in jobs}
            for entry in landed:
                out.superseded_event(entry)
        elif not notes:
            out.note("nothing to update")
    report = scan_cache(cache_dir, processes=settings.scan_processes) if updating else report
    problems = _offer_or_prune(
        report, touched if args.repos else None, out, prune=args.prune_old, read_only=read_only
    )
    code = 1 if failed or problems else 0
    out.summary(code)
    return code


# -- steps --------------------------------------------------------------------------------------


def _choose(report: CacheReport, names: list[str]) -> list[RepoRecord]:
    from hftui.errors import UsageError

    chosen: list[RepoRecord] = []
    for name in names:
        repo = _find(report, name)
        if repo is None:
            raise UsageError(f"{name!r} is not in the cache {report.cache_dir} (see `hftui scan`)")
        if repo not in chosen:
            chosen.append(repo)
    return chosen


def _find(report: CacheReport, name: str) -> RepoRecord | None:
    text = name.strip().strip("/")
    candidates = [f"model/{text}"]
    head, _, rest = text.partition("/")
    if head in vocab.TYPE_PREFIXES:
        candidates.insert(0, f"{vocab.TYPE_PREFIXES[head]}/{rest}")
    if head in vocab.REPO_TYPES:
        candidates.insert(0, text)
    for cache_id in candidates:
        repo = report.find(cache_id)
        if repo is not None:
            return repo
    return None


def _plan(
    report: CacheReport, check: CheckReport, cache_dir: str, *, named: bool
) -> tuple[list[UpdateJob], list[str], int]:
    """The update jobs, notes for the user, and how many named repos cannot be updated (exit code 1)."""
    from hftui.core.hub.update_plan import plan_updates

    jobs: list[UpdateJob] = []
    notes: list[str] = []
    refused = 0
    for key, update in sorted(check.results.items()):
        name = vocab.display_id(*key)
        if update.state != "update available":
            if named and update.state != "up to date":
                refused += 1
                detail = f" ({update.detail})" if update.detail else ""
                notes.append(f"{name}: {update.label}; not updated{detail}")
            continue
        repo = report.find(f"{key[0]}/{key[1]}")
        if repo is None:
            continue
        planned, why = plan_updates(repo, update, cache_dir=cache_dir)
        jobs.extend(planned)
        notes.extend(why)
    return jobs, notes, refused


def _download(
    jobs: list[UpdateJob], settings: Any, endpoint: str | None, cache_dir: str, out: _Out
) -> tuple[int, list[Any]]:
    """Run the update downloads; returns (failed jobs, superseded revisions whose refs moved)."""
    from hftui.commands.download import _Display
    from hftui.core.downloads.engine import DownloadEngine
    from hftui.core.downloads.queue import JobState
    from hftui.core.hub.update_plan import Pending, SupersededLedger, settle

    mode = "json" if out.json_mode else ("tty" if sys.stdout.isatty() else "plain")
    display = _Display(sys.stdout, mode)
    engine = DownloadEngine(
        settings.replace(cache_dir=cache_dir),
        endpoint=endpoint,
        token=None,
        default_cache=cache_dir,
        on_event=display.on_event,
        hold_fails=True,
    )
    display.engine = engine
    ledger = SupersededLedger()
    pending = [Pending.of(job, cache_dir) for job in jobs]
    # Recorded before anything downloads: an update interrupted here is settled by the next run.
    ledger.add_pending(pending)
    job_of: list[str] = [engine.submit(job.request).job.id for job in jobs]
    engine.start()
    try:
        while not engine.wait_idle(0.2):
            display.redraw()
    except KeyboardInterrupt:
        engine.shutdown(2.0)
        print("hftui: interrupted; rerun the same command to resume", file=sys.stderr)
        raise
    display.redraw()
    engine.shutdown(0.5)
    failed_ids = {job_id for job_id in set(job_of) if engine.job(job_id).state != JobState.DONE}
    give_up = [p for p, job_id in zip(pending, job_of, strict=True) if job_id in failed_ids]
    settled = settle(ledger, cache_dir, give_up=give_up)
    for entry, why in settled.dropped:
        out.note(f"{vocab.display_id(entry.repo_type, entry.repo_id)} {entry.ref}: {why}")
    return len(failed_ids), list(settled.landed)


def _offer_or_prune(
    report: CacheReport,
    repos: set[tuple[str, str]] | None,
    out: _Out,
    *,
    prune: bool,
    read_only: bool,
) -> int:
    """Offer (or carry out) the deletion of superseded revisions; returns the number of problems."""
    from hftui.core.cache.cleanup import ExecutionReport, execute_plan
    from hftui.core.hub.update_plan import SupersededLedger, offer_prune

    ledger = SupersededLedger()
    entries = [e for e in ledger.entries(report.cache_dir) if repos is None or e.repo_key in repos]
    if not entries:
        return 0
    offer = offer_prune(report, entries)
    if offer.stale:
        ledger.discard(offer.stale)
    out.offer(offer)
    if not offer.prunable or read_only:
        return 0
    if not prune and not out.confirm(
        f"Delete {vocab.count(len(offer.prunable), 'superseded revision')} now?"
    ):
        out.hint(offer)
        return 0
    result = execute_plan(offer.plan)
    if not isinstance(result, ExecutionReport):
        # The executor re-checks the disk first; a repo that changed since the offer (a download, another
        # process) means the figure shown is no longer true: nothing is deleted, the user runs it again.
        out.note(
            "the cache changed since the superseded revisions were offered; nothing was deleted; run again"
        )
        return 1
    gone = [
        e
        for e in offer.prunable
        if not (Path(e.cache_dir) / _folder(e) / "snapshots" / e.old_commit).exists()
    ]
    ledger.discard(gone)
    out.pruned(offer, result)
    return len(result.problems)


def _folder(entry: Any) -> str:
    from hftui.core.vocab import cache_folder

    return cache_folder(entry.repo_type, entry.repo_id)


# -- output -----------------------------------------------------------------------------------


class _Out:
    def __init__(self, *, json_mode: bool) -> None:
        self.json_mode = json_mode

    def emit(self, obj: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()

    def check(self, report: CacheReport, check: CheckReport) -> None:
        results = sorted(check.results.values(), key=lambda r: (r.repo_type, r.repo_id))
        if self.json_mode:
            for result in results:
                self.emit({"event": "check", **result.to_json()})
            self.emit(
                {
                    "event": "check_summary",
                    "repos": len(results),
                    "counts": {s: check.count(s) for s in _states()},
                    "requests": check.requests,
                    "offline": check.offline,
                    "rate_limited": check.rate_limited,
                    "retry_after": check.retry_after,
                    "summary": check.summary(),
                }
            )
            return
        if not results:
            print(f"nothing cached in {report.cache_dir}")
            return
        width = max(len(vocab.display_id(r.repo_type, r.repo_id)) for r in results)
        for result in results:
            name = vocab.display_id(result.repo_type, result.repo_id)
            fetch = result.bytes_to_fetch
            cost = (
                f"  {vocab.size(fetch)} to fetch"
                if result.state == "update available" and fetch is not None
                else ""
            )
            print(f"{name:<{width}}  {result.label}{cost}")
            described = result.describe()
            if described:
                print(f"{'':<{width}}    {described}")
        print(check.summary())

    def note(self, text: str) -> None:
        if self.json_mode:
            self.emit({"event": "note", "message": text})
        else:
            print(f"hftui: {text}", file=sys.stderr)

    def superseded_event(self, entry: Any) -> None:
        if self.json_mode:
            self.emit(
                {
                    "event": "updated",
                    "repo_type": entry.repo_type,
                    "repo_id": entry.repo_id,
                    "ref": entry.ref,
                    "old_commit": entry.old_commit,
                    "new_commit": entry.new_commit,
                }
            )
        else:
            print(f"updated   {entry.label} -> {entry.new_commit[:8]}")

    def offer(self, offer: PruneOffer) -> None:
        if self.json_mode:
            self.emit(
                {
                    "event": "superseded",
                    "prunable": [_entry_json(e) for e in offer.prunable],
                    "kept": [{**_entry_json(e), "reason": reason} for e, reason in offer.kept],
                    "freed_bytes": offer.freed_bytes,
                }
            )
            return
        for entry, reason in offer.kept:
            print(f"kept      {entry.label}: {reason}")
        if offer.prunable:
            names = ", ".join(e.label for e in offer.prunable)
            print(
                f"superseded: {names}; deleting {'it' if len(offer.prunable) == 1 else 'them'} frees "
                f"{vocab.size(offer.freed_bytes)} ({offer.freed_bytes:,} bytes; blobs the new revision shares are kept)"
            )

    def confirm(self, question: str) -> bool:
        if self.json_mode or not (sys.stdin.isatty() and sys.stdout.isatty()):
            return False
        try:
            answer = input(f"{question} [y/N] ")
        except EOFError:
            return False
        return answer.strip().lower() in ("y", "yes")

    def hint(self, offer: PruneOffer) -> None:
        if self.json_mode:
            return
        names = " ".join(sorted({vocab.display_id(e.repo_type, e.repo_id) for e in offer.prunable}))
        print(f"to delete later: hftui update --prune-old {names}")

    def pruned(self, offer: PruneOffer, result: Any) -> None:
        from hftui.core.cache.cleanup import summarize

        if self.json_mode:
            self.emit(
                {
                    "event": "pruned",
                    "expected_freed_bytes": offer.freed_bytes,
                    "freed_bytes": result.freed_size,
                    "problems": [f"{o.path}: {o.message or o.status}" for o in result.problems],
                }
            )
            return
        print(f"pruned    {summarize(result)}")
        for problem in result.problems:
            print(
                f"hftui: could not delete {problem.path}: {problem.message or problem.status}",
                file=sys.stderr,
            )

    def summary(self, code: int) -> None:
        if self.json_mode:
            self.emit({"event": "summary", "exit_code": code})


def _states() -> tuple[UpdateState, ...]:
    from hftui.core.hub.updates import UPDATE_STATES

    return UPDATE_STATES


def _entry_json(entry: Any) -> dict[str, Any]:
    return {
        "repo_type": entry.repo_type,
        "repo_id": entry.repo_id,
        "ref": entry.ref,
        "old_commit": entry.old_commit,
        "new_commit": entry.new_commit,
    }
