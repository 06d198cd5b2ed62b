"""Texts the Cache pane offers to copy. UI-free."""

from __future__ import annotations


def from_pretrained_snippet(repo_id: str, repo_type: str, revision: str | None) -> str:
    rev = f', revision="{revision}"' if revision else ""
    if repo_type == "dataset":
        return f'load_dataset("{repo_id}"{rev})'
    if repo_type == "model":
        return f'from_pretrained("{repo_id}"{rev})'
    return f'snapshot_download("{repo_id}", repo_type="{repo_type}"{rev})'


def copy_choices(
    repo_id: str, repo_type: str, snapshot_path: str | None, revision: str | None
) -> list[tuple[str, str]]:
    """(label, text) pairs for the copy menu."""
    choices = []
    if snapshot_path:
        choices.append(("snapshot path", snapshot_path))
    choices.append(("repo id", repo_id))
    choices.append(("snippet", from_pretrained_snippet(repo_id, repo_type, revision)))
    return choices
