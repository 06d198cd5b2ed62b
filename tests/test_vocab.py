"""The shared vocabulary and the one-place rules: sizes, ages, counts, repo types, disk space,
the Hub error classifier, job states and the cached tree listing."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import httpx2
import pytest
from huggingface_hub import constants
from huggingface_hub.errors import GatedRepoError, HfHubHTTPError, OfflineModeIsEnabled
from huggingface_hub.file_download import repo_folder_name

from hftui.core import disk, vocab
from hftui.core.cache.listing import ListingError, read_listing
from hftui.core.downloads.models import DownloadRequest
from hftui.core.downloads.queue import DownloadQueue, Job, JobState
from hftui.core.hub.errors import classify, redact


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (None, "?"),
        (0, "0 B"),
        (7, "7 B"),
        (999, "999 B"),
        (1000, "1.0 kB"),
        (590_000, "590.0 kB"),
        (402_653_184, "402.7 MB"),
        (1.2e12, "1.2 TB"),
        (-5_000_000_000, "-5.0 GB"),
        (3e18, "3000.0 PB"),
    ],
)
def test_size_is_decimal_and_short(n: float | None, text: str) -> None:
    assert vocab.size(n) == text


def test_speed_duration_and_age() -> None:
    assert vocab.speed(0) == "-" and vocab.speed(2_500_000) == "2.5 MB/s"
    assert [vocab.duration(s) for s in (None, 42, 187, 7500)] == ["-", "42s", "3m07s", "2h05m"]
    now = 10_000_000.0
    assert vocab.ago(0, now) == "-"
    assert vocab.ago(now - 5, now) == "just now"
    assert vocab.ago(now - 300, now) == "5m ago"
    assert vocab.ago(now - 3 * 86400, now) == "3d ago"
    assert vocab.ago(now + 100, now) == "just now"  # a clock skewed into the future is not "-1m ago"


def test_counts_agree_with_the_number() -> None:
    assert vocab.count(1, "repo") == "1 repo"
    assert vocab.count(2, "repo") == "2 repos"
    assert vocab.count(0, "repo") == "0 repos"
    assert vocab.count(1204, "file") == "1,204 files"
    assert vocab.count(2, "entry", "entries") == "2 entries"


def test_repo_types_are_the_librarys_and_forms_round_trip() -> None:
    assert tuple(t for t in constants.REPO_TYPES_WITH_KERNEL if t is not None) == vocab.REPO_TYPES
    assert "kernel" in vocab.REPO_TYPES
    assert vocab.TYPE_PREFIXES == constants.REPO_TYPES_MAPPING
    assert vocab.display_id("model", "org/m") == "org/m"
    assert vocab.display_id("dataset", "org/d") == "datasets/org/d"
    for repo_type in vocab.REPO_TYPES:
        assert vocab.cache_folder(repo_type, "org/x") == repo_folder_name(
            repo_id="org/x", repo_type=repo_type
        )
    # Every place that validates a type accepts the same list.
    DownloadRequest("org/k", repo_type="kernel")
    from hftui.core.hub.repo_ref import parse_repo_input

    assert parse_repo_input("kernels/org/k").repo_type == "kernel"


def test_free_space_of_a_folder_not_yet_created(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "c"
    free, measured = disk.free_space(target)
    assert measured == str(tmp_path) and free is not None and free > 0
    assert disk.nearest_existing(target) == tmp_path
    assert disk.device_of(target) == os.stat(tmp_path).st_dev
    assert disk.free_space(None) == (None, None)


def test_job_state_is_an_enum_that_reads_and_writes_plain_words(tmp_path: Path) -> None:
    queue = DownloadQueue()
    job = queue.submit(DownloadRequest("org/a")).job
    assert job.state is JobState.QUEUED
    assert f"{job.state:<8}|" == "queued  |" and str(job.state) == "queued"
    data = json.loads(json.dumps(queue.to_json()))
    assert data[0]["state"] == "queued"  # queue.json stays what older versions wrote and read
    back = Job.from_json(data[0])
    assert back.state is JobState.QUEUED
    with pytest.raises(ValueError, match="unknown job state 'exploded'"):
        Job.from_json({**data[0], "state": "exploded"})


def _http_error(cls: type[HfHubHTTPError], status: int, text: str = "boom") -> HfHubHTTPError:
    request = httpx2.Request("GET", "http://hub.test/x")
    return cls(text, response=httpx2.Response(status, request=request))


def test_one_classifier_decides_kind_status_and_transience() -> None:
    gated = classify(_http_error(GatedRepoError, 403))
    assert gated.kind == "gated" and not gated.transient
    assert classify(_http_error(HfHubHTTPError, 503)).kind == "server"
    assert classify(_http_error(HfHubHTTPError, 429)).transient
    assert classify(_http_error(HfHubHTTPError, 418)).kind == "http"
    assert classify(OfflineModeIsEnabled("no")).kind == "offline"
    assert classify(httpx2.ConnectError("refused")).kind == "unreachable"
    assert classify(OSError(errno.ENOSPC, "No space left")).kind == "disk_full"
    # A bare OSError wrapping a reset connection: the more telling cause wins.
    try:
        try:
            raise httpx2.ReadError("reset by peer")
        except httpx2.ReadError as inner:
            raise OSError("wrapped") from inner
    except OSError as outer:
        assert classify(outer).kind == "reset"
    assert classify(ValueError("odd")).kind == "other"


def test_redaction_covers_the_given_token_the_env_token_and_token_shapes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_fromtheenvironment")
    text = "a hf_given b hf_fromtheenvironment c hf_" + "x" * 34 + " d"
    out = redact(text, "hf_given")
    assert "hf_given" not in out and "hf_fromtheenvironment" not in out and "x" * 34 not in out
    found = classify(RuntimeError("denied for hf_given"), token="hf_given")
    assert "hf_given" not in found.detail
    # Both wordings (Browse and the queue) go through it.
    from hftui.core.downloads.job import classify as job_classify
    from hftui.core.hub.remote import classify_error

    secret = "hf_" + "s" * 34
    assert secret not in classify_error(_http_error(HfHubHTTPError, 418, f"bad {secret}")).message
    assert (
        secret
        not in job_classify(_http_error(HfHubHTTPError, 418, f"bad {secret}"), DownloadRequest("o/a")).message
    )


def test_listing_reader_is_strict_and_never_raises_anything_else(tmp_path: Path) -> None:
    (tmp_path / "trees").mkdir()
    with pytest.raises(ListingError) as missing:
        read_listing(tmp_path, "c0ffee")
    assert missing.value.missing
    good = {"format_version": 1, "files": {"a/b.bin": {"size": 3, "blob_id": "x", "lfs_sha256": "y"}}}
    (tmp_path / "trees" / "c0ffee.json").write_text(json.dumps(good))
    listed = read_listing(tmp_path, "c0ffee")
    assert listed["a/b.bin"].size == 3 and listed["a/b.bin"].lfs_sha256 == "y"
    for bad in (
        {"a.bin": {"size": 3}},
        {"../x": {"size": 1, "blob_id": "x"}},
        {"a": {"size": True, "blob_id": "x"}},
    ):
        (tmp_path / "trees" / "c0ffee.json").write_text(json.dumps({"format_version": 1, "files": bad}))
        with pytest.raises(ListingError) as broken:
            read_listing(tmp_path, "c0ffee")
        assert not broken.value.missing
