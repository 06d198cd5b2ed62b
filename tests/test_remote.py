"""HubRemote and load_listing against the local Hub server: refs, tree, search, errors, offline fallback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hubfixtures import DATASET, GATED, MODEL, SPACE, download_into, hub, small_spec  # noqa: F401
from huggingface_hub import snapshot_download

from hftui.core.hub.remote import (
    HubRemote,
    RemoteError,
    RepoRefs,
    cached_listing,
    classify_error,
    load_listing,
    resolve_ref_input,
)
from hftui.hub import Fault, HubServer


def test_refs_branches_tags_prs(hub: HubServer) -> None:  # noqa: F811
    refs = HubRemote(hub.endpoint, token=False).list_refs(MODEL, "model")
    assert {r.name for r in refs.branches} == {"main", "feature/long-context"}
    assert {r.name for r in refs.tags} == {"v1.0", "v0.9"}
    assert [r.name for r in refs.pull_requests] == ["refs/pr/1"]
    assert {r.commit for r in refs.tags if r.name == "v1.0"} == {hub.commit(MODEL)}


@pytest.mark.parametrize("revision", [None, "main", "feature/long-context", "v0.9", "refs/pr/1", "SHA"])
def test_listing_of_each_revision_kind_equals_the_server(hub: HubServer, revision: str | None) -> None:  # noqa: F811
    if revision == "SHA":
        revision = hub.commit(MODEL, "v0.9")
    listing = load_listing(HubRemote(hub.endpoint, token=False), MODEL, "model", revision, None)
    expected = hub.files(MODEL, revision or "main")
    assert listing.info.commit == hub.commit(MODEL, revision or "main")
    assert {f.path: f.size for f in listing.files} == {p: i.size for p, i in expected.items()}
    for f in listing.files:
        assert f.is_lfs == expected[f.path].lfs
        assert f.etag == (expected[f.path].sha256 if f.is_lfs else expected[f.path].git_sha1)


@pytest.mark.parametrize(("repo_id", "repo_type"), [(DATASET, "dataset"), (SPACE, "space")])
def test_other_repo_types(hub: HubServer, repo_id: str, repo_type: str) -> None:  # noqa: F811
    listing = load_listing(HubRemote(hub.endpoint, token=False), repo_id, repo_type, None, None)
    assert {f.path for f in listing.files} == set(hub.files(repo_id, "main", repo_type))


def test_search_each_type(hub: HubServer) -> None:  # noqa: F811
    remote = HubRemote(hub.endpoint, token=False)
    assert [h.repo_id for h in remote.search("bert", "model")] == [MODEL]
    assert [h.repo_id for h in remote.search("corpus", "dataset")] == [DATASET]
    assert [h.repo_id for h in remote.search("demo", "space")] == [SPACE]
    assert remote.search("no-such-thing", "model") == []


def _err(fn) -> RemoteError:  # type: ignore[no-untyped-def]
    with pytest.raises(RemoteError) as info:
        fn()
    return info.value


def test_error_classification(hub: HubServer) -> None:  # noqa: F811
    remote = HubRemote(hub.endpoint, token=False)
    err = _err(lambda: load_listing(remote, "acme/nope", "model", None, None))
    assert err.kind == "not_found" and "acme/nope" in err.message
    err = _err(lambda: load_listing(remote, MODEL, "model", "no-such-branch", None))
    assert err.kind == "revision" and "no-such-branch" in err.message
    err = _err(lambda: load_listing(remote, MODEL, "dataset", None, None))
    assert err.kind == "not_found" and "dataset" in err.message


def test_gated_repo_listing_is_public_but_files_need_access(hub: HubServer) -> None:  # noqa: F811
    anonymous = HubRemote(hub.endpoint, token=False)
    listing = load_listing(anonymous, GATED, "model", None, None)
    assert listing.info.gated
    err = _err(lambda: anonymous.check_access(GATED, "model", listing.info.commit, "config.json"))
    assert err.kind == "gated" and "HF_TOKEN" in err.message and "hf auth login" in err.message
    HubRemote(hub.endpoint, token=hub.token).check_access(GATED, "model", listing.info.commit, "config.json")
    # With a token that has no access: a different message, and never the token itself.
    bad = HubRemote(hub.endpoint, token="hf_wrongtoken123456")
    err = _err(lambda: bad.check_access(GATED, "model", listing.info.commit, "config.json"))
    assert err.kind in ("gated", "auth") and "hf_wrongtoken123456" not in err.message


def test_token_is_redacted_from_messages() -> None:
    exc = RuntimeError("boom with hf_secretsecretsecretsecretsecret1234 inside")
    msg = classify_error(exc, token="hf_secretsecretsecretsecretsecret1234").message
    assert "hf_secretsecretsecretsecretsecret1234" not in msg and "***" in msg


def test_server_error_is_retryable_then_succeeds(tmp_path: Path) -> None:
    with HubServer(small_spec()) as server:
        server.add_fault(Fault(kind="status", path_glob=f"/api/models/{MODEL}*", status=503, times=1))
        remote = HubRemote(server.endpoint, token=False)
        err = _err(lambda: load_listing(remote, MODEL, "model", None, tmp_path))
        assert err.kind == "server" and err.retryable and "503" in err.message
        assert "cached" in err.message  # says nothing is cached to fall back on
        assert load_listing(remote, MODEL, "model", None, None).files


def test_unreachable_then_cached_listing(tmp_path: Path) -> None:
    with HubServer(small_spec()) as server:
        download_into(tmp_path, server, MODEL, allow_patterns=["*.json"])
        endpoint = server.endpoint
        commit = server.commit(MODEL)
    remote = HubRemote(endpoint, token=False)  # the server is gone: connection refused
    err = _err(lambda: load_listing(remote, MODEL, "model", "v1.0", tmp_path))
    assert err.kind == "unreachable" and err.retryable and "No listing" in err.message
    listing = load_listing(remote, MODEL, "model", None, tmp_path)
    assert listing.offline and listing.info.commit == commit
    assert "Cannot reach" in (listing.notice or "") and "cached listing" in (listing.notice or "")
    assert {f.path for f in listing.files} >= {
        "config.json",
        "model.safetensors",
    }  # the whole tree, not just *.json
    assert cached_listing(tmp_path, MODEL, "model", "main") is not None
    assert cached_listing(tmp_path, MODEL, "model", "nope") is None


def test_hf_hub_offline_switch_uses_cached_listing(tmp_path: Path, hub: HubServer) -> None:  # noqa: F811
    download_into(tmp_path, hub, MODEL, allow_patterns=["config.json"])
    code = f"""
import json
from hftui.core.hub.remote import HubRemote, RemoteError, load_listing
remote = HubRemote({hub.endpoint!r}, token=False)
listing = load_listing(remote, {MODEL!r}, "model", None, {str(tmp_path)!r})
try:
    load_listing(remote, {MODEL!r}, "model", "v0.9", {str(tmp_path)!r})
    missing = None
except RemoteError as err:
    missing = [err.kind, err.message]
print(json.dumps([listing.offline, listing.notice, len(listing.files), missing, remote.search.__name__]))
"""
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    offline, notice, count, missing, _ = json.loads(out.stdout)
    assert offline and "HF_HUB_OFFLINE=1" in notice and count == len(hub.files(MODEL))
    assert missing[0] == "offline" and "No listing" in missing[1]


def test_resolve_ref_input() -> None:
    from hftui.core.hub.remote import RefInfo

    refs = RepoRefs(
        (
            RefInfo("main", "refs/heads/main", "a" * 40, "branch"),
            RefInfo("feat/x", "refs/heads/feat/x", "b" * 40, "branch"),
        ),
        (RefInfo("v1", "refs/tags/v1", "c" * 40, "tag"),),
        (RefInfo("refs/pr/3", "refs/pr/3", "d" * 40, "pr"),),
    )
    assert resolve_ref_input("feat/x", refs) == ("feat/x", "branch")
    assert resolve_ref_input("refs/tags/v1", refs) == ("v1", "tag")
    assert resolve_ref_input("#3", refs) == ("refs/pr/3", "pr")
    assert resolve_ref_input("pr/3", refs) == ("refs/pr/3", "pr")
    assert resolve_ref_input("pr/4", refs) is None
    assert resolve_ref_input("e" * 40, refs) == ("e" * 40, "commit")
    assert resolve_ref_input("ccccccc", refs) == ("c" * 40, "commit")
    assert resolve_ref_input("nope", refs) is None
    assert resolve_ref_input("abcdef1", refs) == ("abcdef1", "commit")  # the Hub resolves any short hash


def test_cached_listing_keeps_lfs_and_blob_names(tmp_path: Path) -> None:
    from hftui.core.hub.browse_local import local_index

    with HubServer(small_spec()) as server:
        download_into(tmp_path, server, MODEL, allow_patterns=["*.json"])
        download_into(
            tmp_path, server, MODEL, revision="feature/long-context", allow_patterns=["*.safetensors"]
        )
        endpoint, sha256 = server.endpoint, server.file_sha256(MODEL, "model.safetensors")
    listing = load_listing(HubRemote(endpoint, token=False), MODEL, "model", None, tmp_path)  # server gone
    assert listing.offline and listing.retryable and "cached listing" in (listing.notice or "")
    assert "Press" not in (listing.notice or "")  # the view words the key, not the core
    files = {f.path: f for f in listing.files}
    assert files["model.safetensors"].lfs_sha256 == sha256 and not files["config.json"].is_lfs
    # Its blob is cached (for the feature branch): linked, not downloaded - as online.
    local = local_index(tmp_path, MODEL, "model", listing.info.commit, listing.files)
    assert local.state("model.safetensors") == "other" and not local.will_download("model.safetensors")


def test_offline_switch_and_gated_with_a_token_say_what_to_do(hub: HubServer) -> None:  # noqa: F811
    from huggingface_hub.errors import OfflineModeIsEnabled

    offline = classify_error(OfflineModeIsEnabled("no"))
    assert not offline.retryable and "HF_HUB_OFFLINE" in offline.message and "unset" in offline.message
    bad = HubRemote(hub.endpoint, token="hf_wrongtoken123456")
    commit = hub.commit(GATED)
    err = _err(lambda: bad.check_access(GATED, "model", commit, "config.json"))
    assert "HF_TOKEN" in err.message and "hf auth login" in err.message
    assert "hf_wrongtoken123456" not in err.message


def test_no_revision_means_main_as_in_snapshot_download(tmp_path: Path) -> None:
    # The Hub's default branch may not be main; snapshot_download(revision=None) still takes main.
    spec = {"repos": [{"id": "acme/dev-default", "default_branch": "dev", "branches": {
        "main": {"files": {"main.txt": "m"}}, "dev": {"files": {"dev.txt": "d"}}}}]}  # fmt: skip
    with HubServer(spec) as server:
        listing = load_listing(
            HubRemote(server.endpoint, token=False), "acme/dev-default", "model", None, None
        )
        folder = snapshot_download(
            "acme/dev-default", endpoint=server.endpoint, cache_dir=tmp_path, token=False
        )
    assert [f.path for f in listing.files] == ["main.txt"] == os.listdir(folder)
