"""`kill -9` of the whole TUI at ~50 %, then a relaunch (issue 11), over plain HTTP and over Xet.

The real app runs in a pseudo-terminal as its own process (with its download process and the
job's process under it), with a saved queue holding one job and `resume_on_launch = "auto"`.
Once half of weights.bin is kept, the app is killed with SIGKILL; its download process and the
job's process notice and end. A second launch resumes the job. The witness is the local Hub's
byte counter: what the relaunch fetched beyond the missing bytes is at most 10 % of what was
kept (or one xorb over Xet), and the blob's SHA-256 is the server's.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pty
import signal
import struct
import subprocess
import sys
import termios
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_download import assert_cache_matches, wait_for
from test_kept_bytes import REPO, SIZE, assert_clean, kept_spec, part_size, settled
from test_kept_bytes_xet import (
    SMALL_XORB,
    cut_chunks,
    hold_past_half,
    kept_prefix,
    small_xet_env,
    use_small_xet,
    xet_spec,
)

from hftui.core.cache.locks import lock_is_held
from hftui.core.downloads.models import DownloadRequest
from hftui.core.downloads.persist import QueueStore
from hftui.core.downloads.queue import DownloadQueue
from hftui.hub import Fault, HubServer


class Tui:
    """`hftui` in a pseudo-terminal of 100x30, its output read (and dropped) so it never blocks."""

    def __init__(self, cache: Path, env: dict[str, str]) -> None:
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "hftui", "--cache-dir", str(cache)],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            start_new_session=True,
            close_fds=True,
        )
        os.close(slave)
        self.master = master
        self.output = bytearray()
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        while True:
            try:
                data = os.read(self.master, 65536)
            except OSError:
                return
            if not data:
                return
            self.output += data[-4096:]

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        with contextlib.suppress(OSError):
            os.close(self.master)


def queue_unlocked(state: Path) -> bool:
    """Whether no hftui holds the saved queue's lock (its download process has ended)."""
    return lock_is_held(str(state / "hftui" / "queue.lock")) is not True


def cache_matches(cache: Path, hub: HubServer) -> bool:
    try:
        assert_cache_matches(cache, hub, REPO)
    except (AssertionError, OSError):
        return False
    return True


@pytest.fixture
def tui_env(tmp_path: Path) -> Iterator[tuple[Path, Path, dict[str, str]]]:
    state, config = tmp_path / "state", tmp_path / "config"
    (config / "hftui").mkdir(parents=True)
    (config / "hftui" / "settings.toml").write_text('resume_on_launch = "auto"\ndisk_margin_mb = 0\n')
    queue = DownloadQueue()
    queue.submit(DownloadRequest(REPO))
    QueueStore(state / "hftui").save(queue.to_json())
    env = {
        **os.environ,
        "XDG_STATE_HOME": str(state),
        "XDG_CONFIG_HOME": str(config),
        "HF_TOKEN": "",
        "TERM": "xterm-256color",
    }
    cache = tmp_path / "cache"
    cache.mkdir()  # the app opens an existing cache (an empty one here)
    yield cache, state, env


@pytest.mark.parametrize("xet", [False, True], ids=["plain", "xet"])
def test_kill_9_of_the_tui_at_half_then_relaunch(
    xet: bool, tui_env: tuple[Path, Path, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    cache, state, env = tui_env
    if xet:
        # The CAS scaled down, kept from one (small) xorb on (see test_kept_bytes_xet).
        use_small_xet(monkeypatch)
        env = {**env, **small_xet_env()}
        env.pop("HF_HUB_DISABLE_XET", None)
    else:
        env = {**env, "HF_HUB_DISABLE_XET": "1"}
    with HubServer(xet_spec() if xet else kept_spec()) as hub:
        env["HF_ENDPOINT"] = hub.endpoint
        # No pacing: the server holds the file past half, so the app is killed there at full
        # speed, however slow the machine.
        if xet:
            hold_past_half(hub)
            kept_now = kept_prefix

            def sent() -> int:
                return hub.bytes_sent("/xorbs/*", server="cas")
        else:
            # The body is held just past half (the app is killed long before its 30 s stall timeout).
            hub.add_fault(
                Fault("hold", path_glob="*/weights.bin", after_bytes=SIZE // 2 + 100_000, stall_seconds=60)
            )
            kept_now = part_size

            def sent() -> int:
                return hub.bytes_sent("*/weights.bin")

        app = Tui(cache, env)
        try:
            wait_for(lambda: kept_now(cache) >= SIZE // 2, timeout=90, what="half of weights.bin kept")
        finally:
            app.kill()
        # The download process and the job's process end once the app is gone; then the server
        # stops writing to them.
        wait_for(lambda: queue_unlocked(state), timeout=30, what="the download process to end")
        hub.release_holds()
        hub.clear_faults()
        settled(hub)
        kept = kept_now(cache)
        assert SIZE // 2 <= kept < SIZE
        before, asked = sent(), len(hub.requests)

        again = Tui(cache, env)
        try:
            wait_for(lambda: cache_matches(cache, hub), timeout=90, what="the relaunch to finish the job")
        finally:
            again.kill()
        wait_for(lambda: queue_unlocked(state), timeout=30, what="the download process to end")
        refetched = sent() - before - (SIZE - kept)
        allowed = (
            max(0.1 * kept, SMALL_XORB * 1.01 + 0.01 * SIZE) + cut_chunks(hub, asked) if xet else 0.1 * kept
        )
        assert refetched <= allowed, f"re-fetched {refetched} of {kept} kept bytes"
        assert_cache_matches(cache, hub, REPO)
        assert_clean(cache)
