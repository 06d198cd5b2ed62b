"""The UI-free core: scanning, cleanup planning, patterns, the download queue.

Nothing under `hftui.core` may import Textual or Rich; `tests/test_import_hygiene.py` enforces it.
"""
