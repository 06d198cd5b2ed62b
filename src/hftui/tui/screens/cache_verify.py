"""`v`: verify a revision offline, with a progress bar; escape cancels."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import ProgressBar, Static

from hftui.core.cache.verify import VerifyCancelled, VerifyError, VerifyResult, verify_revision


class VerifyScreen(ModalScreen[VerifyResult | None]):
    DEFAULT_CSS = """
    VerifyScreen { align: center middle; }
    VerifyScreen > #dialog {
        width: 90%; max-width: 100; height: auto; max-height: 90%;
        border: thick $primary; background: $surface; padding: 0 1;
    }
    VerifyScreen #result { height: auto; max-height: 16; }
    """
    BINDINGS = [
        Binding("escape,q", "close", "Cancel/close"),
        Binding("r", "redownload", "Re-download bad files"),
    ]

    @dataclass
    class Progress(Message):
        done: int
        total: int

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, VerifyScreen.Progress)

    @dataclass
    class Finished(Message):
        result: VerifyResult | None
        error: str = ""

    def __init__(
        self,
        repo_path: Path,
        commit_hash: str,
        label: str,
        redownload: Callable[[VerifyResult], None] | None = None,
    ) -> None:
        super().__init__()
        self.repo_path = repo_path
        self.commit_hash = commit_hash
        self.label = label
        self.redownload = redownload
        """Queues the re-download of a result's bad files (the pane's; None: no such key)."""
        self.cancel_event = threading.Event()
        self.result: VerifyResult | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(f"Verifying {self.label} @ {self.commit_hash[:10]} offline", id="title")
            yield ProgressBar(total=None, show_eta=False, id="progress")
            with VerticalScroll(id="result"):
                yield Static("hashing…", id="result-text")

    def on_mount(self) -> None:
        self.run_verify()

    @work(thread=True, exclusive=True, group="verify", exit_on_error=False)
    def run_verify(self) -> None:
        last = [0.0]
        import time

        def progress(done: int, total: int) -> None:
            now = time.monotonic()
            if now - last[0] > 0.05 or done == total:
                last[0] = now
                self.post_message(self.Progress(done, total))

        try:
            result = verify_revision(
                self.repo_path, self.commit_hash, progress=progress, cancel=self.cancel_event.is_set
            )
        except VerifyCancelled:
            return
        except VerifyError as exc:
            self.post_message(self.Finished(None, str(exc)))
            return
        except Exception as exc:  # never leave the dialog at "hashing…"
            self.post_message(self.Finished(None, f"{type(exc).__name__}: {exc}"))
            return
        self.post_message(self.Finished(result))

    @on(Progress)
    def _progress(self, event: Progress) -> None:
        self.query_one(ProgressBar).update(total=max(event.total, 1), progress=event.done)

    @on(Finished)
    def _finished(self, event: Finished) -> None:
        text = self.query_one("#result-text", Static)
        bar = self.query_one(ProgressBar)
        if event.result is None:
            # Nothing is running any more: the bar must not keep spinning.
            bar.update(total=1, progress=0)
            bar.display = False
            text.update(Text(f"✗ cannot verify: {event.error}\nescape: close"))
            return
        self.result = result = event.result
        bar.update(total=max(result.bytes_checked, 1), progress=max(result.bytes_checked, 1))
        out = Text(("✓ " if result.ok else "✗ ") + result.summary() + "\n", style="bold")
        for path, why in result.mismatched:
            out.append(f"mismatch  {path}: {why}\n")
        for path, why in result.unreadable:
            out.append(f"unreadable  {path}: {why}\n")
        for path in result.missing:
            out.append(f"not downloaded  {path}\n")
        for path in result.extra:
            out.append(f"not in listing  {path}\n")
        if result.bad_paths and self.redownload is not None:
            n = len(result.bad_paths)
            out.append(
                f"r: re-download {'this file' if n == 1 else f'these {n} files'} (through the Queue) · ",
                style="bold italic",
            )
        out.append("escape: close", style="italic")
        text.update(out)
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "redownload":
            return self.redownload is not None and self.result is not None and bool(self.result.bad_paths)
        return True

    def action_redownload(self) -> None:
        result = self.result
        if result is None or not result.bad_paths or self.redownload is None:
            return
        self.redownload(result)
        self.dismiss(result)

    def action_close(self) -> None:
        self.cancel_event.set()
        self.dismiss(self.result)
