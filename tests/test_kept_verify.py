"""Which files the kept-bytes pre-fetch checks against the Hub's SHA-256 (issue 11: "a resumed
file is checked"): a file completed from bytes kept by an earlier attempt is hashed whole, and one
fetched in one go is not (the library does not hash its own downloads either; the hash cost about
15 % of a Xet download's CPU). Run in-process against the local Hub, over Xet and plain LFS,
counting the bytes the check hashes; the blobs are compared with the server's SHA-256 either way.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from test_kept_bytes import REPO, SIZE, _seed_store, kept_spec
from test_kept_bytes_xet import xet_spec

from hftui.core.downloads import resume
from hftui.hub import HubServer


def prefetch_all(hub: HubServer, cache: Path, notes: list[str]) -> resume.PrefetchOutcome:
    from huggingface_hub import snapshot_download

    plan = snapshot_download(REPO, dry_run=True, cache_dir=cache, endpoint=hub.endpoint, token=False)
    return resume.prefetch(
        list(plan),
        cache_dir=cache,
        repo_id=REPO,
        repo_type="model",
        endpoint=hub.endpoint,
        token=False,
        headers={},
        stall_timeout=30.0,
        max_workers=2,
        on_written=lambda n: None,
        note=notes.append,
        is_cancelled=lambda: False,
    )


def blob(cache: Path, hub: HubServer) -> Path:
    sha256 = hub.files(REPO)["weights.bin"].sha256
    return cache / f"models--{REPO.replace('/', '--')}" / "blobs" / sha256


@pytest.mark.parametrize("transport", ["xet", "http"])
def test_only_a_file_completed_from_kept_bytes_is_hashed(
    transport: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from test_kept_bytes_xet import use_small_xet

    use_small_xet(monkeypatch)
    monkeypatch.setenv("HFTUI_XET_KEEP_MIN_BYTES", "1")
    hashed: list[int] = []
    update = resume._Digest.update

    def counted(self: resume._Digest, data: bytes | memoryview) -> None:
        if getattr(self, "active", True):
            hashed.append(len(data))
        update(self, data)

    monkeypatch.setattr(resume._Digest, "update", counted)
    with HubServer(xet_spec() if transport == "xet" else kept_spec()) as hub:
        data = hub.read_file(REPO, "weights.bin")
        expected = hashlib.sha256(data).hexdigest()
        assert (hub.files(REPO)["weights.bin"].xet_hash is not None) == (transport == "xet")

        fresh, notes = tmp_path / "fresh", []
        prefetch_all(hub, fresh, notes)
        assert hashlib.sha256(blob(fresh, hub).read_bytes()).hexdigest() == expected
        assert sum(hashed) == 0, notes  # fetched in one go: not read back, not hashed

        resumed = tmp_path / "resumed"
        _seed_store(resumed, hub, part=data[: SIZE // 2])
        prefetch_all(hub, resumed, notes)
        assert hashlib.sha256(blob(resumed, hub).read_bytes()).hexdigest() == expected
        assert sum(hashed) == SIZE, notes  # the kept half and the rest, every byte once

        damaged = tmp_path / "damaged"
        _seed_store(damaged, hub, part=b"\0" * 1000 + data[1000 : SIZE // 2])
        prefetch_all(hub, damaged, notes)
        assert any("failed the SHA-256 check" in n for n in notes), notes
        assert hashlib.sha256(blob(damaged, hub).read_bytes()).hexdigest() == expected
        # The damaged file, then the fresh copy after it: checked as well (the Hub may be wrong).
        assert sum(hashed) == 3 * SIZE, notes
