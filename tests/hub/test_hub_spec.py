"""Spec parsing and validation, content generation and hashing: no server, no network."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from hubfixtures import MODEL, small_spec

from hftui.hub import SpecError, load_spec
from hftui.hub.content import BLOCK_SIZE, Content
from hftui.hub.spec import FileEntry


def _git_blob(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def test_commit_ids_derive_from_content_and_parent() -> None:
    spec = load_spec(small_spec())
    repo = spec.repo(MODEL)
    assert repo is not None
    main, old = repo.branches["main"], repo.history["main"][0]
    assert main.parent is old and old.parent is None
    assert len({main.sha, old.sha, repo.prs["1"].sha, repo.branches["feature/long-context"].sha}) == 4
    assert repo.tags["v1.0"] is main and repo.tags["v0.9"] is old
    # Same spec, same ids; one changed byte, different ids.
    assert load_spec(small_spec()).repo(MODEL).branches["main"].sha == main.sha  # type: ignore[union-attr]
    changed = small_spec()
    changed["repos"][0]["branches"]["main"]["files"]["config.json"] = '{"hidden_size": 129}'
    assert load_spec(changed).repo(MODEL).branches["main"].sha != main.sha  # type: ignore[union-attr]


def test_from_and_remove_build_the_branch_file_set() -> None:
    repo = load_spec(small_spec()).repo(MODEL)
    assert repo is not None
    main, feature = repo.branches["main"], repo.branches["feature/long-context"]
    assert set(feature.files) == (set(main.files) - {"onnx/model.onnx"}) | {"extra.txt"}
    assert feature.parent is main
    assert repo.prs["1"].files["README.md"].content.read() == b"pr text"


def test_resolve_accepts_every_revision_kind() -> None:
    repo = load_spec(small_spec()).repo(MODEL)
    assert repo is not None
    main = repo.branches["main"]
    for rev in ("main", "refs/heads/main", "v1.0", "refs/tags/v1.0", main.sha, main.sha[:7]):
        assert repo.resolve(rev) is main, rev
    assert repo.resolve("refs/pr/1") is repo.prs["1"]
    assert repo.resolve("feature/long-context") is repo.branches["feature/long-context"]
    assert repo.resolve("nope") is None
    assert repo.resolve("0" * 40) is None


def test_lfs_defaults_and_hashes() -> None:
    repo = load_spec(small_spec()).repo(MODEL)
    assert repo is not None
    files = repo.branches["main"].files
    assert files["model.safetensors"].lfs and files["onnx/model.onnx"].lfs
    assert not files["config.json"].lfs and not files["tokenizer.json"].lfs
    config = files["config.json"]
    assert config.oid() == config.etag() == _git_blob(b'{"hidden_size": 128}')
    weights = files["model.safetensors"]
    data = weights.content.read()
    assert len(data) == 300_000 and weights.sha256() == hashlib.sha256(data).hexdigest()
    pointer = (
        f"version https://git-lfs.github.com/spec/v1\noid sha256:{weights.sha256()}\nsize 300000\n".encode()
    )
    assert weights.oid() == _git_blob(pointer) and weights.etag() == weights.sha256()


def test_generated_content_ranges_are_consistent() -> None:
    content = Content.generated(3 * 1024 * 1024 + 17, "seed-a")
    whole = content.read()
    assert len(whole) == content.size
    for start, end in [
        (0, 10),
        (BLOCK_SIZE - 3, BLOCK_SIZE + 5),
        (1024 * 1024 - 1, 2 * 1024 * 1024 + 9),
        (content.size - 4, None),
    ]:
        assert content.read(start, end) == whole[start:end]
    # The block length is prime, so data at a 1 MiB offset differs from the start: a server that
    # ignored Range would be caught by the SHA-256 check.
    assert whole[1024 * 1024 : 1024 * 1024 + 64] != whole[:64]
    assert Content.generated(100, "seed-b").read() != Content.generated(100, "seed-a").read()
    assert content.sha256() == hashlib.sha256(whole).hexdigest()
    assert content.blob_sha1() == _git_blob(whole)


def test_load_spec_from_json_and_toml(tmp_path: Path) -> None:
    json_file = tmp_path / "spec.json"
    json_file.write_text(json.dumps(small_spec()))
    assert load_spec(json_file).repo(MODEL) is not None
    toml_file = tmp_path / "spec.toml"
    toml_file.write_text(
        'token = "t"\n[[repos]]\nid = "a/b"\n[repos.branches.main.files]\n"x.txt" = "hi"\n'
        '"w.bin" = { size = 2048, seed = "w" }\n'
    )
    spec = load_spec(str(toml_file))
    repo = spec.repo("a/b")
    assert spec.token == "t" and repo is not None
    assert isinstance(repo.head.files["w.bin"], FileEntry) and repo.head.files["w.bin"].lfs


def _break(mutate: Any) -> dict[str, Any]:
    spec = copy.deepcopy(small_spec())
    mutate(spec)
    return spec


BAD_SPECS = [
    (lambda s: s.update(repos={}), "repos: must be a list"),
    (lambda s: s.update(extra=1), "spec.extra: unknown field"),
    (lambda s: s["repos"][0].update(id="no-slash"), "repos[0].id: 'no-slash' must look like 'org/name'"),
    (
        lambda s: s["repos"][0].update(id="acme/a--b"),
        "repos[0].id: 'acme/a--b' must not contain '--' or '..'",
    ),
    (lambda s: s["repos"][1].update(type="dataframe"), "repos[1].type: must be one of"),
    (
        lambda s: s["repos"][0]["branches"]["main"]["files"].update(x={"size": -1}),
        "repos[0].branches.main.files['x'].size: must be a non-negative integer",
    ),
    (
        lambda s: s["repos"][0]["branches"]["main"]["files"].update(x={"size": 1, "colour": "red"}),
        "repos[0].branches.main.files['x'].colour: unknown field",
    ),
    (
        lambda s: s["repos"][0]["branches"]["main"]["files"].update({"../x": "a"}),
        "repos[0].branches.main.files['../x']: '../x' must be a relative path",
    ),
    (
        lambda s: s["repos"][0]["branches"]["feature/long-context"].update({"from": "dev"}),
        "repos[0].branches['feature/long-context'].from: no branch named 'dev'",
    ),
    (
        lambda s: s["repos"][0]["branches"]["feature/long-context"].update(remove=["nope.txt"]),
        "repos[0].branches['feature/long-context'].remove[0]: 'nope.txt' is not in the commit's files",
    ),
    (lambda s: s["repos"][0]["tags"].update(v2="main~5"), "repos[0].tags.v2: 'main~5' goes back 5 commits"),
    (lambda s: s["repos"][0]["tags"].update(v2="refs/pr/9"), "repos[0].tags.v2: no pull request 'refs/pr/9'"),
    (lambda s: s["repos"][0].update(default_branch="dev"), "repos[0].default_branch: no branch named 'dev'"),
    (
        lambda s: s["repos"][0]["meta"].update(downloads="many"),
        "repos[0].meta.downloads: must be a non-negative",
    ),
    (lambda s: s["repos"][0]["prs"].update(x={}), "repos[0].prs['x']: PR number must be a positive integer"),
    (lambda s: s["repos"].append(copy.deepcopy(s["repos"][0])), "repos[5].id: duplicate model repo"),
    (
        lambda s: s["repos"][0]["branches"].update(a={"from": "b"}, b={"from": "a"}),
        "from: circular reference",
    ),
    (
        lambda s: s["repos"][0]["branches"]["main"]["files"].update({"config.json/x": "a"}),
        "files['config.json']: is both a file and a folder",
    ),
]


@pytest.mark.parametrize(("mutate", "message"), BAD_SPECS)
def test_invalid_specs_name_the_field(mutate: Any, message: str) -> None:
    with pytest.raises(SpecError) as info:
        load_spec(_break(mutate))
    assert message in str(info.value)


def test_unreadable_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="cannot read spec"):
        load_spec(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"repos": [}')
    with pytest.raises(SpecError, match=r"bad.json: invalid JSON: line 1 column 12"):
        load_spec(bad)
    bad_toml = tmp_path / "bad.toml"
    bad_toml.write_text("repos = [")
    with pytest.raises(SpecError, match="invalid TOML"):
        load_spec(bad_toml)
