"""What went wrong on the Xet storage, in words, from the errors hf_xet 1.8 raises.

hf_xet reports every failure of a file as a `RuntimeError` whose text is the Rust error chain, e.g.
``Task error: File reconstruction error: CAS Client Error: Request error: HTTP status server error
(503 Service Unavailable), domain: http://cas/xorbs/<hash>/<hash>``. The user must read
``server error 503 on the Xet storage``, and hftui must know whether a retry can help. The texts
matched here were collected against the local Hub's Xet faults (tests/hub/test_xet_faults.py):

| fault                          | hf_xet says                                             | transient |
|--------------------------------|---------------------------------------------------------|-----------|
| 5xx / 429 on CAS routes        | ``HTTP status server/client error (503 ...)``           | yes       |
| reset, clean close, stall      | ``I/O error: error decoding response body``             | yes       |
| expired or revoked token       | ``HTTP status client error (401 Unauthorized)``         | yes (a new process fetches a new token) |
| unknown Xet hash               | ``(404 Not Found), domain: .../reconstructions/<hash>`` | no        |
| xorb 404                       | ``(404 Not Found), domain: .../xorbs/...``              | no        |
| truncated xorb                 | ``I/O error: unexpected end of file``                   | no        |
| malformed chunk                | ``Malformed data: ...``                                 | no        |
| size differs from X-Linked-Size| ``File size mismatch: expected N bytes but downloaded M``| no       |

A reset, a clean close and a stall give the same text; a stall is told apart by time: no byte
arrived for (about) the stall timeout, which is hf_xet's read timeout in a job process.
"""

from __future__ import annotations

import re

_STATUS = re.compile(r"HTTP status (?:server|client) error \((\d{3})[^)]*\)(?:, domain: (\S+))?")
_SIZE = re.compile(r"File size mismatch: expected (\d+) bytes but downloaded (\d+) bytes")
_HASH = re.compile(r"/reconstructions/([0-9a-f]{64})")
_MARKERS = ("CAS Client Error", "File reconstruction error", "Task error:", "File size mismatch", "Xet")


def is_xet_error(err: BaseException) -> bool:
    if type(err).__module__.startswith("hf_xet") or type(err).__name__.startswith("Xet"):
        return True
    return isinstance(err, RuntimeError) and any(marker in str(err) for marker in _MARKERS)


def classify_xet(
    err: BaseException,
    *,
    stalled_for: float | None,
    stall_timeout: float,
    files_by_hash: dict[str, str],
) -> tuple[str, bool]:
    """(message, transient) for an error raised by hf_xet."""
    text = str(err)
    name = type(err).__name__
    match = _STATUS.search(text)
    if match is not None:
        status = int(match.group(1))
        where = match.group(2) or ""
        if status in (401, 403):
            return f"the Xet storage refused the access token ({status}); it is fetched again on retry", True
        if status == 404:
            found = _HASH.search(where)
            if found is not None:
                file = files_by_hash.get(found.group(1))
                what = (
                    f"{file} (Xet hash {found.group(1)[:12]}…)"
                    if file
                    else f"Xet hash {found.group(1)[:12]}…"
                )
                return f"unknown to the Xet storage (404): {what}", False
            return "data missing on the Xet storage (404 for a xorb)", False
        if status in (408, 429) or status >= 500:
            return f"server error {status} on the Xet storage", True
        return f"HTTP error {status} from the Xet storage", False
    match = _SIZE.search(text)
    if match is not None:
        expected, got = int(match.group(1)), int(match.group(2))
        return (
            f"size mismatch: the Xet storage rebuilt {got:,} bytes where the Hub announced {expected:,}",
            False,
        )
    if "unexpected end of file" in text:
        return "malformed data from the Xet storage: a xorb ended early (truncated)", False
    if "Malformed data" in text:
        detail = text.split("Malformed data:", 1)[1].strip().split(",")[0]
        return f"malformed data from the Xet storage: {detail}", False
    if (
        "error decoding response body" in text
        or "error sending request" in text
        or "connection" in text.lower()
    ):
        if stalled_for is not None and stalled_for >= 0.8 * stall_timeout:
            return f"stalled: no data from the Xet storage for {stalled_for:.0f} s", True
        return "connection reset by the Xet storage", True
    if "timed out" in text.lower() or "timeout" in text.lower():
        return "stalled: the Xet storage did not answer within the stall timeout", True
    if name == "XetAuthenticationError":
        return "the Xet storage refused the access token", True
    if name == "XetObjectNotFoundError":
        return "unknown to the Xet storage (404)", False
    # Unknown: say it came from Xet, without the Rust chain's prefixes.
    tail = text.split("Error:")[-1].strip() or name
    return f"Xet transfer failed: {tail.splitlines()[0][:200]}", True
