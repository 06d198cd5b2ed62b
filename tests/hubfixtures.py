"""Shared local-Hub fixtures and helpers for any test that needs a Hub.

Use from a test module (tests/ is on sys.path because the rootdir conftest lives there):

    from hubfixtures import download_into, hub_server, small_spec  # noqa: F401

`hub_server` registers the fixture named `hub` (`from hubfixtures import hub  # noqa: F401` works too,
but ruff then flags each `hub` parameter as F811). It is a session-scoped `HubServer` over `small_spec()`. It is shared, so tests that inject faults
or throttle must do it on their own server (`with HubServer(small_spec()) as hub:`; starting one
takes milliseconds, and content hashes are memoized per process), or clear them in a `finally`.
Always pass `endpoint=hub.endpoint` and `token=False` (or `token=hub.token`) to huggingface_hub.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hftui.hub import HubServer

MIB = 1024 * 1024

MODEL = "acme/bert-mini"
DATASET = "acme/tiny-corpus"
SPACE = "acme/demo-space"
GATED = "acme/gated-model"
BIG = "acme/big-file"


def small_spec(*, xet: bool = False) -> dict[str, Any]:
    """A few small repos covering every revision kind, each repo type, LFS and plain files, and gating.

    `xet=False` (the default here, unlike the server's): LFS files travel as plain HTTP, which the
    download engine's job-aware transport controls; Xet-aware tests pass `xet=True`.

    - MODEL (model): main with nested folders and LFS weights; branch `feature/long-context` (name with
      a slash) from main; one older commit in `history.main`; tags `v1.0` (= main) and `v0.9` (= main~1);
      PR `refs/pr/1` from main.
    - DATASET (dataset): parquet shards under data/ plus a README.
    - SPACE (space): app.py + requirements.txt.
    - GATED (model, gated): needs `token=hub.token`.
    - BIG (model): one 12 MiB LFS file for resume/fault tests (beyond the client's 10 MiB chunk).
    """
    return {
        "token": "hf_local_test_token",
        "xet": xet,
        "repos": [
            {
                "id": MODEL,
                "type": "model",
                "meta": {
                    "downloads": 1234,
                    "likes": 5,
                    "pipeline_tag": "fill-mask",
                    "library_name": "transformers",
                    "tags": ["bert", "fill-mask"],
                },
                "branches": {
                    "main": {
                        "files": {
                            "config.json": '{"hidden_size": 128}',
                            "README.md": "# bert-mini\n",
                            "model.safetensors": {"size": 300_000},
                            "onnx/model.onnx": {"size": 200_000, "seed": "onnx"},
                            "onnx/extra/quantized.onnx": {"size": 50_000},
                            "tokenizer.json": {"size": 40_000, "lfs": False},
                        }
                    },
                    "feature/long-context": {
                        "from": "main",
                        "files": {"extra.txt": "hi"},
                        "remove": ["onnx/model.onnx"],
                    },
                },
                "history": {"main": [{"files": {"config.json": '{"old": true}', "README.md": "# old\n"}}]},
                "tags": {"v1.0": "main", "v0.9": "main~1"},
                "prs": {"1": {"from": "main", "files": {"README.md": "pr text"}}},
            },
            {
                "id": DATASET,
                "type": "dataset",
                "meta": {"downloads": 10, "tags": ["text"]},
                "branches": {
                    "main": {
                        "files": {
                            "README.md": "---\nlicense: mit\n---\n# tiny corpus\n",
                            "data/train-00000-of-00002.parquet": {"size": 120_000},
                            "data/train-00001-of-00002.parquet": {"size": 110_000},
                            "data/test-00000-of-00001.parquet": {"size": 30_000},
                        }
                    }
                },
            },
            {
                "id": SPACE,
                "type": "space",
                "meta": {"sdk": "gradio"},
                "branches": {
                    "main": {"files": {"app.py": "import gradio\n", "requirements.txt": "gradio\n"}},
                },
            },
            {
                "id": GATED,
                "type": "model",
                "gated": True,
                "branches": {
                    "main": {"files": {"config.json": "{}", "model.safetensors": {"size": 100_000}}},
                },
            },
            {
                "id": BIG,
                "type": "model",
                "branches": {"main": {"files": {"big.bin": {"size": 12 * MIB}, "config.json": "{}"}}},
            },
        ],
    }


@pytest.fixture(scope="session", name="hub")
def hub_server() -> Iterator[HubServer]:
    """The fixture named `hub`: a local Hub over `small_spec()`, shared by the session. Don't add faults to it."""
    with HubServer(small_spec()) as server:
        yield server


# Importing either name registers the fixture `hub`. Import `hub_server` in modules that take `hub`
# as a parameter: importing `hub` itself makes ruff report every such parameter as F811.
hub = hub_server


def download_into(cache_dir: Path | str, hub: HubServer, repo_id: str, **kwargs: Any) -> Any:
    """`snapshot_download` from `hub` into `cache_dir`, anonymously unless `token=` is given."""
    from huggingface_hub import snapshot_download

    kwargs.setdefault("token", False)
    return snapshot_download(repo_id, endpoint=hub.endpoint, cache_dir=str(cache_dir), **kwargs)
