"""The flags that name roots (docs/roots.md), shared by the TUI (`hftui`) and `hftui scan`."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hftui.settings import Settings


class CacheDirs(argparse.Action):
    """`--cache-dir` given several times: the first is the cache hftui opens (`cache_dir`), the
    others are more hub caches shown as roots (`extra_cache_dirs`)."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: object,
        option_string: str | None = None,
    ) -> None:
        if getattr(namespace, "cache_dir", None) is None:
            namespace.cache_dir = values
        else:
            namespace.extra_cache_dirs = [*getattr(namespace, "extra_cache_dirs", []), values]


def add_root_flags(parser: argparse.ArgumentParser) -> None:
    """Flags naming the other roots (docs/roots.md); shared by the TUI and `hftui scan`."""
    parser.add_argument(
        "--datasets-cache", metavar="DIR", default=argparse.SUPPRESS, help="the datasets cache to show"
    )
    parser.add_argument(
        "--local-dir",
        dest="local_dirs",
        metavar="DIR",
        action="append",
        default=argparse.SUPPRESS,
        help="a folder filled by `hf download --local-dir`, shown as a root (repeatable)",
    )
    parser.add_argument(
        "--find-local-dirs",
        metavar="DIR",
        action="append",
        default=argparse.SUPPRESS,
        help="search DIR for `--local-dir` downloads and show each as a root (repeatable)",
    )
    parser.add_argument(
        "--xet-cache", metavar="DIR", default=argparse.SUPPRESS, help="hf_xet's cache to show"
    )


def root_overrides(args: argparse.Namespace, settings: Settings) -> dict[str, object]:
    """The root settings the flags change (flags add to the lists of the settings file)."""
    changes: dict[str, object] = {}
    extra = getattr(args, "extra_cache_dirs", None)
    if extra:
        changes["cache_dirs"] = [*settings.cache_dirs, *extra]
    local = getattr(args, "local_dirs", None)
    if local:
        changes["local_dirs"] = [*settings.local_dirs, *local]
    search = getattr(args, "find_local_dirs", None)
    if search:
        changes["local_dir_search"] = [*settings.local_dir_search, *search]
    for name in ("datasets_cache", "xet_cache"):
        if getattr(args, name, None):
            changes[name] = getattr(args, name)
    return changes
