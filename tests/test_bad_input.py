"""Issue 12, bad input: each gives a warning, a scan that completes, and no deletion that could
remove a byte still reachable (and the figures stay exact).

Each case damages a real download (local Hub server; the store built by the library's own
publishing code).
"""

from __future__ import annotations

from pathlib import Path

from cachebuilders import repo_folder, share_with_library
from test_freed import _delete_and_measure, _plan, _rev, freed_cache, freed_template  # noqa: F401  (fixtures)

from hftui.core.cache.cleanup import Mark
from hftui.core.cache.scan import CacheReport, scan_cache


def _notes(report: CacheReport) -> list[str]:
    return [note.message for note in report.notes]


def _delete_checked(cache: Path, marks: list[Mark]) -> None:
    plan = _plan(cache, marks)
    freed, result = _delete_and_measure(cache, plan)
    assert plan.expected_freed_size == freed == result.freed_size
    assert scan_cache(cache).warnings == []  # nothing left dangling


def test_payload_without_a_manifest(cache: Path) -> None:
    payloads = share_with_library(cache, [repo_folder("t/b")])
    for payload in payloads:
        payload.with_name(payload.name + ".refs").unlink()
    report = scan_cache(cache)
    assert sum("without a manifest" in n for n in _notes(report)) == len(payloads)
    assert report.unreferenced_shared_blobs == [] and report.warnings == []
    _delete_checked(cache, [Mark.repo("model", "t/b")])
    assert all(p.exists() for p in payloads)  # never collected: no manifest, no proof


def test_manifest_naming_a_missing_payload(cache: Path) -> None:
    payloads = share_with_library(cache, [repo_folder("t/c")])
    store = payloads[0].parent.parent
    ghost = store / "ab" / ("ab" + "0" * 62)
    ghost.parent.mkdir(exist_ok=True)
    ghost.with_name(ghost.name + ".refs").write_text(f"{repo_folder('t/c')}/blobs/{'0' * 64}\n")
    report = scan_cache(cache)
    assert f"Shared blob manifest names a payload that is not there: {ghost}" in _notes(report)
    assert report.warnings == [] and report.unreferenced_shared_blobs == []
    _delete_checked(cache, [Mark.repo("model", "t/c")])


def test_store_marker_that_is_not_the_librarys(cache: Path) -> None:
    payloads = share_with_library(cache, [repo_folder("t/b")])
    marker = payloads[0].parent.parent / ".huggingface-shared-blobs"
    marker.write_text("2\n")  # a future layout, or someone else's folder
    report = scan_cache(cache)
    assert any("marker is not huggingface_hub's" in n for n in _notes(report))
    # The library then takes `blobs/` for a repo folder and warns; so do we. The scan completes.
    assert [w.message.split(":")[0] for w in report.warnings] == [
        "Repo path is not a valid HuggingFace cache directory"
    ]
    plan = _plan(cache, [Mark.repo("model", "t/b")])
    freed, result = _delete_and_measure(cache, plan)
    assert plan.expected_freed_size == freed == result.freed_size == 0  # only links went
    assert all(p.exists() for p in payloads)


def test_snapshot_entries_looping_back_into_snapshots(cache: Path) -> None:
    main, dev = _rev(cache, "t/a", "main"), _rev(cache, "t/a", "dev")
    snapshots = cache / repo_folder("t/a") / "snapshots"
    (snapshots / dev / "loop").symlink_to("..")  # the snapshots folder itself
    (snapshots / dev / "self").symlink_to(f"../{dev}")
    (snapshots / dev / "main-config").symlink_to(f"../{main}/a.txt")  # a file of another revision
    report = scan_cache(cache)
    assert report.warnings == []
    assert sum("links to a folder, skipped" in n for n in _notes(report)) == 2
    # main cannot go while dev's entry reaches into it, neither whole nor that one file.
    plan = _plan(cache, [Mark.revision("model", "t/a", main)])
    assert plan.is_empty and "still used by model/t/a" in plan.refused[0].reason
    plan = _plan(cache, [Mark.file("model", "t/a", main, "a.txt")])
    assert plan.is_empty and plan.refused
    _delete_checked(cache, [Mark.revision("model", "t/a", dev)])
    _delete_checked(cache, [Mark.revision("model", "t/a", main)])
    assert not (cache / repo_folder("t/a")).exists()


def test_listing_file_that_is_not_json(cache: Path) -> None:
    folder = cache / repo_folder("t/b")
    listing = folder / "trees" / f"{_rev(cache, 't/b', 'main')}.json"
    listing.write_bytes(b"\x00\xffnot json")
    report = scan_cache(cache)
    assert report.warnings == [] and any("Tree listing not used" in n for n in _notes(report))
    assert report.find("model/t/b").revisions[0].completeness.state == "unknown"  # type: ignore[union-attr]
    _delete_checked(cache, [Mark.repo("model", "t/b")])
