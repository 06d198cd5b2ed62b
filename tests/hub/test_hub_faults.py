"""Injected faults seen through huggingface_hub: resume after a clean close, hard resets, error statuses,
stalls and throttling. Each test runs its own server so faults never leak into the shared `hub`."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from hubfixtures import BIG, MIB, MODEL, download_into, small_spec
from huggingface_hub import HfApi, hf_hub_download
from huggingface_hub.errors import HfHubHTTPError

from hftui.hub import Fault, HubServer


@pytest.fixture
def server() -> Iterator[HubServer]:
    with HubServer(small_spec()) as hub:
        yield hub


def _blob_dir(cache: Path, repo_id: str) -> Path:
    return cache / f"models--{repo_id.replace('/', '--')}" / "blobs"


def test_clean_close_is_resumed_with_range(server: HubServer, tmp_path: Path) -> None:
    server.add_fault(Fault(kind="close_after", path_glob="*/big.bin", after_bytes=11 * MIB))
    snapshot = Path(download_into(tmp_path, server, BIG))
    expected = server.file_sha256(BIG, "big.bin")
    assert hashlib.sha256((snapshot / "big.bin").read_bytes()).hexdigest() == expected
    gets = [r for r in server.requests if r.method == "GET" and r.path.endswith("/big.bin")]
    assert [(r.status, r.headers.get("range")) for r in gets] == [(200, None), (206, "bytes=10485760-")]
    assert not list(_blob_dir(tmp_path, BIG).glob("*.incomplete"))


def test_reset_raises_read_error_and_leaves_nothing_half_written(server: HubServer, tmp_path: Path) -> None:
    server.add_fault(Fault(kind="reset_after", path_glob="*/big.bin", after_bytes=2 * MIB))
    with pytest.raises(httpx2.ReadError):
        hf_hub_download(BIG, "big.bin", endpoint=server.endpoint, cache_dir=tmp_path, token=False)
    blobs = _blob_dir(tmp_path, BIG)
    assert not list(blobs.glob("*.incomplete"))
    assert not (blobs / server.file_sha256(BIG, "big.bin")).exists()


def test_429_on_tree_listing_is_retried_after_retry_after(server: HubServer, tmp_path: Path) -> None:
    server.add_fault(Fault(kind="status", path_glob="/api/models/*/tree/*", status=429, retry_after=1))
    snapshot = download_into(tmp_path, server, MODEL, allow_patterns=["config.json"])
    assert (Path(snapshot) / "config.json").read_text() == '{"hidden_size": 128}'
    trees = [r for r in server.requests if "/tree/" in r.path]
    assert [r.status for r in trees] == [429, 200]


def test_status_fault_headers(server: HubServer) -> None:
    server.add_fault(Fault(kind="status", path_glob="/api/models/*", status=503, retry_after=7, times=None))
    api = HfApi(endpoint=server.endpoint, token=False)
    with pytest.raises(HfHubHTTPError) as info:
        api.list_repo_refs(MODEL)
    response = info.value.response
    assert response is not None and response.status_code == 503
    assert response.headers["Retry-After"] == "7" and response.json() == {"error": "Injected fault: HTTP 503"}
    server.clear_faults()
    assert api.list_repo_refs(MODEL).branches


def test_500_on_file_get_is_not_retried(server: HubServer, tmp_path: Path) -> None:
    server.add_fault(Fault(kind="status", path_glob="*/model.safetensors", status=500))
    with pytest.raises(HfHubHTTPError):
        hf_hub_download(MODEL, "model.safetensors", endpoint=server.endpoint, cache_dir=tmp_path, token=False)
    assert not list(_blob_dir(tmp_path, MODEL).glob("*.incomplete"))
    # `times=1` was consumed: the next attempt succeeds.
    path = hf_hub_download(
        MODEL, "model.safetensors", endpoint=server.endpoint, cache_dir=tmp_path, token=False
    )
    assert hashlib.sha256(Path(path).read_bytes()).hexdigest() == server.file_sha256(
        MODEL, "model.safetensors"
    )


def test_stall_and_delay_slow_down_but_complete(server: HubServer, tmp_path: Path) -> None:
    server.add_fault(
        Fault(kind="stall", path_glob="*/model.safetensors", after_bytes=100_000, stall_seconds=0.4)
    )
    server.add_fault(Fault(kind="delay", path_glob="*/config.json", method="HEAD", stall_seconds=0.3))
    started = time.monotonic()
    for name in ("model.safetensors", "config.json"):
        path = hf_hub_download(MODEL, name, endpoint=server.endpoint, cache_dir=tmp_path, token=False)
        assert hashlib.sha256(Path(path).read_bytes()).hexdigest() == server.file_sha256(MODEL, name)
    assert time.monotonic() - started >= 0.7


def test_bandwidth_cap(server: HubServer, tmp_path: Path) -> None:
    server.set_bandwidth(1_000_000)
    started = time.monotonic()
    path = hf_hub_download(
        MODEL, "model.safetensors", endpoint=server.endpoint, cache_dir=tmp_path, token=False
    )
    elapsed = time.monotonic() - started
    # 300 kB at 1 MB/s cannot arrive sooner; no upper bound (a loaded machine is slower, not wrong).
    assert elapsed >= 0.25, elapsed
    assert hashlib.sha256(Path(path).read_bytes()).hexdigest() == server.file_sha256(
        MODEL, "model.safetensors"
    )
    server.set_bandwidth(None)
    with pytest.raises(ValueError):
        server.set_bandwidth(0)


def test_fault_matching_is_per_method_and_counted(server: HubServer) -> None:
    server.add_fault(Fault(kind="status", path_glob="/api/models/*/refs", method=None, status=500, times=2))
    api = HfApi(endpoint=server.endpoint, token=False)
    for _ in range(2):
        with pytest.raises(HfHubHTTPError):
            api.list_repo_refs(MODEL)
    assert api.list_repo_refs(MODEL).branches
    assert [r.status for r in server.requests if r.path.endswith("/refs")] == [500, 500, 200]
    server.clear_requests()
    assert server.requests == []
    with pytest.raises(ValueError):
        Fault(kind="explode")  # type: ignore[arg-type]
