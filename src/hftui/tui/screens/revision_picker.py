"""Modal pickers of the Browse pane: the revision picker (branches, tags, PRs, or a typed commit) and a
generic one-choice list (presets, GGUF quantizations)."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from hftui.core.hub.remote import RepoRefs, resolve_ref_input
from hftui.tui.widgets.lists import ListOptions
from hftui.tui.widgets.text_box import TextBox

_MODAL_CSS = """
{name} {{ align: center middle; }}
{name} > Vertical {{
    width: 80%; max-width: 100; height: auto; max-height: 80%;
    border: thick $primary; background: $surface; padding: 0 1;
}}
{name} OptionList {{ height: auto; max-height: 20; }}
{name} .picker-title {{ text-style: bold; padding: 0 0 1 0; }}
{name} .picker-message {{ color: $warning; }}
"""


class RevisionPicker(ModalScreen[str | None]):
    """Pick a branch, tag or PR from `list_repo_refs`, or type one (a commit hash is accepted as is)."""

    DEFAULT_CSS = _MODAL_CSS.format(name="RevisionPicker")
    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel")]

    def __init__(
        self, refs: RepoRefs | None, current: str | None, *, loading_message: str | None = None
    ) -> None:
        super().__init__()
        self.refs = refs or RepoRefs()
        self.current = current
        self.loading_message = loading_message

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(
                "Revision: pick a branch, tag or PR, or type one (a commit hash works)",
                classes="picker-title",
            )
            yield TextBox(value="", placeholder="branch, tag, refs/pr/N or commit hash", id="revision-filter")
            yield ListOptions(id="revision-options", markup=False)
            yield Static(
                self.loading_message or "", id="revision-message", classes="picker-message", markup=False
            )

    def on_mount(self) -> None:
        self._fill("")
        self.query_one(Input).focus()

    def _fill(self, text: str) -> None:
        options = self.query_one(OptionList)
        options.clear_options()
        text = text.strip().lower()
        for kind, items in (
            ("branch", self.refs.branches),
            ("tag", self.refs.tags),
            ("PR", self.refs.pull_requests),
        ):
            for ref in items:
                if text and text not in ref.name.lower() and not ref.commit.startswith(text):
                    continue
                mark = "→ " if ref.name == self.current else "  "
                options.add_option(
                    Option(f"{mark}{kind:<6} {ref.name}  {ref.commit[:10]}", id=f"{kind}:{ref.name}")
                )
        if options.option_count:
            options.highlighted = 0

    @on(Input.Changed, "#revision-filter")
    def _filter(self, event: Input.Changed) -> None:
        self._fill(event.value)
        self.query_one("#revision-message", Static).update("")

    @on(Input.Submitted, "#revision-filter")
    def _submit_typed(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        options = self.query_one(OptionList)
        if not text and options.highlighted is not None:
            self._pick(options.get_option_at_index(options.highlighted).id)
            return
        resolved = resolve_ref_input(text, self.refs)
        if resolved is not None:
            self.dismiss(resolved[0])
        elif not self.refs.all():
            self.dismiss(text or None)  # refs unknown (offline...): let the Hub decide
        elif options.option_count == 1 and options.highlighted is not None:
            self._pick(options.get_option_at_index(0).id)
        else:
            self.query_one("#revision-message", Static).update(
                f"{text!r} is not a branch, tag or PR of this repo, nor a commit hash (7 to 40 hex digits)."
            )

    def _pick(self, option_id: str | None) -> None:
        if option_id:
            self.dismiss(option_id.split(":", 1)[1])

    @on(OptionList.OptionSelected, "#revision-options")
    def _selected(self, event: OptionList.OptionSelected) -> None:
        self._pick(event.option.id)

    def on_key(self, event: object) -> None:
        # Up/down in the filter move the list's highlight.
        key = getattr(event, "key", "")
        if key in ("down", "up") and isinstance(self.focused, Input):
            options = self.query_one(OptionList)
            if key == "down":
                options.action_cursor_down()
            else:
                options.action_cursor_up()
            getattr(event, "stop", lambda: None)()


class ChoicePicker(ModalScreen[str | None]):
    """A titled list of (label, value); enter returns the value, escape None."""

    DEFAULT_CSS = _MODAL_CSS.format(name="ChoicePicker")
    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel")]

    def __init__(
        self, title: str, choices: list[tuple[str, str]], *, empty: str = "Nothing to choose."
    ) -> None:
        super().__init__()
        self.title_text = title
        self.choices = choices
        self.empty = empty

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.title_text, classes="picker-title", markup=False)
            yield ListOptions(
                *[Option(label, id=value) for label, value in self.choices], id="choice-options", markup=False
            )
            if not self.choices:
                yield Static(self.empty, classes="picker-message", markup=False)

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        options.focus()
        if options.option_count:
            options.highlighted = 0

    @on(OptionList.OptionSelected)
    def _selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)


__all__ = ["ChoicePicker", "RevisionPicker"]
