"""Resolving and validating the cache directory the user asked for."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


class CacheDirError(Exception):
    """An explicitly given cache directory that cannot be used; the message is one line for the user."""


@dataclass(frozen=True)
class CacheLocation:
    path: Path
    explicit: bool
    exists: bool


def default_cache_dir() -> Path:
    """The cache huggingface_hub itself would use (HF_HUB_CACHE, else HF_HOME/hub, else ~/.cache/...)."""
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE).expanduser()


def resolve_cache_dir(explicit: str | os.PathLike[str] | None) -> CacheLocation:
    """Validate an explicit `--cache-dir`, or fall back to the default cache.

    An explicit path that is missing is most likely a typo, so it is an error; the default cache
    not existing yet is normal on a new machine.
    """
    if explicit is None:
        path = default_cache_dir()
        try:
            exists = path.is_dir()
        except OSError as exc:
            raise CacheDirError(f"default cache is not reachable ({exc.strerror or exc}): {path}") from None
        if exists and not os.access(path, os.R_OK | os.X_OK):
            raise CacheDirError(f"default cache is not readable (permission denied): {path}")
        return CacheLocation(path=path, explicit=False, exists=exists)
    if not os.fspath(explicit).strip():
        # Path("") is ".": an empty value would open whatever folder hftui was started in.
        raise CacheDirError("the cache directory given is empty")
    path = Path(explicit).expanduser()
    try:
        is_dir = path.is_dir()
        exists = is_dir or path.exists()
    except PermissionError:
        raise CacheDirError(f"cache directory is not reachable (permission denied): {path}") from None
    if not exists:
        raise CacheDirError(f"cache directory not found: {path}")
    if not is_dir:
        raise CacheDirError(f"not a directory: {path}")
    if not os.access(path, os.R_OK | os.X_OK):
        raise CacheDirError(f"cache directory is not readable (permission denied): {path}")
    return CacheLocation(path=path.absolute(), explicit=True, exists=True)
