"""Command line entry point: `hftui [options]` opens the TUI; subcommands run headless.

Exit codes: 0 success, 1 a job/operation failed, 2 usage error (bad flag, bad path, bad spec).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from hftui import __version__
from hftui.commands import download as download_command
from hftui.commands import hub_serve as hub_serve_command
from hftui.commands import scan as scan_command
from hftui.commands import update as update_command
from hftui.commands.root_flags import CacheDirs, add_root_flags, root_overrides
from hftui.errors import UsageError
from hftui.settings import Settings, SettingsProblem

SUBCOMMANDS = {
    "scan": scan_command,
    "download": download_command,
    "update": update_command,
    "hub-serve": hub_serve_command,
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hftui",
        description=(
            "A keyboard-driven terminal UI for the Hugging Face Hub cache. "
            "Without a subcommand, opens the TUI on the cache."
        ),
    )
    parser.add_argument("--version", action="version", version=f"hftui {__version__}")
    parser.add_argument(
        "--cache-dir",
        metavar="DIR",
        action=CacheDirs,
        help="Hub cache to open (default: as huggingface_hub resolves it); again: more hub caches "
        "shown as roots",
    )
    add_root_flags(parser)
    parser.add_argument(
        "--demo",
        action="store_true",
        help="open on a built-in demo: a local Hub server and a temporary cache (touches nothing of yours)",
    )
    parser.add_argument(
        "--read-only", action="store_true", default=None, help="hide and disable destructive actions"
    )
    parser.add_argument("--theme", choices=["dark", "light"], help="colour theme")
    parser.add_argument("--settings", metavar="FILE", help="settings file (default: the user's config dir)")
    parser.add_argument("--max-jobs", type=int, metavar="N", help="download jobs running at once")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    for module in SUBCOMMANDS.values():
        module.add_parser(subparsers)
    return parser


def _positive(value: int | None, flag: str) -> None:
    if value is not None and value < 1:
        raise UsageError(f"{flag} must be at least 1 (got {value})")


# Flags that name a path: an empty one would silently mean the current directory (or the default).
_PATH_FLAGS = (
    ("cache_dir", "--cache-dir"),
    ("dl_cache_dir", "--cache-dir"),
    ("dl_local_dir", "--local-dir"),
    ("extra_cache_dirs", "--cache-dir"),
    ("local_dirs", "--local-dir"),
    ("find_local_dirs", "--find-local-dirs"),
    ("datasets_cache", "--datasets-cache"),
    ("xet_cache", "--xet-cache"),
    ("settings", "--settings"),
    ("jobs_file", "--file"),
)
# Flags that set a setting: (attribute, flag as typed, setting), checked by the same rules.
_SETTING_FLAGS = (
    ("max_jobs", "--max-jobs", "max_jobs"),
    ("processes", "--processes", "scan_processes"),
    ("max_workers", "--max-workers", "max_workers"),
    ("jobs", "--jobs", "max_jobs"),
)


def check_flags(args: argparse.Namespace) -> None:
    """Validate every flag the way its setting is validated; lower counts that would not help."""
    from hftui.settings import check_setting

    for attr, flag in _PATH_FLAGS:
        value = getattr(args, attr, None)
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str) and not item.strip():
                raise UsageError(f"{flag} is empty: give a path")
            if isinstance(item, str) and "\0" in item:
                raise UsageError(f"{flag} must not contain a NUL character")
    for attr, flag, setting in _SETTING_FLAGS:
        value = getattr(args, attr, None)
        if value is None:
            continue
        try:
            checked, note = check_setting(setting, value)
        except ValueError as exc:
            raise UsageError(f"{flag} {exc} (got {value})") from None
        if note is not None:
            print(f"hftui: warning: {flag} {note}", file=sys.stderr)
            setattr(args, attr, checked)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        check_flags(args)
        if args.command:
            return int(SUBCOMMANDS[args.command].run(args))
        return run_tui(args)
    except UsageError as exc:
        print(f"hftui: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return _closed_pipe()


def _closed_pipe() -> int:
    """The reader of our output went away (`hftui scan | head -1`): stop quietly, the way `ls | head`
    does, with 128 + SIGPIPE. stdout is pointed at /dev/null first, or the interpreter's final flush
    of the buffered rest would raise again and print a traceback."""
    import signal

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    return 128 + signal.SIGPIPE


def run_tui(args: argparse.Namespace) -> int:
    from pathlib import Path

    from hftui.core.cache.paths import CacheDirError, resolve_cache_dir
    from hftui.settings import load_settings

    _positive(args.max_jobs, "--max-jobs")
    loaded = load_settings(Path(args.settings) if args.settings else None)
    for problem in loaded.problems:
        print(f"hftui: warning: {problem}", file=sys.stderr)
    settings = loaded.settings
    overrides = {
        **root_overrides(args, settings),
        "read_only": args.read_only,
        "theme": args.theme,
        "max_jobs": args.max_jobs,
    }
    settings = settings.replace(**{k: v for k, v in overrides.items() if v is not None})

    if args.demo:
        if args.cache_dir:
            raise UsageError("--demo uses its own temporary cache; drop --cache-dir")
        return _run_demo(settings, loaded.problems)

    try:
        location = resolve_cache_dir(args.cache_dir or settings.cache_dir)
    except CacheDirError as exc:
        raise UsageError(str(exc)) from None
    from hftui.tui.app import make_app

    app = make_app(settings.replace(cache_dir=str(location.path)), startup_problems=loaded.problems)
    app.run()
    return int(app.return_code or 0)


def _run_demo(settings: Settings, problems: list[SettingsProblem]) -> int:
    import shutil
    import tempfile

    # The demo must not phone home or reuse anything of the user's Hub setup, and its download
    # queue must not land in the user's saved queue (its cache is deleted on exit).
    os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
    demo_state = tempfile.mkdtemp(prefix="hftui-demo-state-")
    os.environ["XDG_STATE_HOME"] = demo_state
    # The demo's roots (R) are its own, and its Xet transfers do not fill the user's Xet cache.
    os.environ["HF_XET_CACHE"] = os.path.join(demo_state, "xet")
    os.environ["HF_DATASETS_CACHE"] = os.path.join(demo_state, "datasets")
    _exit_on_hangup()
    try:
        return _run_demo_session(settings, problems)
    finally:
        shutil.rmtree(demo_state, ignore_errors=True)


def _exit_on_hangup() -> None:
    """Turn SIGTERM/SIGHUP (a closed SSH session) into SystemExit so temporary dirs are removed."""
    import signal

    def leave(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, leave)


def _run_demo_session(settings: Settings, problems: list[SettingsProblem]) -> int:
    from hftui.hub.demo import demo_session

    # The server must be up and HF_ENDPOINT set before huggingface_hub is first imported,
    # because the library reads the endpoint at import time.
    # The Hub moves on after the cache was built, so the demo shows an update to try (`U`).
    with demo_session(moved_upstream=True) as demo:
        os.environ["HF_ENDPOINT"] = demo.endpoint
        from hftui.tui.app import make_app

        app = make_app(
            settings.replace(cache_dir=str(demo.cache_dir), endpoint=demo.endpoint),
            startup_problems=problems,
            demo=True,
        )
        app.run()
        return int(app.return_code or 0)
