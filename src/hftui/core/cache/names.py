"""Showing names that come from the disk: a folder name may hold any byte but "/" and NUL."""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def printable(text: str) -> str:
    """`text` on one line with its control characters escaped visibly (a newline shows as `\\n`,
    other ones as `\\x1b` or `\\u2028`), so a folder named with a newline cannot split a table row
    or a panel line, nor an escape sequence restyle the terminal. Text without them comes back as is."""
    if _CONTROL.search(text) is None:
        return text
    return _CONTROL.sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
