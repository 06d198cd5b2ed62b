"""Bytes that reached this process's TCP sockets, as the kernel counts them.

Why. A kept Xet file is fetched with hf_xet's ranged stream, which hands a window over only when
all of it has arrived and whose `progress()` raises "Already mutably borrowed" while a read
waits (hf_xet 1.8, measured; its ordered `download_stream` behaves the same). At 0.25 MiB/s a
2 MiB window is 8 s without a sign of life. The job runs in a process of its own
(`hftui.core.downloads.worker`), so what its TCP sockets received is that job's traffic: the
kernel keeps the count per socket (`tcpi_bytes_received` of `TCP_INFO`, Linux 4.1+), and reading
it costs no byte on the wire, unlike smaller windows (each costs a reconstruction request and
one chunk fetched twice). `resume._Prefetch` turns it into an estimate of a window's progress,
clamped to what the windows in flight still lack and replaced by the real bytes when a window
completes: never more than arrived.

Where it cannot be read (not Linux, no `/proc`, an old kernel), `ArrivalMeter.total()` is None
and the progress moves per window, as before.
"""

from __future__ import annotations

import contextlib
import os
import socket
import struct
import threading

_TCP_INFO_BYTES_RECEIVED = 128
"""Offset of `tcpi_bytes_received` (u64) in Linux's `struct tcp_info` (include/uapi/linux/tcp.h):
8 one-byte fields, 24 u32 fields, then pacing_rate, max_pacing_rate, bytes_acked (u64 each)."""
_TCP_INFO_READ = 256


def socket_counts() -> dict[int, int] | None:
    """{socket inode: bytes received} for every TCP socket this process holds; None where the
    kernel does not say (no /proc/self/fd or no TCP_INFO)."""
    tcp_info = getattr(socket, "TCP_INFO", None)
    if tcp_info is None:
        return None
    try:
        fds = os.listdir("/proc/self/fd")
    except OSError:
        return None
    counts: dict[int, int] = {}
    for name in fds:
        try:
            target = os.readlink(f"/proc/self/fd/{name}")
        except OSError:
            continue  # closed meanwhile (another thread's socket)
        if not target.startswith("socket:["):
            continue
        try:
            # A duplicate: the socket object closes its own descriptor, never the owner's.
            fd = os.dup(int(name))
        except OSError:
            continue  # closed meanwhile
        try:
            sock = socket.socket(fileno=fd)
        except (OSError, ValueError):  # the number was reused meanwhile, or an unknown family
            os.close(fd)
            continue
        try:
            if sock.family not in (socket.AF_INET, socket.AF_INET6) or sock.type != socket.SOCK_STREAM:
                continue
            info = sock.getsockopt(socket.IPPROTO_TCP, tcp_info, _TCP_INFO_READ)
        except OSError:
            continue
        finally:
            with contextlib.suppress(OSError):
                sock.close()
        if len(info) >= _TCP_INFO_BYTES_RECEIVED + 8:
            inode = int(target[len("socket:[") : -1])
            counts[inode] = struct.unpack_from("=Q", info, _TCP_INFO_BYTES_RECEIVED)[0]
    return counts


class ArrivalMeter:
    """Bytes received by this process's TCP sockets since the meter was made.

    A socket that closes takes its count with it: the meter keeps what it last saw of each one,
    so the total never goes back (it may miss what a socket received between the last reading
    and its close, an under-estimate that the completed window corrects)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._baseline = socket_counts()
        self._seen: dict[int, int] = dict(self._baseline or {})
        self._gone = 0
        """Bytes counted on sockets closed since the meter was made."""

    @property
    def available(self) -> bool:
        return self._baseline is not None

    def total(self) -> int | None:
        if self._baseline is None:
            return None
        counts = socket_counts()
        if counts is None:
            return None
        with self._lock:
            for inode in list(self._seen):
                if inode not in counts:
                    self._gone += self._seen.pop(inode) - self._baseline.pop(inode, 0)
            for inode, count in counts.items():
                if count >= self._seen.get(inode, 0):
                    self._seen[inode] = count
                else:  # the inode was reused by a new socket: a fresh count
                    self._gone += self._seen[inode] - self._baseline.pop(inode, 0)
                    self._seen[inode] = count
            return self._gone + sum(n - self._baseline.get(inode, 0) for inode, n in self._seen.items())
