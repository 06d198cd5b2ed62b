"""One classifier for what goes wrong talking to the Hub, and one token redaction.

The browser (`core.hub.remote`) and the downloader (`core.downloads.job`) both meet the same
exceptions from huggingface_hub and httpx. This module decides *what happened* once — a
`HubFailure` with a kind, the HTTP status, whether retrying may help, and a token-free detail —
and each caller words it for its own context (a Browse notice, a queue row).
"""

from __future__ import annotations

import errno
import os
import re
from dataclasses import dataclass
from typing import Literal

FailureKind = Literal[
    "offline",  # HF_HUB_OFFLINE=1: the Hub was not asked
    "gated",
    "disabled",
    "repo_not_found",
    "revision_not_found",
    "entry_not_found",
    "bad_request",  # 400
    "unauthorized",  # 401
    "forbidden",  # 403
    "not_found",  # 404 with no more specific error
    "server",  # 5xx, 408
    "rate_limited",  # 429
    "http",  # any other HTTP status
    "unreachable",  # cannot connect
    "timeout",  # no data within the timeout
    "reset",  # the connection broke mid-transfer
    "network",  # any other httpx error
    "disk_full",
    "permission",
    "incomplete",  # the library's size/consistency check failed after a transfer
    "os_error",  # any other OSError
    "other",
]

TRANSIENT_KINDS = frozenset({"server", "rate_limited", "unreachable", "timeout", "reset", "incomplete"})
"""Failures a retry may fix (the server or the network, not the request)."""

_TOKEN_RE = re.compile(r"\bhf_[A-Za-z0-9]{30,}\b")


def redact(text: str, token: str | None = None) -> str:
    """`text` with the given token, `$HF_TOKEN` and anything shaped like a Hub token masked."""
    for secret in (token, os.environ.get("HF_TOKEN")):
        if secret:
            text = text.replace(secret, "***")
    return _TOKEN_RE.sub("hf_***", text)


@dataclass(frozen=True)
class HubFailure:
    kind: FailureKind
    detail: str
    """The first line of the exception that decided the kind, token-free (may be empty)."""
    status: int = 0
    """The HTTP status when the Hub answered, else 0."""
    error: BaseException | None = None
    """The exception in the chain that decided the kind."""

    @property
    def transient(self) -> bool:
        return self.kind in TRANSIENT_KINDS


def cause_chain(exc: BaseException) -> list[BaseException]:
    """`exc`, its cause, the cause's cause... (at most 10, no loops)."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen and len(seen) < 10:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _first_line(exc: BaseException, token: str | None) -> str:
    text = str(exc)
    return redact(text.splitlines()[0] if text else "", token)


def _http_kind(status: int) -> FailureKind:
    if status == 400:
        return "bad_request"
    if status == 401:
        return "unauthorized"
    if status == 403:
        return "forbidden"
    if status == 404:
        return "not_found"
    if status == 429:
        return "rate_limited"
    if status >= 500 or status == 408:
        return "server"
    return "http"


def _kind_of(err: BaseException) -> FailureKind | None:
    import httpx2
    from huggingface_hub.errors import (
        DisabledRepoError,
        EntryNotFoundError,
        GatedRepoError,
        HfHubHTTPError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    # Most specific first: GatedRepoError is a RepositoryNotFoundError, every Hub error an OSError.
    if isinstance(err, OfflineModeIsEnabled):
        return "offline"
    if isinstance(err, GatedRepoError):
        return "gated"
    if isinstance(err, DisabledRepoError):
        return "disabled"
    if isinstance(err, RepositoryNotFoundError):
        return "repo_not_found"
    if isinstance(err, RevisionNotFoundError):
        return "revision_not_found"
    if isinstance(err, EntryNotFoundError):
        return "entry_not_found"
    if isinstance(err, HfHubHTTPError):
        return _http_kind(err.response.status_code if err.response is not None else 0)
    if isinstance(err, httpx2.ConnectError | ConnectionRefusedError):
        return "unreachable"
    if isinstance(err, httpx2.TimeoutException | TimeoutError):
        return "timeout"
    if isinstance(err, httpx2.ReadError | httpx2.RemoteProtocolError | httpx2.NetworkError):
        return "reset"
    if isinstance(err, ConnectionError):
        return "unreachable"
    if isinstance(err, httpx2.HTTPError):
        return "network"
    if isinstance(err, OSError):
        if err.errno == errno.ENOSPC:
            return "disk_full"
        if err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            return "permission"
        if "Consistency check failed" in str(err):
            return "incomplete"
        return "os_error"
    return None


def classify(exc: BaseException, *, token: str | None = None) -> HubFailure:
    """What went wrong, from the first exception in the cause chain that says something specific.

    huggingface_hub wraps the real cause of a failed download (network down, 5xx, auth) in a
    `LocalEntryNotFoundError` or `DryRunError`; those wrappers are looked through."""
    from huggingface_hub.errors import DryRunError, HfHubHTTPError, LocalEntryNotFoundError

    fallback: HubFailure | None = None
    for err in cause_chain(exc):
        if isinstance(err, LocalEntryNotFoundError | DryRunError) and (err.__cause__ or err.__context__):
            continue
        kind = _kind_of(err)
        if kind is None:
            continue
        status = 0
        if isinstance(err, HfHubHTTPError) and err.response is not None:
            status = err.response.status_code
        failure = HubFailure(kind, _first_line(err, token), status, err)
        if kind != "os_error":
            return failure
        # A bare OSError may wrap something more telling (a reset connection): keep looking.
        fallback = fallback or failure
    return fallback or HubFailure("other", _first_line(exc, token), 0, exc)


__all__ = ["TRANSIENT_KINDS", "FailureKind", "HubFailure", "cause_chain", "classify", "redact"]
