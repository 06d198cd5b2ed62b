"""The keyboard model: keys act in the order typed, on the widget that has focus when their turn comes.

Textual hands each key to whichever widget has focus *when the app takes the key off its queue*; the
key's binding runs later, when the key has bubbled back up to the app, and a focus change made with
`Widget.focus()` waits for yet another turn of the loop. Keys typed in a burst (tmux, a fast typist, a
paste) therefore raced: `2 3` typed `3` into the Browse repo box that took focus a moment late, and keys
typed right after `o` ran as file-tree commands. Two rules remove the race:

* `KeyGate` lets one key through at a time. After a key is handed over, a `KeySettled` marker follows it
  up the same chain of widgets, twice (the second lap also trails any message the key made a widget
  post, such as `Input.Submitted` or `DataTable.RowSelected`); only when the marker is back does the
  next key go out, to whatever has focus by then.
* `focus_now` moves focus at once (`Screen.set_focus`), so a key's own handler decides where the next
  key goes.

A marker that cannot come back (its widget was removed) is covered by a short fallback: the gate then
opens by itself and keys flow as Textual delivers them.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from textual import events
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widget import Widget

if TYPE_CHECKING:
    from textual.app import App
    from textual.timer import Timer

FALLBACK_S = 0.5
"""How long the gate waits for a lost marker before it opens anyway (never reached in normal use)."""


def focus_now(widget: Widget) -> None:
    """Give `widget` focus before the next key is delivered (`Widget.focus()` defers it a turn)."""
    try:
        screen = widget.screen
    except Exception:  # not mounted (yet): nothing can have focus there
        return
    screen.set_focus(widget)


def has_focus_now(widget: Widget) -> bool:
    """`widget` has focus as of the last `set_focus` (`Widget.has_focus` only follows once the Focus
    event is handled, a turn later: a key handled in between would read a stale answer)."""
    try:
        return widget.screen.focused is widget
    except Exception:
        return False


@dataclass
class KeySettled(Message):
    """Follows a key up its chain of widgets; back at the app, that key has been fully handled."""

    serial: int
    lap: int


class KeyGate:
    """Holds keys typed while an earlier key is still being handled, and releases them in order."""

    def __init__(self, app: App[Any], deliver: Callable[[events.Key], Awaitable[None]]) -> None:
        self.app = app
        self._deliver_fn = deliver
        self.held: deque[events.Key] = deque()
        self._serial = 0
        self._busy: int | None = None
        self._fallback: Timer | None = None

    @property
    def busy(self) -> bool:
        return self._busy is not None

    async def arrived(self, event: events.Key) -> None:
        """A key from the terminal (or Pilot): deliver it now, or after the keys before it."""
        if self._busy is not None:
            self.held.append(event)
            return
        await self._deliver(event)

    async def _deliver(self, event: events.Key) -> None:
        self._serial += 1
        serial = self._busy = self._serial
        await self._deliver_fn(event)
        if self._busy != serial:
            return
        self._send(serial, 1)
        if self._fallback is not None:
            self._fallback.stop()
        self._fallback = self.app.set_timer(FALLBACK_S, lambda: self._timed_out(serial))

    def _send(self, serial: int, lap: int) -> None:
        app = self.app
        try:
            target: Widget = app.focused or app.screen
        except Exception:
            self._busy = None
            return
        target.post_message(KeySettled(serial, lap))

    async def settled(self, message: KeySettled) -> None:
        if message.serial != self._busy:
            return  # a marker the fallback already gave up on
        if message.lap == 1:
            self._send(message.serial, 2)
            return
        await self._release()

    def replay(self, keys: list[events.Key]) -> None:
        """Deliver `keys` next, before any key typed after them (a widget held them while it loaded)."""
        if not keys:
            return
        fresh = []
        for key in keys:
            event = events.Key(key.key, key.character)
            # As if from the terminal: a key "sent" by a widget's parent stops bubbling at that parent
            # and would never reach the app's bindings.
            event.set_sender(self.app)
            fresh.append(event)
        self.held.extendleft(reversed(fresh))
        if self._busy is None:
            # Keys arriving before the call below runs must queue behind the replayed ones.
            self._serial += 1
            serial = self._busy = self._serial
            self.app.call_later(self._timed_out, serial)

    async def _timed_out(self, serial: int) -> None:
        if self._busy == serial:
            await self._release()

    async def _release(self) -> None:
        self._busy = None
        if self._fallback is not None:
            self._fallback.stop()
            self._fallback = None
        if self.held:
            await self._deliver(self.held.popleft())


# -- list keys ---------------------------------------------------------------------------------------

TABLE_KEYS: list[BindingType] = [
    Binding("j", "cursor_down", "Down", show=False),
    Binding("k", "cursor_up", "Up", show=False),
    # DataTable's own home/end scroll sideways; in a row list they mean the first and last row.
    Binding("home,g", "scroll_top", "First row", show=False),
    Binding("end,G", "scroll_bottom", "Last row", show=False),
]
TREE_KEYS: list[BindingType] = [
    Binding("j", "cursor_down", "Down", show=False),
    Binding("k", "cursor_up", "Up", show=False),
    Binding("home,g", "scroll_home", "First line", show=False),
    Binding("end,G", "scroll_end", "Last line", show=False),
]
OPTION_KEYS: list[BindingType] = [
    Binding("j", "cursor_down", "Down", show=False),
    Binding("k", "cursor_up", "Up", show=False),
    Binding("home,g", "first", "First", show=False),
    Binding("end,G", "last", "Last", show=False),
]
"""The keys every list and tree in hftui shares, on top of up/down/pageup/pagedown (see docs/keys.md)."""


__all__ = [
    "FALLBACK_S",
    "OPTION_KEYS",
    "TABLE_KEYS",
    "TREE_KEYS",
    "KeyGate",
    "KeySettled",
    "focus_now",
    "has_focus_now",
]
