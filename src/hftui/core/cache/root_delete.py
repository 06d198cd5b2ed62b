"""Deleting a datasets-cache entry, a local dir (or a duplicate file in it) or a part of the Xet
dir, by the rules the hub cache's deletions follow.

UI-free. `plan_root_deletion` measures what deleting frees (real figures, from the disk) and says
why it must not happen (read-only mode, a read-only filesystem, a live writer, a path that leaves
the root, another filesystem mounted inside); `execute_root_plan` checks the disk again first and
deletes nothing if it changed since the plan (the caller shows the new plan), then deletes target
by target without following symlinks.

A live writer here is a file under the target that changed in the last `LIVE_WINDOW` seconds,
or a held lock: `datasets` locks `<cache>/<path with _ for />*.lock` while it prepares a config,
huggingface_hub locks `<local_dir>/.cache/huggingface/download/<path>.lock` while it writes a file.
"""

from __future__ import annotations

import os
import shutil
import stat
import time
from dataclasses import dataclass, field

from hftui.core.cache.locks import lock_is_held
from hftui.core.cache.roots import FsInfo, Root, filesystem_of, still_there
from hftui.core.cache.tree import tree_size

LIVE_WINDOW = 60.0


@dataclass(frozen=True)
class Target:
    path: str
    size: int
    files: int
    newest: float


@dataclass(frozen=True)
class RootPlan:
    root: Root
    fs: FsInfo | None
    targets: tuple[Target, ...]
    refused: tuple[str, ...] = ()
    """Reasons nothing may be deleted; empty when the plan can run."""

    @property
    def size(self) -> int:
        return sum(t.size for t in self.targets)

    @property
    def files(self) -> int:
        return sum(t.files for t in self.targets)

    @property
    def can_run(self) -> bool:
        return not self.refused and bool(self.targets)


@dataclass
class RootDeletion:
    plan: RootPlan
    deleted: list[str] = field(default_factory=list)
    freed: int = 0
    problems: list[str] = field(default_factory=list)
    changed: RootPlan | None = None
    """Set when the disk no longer matched the plan: nothing was deleted; this is the new plan."""
    refused: tuple[str, ...] = ()


def plan_root_deletion(
    root: Root,
    paths: list[str],
    *,
    read_only: bool = False,
    fs: FsInfo | None = None,
    now: float | None = None,
    live_window: float = LIVE_WINDOW,
) -> RootPlan:
    """What deleting `paths` (inside `root`) frees, and every reason it must not run."""
    now = time.time() if now is None else now
    fs = fs or filesystem_of(root.path)
    refused: list[str] = []
    if read_only:
        refused.append("hftui runs read-only (--read-only)")
    gone = still_there(root, fs)
    if gone is not None:
        return RootPlan(root, fs, (), (*refused, gone))
    if fs is not None and fs.read_only:
        refused.append(f"{root.path} is on a read-only filesystem ({fs.describe()})")
    real_root = os.path.realpath(root.path)
    targets = []
    for path in dict.fromkeys(paths):
        why = _outside(real_root, path, allow_root=root.kind == "local-dir")
        if why is not None:
            refused.append(why)
            continue
        if not os.path.lexists(path):
            refused.append(f"{path} is gone already")
            continue
        sized = tree_size(path, device=fs.device if fs is not None else None)
        mounted = [e for e in sized.errors if "mounted" in e]
        refused.extend(f"{e} (deleting would reach another filesystem)" for e in mounted)
        if now - sized.newest_mtime < live_window and sized.files:
            refused.append(f"{path} is being written (a file changed {now - sized.newest_mtime:.0f} s ago)")
        held = _held_lock(root, path)
        if held is not None:
            refused.append(f"{path} is in use: {held} is locked by a running process")
        targets.append(Target(path, sized.size, sized.files, sized.newest_mtime))
    return RootPlan(root, fs, tuple(targets), tuple(refused))


def _outside(real_root: str, path: str, *, allow_root: bool) -> str | None:
    """Why `path` must not be deleted as part of the root at `real_root`, or None.

    The folder holding `path` is resolved (a symlinked parent must not lead out); `path` itself is
    not, as deleting a symlink removes the link, never what it points at."""
    parent = os.path.realpath(os.path.dirname(os.path.abspath(path)))
    resolved = os.path.join(parent, os.path.basename(os.path.abspath(path)))
    if resolved == real_root:
        return None if allow_root else f"{path} is the root itself; only entries inside it are deleted"
    if not resolved.startswith(real_root.rstrip(os.sep) + os.sep):
        return f"{path} is outside {real_root}; nothing outside a root is ever deleted"
    return None


def _held_lock(root: Root, path: str) -> str | None:
    candidates: list[str] = []
    if root.kind == "datasets":
        # datasets names its locks after the folder: `<cache>/<path with / and . as _>*.lock`.
        relative = os.path.relpath(path, root.path).replace(os.sep, "_")
        try:
            candidates += [
                e.path for e in os.scandir(root.path) if e.name.endswith(".lock") and relative in e.name
            ]
        except OSError:
            pass
    if os.path.isdir(path) and not os.path.islink(path):
        for folder, _dirs, names in os.walk(path):
            candidates += [os.path.join(folder, n) for n in names if n.endswith(".lock")]
    elif root.kind == "local-dir":
        rel = os.path.relpath(path, root.path)
        candidates.append(os.path.join(root.path, ".cache", "huggingface", "download", rel + ".lock"))
    for lock in candidates:
        if os.path.exists(lock) and lock_is_held(lock):
            return lock
    return None


def _fingerprint(plan: RootPlan) -> list[tuple[str, int, int, float]]:
    return [(t.path, t.size, t.files, t.newest) for t in plan.targets]


def execute_root_plan(plan: RootPlan, *, read_only: bool = False) -> RootDeletion:
    """Check the disk against `plan`, then delete its targets; nothing if anything changed."""
    result = RootDeletion(plan)
    if read_only:
        result.refused = ("hftui runs read-only (--read-only)",)
        return result
    if not plan.can_run:
        result.refused = plan.refused or ("nothing to delete",)
        return result
    fresh = plan_root_deletion(plan.root, [t.path for t in plan.targets], fs=plan.fs)
    if fresh.refused or _fingerprint(fresh) != _fingerprint(plan):
        result.changed = fresh
        return result
    real_root = os.path.realpath(plan.root.path)
    for target in plan.targets:
        why = _outside(real_root, target.path, allow_root=plan.root.kind == "local-dir")
        if why is not None:  # a parent swapped for a symlink since the check
            result.problems.append(why)
            continue
        try:
            st = os.lstat(target.path)
            if stat.S_ISDIR(st.st_mode):
                # rmtree never follows symlinks inside (it removes the links themselves).
                shutil.rmtree(target.path)
            else:
                os.unlink(target.path)
        except FileNotFoundError:
            result.problems.append(f"{target.path} vanished before it was deleted")
            continue
        except OSError as exc:
            result.problems.append(f"{target.path}: {exc.strerror or exc}")
            continue
        result.deleted.append(target.path)
        result.freed += target.size
        if plan.root.kind == "local-dir" and target.path != plan.root.path:
            _drop_metadata(plan.root.path, target.path)
    return result


def _drop_metadata(local_dir: str, path: str) -> None:
    """A deleted local-dir file takes its download metadata along (it would name a missing file)."""
    rel = os.path.relpath(path, local_dir)
    base = os.path.join(local_dir, ".cache", "huggingface", "download", rel)
    for suffix in (".metadata", ".lock"):
        try:
            os.unlink(base + suffix)
        except OSError:
            pass


__all__ = ["LIVE_WINDOW", "RootDeletion", "RootPlan", "Target", "execute_root_plan", "plan_root_deletion"]
