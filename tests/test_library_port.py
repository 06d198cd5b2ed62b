"""huggingface_hub's own cache tests, ported to hftui's scanner, filters and planner (issue 12).

The assertions follow the library's `tests/test_utils_cache.py`, `test_cache_layout.py`,
`test_cache_no_symlinks.py`, `test_tree_cache.py` and the `hf cache ls/rm/prune/verify` cases of
`test_cli.py` (huggingface_hub @ ee0a4510f), restated against hftui's API. The caches are built by
the library's real download code from the local Hub server, not written by hand, except where a
case is about a hand-damaged cache (then the damage is applied to a real download).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hubfixtures import DATASET, MODEL, download_into, small_spec
from test_freed import _delete_and_measure

from hftui.core.cache.cleanup import Mark, cross_links, execute_plan, plan_deletion, plan_loose_files
from hftui.core.cache.records import RepoRecord
from hftui.core.cache.scan import CacheReport, scan_cache
from hftui.hub import HubServer

REPO = "models--acme--bert-mini"


@pytest.fixture(scope="module")
def hub() -> Iterator[HubServer]:
    with HubServer(small_spec()) as server:
        yield server


@pytest.fixture(scope="module")
def template(hub: HubServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("port") / "hub"
    download_into(root, hub, MODEL)  # main (also tag v1.0)
    download_into(root, hub, MODEL, revision="refs/pr/1")
    download_into(root, hub, MODEL, revision="v0.9")  # an older commit
    download_into(root, hub, DATASET, repo_type="dataset", allow_patterns=["README.md", "data/test-*"])
    return root


@pytest.fixture
def cache(template: Path, tmp_path: Path) -> Path:
    target = tmp_path / "hub"
    shutil.copytree(template, target, symlinks=True)
    return target


def _scan(cache: Path) -> CacheReport:
    return scan_cache(cache, processes=1)


def _model(report: CacheReport) -> RepoRecord:
    record = report.find(f"model/{MODEL}")
    assert record is not None
    return record


def _commit(cache: Path, ref: str, repo: str = REPO) -> str:
    return (cache / repo / "refs" / ref).read_text()


def _infos(report: CacheReport) -> dict:
    return {(r.repo_type, r.repo_id): r.to_cached_repo_info() for r in report.valid_repos}


def _plan(report: CacheReport, marks: list[Mark]):
    root = Path(report.cache_dir)
    return plan_deletion(_infos(report), marks, cache_dir=root, reach=cross_links(report.repos, root))


# -- test_utils_cache.py: TestMissingCacheUtils ------------------------------------------------


def test_cache_dir_is_missing_or_a_file(tmp_path: Path) -> None:
    # The library raises CacheNotFound / ValueError; hftui reports an empty, missing cache.
    report = scan_cache(tmp_path / "nope")
    assert report.exists is False and report.repos == []
    (tmp_path / "file").write_text("x")
    report = scan_cache(tmp_path / "file")
    assert report.exists is False and report.repos == []


# -- test_utils_cache.py: TestValidCacheUtils ------------------------------------------------


def test_scan_valid_cache(cache: Path) -> None:
    report = _scan(cache)
    assert len(report.repos) == 2 and report.warnings == []
    repo = _model(report)
    assert (repo.repo_id, repo.repo_type, repo.repo_path) == (MODEL, "model", str(cache.resolve() / REPO))
    main, pr, old = _commit(cache, "main"), _commit(cache, "refs/pr/1"), _commit(cache, "v0.9")
    assert {rev.commit_hash for rev in repo.revisions} == {main, pr, old}
    # Blobs are counted once per repo; revisions each count theirs.
    blobs = [p for p in (cache / REPO / "blobs").iterdir()]
    assert repo.size_on_disk == sum(p.stat().st_size for p in blobs)
    assert repo.nb_files == len(blobs)
    assert sum(rev.size_on_disk for rev in repo.revisions) > repo.size_on_disk
    assert sum(rev.nb_files for rev in repo.revisions) > repo.nb_files
    assert repo.revision("main").commit_hash == main  # type: ignore[union-attr]
    assert repo.revision("refs/pr/1").commit_hash == pr  # type: ignore[union-attr]
    assert repo.refs == {"main", "refs/pr/1", "v0.9"}
    main_rev = repo.revision(main)
    assert main_rev is not None and main_rev.refs == {"main"}
    assert main_rev.snapshot_path == str(cache.resolve() / REPO / "snapshots" / main)
    assert main_rev.nb_files == len(main_rev.files) == 6
    assert main_rev.size_on_disk == sum({key: repo.blobs[key][0] for _, key in main_rev.files}.values())
    # The same file in two revisions: different entries, one blob when the content is the same.
    pr_rev = repo.revision(pr)
    assert pr_rev is not None
    main_files, pr_files = dict(main_rev.files), dict(pr_rev.files)
    assert main_files["config.json"] == pr_files["config.json"]
    assert main_files["README.md"] != pr_files["README.md"]  # the PR changed it


def test_os_metadata_files_are_ignored(cache: Path) -> None:
    for folder in (cache, cache / REPO / "snapshots", cache / REPO / "refs"):
        (folder / ".DS_Store").write_bytes(b"")
    report = _scan(cache)
    assert report.warnings == [] and len(report.repos) == 2


# -- test_utils_cache.py: TestCorruptedCacheUtils --------------------------------------------


def _only_warning(cache: Path) -> str:
    report = _scan(cache)
    assert len(report.repos) == 2  # the scan went on
    (warning,) = report.warnings
    assert warning.kind == "corrupted"
    return warning.message


def test_repo_path_not_a_dir(cache: Path) -> None:
    shutil.rmtree(cache / REPO)
    (cache / REPO).write_text("x")
    assert _only_warning(cache) == f"Repo path is not a directory: {cache.resolve() / REPO}"


def test_repo_path_not_a_valid_name(cache: Path) -> None:
    os.rename(cache / REPO, cache / "not-a-repo")
    assert _only_warning(cache) == (
        f"Repo path is not a valid HuggingFace cache directory: {cache.resolve() / 'not-a-repo'}"
    )


def test_repo_type_unknown(cache: Path) -> None:
    os.rename(cache / REPO, cache / "weird--acme--bert-mini")
    message = _only_warning(cache)
    assert message.startswith("Repo type must be one of ") and "found `weird`" in message


def test_snapshots_missing(cache: Path) -> None:
    shutil.rmtree(cache / REPO / "snapshots")
    assert (
        _only_warning(cache)
        == f"Snapshots dir doesn't exist in cached repo: {cache.resolve() / REPO / 'snapshots'}"
    )


def test_file_in_snapshots(cache: Path) -> None:
    (cache / REPO / "snapshots" / "stray").write_text("x")
    expected = f"Snapshots folder corrupted. Found a file: {cache.resolve() / REPO / 'snapshots' / 'stray'}"
    assert _only_warning(cache) == expected


def test_snapshot_with_no_files(cache: Path) -> None:
    empty = cache / REPO / "snapshots" / ("0" * 40)
    empty.mkdir()
    revision = _model(_scan(cache)).revision("0" * 40)
    assert revision is not None and revision.nb_files == 0 and revision.size_on_disk == 0
    assert revision.last_modified == empty.stat().st_mtime


def test_repo_with_no_snapshots(cache: Path) -> None:
    shutil.rmtree(cache / REPO / "snapshots")
    shutil.rmtree(cache / REPO / "refs")
    (cache / REPO / "snapshots").mkdir()
    st = (cache / REPO).stat()
    repo = _model(_scan(cache))
    assert repo.size_on_disk == 0 and repo.revisions == ()
    assert (repo.last_modified, repo.last_accessed) == (st.st_mtime, st.st_atime)


def test_ref_to_missing_revision(cache: Path) -> None:
    (cache / REPO / "refs" / "dangling").write_text("f" * 40)
    message = _only_warning(cache)
    assert message.startswith(
        "Reference(s) refer to missing commit hashes: {'" + "f" * 40 + "': {'dangling'}}"
    )


def test_last_modified_and_last_accessed(cache: Path, hub: HubServer) -> None:
    first = _model(_scan(cache))
    for key, (_size, atime, mtime) in first.blobs.items():
        assert atime <= first.last_accessed and mtime <= first.last_modified, key
    assert max(rev.last_modified for rev in first.revisions) == first.last_modified
    time.sleep(0.05)  # a later download must be seen as later (mtime resolution)
    download_into(cache, hub, MODEL, revision="feature/long-context")
    second = _model(_scan(cache))
    assert second.last_modified > first.last_modified
    newest = second.revision("feature/long-context")
    assert newest is not None and newest.last_modified == second.last_modified


# -- test_utils_cache.py: TestDeleteRevisionsDryRun / TestDeleteStrategyExecute --------------


def _blob_names(cache: Path) -> set[str]:
    return {p.name for p in (cache / REPO / "blobs").iterdir()}


def _used_blobs(cache: Path, *commits: str) -> set[str]:
    names = set()
    for commit in commits:
        for entry in (cache / REPO / "snapshots" / commit).rglob("*"):
            if entry.is_symlink():
                names.add(os.path.basename(os.readlink(entry)))
    return names


def test_delete_detached_revision(cache: Path) -> None:
    old = _commit(cache, "v0.9")
    (cache / REPO / "refs" / "v0.9").unlink()  # now detached
    report = _scan(cache)
    plan = _plan(report, [Mark.revision("model", MODEL, old)])
    (strategy,) = plan.strategies
    root = cache.resolve() / REPO
    assert strategy.snapshots == {root / "snapshots" / old} and strategy.refs == frozenset()
    others = _used_blobs(cache, _commit(cache, "main"), _commit(cache, "refs/pr/1"))
    assert {p.name for p in strategy.blobs} == _used_blobs(cache, old) - others
    freed, result = _delete_and_measure(cache, plan)
    assert result.ok and plan.expected_freed_size == freed == result.freed_size
    assert _blob_names(cache) == others


def test_delete_pr_revision_and_its_ref(cache: Path) -> None:
    pr = _commit(cache, "refs/pr/1")
    report = _scan(cache)
    plan = _plan(report, [Mark.revision("model", MODEL, pr)])
    (strategy,) = plan.strategies
    assert strategy.refs == {cache.resolve() / REPO / "refs" / "refs" / "pr" / "1"}
    freed, result = _delete_and_measure(cache, plan)
    assert result.ok and plan.expected_freed_size == freed == result.freed_size
    assert not (cache / REPO / "refs" / "refs" / "pr" / "1").exists()
    assert (cache / REPO / "refs" / "main").exists()


def test_delete_all_revisions_deletes_the_repo(cache: Path) -> None:
    report = _scan(cache)
    marks = [Mark.revision("model", MODEL, rev.commit_hash) for rev in _model(report).revisions]
    plan = _plan(report, marks)
    (strategy,) = plan.strategies
    assert strategy.repos == {cache.resolve() / REPO} and not strategy.snapshots
    freed, result = _delete_and_measure(cache, plan)
    assert result.ok and plan.expected_freed_size == freed == result.freed_size
    assert not (cache / REPO).exists() and (cache / f"datasets--{DATASET.replace('/', '--')}").exists()


def test_delete_unknown_revision_is_reported_not_raised(cache: Path) -> None:
    report = _scan(cache)
    plan = _plan(report, [Mark.revision("model", MODEL, "abcdef123456789")])
    assert plan.is_empty and [m.commit_hash for m in plan.not_found] == ["abcdef123456789"]


# -- test_cache_layout.py --------------------------------------------------------------------


def test_layout_of_a_real_download(cache: Path, hub: HubServer) -> None:
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError

    # A missing file is remembered in `.no_exist/<commit>/<name>`: not a revision file, no warning.
    with pytest.raises(EntryNotFoundError):
        hf_hub_download(MODEL, "nope.txt", cache_dir=str(cache), endpoint=hub.endpoint, token=False)
    assert (cache / REPO / ".no_exist" / _commit(cache, "main") / "nope.txt").exists()
    download_into(cache, hub, MODEL, revision="v1.0")  # a tag on main's commit: nothing fetched
    report = _scan(cache)
    assert report.warnings == []
    main = _model(report).revision("main")
    assert main is not None and "nope.txt" not in dict(main.files)
    # Two refs on one commit, and a file fetched once for both (one blob).
    assert main.refs == {"main", "v1.0"}
    main_rev = dict(main.files)
    pr = dict(_model(report).revision("refs/pr/1").files)  # type: ignore[union-attr]
    assert (
        main_rev["model.safetensors"]
        == pr["model.safetensors"]
        == "blobs/"
        + os.path.basename(os.readlink(cache / REPO / "snapshots" / main.commit_hash / "model.safetensors"))
    )


# -- test_cache_no_symlinks.py ---------------------------------------------------------------


def test_scan_and_delete_a_cache_without_symlinks(hub: HubServer, tmp_path: Path) -> None:
    cache = tmp_path / "hub"
    script = (
        "import sys; sys.path.insert(0, 'tests'); from hubfixtures import download_into;"
        "from hftui.hub import HubServer;"
        "download_into(sys.argv[1], type('H', (), {'endpoint': sys.argv[2]})(), sys.argv[3])"
    )
    env = {**os.environ, "HF_HUB_DISABLE_SYMLINKS": "1", "HF_HUB_DISABLE_SYMLINKS_WARNING": "1"}
    for args in ((str(cache), hub.endpoint, MODEL),):
        subprocess.run(
            [sys.executable, "-c", script, *args], check=True, env=env, cwd=Path(__file__).parents[1]
        )
    snapshot = cache / REPO / "snapshots" / _commit(cache, "main")
    files = [p for p in snapshot.rglob("*") if p.is_file()]
    assert files and not any(p.is_symlink() for p in files)
    report = _scan(cache)
    repo = _model(report)
    # Each file stored in the snapshot is its own blob.
    assert repo.nb_files == len(files) and repo.size_on_disk == sum(p.stat().st_size for p in files)
    plan = _plan(report, [Mark.file("model", MODEL, snapshot.name, "onnx", is_dir=True)])
    freed, result = _delete_and_measure(cache, plan)
    assert result.ok and plan.expected_freed_size == freed == result.freed_size == 250_000
    plan = _plan(_scan(cache), [Mark.repo("model", MODEL)])
    freed, result = _delete_and_measure(cache, plan)
    assert result.ok and plan.expected_freed_size == freed == result.freed_size > 0


# -- test_tree_cache.py ----------------------------------------------------------------------


def test_tree_listing_written_by_snapshot_download_gives_completeness(cache: Path, hub: HubServer) -> None:
    report = _scan(cache)
    assert _model(report).revision("main").completeness.state == "complete"  # type: ignore[union-attr]
    data = report.find(f"dataset/{DATASET}")
    assert data is not None
    (rev,) = data.revisions
    files = hub.files(DATASET, "main", "dataset")
    missing = sorted(p for p in files if p != "README.md" and not p.startswith("data/test-"))
    assert rev.completeness.state == "partial"
    assert list(rev.completeness.missing_files) == missing
    assert rev.completeness.missing_bytes == sum(files[p].size for p in missing)
    assert rev.completeness.listed_files == len(files)


@pytest.mark.parametrize("content", ['{"format_version": 2, "files": {}}', "{not json", ""])
def test_unknown_or_corrupted_listing_gives_no_listing(cache: Path, content: str) -> None:
    folder = cache / f"datasets--{DATASET.replace('/', '--')}"
    (listing,) = (folder / "trees").iterdir()
    listing.write_text(content)
    report = _scan(cache)
    assert report.warnings == []
    assert report.find(f"dataset/{DATASET}").revisions[0].completeness.state == "unknown"  # type: ignore[union-attr]


# -- test_cli.py: hf cache ls / rm / prune / verify ----------------------------------------------


def test_ls_filter_size_with_revisions_uses_each_revisions_size(cache: Path) -> None:
    from hftui.core.cache.filters import matches, parse_filter

    repo = _model(_scan(cache))
    small = min(rev.size_on_disk for rev in repo.revisions)
    big = [rev for rev in repo.revisions if matches(repo, [parse_filter(f"size>{small}")], revision=rev)]
    assert big and all(rev.size_on_disk > small for rev in big)


def test_prune_deletes_incomplete_files(cache: Path) -> None:
    incomplete = cache / REPO / "blobs" / ("e" * 40 + ".incomplete")
    incomplete.write_bytes(b"x" * 1234)
    report = _scan(cache)
    (item,) = report.incomplete_files
    plan, skipped = plan_loose_files(
        [(Path(item.path), item.size_on_disk)], kind="incomplete", cache_dir=cache
    )
    assert skipped == [] and plan.expected_freed_size == 1234
    assert execute_plan(plan).freed_size == 1234 and not incomplete.exists()


def test_verify_success_mismatch_and_missing(cache: Path) -> None:
    from hftui.core.cache.verify import verify_revision

    main = _commit(cache, "main")
    result = verify_revision(cache / REPO, main)
    assert result.ok and len(result.checked) == 6
    target = (cache / REPO / "snapshots" / main / "config.json").resolve()
    target.chmod(0o644)
    target.write_text('{"hidden_size": 129}')
    (cache / REPO / "snapshots" / main / "README.md").unlink()
    result = verify_revision(cache / REPO, main)
    assert not result.ok
    assert [path for path, _ in result.mismatched] == ["config.json"]
    assert result.missing == ["README.md"]
