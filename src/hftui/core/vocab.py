"""One vocabulary for the TUI and the headless CLI: sizes, speeds, durations, ages, counts, repo types.

Every figure the user reads goes through these functions, so the same download never reads
"402.7 MB" in one place and "384.0 MiB" (or "402.7 Mb") in another, and a dataset is always
written `datasets/org/name`, the form the repo input accepts back.

UI-free (no Textual, no Rich): plain strings. The views style them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hftui.core.downloads.queue import QueueTotals

# -- repo types ----------------------------------------------------------------------------------

REPO_TYPES: tuple[str, ...] = ("model", "dataset", "space", "kernel")
"""Every repo type huggingface_hub downloads and caches, in its order (`constants.REPO_TYPES_WITH_KERNEL`
minus None; a test keeps the two equal). Written out so `import hftui.cli` never imports huggingface_hub,
which reads HF_ENDPOINT at import time."""

TYPE_PREFIXES: dict[str, str] = {f"{repo_type}s": repo_type for repo_type in REPO_TYPES}
"""The plural prefix of Hub URLs and cache folders -> repo type (`datasets` -> `dataset`)."""


def display_id(repo_type: str, repo_id: str) -> str:
    """`org/name` for a model, `datasets/org/name` for the others: what the repo input accepts back."""
    return repo_id if repo_type == "model" else f"{repo_type}s/{repo_id}"


def cache_folder(repo_type: str, repo_id: str) -> str:
    """The repo's folder in a hub cache (`models--org--name`), named by the library's own helper."""
    from huggingface_hub.file_download import repo_folder_name

    return repo_folder_name(repo_id=repo_id, repo_type=repo_type)


# -- sizes, speeds, durations, ages ------------------------------------------------------------------

_UNITS = ("kB", "MB", "GB", "TB", "PB")


def size(n: float | None) -> str:
    """Decimal units like `hf cache ls` and humanize, short enough for a table cell: 7 B, 590.0 kB, 1.2 GB.

    None (not known yet) reads `?`."""
    if n is None:
        return "?"
    sign = "-" if n < 0 else ""
    value = float(abs(n))
    if value < 1000:
        return f"{sign}{int(value)} B"
    for unit in _UNITS:
        value /= 1000
        if value < 1000 or unit == _UNITS[-1]:
            return f"{sign}{value:.1f} {unit}"
    raise AssertionError("unreachable")  # pragma: no cover


def speed(bytes_per_second: float | None) -> str:
    if not bytes_per_second:
        return "-"
    return f"{size(bytes_per_second)}/s"


def duration(seconds: float | None) -> str:
    """`42s`, `3m07s`, `2h05m`; `-` when unknown."""
    if seconds is None:
        return "-"
    s = round(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"


def ago(timestamp: float | None, now: float) -> str:
    """How long ago, in the largest whole unit: `just now`, `5m ago`, `3d ago`, `2mo ago`; `-` if never."""
    if not timestamp:
        return "-"
    seconds = max(0.0, now - timestamp)
    if seconds < 60:
        return "just now"
    for unit, length in (("y", 365 * 86400), ("mo", 30 * 86400), ("w", 7 * 86400), ("d", 86400), ("h", 3600)):
        if seconds >= length:
            return f"{int(seconds // length)}{unit} ago"
    return f"{int(seconds // 60)}m ago"


# -- counts ----------------------------------------------------------------------------------------


def plural(n: int, word: str, many: str | None = None) -> str:
    """`word` or its plural for `n` (`many` for irregular ones), without the number."""
    return word if n == 1 else (many if many is not None else f"{word}s")


def count(n: int, word: str, many: str | None = None) -> str:
    """`1 repo`, `2 repos`, `1,204 files`: the number (with thousands separators) and the right form."""
    return f"{n:,} {plural(n, word, many)}"


# -- status words ---------------------------------------------------------------------------------


def partial_text(missing_files: int, missing_bytes: int) -> str:
    """A revision with files listed but not downloaded: `partial: 2 missing (10.0 kB)`."""
    return f"partial: {missing_files:,} missing ({size(missing_bytes)})"


# -- the download queue in one line ------------------------------------------------------------


def queue_totals(totals: QueueTotals, *, every_state: bool = False) -> str:
    """The queue in one line: the summary on every pane ("Queue: 2 running · 1 queued · 3 done")
    or, with `every_state`, the Queue pane's overall line (every state, zeros included)."""
    if not totals.jobs:
        return "Queue: empty"
    if every_state:
        text = (
            f"{count(totals.jobs, 'job')}: {totals.running} running, "
            f"{totals.queued} queued, {totals.paused} paused, {totals.done} done, {totals.failed} failed"
        )
        if totals.cancelled:
            text += f", {totals.cancelled} cancelled"
    else:
        parts = [f"Queue: {totals.running} running"]
        for n, name in (
            (totals.queued, "queued"),
            (totals.paused, "paused"),
            (totals.failed, "failed"),
            (totals.cancelled, "cancelled"),
        ):
            if n:
                parts.append(f"{n} {name}")
        parts.append(f"{totals.done} done")
        text = " · ".join(parts)
    if totals.bytes_total:
        text += f"  ·  {size(totals.bytes_done)} / {size(totals.bytes_total)}"
    if totals.speed:
        text += f"  ·  {speed(totals.speed)}"
    return text


__all__ = [
    "REPO_TYPES",
    "TYPE_PREFIXES",
    "ago",
    "cache_folder",
    "count",
    "display_id",
    "duration",
    "partial_text",
    "plural",
    "queue_totals",
    "size",
    "speed",
]
