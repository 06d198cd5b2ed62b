"""The local Hub's Xet side on the wire: headers, token route, reconstructions, xorb chunk format, layout."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from xetfixtures import MIB, XREPO, xet_spec

from hftui.hub import HubServer, SpecError, load_spec
from hftui.hub.xet import MAX_CHUNK, MAX_XORB_BYTES, MIN_CHUNK, XetStore


@pytest.fixture(scope="module")
def xhub() -> Iterator[HubServer]:
    with HubServer(xet_spec()) as server:
        yield server


def _request(
    url: str, method: str = "GET", headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    conn.request(method, target, headers=headers or {})
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, body


def _token(hub: HubServer, repo_id: str = XREPO) -> str:
    status, headers, _ = _request(f"{hub.endpoint}/api/models/{repo_id}/xet-read-token/main")
    assert status == 200
    return headers["x-xet-access-token"]


def _parse_chunks(data: bytes) -> list[bytes]:
    """Split xorb bytes into chunk payloads by their 8-byte headers (version 0, no compression)."""
    chunks, pos = [], 0
    while pos < len(data):
        header = data[pos : pos + 8]
        assert header[0] == 0 and header[4] == 0
        compressed = int.from_bytes(header[1:4], "little")
        assert compressed == int.from_bytes(header[5:8], "little")
        chunks.append(data[pos + 8 : pos + 8 + compressed])
        assert len(chunks[-1]) == compressed
        pos += 8 + compressed
    return chunks


def test_tree_lists_xet_hashes_only_for_xet_files(xhub: HubServer) -> None:
    status, _, body = _request(f"{xhub.endpoint}/api/models/{XREPO}/tree/main?recursive=true")
    entries = {e["path"]: e for e in json.loads(body) if e["type"] == "file"}
    assert status == 200
    assert entries["model.safetensors"]["xetHash"] == xhub.xet_hash(XREPO, "model.safetensors")
    assert "xetHash" not in entries["pinned.bin"] and "lfs" in entries["pinned.bin"]
    assert "xetHash" not in entries["config.json"]


def test_head_resolve_redirects_to_the_bridge_with_xet_headers(xhub: HubServer) -> None:
    info = xhub.files(XREPO)["model.safetensors"]
    status, headers, _ = _request(f"{xhub.endpoint}/{XREPO}/resolve/main/model.safetensors", "HEAD")
    assert status == 302
    assert headers["location"] == f"{xhub.cas_endpoint}/bridge/{info.xet_hash}"
    assert headers["x-xet-hash"] == info.xet_hash
    assert headers["x-linked-etag"] == f'"{info.sha256}"'
    assert headers["x-linked-size"] == str(info.size)
    assert headers["x-repo-commit"] == xhub.commit(XREPO)
    assert headers["link"] == (
        f'<{xhub.endpoint}/api/models/{XREPO}/xet-read-token/{xhub.commit(XREPO)}>; rel="xet-auth"'
    )


def test_token_route_answers_in_headers_and_json(xhub: HubServer) -> None:
    before = int(time.time())
    status, headers, body = _request(f"{xhub.endpoint}/api/models/{XREPO}/xet-read-token/main")
    data = json.loads(body)
    assert status == 200
    assert data == {
        "casUrl": headers["x-xet-cas-url"],
        "accessToken": headers["x-xet-access-token"],
        "exp": int(headers["x-xet-token-expiration"]),
    }
    assert data["casUrl"] == xhub.cas_endpoint
    assert data["accessToken"] != xhub.token
    assert before + 3000 <= data["exp"] <= int(time.time()) + 3600


def test_reconstruction_needs_a_live_token(xhub: HubServer) -> None:
    url = f"{xhub.cas_endpoint}/v2/reconstructions/{xhub.xet_hash(XREPO, 'tokenizer.model')}"
    assert _request(url)[0] == 401
    assert _request(url, headers={"Authorization": f"Bearer {xhub.token}"})[0] == 401
    with HubServer(xet_spec(), xet_token_ttl=0) as expiring:
        token = _token(expiring)
        url = f"{expiring.cas_endpoint}/v2/reconstructions/{expiring.xet_hash(XREPO, 'tokenizer.model')}"
        assert _request(url, headers={"Authorization": f"Bearer {token}"})[0] == 401


@pytest.mark.parametrize("version", ["v2", "v1"])
@pytest.mark.parametrize("span", [(0, None), (5 * MIB + 17, 9 * MIB + 3), (70 * MIB - 100, None)])
def test_any_range_rebuilds_from_the_terms_and_xorb_ranges(
    xhub: HubServer, version: str, span: tuple[int, int | None]
) -> None:
    path = "model.safetensors"
    size = xhub.files(XREPO)[path].size
    start, end = span[0], span[1] if span[1] is not None else size
    auth = {"Authorization": f"Bearer {_token(xhub)}", "Range": f"bytes={start}-{end - 1}"}
    status, _, body = _request(
        f"{xhub.cas_endpoint}/{version}/reconstructions/{xhub.xet_hash(XREPO, path)}", headers=auth
    )
    assert status == 200
    data = json.loads(body)
    fetch = data["xorbs" if version == "v2" else "fetch_info"]
    rebuilt = bytearray()
    for term in data["terms"]:
        (entry,) = fetch[term["hash"]]
        if version == "v2":
            (rng,) = entry["ranges"]
            chunk_range, byte_range = rng["chunks"], rng["bytes"]
        else:
            chunk_range, byte_range = entry["range"], entry["url_range"]
        assert chunk_range == term["range"]
        status, _, xorb = _request(
            entry["url"], headers={"Range": f"bytes={byte_range['start']}-{byte_range['end']}"}
        )
        assert status == 206 and len(xorb) == byte_range["end"] - byte_range["start"] + 1
        chunks = _parse_chunks(xorb)
        assert len(chunks) == term["range"]["end"] - term["range"]["start"]
        assert all(MIN_CHUNK // 2 <= len(c) <= MAX_CHUNK for c in chunks[:-1])
        assert sum(len(c) for c in chunks) == term["unpacked_length"]
        rebuilt += b"".join(chunks)
    offset = data["offset_into_first_range"]
    assert bytes(rebuilt[offset : offset + end - start]) == xhub.read_file(XREPO, path)[start:end]


def test_v2_can_be_switched_off_to_exercise_the_v1_fallback() -> None:
    with HubServer(xet_spec(), xet_v2=False) as hub:
        token = _token(hub)
        xet_hash = hub.xet_hash(XREPO, "tokenizer.model")
        headers = {"Authorization": f"Bearer {token}"}
        assert _request(f"{hub.cas_endpoint}/v2/reconstructions/{xet_hash}", headers=headers)[0] == 404
        assert _request(f"{hub.cas_endpoint}/v1/reconstructions/{xet_hash}", headers=headers)[0] == 200


def test_range_past_the_end_is_416_and_unknown_hash_404(xhub: HubServer) -> None:
    headers = {"Authorization": f"Bearer {_token(xhub)}", "Range": "bytes=400000-500000"}
    xet_hash = xhub.xet_hash(XREPO, "tokenizer.model")
    assert _request(f"{xhub.cas_endpoint}/v2/reconstructions/{xet_hash}", headers=headers)[0] == 416
    assert _request(f"{xhub.cas_endpoint}/v2/reconstructions/{'0' * 64}", headers=headers)[0] == 404


def test_bridge_serves_plain_bytes_with_range(xhub: HubServer) -> None:
    info = xhub.files(XREPO)["extra/adapter.bin"]
    status, headers, body = _request(
        f"{xhub.cas_endpoint}/bridge/{info.xet_hash}", headers={"Range": "bytes=1000-1999"}
    )
    assert status == 206 and headers["content-range"] == f"bytes 1000-1999/{info.size}"
    assert body == xhub.read_file(XREPO, "extra/adapter.bin")[1000:2000]
    assert _request(f"{xhub.cas_endpoint}/v1/telemetry", "POST")[0] == 200


def test_spec_and_server_switches_keep_files_on_plain_lfs() -> None:
    spec = xet_spec()
    with HubServer(spec, xet=False) as plain:
        assert not any(plain.is_xet(XREPO, p) for p in plain.files(XREPO))
        status, headers, _ = _request(f"{plain.endpoint}/{XREPO}/resolve/main/model.safetensors", "HEAD")
        assert status == 200 and "x-xet-hash" not in headers
        assert _request(f"{plain.endpoint}/api/models/{XREPO}/xet-read-token/main")[0] == 404
    with HubServer({**spec, "xet": False}) as plain, HubServer({**spec, "xet": False}, xet=True) as forced:
        assert not plain.is_xet(XREPO, "model.safetensors") and forced.is_xet(XREPO, "model.safetensors")
    with HubServer({**spec, "xet_min_size": 1 * MIB}) as sized:
        assert not sized.is_xet(XREPO, "tokenizer.model") and sized.is_xet(XREPO, "extra/adapter.bin")


@pytest.mark.parametrize(
    ("file", "message"),
    [
        ({"size": 10, "xet": "yes"}, "xet: must be true or false"),
        ({"size": 10, "lfs": False, "xet": True}, "only LFS files can be stored in Xet"),
        ({"text": "hi", "xet": True}, "only LFS files can be stored in Xet"),
    ],
)
def test_spec_rejects_bad_xet_flags(file: dict[str, Any], message: str) -> None:
    with pytest.raises(SpecError, match=message):
        load_spec({"repos": [{"id": "a/b", "branches": {"main": {"files": {"f.txt": file}}}}]})
    with pytest.raises(SpecError, match="xet_min_size: must be a non-negative integer"):
        load_spec({"xet_min_size": -1, "repos": []})


def test_identical_content_shares_one_hash_and_one_copy_in_the_store(xhub: HubServer) -> None:
    store = xhub.xet_store
    assert xhub.xet_hash(XREPO, "model.safetensors") == xhub.xet_hash("acme/xet-twin", "weights.safetensors")
    stored_bytes = sum(f.size for f in store.files.values())
    assert stored_bytes == sum(
        xhub.files(XREPO)[p].size for p in ("model.safetensors", "tokenizer.model", "extra/adapter.bin")
    )
    assert all(x.size <= MAX_XORB_BYTES for x in store.xorbs.values())


def test_a_sparse_100_gib_file_costs_no_reading_and_little_memory() -> None:
    # Building the layout and answering a reconstruction deep into the file never reads content.
    from hftui.hub.content import Content

    tracemalloc.start()
    huge = Content.generated(100 << 30, "huge")
    store = XetStore([huge])
    (stored,) = store.files.values()
    data = store.reconstruction(stored.hash, 70 << 30, (70 << 30) + MIB, lambda h: h, v2=True)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert data is not None and data["terms"]
    assert len(store.xorbs) >= (100 << 30) // MAX_XORB_BYTES
    assert peak < 64 * MIB


def test_hub_serve_names_the_cas_and_can_turn_xet_off() -> None:
    for extra, expected in (
        ([], "Xet: LFS files come from the CAS at http://127.0.0.1:"),
        (["--no-xet"], "Xet: off"),
    ):
        proc = subprocess.Popen(
            [sys.executable, "-m", "hftui", "hub-serve", "--port", "0", *extra],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        try:
            assert proc.stdout is not None
            lines = [proc.stdout.readline() for _ in range(5)]
            assert expected in lines[4], lines
        finally:
            proc.terminate()
            proc.wait(timeout=10)
