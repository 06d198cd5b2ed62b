"""Errors shared by the CLI entry point and its subcommands (no imports: cheap, and no cycle)."""

from __future__ import annotations


class UsageError(Exception):
    """A problem with what the user typed; reported on one line, exit code 2."""


__all__ = ["UsageError"]
