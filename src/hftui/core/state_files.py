"""Files hftui keeps between runs (the saved queue, the settings, kept-bytes state): one rule
for a file that cannot be read back.

A corrupt state file is moved aside to `<name>.corrupt-<timestamp>` (never deleted: the user may
want what is in it) and the app starts without it, with a warning that says where it went.
"""

from __future__ import annotations

import os
import time
from pathlib import Path


def move_aside(path: Path, *, now: float | None = None) -> str:
    """Move a corrupt state file out of the way; return how it went, for the warning."""
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
