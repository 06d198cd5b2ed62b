"""User settings: documented defaults, a TOML file in the user's config dir, CLI overrides.

UI-free. A broken settings file never stops the app: the problem is reported with its line
and the defaults are used for what could not be read.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import re
import sys
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


def _coerce(name: str, value: Any, default: Any) -> Any:
    """Check a TOML value against the field's type; raise ValueError with a user-facing reason."""
    if name == "cache_dir" or name == "endpoint":
        if not isinstance(value, str) or not value.strip():
            raise ValueError("must be a non-empty string")
        return os.path.expanduser(value) if name == "cache_dir" else value.rstrip("/")
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ValueError("must be true or false")
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError("must be a whole number")
        if value < 0 or (name in ("max_jobs", "max_workers") and value < 1):
            raise ValueError(
                "must be at least 1" if name in ("max_jobs", "max_workers") else "must not be negative"
            )
        return value
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError("must be a number")
        if value <= 0:
            raise ValueError("must be greater than 0")
        return float(value)
    if name == "resume_on_launch":
        if value not in RESUME_CHOICES:
            raise ValueError(f"must be one of {', '.join(RESUME_CHOICES)}")
        return value
    if name == "keymap":
        if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            raise ValueError('must be a table of action id = "keys" (strings)')
        return dict(value)
    if name == "theme":
        if value not in THEME_CHOICES:
            raise ValueError(f"must be one of {', '.join(THEME_CHOICES)}")
        return value
    return value


def load_settings(path: Path | None = None) -> LoadedSettings:
    """Read settings from `path` (default: the user's config dir). Missing file = defaults."""
    path = path or default_settings_path()
    settings = Settings()
    problems: list[SettingsProblem] = []
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return LoadedSettings(settings, path)
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(SettingsProblem(path, None, f"cannot read settings ({exc}); using defaults"))
        return LoadedSettings(settings, path, problems)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # Python 3.11's tomllib only puts the position in the message text ("... (at line 3, column 15)").
        found = re.search(r"at line (\d+)", str(exc))
        line = getattr(exc, "lineno", None) or (int(found.group(1)) if found else None)
        message = re.sub(r"\s*\(at line \d+, column \d+\)", "", getattr(exc, "msg", None) or str(exc))
        problems.append(SettingsProblem(path, line, f"invalid TOML ({message}); using defaults"))
        return LoadedSettings(settings, path, problems)

    defaults = {f.name: getattr(settings, f.name) for f in dataclasses.fields(Settings)}
    changes: dict[str, Any] = {}
    for key, value in data.items():
        line = _line_of_key(text, key)
        if key not in defaults:
            problems.append(SettingsProblem(path, line, f"unknown setting {key!r}; ignored"))
            continue
        try:
            changes[key] = _coerce(key, value, defaults[key])
        except ValueError as exc:
            problems.append(
                SettingsProblem(path, line, f"{key} {exc} (got {value!r}); using default {defaults[key]!r}")
            )
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
