"""`hftui scan --json`'s roots part: raw bytes and epoch seconds (docs/headless.md, docs/roots.md)."""

from __future__ import annotations

from typing import Any

from hftui.core.cache.roots import FsInfo
from hftui.core.cache.roots_scan import RootsReport


def _fs(info: FsInfo | None) -> dict[str, Any] | None:
    if info is None:
        return None
    return {
        "device": info.device,
        "mount_point": info.mount_point,
        "fs_type": info.fs_type,
        "free": info.free,
        "total": info.total,
        "read_only": info.read_only,
        "network": info.network,
    }


def roots_json(report: RootsReport) -> dict[str, Any]:
    roots = []
    for scan in report.scans:
        item: dict[str, Any] = {
            "kind": scan.root.kind,
            "path": scan.root.path,
            "source": scan.root.source,
            "size_on_disk": scan.size,
            "nb_files": scan.files,
            "filesystem": _fs(scan.fs),
            "error": scan.failed or None,
            "warnings": list(scan.warnings),
            "entries": [
                {
                    "name": e.name,
                    "kind": e.kind,
                    "path": e.path,
                    "size_on_disk": e.size,
                    "nb_files": e.files,
                    "last_used": e.last_used,
                    "detail": e.detail,
                    "rebuild": e.rebuild,
                    "deletable": e.deletable,
                    "problems": list(e.problems),
                }
                for e in scan.entries
            ],
        }
        if scan.local_dir is not None:
            local = scan.local_dir
            item["local_dir"] = {
                "repo": local.repo,
                "commit": local.commit or None,
                "untracked_files": local.untracked,
                "untracked_bytes": local.untracked_bytes,
                "files": [
                    {"path": f.path, "commit": f.commit, "etag": f.etag, "size": f.size, "status": f.status}
                    for f in local.files
                ],
            }
        roots.append(item)
    return {
        "roots": roots,
        "filesystems": [
            {**(_fs(info) or {}), "roots": [s.root.path for s in scans]}
            for info, scans in report.filesystems()
        ],
        "duplicates": [
            {
                "etag": group.etag,
                "size": group.size,
                "wasted": group.wasted,
                "copies": [
                    {"root": c.root, "root_kind": c.root_kind, "path": c.path, "owner": c.owner}
                    for c in group.copies
                ],
                "freeable": [c.path for c in group.freeable()],
            }
            for group in report.duplicates
        ],
        "duplicate_bytes": report.duplicate_bytes,
        "root_warnings": [{"path": path, "message": message} for path, message in report.all_warnings()],
    }


__all__ = ["roots_json"]
