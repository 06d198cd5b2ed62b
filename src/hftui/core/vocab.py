"""One vocabulary for the TUI and the headless CLI: sizes, speeds, durations, ages, counts, repo types.

Every figure the user reads goes through these functions, so the same download never reads
"402.7 MB" in one place and "384.0 MiB" (or "402.7 Mb") in another, and a dataset is always
written `datasets/org/name`, the form the repo input accepts back.

UI-free (no Textual, no Rich): plain strings. The views style them.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hftui.core.cache.records import RepoRecord, RevisionRecord
    from hftui.core.downloads.queue import Job, QueueTotals

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

STATUS_LEGEND: tuple[tuple[str, str], ...] = (
    ("complete", "every file the revision's listing names is on disk"),
    ("partial", "some listed files were never downloaded (a revision says: partial: 2 missing (10.0 kB))"),
    ("no listing", "fetched file by file (hf_hub_download): no listing to judge completeness by"),
    ("detached", "a revision no branch, tag or PR points at any more (prune removes it)"),
    ("temp files", ".incomplete files an interrupted download left behind"),
    ("kept", "partial downloads kept so the next download resumes them"),
    ("corrupt", "a file or folder that is not a valid repo folder (the library's scan leaves it out)"),
    ("unreadable", "a repo folder that cannot be read (permissions)"),
)
"""Every status word the Cache pane and `hftui scan` print, with what it means (the `?` help and
docs/cache.md show this legend)."""

COMPLETENESS_WORDS = {"complete": "complete", "partial": "partial", "unknown": "no listing"}
"""A revision's `Completeness.state` -> its word."""


def partial_text(missing_files: int, missing_bytes: int) -> str:
    """A revision with files listed but not downloaded: `partial: 2 missing (10.0 kB)`."""
    return f"partial: {missing_files:,} missing ({size(missing_bytes)})"


def revision_status(revision: RevisionRecord) -> str:
    """`complete`, `partial: 2 missing (10.0 kB)` or `no listing` (refs say whether it is detached)."""
    done = revision.completeness
    if done.state == "partial":
        return partial_text(len(done.missing_files), done.missing_bytes)
    return COMPLETENESS_WORDS[done.state]


def repo_status_words(record: RepoRecord) -> list[str]:
    """The status words of one cache entry, most important first: `partial`, `detached`, `temp files`..."""
    if record.warnings:
        return ["unreadable" if record.warnings[0].kind == "error" else "corrupt"]
    complete = record.complete
    words = [{True: "complete", False: "partial", None: "no listing"}[complete]]
    if any(revision.detached for revision in record.revisions):
        words.append("detached")
    if record.incomplete_files:
        words.append("temp files")
    from hftui.core.downloads.kept import KEPT_DIR_NAME  # kept.py imports this module

    if os.path.isdir(os.path.join(record.repo_path, KEPT_DIR_NAME)):
        words.append("kept")
    return words


def repo_status(record: RepoRecord) -> str:
    """`partial, detached, temp files`: the words of `repo_status_words` in one cell."""
    return ", ".join(repo_status_words(record))


def entries_text(repos: int, other: int) -> str:
    """The repo count of a cache: `301 repos` (+ `, 10 other entries` for folders and files that are
    not repos, like `version.txt`): the header and `hftui scan` count the same way."""
    text = count(repos, "repo")
    if other:
        text += f", {count(other, 'other entry', 'other entries')}"
    return text


# -- titles of destructive dialogs --------------------------------------------------------------


def delete_title(items: int, freed: int, *, what: str = "item", verb: str = "Delete") -> str:
    """A confirmation's title states what happens, with its figures: `Delete 3 items (frees 1.2 GB)?`."""
    return f"{verb} {count(items, what)} (frees {size(freed)})?"


# -- a finished download in a few words ----------------------------------------------------------


def done_figures(job: Job) -> str:
    """What a finished job put on the disk: `12.3 MB, 7 files`, `copied from the cache: 6.3 MB,
    7 files`, both, or `already cached` (the CLI's done line)."""
    copied_bytes, copied_files = job.copied
    parts = []
    if job.files_total:
        parts.append(f"{size(job.bytes_total or 0)}, {count(job.files_total, 'file')}")
    if copied_files:
        parts.append(f"copied from the cache: {size(copied_bytes)}, {count(copied_files, 'file')}")
    return "; ".join(parts) or nothing_fetched(job)


def nothing_fetched(job: Job) -> str:
    """A finished job that fetched and copied nothing: every file was already there."""
    return "already in the local dir" if job.request.local_dir else "already cached"


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
    "COMPLETENESS_WORDS",
    "REPO_TYPES",
    "STATUS_LEGEND",
    "TYPE_PREFIXES",
    "ago",
    "cache_folder",
    "count",
    "delete_title",
    "display_id",
    "done_figures",
    "duration",
    "entries_text",
    "nothing_fetched",
    "partial_text",
    "plural",
    "queue_totals",
    "repo_status",
    "repo_status_words",
    "revision_status",
    "size",
    "speed",
]
