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
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from time import monotonic
from typing import Any

import httpx2

from hftui.core import compat

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


class _CancellableStream(httpx2.SyncByteStream):
    def __init__(
        self, inner: Any, channel: JobChannel, count: bool, sock: socket.socket | None = None
    ) -> None:
        self._inner = inner
        self._channel = channel
        self._count = count
        self._sock = sock

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._read()
        except JobCancelled:
            raise
        except Exception as exc:
            # A read that failed because the job's connection was cut on purpose is a cancel.
            if self._channel.is_cancelled():
                raise JobCancelled("cancelled") from None
            note = self._channel.on_note
            if note is not None and self._count:
                if isinstance(exc, httpx2.TimeoutException):
                    note(f"stalled: no data for {self._channel.stall_timeout:.0f} s; retrying")
                elif isinstance(exc, (httpx2.ReadError, httpx2.RemoteProtocolError)):
                    note("connection reset; retrying")
            raise
        finally:
            self._release()

    def _release(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None and self._channel.signal is not None:
            self._channel.signal.unwatch(sock)

    def _read(self) -> Iterator[bytes]:
        # This loop runs once per network read (64 KiB) on up to max_jobs x max_workers threads,
        # so it does as little as possible: one flag check, and byte counts handed to the job's
        # tracker (which takes a lock) only every COUNT_BATCH bytes and when the body ends.
        is_cancelled = self._channel.is_cancelled
        on_bytes = self._channel.on_bytes if self._count else None
        if on_bytes is None:
            for chunk in self._inner:
                if is_cancelled():
                    raise JobCancelled("cancelled")
                yield chunk
            return
        pending = 0
        flushed = monotonic()
        try:
            for chunk in self._inner:
                if is_cancelled():
                    raise JobCancelled("cancelled")
                pending += len(chunk)
                if pending >= COUNT_BATCH or monotonic() - flushed >= COUNT_INTERVAL:
                    on_bytes(pending)
                    pending = 0
                    flushed = monotonic()
                yield chunk
        finally:
            if pending:
                on_bytes(pending)

    def close(self) -> None:
        self._release()
        close = getattr(self._inner, "close", None)
        if callable(close):
            close()


class JobAwareTransport(httpx2.BaseTransport):
    def __init__(self, inner: httpx2.BaseTransport) -> None:
        self._inner = inner

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        token = request.headers.get(JOB_HEADER)
        if token is None:
            with _channels_lock:
                token = _redirects.pop(str(request.url), None) or (_sole_job[0] if _sole_job else None)
            if token is None:
                return self._inner.handle_request(request)
        else:
            del request.headers[JOB_HEADER]
        channel = _channel(token)
        if channel is None:
            return self._inner.handle_request(request)
        if channel.is_cancelled():
            raise JobCancelled("cancelled")
        timeout = dict(request.extensions.get("timeout") or {})
        timeout["read"] = channel.stall_timeout
        timeout["connect"] = min(timeout.get("connect") or channel.stall_timeout, channel.stall_timeout)
        request.extensions["timeout"] = timeout
        response = self._send(request, channel.signal)
        location = response.headers.get("location") if response.is_redirect else None
        if location:
            with _channels_lock:
                _redirects[str(request.url.join(location))] = token
        # File bodies: `resolve` GETs and wherever they redirect (the real Hub's CDN or Xet
        # bridge, the local Hub's `/bridge/`); not the API's JSON.
        counts = request.method == "GET" and not request.url.path.startswith("/api/")
        sock = compat.socket_of(response) if channel.signal is not None else None
        if sock is not None and channel.signal is not None and not channel.signal.watch(sock):
            response.close()
            raise JobCancelled("cancelled")
        if (
            counts
            and channel.on_note is not None
            and (response.status_code in (408, 429) or response.status_code >= 500)
        ):
            channel.on_note(f"server error {response.status_code}; retrying")
        response.stream = _CancellableStream(response.stream, channel, counts, sock)
        return response

    def _send(self, request: httpx2.Request, signal: CancelSignal | None) -> httpx2.Response:
        """Send `request`; a cancel returns at once even before the server has answered.

        Until the response headers arrive there is no socket to cut (the pool picks or opens
        the connection inside the call), so a request the server is slow to answer (a busy API
        during the dry run, a connect to a host that does not answer) would hold a paused or
        cancelled job's slot, and delay quitting, for up to `stall_timeout` (30 s). So the
        request is sent from a helper thread and the job's thread waits for either the answer
        or the cancel; an answer that comes after a cancel is closed unread.
        """
        if signal is None:
            return self._inner.handle_request(request)
        answered = threading.Event()
        lock = threading.Lock()
        outcome: list[httpx2.Response | BaseException] = []
        abandoned = False

        def send() -> None:
            result: httpx2.Response | BaseException
            try:
                result = self._inner.handle_request(request)
            except BaseException as exc:
                result = exc
            with lock:
                if not abandoned:
                    outcome.append(result)
                    answered.set()
                    return
            if isinstance(result, httpx2.Response):
                with contextlib.suppress(Exception):
                    result.close()

        undo = signal.wake(answered)
        try:
            threading.Thread(target=send, name="hftui-download-request", daemon=True).start()
            answered.wait()
        finally:
            undo()
        with lock:
            if not outcome:
                abandoned = True
                raise JobCancelled("cancelled")
        result = outcome[0]
        if isinstance(result, BaseException):
            raise result
        return result

    def close(self) -> None:
        self._inner.close()


_library_request_hooks: list[Callable[..., Any]] = []


def _client_factory() -> httpx2.Client:
    # Same as huggingface_hub's default client (its own request hooks: offline switch, download
    # counter, request ids), plus our job-aware transport.
    return httpx2.Client(
        event_hooks={"request": list(_library_request_hooks)},
        follow_redirects=True,
        timeout=None,
        transport=JobAwareTransport(httpx2.HTTPTransport()),
    )


def install() -> None:
    """Make huggingface_hub's shared client job-aware (idempotent, process-wide)."""
    global _installed
    with _install_lock:
        if _installed:
            return
        from huggingface_hub import get_session, set_client_factory

        # Borrow the library's hooks from its default client through the public API, rather
        # than importing them from its private `_http` module.
        _library_request_hooks[:] = get_session().event_hooks["request"]
        set_client_factory(_client_factory)
        _installed = True
