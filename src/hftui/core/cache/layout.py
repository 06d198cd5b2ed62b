"""The cache's on-disk layout as huggingface_hub defines it: names and patterns the scanner matches.

Copies of library constants: importing the modules that define them costs ~120 ms at start-up,
more than a whole scan of a small cache. tests/test_scan.py keeps them equal.
"""

from __future__ import annotations

import errno
import re

from hftui.core.compat import SHARED_BLOBS_DIR_NAME, SHARED_BLOBS_MARKER_CONTENT, SHARED_BLOBS_MARKER_NAME
from hftui.core.vocab import TYPE_PREFIXES

__all__ = [
    "FILES_TO_IGNORE",
    "LOCKS_DIR_NAME",
    "REPO_TYPES_MAPPING",
    "SHARED_BLOBS_DIR_NAME",
    "SHARED_BLOBS_MARKER_CONTENT",
    "SHARED_BLOBS_MARKER_NAME",
]

FILES_TO_IGNORE = frozenset({".DS_Store", "Thumbs.db", "desktop.ini"})
REPO_TYPES_MAPPING = TYPE_PREFIXES
LOCKS_DIR_NAME = ".locks"

XET_HASH = re.compile(r"[0-9a-f]{64}")
HEX2 = re.compile(r"[0-9a-f]{2}")
REPO_DIR = re.compile(rf"(?:{'|'.join(sorted(REPO_TYPES_MAPPING))})--.+")
TEMP_SUFFIX = re.compile(r"\.[0-9a-f]{8}$")
# Errors for which pathlib's exists()/is_dir() answer False instead of raising.
MISSING_ERRNOS = frozenset({errno.ENOENT, errno.ENOTDIR, errno.EBADF, errno.ELOOP})
