"""`hftui hub-serve` as a real subprocess, the demo session's cache, and import hygiene of `hftui.hub`."""

from __future__ import annotations

import http.client
import json
import os
import re
import subprocess
import sys
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

from hubfixtures import MODEL, small_spec
from huggingface_hub import scan_cache_dir

from hftui.hub.demo import (
    COMPLETE_REPO,
    DETACHED_REPO,
    INCOMPLETE_BYTES,
    INCOMPLETE_FILE,
    PARTIAL_REPO,
    demo_session,
    demo_spec,
)
from hftui.hub.spec import load_spec


def _hftui(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "hftui", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def test_hub_serve_answers_http(tmp_path: Path) -> None:
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(json.dumps(small_spec()))
    proc = _hftui("hub-serve", "--spec", str(spec_file), "--port", "0", "--lfs-redirect")
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:\d+", first)
        assert match, first
        with urllib.request.urlopen(f"{match[0]}/api/models/{MODEL}/revision/main", timeout=5) as response:
            data = json.loads(response.read())
        assert data["id"] == MODEL and len(data["sha"]) == 40
        conn = http.client.HTTPConnection(urlsplit(match[0]).netloc, timeout=5)
        conn.request("HEAD", f"/{MODEL}/resolve/main/model.safetensors")
        assert conn.getresponse().status == 302
        conn.close()
        rest = "".join(proc.stdout.readline() for _ in range(3))
        assert f"HF_ENDPOINT={match[0]}" in rest
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_hub_serve_rejects_a_bad_spec_in_one_line(tmp_path: Path) -> None:
    spec = small_spec()
    spec["repos"][0]["branches"]["main"]["files"]["x"] = {"size": -1}
    spec_file = tmp_path / "bad.json"
    spec_file.write_text(json.dumps(spec))
    errors = []
    for args in (["--spec", str(spec_file)], ["--spec", str(tmp_path / "missing.toml")]):
        proc = _hftui("hub-serve", *args)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 2, err
        assert out == "" and len(err.strip().splitlines()) == 1 and "Traceback" not in err
        assert err.startswith("hftui: error: ")
        errors.append(err)
    assert "repos[0].branches.main.files['x'].size: must be a non-negative integer" in errors[0]
    assert "missing.toml: cannot read spec" in errors[1]


def test_demo_session_builds_a_real_cache_and_cleans_up() -> None:
    with demo_session() as demo:
        cache = demo.cache_dir
        assert demo.endpoint == demo.hub.endpoint and demo.token == demo.hub.token
        assert os.environ["HF_ENDPOINT"] == demo.endpoint
        info = scan_cache_dir(cache)
        assert info.warnings == []
        repos = {repo.repo_id: repo for repo in info.repos}
        assert set(repos) == {COMPLETE_REPO, PARTIAL_REPO, DETACHED_REPO}
        hub = demo.hub

        def snapshot_files(repo_id: str) -> dict[str, set[str]]:
            return {
                rev.commit_hash: {f.file_path.relative_to(rev.snapshot_path).as_posix() for f in rev.files}
                for rev in repos[repo_id].revisions
            }

        # Complete: every file of main, and the tree listing the client cached agrees.
        assert snapshot_files(COMPLETE_REPO) == {hub.commit(COMPLETE_REPO): set(hub.files(COMPLETE_REPO))}
        # Partial: the cached tree lists files the snapshot lacks.
        partial_commit = hub.commit(PARTIAL_REPO)
        tree_file = cache / "models--demo-org--llama-mini-sharded" / "trees" / f"{partial_commit}.json"
        listed = set(json.loads(tree_file.read_text())["files"])
        have = snapshot_files(PARTIAL_REPO)[partial_commit]
        assert have < listed == set(hub.files(PARTIAL_REPO)) and INCOMPLETE_FILE not in have
        # Detached: two revisions, only one of them named by a ref.
        detached = {rev.commit_hash: rev.refs for rev in repos[DETACHED_REPO].revisions}
        assert len(detached) == 2 and detached[hub.commit(DETACHED_REPO)] == {"main"}
        assert [refs for sha, refs in detached.items() if sha != hub.commit(DETACHED_REPO)] == [frozenset()]
        # Debris of a killed download.
        incomplete = list((cache / "models--demo-org--llama-mini-sharded" / "blobs").glob("*.incomplete"))
        assert len(incomplete) == 1 and incomplete[0].stat().st_size == INCOMPLETE_BYTES
        assert incomplete[0].name.startswith(hub.file_sha256(PARTIAL_REPO, INCOMPLETE_FILE))
        assert (cache / ".locks" / "models--demo-org--llama-mini-sharded").is_dir()
    assert not cache.exists()
    assert os.environ["HF_ENDPOINT"] == "http://127.0.0.1:9"


def test_demo_spec_is_valid_and_realistic() -> None:
    spec = load_spec(demo_spec())
    kinds = {repo.type for repo in spec.repos.values()}
    assert kinds == {"model", "dataset", "space"}
    assert any(repo.gated for repo in spec.repos.values())
    gguf = next(r for r in spec.repos.values() if r.id.endswith("-GGUF"))
    assert sorted(p.rsplit("-", 1)[1] for p in gguf.head.files if p.endswith(".gguf")) == [
        "Q2_K.gguf",
        "Q4_K_M.gguf",
        "Q5_K_M.gguf",
        "Q8_0.gguf",
    ]
    total = sum(f.size for repo in spec.repos.values() for c in repo.commits() for f in c.files.values())
    assert total < 600 * 1024 * 1024


def test_hub_package_imports_neither_huggingface_hub_nor_textual() -> None:
    code = (
        "import sys, hftui.hub, hftui.hub.demo, hftui.commands.hub_serve; "
        "print(sorted(m for m in ('huggingface_hub', 'textual') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
