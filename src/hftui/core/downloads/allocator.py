"""glibc malloc settings for a job process, which moves every byte of large files.

Why. hf_xet's ranged stream hands over each window of a kept Xet file (up to 30 MiB) as one new
`bytes` object, and builds it in a buffer of its own first. With glibc's defaults both are
mapped afresh and unmapped when freed: each window's pages are faulted in (and zeroed) twice,
about 100,000 page faults more than `hf download` for 512 MiB, and on a busy 2-CPU VM the job
process spent 2.3-2.7 s in the kernel where `hf download` spent 1.3 s (measured with
`benchmarks/download.py` and `perf stat`, hf_xet 1.8, glibc 2.36).

What. Blocks up to 32 MiB (glibc's largest mmap threshold) come from the heap, freed memory is
kept for the next window rather than returned at once, and the threads share two arenas, so
what is kept is reused rather than held once per thread: 1.6 s in the kernel, and peak memory
no higher than with the defaults (540-570 MB for 8 files of 64 MiB, 16 windows in flight).

Only glibc has `mallopt` with these parameters; elsewhere nothing changes. A setting the user
gave through glibc's own environment variables (`MALLOC_ARENA_MAX`, ...) is left as it is.
"""

from __future__ import annotations

import ctypes
import os
import sys

# glibc's <malloc.h>
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8

SETTINGS = (
    ("MALLOC_MMAP_THRESHOLD_", _M_MMAP_THRESHOLD, 32 * 1024 * 1024),
    ("MALLOC_TRIM_THRESHOLD_", _M_TRIM_THRESHOLD, 256 * 1024 * 1024),
    ("MALLOC_ARENA_MAX", _M_ARENA_MAX, 2),
)
"""(the environment variable that sets it, mallopt parameter, value)"""


def tune_for_transfers() -> list[str]:
    """Apply `SETTINGS` in this process (call it before the transfer threads start); returns the
    names of the settings applied (empty when not on glibc)."""
    if not sys.platform.startswith("linux"):
        return []
    try:
        libc = ctypes.CDLL(None)
        version = libc.gnu_get_libc_version  # glibc only: musl's mallopt ignores everything
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return []
    version.restype = ctypes.c_char_p
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    applied = []
    for name, parameter, value in SETTINGS:
        if name in os.environ:
            continue
        if mallopt(parameter, value) == 1:
            applied.append(name)
    return applied
