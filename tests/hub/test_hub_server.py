"""The local Hub driven by huggingface_hub's real code paths (plus a few raw HTTP checks of the wire format)."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest
from hubfixtures import BIG, DATASET, GATED, MODEL, SPACE, download_into, hub_server, small_spec  # noqa: F401
from huggingface_hub import HfApi, hf_hub_download, snapshot_download
from huggingface_hub.errors import (
    GatedRepoError,
    HfHubHTTPError,
    RemoteEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from hftui.hub import HubServer


def _sha256(path: Path | str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _snapshot_files(snapshot: Path | str) -> dict[str, str]:
    root = Path(snapshot)
    return {p.relative_to(root).as_posix(): _sha256(p) for p in root.rglob("*") if p.is_file()}


def _raw(
    hub: HubServer, method: str, path: str, headers: dict[str, str] | None = None
) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", hub.port, timeout=5)
    conn.request(method, path, headers=headers or {})
    response = conn.getresponse()
    response.read()
    conn.close()
    return response


def test_snapshot_download_matches_server(hub: HubServer, tmp_path: Path) -> None:
    snapshot = Path(download_into(tmp_path, hub, MODEL))
    files = hub.files(MODEL)
    assert snapshot.name == hub.commit(MODEL)
    assert _snapshot_files(snapshot) == {path: info.sha256 for path, info in files.items()}
    blobs = {p.name for p in (tmp_path / "models--acme--bert-mini" / "blobs").iterdir()}
    # Blob names are the ETags: SHA-256 for LFS files, the git blob id otherwise.
    assert blobs == {info.sha256 if info.lfs else info.git_sha1 for info in files.values()}
    assert (tmp_path / "models--acme--bert-mini" / "refs" / "main").read_text() == hub.commit(MODEL)


def test_allow_and_ignore_patterns(hub: HubServer, tmp_path: Path) -> None:
    only_onnx = download_into(tmp_path / "a", hub, MODEL, allow_patterns=["onnx/*"])
    assert set(_snapshot_files(only_onnx)) == {"onnx/model.onnx", "onnx/extra/quantized.onnx"}
    no_weights = download_into(tmp_path / "b", hub, MODEL, ignore_patterns=["*.safetensors", "*.onnx"])
    assert set(_snapshot_files(no_weights)) == {"config.json", "README.md", "tokenizer.json"}


@pytest.mark.parametrize(
    "kind", ["branch", "branch-with-slash", "tag", "old-tag", "pr", "full-sha", "short-sha"]
)
def test_every_revision_kind(hub: HubServer, tmp_path: Path, kind: str) -> None:
    revision = {
        "branch": "main",
        "branch-with-slash": "feature/long-context",
        "tag": "v1.0",
        "old-tag": "v0.9",
        "pr": "refs/pr/1",
        "full-sha": hub.commit(MODEL, "v0.9"),
        "short-sha": hub.commit(MODEL, "refs/pr/1")[:8],
    }[kind]
    snapshot = Path(download_into(tmp_path, hub, MODEL, revision=revision))
    assert snapshot.name == hub.commit(MODEL, revision)
    expected = {path: info.sha256 for path, info in hub.files(MODEL, revision).items()}
    assert _snapshot_files(snapshot) == expected


def test_dataset_and_space(hub: HubServer, tmp_path: Path) -> None:
    dataset = download_into(tmp_path, hub, DATASET, repo_type="dataset")
    assert _snapshot_files(dataset) == {
        p: i.sha256 for p, i in hub.files(DATASET, repo_type="dataset").items()
    }
    assert Path(dataset).parts[-3] == "datasets--acme--tiny-corpus"
    space = download_into(tmp_path, hub, SPACE, repo_type="space")
    assert _snapshot_files(space) == {p: i.sha256 for p, i in hub.files(SPACE, repo_type="space").items()}


def test_local_dir(hub: HubServer, tmp_path: Path) -> None:
    target = tmp_path / "out"
    path = snapshot_download(MODEL, endpoint=hub.endpoint, local_dir=target, token=False)
    assert Path(path) == target
    files = {p: h for p, h in _snapshot_files(target).items() if not p.startswith(".cache/")}
    assert files == {p: i.sha256 for p, i in hub.files(MODEL).items()}
    assert (target / ".cache" / "huggingface").is_dir()


def test_dry_run_reports_sizes_and_what_would_download(hub: HubServer, tmp_path: Path) -> None:
    download_into(tmp_path, hub, MODEL, allow_patterns=["config.json"])
    plan = download_into(tmp_path, hub, MODEL, dry_run=True)
    files = hub.files(MODEL)
    assert {item.filename: item.file_size for item in plan} == {p: i.size for p, i in files.items()}
    assert {item.filename for item in plan if not item.will_download} == {"config.json"}
    assert not (tmp_path / "models--acme--bert-mini" / "blobs" / files["model.safetensors"].sha256).exists()


def test_hf_hub_download_head_then_get(hub: HubServer, tmp_path: Path) -> None:
    hub.clear_requests()
    path = hf_hub_download(MODEL, "onnx/model.onnx", endpoint=hub.endpoint, cache_dir=tmp_path, token=False)
    assert _sha256(path) == hub.file_sha256(MODEL, "onnx/model.onnx")
    resolves = [(r.method, r.path) for r in hub.requests if "/resolve/" in r.path]
    url = "/acme/bert-mini/resolve/main/onnx/model.onnx"
    assert resolves == [("HEAD", url), ("GET", url)]
    hub.clear_requests()
    hf_hub_download(MODEL, "onnx/model.onnx", endpoint=hub.endpoint, cache_dir=tmp_path, token=False)
    assert [r.method for r in hub.requests if "/resolve/" in r.path] == ["HEAD"]


def test_typed_errors(hub: HubServer, tmp_path: Path) -> None:
    with pytest.raises(RepositoryNotFoundError):
        download_into(tmp_path, hub, "acme/does-not-exist")
    with pytest.raises(RevisionNotFoundError):
        download_into(tmp_path, hub, MODEL, revision="no-such-branch")
    with pytest.raises(RemoteEntryNotFoundError):
        hf_hub_download(MODEL, "missing.txt", endpoint=hub.endpoint, cache_dir=tmp_path, token=False)
    # EntryNotFound carries X-Repo-Commit, so the client caches the absence.
    assert (tmp_path / "models--acme--bert-mini" / ".no_exist" / hub.commit(MODEL) / "missing.txt").exists()
    with pytest.raises(RepositoryNotFoundError):
        download_into(tmp_path, hub, DATASET)  # right id, wrong type


def test_gated_repo_needs_the_token(hub: HubServer, tmp_path: Path) -> None:
    with pytest.raises(GatedRepoError):
        download_into(tmp_path, hub, GATED)
    with pytest.raises(GatedRepoError):
        hf_hub_download(GATED, "config.json", endpoint=hub.endpoint, cache_dir=tmp_path, token="hf_wrong")
    snapshot = download_into(tmp_path, hub, GATED, token=hub.token)
    assert _snapshot_files(snapshot) == {p: i.sha256 for p, i in hub.files(GATED).items()}


def test_tree_pagination_of_2500_files(tmp_path: Path) -> None:
    files = {f"dir{i % 5}/file{i:04d}.txt": str(i) for i in range(2500)}
    spec = {"repos": [{"id": "acme/many", "branches": {"main": {"files": files}}}]}
    with HubServer(spec) as server:
        api = HfApi(endpoint=server.endpoint, token=False)
        entries = list(api.list_repo_tree("acme/many", recursive=True))
        assert sorted(e.path for e in entries if hasattr(e, "size")) == sorted(files)
        assert {e.path for e in entries if not hasattr(e, "size")} == {f"dir{i}" for i in range(5)}
        pages = [r for r in server.requests if "/tree/" in r.path]
        assert len(pages) == 3 and all(r.status == 200 for r in pages)
        top = list(api.list_repo_tree("acme/many"))
        assert [e.path for e in top] == [f"dir{i}" for i in range(5)]
        sub = list(api.list_repo_tree("acme/many", path_in_repo="dir3"))
        assert len(sub) == 500 and all(e.path.startswith("dir3/") for e in sub)
        snapshot = snapshot_download(
            "acme/many",
            endpoint=server.endpoint,
            cache_dir=tmp_path,
            token=False,
            allow_patterns=["dir0/file000*"],
        )
        assert sorted(_snapshot_files(snapshot)) == ["dir0/file0000.txt", "dir0/file0005.txt"]


def test_refs_commits_and_paths_info(hub: HubServer) -> None:
    api = HfApi(endpoint=hub.endpoint, token=False)
    refs = api.list_repo_refs(MODEL, include_pull_requests=True)
    assert {b.name: b.target_commit for b in refs.branches} == {
        "main": hub.commit(MODEL),
        "feature/long-context": hub.commit(MODEL, "feature/long-context"),
    }
    assert {t.name: t.target_commit for t in refs.tags} == {
        "v1.0": hub.commit(MODEL),
        "v0.9": hub.commit(MODEL, "v0.9"),
    }
    assert [(p.ref, p.target_commit) for p in refs.pull_requests or []] == [
        ("refs/pr/1", hub.commit(MODEL, "refs/pr/1"))
    ]
    assert refs.converts == []
    commits = api.list_repo_commits(MODEL)
    assert [c.commit_id for c in commits] == [hub.commit(MODEL), hub.commit(MODEL, "v0.9")]
    info = api.get_paths_info(MODEL, ["config.json", "onnx", "model.safetensors", "absent"], revision="v1.0")
    by_path = {entry.path: entry for entry in info}
    assert set(by_path) == {"config.json", "onnx", "model.safetensors"}
    weights = hub.files(MODEL)["model.safetensors"]
    lfs = by_path["model.safetensors"].lfs  # type: ignore[union-attr]
    assert lfs is not None and lfs.sha256 == weights.sha256 and lfs.size == weights.size


def test_repo_info_and_search(hub: HubServer) -> None:
    api = HfApi(endpoint=hub.endpoint, token=False)
    info = api.model_info(MODEL, files_metadata=True)
    assert info.sha == hub.commit(MODEL) and info.downloads == 1234 and info.pipeline_tag == "fill-mask"
    assert info.last_modified is not None and info.siblings is not None
    sizes = {s.rfilename: s.size for s in info.siblings}
    assert sizes == {p: i.size for p, i in hub.files(MODEL).items()}
    assert api.model_info(MODEL, revision="refs/pr/1").sha == hub.commit(MODEL, "refs/pr/1")
    assert api.repo_exists(GATED) and not api.repo_exists("acme/nope")
    assert [m.id for m in api.list_models(search="bert")] == [MODEL]
    assert sorted(m.id for m in api.list_models(author="acme")) == sorted([BIG, GATED, MODEL])
    assert len(list(api.list_models(author="acme", limit=2))) == 2
    assert [d.id for d in api.list_datasets(search="corpus")] == [DATASET]
    assert [s.id for s in api.list_spaces(search="demo")] == [SPACE]


def test_search_paginates_with_link(tmp_path: Path) -> None:
    spec = {"repos": [{"id": f"org/m{i}", "branches": {"main": {"files": {"a": "b"}}}} for i in range(7)]}
    with HubServer(spec, page_size=3) as server:
        models = list(HfApi(endpoint=server.endpoint, token=False).list_models(search="org/m"))
        assert sorted(m.id for m in models) == [f"org/m{i}" for i in range(7)]
        assert len([r for r in server.requests if r.path == "/api/models"]) == 3


def test_wire_format_ranges_and_headers(hub: HubServer) -> None:
    info = hub.files(BIG)["big.bin"]
    url = f"/{BIG}/resolve/main/big.bin"
    head = _raw(hub, "HEAD", url, {"Accept-Encoding": "gzip"})
    assert head.status == 200 and head.getheader("Content-Length") == str(info.size)
    assert (
        head.getheader("ETag") == f'"{info.sha256}"' and head.getheader("X-Linked-Etag") == f'"{info.sha256}"'
    )
    assert head.getheader("X-Linked-Size") == str(info.size) and head.getheader(
        "X-Repo-Commit"
    ) == hub.commit(BIG)
    assert head.getheader("Content-Encoding") is None and head.getheader("Accept-Ranges") == "bytes"
    assert not any(name.lower().startswith("x-xet") for name, _ in head.getheaders())

    conn = http.client.HTTPConnection("127.0.0.1", hub.port, timeout=5)
    conn.request("GET", url, headers={"Range": "bytes=100-199"})
    part = conn.getresponse()
    assert part.status == 206 and part.getheader("Content-Range") == f"bytes 100-199/{info.size}"
    assert part.read() == hub.read_file(BIG, "big.bin")[100:200]
    # Same connection: keep-alive must survive a ranged body.
    conn.request("GET", url, headers={"Range": f"bytes={info.size - 10}-"})
    tail = conn.getresponse()
    assert tail.status == 206 and tail.read() == hub.read_file(BIG, "big.bin")[-10:]
    conn.close()
    bad = _raw(hub, "GET", url, {"Range": f"bytes={info.size}-"})
    assert bad.status == 416 and bad.getheader("Content-Range") == f"bytes */{info.size}"

    pr = _raw(hub, "GET", f"/api/models/{MODEL}/revision/{quote('refs/pr/1', safe='')}")
    assert pr.status == 200
    missing = _raw(hub, "HEAD", f"/{MODEL}/resolve/main/absent.txt")
    assert missing.status == 404 and missing.getheader("X-Error-Code") == "EntryNotFound"
    assert missing.getheader("X-Repo-Commit") == hub.commit(MODEL)
    gone = _raw(hub, "GET", "/api/models/acme/nope")
    assert gone.status == 404 and gone.getheader("X-Error-Code") == "RepoNotFound"


def test_tree_link_is_absolute(tmp_path: Path) -> None:
    spec = {"repos": [{"id": "acme/few", "branches": {"main": {"files": {f"f{i}": "x" for i in range(3)}}}}]}
    with HubServer(spec, page_size=2) as server:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        conn.request("GET", "/api/models/acme/few/tree/main?recursive=true&expand=false")
        response = conn.getresponse()
        assert len(json.loads(response.read())) == 2
        link = response.getheader("Link") or ""
        next_url = link[link.index("<") + 1 : link.index(">")]
        assert urlsplit(next_url).netloc == f"127.0.0.1:{server.port}" and link.endswith('rel="next"')
        conn.request("GET", next_url)
        last = conn.getresponse()
        assert [e["path"] for e in json.loads(last.read())] == ["f2"] and last.getheader("Link") is None
        conn.close()


def test_unknown_paths_and_bad_methods_are_typed_404s(hub: HubServer) -> None:
    for method, path in [
        ("GET", "/nothing"),
        ("POST", f"/api/models/{MODEL}"),
        ("GET", "/api/agent-harnesses"),
    ]:
        response = _raw(hub, method, path)
        assert response.status == 404, path
    with pytest.raises(HfHubHTTPError):
        next(iter(HfApi(endpoint=hub.endpoint, token=False).list_repo_tree(MODEL, path_in_repo="absent")))


def test_no_real_endpoint_is_used() -> None:
    assert os.environ["HF_ENDPOINT"] == "http://127.0.0.1:9"


def test_odd_paths_and_empty_files(tmp_path: Path) -> None:
    files = {"dir with space/ünï#?.txt": "odd", "empty.txt": "", "a%20b.txt": "literal percent"}
    spec = {"repos": [{"id": "acme/odd", "branches": {"main": {"files": files}}, "tags": {"t": "main"}}]}
    with HubServer(spec) as server:
        snapshot = snapshot_download("acme/odd", endpoint=server.endpoint, cache_dir=tmp_path, token=False)
        assert {p: Path(snapshot, p).read_text() for p in files} == files
        api = HfApi(endpoint=server.endpoint, token=False)
        assert {e.path for e in api.list_repo_tree("acme/odd", path_in_repo="dir with space")} == {
            "dir with space/ünï#?.txt"
        }


def test_lfs_redirect_mode(tmp_path: Path) -> None:
    with HubServer(small_spec(), lfs_redirect=True) as server:
        path = hf_hub_download(
            MODEL, "onnx/model.onnx", endpoint=server.endpoint, cache_dir=tmp_path, token=False
        )
        assert _sha256(path) == server.file_sha256(MODEL, "onnx/model.onnx")
        commit = server.commit(MODEL)
        seen = [(r.method, r.status, r.query) for r in server.requests if "/resolve/" in r.path]
        assert seen == [("HEAD", 302, ""), ("HEAD", 200, "cdn=1"), ("GET", 200, "cdn=1")]
        assert all(commit in r.path for r in server.requests if r.query == "cdn=1")
        snapshot = snapshot_download(MODEL, endpoint=server.endpoint, cache_dir=tmp_path, token=False)
        assert _snapshot_files(snapshot) == {p: i.sha256 for p, i in server.files(MODEL).items()}
        plain = _raw(server, "HEAD", f"/{MODEL}/resolve/main/config.json")
        assert plain.status == 200  # git files are served directly
