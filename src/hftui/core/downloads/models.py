"""Value types shared by the browser, the download queue and the headless CLI.

Our own types only where huggingface_hub has none: cached files, revisions and repos use the
library's `CachedRepoInfo` family.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from hftui.core.vocab import REPO_TYPES


@dataclass(frozen=True)
class DownloadRequest:
    """Everything `snapshot_download` needs to fetch a selection, and nothing that changes while it runs.

    `revision=None` means the repo's default branch. Patterns are tuples so requests are hashable
    and two requests that differ only in patterns are different jobs.
    """

    repo_id: str
    repo_type: str = "model"
    revision: str | None = None
    allow_patterns: tuple[str, ...] = ()
    ignore_patterns: tuple[str, ...] = ()
    cache_dir: str | None = None
    local_dir: str | None = None
    force_download: bool = False
    label: str = field(default="", compare=False)
    """Free text for display (e.g. the input the user typed); not part of the job identity."""

    def __post_init__(self) -> None:
        if self.repo_type not in REPO_TYPES:
            raise ValueError(f"repo type must be one of {', '.join(REPO_TYPES)}, got {self.repo_type!r}")
        if self.cache_dir is not None and self.local_dir is not None:
            raise ValueError("give a cache dir or a local dir, not both")
        # Patterns arrive as lists from JSON and argparse; normalise so equality is by content.
        object.__setattr__(self, "allow_patterns", tuple(self.allow_patterns))
        object.__setattr__(self, "ignore_patterns", tuple(self.ignore_patterns))

    @property
    def identity(self) -> tuple[Any, ...]:
        """Two requests with the same identity are the same job (duplicates are not queued twice)."""
        return (
            self.repo_type,
            self.repo_id,
            self.revision or "",
            tuple(sorted(self.allow_patterns)),
            tuple(sorted(self.ignore_patterns)),
            self.cache_dir or "",
            self.local_dir or "",
            self.force_download,
        )

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["allow_patterns"] = list(self.allow_patterns)
        data["ignore_patterns"] = list(self.ignore_patterns)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DownloadRequest:
        known = {
            "repo_id",
            "repo_type",
            "revision",
            "allow_patterns",
            "ignore_patterns",
            "cache_dir",
            "local_dir",
            "force_download",
            "label",
        }
        return cls(**{k: v for k, v in data.items() if k in known})
