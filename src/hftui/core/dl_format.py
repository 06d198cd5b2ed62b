"""Human-readable sizes, speeds and durations for the queue (shared by the TUI and the CLI)."""

from __future__ import annotations

import humanize


def size(n: float | None) -> str:
    # Decimal units from humanize, like the Cache and Browse panes and `hf cache ls`: the same
    # download must not read "402.7 MB" in Browse and "384.0 MiB" in the Queue.
    if n is None:
        return "?"
    return str(humanize.naturalsize(n, format="%.1f"))


def speed(bps: float | None) -> str:
    if not bps:
        return "-"
    return f"{size(bps)}/s"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = round(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"
