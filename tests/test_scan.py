"""The fast scanner gives the same answer as huggingface_hub.scan_cache_dir, and more.

Equivalence is checked with `==` on huggingface_hub's own types, repo by repo, for every repo,
and warnings by type and message, on hand-made layouts (every corruption case of
`_scan_cached_repo`) and on caches filled by real downloads from the local Hub server.
"""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest
from cachebuilders import (
    add_incomplete,
    add_lock,
    add_revision,
    add_store_only_blob,
    assert_same_as_library,
    build_mixed_cache,
    commit_for,
    repo_folder,
)
from huggingface_hub import scan_cache_dir
from huggingface_hub.utils import _shared_blobs

from hftui.core.cache import layout, repo_walk
from hftui.core.cache.scan import iter_scan, rescan_repo, scan_cache


def test_library_constants_are_mirrored() -> None:
    from huggingface_hub.constants import REPO_TYPES_MAPPING
    from huggingface_hub.utils._cache_manager import FILES_TO_IGNORE

    assert set(FILES_TO_IGNORE) == layout.FILES_TO_IGNORE
    assert REPO_TYPES_MAPPING == layout.REPO_TYPES_MAPPING
    assert _shared_blobs.SHARED_BLOBS_DIR_NAME == layout.SHARED_BLOBS_DIR_NAME
    assert _shared_blobs.SHARED_BLOBS_MARKER_NAME == layout.SHARED_BLOBS_MARKER_NAME
    assert f"{_shared_blobs.SHARED_BLOBS_LAYOUT_VERSION}\n" == layout.SHARED_BLOBS_MARKER_CONTENT


def test_mixed_cache_matches_library(tmp_path: Path) -> None:
    cache = tmp_path / "hub"
    commits = build_mixed_cache(cache)
    add_incomplete(cache, "org/gpt", "e" * 40, 1234)
    add_incomplete(cache, "org/gpt", "f" * 64, 99, suffix=".0a1b2c3d")
    report = assert_same_as_library(cache)

    gpt = report.find("model/org/gpt")
    assert gpt is not None and not gpt.corrupt
    # config.json differs, model.bin and tok.json are shared: 4 blobs, not 6.
    assert gpt.nb_files == 4
    assert {rev.commit_hash: rev.refs for rev in gpt.revisions} == {
        commits["gpt_v1"]: frozenset(),
        commits["gpt_v2"]: frozenset({"main", "refs/pr/1"}),
    }
    assert gpt.revision(commits["gpt_v1"]).detached  # type: ignore[union-attr]
    assert gpt.revision("refs/pr/1").commit_hash == commits["gpt_v2"]  # type: ignore[union-attr]

    empty = report.find("model/org/empty")
    assert empty is not None and empty.nb_files == 0 and empty.revisions[0].nb_files == 0
    solo = report.find("model/solo")
    assert solo is not None and solo.revisions[0].files == (
        ("weights.bin", f"snapshots/{commits['plain']}/weights.bin"),
    )
    # Both xet repos link the same store payload: counted once in the cache-wide size.
    xet_a, xet_b = report.find("model/org/xet-a"), report.find("model/org/xet-b")
    assert xet_a is not None and xet_b is not None
    assert set(xet_a.shared_blobs.values()) & set(xet_b.shared_blobs.values())
    per_repo_total = sum(repo.size_on_disk for repo in report.valid_repos)
    assert report.size_on_disk == per_repo_total - 9_000 + len(b"nobody wants me")


def test_empty_cache_and_missing_cache(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    report = assert_same_as_library(tmp_path / "empty")
    assert report.repos == [] and report.size_on_disk == 0 and report.exists

    missing = scan_cache(tmp_path / "nope")
    assert not missing.exists and missing.repos == [] and missing.warnings == []


def _healthy(cache: Path) -> None:
    add_revision(cache, "org/ok", {"config.json": b"{}", "w.bin": 1000})


def _break_blob(cache: Path, *, store: bool) -> None:
    """Remove the payload of the 20-byte file, nested in a subfolder, so its link dangles."""
    add_revision(cache, "org/broken", {"a.bin": 10, "b/c.bin": 20}, store=store)
    root = cache / "blobs" if store else cache / repo_folder("org/broken") / "blobs"
    victims = [p for p in root.rglob("*") if p.is_file() and not p.is_symlink() and p.stat().st_size == 20]
    assert len(victims) == 1
    victims[0].unlink()


CORRUPTIONS = {
    "repo path is a file": lambda c: (c / "models--org--file").write_text("x"),
    "no -- in name": lambda c: (c / "random-folder").mkdir(),
    "datasets processed cache": lambda c: (c / "datasets" / "glue").mkdir(parents=True),
    "xet folder": lambda c: (c / "xet").mkdir(),
    "unknown type prefix": lambda c: (c / "widgets--org--thing" / "snapshots").mkdir(parents=True),
    "snapshots missing": lambda c: (c / "models--org--nosnap" / "blobs").mkdir(parents=True),
    "snapshots is a file": lambda c: (
        (c / "models--org--snapfile").mkdir(),
        (c / "models--org--snapfile" / "snapshots").write_text(""),
    ),
    "refs is a file": lambda c: (
        add_revision(c, "org/reffile", {"a": b"a"}, refs=()),
        (c / repo_folder("org/reffile") / "refs").write_text("x"),
    ),
    "file in snapshots": lambda c: (
        add_revision(c, "org/snapfiles", {"a": b"a"}),
        (c / repo_folder("org/snapfiles") / "snapshots" / "notes.txt").write_text("x"),
    ),
    "broken symlink": lambda c: _break_blob(c, store=False),
    "refs to missing commits": lambda c: (
        add_revision(c, "org/dangling", {"a": b"a"}, refs=("main",)),
        [
            (c / repo_folder("org/dangling") / "refs" / ref).write_text("0" * 40)
            for ref in ("v1", "v2", "feature")
        ],
    ),
    "broken link into the shared store": lambda c: _break_blob(c, store=True),
}


@pytest.mark.parametrize("case", sorted(CORRUPTIONS))
def test_corruption_becomes_a_warning_like_the_library(tmp_path: Path, case: str) -> None:
    cache = tmp_path / "hub"
    cache.mkdir()
    _healthy(cache)
    CORRUPTIONS[case](cache)
    report = assert_same_as_library(cache)
    assert len(report.warnings) == 1
    assert report.warnings[0].kind == "corrupted"
    corrupt = [repo for repo in report.repos if repo.corrupt]
    assert len(corrupt) == 1 and corrupt[0].revisions == () and corrupt[0].size_on_disk == 0
    assert [repo.cache_id for repo in report.valid_repos] == ["model/org/ok"]
    with pytest.raises(ValueError, match="corrupt"):
        corrupt[0].to_cached_repo_info()


def test_ignored_and_skipped_top_level_entries(tmp_path: Path) -> None:
    cache = tmp_path / "hub"
    cache.mkdir()
    _healthy(cache)
    add_lock(cache, "org/ok", "abc")
    (cache / "CACHEDIR.TAG").write_text("Signature: 8a477f597d28d172789f06886806bc55\n")
    for name in ("Thumbs.db", "desktop.ini", ".DS_Store"):
        (cache / name).write_text("")
    snapshots = cache / repo_folder("org/ok") / "snapshots"
    (snapshots / ".DS_Store").write_text("")
    refs = cache / repo_folder("org/ok") / "refs"
    (refs / "Thumbs.db").write_text("")
    report = assert_same_as_library(cache)
    assert report.warnings == [] and [repo.cache_id for repo in report.repos] == ["model/org/ok"]


def test_unmarked_blobs_folder_is_a_warning_and_marked_one_is_skipped(tmp_path: Path) -> None:
    cache = tmp_path / "hub"
    cache.mkdir()
    _healthy(cache)
    (cache / "blobs").mkdir()
    report = assert_same_as_library(cache)
    assert [w.message.split(":")[0] for w in report.warnings] == [
        "Repo path is not a valid HuggingFace cache directory"
    ]
    (cache / "blobs" / ".huggingface-shared-blobs").write_text("1\n")
    assert assert_same_as_library(cache).warnings == []


def test_nested_refs_symlinkless_snapshot_and_links_out_of_repo(tmp_path: Path) -> None:
    cache = tmp_path / "hub"
    cache.mkdir()
    add_revision(cache, "org/m", {"a.txt": b"a", "d/e/f.txt": b"f"}, refs=("main", "refs/pr/1", "refs/pr/22"))
    add_revision(cache, "org/copies", {"x.bin": b"x" * 50, "sub/y.bin": b"y"}, symlinks=False)
    # An absolute link to a file outside the repo, and a link to a folder (skipped).
    outside = tmp_path / "outside.bin"
    outside.write_bytes(b"o" * 70)
    snapshot = next((cache / repo_folder("org/m") / "snapshots").iterdir())
    os.symlink(outside, snapshot / "abs.bin")
    os.symlink("d", snapshot / "dir-link")
    report = assert_same_as_library(cache)
    m = report.find("model/org/m")
    assert m is not None and m.revisions[0].refs == frozenset({"main", "refs/pr/1", "refs/pr/22"})
    assert (str(outside), str(outside)) not in m.revisions[0].files
    assert ("abs.bin", str(outside)) in m.revisions[0].files


def test_shared_store_blobs_and_unreferenced_entries(tmp_path: Path) -> None:
    cache = tmp_path / "hub"
    cache.mkdir()
    add_revision(cache, "org/a", {"w.safetensors": 5_000, "c.json": b"{}"}, store=True)
    add_revision(cache, "org/a", {"w.safetensors": 5_000, "c.json": b'{"v": 2}'}, store=True, refs=("v2",))
    add_revision(cache, "org/b", {"w.safetensors": 5_000}, store=True)
    orphan = add_store_only_blob(cache, b"orphan-payload")
    stale = add_store_only_blob(cache, b"stale-manifest", manifest_lines=["models--org--gone/blobs/abc"])
    report = assert_same_as_library(cache)
    expected = _shared_blobs.unreferenced_shared_blobs(cache.resolve())
    assert {(Path(b.path), b.size_on_disk) for b in report.unreferenced_shared_blobs} == set(expected.items())
    assert {Path(b.path) for b in report.unreferenced_shared_blobs} == {orphan.resolve(), stale.resolve()}
    # The deletion plan the library computes from our types is the one it computes from its own.
    commit = report.find("model/org/a").revisions[0].commit_hash  # type: ignore[union-attr]
    ours = report.to_hf_cache_info().delete_revisions(commit)
    assert ours == scan_cache_dir(cache).delete_revisions(commit)


def test_multiprocess_scan_gives_the_same_records(tmp_path: Path) -> None:
    cache = tmp_path / "hub"
    build_mixed_cache(cache)
    for i in range(30):
        add_revision(cache, f"bulk/repo-{i}", {"a.bin": 100 + i, "b/c.json": b"c%d" % i})
    (cache / "stray").mkdir()
    # The two scans run back to back. A library scan between them would change what they see:
    # since Python 3.12, pathlib's glob("*/blobs/*.incomplete") in scan_cache_dir lists every
    # top-level folder, and listing a folder for the first time since it changed updates its
    # atime (relatime), which is the last_accessed of a repo without blobs or a corrupt entry.
    single = scan_cache(cache, processes=1)
    multi = scan_cache(cache, processes=2)
    assert {r.name: r for r in single.repos} == {r.name: r for r in multi.repos}
    assert_same_as_library(cache, processes=2)


def test_completeness_from_tree_listing(tmp_path: Path) -> None:
    cache = tmp_path / "hub"
    cache.mkdir()
    partial = add_revision(cache, "org/p", {"a.bin": 100}, tree_extra={"b.bin": 2_000, "sub/c.bin": 30})
    complete = add_revision(cache, "org/c", {"a.bin": 100})
    add_revision(cache, "org/u", {"a.bin": 100}, tree=False)
    bad = add_revision(cache, "org/bad", {"a.bin": 100}, tree=False)
    (cache / repo_folder("org/bad") / "trees").mkdir()
    (cache / repo_folder("org/bad") / "trees" / f"{bad}.json").write_text(
        '{"format_version": 9, "files": {}}'
    )
    report = scan_cache(cache)
    p = report.find("model/org/p").revision(partial)  # type: ignore[union-attr]
    assert p is not None and p.complete is False
    assert p.completeness.missing_files == ("b.bin", "sub/c.bin")
    assert p.completeness.missing_bytes == 2_030 and p.completeness.listed_files == 3
    assert report.find("model/org/c").revision(complete).complete is True  # type: ignore[union-attr]
    assert report.find("model/org/u").revisions[0].completeness.state == "unknown"  # type: ignore[union-attr]
    assert report.find("model/org/bad").revisions[0].complete is None  # type: ignore[union-attr]
    assert report.find("model/org/p").complete is False  # type: ignore[union-attr]


def test_incomplete_files_and_locks(tmp_path: Path) -> None:
    from filelock import FileLock

    cache = tmp_path / "hub"
    cache.mkdir()
    _healthy(cache)
    old_style = add_incomplete(cache, "org/ok", "a" * 40, 500)
    new_style = add_incomplete(cache, "org/ok", "b" * 64, 700, suffix=".1a2b3c4d")
    stale = add_lock(cache, "org/ok", "a" * 40)
    held_path = add_lock(cache, "org/ok", "b" * 64)
    gone_repo_lock = add_lock(cache, "org/deleted", "c" * 40)
    held = FileLock(str(held_path))
    with held:
        report = assert_same_as_library(cache)
        twice = scan_cache(cache)
    by_path = {Path(item.path): item for item in report.incomplete_files}
    root = cache.resolve()
    assert set(by_path) == {
        root / old_style.relative_to(cache),
        root / new_style.relative_to(cache),
    }
    old = by_path[root / old_style.relative_to(cache)]
    new = by_path[root / new_style.relative_to(cache)]
    assert (old.size_on_disk, old.etag, old.repo_dir, old.in_progress) == (
        500,
        "a" * 40,
        repo_folder("org/ok"),
        False,
    )
    assert (new.size_on_disk, new.etag, new.in_progress) == (700, "b" * 64, True)
    assert {Path(lock.path) for lock in report.stale_locks} == {
        root / stale.relative_to(cache),
        root / gone_repo_lock.relative_to(cache),
    }
    assert len(twice.stale_locks) == 2  # our probe released its lock at once
    # The probe never creates lock files.
    assert sorted(p.name for p in (cache / ".locks").rglob("*")) == sorted(
        [repo_folder("org/ok"), repo_folder("org/deleted"), stale.name, held_path.name, gone_repo_lock.name]
    )


def test_iter_scan_streams_and_cancels(tmp_path: Path) -> None:
    cache = tmp_path / "hub"
    cache.mkdir()
    for i in range(6):
        add_revision(cache, f"org/r{i}", {"a": b"%d" % i})
    stream = iter_scan(cache)
    assert (stream.done, stream.total) == (0, 6)
    first = next(stream)
    assert first.repo_type == "model" and stream.progress.done == 1 and stream.report is None
    rest = list(stream)
    assert len(rest) == 5 and stream.report is not None and len(stream.report.repos) == 6

    cancel = threading.Event()
    stream = iter_scan(cache, cancel=cancel)
    next(stream)
    next(stream)
    cancel.set()
    assert list(stream) == []
    assert stream.cancelled and stream.done == 2 and stream.report is None

    calls = []
    stream = iter_scan(cache, cancel=lambda: len(calls) >= 3)
    for record in stream:
        calls.append(record)
    assert len(calls) == 3 and stream.cancelled


def test_iter_scan_cancels_worker_processes(tmp_path: Path) -> None:
    cache = tmp_path / "hub"
    cache.mkdir()
    for i in range(40):
        add_revision(cache, f"org/r{i}", {"a": b"%d" % i})
    cancel = threading.Event()
    stream = iter_scan(cache, cancel=cancel, processes=2)
    seen = [next(stream)]
    cancel.set()
    seen.extend(stream)
    assert stream.cancelled and len(seen) < 40 and stream.report is None


def test_rescan_one_repo_after_library_deletion(tmp_path: Path) -> None:
    cache = tmp_path / "hub"
    commits = build_mixed_cache(cache)
    report = scan_cache(cache)
    gpt = report.find("model/org/gpt")
    assert gpt is not None
    strategy = report.to_hf_cache_info([gpt]).delete_revisions(commits["gpt_v1"])
    assert strategy == scan_cache_dir(cache).delete_revisions(commits["gpt_v1"])
    strategy.execute()
    fresh = rescan_repo(cache, gpt.repo_path)
    assert [rev.commit_hash for rev in fresh.revisions] == [commits["gpt_v2"]]
    updated = report.with_repo(fresh)
    assert updated.find("model/org/gpt").nb_files == 3  # type: ignore[union-attr]
    assert updated.size_on_disk == scan_cache_dir(cache).size_on_disk

    # Deleting the last revision removes the repo: the row goes away.
    report.to_hf_cache_info([fresh]).delete_revisions(commits["gpt_v2"]).execute()
    gone = rescan_repo(cache, repo_folder("org/gpt"))
    assert gone.corrupt
    after = updated.with_repo(gone)
    assert after.find("model/org/gpt") is None
    assert after.size_on_disk == scan_cache_dir(cache).size_on_disk


def test_delete_files_plan_matches_library(tmp_path: Path) -> None:
    cache = tmp_path / "hub"
    build_mixed_cache(cache)
    ours = scan_cache(cache).to_hf_cache_info()
    lib = scan_cache_dir(cache)

    def pick(info):  # type: ignore[no-untyped-def]
        return [
            f
            for repo in info.repos
            for rev in repo.revisions
            for f in rev.files
            if f.file_name == "model.bin"
        ]

    assert ours.delete_files(*pick(ours)) == lib.delete_files(*pick(lib))


def test_unreadable_subfolder_is_a_warning_not_a_silent_gap(tmp_path: Path) -> None:
    cache = tmp_path / "hub"
    cache.mkdir()
    commit = add_revision(cache, "org/m", {"a": b"a"}, refs=())
    snapshots = cache / repo_folder("org/m") / "snapshots"
    os.symlink("missing-dir", snapshots / commit_for("dangling"))
    report = scan_cache(cache)
    assert report.warnings[0].kind == "error" and "Broken snapshot link" in report.warnings[0].message
    assert commit  # the library itself crashes with FileNotFoundError on this layout
    shutil.rmtree(cache)


def test_a_payload_a_snapshot_reaches_is_never_unreferenced(tmp_path: Path) -> None:
    cache = tmp_path / "hub"
    cache.mkdir()
    add_revision(cache, "org/a", {"w.safetensors": 700}, store=True)
    (manifest,) = (cache / "blobs").rglob("*.refs")
    manifest.write_text("")  # lost its line: `hf cache prune` would collect the payload
    report = assert_same_as_library(cache)
    assert len(_shared_blobs.unreferenced_shared_blobs(cache.resolve())) == 1
    assert report.unreferenced_shared_blobs == []


def test_unusual_link_targets_are_normalised_like_the_library(tmp_path: Path) -> None:
    cache = tmp_path / "hub"
    cache.mkdir()
    commit = add_revision(cache, "org/m", {"a": b"a", "b": b"b", "c": b"c", "d/e": b"e"})
    repo = cache / repo_folder("org/m")
    snapshot = repo / "snapshots" / commit
    etags = {name: os.path.basename(os.readlink(snapshot / name)) for name in ("a", "b", "c", "d/e")}
    odd = {
        "a": f"../../blobs/../blobs/{etags['a']}",
        "b": f"../..//blobs/./{etags['b']}",
        "c": str(repo / "blobs" / etags["c"]),
        "d/e": f"../../../../{repo.name}/blobs/{etags['d/e']}",
    }
    for name, target in odd.items():
        (snapshot / name).unlink()
        os.symlink(target, snapshot / name)
    report = assert_same_as_library(cache)
    (m,) = report.repos
    assert {key for _, key in m.revisions[0].files} == {f"blobs/{etags[n]}" for n in ("a", "b", "c", "d/e")}


@pytest.mark.parametrize("use_fds", [True, False])
def test_path_and_descriptor_walks_agree_and_leak_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, use_fds: bool
) -> None:
    # The descriptor walk lives in repo_walk, which reads the flag at call time.
    monkeypatch.setattr(repo_walk, "_USE_FDS", use_fds and repo_walk._USE_FDS)
    cache = tmp_path / "hub"
    build_mixed_cache(cache)
    for case in ("broken symlink", "refs to missing commits", "file in snapshots"):
        CORRUPTIONS[case](cache)
    fds_before = len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else 0
    report = assert_same_as_library(cache)
    assert len(report.warnings) == 3
    if fds_before:
        assert len(os.listdir("/proc/self/fd")) == fds_before


@pytest.mark.parametrize(
    "listing",
    [
        '{"format_version": 1, "files": {"a.bin": {"size": 1e400}}}',  # inf: int() overflows
        '{"format_version": 1, "files": {"a.bin": {"size": "100"}}}',
        '{"format_version": 1, "files": {"a.bin": {"size": -5}}}',
        '{"format_version": 1, "files": {"a.bin": {"size": true}}}',
        '{"format_version": 1, "files": {"a.bin": 100}}',
        '{"format_version": 1, "files": [1, 2]}',
        '{"format_version": 1, "files": {"a.b',  # truncated
        "[1, 2]",
        "[" * 100_000 + "]" * 100_000,  # nested deeper than the JSON parser's recursion limit
    ],
)
def test_any_tree_listing_content_gives_unknown_completeness_never_an_error(
    tmp_path: Path, listing: str
) -> None:
    cache = tmp_path / "hub"
    cache.mkdir()
    commit = add_revision(cache, "org/odd", {"a.bin": 100})
    add_revision(cache, "org/fine", {"a.bin": 100}, tree_extra={"b.bin": 7})
    (cache / repo_folder("org/odd") / "trees" / f"{commit}.json").write_text(listing)
    report = assert_same_as_library(cache)
    assert report.warnings == []
    assert report.find("model/org/odd").revisions[0].completeness.state == "unknown"  # type: ignore[union-attr]
    assert report.find("model/org/fine").complete is False  # type: ignore[union-attr]


def test_worker_pool_starts_when_stderr_has_no_usable_file_number(tmp_path: Path) -> None:
    """Inside a Textual app `sys.stderr` is a capture object whose `fileno()` is -1, and other
    threads run (so the fork server is used). multiprocessing's resource tracker passed that -1 on
    and the pool failed with "bad value(s) in fds_to_keep": the TUI fell back to a slow scan."""
    import subprocess
    import sys

    cache = tmp_path / "hub"
    cache.mkdir()
    for i in range(40):
        add_revision(cache, f"org/r{i}", {"a": b"%d" % i})
    script = f"""
import sys, threading
from multiprocessing import resource_tracker
from hftui.core.cache import scan

class Capture:
    def write(self, text): return len(text)
    def flush(self): pass
    def fileno(self): return -1

stop = threading.Event()
threading.Thread(target=stop.wait, daemon=True).start()  # like the TUI: fork is unsafe
real, sys.stderr = sys.stderr, Capture()
stream = scan.iter_scan({str(cache)!r}, processes=2)
names, started = [], False
for record in stream:
    names.append(record.name)
    if len(names) == stream.first_batch + 1:  # a worker's record: the pool is up now
        started = resource_tracker._resource_tracker._fd is not None
sys.stderr = real
stop.set()
assert len(names) == 40, names
assert stream.first_batch == 16
assert started, "the pool never started"
# and once the scan is done its helper processes are gone (issue 16)
assert resource_tracker._resource_tracker._fd is None
assert sys.stderr is real
print("ok")
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-2000:]


_SHA = "a" * 40
_XET = "b" * 64


@pytest.mark.parametrize(
    "files",
    [
        {"a.bin": {"size": 100, "blob_id": _SHA, "xet_hash": "*" * 64}},  # masked hash
        {"a.bin": {"size": 100, "blob_id": _SHA, "xet_hash": "B" * 64}},  # upper case: valid
        {"a.bin": {"size": 100, "blob_id": _SHA, "xet_hash": _XET[:-1]}},
        {"a.bin": {"size": 100, "blob_id": _SHA, "xet_hash": None}},
        {"a.bin": {"size": 100}},  # no blob_id
        {"a.bin": {"size": 100, "blob_id": None}},
        {"a.bin": {"blob_id": _SHA}},  # no size
        {"a.bin": {"size": 100, "blob_id": _SHA}, "b.bin": {"size": "7", "blob_id": _SHA}},
        {"a.bin": {"size": 100, "blob_id": _SHA}, "b.bin": {"size": 7, "blob_id": _SHA, "xet_hash": _XET}},
        {"a.bin": {"size": 100, "blob_id": _SHA, "lfs_sha256": "x"}},
    ],
)
def test_completeness_uses_a_listing_exactly_when_the_library_reads_it(tmp_path: Path, files: dict) -> None:
    """Issue 12.4: a listing huggingface_hub's own reader rejects gives no listing ("unknown")."""
    import json

    from huggingface_hub._tree_cache import read_tree_cache

    cache = tmp_path / "hub"
    cache.mkdir()
    commit = add_revision(cache, "org/odd", {"a.bin": 100})
    folder = cache / repo_folder("org/odd")
    (folder / "trees" / f"{commit}.json").write_text(json.dumps({"format_version": 1, "files": files}))
    library = read_tree_cache(str(folder), commit)
    revision = scan_cache(cache).find("model/org/odd").revisions[0]  # type: ignore[union-attr]
    if library is None:
        assert revision.completeness.state == "unknown"
    elif any(not isinstance(v["size"], int) or not isinstance(v["blob_id"], str) for v in files.values()):
        # Stricter than the library on purpose (docs/scan-differences.md): the verifier reads the
        # same listing and needs byte counts and blob ids.
        assert revision.completeness.state == "unknown"
    else:
        missing = sorted(set(library) - {"a.bin"})
        assert revision.completeness.state == ("partial" if missing else "complete")
        assert list(revision.completeness.missing_files) == missing
        assert revision.completeness.listed_files == len(library)
