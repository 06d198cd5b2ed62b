"""Real huggingface_hub + hf_xet downloads from the local Hub's Xet CAS, and the plain-HTTP bridge."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from huggingface_hub import hf_hub_download, snapshot_download
from xetfixtures import (
    TWIN,
    XREPO,
    download_in_subprocess,
    server_hashes,
    sha256_file,
    snapshot_hashes,
    xet_spec,
)

from hftui.hub import Fault, HubServer


@pytest.fixture(scope="module")
def xhub() -> Iterator[HubServer]:
    with HubServer(xet_spec()) as server:
        yield server


def test_snapshot_over_xet_matches_the_server_and_the_cas_sent_the_bytes(
    xhub: HubServer, tmp_path: Path
) -> None:
    xhub.reset_byte_counters()
    folder = snapshot_download(XREPO, endpoint=xhub.endpoint, cache_dir=tmp_path, token=False)

    assert snapshot_hashes(folder) == server_hashes(xhub, XREPO)
    xet_files = [p for p in xhub.files(XREPO) if xhub.is_xet(XREPO, p)]
    assert sorted(xet_files) == ["extra/adapter.bin", "model.safetensors", "tokenizer.model"]
    xet_bytes = sum(xhub.files(XREPO)[p].size for p in xet_files)
    # The xorbs carried every Xet byte (plus 8-byte chunk headers); resolve sent none of them.
    assert xhub.bytes_sent("/xorbs/*", server="cas") >= xet_bytes
    for path in xet_files:
        assert xhub.bytes_sent(f"/xorbs/{xhub.xet_hash(XREPO, path)}/*") >= xhub.files(XREPO)[path].size
        assert xhub.bytes_sent(f"*/resolve/*/{path}", server="hub") == 0
    assert xhub.bytes_sent("/bridge/*") == 0
    # The pinned file and the git files came over plain resolve GETs.
    assert xhub.bytes_sent("*/resolve/*/pinned.bin", server="hub") == xhub.files(XREPO)["pinned.bin"].size
    # The 70 MiB file spans two xorbs and shares each with a neighbour in the spec's packing order.
    xorbs = xhub.xorb_hashes(XREPO, "model.safetensors")
    assert len(xorbs) == 2
    assert xhub.xorb_hashes(XREPO, "extra/adapter.bin") == xorbs[:1]
    assert xhub.xorb_hashes(XREPO, "tokenizer.model") == xorbs[1:]


def test_hf_hub_download_of_one_xet_file(xhub: HubServer, tmp_path: Path) -> None:
    path = hf_hub_download(
        XREPO, "extra/adapter.bin", endpoint=xhub.endpoint, cache_dir=tmp_path, token=False
    )
    assert snapshot_hashes(Path(path).parent)["adapter.bin"] == xhub.file_sha256(XREPO, "extra/adapter.bin")


def test_with_xet_disabled_the_resolve_get_follows_the_302_to_the_bridge(
    xhub: HubServer, tmp_path: Path
) -> None:
    xhub.reset_byte_counters()
    result = download_in_subprocess(xhub, XREPO, tmp_path, disable_xet=True)

    assert result["xet_disabled"] is True
    assert snapshot_hashes(result["path"]) == server_hashes(xhub, XREPO)
    assert xhub.bytes_sent("/xorbs/*") == 0
    assert xhub.bytes_sent("/v2/reconstructions/*") == 0
    for path, info in xhub.files(XREPO).items():
        if xhub.is_xet(XREPO, path):
            assert xhub.bytes_sent(f"/bridge/{info.xet_hash}", server="cas") == info.size


def test_the_same_content_in_a_second_repo_costs_no_cas_traffic(xhub: HubServer, tmp_path: Path) -> None:
    assert xhub.xet_hash(TWIN, "weights.safetensors") == xhub.xet_hash(XREPO, "model.safetensors")
    snapshot_download(XREPO, endpoint=xhub.endpoint, cache_dir=tmp_path, token=False)
    xhub.reset_byte_counters()

    folder = snapshot_download(TWIN, endpoint=xhub.endpoint, cache_dir=tmp_path, token=False)

    assert snapshot_hashes(folder) == server_hashes(xhub, TWIN)
    assert xhub.bytes_sent("/xorbs/*") == 0
    assert xhub.bytes_sent("/bridge/*") == 0


def test_bandwidth_cap_applies_to_xorb_responses_and_counters_are_live(tmp_path: Path) -> None:
    with HubServer(xet_spec()) as hub:
        hub.set_bandwidth(2 * 1024 * 1024)
        size = hub.files(XREPO)["extra/adapter.bin"].size
        result: list[str] = []
        worker = threading.Thread(
            target=lambda: result.append(
                hf_hub_download(
                    XREPO, "extra/adapter.bin", endpoint=hub.endpoint, cache_dir=tmp_path, token=False
                )
            )
        )
        worker.start()
        # While the capped response streams, the counter shows a partial count for that file's xorb path.
        seen_partial = False
        while worker.is_alive():
            sent = hub.bytes_sent(f"/xorbs/{hub.xet_hash(XREPO, 'extra/adapter.bin')}/*", server="cas")
            seen_partial = seen_partial or 0 < sent < size
            worker.join(0.02)
        assert seen_partial
        assert snapshot_hashes(Path(result[0]).parent)["adapter.bin"] == hub.file_sha256(
            XREPO, "extra/adapter.bin"
        )
        assert hub.bytes_sent(server="cas") >= size > hub.bytes_sent(server="hub")


_ABORT_CHILD = """
import json, sys, tempfile, time
import hf_xet, httpx2
args = json.loads(sys.argv[1])
token = httpx2.get(args["token_url"]).json()
session = hf_xet.XetSession()
group = session.new_file_download_group(
    endpoint=token["casUrl"], token=token["accessToken"], token_expiry_unix_secs=token["exp"]
)
group.start_download_file(hf_xet.XetFileInfo(args["hash"], args["size"]), tempfile.mktemp())
sys.stdin.readline()  # the test says when enough bytes have arrived
session.sigint_abort()
print("aborted", flush=True)
sys.stdin.readline()
"""


def test_counters_show_the_cas_traffic_stop_when_the_client_aborts(tmp_path: Path) -> None:
    # What the queue's pause/cancel tests measure: bytes at the server stop growing. hf_xet 1.8's
    # session-wide sigint_abort() drops its connections at once (per-download cancel() and group
    # abort() let the xorb transfers in flight run to the end).

    spec = {
        "repos": [{"id": XREPO, "branches": {"main": {"files": {"big.bin": {"size": 64 * 1024 * 1024}}}}}]
    }
    with HubServer(spec) as hub:
        hub.set_bandwidth(4 * 1024 * 1024)
        size = hub.files(XREPO)["big.bin"].size
        args = {
            "token_url": f"{hub.endpoint}/api/models/{XREPO}/xet-read-token/main",
            "hash": hub.xet_hash(XREPO, "big.bin"),
            "size": size,
        }
        child = subprocess.Popen(
            [sys.executable, "-c", _ABORT_CHILD, json.dumps(args)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert child.stdin is not None and child.stdout is not None
            while hub.bytes_sent("/xorbs/*") < 1024 * 1024:
                assert child.poll() is None
                time.sleep(0.02)
            child.stdin.write("\n")
            child.stdin.flush()
            assert child.stdout.readline().strip() == "aborted"
            # Once the server has noticed the closed connections, the count stays put.
            settled = hub.bytes_sent("/xorbs/*")
            for _ in range(3):
                time.sleep(0.5)
                now = hub.bytes_sent("/xorbs/*")
                if now == settled:
                    break
                settled = now
            time.sleep(1.0)
            assert hub.bytes_sent("/xorbs/*") == settled < size
        finally:
            child.kill()
            child.wait(timeout=10)


def test_plain_client_resumes_a_cut_bridge_download_with_range(tmp_path: Path) -> None:
    # huggingface_hub resumes from the last 10 MiB boundary it had written.
    with HubServer(xet_spec()) as hub:
        hub.add_fault(
            Fault("close_after", path_glob="/bridge/*", after_bytes=11 * 1024 * 1024, times=1, server="cas")
        )
        result = download_in_subprocess(hub, XREPO, tmp_path, filename="model.safetensors", disable_xet=True)

        assert "path" in result, result
        assert sha256_file(result["path"]) == hub.file_sha256(XREPO, "model.safetensors")
        ranges = [r.headers.get("range") for r in hub.requests if r.path.startswith("/bridge/")]
        assert ranges == [None, f"bytes={10 * 1024 * 1024}-"]
        assert hub.bytes_sent("/xorbs/*") == 0
