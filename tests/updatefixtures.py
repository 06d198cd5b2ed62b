"""A local Hub whose refs move while a test runs, and caches built from it by real downloads.

Each test gets its own server (`moving_hub`): tests push commits, move tags, delete and rename
repos, which a shared server must never see.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hftui.hub import HubServer

MOVING = "acme/moving-gguf"
GATED = "acme/gated-moving"
DOOMED = "acme/doomed"
OLDNAME = "acme/old-name"
UNICODE_BRANCH = "feature/ünïcode-β"

QUANTS = {"model-Q4_K_M.gguf": 200_000, "model-Q8_0.gguf": 300_000}


def moving_spec() -> dict[str, Any]:
    return {
        "token": "hf_local_test_token",
        "repos": [
            {
                "id": MOVING,
                "branches": {
                    "main": {
                        "files": {
                            "config.json": '{"v": 1}',
                            "README.md": "# moving\n",
                            "tokenizer.json": {"size": 5_000, "lfs": False},
                            **{name: {"size": size} for name, size in QUANTS.items()},
                        }
                    },
                    UNICODE_BRANCH: {"from": "main", "files": {"notes.txt": "ü"}},
                },
                "tags": {"v1": "main"},
                "prs": {"1": {"from": "main", "files": {"README.md": "# pr 1\n"}}},
            },
            {
                "id": GATED,
                "gated": True,
                "branches": {
                    "main": {"files": {"config.json": "{}", "weights.safetensors": {"size": 50_000}}}
                },
            },
            {"id": DOOMED, "branches": {"main": {"files": {"config.json": "{}"}}, "dev": {"from": "main"}}},
            {
                "id": OLDNAME,
                "branches": {"main": {"files": {"config.json": "{}", "a.bin": {"size": 10_000}}}},
            },
        ],
    }


@pytest.fixture(name="moving")
def moving_hub() -> Iterator[HubServer]:
    """The fixture named `moving`: a Hub of its own per test (import `moving_hub` to register it)."""
    with HubServer(moving_spec()) as server:
        yield server


def download(cache: Path, hub: HubServer, repo_id: str, **kwargs: Any) -> str:
    from huggingface_hub import snapshot_download

    kwargs.setdefault("token", False)
    return str(snapshot_download(repo_id, endpoint=hub.endpoint, cache_dir=str(cache), **kwargs))


def regular_bytes(root: Path, *, payloads_only: bool = False) -> int:
    """Bytes of the regular files under `root`, each inode once: what really occupies the disk.

    `payloads_only` leaves out the shared blob store's bookkeeping (`<hash>.refs` manifests and the
    marker), which a sweep removes along with a payload but no freed-bytes figure counts."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for folder, _dirs, files in os.walk(root):
        for name in files:
            if payloads_only and (name.endswith(".refs") or name.startswith(".huggingface")):
                continue
            st = os.lstat(os.path.join(folder, name))
            if (st.st_dev, st.st_ino) in seen or not os.path.isfile(os.path.join(folder, name)):
                continue
            if os.path.islink(os.path.join(folder, name)):
                continue
            seen.add((st.st_dev, st.st_ino))
            total += st.st_size
    return total


def api_requests(hub: HubServer, kind: str) -> list[str]:
    """Paths of the API requests of one kind (`refs`, `tree`) the server answered."""
    return [r.path for r in hub.requests if r.path.startswith("/api/") and f"/{kind}" in r.path]
