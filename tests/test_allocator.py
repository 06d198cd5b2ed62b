"""The job process's malloc settings (`hftui.core.downloads.allocator`): windows of a kept Xet file
arrive as new 30 MiB `bytes` objects, one per window, from several threads. Counted in fresh
processes by their page faults (not time): with the settings, the memory of a freed window is
reused for the next one instead of being mapped and faulted in again."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

PROBE = textwrap.dedent(
    """
    import json, resource, sys, threading
    from hftui.core.downloads.allocator import tune_for_transfers

    applied = tune_for_transfers() if sys.argv[1] == "tuned" else []

    def windows():
        for _ in range(10):
            piece = b"x" * (30 << 20)  # written in full, as hf_xet's copy is
            del piece

    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    threads = [threading.Thread(target=windows) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(json.dumps([applied, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before]))
    """
)


def probe(mode: str, **env: str) -> tuple[list[str], int]:
    import json

    clean = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    out = subprocess.run(
        [sys.executable, "-c", PROBE, mode], env={**clean, **env}, capture_output=True, text=True, check=True
    )
    applied, faults = json.loads(out.stdout)
    return applied, faults


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt: Linux only")
def test_freed_windows_are_reused_rather_than_faulted_in_again() -> None:
    applied, tuned = probe("tuned")
    if not applied:
        pytest.skip("not glibc: the settings do not apply")
    assert applied == ["MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_ARENA_MAX"]
    _, plain = probe("plain")
    window_pages = (30 << 20) // os.sysconf("SC_PAGE_SIZE")
    # 40 windows from 4 threads: with the settings about one window per arena is faulted in.
    assert tuned <= plain / 2, (tuned, plain)
    assert tuned <= 4 * window_pages, (tuned, window_pages)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt: Linux only")
def test_a_setting_the_user_gave_is_left_alone() -> None:
    applied, _ = probe("tuned", MALLOC_ARENA_MAX="8")
    if not applied:
        pytest.skip("not glibc: the settings do not apply")
    assert applied == ["MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_"]
