"""User settings: documented defaults, a TOML file in the user's config dir, CLI overrides.

UI-free. A broken settings file never stops the app: the problem is reported with its line
and the defaults are used for what could not be read.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

APP_NAME = "hftui"

RESUME_CHOICES = ("ask", "auto", "never")
THEME_CHOICES = ("dark", "light")


@dataclass(frozen=True)
class SettingDoc:
    name: str
    default: str
    help: str


@dataclass
class Settings:
    """Every knob hftui has. Field docs double as README documentation (see `describe()`)."""

    cache_dir: str | None = None
    """Hub cache to show and download into. Default: as huggingface_hub resolves it
    (HF_HUB_CACHE, else HF_HOME/hub, else ~/.cache/huggingface/hub)."""

    cache_dirs: list[str] = field(default_factory=list)
    """More hub caches shown as roots beside the one hftui opens (a shared cache on a network mount)."""

    datasets_cache: str | None = None
    """The `datasets` cache shown as a root. Default: HF_DATASETS_CACHE, else HF_HOME/datasets."""

    local_dirs: list[str] = field(default_factory=list)
    """Folders filled by `hf download --local-dir` to show as roots."""

    local_dir_search: list[str] = field(default_factory=list)
    """Folders searched (6 levels deep) for `--local-dir` downloads to show as roots."""

    xet_cache: str | None = None
    """hf_xet's cache shown as a root. Default: HF_XET_CACHE, else HF_HOME/xet."""

    endpoint: str | None = None
    """Hub endpoint. Default: HF_ENDPOINT, else https://huggingface.co."""

    max_jobs: int = 2
    """Download jobs running at once."""

    max_workers: int = 8
    """File threads per download job (snapshot_download's max_workers)."""

    disk_margin_mb: int = 1024
    """Free space (MiB) that must remain after a download; a job that would eat into it is held."""

    stall_timeout: float = 30.0
    """Seconds without a byte before a download read counts as stalled and is retried."""

    kept_max_age_days: int = 14
    """Partial downloads kept for a resume (see docs/kept-bytes.md) that got no byte for this many
    days are offered by prune (0: only those no queued download needs)."""

    retries: int = 3
    """How many times a transient fault (reset, 5xx, 429, stall) is retried before a job fails."""

    resume_on_launch: str = "ask"
    """Unfinished jobs from the last run: "ask", "auto" (resume at once) or "never" (list them paused)."""

    theme: str = "dark"
    """"dark" or "light"."""

    read_only: bool = False
    """Hide and disable every destructive action."""

    scan_processes: int = 0
    """Processes used to scan the cache; 0 picks by CPU count and cache size."""

    scan_reuse: bool = True
    """A rescan reuses the report of each repo whose folders did not change (their times tell),
    unread; `hftui scan` keeps them in an index file in the state dir. false: read everything."""

    update_check_minutes: int = 60
    """Minutes a Hub update check of a repo stays fresh (kept in the state dir); 0 asks the Hub every time."""
    keymap: dict[str, str] = field(default_factory=dict)
    """A `[keymap]` table: action id = "keys" (e.g. `"browse.search" = "f"`, `"queue.pause" = "space,p"`);
    `?` lists every action's id. Unknown ids are reported and ignored."""

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)

    @property
    def disk_margin_bytes(self) -> int:
        return self.disk_margin_mb * 1024 * 1024


@dataclass
class SettingsProblem:
    path: Path
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else str(self.path)
        return f"{where}: {self.message}"


@dataclass
class LoadedSettings:
    settings: Settings
    path: Path
    problems: list[SettingsProblem] = field(default_factory=list)


def config_dir() -> Path:
    from platformdirs import user_config_dir

    return Path(user_config_dir(APP_NAME, appauthor=False))


def state_dir() -> Path:
    from platformdirs import user_state_dir

    return Path(user_state_dir(APP_NAME, appauthor=False))


def move_aside(path: Path, *, now: float | None = None) -> str:
    """Move a corrupt state or settings file out of the way; return how it went, for the warning.

    One rule for every file hftui keeps between runs (the saved queue, the settings, kept-bytes
    state): a file that cannot be read back goes to `<name>.corrupt-<timestamp>` (never deleted:
    the user may want what is in it) and the app starts without it."""
    import time

    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    aside = path.with_name(f"{path.name}.corrupt-{stamp}")
    counter = 1
    while aside.exists():  # two corrupt files in one second: keep both
        counter += 1
        aside = path.with_name(f"{path.name}.corrupt-{stamp}-{counter}")
    try:
        os.replace(path, aside)
    except OSError as exc:
        return f"could not move it aside ({exc.strerror or exc})"
    return f"moved aside to {aside}"


def default_settings_path() -> Path:
    return config_dir() / "settings.toml"


def _line_of_key(text: str, key: str) -> int | None:
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped.startswith(key) and stripped[len(key) :].lstrip().startswith("="):
            return number
        if stripped.replace(" ", "") == f"[{key}]":  # a table such as [keymap]
            return number
    return None


def cpu_count() -> int:
    """CPUs this process may run on: more scan processes than that cannot help."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


# name -> (lowest, highest) accepted. Counts of processes/threads above `_CAPS` are lowered to the
# cap with a note (more would only contend); anything outside these ranges is refused.
_RANGES: dict[str, tuple[float, float | None]] = {
    "max_jobs": (1, None),
    "max_workers": (1, None),
    "disk_margin_mb": (0, 1_000_000_000),  # 1 PB: beyond that every download would be held
    "retries": (0, 100),
    "scan_processes": (0, None),
    "stall_timeout": (1.0, 3600.0),
    "update_check_minutes": (0, 525_600),  # a year: an older answer is not a check
}
_CAPS: dict[str, tuple[Callable[[], int], str]] = {
    "scan_processes": (cpu_count, "the CPUs this machine has"),
    "max_jobs": (lambda: 16, "the most download jobs that help"),
    "max_workers": (lambda: 64, "the most file threads per job that help"),
}


def check_endpoint(value: str) -> str:
    """An http(s) URL with a host (and a valid port, if any); raises ValueError otherwise."""
    from urllib.parse import urlsplit

    text = value.strip()
    if not text or any(ch.isspace() or ord(ch) < 32 for ch in text):
        raise ValueError("must be a URL like https://huggingface.co")
    parts = urlsplit(text)
    try:
        parts.port  # noqa: B018 - raises ValueError for a port out of range or not a number
    except ValueError:
        raise ValueError("must be a URL like https://huggingface.co (its port is not valid)") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be a URL like https://huggingface.co (http or https, with a host)")
    if parts.query or parts.fragment:
        raise ValueError("must be a URL without a query or a fragment")
    return text.rstrip("/")


def check_setting(name: str, value: Any) -> tuple[Any, str | None]:
    """Validate one value for the setting `name`, from the settings file or a flag.

    Returns the value to use and a note when it was lowered to what helps (process and thread
    counts); raises ValueError with a reason the user can act on when the value is refused.
    """
    default = getattr(Settings(), name)
    if name in ("cache_dirs", "local_dirs", "local_dir_search"):
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise ValueError("must be a list of folder paths (non-empty strings)")
        if any("\0" in v for v in value):
            raise ValueError("must not contain a NUL character")
        return [os.path.expanduser(v) for v in value], None
    if name in ("datasets_cache", "xet_cache"):
        name = "cache_dir"
    if name in ("cache_dir", "endpoint"):
        if not isinstance(value, str) or not value.strip():
            raise ValueError("must be a non-empty string")
        if "\0" in value:
            raise ValueError("must not contain a NUL character")
        return (os.path.expanduser(value) if name == "cache_dir" else check_endpoint(value)), None
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ValueError("must be true or false")
        return value, None
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError("must be a whole number")
    elif isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError("must be a number")
        if not math.isfinite(value):
            raise ValueError("must be a finite number")
        value = float(value)
    elif name == "resume_on_launch":
        if value not in RESUME_CHOICES:
            raise ValueError(f"must be one of {', '.join(RESUME_CHOICES)}")
        return value, None
    elif name == "keymap":
        if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            raise ValueError('must be a table of action id = "keys" (strings)')
        return dict(value), None
    elif name == "theme":
        if value not in THEME_CHOICES:
            raise ValueError(f"must be one of {', '.join(THEME_CHOICES)}")
        return value, None
    else:
        return value, None
    low, high = _RANGES.get(name, (0, None))
    unit = " seconds" if name == "stall_timeout" else ""
    if high is not None and not low <= value <= high:
        raise ValueError(f"must be between {low:g} and {high:g}{unit}")
    if value < low:
        raise ValueError("must not be negative" if low == 0 else f"must be at least {low:g}{unit}")
    cap = _CAPS.get(name)
    if cap is not None and value > cap[0]():
        limit = cap[0]()
        return limit, f"{value} is more than {cap[1]} ({limit}); using {limit}"
    return value, None


def load_settings(path: Path | None = None) -> LoadedSettings:
    """Read settings from `path` (default: the user's config dir). Missing file = defaults."""
    path = path or default_settings_path()
    settings = Settings()
    problems: list[SettingsProblem] = []
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return LoadedSettings(settings, path)
    except UnicodeDecodeError as exc:
        where = move_aside(path)
        problems.append(
            SettingsProblem(
                path, None, f"settings are not UTF-8 text ({exc.reason}); {where}; using defaults"
            )
        )
        return LoadedSettings(settings, path, problems)
    except OSError as exc:
        problems.append(
            SettingsProblem(path, None, f"cannot read settings ({exc.strerror or exc}); using defaults")
        )
        return LoadedSettings(settings, path, problems)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # Python 3.11's tomllib only puts the position in the message text ("... (at line 3, column 15)").
        found = re.search(r"at line (\d+)", str(exc))
        line = getattr(exc, "lineno", None) or (int(found.group(1)) if found else None)
        message = re.sub(r"\s*\(at line \d+, column \d+\)", "", getattr(exc, "msg", None) or str(exc))
        where = move_aside(path)
        problems.append(SettingsProblem(path, line, f"invalid TOML ({message}); {where}; using defaults"))
        return LoadedSettings(settings, path, problems)

    defaults = {f.name: getattr(settings, f.name) for f in dataclasses.fields(Settings)}
    changes: dict[str, Any] = {}
    for key, value in data.items():
        line = _line_of_key(text, key)
        if key not in defaults:
            problems.append(SettingsProblem(path, line, f"unknown setting {key!r}; ignored"))
            continue
        try:
            changes[key], note = check_setting(key, value)
        except ValueError as exc:
            problems.append(
                SettingsProblem(path, line, f"{key} {exc} (got {value!r}); using default {defaults[key]!r}")
            )
        else:
            if note is not None:
                problems.append(SettingsProblem(path, line, f"{key}: {note}"))
    return LoadedSettings(settings.replace(**changes), path, problems)


def describe() -> list[SettingDoc]:
    """Name, default and help of every setting, read from the dataclass (used by README and `--help`)."""
    import ast
    import inspect

    source = inspect.getsource(Settings)
    tree = ast.parse(source)
    docs: dict[str, str] = {}
    body = tree.body[0].body  # type: ignore[attr-defined]
    for node, following in itertools.pairwise(body):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
        ):
            docs[node.target.id] = " ".join(str(following.value.value).split())
    defaults = Settings()
    return [
        SettingDoc(f.name, repr(getattr(defaults, f.name)), docs.get(f.name, ""))
        for f in dataclasses.fields(Settings)
    ]
