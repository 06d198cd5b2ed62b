"""Human-readable sizes, speeds and durations for the queue (shared by the TUI and the CLI)."""

from __future__ import annotations

from typing import Any

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


def totals_line(totals: Any, *, every_state: bool = False) -> str:
    """The queue in one line: the summary on every pane ("Queue: 2 running · 1 queued · 3 done")
    or, with `every_state`, the Queue pane's overall line (every state, zeros included)."""
    if not totals.jobs:
        return "Queue: empty"
    if every_state:
        text = (
            f"{totals.jobs} job{'' if totals.jobs == 1 else 's'}: {totals.running} running, "
            f"{totals.queued} queued, {totals.paused} paused, {totals.done} done, {totals.failed} failed"
        )
        if totals.cancelled:
            text += f", {totals.cancelled} cancelled"
    else:
        parts = [f"Queue: {totals.running} running"]
        for count, name in (
            (totals.queued, "queued"),
            (totals.paused, "paused"),
            (totals.failed, "failed"),
            (totals.cancelled, "cancelled"),
        ):
            if count:
                parts.append(f"{count} {name}")
        parts.append(f"{totals.done} done")
        text = " · ".join(parts)
    if totals.bytes_total:
        text += f"  ·  {size(totals.bytes_done)} / {size(totals.bytes_total)}"
    if totals.speed:
        text += f"  ·  {speed(totals.speed)}"
    return text
