"""The httpx2 side of `hftui.core.downloads.transport`: the job-aware transport and the client
factory huggingface_hub builds its shared client with.

Kept apart so that importing the download machinery does not import httpx2 (about 50 ms,
counted in the app's time to its first rows); `transport.install()` imports this module.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from time import monotonic
from typing import Any

import httpx2

from hftui.core import compat
from hftui.core.downloads import transport
from hftui.core.downloads.transport import (
    COUNT_BATCH,
    COUNT_INTERVAL,
    JOB_HEADER,
    CancelSignal,
    JobCancelled,
    JobChannel,
)


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
            with transport._channels_lock:
                token = transport._redirects.pop(str(request.url), None) or (
                    transport._sole_job[0] if transport._sole_job else None
                )
            if token is None:
                return self._inner.handle_request(request)
        else:
            del request.headers[JOB_HEADER]
        channel = transport._channel(token)
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
            with transport._channels_lock:
                transport._redirects[str(request.url.join(location))] = token
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


def _client_factory() -> httpx2.Client:
    # Same as huggingface_hub's default client (its own request hooks: offline switch, download
    # counter, request ids), plus our job-aware transport.
    return httpx2.Client(
        event_hooks={"request": list(transport._library_request_hooks)},
        follow_redirects=True,
        timeout=None,
        transport=JobAwareTransport(httpx2.HTTPTransport()),
    )
