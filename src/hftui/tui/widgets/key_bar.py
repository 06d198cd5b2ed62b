"""KeyBar: the footer line, laid out by priority so the keys that matter survive a narrow terminal.

Textual's Footer lays keys out in binding-chain order (the focused widget's first, the app's last) and
lets the rest run off the right edge: at 80 columns the Cache pane lost `? Help` and `q Quit`, and a
sliver of the next key showed after `^p palette`. KeyBar draws the same active bindings (so it shows only
keys that act right now: a disabled action is dimmed, a hidden one and a key a focused text box would
type are left out) with `?`, `q` and the palette key pinned on the right, and drops whole entries from
the end of the pane's own keys until the line fits.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.binding import Binding
from textual.screen import Screen
from textual.widget import Widget

from hftui.tui import actions

PINNED = ("help", "quit")
"""Actions shown on the right at every width."""


@dataclass(frozen=True)
class Entry:
    keys: str
    """As displayed: `space`, `/`, `1 2 3`, `F1 F2 F3`."""
    description: str
    action: str
    key: str
    """The first key's Textual name (`question_mark`)."""
    enabled: bool = True

    @property
    def width(self) -> int:
        return len(self.keys) + 1 + len(self.description)


class KeyBar(Widget):
    DEFAULT_CSS = """
    KeyBar {
        dock: bottom;
        height: 1;
        background: $footer-background;
        color: $footer-description-foreground;
    }
    KeyBar > .key-bar--key { color: $footer-key-foreground; text-style: bold; }
    KeyBar > .key-bar--disabled { color: $text-disabled; }
    KeyBar > .key-bar--rule { color: $foreground 30%; }
    """
    COMPONENT_CLASSES = {"key-bar--key", "key-bar--disabled", "key-bar--rule"}

    GAP = 2

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _bindings_changed(self, screen: Screen[object]) -> None:
        self.refresh()

    # -- what to show -----------------------------------------------------------------------------

    def entries(self) -> tuple[list[Entry], list[Entry]]:
        """(the pane's keys in priority order, the pinned keys) for the bindings active now."""
        by_action: dict[str, list[tuple[Binding, bool]]] = {}
        for active in self.screen.active_bindings.values():
            if active.binding.show:
                by_action.setdefault(active.binding.action, []).append((active.binding, active.enabled))
        own: list[Entry] = []
        pinned: list[Entry] = []
        group: list[tuple[Binding, bool]] = []
        for action, found in by_action.items():
            # The plain key over its always-on twin (`q` over `ctrl+c`, `1` over `f1`); the twin is
            # what is left while a text box would type the plain key.
            binding, enabled = min(found, key=lambda f: f[0].priority)
            if binding.group is actions.PANE_KEYS:
                group.append((binding, enabled))
                continue
            entry = Entry(self._display(binding), binding.description, action, binding.key, enabled)
            (pinned if action in PINNED else own).append(entry)
        pinned.sort(key=lambda e: PINNED.index(e.action))
        if group:
            keys = " ".join(self._display(b) for b, _ in group)
            own.append(Entry(keys, actions.PANE_KEYS.description, "show_pane", group[0][0].key))
        palette = self.screen.active_bindings.get(self.app.COMMAND_PALETTE_BINDING)
        if palette is not None:
            pinned.append(Entry(self._display(palette.binding), "palette", palette.binding.action, "ctrl+p"))
        return own, pinned

    def _display(self, binding: Binding) -> str:
        shown = self.app.get_key_display(binding)
        return shown.upper() if len(shown) == 2 and shown[0] == "f" else shown

    def shown(self) -> list[Entry]:
        """The entries that fit the current width, left to right (what the user sees)."""
        own, pinned = self.entries()
        width = self.size.width or self.app.size.width
        budget = width - 1 - sum(e.width + self.GAP for e in pinned) - 2
        kept: list[Entry] = []
        for entry in own:
            if entry.width + self.GAP <= budget:
                kept.append(entry)
                budget -= entry.width + self.GAP
            else:
                break  # never skip ahead: the order is the priority
        return kept + pinned

    # -- drawing -------------------------------------------------------------------------------------

    def render(self) -> Text:
        key_style = self.get_component_rich_style("key-bar--key")
        disabled = self.get_component_rich_style("key-bar--disabled")
        rule = self.get_component_rich_style("key-bar--rule")
        entries = self.shown()
        _, pinned = self.entries()
        left, right = entries[: len(entries) - len(pinned)], entries[len(entries) - len(pinned) :]

        def draw(items: list[Entry]) -> Text:
            text = Text(no_wrap=True)
            for i, entry in enumerate(items):
                if i:
                    text.append(" " * self.GAP)
                text.append(entry.keys, style=key_style if entry.enabled else disabled)
                text.append(" " + entry.description, style="" if entry.enabled else disabled)
            return text

        palette = [e for e in right if e.key == "ctrl+p"]
        tail = draw([e for e in right if e.key != "ctrl+p"])
        if palette:
            tail.append(" ▏", style=rule)
            tail.append_text(draw(palette))
        line = Text(" ", no_wrap=True, overflow="crop")
        line.append_text(draw(left))
        line.append(" " * max(1, self.size.width - line.cell_len - tail.cell_len - 1))
        line.append_text(tail)
        return line


__all__ = ["PINNED", "Entry", "KeyBar"]
