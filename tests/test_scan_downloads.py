"""Caches filled by real `snapshot_download`s from the local Hub server: the scanner agrees with
scan_cache_dir on every repo, and completeness matches what was (not) downloaded."""

from __future__ import annotations

import fnmatch
from pathlib import Path

import pytest
from cachebuilders import assert_same_as_library
from hubfixtures import DATASET, MODEL, SPACE, download_into, hub  # noqa: F401

from hftui.core.cache.scan import scan_cache


@pytest.fixture(scope="module")
def downloaded(tmp_path_factory: pytest.TempPathFactory, hub) -> Path:  # type: ignore[no-untyped-def]  # noqa: F811
    cache = tmp_path_factory.mktemp("downloads") / "hub"
    download_into(cache, hub, MODEL)  # main (also tag v1.0)
    download_into(cache, hub, MODEL, revision="v0.9")
    download_into(cache, hub, MODEL, revision="refs/pr/1")
    download_into(cache, hub, MODEL, revision="feature/long-context", allow_patterns=["*.json", "*.txt"])
    download_into(cache, hub, DATASET, repo_type="dataset", allow_patterns=["data/train-*"])
    download_into(cache, hub, SPACE, repo_type="space")
    return cache


def test_downloaded_cache_matches_library(downloaded: Path) -> None:
    report = assert_same_as_library(downloaded)
    assert sorted(repo.cache_id for repo in report.repos) == [
        f"dataset/{DATASET}",
        f"model/{MODEL}",
        f"space/{SPACE}",
    ]
    model = report.find(f"model/{MODEL}")
    assert model is not None and len(model.revisions) == 4
    assert {"main", "v0.9", "refs/pr/1", "feature/long-context"} <= model.refs
    assert report.warnings == []


def test_downloaded_cache_matches_library_with_processes(downloaded: Path) -> None:
    assert_same_as_library(downloaded, processes=2)


def _excluded(hub, repo_id: str, revision: str, repo_type: str, allow: list[str]) -> dict[str, int]:  # type: ignore[no-untyped-def]  # noqa: F811
    files = hub.files(repo_id, revision, repo_type)
    return {
        path: info.size
        for path, info in files.items()
        if not any(fnmatch.fnmatch(path, pat) for pat in allow)
    }


def test_completeness_matches_allow_patterns(downloaded: Path, hub) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    report = scan_cache(downloaded)

    dataset = report.find(f"dataset/{DATASET}")
    assert dataset is not None
    revision = dataset.revision("main")
    assert revision is not None and revision.complete is False
    missing = _excluded(hub, DATASET, "main", "dataset", ["data/train-*"])
    assert missing and set(revision.completeness.missing_files) == set(missing)
    assert revision.completeness.missing_bytes == sum(missing.values())

    model = report.find(f"model/{MODEL}")
    assert model is not None
    feature = model.revision("feature/long-context")
    assert feature is not None and feature.complete is False
    missing = _excluded(hub, MODEL, "feature/long-context", "model", ["*.json", "*.txt"])
    assert set(feature.completeness.missing_files) == set(missing)
    assert feature.completeness.missing_bytes == sum(missing.values())
    for ref in ("main", "v0.9", "refs/pr/1"):
        assert model.revision(ref).complete is True  # type: ignore[union-attr]
    assert report.find(f"space/{SPACE}").complete is True  # type: ignore[union-attr]
