"""Whether a test can run its subject as an unprivileged user (`setpriv --reuid=nobody`)."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys

import pytest

SETPRIV = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]


@functools.cache
def _why_not() -> str | None:
    if os.geteuid() != 0:
        return "needs root to switch to an unprivileged user with setpriv"
    if shutil.which("setpriv") is None:
        return "needs setpriv"
    try:
        probe = subprocess.run(
            [*SETPRIV, sys.executable, "-c", "pass"], capture_output=True, text=True, timeout=60
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"setpriv could not run: {exc}"
    if probe.returncode != 0:
        # e.g. an interpreter under /root (pyenv) whose shared library `nobody` cannot read
        detail = (probe.stderr.strip().splitlines() or [f"exit status {probe.returncode}"])[-1]
        return f"user nobody cannot start {sys.executable}: {detail}"
    return None


def skip_unless_nobody_can_run_python() -> None:
    """Skip (with the reason) unless root can run this interpreter as `nobody`."""
    reason = _why_not()
    if reason is not None:
        pytest.skip(reason)
