"""The HTTP seam for downloads: a transport that knows which job a request belongs to.

huggingface_hub 2.x sends all its traffic through one shared `httpx2.Client` built by a
factory that the library lets applications replace (`huggingface_hub.set_client_factory`,
public API). hftui installs a factory that builds the same client as the library's default
(same request hook, redirects, no client-wide timeout) but with a wrapping transport:

* every request made for a job carries the header `X-Hftui-Job: <token>` (passed through
  `snapshot_download(headers=...)`); the transport strips it before the request leaves;
* before sending, and on **every network read** of the body, the transport asks the job's
  `is_cancelled()`; a cancelled job gets `JobCancelled` raised inside the library's read loop,
  which unwinds `snapshot_download` (the library unlinks its `.incomplete` file in a `finally`).
  Progress from the library comes only once per 10 MiB chunk, so this is what makes cancel and
  pause stop traffic within a second even on a slow link;
* the read timeout of a job's requests is the `stall_timeout` setting, so a body that stalls
  raises `httpx2.ReadTimeout`, which the library retries (resuming with a Range request) and
  hftui retries at job level after that;
* body bytes of file downloads are counted per job, which gives a smooth speed/ETA between the
  library's 10 MiB progress steps.

Requests without the header (the Browse pane's API calls, anything else using the library)
pass through untouched.

The httpx2 classes are in `http_transport`, which `install()` imports: the app imports this
module at start-up, and httpx2 alone takes about 50 ms to import.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

JOB_HEADER = "X-Hftui-Job"

COUNT_BATCH = 512 * 1024
"""Body bytes read before they are added to the job's counter (fewer lock round trips per read)."""
COUNT_INTERVAL = 0.1
"""... or seconds since the last addition, whichever comes first (smooth progress on slow links)."""


class JobCancelled(Exception):
    """Raised inside the library's call stack when the user cancelled or paused the job."""


class CancelSignal:
    """A job's stop flag (`set`, `is_set`, like `threading.Event`) that also cuts its connections.

    A read blocked on a body that stalled would otherwise notice the flag only when the stall
    ends or `stall_timeout` passes (30 s by default), keeping the job's slot busy that long after
    a pause or cancel. `set()` shuts down the sockets of the job's open responses, so such a
    read returns at once and the job unwinds.
    """

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._waiters: set[threading.Event] = set()

    def is_set(self) -> bool:
        return self._event.is_set()

    def set(self) -> None:
        self._event.set()
        with self._lock:
            sockets = list(self._sockets)
            waiters = list(self._waiters)
        for waiter in waiters:
            waiter.set()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def wake(self, event: threading.Event) -> Callable[[], None]:
        """Set `event` when this signal is set (at once if it is); returns the undo."""
        with self._lock:
            if self._event.is_set():
                event.set()
            else:
                self._waiters.add(event)

        def undo() -> None:
            with self._lock:
                self._waiters.discard(event)

        return undo

    def watch(self, sock: socket.socket) -> bool:
        """Track `sock` until `unwatch`; False when the job is already cancelled."""
        with self._lock:
            if self._event.is_set():
                return False
            self._sockets.add(sock)
            return True

    def unwatch(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.discard(sock)


@dataclass
class JobChannel:
    is_cancelled: Callable[[], bool]
    stall_timeout: float
    on_bytes: Callable[[int], None] | None = None
    signal: CancelSignal | None = None
    on_note: Callable[[str], None] | None = None
    """Hears faults the library recovers from on its own (it resumes a stalled or cut body with a
    Range request, it retries a 429), so the row can say why bytes paused."""


_channels: dict[str, JobChannel] = {}
_channels_lock = threading.Lock()
_redirects: dict[str, str] = {}
"""Redirect target URL -> job token: httpx drops our header when it follows a redirect to another
origin (the real Hub's CDN and Xet bridge, the local Hub's CAS), and the file's body comes from
there."""
_installed = False
_install_lock = threading.Lock()


_sole_job: list[str] = []
"""The job every untagged request belongs to, in a job process (see `set_sole_job`)."""


def set_sole_job(token: str | None) -> None:
    """In a process that runs one job only: every request without the job header is that job's.

    The header is then not needed at all, and does not travel further than this process (hf_xet
    forwards a download's headers to the Xet storage)."""
    with _channels_lock:
        _sole_job[:] = [token] if token else []


def register(token: str, channel: JobChannel) -> None:
    with _channels_lock:
        _channels[token] = channel


def unregister(token: str) -> None:
    with _channels_lock:
        _channels.pop(token, None)
        for url in [url for url, owner in _redirects.items() if owner == token]:
            del _redirects[url]


def _channel(token: str) -> JobChannel | None:
    with _channels_lock:
        return _channels.get(token)


_library_request_hooks: list[Callable[..., Any]] = []


def install() -> None:
    """Make huggingface_hub's shared client job-aware (idempotent, process-wide)."""
    global _installed
    with _install_lock:
        if _installed:
            return
        from huggingface_hub import get_session, set_client_factory

        # Borrow the library's hooks from its default client through the public API, rather
        # than importing them from its private `_http` module.
        from hftui.core.downloads.http_transport import _client_factory

        _library_request_hooks[:] = get_session().event_hooks["request"]
        set_client_factory(_client_factory)
        _installed = True
