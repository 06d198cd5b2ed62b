"""Rescans that reuse unchanged repos (hftui.core.cache.reuse), on real layouts: the session cache
downloaded from the local Hub (`cache`) plus the hand-made mixed cache (shared store, plain files,
nested snapshot folders) in the same folder.

Each change to one repo must be picked up, and only that repo read: checked by the scan's own
account (`read`/`reused`) and, independently, by an audit hook that records every folder the
scanner lists and every file it opens. Every reused report must equal a full scan of the disk.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cachebuilders import build_mixed_cache
from conftest import mounted_tmpfs, wait_for

from hftui.core.cache.records import CacheReport
from hftui.core.cache.repo_walk import unpack_stamps
from hftui.core.cache.reuse import ScanIndex, index_path, load_index, may_hold_kept_bytes, save_index
from hftui.core.cache.scan import scan_cache

MODEL_DIR = "models--acme--bert-mini"

# -- what the scanner touches ---------------------------------------------------------------------

_SEEN: list[str] | None = None


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if _SEEN is not None and event in ("open", "os.listdir", "os.scandir") and args:
        path = args[0]
        if isinstance(path, bytes):
            path = os.fsdecode(path)
        _SEEN.append(path if isinstance(path, str) else f"<fd {path}>")


sys.addaudithook(_audit)  # audit hooks cannot be removed: it records only inside `touched()`


class Touched:
    def __init__(self) -> None:
        self.paths: list[str] = []

    def repos(self, root: Path) -> set[str]:
        """The repos whose folder (or folder in `.locks/`) the scanner listed or opened something
        in, by absolute path (it opens a repo by its absolute path before any relative open inside
        it). Cache-wide listings (the root, `.locks/`, the shared store) are not a repo's."""
        prefix = str(root) + "/"
        found = set()
        for path in self.paths:
            if not path.startswith(prefix):
                continue
            parts = path[len(prefix) :].split("/")
            if parts[0] == ".locks":
                found.update(parts[1:2])
            elif "--" in parts[0]:
                found.add(parts[0])
        return found


@pytest.fixture
def touched() -> Iterator[Callable[[], Touched]]:
    def start() -> Touched:
        global _SEEN
        found = Touched()
        _SEEN = found.paths
        return found

    yield start
    globals()["_SEEN"] = None


# -- helpers --------------------------------------------------------------------------------------


@pytest.fixture
def world(cache: Path) -> Path:
    """The downloaded cache plus the hand-made layouts, as one cache."""
    build_mixed_cache(cache)
    return Path(os.path.realpath(cache))


def new_index(root: Path) -> ScanIndex:
    # Tests change folders right after a scan: stamps are trusted at once (the default waits
    # RACY_SECONDS), and each test waits for the filesystem clock to move on before changing.
    return ScanIndex(str(root), racy_seconds=0)


def wait_past(index: ScanIndex, probe_dir: Path) -> None:
    """Wait until a file touched now gets a newer time than every stamp: a change made from now on
    cannot land in the same timestamp tick as what the index recorded."""
    newest = max(
        max(stamp[3], stamp[4])
        for record in index.records.values()
        for stamp in unpack_stamps(record.stamps or ("", b"", b""))
    )
    probe = probe_dir / "clock-probe"

    def moved_on() -> bool:
        probe.write_bytes(b"")
        os.utime(probe)
        return probe.stat().st_mtime_ns > newest

    wait_for(moved_on, timeout=10, what="the filesystem clock to move past the scanned folders' times")


def facts(report: CacheReport) -> dict[str, Any]:
    """Everything a report says, comparable (records compare by value, folder stamps aside)."""
    return {
        "repos": {repo.name: repo for repo in report.repos},
        "size": report.size_on_disk,
        "incomplete": sorted(item.path for item in report.incomplete_files),
        "locks": sorted((lock.path, lock.held) for lock in report.stale_locks),
        "unreferenced": sorted(blob.path for blob in report.unreferenced_shared_blobs),
        "warnings": sorted(w.message for w in report.warnings + report.notes),
    }


def first_scan(root: Path) -> tuple[ScanIndex, CacheReport]:
    index = new_index(root)
    report = scan_cache(root, processes=1, index=index)
    assert index.reused == [] and len(index.read) == len(report.repos)
    wait_past(index, root.parent)
    return index, report


def valid_names(report: CacheReport) -> set[str]:
    return {repo.name for repo in report.valid_repos}


# -- nothing changed ------------------------------------------------------------------------------


def test_unchanged_rescan_reuses_every_healthy_repo_and_opens_none(
    world: Path, touched: Callable[[], Touched]
) -> None:
    index, before = first_scan(world)
    stamped = set(index.records)
    # every healthy repo is stamped: the downloads, the store-linked ones, plain files, nested folders
    assert stamped == valid_names(before)
    assert {MODEL_DIR, "models--org--xet-a", "models--solo", "models--org--gpt"} <= stamped

    seen = touched()
    again = scan_cache(world, processes=1, index=index)
    assert set(index.reused) == stamped
    assert set(index.read) == {repo.name for repo in before.repos} - stamped  # only corrupt entries
    assert seen.repos(world) <= set(index.read)  # no stamped repo was listed or opened
    assert facts(again) == facts(before) == facts(scan_cache(world, processes=1))


# -- one repo changes: only it is read ------------------------------------------------------------


def _snapshot(root: Path, ref: str = "main") -> Path:
    repo = root / MODEL_DIR
    return repo / "snapshots" / (repo / "refs" / ref).read_text()


def _new_revision(root: Path) -> None:
    shutil.copytree(_snapshot(root), root / MODEL_DIR / "snapshots" / ("c" * 40), symlinks=True)


def _new_ref(root: Path) -> None:
    (root / MODEL_DIR / "refs" / "stable").write_text((root / MODEL_DIR / "refs" / "main").read_text())


def _moved_ref(root: Path) -> None:
    # As huggingface_hub moves a ref: a temp file renamed over it.
    refs = root / MODEL_DIR / "refs"
    (refs / "main.tmp").write_text((refs / "v0.9").read_text())
    os.replace(refs / "main.tmp", refs / "main")


def _new_pr_ref(root: Path) -> None:
    # refs/refs/pr/ (the library's folder for refs/pr/1) exists already: only it changes
    pr = root / MODEL_DIR / "refs" / "refs" / "pr"
    assert pr.is_dir()
    (pr / "7").write_text((root / MODEL_DIR / "refs" / "main").read_text())


def _deleted_snapshot(root: Path) -> None:
    refs = root / MODEL_DIR / "refs"
    commit = (refs / "v0.9").read_text()
    (refs / "v0.9").unlink()
    shutil.rmtree(root / MODEL_DIR / "snapshots" / commit)


def _new_kept_bytes(root: Path) -> None:
    kept = root / MODEL_DIR / ".hftui-partial"
    kept.mkdir(exist_ok=True)
    (kept / ("e" * 64 + ".part")).write_bytes(b"x" * 100)


def _removed_blob(root: Path) -> None:
    link = next(p for p in _snapshot(root).rglob("*") if p.is_symlink())
    os.unlink(os.path.realpath(link))


def _file_added_in_a_subfolder(root: Path) -> None:
    snapshot = _snapshot(root)
    sub = next(p for p in snapshot.rglob("*") if p.is_dir() and not p.is_symlink())
    blob = next(p for p in snapshot.rglob("*") if p.is_symlink())
    os.symlink(os.path.relpath(os.path.realpath(blob), sub), sub / "added.json")


def _file_removed_from_snapshot(root: Path) -> None:
    next(p for p in _snapshot(root).iterdir() if p.is_symlink()).unlink()


def _new_listing(root: Path) -> None:
    trees = root / MODEL_DIR / "trees"
    commit = (root / MODEL_DIR / "refs" / "main").read_text()
    listing = trees / f"{commit}.json"
    data = json.loads(listing.read_text())
    data["files"]["not-downloaded.bin"] = {"size": 123, "blob_id": "f" * 40}
    tmp = trees / "tmp.json"
    tmp.write_text(json.dumps(data))
    os.replace(tmp, listing)


CHANGES = {
    "new revision": _new_revision,
    "new ref": _new_ref,
    "ref moved": _moved_ref,
    "new ref in refs/pr": _new_pr_ref,
    "deleted snapshot": _deleted_snapshot,
    "new kept bytes": _new_kept_bytes,
    "removed blob": _removed_blob,
    "file added in a snapshot subfolder": _file_added_in_a_subfolder,
    "file removed from a snapshot": _file_removed_from_snapshot,
    "new tree listing": _new_listing,
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_a_change_in_one_repo_reads_only_that_repo(
    world: Path, change: str, touched: Callable[[], Touched]
) -> None:
    if change == "new tree listing" and not (world / MODEL_DIR / "trees").is_dir():
        pytest.skip("this huggingface_hub wrote no tree listing")
    index, before = first_scan(world)
    healthy = valid_names(before)
    CHANGES[change](world)

    seen = touched()
    after = scan_cache(world, processes=1, index=index)
    corrupt_before = {repo.name for repo in before.repos} - healthy
    assert set(index.read) == {MODEL_DIR} | corrupt_before
    assert set(index.reused) == healthy - {MODEL_DIR}
    assert MODEL_DIR in seen.repos(world)
    assert seen.repos(world) <= {MODEL_DIR} | corrupt_before
    assert facts(after) == facts(scan_cache(world, processes=1))
    if change != "new kept bytes":  # kept bytes are not part of the repo's record
        assert facts(after)["repos"][MODEL_DIR] != facts(before)["repos"][MODEL_DIR]
    assert kept_seen(after) == kept_everywhere(world)


def kept_seen(report: CacheReport) -> list[str]:
    """Kept bytes as `hftui scan` lists them: only in the repos the records say may hold some."""
    from hftui.core.downloads.kept import iter_repo_kept

    return [str(entry.part_path) for path in may_hold_kept_bytes(report) for entry in iter_repo_kept(path)]


def kept_everywhere(root: Path) -> list[str]:
    from hftui.core.downloads.kept import iter_kept

    return [str(entry.part_path) for entry in iter_kept(root)]


def test_kept_bytes_are_found_in_reused_and_read_repos(world: Path) -> None:
    index, before = first_scan(world)
    assert kept_seen(before) == kept_everywhere(world) == []
    _new_kept_bytes(world)  # a new .hftui-partial/: the repo folder's time changes
    after = scan_cache(world, processes=1, index=index)
    assert MODEL_DIR in index.read
    assert len(kept_seen(after)) == 1 and kept_seen(after) == kept_everywhere(world)
    wait_past(index, world.parent)
    # more kept bytes in the folder the record already watches: seen through its stamp
    (world / MODEL_DIR / ".hftui-partial" / ("f" * 64 + ".part")).write_bytes(b"y" * 10)
    again = scan_cache(world, processes=1, index=index)
    assert MODEL_DIR in index.read
    assert len(kept_seen(again)) == 2 and kept_seen(again) == kept_everywhere(world)
    wait_past(index, world.parent)
    third = scan_cache(world, processes=1, index=index)
    assert MODEL_DIR in index.reused  # unchanged since: reused, and its kept bytes still listed
    assert len(kept_seen(third)) == 2 and kept_seen(third) == kept_everywhere(world)


def test_store_payload_removed_is_picked_up(world: Path) -> None:
    index, _ = first_scan(world)
    xet = world / "models--org--xet-b"
    blob = next((xet / "blobs").iterdir())
    payload = Path(os.path.realpath(blob))
    assert payload.is_relative_to(world / "blobs")  # a store payload
    payload.unlink()
    after = scan_cache(world, processes=1, index=index)
    assert "models--org--xet-b" in index.read
    assert facts(after) == facts(scan_cache(world, processes=1))
    assert next(r for r in after.repos if r.name == "models--org--xet-b").corrupt  # broken link


def test_the_shared_store_listing_is_reused_until_it_changes(
    world: Path, touched: Callable[[], Touched]
) -> None:
    from cachebuilders import add_store_only_blob

    index, _ = first_scan(world)
    assert index.store is not None
    known = index.store
    seen = touched()
    scan_cache(world, processes=1, index=index)
    assert index.store is known
    store = str(world / "blobs")
    # nothing in it is listed; what is read is its marker and the manifests of payloads no repo reaches
    read = [p for p in seen.paths if p == store or p.startswith(store + "/")]
    assert all(p.endswith((".refs", ".huggingface-shared-blobs")) for p in read), read

    # a payload lands in the store (a new manifest too): listed again, and counted
    add_store_only_blob(world, b"a new payload nobody links")
    after = scan_cache(world, processes=1, index=index)
    assert index.store is not known
    assert facts(after) == facts(scan_cache(world, processes=1))


def test_deleting_one_repo_reads_nothing_else(world: Path, touched: Callable[[], Touched]) -> None:
    index, before = first_scan(world)
    shutil.rmtree(world / MODEL_DIR)
    seen = touched()
    after = scan_cache(world, processes=1, index=index)
    corrupt = {repo.name for repo in before.repos} - valid_names(before)
    assert set(index.read) == corrupt
    assert set(index.reused) == valid_names(before) - {MODEL_DIR}
    # its lock files stay behind in .locks/ and are listed as orphans, as a full scan does
    assert seen.repos(world) <= corrupt | {MODEL_DIR}
    assert not any(path.startswith(str(world / MODEL_DIR)) for path in seen.paths)
    assert MODEL_DIR not in index.records
    assert facts(after) == facts(scan_cache(world, processes=1))


@pytest.mark.parametrize("replacement", ["symlink", "file", "other folder"])
def test_a_repo_replaced_is_read_again(world: Path, tmp_path: Path, replacement: str) -> None:
    index, _ = first_scan(world)
    repo = world / MODEL_DIR
    if replacement == "symlink":
        # the same folder, moved away and linked back: a stat that follows links sees no change
        moved = tmp_path / "elsewhere"
        repo.rename(moved)
        repo.symlink_to(moved)
    elif replacement == "file":
        shutil.rmtree(repo)
        repo.write_text("not a repo")
    else:
        shutil.copytree(repo, tmp_path / "copy", symlinks=True)
        shutil.rmtree(repo)
        (tmp_path / "copy").rename(repo)
    after = scan_cache(world, processes=1, index=index)
    assert MODEL_DIR in index.read
    assert facts(after) == facts(scan_cache(world, processes=1))
    if replacement != "other folder":
        assert MODEL_DIR not in index.records  # a symlink or a file is never reused


# -- never reused: live writers, links out of the repo, changes too recent --------------------------


def test_a_repo_with_a_held_lock_or_an_incomplete_file_is_always_read(world: Path) -> None:
    repo = world / MODEL_DIR
    lock = world / ".locks" / MODEL_DIR / ("a" * 64 + ".lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    lock.touch()
    (world / "models--org--gpt" / "blobs" / ("b" * 64 + ".incomplete")).write_bytes(b"partial")
    with open(lock) as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        index = new_index(world)
        scan_cache(world, processes=1, index=index)
        assert MODEL_DIR not in index.records and "models--org--gpt" not in index.records
        wait_past(index, world.parent)
        scan_cache(world, processes=1, index=index)
        assert {MODEL_DIR, "models--org--gpt"} <= set(index.read)
    # released: read once more (now stamped), then reused with the lock shown as stale
    scan_cache(world, processes=1, index=index)
    assert MODEL_DIR in index.records
    wait_past(index, world.parent)
    report = scan_cache(world, processes=1, index=index)
    assert MODEL_DIR in index.reused
    assert str(lock) in {stale.path for stale in report.stale_locks}  # shown as stale, not held
    assert repo.is_dir()


def test_a_lock_taken_after_the_scan_makes_the_repo_read(world: Path) -> None:
    lock = world / ".locks" / MODEL_DIR / ("a" * 64 + ".lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    lock.touch()
    index, _ = first_scan(world)
    assert MODEL_DIR in index.records
    with open(lock) as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # a download starts: no folder changes
        scan_cache(world, processes=1, index=index)
    assert MODEL_DIR in index.read


def test_a_link_out_of_the_repo_is_never_reused(world: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.bin"
    outside.write_bytes(b"o" * 10)
    snapshot = _snapshot(world)
    os.symlink(outside, snapshot / "outside.bin")
    index = new_index(world)
    scan_cache(world, processes=1, index=index)
    assert MODEL_DIR not in index.records


def test_changes_within_the_racy_window_are_never_trusted(world: Path) -> None:
    index = ScanIndex(str(world))  # the default window: the cache was written seconds ago
    scan_cache(world, processes=1, index=index)
    assert index.records == {}


# -- the index file -------------------------------------------------------------------------------


def test_index_file_round_trip(world: Path, tmp_path: Path) -> None:
    index, before = first_scan(world)
    path = tmp_path / "state" / "index.bin"
    assert save_index(index, path) == ""
    loaded, warning = load_index(path, str(world), racy_seconds=0)
    assert warning == ""
    assert loaded.records == index.records
    assert {n: r.stamps for n, r in loaded.records.items()} == {n: r.stamps for n, r in index.records.items()}
    again = scan_cache(world, processes=1, index=loaded)
    assert set(loaded.reused) == set(index.records)
    assert facts(again) == facts(before)


def _corrupt_files(good: bytes) -> dict[str, bytes]:
    header_end = good.index(b"\n", len(b"hftui-scan-index\n")) + 1
    header = json.loads(good[len(b"hftui-scan-index\n") : header_end])
    return {
        "garbage": b"\x00\xffnot an index",
        "empty": b"",
        "truncated": good[: len(good) // 2],
        "future version": good.replace(
            json.dumps(header, sort_keys=True).encode(),
            json.dumps({**header, "version": 99}, sort_keys=True).encode(),
        ),
        "other root": good.replace(
            json.dumps(header, sort_keys=True).encode(),
            json.dumps({**header, "root": "/elsewhere"}, sort_keys=True).encode(),
        ),
        "old version": good.replace(
            json.dumps(header, sort_keys=True).encode(),
            json.dumps({**header, "version": 1}, sort_keys=True).encode(),
        ),
        "other Python": good.replace(
            json.dumps(header, sort_keys=True).encode(),
            json.dumps({**header, "python": [3, 99]}, sort_keys=True).encode(),
        ),
        "bad payload": good[:header_end] + __import__("marshal").dumps([("x",)]),
        "one byte flipped": good[:-100] + bytes([good[-100] ^ 1]) + good[-99:],
        "header only": good[:header_end],
    }


def test_a_corrupt_or_foreign_index_file_is_ignored_with_a_warning(world: Path, tmp_path: Path) -> None:
    index, before = first_scan(world)
    path = tmp_path / "index.bin"
    save_index(index, path)
    good = path.read_bytes()
    for name, content in _corrupt_files(good).items():
        path.write_bytes(content)
        loaded, warning = load_index(path, str(world), racy_seconds=0)
        assert loaded.records == {}, name
        assert warning.startswith(f"scan index {path} ignored"), (name, warning)
        assert facts(scan_cache(world, processes=1, index=loaded)) == facts(before), name


def _segments(path: Path) -> int:
    data = path.read_bytes()
    at = data.index(b"\n", len(b"hftui-scan-index\n")) + 1
    count = 0
    while at < len(data):
        table, body = (
            int.from_bytes(data[at : at + 8], "little"),
            int.from_bytes(data[at + 8 : at + 16], "little"),
        )
        at += 20 + table + body
        count += 1
    assert at == len(data)
    return count


def test_a_save_after_deleting_one_repo_appends_only_the_difference(world: Path, tmp_path: Path) -> None:
    index, before = first_scan(world)
    path = tmp_path / "index.bin"
    assert save_index(index, path) == ""
    whole = path.stat()
    loaded, _ = load_index(path, str(world), racy_seconds=0)
    shutil.rmtree(world / MODEL_DIR)
    after = scan_cache(world, processes=1, index=loaded)
    assert loaded.changed
    assert save_index(loaded, path) == ""
    now = path.stat()
    # the same file, a few bytes longer: the name of the repo gone (and the store's new listing,
    # which the deleted repo's lock folder does not touch)
    assert (now.st_ino, _segments(path)) == (whole.st_ino, 2)
    assert 0 < now.st_size - whole.st_size < 200
    again, warning = load_index(path, str(world), racy_seconds=0)
    assert warning == "" and again.records == loaded.records and MODEL_DIR not in again.records
    assert facts(scan_cache(world, processes=1, index=again)) == facts(after)
    assert set(again.reused) == valid_names(before) - {MODEL_DIR}
    # nothing changed since: nothing to save
    assert not again.changed


def test_a_changed_repo_is_appended_and_a_file_mostly_dead_is_written_anew(
    world: Path, tmp_path: Path
) -> None:
    index, _ = first_scan(world)
    path = tmp_path / "index.bin"
    save_index(index, path)
    inode = path.stat().st_ino
    refs = world / MODEL_DIR / "refs"
    segments = [1]
    for i in range(40):
        loaded, _ = load_index(path, str(world), racy_seconds=0)
        (refs / f"tag{i}").write_text((refs / "main").read_text())
        wait_past(loaded, world.parent)
        report = scan_cache(world, processes=1, index=loaded)
        assert MODEL_DIR in loaded.read
        assert save_index(loaded, path) == ""
        reloaded, warning = load_index(path, str(world), racy_seconds=0)
        assert warning == "" and reloaded.records == loaded.records
        assert f"tag{i}" in reloaded.records[MODEL_DIR].refs
        segments.append(_segments(path))
        if path.stat().st_ino != inode:
            break
    else:
        pytest.fail(f"the index file was never compacted: {segments}")
    assert segments[1] == 2  # the first change was appended
    assert segments[-1] == 1  # then written anew, one segment
    assert facts(scan_cache(world, processes=1, index=reloaded)) == facts(report)


def test_a_torn_append_keeps_what_came_before_and_the_next_save_rewrites(world: Path, tmp_path: Path) -> None:
    index, _ = first_scan(world)
    path = tmp_path / "index.bin"
    save_index(index, path)
    whole = path.read_bytes()
    loaded, _ = load_index(path, str(world), racy_seconds=0)
    shutil.rmtree(world / MODEL_DIR)
    after = scan_cache(world, processes=1, index=loaded)
    save_index(loaded, path)
    appended = path.read_bytes()
    assert appended.startswith(whole) and len(appended) > len(whole)
    for tail in (b"\0" * 64, appended[len(whole) :] + b"\0" * 20):  # what a crash may leave after it
        path.write_bytes(appended + tail)
        loaded_back, warning = load_index(path, str(world), racy_seconds=0)
        assert warning == "" and loaded_back.records == loaded.records
    path.write_bytes(whole + b"\0" * 64)
    assert load_index(path, str(world), racy_seconds=0)[0].records == index.records
    path.write_bytes(appended[:-3])  # a crash in the middle of the append
    torn, warning = load_index(path, str(world), racy_seconds=0)
    assert warning == ""
    assert MODEL_DIR in torn.records  # as before the append: its stamps no longer match
    assert facts(scan_cache(world, processes=1, index=torn)) == facts(after)
    assert MODEL_DIR not in torn.records
    assert save_index(torn, path) == ""
    assert _segments(path) == 1  # not appended after a torn tail
    assert load_index(path, str(world), racy_seconds=0)[0].records == torn.records


def test_a_file_replaced_by_another_scan_is_not_appended_to(world: Path, tmp_path: Path) -> None:
    index, _ = first_scan(world)
    path = tmp_path / "index.bin"
    save_index(index, path)
    mine, _ = load_index(path, str(world), racy_seconds=0)
    theirs, _ = load_index(path, str(world), racy_seconds=0)
    theirs.changed = True
    save_index(theirs, path)  # appends an empty difference: the file grew under `mine`
    shutil.rmtree(world / MODEL_DIR)
    scan_cache(world, processes=1, index=mine)
    assert save_index(mine, path) == ""
    assert _segments(path) == 1
    assert load_index(path, str(world), racy_seconds=0)[0].records == mine.records


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Iterator[Path]:
    with mounted_tmpfs(tmp_path / "mnt", "1m") as point:
        yield point


def test_a_full_disk_while_appending_loses_nothing(world: Path, small_tmpfs: Path) -> None:
    index, _ = first_scan(world)
    path = small_tmpfs / "scan-index" / "index.bin"
    assert save_index(index, path) == ""
    saved = path.read_bytes()
    loaded, _ = load_index(path, str(world), racy_seconds=0)
    filler = small_tmpfs / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:  # fill the disk to the last byte
        for size in (65536, 4096, 1):
            with contextlib.suppress(OSError):
                while os.write(fd, b"\0" * size) == size:
                    pass
    finally:
        os.close(fd)
    (world / MODEL_DIR / "refs" / "late").write_text((world / MODEL_DIR / "refs" / "main").read_text())
    after = scan_cache(world, processes=1, index=loaded)
    assert MODEL_DIR in loaded.read
    warning = save_index(loaded, path)
    assert warning.startswith(f"scan index {path} not saved (") and "next scan reads" in warning
    assert path.read_bytes().startswith(saved)  # what was there is intact; a torn tail at most
    again, warning = load_index(path, str(world), racy_seconds=0)
    assert warning == "" and again.records.keys() == index.records.keys()
    assert facts(scan_cache(world, processes=1, index=again)) == facts(after)
    assert MODEL_DIR in again.read  # its old record no longer matched the disk
    filler.unlink()
    assert save_index(again, path) == ""
    assert load_index(path, str(world), racy_seconds=0)[0].records == again.records


def _hftui(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hftui", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=120,
    )


def same(out: str, other: str) -> bool:
    """The same JSON but for `last_accessed`: blob access times move whenever anything reads a
    file, and a reused repo shows them as of its last read (docs/scan-reuse.md says so)."""

    def without_atimes(text: str) -> dict[str, Any]:
        data = json.loads(text)
        for repo in data["repos"]:
            repo.pop("last_accessed")
        return data

    return without_atimes(out) == without_atimes(other)


def test_hftui_scan_saves_reuses_and_says_so(world: Path, tmp_path: Path) -> None:
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "xdg-state")}
    args = ("scan", "--json", "--no-roots", "--cache-dir", str(world))
    first = _hftui(*args, env=env)
    assert first.returncode == 0, first.stderr
    assert "reused" not in first.stderr
    index_file = index_path(tmp_path / "xdg-state" / "hftui", str(world))
    # The cache was written seconds ago: folder times that recent are not trusted (RACY_SECONDS),
    # so the index holds nothing yet. Wait for them to age (the filesystem clock moving on).
    newest = max(
        max(st.st_mtime_ns, st.st_ctime_ns)
        for st in (Path(dirpath).stat() for dirpath, _, _ in os.walk(world))
    )
    wait_for(lambda: time.time_ns() > newest + 2.5e9, timeout=15, what="the cache's folder times to age")
    second = _hftui(*args, env=env)
    assert second.returncode == 0 and index_file.is_file(), second.stderr
    third = _hftui(*args, env=env)
    assert third.returncode == 0, third.stderr
    healthy = len([r for r in json.loads(third.stdout)["repos"]])
    total = healthy + sum(1 for line in third.stderr.splitlines() if "warning: Repo path" in line)
    assert f"hftui: reused {healthy:,} of " in third.stderr, third.stderr
    assert same(third.stdout, first.stdout)
    assert total >= healthy

    # --full reads everything (and says nothing about reuse)
    full = _hftui(*args, "--full", env=env)
    assert full.returncode == 0 and "reused" not in full.stderr
    assert same(full.stdout, first.stdout)

    # a broken index: a warning, the same output, and a good index written again
    index_file.write_bytes(b"hftui-scan-index\n{broken")
    broken = _hftui(*args, env=env)
    assert broken.returncode == 0, broken.stderr
    assert "Traceback" not in broken.stderr
    assert f"hftui: warning: scan index {index_file} ignored" in broken.stderr
    assert same(broken.stdout, first.stdout)
    assert load_index(index_file, str(world))[0].records

    # --read-only writes nothing
    index_file.unlink()
    read_only = _hftui("--read-only", *args, env=env)
    assert read_only.returncode == 0 and not index_file.exists()


# -- the Cache pane's controller: the session's memory ----------------------------------------------


def test_cache_controller_rescan_reuses_and_says_so(world: Path) -> None:
    from test_cache_controller import Recorder

    from hftui.core.controllers.cache import CacheController
    from hftui.core.controllers.runner import ThreadRunner

    runner = ThreadRunner()
    index = new_index(world)
    controller = CacheController(world, runner, processes=1, scan_index=index)
    seen = Recorder()
    controller.listeners.append(seen)
    controller.start_scan()
    runner.wait_idle()
    assert controller.report is not None and controller.scan_reused == 0
    assert not any("reused" in notice.text for notice in seen.notices)
    healthy = valid_names(controller.report)
    assert set(index.records) == healthy
    wait_past(index, world.parent)

    # a download lands in one repo (a new ref), then `r`
    _new_ref(world)
    controller.start_scan()
    runner.wait_idle()
    assert controller.report is not None
    assert controller.scan_reused == len(healthy) - 1
    total = len(controller.report.repos)
    assert any(
        f"Rescan: reused {len(healthy) - 1:,} of {total:,} repos" in notice.text for notice in seen.notices
    ), [n.text for n in seen.notices]
    assert facts(controller.report) == facts(scan_cache(world, processes=1))

    # a folder rescanned after a deletion updates the session's index too
    shutil.rmtree(world / "models--org--gpt")
    controller.rescan_folders(["models--org--gpt"])
    runner.wait_idle()
    assert "models--org--gpt" not in index.records and "models--org--gpt" not in controller.records


# -- other hub caches shown as roots ----------------------------------------------------------------


def test_another_hub_cache_root_reuses_its_unchanged_repos(world: Path, tmp_path: Path) -> None:
    from hftui.core.cache.roots import Root, check_roots
    from hftui.core.cache.roots_scan import scan_roots

    opened = tmp_path / "opened"
    opened.mkdir()
    roots = [Root("hub", str(opened), explicit=True), Root("hub", str(world), explicit=True)]
    index = new_index(world)
    indexes = {str(world): index}
    first = scan_roots(check_roots(roots), indexes=indexes)
    assert index.reused == [] and index.records
    wait_past(index, tmp_path)
    _new_ref(world)
    second = scan_roots(check_roots(roots), indexes=indexes)
    assert set(index.read) <= {MODEL_DIR} | {
        r.name for r in scan_cache(world, processes=1).repos if r.corrupt
    }
    assert MODEL_DIR in index.read and len(index.reused) == len(index.records) - 1
    sizes = [(s.root.path, s.size, s.files) for s in second.scans]
    assert sizes == [(s.root.path, s.size, s.files) for s in first.scans]


def test_scan_reuse_false_reads_and_writes_no_index(world: Path, tmp_path: Path) -> None:
    settings = tmp_path / "settings.toml"
    settings.write_text("scan_reuse = false\n")
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "xdg-state")}
    index_file = index_path(tmp_path / "xdg-state" / "hftui", str(world))
    index_file.parent.mkdir(parents=True)
    index_file.write_bytes(b"not even read")
    done = _hftui("--settings", str(settings), "scan", "--no-roots", "--cache-dir", str(world), env=env)
    assert done.returncode == 0, done.stderr
    assert "scan index" not in done.stderr and "reused" not in done.stderr
    assert index_file.read_bytes() == b"not even read"
