"""The built-in demo: plausible (clearly fake) repos on a local Hub, and a temporary cache built from them.

`demo_session()` starts the server and fills a throw-away cache with REAL `snapshot_download` calls,
so the cache has exactly the shape huggingface_hub produces: one complete repo, one partial snapshot,
one repo with a detached old revision, plus the debris of a killed download (an orphaned
`.incomplete` blob and a stale lock). Sizes are scaled down so startup stays around a second.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hftui.hub.server import HubServer
from hftui.hub.spec import Commit

MIB = 1024 * 1024
ORG = "demo-org"
COMPLETE_REPO = f"{ORG}/bert-base-demo"
PARTIAL_REPO = f"{ORG}/llama-mini-sharded"
DETACHED_REPO = f"{ORG}/gpt-nano-demo"
GGUF_REPO = f"{ORG}/tinyllama-demo-GGUF"
DATASET_REPO = f"{ORG}/wiki-snippets"
GATED_REPO = f"{ORG}/gated-llm-demo"
SPACE_REPO = f"{ORG}/chat-demo"
# What the partial snapshot fetches, and how much of the next shard the "killed" download left behind.
PARTIAL_PATTERNS = ["*.json", "model-00001-of-00004.safetensors"]
INCOMPLETE_FILE = "model-00002-of-00004.safetensors"
INCOMPLETE_BYTES = 3 * MIB

_GITATTRIBUTES = "".join(
    f"*.{ext} filter=lfs diff=lfs merge=lfs -text\n"
    for ext in ("bin", "gguf", "h5", "msgpack", "onnx", "ot", "parquet", "pt", "safetensors", "zip")
)


def _card(title: str, front_matter: dict[str, Any], body: str) -> str:
    lines = ["---"]
    for key, value in front_matter.items():
        if isinstance(value, list):
            lines.append(f"{key}:")
            lines.extend(f"- {item}" for item in value)
        else:
            lines.append(f"{key}: {value}")
    return "\n".join([*lines, "---", "", f"# {title}", "", body, ""])


def _vocab(n: int) -> str:
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    syllables = ["ka", "lo", "mi", "ne", "ru", "ta", "vo", "zi", "an", "el", "or", "us"]
    words = [a + b + c for a in syllables for b in syllables for c in ("", "s", "er", "##")]
    return "\n".join([*specials, *words[: n - len(specials)]]) + "\n"


def _bert() -> dict[str, Any]:
    config = {
        "architectures": ["BertForMaskedLM"],
        "hidden_size": 256,
        "num_hidden_layers": 4,
        "vocab_size": 2000,
    }
    old_config = {**config, "hidden_size": 128}
    return {
        "id": COMPLETE_REPO,
        "type": "model",
        "meta": {
            "downloads": 48213,
            "likes": 37,
            "pipeline_tag": "fill-mask",
            "library_name": "transformers",
            "tags": ["transformers", "safetensors", "onnx", "bert", "fill-mask", "en", "license:apache-2.0"],
        },
        "branches": {
            "main": {
                "title": "Export to ONNX and bump hidden size",
                "files": {
                    ".gitattributes": _GITATTRIBUTES,
                    "README.md": _card(
                        "bert-base-demo",
                        {"language": "en", "license": "apache-2.0", "tags": ["fill-mask"]},
                        "A scaled-down BERT served by hftui's local Hub. Not a real model.",
                    ),
                    "config.json": json.dumps(config, indent=2),
                    "model.safetensors": {"size": 6 * MIB},
                    "pytorch_model.bin": {"size": 6 * MIB},
                    "onnx/model.onnx": {"size": 5 * MIB},
                    "tokenizer.json": json.dumps(
                        {"version": "1.0", "model": {"type": "WordPiece"}}, indent=2
                    ),
                    "tokenizer_config.json": json.dumps({"do_lower_case": True, "model_max_length": 512}),
                    "vocab.txt": _vocab(2000),
                },
            }
        },
        "history": {
            "main": [
                {
                    "title": "Initial upload",
                    "files": {
                        ".gitattributes": _GITATTRIBUTES,
                        "config.json": json.dumps(old_config, indent=2),
                        "pytorch_model.bin": {"size": 3 * MIB, "seed": "bert-v0"},
                        "vocab.txt": _vocab(2000),
                    },
                }
            ]
        },
        "tags": {"v1.0": "main", "v0.1": "main~1"},
    }


def _sharded() -> dict[str, Any]:
    shards = [f"model-0000{i}-of-00004.safetensors" for i in range(1, 5)]
    weight_map = {f"model.layers.{layer}.weight": shards[layer % 4] for layer in range(16)}
    files: dict[str, Any] = {
        ".gitattributes": _GITATTRIBUTES,
        "README.md": _card(
            "llama-mini-sharded",
            {"license": "other", "pipeline_tag": "text-generation"},
            "Four shards of nothing.",
        ),
        "config.json": json.dumps({"architectures": ["LlamaForCausalLM"], "num_hidden_layers": 16}, indent=2),
        "generation_config.json": json.dumps({"do_sample": True, "temperature": 0.7}),
        "model.safetensors.index.json": json.dumps(
            {"metadata": {"total_size": 4 * 8 * MIB}, "weight_map": weight_map}, indent=2
        ),
        "tokenizer.json": json.dumps({"version": "1.0", "model": {"type": "BPE"}}),
        "tokenizer_config.json": json.dumps({"bos_token": "<s>", "eos_token": "</s>"}),
    }
    files.update({shard: {"size": 8 * MIB} for shard in shards})
    chat_template = json.dumps({"bos_token": "<s>", "eos_token": "</s>", "chat_template": "{{ messages }}"})
    return {
        "id": PARTIAL_REPO,
        "type": "model",
        "meta": {
            "downloads": 9120,
            "likes": 112,
            "pipeline_tag": "text-generation",
            "library_name": "transformers",
            "tags": ["transformers", "safetensors", "llama", "text-generation"],
        },
        "branches": {"main": {"files": files}},
        "prs": {
            "1": {
                "from": "main",
                "title": "Add chat template",
                "files": {"tokenizer_config.json": chat_template},
            }
        },
    }


def _detached() -> dict[str, Any]:
    def commit(title: str, version: int) -> dict[str, Any]:
        return {
            "title": title,
            "files": {
                "config.json": json.dumps({"n_layer": 2 * version, "n_embd": 64 * version}),
                "model.safetensors": {"size": MIB + version * 4096, "seed": f"gpt-nano-v{version}"},
                "README.md": _card("gpt-nano-demo", {"license": "mit"}, f"Version {version}."),
            },
        }

    return {
        "id": DETACHED_REPO,
        "type": "model",
        "meta": {
            "downloads": 311,
            "likes": 2,
            "pipeline_tag": "text-generation",
            "library_name": "transformers",
        },
        "branches": {"main": commit("Retrain with a bigger context", 3)},
        "history": {"main": [commit("Initial commit", 1), commit("Fix tokenizer", 2)]},
    }


def _gguf() -> dict[str, Any]:
    quants = {"Q2_K": 48, "Q4_K_M": 80, "Q5_K_M": 96, "Q8_0": 160}
    files: dict[str, Any] = {
        ".gitattributes": _GITATTRIBUTES,
        "README.md": _card(
            "tinyllama-demo GGUF", {"license": "apache-2.0", "tags": ["gguf"]}, "Pick one quantization."
        ),
    }
    files.update({f"tinyllama-demo-{quant}.gguf": {"size": size * MIB} for quant, size in quants.items()})
    return {
        "id": GGUF_REPO,
        "type": "model",
        "meta": {
            "downloads": 120544,
            "likes": 431,
            "pipeline_tag": "text-generation",
            "library_name": "gguf",
            "tags": ["gguf", "llama", "text-generation"],
        },
        "branches": {"main": {"files": files}},
    }


def _dataset() -> dict[str, Any]:
    files: dict[str, Any] = {
        ".gitattributes": _GITATTRIBUTES,
        "README.md": _card(
            "wiki-snippets",
            {
                "license": "cc-by-sa-4.0",
                "task_categories": ["text-generation"],
                "size_categories": ["10K<n<100K"],
            },
            "Short fake encyclopedia snippets.",
        ),
        "data/test-00000-of-00001.parquet": {"size": 2 * MIB},
    }
    files.update({f"data/train-0000{i}-of-00003.parquet": {"size": 4 * MIB} for i in range(3)})
    return {
        "id": DATASET_REPO,
        "type": "dataset",
        "meta": {
            "downloads": 5402,
            "likes": 21,
            "tags": ["task_categories:text-generation", "format:parquet"],
        },
        "branches": {"main": {"files": files}},
    }


def _gated() -> dict[str, Any]:
    return {
        "id": GATED_REPO,
        "type": "model",
        "gated": "manual",
        "meta": {
            "downloads": 777,
            "likes": 64,
            "pipeline_tag": "text-generation",
            "library_name": "transformers",
        },
        "branches": {
            "main": {
                "files": {
                    "README.md": _card(
                        "gated-llm-demo", {"license": "other", "extra_gated_prompt": "Agree?"}, "Gated."
                    ),
                    "config.json": json.dumps({"architectures": ["LlamaForCausalLM"]}),
                    "model.safetensors": {"size": 4 * MIB},
                }
            }
        },
    }


def _space() -> dict[str, Any]:
    return {
        "id": SPACE_REPO,
        "type": "space",
        "meta": {"likes": 9, "sdk": "gradio", "tags": ["gradio"]},
        "branches": {
            "main": {
                "files": {
                    "README.md": _card("chat-demo", {"sdk": "gradio", "app_file": "app.py"}, "A chat UI."),
                    "app.py": "import gradio as gr\n\ngr.ChatInterface(lambda m, h: m).launch()\n",
                    "requirements.txt": "gradio\n",
                }
            }
        },
    }


def demo_spec() -> dict[str, Any]:
    """The demo's repos. Generated content totals about 550 MB, hashed only when a repo is first touched."""
    return {
        "token": "hf_demo_token",
        "repos": [_bert(), _sharded(), _detached(), _gguf(), _dataset(), _gated(), _space()],
    }


@dataclass(frozen=True)
class DemoSession:
    hub: HubServer
    cache_dir: Path

    @property
    def endpoint(self) -> str:
        return self.hub.endpoint

    @property
    def token(self) -> str:
        return self.hub.token


def move_upstream(hub: HubServer) -> str:
    """What happens on the Hub after a cache was built: COMPLETE_REPO's main gets a fixed tokenizer
    config and new weights, so the Cache pane shows an update (and `U` fetches it). Returns the commit."""
    return hub.push(
        COMPLETE_REPO,
        "main",
        files={
            "tokenizer_config.json": json.dumps({"do_lower_case": True, "model_max_length": 1024}),
            "model.safetensors": {"size": 6 * MIB, "seed": "bert-v2"},
        },
        title="Fix model_max_length and retrain",
    )


@contextmanager
def demo_session(*, moved_upstream: bool = False) -> Iterator[DemoSession]:
    """Start the demo Hub and build a temporary cache from it; stop and delete both on exit.

    HF_ENDPOINT points at the demo Hub for the session (restored on exit): building the cache is what
    first imports huggingface_hub, which freezes the endpoint at import, and the demo app must talk to
    this server. Nothing else global is touched; the user's cache and token are never used.
    """
    hub = HubServer(demo_spec()).start()
    cache_dir = Path(tempfile.mkdtemp(prefix="hftui-demo-cache-"))
    previous_endpoint = os.environ.get("HF_ENDPOINT")
    os.environ["HF_ENDPOINT"] = hub.endpoint
    try:
        build_demo_cache(hub, cache_dir)
        if moved_upstream:
            move_upstream(hub)
        yield DemoSession(hub=hub, cache_dir=cache_dir)
    finally:
        if previous_endpoint is None:
            os.environ.pop("HF_ENDPOINT", None)
        else:
            os.environ["HF_ENDPOINT"] = previous_endpoint
        hub.stop()
        shutil.rmtree(cache_dir, ignore_errors=True)


def build_demo_cache(hub: HubServer, cache_dir: Path) -> None:
    """Fill `cache_dir` from `hub` with huggingface_hub's own download code.

    Every call passes `endpoint=` and `token=False`: the library may have been imported with another
    HF_ENDPOINT, and the user's token must never be read or sent.
    """
    from huggingface_hub import snapshot_download
    from huggingface_hub.utils import tqdm as hf_tqdm

    class _Quiet(hf_tqdm):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["disable"] = True
            super().__init__(*args, **kwargs)

    def fetch(repo_id: str, **kwargs: Any) -> None:
        snapshot_download(
            repo_id, endpoint=hub.endpoint, cache_dir=str(cache_dir), token=False, tqdm_class=_Quiet, **kwargs
        )

    fetch(COMPLETE_REPO)
    fetch(PARTIAL_REPO, allow_patterns=PARTIAL_PATTERNS)
    fetch(DETACHED_REPO)
    # By commit id: the client writes no ref for it, so it shows up as a detached revision.
    fetch(DETACHED_REPO, revision=_ancestor(hub, DETACHED_REPO, 1))

    # What a download killed mid-file leaves: huggingface_hub unlinks its .incomplete in a `finally`,
    # so only a hard kill (SIGKILL, power loss) leaves one, along with its lock.
    repo_folder = f"models--{PARTIAL_REPO.replace('/', '--')}"
    blob = hub.file_sha256(PARTIAL_REPO, INCOMPLETE_FILE)
    partial_bytes = _head(hub, PARTIAL_REPO).files[INCOMPLETE_FILE].content.read(0, INCOMPLETE_BYTES)
    (cache_dir / repo_folder / "blobs" / f"{blob}.5f3a9c1e.incomplete").write_bytes(partial_bytes)
    lock_dir = cache_dir / ".locks" / repo_folder
    lock_dir.mkdir(parents=True, exist_ok=True)
    (lock_dir / f"{blob}.lock").touch()


def _head(hub: HubServer, repo_id: str) -> Commit:
    repo = hub.spec.repo(repo_id)
    if repo is None:
        raise KeyError(repo_id)
    return repo.head


def _ancestor(hub: HubServer, repo_id: str, n: int) -> str:
    """Commit id of the default branch's n-th parent (`main~n`)."""
    return list(_head(hub, repo_id).ancestors())[n].sha
