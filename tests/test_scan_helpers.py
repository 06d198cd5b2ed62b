"""A scan spread over worker processes leaves no process behind (issue 16): a TUI runs for hours,
and multiprocessing's fork server and resource tracker (~30 MiB) used to stay alive until it quit."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from cachebuilders import add_revision

from hftui.core.cache.scan import iter_scan


def _children() -> set[int]:
    """PIDs whose parent is this process (read from /proc: no psutil)."""
    me = os.getpid()
    found = set()
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                fields = f.read().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[1]) == me:
            found.add(int(name))
    return found


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs /proc to list child processes")
@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="one CPU: the scan never starts workers")
def test_no_helper_process_outlives_a_scan_with_workers(tmp_path: Path) -> None:
    for i in range(40):
        add_revision(tmp_path, f"org/model-{i}", {"config.json": b"{}"})
    before = _children()
    # Another thread running (as in the TUI) makes the scan use the fork server.
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        stream = iter_scan(tmp_path, processes=2)
        assert stream.processes == 2
        seen_during: set[int] = set()
        for count, _ in enumerate(stream, 1):
            if count == stream.first_batch + 1:
                seen_during = _children() - before
        assert stream.report is not None and len(stream.report.repos) == 40
    finally:
        stop.set()
        other.join()
    assert seen_during, "the scan was expected to start helper processes"
    assert _children() - before == set()
