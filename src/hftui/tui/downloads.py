"""Bridge between the download engine (hftui.core) and the app.

Placeholder until the download-queue issue lands: it accepts nothing. The contract the app
relies on is the method list below.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hftui.tui.app import HfTuiApp


@dataclass(frozen=True)
class SubmitOutcome:
    accepted: bool
    message: str
    job_id: str | None = None


class DownloadsController:
    def __init__(self, app: HfTuiApp) -> None:
        self.app = app

    def start(self) -> None:
        """Called once the app is mounted: load the saved queue, resume per settings."""

    def submit(self, request: Any) -> SubmitOutcome:
        return SubmitOutcome(False, "downloads are not available yet")

    def active_repos(self) -> set[tuple[str, str]]:
        """(repo_type, repo_id) of jobs checking or running into the app's cache."""
        return set()

    def running_count(self) -> int:
        return 0

    def summary_text(self) -> str:
        return "Queue: empty"

    def shutdown(self, timeout: float = 2.0) -> None:
        """Stop running jobs cleanly (called from a thread when the app quits)."""
