"""Selection, toggles, presets and the preview - all against huggingface_hub's own matcher and dry run."""

from __future__ import annotations

from pathlib import Path

import pytest
from hubfixtures import MODEL, download_into, hub, small_spec  # noqa: F401
from huggingface_hub import snapshot_download
from huggingface_hub.utils import filter_repo_objects

from hftui.core.hub.browse_index import build_index
from hftui.core.hub.browse_local import local_index
from hftui.core.hub.hfcmd import hf_download_argv, hf_download_command, hf_download_env
from hftui.core.hub.patterns import (
    PatternError,
    Selection,
    gguf_quantizations,
    join_globs,
    match,
    only,
    preset_config_tokenizer,
    preset_folder,
    preset_quant,
    preset_safetensors,
    preview,
    split_globs,
    toggle,
)
from hftui.core.hub.remote import HubRemote, RemoteFile, load_listing
from hftui.hub import HubServer


def rf(path: str, size: int = 10) -> RemoteFile:
    return RemoteFile(path, size, "0" * 40)


BERT_LIKE = [
    rf(p, s)
    for p, s in [
        (".gitattributes", 1_500),
        ("README.md", 8_000),
        ("config.json", 600),
        ("generation_config.json", 200),
        ("model-00001-of-00002.safetensors", 5_000_000_000),
        ("model-00002-of-00002.safetensors", 2_000_000_000),
        ("model.safetensors.index.json", 30_000),
        ("pytorch_model-00001-of-00002.bin", 5_000_000_000),
        ("pytorch_model-00002-of-00002.bin", 2_000_000_000),
        ("pytorch_model.bin.index.json", 30_000),
        ("tf_model.h5", 7_000_000_000),
        ("flax_model.msgpack", 7_000_000_000),
        ("onnx/model.onnx", 7_000_000_000),
        ("onnx/model.onnx_data", 7_000_000_000),
        ("special_tokens_map.json", 400),
        ("tokenizer.json", 2_000_000),
        ("tokenizer.model", 500_000),
        ("tokenizer_config.json", 1_000),
        ("vocab.txt", 200_000),
        ("merges.txt", 400_000),
        ("original/consolidated.00.pth", 7_000_000_000),
    ]
]

GGUF_REPO = [
    rf("README.md", 5_000),
    rf("model-Q4_K_M.gguf", 4_000),
    rf("model-q8_0.gguf", 8_000),
    rf("model-IQ4_XS.gguf", 3_500),
    rf("BF16/model-BF16-00001-of-00002.gguf", 9_000),
    rf("BF16/model-BF16-00002-of-00002.gguf", 7_000),
    rf("Q4_K_M-split/x.txt", 1),
    rf("mmproj-model-f16.gguf", 600),
]


def paths(files: list[RemoteFile]) -> list[str]:
    return [f.path for f in files]


def test_globs_text_round_trip() -> None:
    assert split_globs("*.json, tokenizer*  'my file.txt',,") == ("*.json", "tokenizer*", "my file.txt")
    assert split_globs(join_globs(("*.json", "a b", "c,d"))) == ("*.json", "a b", "c,d")
    assert split_globs("") == ()
    with pytest.raises(PatternError, match="quote"):
        split_globs("'unbalanced")


@pytest.mark.parametrize(
    ("include", "exclude"),
    [
        ((), ()),
        (("*.json",), ()),
        (("onnx/*",), ("*_data",)),
        (("onnx/",), ()),  # a trailing slash gets '*' appended by huggingface_hub
        (("*.safetensors", "*.json"), ("*.index.json",)),
        ((), ("*.bin", "*.h5")),
        (("Tokenizer.json",), ()),  # case-sensitive, like snapshot_download
        (("[!o]*.json",), ()),
    ],
)
def test_match_is_filter_repo_objects(include: tuple[str, ...], exclude: tuple[str, ...]) -> None:
    expected = list(
        filter_repo_objects(
            paths(BERT_LIKE), allow_patterns=list(include) or None, ignore_patterns=list(exclude) or None
        )
    )
    assert paths(match(BERT_LIKE, Selection(include, exclude))) == expected


def test_preset_safetensors_skips_other_formats_keeps_config_and_tokenizer() -> None:
    result = preset_safetensors(BERT_LIKE)
    assert result.selection is not None
    got = set(paths(match(BERT_LIKE, result.selection)))
    assert {"model-00001-of-00002.safetensors", "config.json", "tokenizer.json", "tokenizer.model"} <= got
    assert not {p for p in got if p.endswith((".bin", ".h5", ".msgpack", ".onnx", ".onnx_data", ".pth"))}
    assert "*.ckpt" not in result.selection.exclude  # only formats present in the repo
    assert preset_safetensors([rf("pytorch_model.bin")]).selection is None


def test_preset_config_tokenizer() -> None:
    result = preset_config_tokenizer(BERT_LIKE)
    assert result.selection is not None
    assert set(paths(match(BERT_LIKE, result.selection))) == {
        "config.json",
        "generation_config.json",
        "special_tokens_map.json",
        "tokenizer.json",
        "tokenizer.model",
        "tokenizer_config.json",
        "vocab.txt",
        "merges.txt",
    }


def test_gguf_quantizations_list_with_sizes_and_shards() -> None:
    quants = {q.name: q for q in gguf_quantizations(GGUF_REPO)}
    assert set(quants) == {"Q4_K_M", "Q8_0", "IQ4_XS", "BF16"}  # mmproj-*-f16: a projector, not a quant
    assert (quants["BF16"].files, quants["BF16"].bytes) == (2, 16_000)
    assert (quants["Q4_K_M"].files, quants["Q4_K_M"].bytes) == (1, 4_000)
    result = preset_quant(GGUF_REPO, "q8_0")
    assert result.selection is not None
    assert paths(match(GGUF_REPO, result.selection)) == ["model-q8_0.gguf"]
    # Only the globs that match something go into --include.
    assert all(match(GGUF_REPO, Selection((p,))) for p in result.selection.include)
    missing = preset_quant(GGUF_REPO, "Q2_K")
    assert missing.selection is None and "Q4_K_M" in missing.message


def test_preset_folder_and_only() -> None:
    sel = preset_folder("onnx/").selection
    assert sel is not None
    assert paths(match(BERT_LIKE, sel)) == ["onnx/model.onnx", "onnx/model.onnx_data"]
    assert paths(match(BERT_LIKE, only(BERT_LIKE, "config.json", is_folder=False))) == ["config.json"]


def test_toggle_file_and_folder_updates_patterns() -> None:
    sel = Selection()
    r = toggle(BERT_LIKE, sel, "tf_model.h5", is_folder=False)
    assert r.selection == Selection((), ("tf_model.h5",)) and not r.selected
    r = toggle(BERT_LIKE, r.selection, "tf_model.h5", is_folder=False)
    assert r.selection == Selection() and r.selected
    r = toggle(BERT_LIKE, Selection(), "onnx", is_folder=True)
    assert r.selection == Selection((), ("onnx/*",))
    # From a config-only selection, add a folder, then remove it again.
    base = Selection(("*.json",))
    r = toggle(BERT_LIKE, base, "onnx", is_folder=True)
    assert r.selection == Selection(("*.json", "onnx/*")) and r.selected
    assert toggle(BERT_LIKE, r.selection, "onnx", is_folder=True).selection == base
    # Un-toggling a file matched by a glob adds an exclude.
    r = toggle(BERT_LIKE, base, "config.json", is_folder=False)
    assert r.selection == Selection(("*.json",), ("config.json",))
    assert "config.json" not in paths(match(BERT_LIKE, r.selection))
    # Removing the last include must not flip to "everything".
    r = toggle(BERT_LIKE, Selection(("config.json",)), "config.json", is_folder=False)
    assert match(BERT_LIKE, r.selection) == []
    # A broad exclude glob cannot be overridden by a toggle; the message names it.
    r = toggle(BERT_LIKE, Selection((), ("*.bin",)), "pytorch_model-00001-of-00002.bin", is_folder=False)
    assert not r.selected and r.message and "'*.bin'" in r.message


def test_toggle_root_is_everything_or_nothing() -> None:
    r = toggle(BERT_LIKE, Selection(("*.json",)), "", is_folder=True)
    assert r.selection == Selection() and r.selected
    r = toggle(BERT_LIKE, r.selection, "", is_folder=True)
    assert match(BERT_LIKE, r.selection) == [] and not r.selected


def test_toggle_partial_folder_selects_all() -> None:
    sel = Selection(("onnx/model.onnx",))
    r = toggle(BERT_LIKE, sel, "onnx", is_folder=True)
    assert set(paths(match(BERT_LIKE, r.selection))) == {"onnx/model.onnx", "onnx/model.onnx_data"}


def test_preview_problem_messages() -> None:
    p = preview(BERT_LIKE, Selection(("*.nope",)))
    assert p.count == 0 and "Nothing matches" in (p.problem() or "")
    p = preview(BERT_LIKE, Selection(("*.json", "*.nope")))
    assert p.count > 0 and "*.nope" in (p.problem() or "")
    p = preview(BERT_LIKE, Selection((), ("*.nope",)))
    assert p.problem() is None and p.dead_excludes == ("*.nope",)


def test_folder_index_totals() -> None:
    index = build_index(BERT_LIKE)
    assert index.totals["onnx"] == (2, 14_000_000_000)
    assert index.totals[""][0] == len(BERT_LIKE)
    assert [c.path for c in index.children("onnx")] == ["onnx/model.onnx", "onnx/model.onnx_data"]
    assert index.folders[""] == ["onnx", "original"]


def test_free_space_uses_nearest_existing_ancestor(tmp_path: Path) -> None:
    p = preview(BERT_LIKE, Selection(("config.json",)), cache_dir=tmp_path / "not" / "yet")
    assert p.disk_path == str(tmp_path) and p.free_bytes is not None
    assert p.free_after == p.free_bytes - 600


def test_hf_download_command() -> None:
    line = hf_download_command(
        "org/name",
        repo_type="dataset",
        revision="refs/pr/1",
        include=("*.json", "a b"),
        exclude=("*.bin",),
        local_dir="/tmp/x y",
        force_download=True,
    )
    assert hf_download_argv(line) == [
        "hf", "download", "org/name", "--repo-type", "dataset", "--revision", "refs/pr/1",
        "--include", "*.json", "--include", "a b", "--exclude", "*.bin", "--local-dir", "/tmp/x y",
        "--force-download",
    ]  # fmt: skip
    assert hf_download_command("org/name") == "hf download org/name"


SELECTIONS = [
    Selection(),
    Selection(("*.json",)),
    Selection(("onnx/*",), ("*quantized*",)),
    Selection((), ("*.onnx",)),
    Selection(("README.md", "model.safetensors")),
]


def test_preview_equals_snapshot_download_dry_run(tmp_path: Path, hub: HubServer) -> None:  # noqa: F811
    # Cache: v0.9 (older config/README), the weights of feature/long-context (blobs shared with main) and
    # config.json + README.md of main.
    download_into(tmp_path, hub, MODEL, revision="v0.9")
    download_into(tmp_path, hub, MODEL, revision="feature/long-context", allow_patterns=["*.safetensors"])
    download_into(tmp_path, hub, MODEL, allow_patterns=["config.json", "README.md"])
    remote = HubRemote(hub.endpoint, token=False)
    for revision in ("main", "feature/long-context", "refs/pr/1", "v0.9"):
        listing = load_listing(remote, MODEL, "model", revision, tmp_path)
        local = local_index(tmp_path, MODEL, "model", listing.info.commit, listing.files)
        for sel in SELECTIONS:
            for force in (False, True):
                p = preview(listing.files, sel, local=local, cache_dir=tmp_path, force=force)
                dry = snapshot_download(
                    MODEL, revision=revision, allow_patterns=sel.allow_patterns, ignore_patterns=sel.ignore_patterns,
                    endpoint=hub.endpoint, cache_dir=str(tmp_path), token=False, dry_run=True, force_download=force,
                )  # fmt: skip
                assert sorted(d.filename for d in dry) == sorted(p.matched_paths), (revision, sel)
                todo = [d for d in dry if d.will_download]
                assert p.download_files == len(todo), (revision, sel, force)
                assert p.download_bytes == sum(d.file_size or 0 for d in todo), (revision, sel, force)


def test_local_states(tmp_path: Path, hub: HubServer) -> None:  # noqa: F811
    download_into(tmp_path, hub, MODEL, revision="feature/long-context", ignore_patterns=["README.md"])
    download_into(tmp_path, hub, MODEL, allow_patterns=["config.json"])
    remote = HubRemote(hub.endpoint, token=False)
    listing = load_listing(remote, MODEL, "model", "main", tmp_path)
    local = local_index(tmp_path, MODEL, "model", listing.info.commit, listing.files)
    assert local.state("config.json") == "cached"
    assert local.state("model.safetensors") == "other"  # same blob, cached for the feature branch
    assert local.other_revision["model.safetensors"] == "feature/long-context"
    assert local.state("tokenizer.json") == "other"  # a plain (non-LFS) file shared the same way
    assert local.state("README.md") == "missing"
    assert local.state("onnx/model.onnx") == "missing"  # not in the feature branch
    assert not local.will_download("model.safetensors") and local.will_download("README.md")


def test_local_index_without_cache(tmp_path: Path) -> None:
    local = local_index(tmp_path, "org/none", "model", "a" * 40, BERT_LIKE)
    assert set(local.states.values()) == {"missing"}
    assert local_index(None, "org/none", "model", "a" * 40, BERT_LIKE).counts()["missing"] == len(BERT_LIKE)


def test_small_spec_is_importable() -> None:
    assert small_spec()["repos"]


# -- file names with glob characters, prefix folders, local dirs (acceptance fixes) --------------------

TRICKY = [
    rf(p) for p in ("a[1].txt", "a1.txt", "q?.txt", "qx.txt", "st*r.txt", "onnx/m.onnx", "onnx_int8/m.onnx")
]


@pytest.mark.parametrize("path", ["a[1].txt", "q?.txt", "st*r.txt"])
def test_toggle_and_only_name_exactly_that_file(path: str) -> None:
    # A literal path used as a glob took a neighbour: `a[1].txt` is the glob for "a1.txt".
    off = toggle(TRICKY, Selection(), path, is_folder=False)
    assert set(paths(TRICKY)) - set(paths(match(TRICKY, off.selection))) == {path}
    on = toggle(TRICKY, off.selection, path, is_folder=False)
    assert on.selection == Selection() and on.message is None
    added = toggle(TRICKY, Selection(("a1.txt",)), path, is_folder=False)
    assert set(paths(match(TRICKY, added.selection))) == {"a1.txt", path}
    assert paths(match(TRICKY, only(TRICKY, path, is_folder=False))) == [path]


def test_folder_globs_escape_and_do_not_take_prefix_folders() -> None:
    files = [rf("x[1]/a.bin"), rf("x1/a.bin"), rf("onnx/m.onnx"), rf("onnx_int8/m.onnx")]
    assert paths(match(files, only(files, "x[1]", is_folder=True))) == ["x[1]/a.bin"]
    sel = preset_folder("x[1]").selection
    assert sel is not None and paths(match(files, sel)) == ["x[1]/a.bin"]
    off = toggle(files, Selection(), "onnx", is_folder=True)
    assert paths(match(files, off.selection)) == ["x[1]/a.bin", "x1/a.bin", "onnx_int8/m.onnx"]
    # Deselecting a folder whose own include was written escaped drops that include.
    inc = toggle(files, Selection(("x[[]1]/*", "x1/*")), "x[1]", is_folder=True)
    assert inc.selection == Selection(("x1/*",))


def test_preset_safetensors_drops_the_index_of_skipped_shards_and_names_bare_folders() -> None:
    files = [
        rf("model-00001-of-00002.safetensors"),
        rf("model.safetensors.index.json"),
        rf("pytorch_model-00001-of-00002.bin"),
        rf("pytorch_model.bin.index.json"),
        rf("original/consolidated.00.pth"),
        rf("onnx/model.onnx"),
        rf("config.json"),
    ]
    result = preset_safetensors(files)
    assert result.selection is not None
    assert paths(match(files, result.selection)) == [
        "model-00001-of-00002.safetensors",
        "model.safetensors.index.json",
        "config.json",
    ]
    assert "original/" in result.message and "onnx/" not in result.message.split("Also")[-1]


def test_preset_config_tokenizer_takes_remote_code_and_mistral_tokenizers() -> None:
    files = [rf(p) for p in ("config.json", "configuration_x.py", "tokenization_x.py", "modeling_x.py",
                             "tokenizer.model.v3", "model.safetensors.index.json", "w.safetensors")]  # fmt: skip
    result = preset_config_tokenizer(files)
    assert result.selection is not None
    assert set(paths(match(files, result.selection))) == {
        "config.json",
        "configuration_x.py",
        "tokenization_x.py",
        "tokenizer.model.v3",
    }


def test_gguf_three_letter_quants_and_mmproj() -> None:
    files = [rf("m-IQ2_XXS.gguf"), rf("m-IQ3_XXS.gguf"), rf("m-Q4_K_M.gguf"), rf("mmproj-m-f16.gguf")]
    assert [q.name for q in gguf_quantizations(files)] == ["IQ2_XXS", "IQ3_XXS", "Q4_K_M"]
    sel = preset_quant(files, "iq2_xxs").selection
    assert sel is not None and paths(match(files, sel)) == ["m-IQ2_XXS.gguf"]


def test_local_dir_preview_follows_huggingface_hub_rules(tmp_path: Path, hub: HubServer) -> None:  # noqa: F811
    # A local dir filled by snapshot_download, then: a plain file edited (same size), an LFS file copied in
    # by hand (no metadata), a plain file copied in by hand (no metadata): the dry run decides.
    out = tmp_path / "out"
    snapshot_download(MODEL, local_dir=out, endpoint=hub.endpoint, token=False, allow_patterns=["*.json"],
                      cache_dir=tmp_path / "c")  # fmt: skip
    listing = load_listing(HubRemote(hub.endpoint, token=False), MODEL, "model", None, None)
    by_path = {f.path: f for f in listing.files}
    (out / "model.safetensors").write_bytes(b"x" * by_path["model.safetensors"].size)
    (out / "README.md").write_text("# bert-mini\n")
    local = local_index(tmp_path / "none", MODEL, "model", listing.info.commit, listing.files)
    p = preview(listing.files, Selection(), local=local, local_dir=out)
    dry = snapshot_download(MODEL, local_dir=out, endpoint=hub.endpoint, token=False, dry_run=True,
                            cache_dir=tmp_path / "none")  # fmt: skip
    todo = {d.filename for d in dry if d.will_download}
    assert {"README.md", "model.safetensors"} <= todo and not {"config.json", "tokenizer.json"} & todo
    # README.md (no metadata, not LFS) is fetched again; model.safetensors is hashed by huggingface_hub, which
    # the preview does not do (same size: assumed the same, hence approximate).
    assert p.approximate and p.download_files == len(todo) - 1


def test_hf_download_command_names_a_non_default_endpoint() -> None:
    line = hf_download_command("org/name", endpoint="http://127.0.0.1:9/hub mirror/")
    assert line == "HF_ENDPOINT='http://127.0.0.1:9/hub mirror' hf download org/name"
    assert hf_download_argv(line) == ["hf", "download", "org/name"]
    assert hf_download_env(line) == {"HF_ENDPOINT": "http://127.0.0.1:9/hub mirror"}
    assert hf_download_command("org/name", endpoint="https://huggingface.co/") == "hf download org/name"


def test_a_rooted_glob_matching_nothing_gets_a_hint() -> None:
    p = preview(BERT_LIKE, Selection(("/config.json",)))
    assert p.problem() is not None and "not /config.json" in (p.problem() or "")
    p = preview(BERT_LIKE, Selection(("*.txt", "./config.json")))
    assert "./" in (p.problem() or "")
    assert "'/'" not in (preview(BERT_LIKE, Selection(("*.nope",))).problem() or "")


def test_same_blob_at_two_paths_of_one_commit(tmp_path: Path) -> None:
    spec = {"repos": [{"id": "acme/twins", "branches": {"main": {"files": {
        "a.bin": {"size": 2000, "seed": "same"}, "b.bin": {"size": 2000, "seed": "same"}}}}}]}  # fmt: skip
    with HubServer(spec) as server:
        download_into(tmp_path, server, "acme/twins", allow_patterns=["a.bin"])
        listing = load_listing(HubRemote(server.endpoint, token=False), "acme/twins", "model", None, tmp_path)
        local = local_index(tmp_path, "acme/twins", "model", listing.info.commit, listing.files)
        dry = snapshot_download(
            "acme/twins", endpoint=server.endpoint, cache_dir=tmp_path, token=False, dry_run=True
        )
    assert (
        local.state("b.bin") == "other" and local.other_revision["b.bin"] == "=a.bin"
    )  # not "another revision"
    assert [d.will_download for d in dry] == [False, False]
    assert preview(listing.files, Selection(), local=local, cache_dir=tmp_path).download_files == 0
