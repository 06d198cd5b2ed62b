"""`hftui scan`'s roots part as text lines (the TUI's Roots screen uses the same words)."""

from __future__ import annotations

from hftui.core import vocab
from hftui.core.cache.roots import FsInfo
from hftui.core.cache.roots_scan import DuplicateGroup, RootScan, RootsReport


def fs_text(info: FsInfo | None) -> str:
    if info is None:
        return "free space unknown"
    free = vocab.size(info.free) if info.free is not None else "?"
    return f"{free} free on {info.describe()}"


def root_summary(scan: RootScan) -> str:
    """`datasets cache  /x/datasets  1.2 GB in 3 entries`."""
    if scan.failed:
        return f"{scan.title}  {scan.root.path}  not scanned"
    unit = {"hub": "repo", "local-dir": "file", "datasets": "entry", "xet": "part"}[scan.root.kind]
    count = len(scan.local_dir.files) if scan.local_dir is not None else len(scan.entries)
    many = "entries" if unit == "entry" else None
    return f"{scan.title}  {scan.root.path}  {vocab.size(scan.size)} in {vocab.count(count, unit, many)}"


def duplicate_text(group: DuplicateGroup) -> str:
    """`400.0 kB extra: 200.0 kB × 3 (21edaddc79e3) in hub /a: models--x, local-dir /m/x: onnx/model.onnx`."""
    where = ", ".join(f"{c.root_kind} {c.root}: {c.owner}" for c in group.copies)
    return (
        f"{vocab.size(group.wasted)} extra: {vocab.size(group.size)} × {len(group.copies)} "
        f"({group.etag[:12]}) in {where}"
    )


ENTRIES_SHOWN = 8
"""Entries listed per root in text output; `--json` has them all."""


def roots_lines(report: RootsReport, now: float) -> list[str]:
    """The roots section: skipped when there is nothing but the one hub cache (and no problem)."""
    others = [s for s in report.scans if s.root.kind != "hub" or s.root.source != "opened"]
    warnings = report.all_warnings()
    if not others and not warnings:
        return []
    lines = ["", f"Roots ({len(report.scans)}):"]
    for scan in report.scans:
        lines.append(f"  {root_summary(scan)}  ({fs_text(scan.fs)})")
        if scan.root.kind == "hub" or scan.failed:
            continue
        entries = sorted(scan.entries, key=lambda e: -e.size)
        # A Xet dir can hold a hundred empty staging folders: the biggest entries, then one line for the rest.
        for entry in entries[:ENTRIES_SHOWN]:
            lines.append(
                f"    {entry.name}  {vocab.size(entry.size)}  used {vocab.ago(entry.last_used, now)}  {entry.detail}"
            )
            if entry.rebuild:
                lines.append(f"      if deleted: {entry.rebuild}")
        rest = entries[ENTRIES_SHOWN:]
        if rest:
            lines.append(
                f"    … {vocab.count(len(rest), 'more entry', 'more entries')}, "
                f"{vocab.size(sum(e.size for e in rest))} (--json lists them all)"
            )
    if report.duplicates:
        lines.append(
            f"Duplicates: {vocab.size(report.duplicate_bytes)} in "
            f"{vocab.count(len(report.duplicates), 'file')} held in more than one root:"
        )
        lines.extend(f"  {duplicate_text(group)}" for group in report.duplicates[:20])
        if len(report.duplicates) > 20:
            lines.append(f"  … {len(report.duplicates) - 20} more (--json lists them all)")
    filesystems = report.filesystems()
    if len(filesystems) > 1:
        lines.append("Free space per filesystem:")
        for info, scans in filesystems:
            lines.append(f"  {fs_text(info)}: {', '.join(s.title for s in scans)}")
    lines.extend(f"warning: {message}" for _, message in warnings)
    return lines


__all__ = ["duplicate_text", "fs_text", "root_summary", "roots_lines"]
