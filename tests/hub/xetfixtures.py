"""Helpers shared by the Xet server tests: specs, a plain-HTTP download in a subprocess, hashing."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from hftui.hub import HubServer

MIB = 1024 * 1024
XREPO = "acme/xet-model"
TWIN = "acme/xet-twin"


def xet_spec() -> dict[str, Any]:
    """Two repos with Xet files: XREPO (a multi-xorb file, small LFS files, a plain-LFS pin, git files)
    and TWIN, which holds a copy of XREPO's weights (same seed and size: same Xet hash)."""
    return {
        "repos": [
            {
                "id": XREPO,
                "branches": {
                    "main": {
                        "files": {
                            "config.json": '{"hidden_size": 64}',
                            "model.safetensors": {"size": 70 * MIB, "seed": "weights"},
                            "tokenizer.model": {"size": 300_000},
                            "extra/adapter.bin": {"size": 2 * MIB + 12345},
                            "pinned.bin": {"size": 1 * MIB, "xet": False},
                        }
                    }
                },
            },
            {
                "id": TWIN,
                "branches": {
                    "main": {
                        "files": {
                            "README.md": "# twin\n",
                            "weights.safetensors": {"size": 70 * MIB, "seed": "weights"},
                        }
                    }
                },
            },
        ]
    }


def sha256_file(path: Path | str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def snapshot_hashes(snapshot: Path | str) -> dict[str, str]:
    root = Path(snapshot)
    return {p.relative_to(root).as_posix(): sha256_file(p) for p in root.rglob("*") if p.is_file()}


def server_hashes(hub: HubServer, repo_id: str) -> dict[str, str]:
    return {path: info.sha256 for path, info in hub.files(repo_id).items()}


_SUBPROCESS = """
import json, sys
from huggingface_hub import constants, hf_hub_download, snapshot_download
args = json.loads(sys.argv[1])
try:
    if args.get("filename"):
        path = hf_hub_download(args["repo_id"], args["filename"], endpoint=args["endpoint"],
                               cache_dir=args["cache_dir"], token=False)
    else:
        path = snapshot_download(args["repo_id"], endpoint=args["endpoint"], cache_dir=args["cache_dir"],
                                 token=False)
except Exception as exc:
    print(json.dumps({"error": f"{type(exc).__name__}: {exc}", "xet_disabled": constants.HF_HUB_DISABLE_XET}))
else:
    print(json.dumps({"path": path, "xet_disabled": constants.HF_HUB_DISABLE_XET}))
"""


def download_in_subprocess(
    hub: HubServer, repo_id: str, cache_dir: Path, *, filename: str | None = None, disable_xet: bool
) -> dict[str, Any]:
    """Run snapshot_download / hf_hub_download in a fresh interpreter.

    HF_HUB_DISABLE_XET is read once, when huggingface_hub.constants is imported, so a process that
    already imported the library cannot switch paths through the environment.
    """
    env = dict(os.environ, HF_HUB_DISABLE_XET="1" if disable_xet else "0", HF_ENDPOINT=hub.endpoint)
    args = {"repo_id": repo_id, "endpoint": hub.endpoint, "cache_dir": str(cache_dir), "filename": filename}
    done = subprocess.run(
        [sys.executable, "-c", _SUBPROCESS, json.dumps(args)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


_BATCH = """
import json, sys
from huggingface_hub import hf_hub_download
args = json.loads(sys.argv[1])
for name in args["files"]:
    try:
        path = hf_hub_download(args["repo_id"], name, endpoint=args["endpoint"], cache_dir=args["cache_dir"],
                               token=False)
    except Exception as exc:
        print(json.dumps({"file": name, "error": f"{type(exc).__name__}: {exc}"}), flush=True)
    else:
        print(json.dumps({"file": name, "path": path}), flush=True)
"""

# hf_xet's retry and timeout settings are read when its session starts: give the child short ones,
# so a persistent fault fails in about a second instead of after minutes of backoff.
FAST_FAIL_ENV = {
    "HF_XET_CLIENT_RETRY_MAX_ATTEMPTS": "2",
    "HF_XET_CLIENT_RETRY_BASE_DELAY": "100ms",
    "HF_XET_CLIENT_READ_TIMEOUT": "1s",
}


def download_each_in_subprocess(
    hub: HubServer, repo_id: str, files: list[str], cache_dir: Path, env: dict[str, str] | None = None
) -> dict[str, dict[str, Any]]:
    """hf_hub_download each file in turn in one fresh interpreter; the outcome per file."""
    full_env = dict(os.environ, HF_ENDPOINT=hub.endpoint, **(env or {}))
    args = {"repo_id": repo_id, "endpoint": hub.endpoint, "cache_dir": str(cache_dir), "files": files}
    done = subprocess.run(
        [sys.executable, "-c", _BATCH, json.dumps(args)],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    results = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    return {result["file"]: result for result in results}
