"""Faults and bad input on the Xet path, met by the real hf_xet client (in a subprocess with short retries).

Each scenario gets its own file (own content, so its own Xet hash and xorb URLs) and its faults are
scoped to that file's CAS paths, so one client run covers them all. The error texts asserted here
are what hf_xet 1.8 raises; the download engine classifies them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from huggingface_hub import hf_hub_download
from huggingface_hub.errors import HfHubHTTPError
from xetfixtures import FAST_FAIL_ENV, MIB, download_each_in_subprocess, sha256_file

from hftui.hub import Fault, HubServer

REPO = "acme/xet-faults"

# scenario -> (how to break it, expected outcome: None = the download succeeds, else a substring of the error)
SCENARIOS: dict[str, tuple[dict[str, Any], str | None]] = {
    "ok": ({}, None),
    "xorb_503": (
        {"fault": ("xorbs", "status", {"status": 503})},
        "HTTP status server error (503 Service Unavailable)",
    ),
    "xorb_429": (
        {"fault": ("xorbs", "status", {"status": 429})},
        "HTTP status client error (429 Too Many Requests)",
    ),
    "reconstruction_500": (
        {"fault": ("reconstructions", "status", {"status": 500})},
        "HTTP status server error (500 Internal Server Error)",
    ),
    "reset_once": ({"fault": ("xorbs", "reset_after", {"after_bytes": 500_000, "times": 1})}, None),
    "close_once": ({"fault": ("xorbs", "close_after", {"after_bytes": 500_000, "times": 1})}, None),
    "reset_always": (
        {"fault": ("xorbs", "reset_after", {"after_bytes": 500_000})},
        "error decoding response body",
    ),
    "close_always": (
        {"fault": ("xorbs", "close_after", {"after_bytes": 500_000})},
        "error decoding response body",
    ),
    "stall_always": (
        {"fault": ("xorbs", "stall", {"after_bytes": 500_000, "stall_seconds": 4.0})},
        "error decoding response body",
    ),
    "unknown_hash": ({"bad": "unknown_hash"}, "HTTP status client error (404 Not Found)"),
    "xorb_404": ({"bad": "xorb_404"}, "HTTP status client error (404 Not Found)"),
    "truncated_xorb": ({"bad": "truncated_xorb"}, "unexpected end of file"),
    "malformed_xorb": ({"bad": "malformed_xorb"}, "Malformed data: chunk header version too high"),
    "size_mismatch": ({"bad": "size_mismatch"}, "File size mismatch: expected 3145728 bytes but downloaded"),
}


def _spec() -> dict[str, Any]:
    files = {f"{name}.bin": {"size": 3 * MIB, "seed": f"fault-{name}"} for name in SCENARIOS}
    return {"repos": [{"id": REPO, "branches": {"main": {"files": files}}}]}


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[HubServer, dict[str, Any], Path]]:
    cache = tmp_path_factory.mktemp("xet-faults-cache")
    with HubServer(_spec()) as hub:
        for name, (breakage, _) in SCENARIOS.items():
            xet_hash = hub.xet_hash(REPO, f"{name}.bin")
            if "bad" in breakage:
                hub.break_xet(REPO, f"{name}.bin", breakage["bad"])
            if "fault" in breakage:
                where, kind, extra = breakage["fault"]
                glob = f"/xorbs/{xet_hash}/*" if where == "xorbs" else f"/v*/reconstructions/{xet_hash}"
                extra = {"times": None, **extra}
                hub.add_fault(Fault(kind, path_glob=glob, server="cas", **extra))
        results = download_each_in_subprocess(
            hub, REPO, [f"{name}.bin" for name in SCENARIOS], cache, env=FAST_FAIL_ENV
        )
        yield hub, results, cache


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_each_fault_gives_the_client_a_result_or_a_specific_error(
    outcomes: tuple[HubServer, dict[str, Any], Path], name: str
) -> None:
    hub, results, cache = outcomes
    result = results[f"{name}.bin"]
    expected = SCENARIOS[name][1]
    sha = hub.file_sha256(REPO, f"{name}.bin")
    blob = cache / f"models--{REPO.replace('/', '--')}" / "blobs" / sha
    if expected is None:
        assert "path" in result, result
        assert sha256_file(result["path"]) == sha
    else:
        assert expected in result.get("error", ""), result
        assert result["error"].startswith("RuntimeError: Task error:"), result
        assert not blob.exists()
    xorb_gets = [
        r
        for r in hub.requests
        if r.server == "cas" and r.path.startswith(f"/xorbs/{hub.xet_hash(REPO, f'{name}.bin')}/")
    ]
    if name.endswith("_once"):
        assert len(xorb_gets) >= 2  # the cut response, then the retry that completed the file


def test_unknown_hash_falls_back_from_v2_to_v1_before_failing(
    outcomes: tuple[HubServer, dict[str, Any], Path],
) -> None:
    hub, _, _ = outcomes
    advertised = hub.xet_hash(REPO, "unknown_hash.bin")
    seen = [(r.path, r.status) for r in hub.requests if r.server == "cas" and advertised in r.path]
    assert seen == [(f"/v2/reconstructions/{advertised}", 404), (f"/v1/reconstructions/{advertised}", 404)]


def _xet_server(**kwargs: Any) -> HubServer:
    files = {"a.bin": {"size": 2 * MIB, "seed": "tok-a"}, "b.bin": {"size": 2 * MIB, "seed": "tok-b"}}
    return HubServer({"repos": [{"id": REPO, "branches": {"main": {"files": files}}}]}, **kwargs)


@pytest.mark.parametrize("status", [401, 403])
def test_token_route_refusing_fails_the_file_with_the_hub_error(tmp_path: Path, status: int) -> None:
    with _xet_server() as hub:
        hub.add_fault(
            Fault("status", path_glob="/api/*/xet-read-token/*", times=None, status=status, server="hub")
        )
        with pytest.raises(HfHubHTTPError) as caught:
            hf_hub_download(REPO, "a.bin", endpoint=hub.endpoint, cache_dir=tmp_path, token=False)
        assert caught.value.response is not None and caught.value.response.status_code == status
        assert hub.bytes_sent("*", server="cas") == 0


def test_short_lived_tokens_are_refreshed_by_hf_xet(tmp_path: Path) -> None:
    # hf_xet refreshes a token 30 s before its `exp`; a 5 s token is refreshed before each use.
    with _xet_server(xet_token_ttl=5) as hub:
        path = hf_hub_download(REPO, "a.bin", endpoint=hub.endpoint, cache_dir=tmp_path, token=False)
        assert sha256_file(path) == hub.file_sha256(REPO, "a.bin")
        token_calls = [r for r in hub.requests if "/xet-read-token/" in r.path]
        cas_tokens = {r.headers.get("authorization") for r in hub.requests if "/reconstructions/" in r.path}
        assert len(token_calls) >= 2  # huggingface_hub's, then hf_xet's own refresh (JSON body)
        assert all(r.status == 200 for r in hub.requests if "/reconstructions/" in r.path)
        assert None not in cas_tokens


def test_a_revoked_token_gets_401_from_the_cas(tmp_path: Path) -> None:
    # huggingface_hub caches the token it fetched for a.bin; once the server expires it early,
    # b.bin's reconstruction is refused and hf_xet does not refresh on a 401.
    with _xet_server() as hub:
        hf_hub_download(REPO, "a.bin", endpoint=hub.endpoint, cache_dir=tmp_path, token=False)
        hub.expire_xet_tokens()
        with pytest.raises(RuntimeError, match=r"HTTP status client error \(401 Unauthorized\)"):
            hf_hub_download(REPO, "b.bin", endpoint=hub.endpoint, cache_dir=tmp_path, token=False)
        assert [r.status for r in hub.requests if "/reconstructions/" in r.path][-1] == 401
