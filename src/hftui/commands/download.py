"""`hftui download`: the download engine without the TUI, for scripts and Dockerfiles.

    hftui download REPO [--repo-type T] [--revision R] [--include P]... [--exclude P]...
                        [--cache-dir D | --local-dir D] [--max-workers N] [--jobs N] [--json]
    hftui download -f FILE [same options, used as defaults for every line]

REPO (and each line of FILE) takes the TUI's repo input syntax: `org/name`, `datasets/org/name`,
`spaces/org/name`, a Hub URL, `org/name@rev`, `org/name:Q4_K_M`. Lines of FILE may add options;
`#` starts a comment. A malformed line is reported with its number and the other lines still
run. Exit code: 0 when every job succeeded, 1 when any failed (or a line was malformed), 2 for
usage errors. The headless command keeps its queue in memory: it does not read or write the
TUI's saved queue. A rerun skips files that are already complete.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from hftui.core import vocab
from hftui.core.downloads.queue import JobState

if TYPE_CHECKING:
    from hftui.settings import Settings

TICK = 0.2
"""Seconds between two looks at the queue of the headless loop (terminal redraw, progress lines)."""


def _add_job_options(parser: argparse.ArgumentParser, *, defaults: bool) -> None:
    sup = argparse.SUPPRESS if defaults else None
    parser.add_argument(
        "--repo-type",
        choices=vocab.REPO_TYPES,
        default=sup,
        help="repo type when REPO names none (default: model)",
    )
    parser.add_argument("--revision", metavar="R", default=sup, help="branch, tag or commit (default: main)")
    parser.add_argument(
        "--include",
        metavar="P",
        action="append",
        default=sup,
        help="only files matching this glob (repeatable)",
    )
    parser.add_argument(
        "--exclude",
        metavar="P",
        action="append",
        default=sup,
        help="skip files matching this glob (repeatable)",
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--cache-dir",
        dest="dl_cache_dir",
        metavar="D",
        default=sup,
        help="Hub cache to download into (default: as huggingface_hub resolves it)",
    )
    where.add_argument(
        "--local-dir",
        dest="dl_local_dir",
        metavar="D",
        default=sup,
        help="plain folder to download into instead of the cache",
    )


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "download",
        help="download repos headless (same engine as the TUI's queue)",
        description=(
            "Download Hub repos with hftui's queue engine: dry run and disk-space check first, "
            "retries on transient faults, resumable by rerunning. Exit 0 when every job succeeded, "
            "1 when any failed, 2 for usage errors."
        ),
    )
    parser.add_argument(
        "repo",
        nargs="?",
        metavar="REPO",
        help="org/name, datasets/org/name, spaces/org/name, a Hub URL, or org/name:QUANT",
    )
    parser.add_argument(
        "-f",
        "--file",
        dest="jobs_file",
        metavar="FILE",
        help="one job per line (REPO [options]); '#' starts a comment; '-' reads stdin",
    )
    _add_job_options(parser, defaults=False)
    parser.add_argument(
        "--max-workers", type=int, metavar="N", help="file threads per job (default: setting, 8)"
    )
    parser.add_argument("--jobs", type=int, metavar="N", help="jobs running at once (default: setting, 2)")
    parser.add_argument("--json", action="store_true", help="JSON events, one object per line, raw numbers")
    return parser


class LineError(ValueError):
    pass


class _RaisingParser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:
        raise LineError(message)


def _line_parser() -> argparse.ArgumentParser:
    parser = _RaisingParser(prog="line", add_help=False, exit_on_error=False)
    parser.add_argument("repo")
    _add_job_options(parser, defaults=True)
    return parser


def build_request(text: str, options: dict[str, Any], *, endpoint: str | None) -> Any:
    """A DownloadRequest from a repo input plus options; LineError with a user message."""
    from hftui.core.downloads.models import DownloadRequest
    from hftui.core.hub.repo_ref import RepoRefError, parse_repo_input

    try:
        ref = parse_repo_input(text, endpoint=endpoint, repo_type=options.get("repo_type"))
    except RepoRefError as exc:
        raise LineError(str(exc)) from None
    revision = options.get("revision")
    if revision and ref.revision and revision != ref.revision:
        raise LineError(f"two revisions: {ref.revision!r} in {text!r} and --revision {revision!r}")
    include = tuple(dict.fromkeys([*ref.allow_patterns(), *(options.get("include") or [])]))
    exclude = tuple(options.get("exclude") or [])
    cache_dir = options.get("dl_cache_dir")
    local_dir = options.get("dl_local_dir")
    for flag, value in (("--cache-dir", cache_dir), ("--local-dir", local_dir)):
        if value is not None and not str(value).strip():
            raise LineError(f"{flag} is empty: give a path")
    try:
        return DownloadRequest(
            repo_id=ref.repo_id,
            repo_type=ref.repo_type,
            revision=revision or ref.revision,
            allow_patterns=include,
            ignore_patterns=exclude,
            cache_dir=str(Path(cache_dir).expanduser().absolute()) if cache_dir else None,
            local_dir=str(Path(local_dir).expanduser().absolute()) if local_dir else None,
            label=text,
        )
    except ValueError as exc:
        raise LineError(str(exc)) from None


def parse_jobs_file(
    text: str, defaults: dict[str, Any], *, endpoint: str | None
) -> tuple[list[Any], list[str]]:
    """Requests from a jobs file and `line N: reason` errors for malformed lines."""
    requests: list[Any] = []
    errors: list[str] = []
    parser = _line_parser()
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            words = shlex.split(line, comments=True)
            if not words:
                continue
            namespace, extra = parser.parse_known_args(words)
            if extra:
                raise LineError(f"unrecognized arguments: {' '.join(extra)}")
            options = {**defaults, **{k: v for k, v in vars(namespace).items() if k != "repo"}}
            if "dl_cache_dir" in vars(namespace):
                options.pop("dl_local_dir", None)
            if "dl_local_dir" in vars(namespace):
                options.pop("dl_cache_dir", None)
            requests.append(build_request(namespace.repo, options, endpoint=endpoint))
        except (LineError, ValueError, argparse.ArgumentError) as exc:
            errors.append(f"line {number}: {exc}")
    return requests, errors


# -- display ---------------------------------------------------------------------------------


@dataclass
class _Display:
    out: TextIO
    mode: str
    """"tty", "plain" or "json"."""
    engine: Any = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    closed: bool = False
    """The reader of `out` went away."""
    drawn: int = 0
    last_state: dict[str, str] = field(default_factory=dict)
    last_progress: dict[str, float] = field(default_factory=dict)
    progress_interval: float = 0.8
    """Seconds between two progress lines (plain) or events (JSON) of a running job. `tick` runs
    every `TICK` s, so a running job gets one at least once a second, bytes moving or not."""

    def progress_event(self, job: Any) -> dict[str, Any]:
        return {
            "event": "progress",
            "job": job.id,
            "repo": job.request.repo_id,
            "bytes_done": job.bytes_done,
            "bytes_total": job.bytes_total,
            "files_done": job.files_done,
            "files_total": job.files_total,
            "speed": round(job.speed, 1),
            "eta": None if job.eta is None else round(job.eta, 1),
            "message": job.message or None,
        }

    def tick(self) -> None:
        """Progress of every running job, at most every `progress_interval` (plain and JSON)."""
        if self.mode not in ("json", "plain") or self.engine is None:
            return
        now = time.monotonic()
        for job in self.engine.jobs():
            if (
                job.state != JobState.RUNNING
                or now - self.last_progress.get(job.id, 0) < self.progress_interval
            ):
                continue
            self.last_progress[job.id] = now
            if self.mode == "json":
                self.emit_json(self.progress_event(job))
            else:
                self.put(self.job_line(job) + "\n")

    def emit_json(self, obj: dict[str, Any]) -> None:
        self.put(json.dumps(obj) + "\n")

    def put(self, text: str) -> None:
        """Write `text` unless the reader went away (`hftui download ... | head`): then stop
        writing, not downloading. The jobs finish, and the exit code is theirs."""
        with self.lock:
            if self.closed:
                return
            try:
                self.out.write(text)
                self.out.flush()
            except (BrokenPipeError, ValueError):
                self.closed = True
                # Later writes, and the interpreter's final flush of what is buffered, go nowhere.
                try:
                    devnull = os.open(os.devnull, os.O_WRONLY)
                    os.dup2(devnull, self.out.fileno())
                except (OSError, ValueError):
                    pass

    def job_line(self, job: Any) -> str:
        total = job.bytes_total
        pct = f"{100 * job.bytes_done / total:5.1f}%" if total else "     "
        files = f"{job.files_done}/{job.files_total}" if job.files_total is not None else "-"
        extra = f"  {job.message}" if job.message else ""
        return (
            f"{job.title[:40]:<40} {job.state:<9} {pct} {vocab.size(job.bytes_done):>10} / {vocab.size(total):<10} "
            f"files {files:<7} {vocab.speed(job.speed):>12}  ETA {vocab.duration(job.eta)}{extra}"
        )

    def final_line(self, job: Any) -> str:
        if job.state == JobState.DONE:
            # Where the files are, on lines of their own (`hf download` prints the path too).
            where = f"\n  path: {job.path}" if job.path else ""
            if job.commit:
                where += f"\n  commit: {job.commit}"
            return f"done      {job.title}  ({vocab.done_figures(job)}){where}"
        if job.state == JobState.FAILED:
            return f"failed    {job.title}: {job.error}"
        return f"{job.state:<9} {job.title}" + (f": {job.message}" if job.message else "")

    def on_event(self, event: Any) -> None:
        if self.engine is None or event.job_id is None:
            return
        try:
            job = self.engine.job(event.job_id)
        except Exception:
            return
        now = time.monotonic()
        changed = self.last_state.get(job.id) != job.state
        self.last_state[job.id] = job.state
        if self.mode == "json":
            if changed:
                self.emit_json(
                    {
                        "event": "state",
                        "job": job.id,
                        "repo": job.request.repo_id,
                        "repo_type": job.request.repo_type,
                        "state": job.state,
                        "bytes_total": job.bytes_total,
                        "files_total": job.files_total,
                        "error": job.error,
                        "message": job.message or None,
                        "path": job.path,
                        "commit": job.commit,
                        "bytes_copied": job.copied[0],
                        "files_copied": job.copied[1],
                    }
                )
            elif (
                job.state == JobState.RUNNING
                and now - self.last_progress.get(job.id, 0) >= self.progress_interval
            ):
                self.last_progress[job.id] = now
                self.emit_json(self.progress_event(job))
        elif self.mode == "plain":
            line = None
            if changed and job.state in (JobState.DONE, JobState.FAILED, JobState.CANCELLED, JobState.PAUSED):
                line = self.final_line(job)
            elif job.state == JobState.RUNNING and (
                changed or now - self.last_progress.get(job.id, 0) >= self.progress_interval
            ):
                line = self.job_line(job)
            if line is not None:
                self.last_progress[job.id] = now
                self.put(line + "\n")
        elif changed and job.state in (JobState.DONE, JobState.FAILED, JobState.CANCELLED, JobState.PAUSED):
            self.redraw(permanent=[self.final_line(job)])

    def redraw(self, permanent: list[str] | None = None) -> None:
        if self.mode != "tty" or self.engine is None:
            return
        jobs = [j for j in self.engine.jobs() if j.state in (JobState.CHECKING, JobState.RUNNING)]
        try:
            width = os.get_terminal_size(self.out.fileno()).columns
        except (OSError, ValueError):
            width = 120
        with self.lock:
            if self.closed:
                return
            parts = []
            if self.drawn:
                parts.append(f"\x1b[{self.drawn}F\x1b[J")
            for line in permanent or []:
                parts.append(line + "\n")
            live = [self.job_line(j)[: width - 1] for j in jobs]
            parts.extend(line + "\n" for line in live)
            self.drawn = len(live)
        self.put("".join(parts))


# -- entry point -------------------------------------------------------------------------


def run(args: argparse.Namespace) -> int:
    from hftui.errors import UsageError
    from hftui.settings import load_settings

    for flag, value in (("--max-workers", args.max_workers), ("--jobs", args.jobs)):
        if value is not None and value < 1:
            raise UsageError(f"{flag} must be at least 1 (got {value})")
    if not args.repo and not args.jobs_file:
        raise UsageError("download: give a REPO or -f FILE")

    settings_path = getattr(args, "settings", None)
    loaded = load_settings(Path(settings_path) if settings_path else None)
    for problem in loaded.problems:
        print(f"hftui: warning: {problem}", file=sys.stderr)
    settings = loaded.settings
    if args.max_workers:
        settings = settings.replace(max_workers=args.max_workers)
    if args.jobs:
        settings = settings.replace(max_jobs=args.jobs)
    endpoint = settings.endpoint or os.environ.get("HF_ENDPOINT") or None

    # `hftui --cache-dir D download ...`: the top-level option (args.cache_dir) is the default
    # cache of every job that names no --cache-dir/--local-dir of its own.
    top_cache = getattr(args, "cache_dir", None)
    if top_cache:
        settings = settings.replace(cache_dir=str(Path(top_cache).expanduser().absolute()))
    options = {
        "repo_type": args.repo_type,
        "revision": args.revision,
        "include": args.include,
        "exclude": args.exclude,
        "dl_cache_dir": args.dl_cache_dir,
        "dl_local_dir": args.dl_local_dir,
    }
    options = {k: v for k, v in options.items() if v is not None}
    requests: list[Any] = []
    line_errors: list[str] = []
    if args.repo:
        try:
            requests.append(build_request(args.repo, options, endpoint=endpoint))
        except LineError as exc:
            raise UsageError(str(exc)) from None
    if args.jobs_file:
        try:
            text = (
                sys.stdin.read()
                if args.jobs_file == "-"
                else Path(args.jobs_file).read_text(encoding="utf-8")
            )
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(
                f"cannot read {args.jobs_file}: {getattr(exc, 'strerror', None) or exc}"
            ) from None
        file_requests, line_errors = parse_jobs_file(text, options, endpoint=endpoint)
        for error in line_errors:
            print(f"hftui: {args.jobs_file}: {error}", file=sys.stderr)
        requests.extend(file_requests)
        if not requests:
            if line_errors:
                raise UsageError(f"{args.jobs_file}: no valid job line")
            raise UsageError(f"{args.jobs_file}: no jobs (empty or only comments)")
    return _run_engine(requests, settings, endpoint, json_mode=args.json, line_errors=line_errors)


def _run_engine(
    requests: list[Any], settings: Settings, endpoint: str | None, *, json_mode: bool, line_errors: list[str]
) -> int:
    from huggingface_hub.utils import logging as hf_logging

    from hftui.core.downloads.engine import DownloadEngine

    hf_logging.set_verbosity_error()
    out = sys.stdout
    mode = "json" if json_mode else ("tty" if out.isatty() else "plain")
    display = _Display(out, mode)
    engine = DownloadEngine(
        settings,
        endpoint=endpoint,
        token=None,
        default_cache=settings.cache_dir,
        on_event=display.on_event,
        hold_fails=True,
    )
    display.engine = engine
    for request in requests:
        result = engine.submit(request)
        if not result.accepted:
            print(f"hftui: skipped duplicate: {request.label or request.repo_id}", file=sys.stderr)
    if mode == "json":
        for line in line_errors:
            display.emit_json({"event": "line_error", "error": line})
    engine.start()
    try:
        while not engine.wait_idle(TICK):
            display.tick()
            display.redraw()
    except KeyboardInterrupt:
        # A second Ctrl-C must not cut the clean stop short (and print a traceback): each job's
        # process is killed and its partial files removed within the 2 s budget.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        engine.shutdown(2.0)
        display.redraw()
        print("hftui: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130
    display.redraw()
    engine.shutdown(0.5)
    jobs = engine.jobs()
    failed = [j for j in jobs if j.state != JobState.DONE]
    code = 1 if failed or line_errors else 0
    if mode == "json":
        display.emit_json(
            {
                "event": "summary",
                "jobs": len(jobs),
                "done": len(jobs) - len(failed),
                "failed": len(failed),
                "bytes": sum(j.bytes_total or 0 for j in jobs if j.state == JobState.DONE),
                "files": sum(j.files_total or 0 for j in jobs if j.state == JobState.DONE),
                "bytes_copied": sum(j.copied[0] for j in jobs if j.state == JobState.DONE),
                "files_copied": sum(j.copied[1] for j in jobs if j.state == JobState.DONE),
                "exit_code": code,
            }
        )
    elif failed:
        print(f"hftui: {len(failed)} of {vocab.count(len(jobs), 'job')} failed", file=sys.stderr)
    return code
