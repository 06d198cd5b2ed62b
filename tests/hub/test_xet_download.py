"""Real huggingface_hub + hf_xet downloads from the local Hub's Xet CAS, and the plain-HTTP bridge."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from huggingface_hub import hf_hub_download, snapshot_download
from xetfixtures import TWIN, XREPO, download_in_subprocess, server_hashes, snapshot_hashes, xet_spec

from hftui.hub import HubServer


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
