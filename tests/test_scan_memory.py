"""Memory of the scan's records and of the update check (issue 16: peak RSS <= 200 MiB on 10,000
repos). Counted with tracemalloc, never timed (`benchmarks/cache_ui.py` measures the app)."""

from __future__ import annotations

import os
import pickle
import tracemalloc
from pathlib import Path

import pytest
from cachebuilders import add_revision

from hftui.core.cache.records import RepoRecord, RevisionRecord
from hftui.core.cache.scan import scan_cache
from hftui.core.hub.updates import CheckStore, UpdateChecker

REPOS = 120


def _cache(cache: Path) -> None:
    for i in range(REPOS):
        files: dict[str, bytes | int] = {
            f"model-{k:05d}-of-00020.safetensors": 10_000_000 + 31 * i + k for k in range(20)
        }
        files.update({"config.json": f'{{"n": {i}}}'.encode(), "onnx/quantized/model.onnx": 5000 + i})
        repo_id = f"org{i % 7}/repo-{i}"
        add_revision(cache, repo_id, files)
        # A second revision sharing most blobs, as a repo with an older commit kept.
        files["config.json"] = f'{{"n": {i}, "v": 2}}'.encode()
        add_revision(cache, repo_id, files, refs=("v2",))


def _from_worker(records: list[RepoRecord]) -> list[RepoRecord]:
    # What crossing from a worker process (or the index file) gives the app: packed records.
    return [pickle.loads(pickle.dumps(record)) for record in records]


def _traced(build: object) -> tuple[object, int]:
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        value = build() if callable(build) else build
        return value, tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory) -> list[RepoRecord]:
    cache = tmp_path_factory.mktemp("mem") / "hub"
    _cache(cache)
    report = scan_cache(cache, processes=1)
    assert len(report.repos) == REPOS and not report.warnings
    return report.repos


def test_packed_records_take_well_under_half_of_their_unpacked_lists(scanned: list[RepoRecord]) -> None:
    blob = pickle.dumps(scanned)
    packed, packed_bytes = _traced(lambda: pickle.loads(blob))
    assert isinstance(packed, list)
    # The same file lists and blob keys as plain Python objects (what the records held before).
    plain, plain_bytes = _traced(lambda: [(r.blobs, [rev.files for rev in r.revisions]) for r in packed])
    assert plain_bytes > 0
    # Here ~0.34 and ~6.2 kB a repo; with the lists kept as plain text, 0.54 and 9.9 kB.
    assert packed_bytes < 0.42 * plain_bytes, (packed_bytes, plain_bytes)
    assert packed_bytes / REPOS < 8000, packed_bytes / REPOS
    del plain


def test_reading_every_file_list_keeps_records_packed(scanned: list[RepoRecord]) -> None:
    packed = _from_worker(scanned)

    def read_all() -> int:
        # As the update check and a deletion plan read them: each repo's blobs and files, once.
        count = 0
        for record in packed:
            blobs = record.blobs
            for revision in record.revisions:
                count += sum(1 for _, key in revision.files if key in blobs)
        return count

    count, grown = _traced(read_all)
    assert count == sum(rev.nb_files for r in scanned for rev in r.revisions)
    # Nothing kept per repo (unpacked and kept, the lists took ~8 kB a repo here): a few kB of
    # interpreter bookkeeping at most, whatever the number of repos.
    assert grown < 100 * REPOS, grown
    for original, copy in zip(scanned, packed, strict=True):
        assert copy == original
        assert copy.blobs == original.blobs
        assert [rev.files for rev in copy.revisions] == [rev.files for rev in original.revisions]
        assert copy.nb_files == original.nb_files


def test_equal_refs_and_completeness_are_one_object(scanned: list[RepoRecord]) -> None:
    packed = _from_worker(scanned)
    revisions = [rev for record in packed for rev in record.revisions]
    assert len({id(rev.refs) for rev in revisions}) == len({rev.refs for rev in revisions}) == 2
    assert len({id(rev.completeness) for rev in revisions}) == len({rev.completeness for rev in revisions})


def test_an_older_uncompressed_record_is_read_and_equal(scanned: list[RepoRecord]) -> None:
    # Index files written before the lists were deflated hold them as str.
    record = scanned[3]
    state = list(record.__getstate__())
    blobs = record.blobs
    state[0] = ("\0".join(blobs), *state[0][1:])
    old_revisions = []
    for rev in record.revisions:
        rev_state = list(rev.__getstate__())
        rev_state[4] = "\0".join(item for pair in rev.files for item in pair)
        old = RevisionRecord.__new__(RevisionRecord)
        old.__setstate__(tuple(rev_state))
        old_revisions.append(old)
    state[RepoRecord.__slots__.index("revisions") - 1] = tuple(old_revisions)
    older = RepoRecord.__new__(RepoRecord)
    older.__setstate__(tuple(state))
    assert older.blobs == blobs
    assert [rev.files for rev in older.revisions] == [rev.files for rev in record.revisions]
    assert older == record and record == older


def test_undecodable_file_names_survive_packing(tmp_path: Path) -> None:
    cache = tmp_path / "hub"
    name = os.fsdecode(b"weights-\xff\xfe.bin")
    add_revision(cache, "org/odd", {name: b"x" * 10, "ok.txt": b"ok"}, tree=False)
    (record,) = scan_cache(cache, processes=1).repos
    (copy,) = _from_worker([record])
    assert dict(copy.revisions[0].files).keys() == {name, "ok.txt"}
    assert copy == record


def test_update_check_keeps_a_few_repos_queued_not_one_future_each(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # stored answers only: no request is made
    repos = []
    for i in range(3000):
        record = RepoRecord(str(tmp_path / f"models--org--m{i}"), f"models--org--m{i}")
        record.repo_type, record.repo_id = "model", f"org/m{i}"
        repos.append(record)
    checker = UpdateChecker(endpoint="http://127.0.0.1:9", store=CheckStore(tmp_path / "checks.json"))
    tracemalloc.start()
    try:
        report = checker.check(repos)
        current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(report.results) == len(repos)
    # What was alive at the peak and freed by the end: the queue of work. A future per repo
    # (~700 B each, with its lock and condition) made this ~2 MiB.
    assert (peak - current) / len(repos) < 150, (peak - current) / len(repos)
