"""The `hf download ...` command line equivalent to a browser selection (flags of huggingface_hub 2.4's CLI).

UI-free. ``hf download REPO [--repo-type T] [--revision R] [--include G]... [--exclude G]...
[--cache-dir D | --local-dir D] [--force-download]``: each glob gets its own flag (the CLI's list options are
repeated flags), everything is shell-quoted so the line can be pasted as is. When hftui talks to another Hub
than huggingface.co (a mirror, the local Hub of ``--demo``), the line starts with ``HF_ENDPOINT=...`` so it
downloads from the same place.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable
from pathlib import Path

DEFAULT_ENDPOINT = "https://huggingface.co"


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
    endpoint: str | None = None,
) -> str:
    """The shell-quoted `hf download` line. `--cache-dir` is only added when given (default cache otherwise);
    ``HF_ENDPOINT=`` only when `endpoint` is not huggingface.co."""
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
    line = shlex.join(argv)
    if endpoint and endpoint.rstrip("/") != DEFAULT_ENDPOINT:
        line = f"HF_ENDPOINT={shlex.quote(endpoint.rstrip('/'))} {line}"
    return line


def hf_download_env(line: str) -> dict[str, str]:
    """The ``NAME=value`` assignments in front of the command."""
    env: dict[str, str] = {}
    for word in shlex.split(line):
        name, eq, value = word.partition("=")
        if not eq or not name.isidentifier():
            break
        env[name] = value
    return env


def hf_download_argv(line: str) -> list[str]:
    """Split a command line back into argv (for tests and for running it), without the leading assignments."""
    words = shlex.split(line)
    return words[len(hf_download_env(line)) :]


__all__ = ["hf_download_argv", "hf_download_command", "hf_download_env"]
