"""Quick start line (a), end to end: `hftui --demo` in a real pseudo-terminal.

Textual's own TEXTUAL_SCREENSHOT switch saves what the screen shows after a few seconds and
exits; `script` gives the app the terminal it needs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(shutil.which("script") is None, reason="needs util-linux `script` for a pty")


def test_demo_opens_on_the_demo_cache_and_leaves_nothing_behind(tmp_path: Path) -> None:
    shots = tmp_path / "shots"
    shots.mkdir()
    state = tmp_path / "state"
    # The demo's temporary cache and state go under TMPDIR: a private one shows what is left.
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    hftui = Path(sys.executable).parent / "hftui"
    env = {
        **os.environ,
        "TEXTUAL_SCREENSHOT": "3",
        "TEXTUAL_SCREENSHOT_LOCATION": str(shots),
        "TEXTUAL_SCREENSHOT_FILENAME": "demo.svg",
        "XDG_STATE_HOME": str(state),
        "TMPDIR": str(private_tmp),
    }
    result = subprocess.run(
        ["script", "-qec", f"{hftui} --demo", "/dev/null"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=60,
        env=env,
    )
    assert result.returncode == 0, result.stdout[-2000:]
    svg = (shots / "demo.svg").read_text()
    for repo in ("bert-base-demo", "llama-mini-sharded", "gpt-nano-demo"):
        assert repo in svg
    assert "DEMO" in svg
    # The demo's temporary cache and queue state are gone, and the user's state dir untouched.
    assert list(private_tmp.iterdir()) == []
    assert not (state / "hftui").exists()
