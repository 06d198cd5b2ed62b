"""`hftui scan`: list what the Hub cache holds, as a table or as JSON.

Imports stay inside `run` so that `hftui --help` and the other commands do not pay for them.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from hftui.core import vocab

if TYPE_CHECKING:
    from hftui.core.cache.filters import Filter, SortSpec
    from hftui.core.cache.scan import CacheReport, RepoRecord, RevisionRecord
    from hftui.core.downloads.kept import KeptFile

JSON_SCHEMA_VERSION = 1


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "scan",
        help="list the cached repos (table or --json)",
        description=(
            "Scan the Hub cache and list its repos with sizes, ages, refs and completeness. "
            "Filters use the grammar of `hf cache ls -f`, plus name=GLOB and the TUI's bare words."
        ),
    )
    # SUPPRESS keeps a value given before the subcommand (`hftui --cache-dir D scan`).
    from hftui.commands.root_flags import CacheDirs, add_root_flags

    parser.add_argument(
        "--cache-dir",
        metavar="DIR",
        default=argparse.SUPPRESS,
        action=CacheDirs,
        help="cache to scan; again: more hub caches, each a root of its own",
    )
    add_root_flags(parser)
    parser.add_argument(
        "--no-roots",
        action="store_true",
        help="only the hub cache: skip the datasets cache, local dirs, the Xet dir and other hub caches",
    )
    parser.add_argument("--json", action="store_true", help="print JSON (raw bytes and epoch seconds)")
    parser.add_argument("--revisions", action="store_true", help="add a row per revision")
    parser.add_argument(
        "-f",
        "--filter",
        action="append",
        default=[],
        metavar="FILTER",
        help="e.g. 'size>1GB', 'accessed>30d', 'modified<1w', 'type=model', 'refs=main', 'name=*bert*', "
        "'update=available', or a bare word matched inside the repo id (as in the TUI: 'org1/'); "
        "repeat to AND them",
    )
    parser.add_argument(
        "--sort",
        default="size",
        metavar="KEY[:asc|:desc]",
        help="size, name, accessed, modified, files or update (default: size:desc)",
    )
    parser.add_argument(
        "--updates",
        action="store_true",
        help="ask the Hub which repos have a newer revision (one request per repo, kept for "
        "update_check_minutes); implied by an update= filter or --sort update",
    )
    parser.add_argument(
        "--processes",
        type=int,
        default=0,
        metavar="N",
        help="worker processes (default: by CPU count and cache size)",
    )
    parser.add_argument(
        "--full",
        action="store_true",
        help="read every repo, even those unchanged since the last scan (docs/scan-reuse.md)",
    )
    return parser


def run(args: argparse.Namespace) -> int:
    import json
    import sys
    import time

    from hftui.core.cache.filters import FilterError, parse_cli_filter, parse_sort
    from hftui.core.cache.paths import CacheDirError, resolve_cache_dir
    from hftui.errors import UsageError

    try:
        # The TUI's filter grammar: `-f org1/` is a bare word (a substring of the repo id), as in the
        # Cache pane's filter box; `-f "size>1GB org1/"` ANDs both.
        filters = [f for text in args.filter for f in parse_cli_filter(text)]
        sort = parse_sort(args.sort)
    except FilterError as exc:
        raise UsageError(str(exc)) from None
    if args.processes < 0:
        raise UsageError(f"--processes must be 0 (auto) or more (got {args.processes})")
    try:
        location = resolve_cache_dir(getattr(args, "cache_dir", None))
    except CacheDirError as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:  # the default cache's parent cannot be searched (permission denied)
        raise UsageError(f"cannot read cache directory {exc.filename}: {exc.strerror or exc}") from None

    try:
        report = _scan_hub_cache(args, location.path)
    except OSError as exc:  # the default cache exists but its root cannot be listed
        raise UsageError(f"cannot read cache directory {location.path}: {exc.strerror or exc}") from None
    now = time.time()
    if not report.exists:
        print(
            f"hftui: no cache at {location.path} yet (nothing downloaded); use --cache-dir DIR to scan another one",
            file=sys.stderr,
        )
    updates = None
    if args.updates or sort.key == "update" or any(f.key == "update" for f in filters):
        updates, summary = _check_updates(report, args)
        print(f"hftui: updates: {summary}", file=sys.stderr)
    rows = _select(report, filters, sort, now, revisions=args.revisions, updates=updates)
    from hftui.core.cache.reuse import may_hold_kept_bytes
    from hftui.core.downloads.kept import iter_repo_kept

    # Not iter_kept: it lists every repo folder, a good part of a rescan that reuses them all.
    kept = [entry for path in may_hold_kept_bytes(report) for entry in iter_repo_kept(path)]
    abandoned = _abandoned(kept, args, now) if kept else {}
    roots = None if args.no_roots else _scan_roots(args, location.path, report)
    if args.json:
        # One write (json.dump() to a stream makes a system call per token), and no indent: with
        # indent, json falls back from its C encoder to a pure-Python one, 5x slower.
        data = _as_json(report, rows, updates)
        data["kept_partial"] = _kept_json(kept, abandoned)
        if roots is not None:
            from hftui.core.cache.roots_json import roots_json

            data.update(roots_json(roots))
        sys.stdout.write(json.dumps(data) + "\n")
    else:
        _print_table(report, rows, now, revisions=args.revisions, sort=sort, updates=updates)
        _print_kept(kept, now, abandoned)
        if roots is not None:
            from hftui.core.cache.roots_text import roots_lines

            for text in roots_lines(roots, now):
                # Warnings go to stderr like the scan's own, so a pipe reads only the table.
                print(text, file=sys.stderr if text.startswith("warning: ") else sys.stdout)
    return 0


def _scan_hub_cache(args: argparse.Namespace, path: Any) -> CacheReport:
    """Scan a hub cache, reusing the repos unchanged since the index saved by the last scan (unless
    --full or `scan_reuse = false`), and save the index again (unless read-only)."""
    import sys
    from pathlib import Path

    from hftui.core.cache.reuse import reusing_scan
    from hftui.settings import load_settings, state_dir

    settings_path = getattr(args, "settings", None)
    settings = load_settings(Path(settings_path) if settings_path else None).settings
    read_only = bool(getattr(args, "read_only", None) or settings.read_only)
    report, said = reusing_scan(
        path,
        processes=args.processes,
        state_dir=state_dir() if settings.scan_reuse else None,
        full=args.full,
        save=not read_only,
    )
    for line in said:
        print(f"hftui: {line}", file=sys.stderr)
    return report


def _scan_roots(args: argparse.Namespace, primary: Any, report: CacheReport) -> Any:
    """Every other root (docs/roots.md), the opened cache's report reused."""
    from pathlib import Path

    from hftui.commands.root_flags import root_overrides
    from hftui.core.cache.roots import check_roots, roots_for
    from hftui.core.cache.roots_scan import scan_roots
    from hftui.settings import load_settings

    settings_path = getattr(args, "settings", None)
    settings = load_settings(Path(settings_path) if settings_path else None).settings
    settings = settings.replace(**root_overrides(args, settings))
    checked = check_roots(roots_for(settings, str(primary)))
    reuse = {str(primary): report} if report.exists else {}
    others = [r.path for r in checked.roots if r.kind == "hub" and r.path not in reuse]
    indexes, paths = _load_indexes(args, settings, others)
    scanned = scan_roots(checked, hub_reports=reuse, processes=args.processes, indexes=indexes)
    _save_indexes(args, settings, indexes, paths)
    return scanned


def _load_indexes(
    args: argparse.Namespace, settings: Any, roots: list[str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The saved scan index of each other hub cache (reuse as for the opened one)."""
    import os
    import sys

    from hftui.core.cache.reuse import ScanIndex, index_path, load_index
    from hftui.settings import state_dir

    indexes: dict[str, Any] = {}
    paths: dict[str, Any] = {}
    if not settings.scan_reuse:
        return indexes, paths
    for root in roots:
        real = os.path.realpath(root)
        paths[root] = index_path(state_dir(), real)
        index, warning = (ScanIndex(real), "") if args.full else load_index(paths[root], real)
        if warning:
            print(f"hftui: warning: {warning}", file=sys.stderr)
        indexes[root] = index
    return indexes, paths


def _save_indexes(
    args: argparse.Namespace, settings: Any, indexes: dict[str, Any], paths: dict[str, Any]
) -> None:
    import sys

    from hftui.core.cache.reuse import save_index

    if getattr(args, "read_only", None) or settings.read_only:
        return
    for root, index in indexes.items():
        if index.changed:
            warning = save_index(index, paths[root])
            if warning:
                print(f"hftui: warning: {warning}", file=sys.stderr)


def _abandoned(kept: list[KeptFile], args: argparse.Namespace, now: float) -> dict[str, str]:
    """Why prune would offer each abandoned kept file (by `.part` path): the same rules as the
    Cache pane's prune, with `kept_max_age_days` from the settings and the jobs of the saved queue."""
    from pathlib import Path

    from hftui.core.downloads.kept import abandoned
    from hftui.core.downloads.persist import unfinished_requests
    from hftui.settings import load_settings, state_dir

    settings_path = getattr(args, "settings", None)
    settings = load_settings(Path(settings_path) if settings_path else None).settings
    offer, _ = abandoned(
        kept,
        max_age=max(0, settings.kept_max_age_days) * 86400.0,
        requests=unfinished_requests(state_dir()),
        now=now,
    )
    return {str(entry.part_path): why for entry, why in offer}


def _check_updates(report: CacheReport, args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    """The update check of every valid repo (see `hftui update`), keyed by `type/id`, and its summary."""
    import os
    from pathlib import Path

    from huggingface_hub.utils import logging as hf_logging

    from hftui.core.hub.updates import CheckStore, UpdateChecker, default_store_path
    from hftui.settings import load_settings

    hf_logging.set_verbosity_error()
    settings_path = getattr(args, "settings", None)
    settings = load_settings(Path(settings_path) if settings_path else None).settings
    checker = UpdateChecker(
        endpoint=settings.endpoint or os.environ.get("HF_ENDPOINT") or None,
        ttl_seconds=settings.update_check_minutes * 60,
        store=CheckStore(default_store_path()),
    )
    check = checker.check(report.valid_repos)
    return {f"{key[0]}/{key[1]}": result for key, result in check.results.items()}, check.summary()


def _kept_json(kept: list[KeptFile], abandoned: dict[str, str]) -> list[dict[str, Any]]:
    """Partial downloads kept for a resume (docs/kept-bytes.md), one object per file;
    `abandoned` says why prune would offer it (null: kept for a resume)."""
    return [
        {
            "repo_id": entry.repo_id,
            "repo_type": entry.repo_type,
            "path": entry.meta.path if entry.meta is not None else None,
            "etag": entry.etag,
            "kept_bytes": entry.kept_bytes,
            "size": entry.size,
            "last_modified": entry.updated,
            "kept_path": str(entry.part_path),
            "problem": entry.problem,
            "abandoned": abandoned.get(str(entry.part_path)),
        }
        for entry in kept
    ]


def _print_kept(kept: list[KeptFile], now: float, abandoned: dict[str, str]) -> None:
    from hftui.core.downloads.kept import describe, kept_by_repo

    if not kept:
        return
    repos = kept_by_repo("", kept)
    total = sum(repo.bytes for repo in repos)
    print(
        f"\n{vocab.count(len(kept), 'kept partial download')} ({vocab.size(total)}) "
        f"in {vocab.count(len(repos), 'repo')}, resumed by the next download of the same files:"
    )
    for repo in repos:
        print(f"  {vocab.display_id(repo.repo_type, repo.repo_id)}  {describe(repo, now)}")
    offered = [entry for entry in kept if str(entry.part_path) in abandoned]
    if offered:
        print(
            f"{vocab.count(len(offered), 'of them is', 'of them are')} abandoned "
            f"({vocab.size(sum(e.part_bytes for e in offered))}); prune (`p` in the Cache pane) offers to delete:"
        )
        for entry in offered:
            name = entry.meta.path if entry.meta is not None else entry.etag[:12]
            print(
                f"  {vocab.display_id(entry.repo_type, entry.repo_id)}  {name}: {abandoned[str(entry.part_path)]}"
            )


Rows = list[tuple["RepoRecord", list["RevisionRecord"]]]


def _select(
    report: CacheReport,
    filters: list[Filter],
    sort: SortSpec,
    now: float,
    *,
    revisions: bool,
    updates: dict[str, Any] | None = None,
) -> Rows:
    from hftui.core.cache.filters import matches, sort_repos

    rows: Rows = []
    for repo in sort_repos(report.repos, sort, updates=updates):
        ordered = sorted(repo.revisions, key=lambda rev: (-rev.last_modified, rev.commit_hash))
        if revisions and filters:
            # Like `hf cache ls --revisions`: each filter applies to the revision's own figures.
            kept = [rev for rev in ordered if matches(repo, filters, now=now, revision=rev, updates=updates)]
            if kept or (not repo.revisions and matches(repo, filters, now=now, updates=updates)):
                rows.append((repo, kept))
        elif matches(repo, filters, now=now, updates=updates):
            rows.append((repo, ordered))
    return rows


def _as_json(report: CacheReport, rows: Rows, updates: dict[str, Any] | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "schema_version": JSON_SCHEMA_VERSION,
        "cache_dir": report.cache_dir,
        "exists": report.exists,
        "size_on_disk": report.size_on_disk,
        "repos": [
            {
                "repo_id": repo.repo_id,
                "repo_type": repo.repo_type,
                "cache_id": repo.cache_id,
                "repo_path": repo.repo_path,
                "size_on_disk": repo.size_on_disk,
                "nb_files": repo.nb_files,
                "last_accessed": repo.last_accessed,
                "last_modified": repo.last_modified,
                "refs": sorted(repo.refs),
                "complete": repo.complete,
                "revisions": [
                    {
                        "commit_hash": rev.commit_hash,
                        "refs": sorted(rev.refs),
                        "size_on_disk": rev.size_on_disk,
                        "nb_files": rev.nb_files,
                        "last_modified": rev.last_modified,
                        "snapshot_path": rev.snapshot_path,
                        "complete": rev.complete,
                        "missing_files": list(rev.completeness.missing_files),
                        "missing_bytes": rev.completeness.missing_bytes,
                        "detached": rev.detached,
                    }
                    for rev in revisions
                ],
            }
            for repo, revisions in rows
            if not repo.corrupt
        ],
        "incomplete_files": [
            {
                "path": item.path,
                "size_on_disk": item.size_on_disk,
                "repo_dir": item.repo_dir,
                "last_modified": item.last_modified,
                "in_progress": item.in_progress,
            }
            for item in sorted(report.incomplete_files, key=lambda item: item.path)
        ],
        "stale_locks": [
            {"path": lock.path, "repo_dir": lock.repo_dir, "last_modified": lock.last_modified}
            for lock in sorted(report.stale_locks, key=lambda lock: lock.path)
        ],
        "unreferenced_shared_blobs": [
            {"path": blob.path, "size_on_disk": blob.size_on_disk}
            for blob in sorted(report.unreferenced_shared_blobs, key=lambda blob: blob.path)
        ],
        "warnings": [
            {"path": warning.path, "kind": warning.kind, "message": warning.message}
            for warning in sorted(report.warnings + report.notes, key=lambda warning: warning.path)
        ],
    }
    if updates is not None:
        # Only with --updates (or an update= filter / sort): `update` per repo, as `hftui update --json` has it.
        for item in data["repos"]:
            found = updates.get(item["cache_id"])
            item["update"] = found.to_json() if found is not None else None
    return data


def _print_table(
    report: CacheReport,
    rows: Rows,
    now: float,
    *,
    revisions: bool,
    sort: SortSpec | None = None,
    updates: dict[str, Any] | None = None,
) -> None:
    import sys

    from hftui.core.cache.filters import SortSpec, sort_revisions

    def age(timestamp: float) -> str:
        return vocab.ago(timestamp, now)

    table: list[list[str]] = []
    if revisions:
        # One row per revision, sorted across repos like `hf cache ls --revisions --sort`.
        headers = ["ID", "REVISION", "SIZE", "FILES", "LAST_MODIFIED", "REFS", "STATUS"]
        right = {2, 3}
        entries = [(repo, rev) for repo, revs in rows if not repo.corrupt for rev in revs]
        for repo, rev in sort_revisions(entries, sort or SortSpec(), updates=updates):
            table.append(
                [
                    repo.cache_id,
                    rev.commit_hash[:12],
                    vocab.size(rev.size_on_disk),
                    str(rev.nb_files),
                    age(rev.last_modified),
                    ", ".join(sorted(rev.refs)) or "(detached)",
                    vocab.revision_status(rev),
                ]
            )
        for repo, _ in rows:
            if repo.corrupt:
                table.append([repo.cache_id, "-", "-", "-", "-", "", vocab.repo_status(repo)])
    else:
        headers = ["ID", "SIZE", "FILES", "REVISIONS", "LAST_ACCESSED", "LAST_MODIFIED", "REFS", "STATUS"]
        right = {1, 2, 3}
        for repo, _ in rows:
            if repo.corrupt:
                table.append([repo.cache_id, "-", "-", "-", "-", "-", "", vocab.repo_status(repo)])
                continue
            table.append(
                [
                    repo.cache_id,
                    vocab.size(repo.size_on_disk),
                    str(repo.nb_files),
                    str(len(repo.revisions)),
                    age(repo.last_accessed),
                    age(repo.last_modified),
                    ", ".join(sorted(repo.refs)),
                    vocab.repo_status(repo),
                ]
            )
    if updates is not None and not revisions:
        headers.append("UPDATE")
        for row, (repo, _) in zip(table, rows, strict=True):
            row.append(_update_cell(updates.get(repo.cache_id)) if not repo.corrupt else "")
    widths = [max([_width(headers[i])] + [_width(row[i]) for row in table]) for i in range(len(headers))]

    def line(cells: list[str]) -> str:
        parts = []
        for i, cell in enumerate(cells):
            pad = " " * (widths[i] - _width(cell))
            parts.append(pad + cell if i in right else cell + pad)
        return "  ".join(parts).rstrip()

    print(line(headers))
    print("  ".join("-" * width for width in widths))
    for row in table:
        print(line(row))

    valid = [repo for repo, _ in rows if not repo.corrupt]
    nb_revisions = sum(
        len(revs) if revisions else len(repo.revisions) for repo, revs in rows if not repo.corrupt
    )
    shown_all = len(rows) == len(report.repos)
    total = report.size_on_disk if shown_all else sum(repo.size_on_disk for repo in valid)
    other = len(rows) - len(valid)
    parts = [
        f"\n{vocab.size(total)} on disk in {vocab.entries_text(len(valid), other)}, "
        f"{vocab.count(nb_revisions, 'revision')}"
    ]
    if report.incomplete_files:
        size = sum(item.size_on_disk for item in report.incomplete_files)
        parts.append(f"{vocab.count(len(report.incomplete_files), 'incomplete file')} ({vocab.size(size)})")
    if report.stale_locks:
        parts.append(vocab.count(len(report.stale_locks), "stale lock"))
    if report.unreferenced_shared_blobs:
        size = sum(blob.size_on_disk for blob in report.unreferenced_shared_blobs)
        parts.append(
            f"{vocab.count(len(report.unreferenced_shared_blobs), 'unreferenced shared blob')} ({vocab.size(size)})"
        )
    warnings = report.warnings + report.notes
    parts.append(vocab.count(len(warnings), "warning"))
    print(". ".join(parts) + ".")
    # Warnings go to stderr, so a script reading the table (or `| head`) gets rows only.
    sys.stdout.flush()
    for warning in warnings:
        print(f"hftui: warning: {warning.message}", file=sys.stderr)


def _update_cell(update: Any) -> str:
    """`update available (12.3 MB to fetch)`, `not checked (rate limited)`, `up to date`."""
    if update is None:
        return "not checked"
    if update.state == "update available" and update.bytes_to_fetch is not None:
        return f"{update.label} ({vocab.size(update.bytes_to_fetch)} to fetch)"
    return str(update.label)


def _width(text: str) -> int:
    """Terminal columns: East Asian wide characters take two, combining marks none."""
    import unicodedata

    if text.isascii():
        return len(text)
    return sum(
        0 if unicodedata.combining(ch) else 2 if unicodedata.east_asian_width(ch) in "WF" else 1
        for ch in text
    )
