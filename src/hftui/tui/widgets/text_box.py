"""TextBox: the Input every hftui text field uses.

Two things a plain `Input` gets wrong for a keyboard model where letters are also commands:

* Focus must be visible: a compact Input only tints its background 5% when focused, so a user could
  not tell that `3` would be typed rather than switch panes. A focused TextBox is clearly highlighted.
* The footer must not offer a key the box would type: Textual drops such bindings from the footer
  by asking the focused Input whether it consumes the key's character, but it cannot name the
  character of a few keys (`slash`: textual 8.2.8's `key_to_character` returns None), so `/ Search`
  was shown while `/` went into the Repo box. TextBox answers for those keys itself.
"""

from __future__ import annotations

from textual.widgets import Input

_CHARACTERS = {"slash": "/"}
"""Key names whose character Textual cannot look up (checked against textual 8.2.8)."""


class TextBox(Input):
    DEFAULT_CSS = """
    TextBox.-textual-compact:focus {
        background-tint: $primary 40%;
        text-style: bold;
    }
    """

    def check_consume_key(self, key: str, character: str | None) -> bool:
        return super().check_consume_key(key, character or _CHARACTERS.get(key))


__all__ = ["TextBox"]
