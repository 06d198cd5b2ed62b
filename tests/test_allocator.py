"""The job process's malloc settings (`hftui.core.downloads.allocator`): windows of a kept Xet file
arrive as new `bytes` objects of up to 30 MiB, one per window, each read by a new thread. Counted in fresh
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
    sizes = [1, 2, 4, 8, 16, 30, 30, 30] * 8  # MiB: windows of 8 files as the sizer grows them

    def window(mib):
        piece = b"x" * (mib << 20)  # written in full, as hf_xet's copy is
        del piece

    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for at in range(0, len(sizes), 4):  # 4 in flight, each read by a new thread, as `_xet_windows` does
        threads = [threading.Thread(target=window, args=(mib,)) for mib in sizes[at : at + 4]]
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
    # 968 MiB of windows: with glibc's defaults about 4 windows of 30 MiB are faulted in (31,000
    # pages measured), with the settings about 2 (15,400): freed windows are reused.
    assert tuned <= 0.75 * plain, (tuned, plain)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt: Linux only")
def test_a_setting_the_user_gave_is_left_alone() -> None:
    applied, _ = probe("tuned", MALLOC_ARENA_MAX="8")
    if not applied:
        pytest.skip("not glibc: the settings do not apply")
    assert applied == ["MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_"]
