"""The `hf download ...` command line equivalent to a browser selection (flags of huggingface_hub 2.4's CLI).

UI-free. ``hf download REPO [--repo-type T] [--revision R] [--include G]... [--exclude G]...
[--cache-dir D | --local-dir D] [--force-download]``: each glob gets its own flag (the CLI's list options are
repeated flags), everything is shell-quoted so the line can be pasted as is.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable
from pathlib import Path


def hf_download_command(
    repo_id: str,
    *,
    repo_type: str = "model",
    revision: str | None = None,
    include: Iterable[str] = (),
    exclude: Iterable[str] = (),
    cache_dir: str | Path | None = None,
    local_dir: str | Path | None = None,
    force_download: bool = False,
) -> str:
    """The shell-quoted `hf download` line. `--cache-dir` is only added when given (default cache otherwise)."""
    if cache_dir is not None and local_dir is not None:
        raise ValueError("hf download takes --cache-dir or --local-dir, not both")
    argv = ["hf", "download", repo_id]
    if repo_type != "model":
        argv += ["--repo-type", repo_type]
    if revision and revision != "main":
        argv += ["--revision", revision]
    for glob in include:
        argv += ["--include", glob]
    for glob in exclude:
        argv += ["--exclude", glob]
    if local_dir is not None:
        argv += ["--local-dir", str(local_dir)]
    elif cache_dir is not None:
        argv += ["--cache-dir", str(cache_dir)]
    if force_download:
        argv.append("--force-download")
    return shlex.join(argv)


def hf_download_argv(line: str) -> list[str]:
    """Split a command line back into argv (for tests and for running it)."""
    return shlex.split(line)


__all__ = ["hf_download_argv", "hf_download_command"]
