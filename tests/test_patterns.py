"""Selection, toggles, presets and the preview - all against huggingface_hub's own matcher and dry run."""

from __future__ import annotations

from pathlib import Path

import pytest
from hubfixtures import MODEL, download_into, hub, small_spec  # noqa: F401
from huggingface_hub import snapshot_download
from huggingface_hub.utils import filter_repo_objects

from hftui.core.browse_index import build_index
from hftui.core.browse_local import local_index
from hftui.core.hfcmd import hf_download_argv, hf_download_command
from hftui.core.patterns import (
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
from hftui.core.remote import HubRemote, RemoteFile, load_listing
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
    assert set(quants) == {"Q4_K_M", "Q8_0", "IQ4_XS", "BF16", "F16"}
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
