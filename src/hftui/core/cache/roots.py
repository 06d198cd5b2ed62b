"""Every Hugging Face byte on the box: the roots hftui scans, besides the hub cache it opens.

UI-free. A *root* is a folder one library owns, with a kind:

* `hub` - a huggingface_hub cache (the default one, those in the `cache_dirs` setting, each
  `--cache-dir`);
* `datasets` - the `datasets` library's cache (`HF_DATASETS_CACHE`), see `datasets_cache`;
* `local-dir` - a folder `hf download --local-dir` / `snapshot_download(local_dir=...)` filled,
  with its `.cache/huggingface/download/*.metadata`, see `local_dirs`;
* `xet` - hf_xet's cache (`HF_XET_CACHE`: chunk cache, shard cache, staging, logs), see `xet_dir`.

`resolve_roots` lists them (defaults from the libraries' own variables, then settings and flags);
`check_roots` turns every bad one into a warning (a file, a symlink loop, a root inside another
root, a root that is gone) and keeps the rest; `scan_roots` (in `roots_scan`) scans them.
Each root carries the filesystem it lives on (free space, read-only, network), so free space is
reported per filesystem.
"""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

RootKind = Literal["hub", "datasets", "local-dir", "xet"]
ROOT_KINDS: tuple[RootKind, ...] = ("hub", "datasets", "local-dir", "xet")
KIND_TITLES = {"hub": "hub cache", "datasets": "datasets cache", "local-dir": "local dir", "xet": "Xet cache"}

# Filesystem types whose bytes live on another machine: deleting is slow, free space is shared,
# and the mount can go away under a scan.
NETWORK_FS = frozenset(
    {
        "nfs",
        "nfs4",
        "cifs",
        "smb3",
        "smbfs",
        "9p",
        "afs",
        "ceph",
        "glusterfs",
        "lustre",
        "gpfs",
        "beegfs",
        "fuse.sshfs",
        "fuse.s3fs",
        "fuse.gcsfuse",
        "fuse.juicefs",
        "fuse.rclone",
        "fuse.glusterfs",
        "fuse.cephfs",
        "davfs",
        "fuse.davfs2",
    }
)


@dataclass(frozen=True)
class Root:
    """One folder to scan. `source` says where it came from (`default`, `settings`, `--cache-dir`,
    `HF_DATASETS_CACHE`, `found under DIR`...); `explicit` roots the user named, whose absence is a
    warning (a default root that does not exist is just not there yet)."""

    kind: RootKind
    path: str
    source: str = "default"
    explicit: bool = False

    @property
    def label(self) -> str:
        return f"{self.kind}:{self.path}"


@dataclass(frozen=True)
class FsInfo:
    """The filesystem a root lives on."""

    device: int
    mount_point: str
    fs_type: str
    free: int | None
    total: int | None
    read_only: bool

    @property
    def network(self) -> bool:
        return self.fs_type in NETWORK_FS or self.fs_type.startswith("nfs")

    def describe(self) -> str:
        """`tmpfs on /mnt/x, read-only, network`: what a user needs to know about where bytes live."""
        words = [f"{self.fs_type} on {self.mount_point}"]
        if self.read_only:
            words.append("read-only")
        if self.network:
            words.append("network filesystem")
        return ", ".join(words)


@dataclass(frozen=True)
class RootProblem:
    """A warning about one root (the rest of the scan goes on without it, or with it, as `kept`
    says)."""

    path: str
    kind: str
    message: str


@dataclass
class CheckedRoots:
    roots: list[Root] = field(default_factory=list)
    fs: dict[str, FsInfo] = field(default_factory=dict)
    """Root path -> its filesystem."""
    problems: list[RootProblem] = field(default_factory=list)
    absent: list[Root] = field(default_factory=list)
    """Default roots that do not exist (nothing to show, nothing wrong)."""


@dataclass(frozen=True)
class RootEntry:
    """One deletable unit of a root that is not a hub cache: a dataset config of the datasets
    cache, its downloads, a whole local dir, a part of the Xet dir; or a hub cache's repo folder.

    `rebuild` says what it takes to get the bytes back once deleted; `detail` what it holds;
    `problems` what is wrong with it (each also a warning of the scan)."""

    root: str
    path: str
    name: str
    kind: str
    size: int
    files: int
    last_used: float
    detail: str = ""
    rebuild: str = ""
    deletable: bool = True
    problems: tuple[str, ...] = ()


# -- where the libraries keep things ------------------------------------------------------------------


def default_hub_cache() -> str:
    from huggingface_hub import constants

    return str(constants.HF_HUB_CACHE)


def default_xet_cache() -> str:
    from huggingface_hub import constants

    return str(constants.HF_XET_CACHE)


def default_datasets_cache() -> str:
    from hftui.core.compat import datasets_cache_dir

    return datasets_cache_dir()


def resolve_roots(
    *,
    hub_caches: Sequence[tuple[str, str]] = (),
    datasets_cache: str | None = None,
    local_dirs: Sequence[tuple[str, str]] = (),
    find_under: Sequence[str] = (),
    xet_cache: str | None = None,
    include_defaults: bool = True,
) -> list[Root]:
    """The roots to scan, in order: hub caches (the first is the one hftui opens), the datasets
    cache, local dirs (named ones, then those found under `find_under`), the Xet dir.

    `hub_caches` and `local_dirs` are (path, source) pairs; a path named twice is kept once (its
    first source). Without `include_defaults`, only what is named is scanned."""
    roots: list[Root] = []
    for path, source in hub_caches:
        roots.append(Root("hub", _absolute(path), source, explicit=True))
    if include_defaults and not hub_caches:
        roots.append(Root("hub", _absolute(default_hub_cache())))
    if datasets_cache:
        roots.append(Root("datasets", _absolute(datasets_cache), "settings or flag", explicit=True))
    elif include_defaults:
        roots.append(Root("datasets", _absolute(default_datasets_cache()), _env_source("HF_DATASETS_CACHE")))
    for path, source in local_dirs:
        roots.append(Root("local-dir", _absolute(path), source, explicit=True))
    for base in find_under:
        from hftui.core.cache.local_dirs import find_local_dirs

        for found in find_local_dirs(base):
            roots.append(Root("local-dir", found, f"found under {base}"))
    if xet_cache:
        roots.append(Root("xet", _absolute(xet_cache), "settings or flag", explicit=True))
    elif include_defaults:
        roots.append(Root("xet", _absolute(default_xet_cache()), _env_source("HF_XET_CACHE")))
    seen: set[tuple[str, str]] = set()
    unique = []
    for root in roots:
        if (root.kind, root.path) not in seen:
            seen.add((root.kind, root.path))
            unique.append(root)
    return unique


def roots_for(settings: object, primary_cache: str) -> list[Root]:
    """The roots of `settings` (`hftui.settings.Settings`), with `primary_cache` the hub cache hftui opens."""
    hub = [(primary_cache, "opened")]
    hub += [(path, "cache_dirs / --cache-dir") for path in getattr(settings, "cache_dirs", [])]
    roots = resolve_roots(
        hub_caches=hub,
        datasets_cache=getattr(settings, "datasets_cache", None),
        local_dirs=[(path, "local_dirs / --local-dir") for path in getattr(settings, "local_dirs", [])],
        find_under=list(getattr(settings, "local_dir_search", [])),
        xet_cache=getattr(settings, "xet_cache", None),
    )
    # The cache hftui opens may not exist yet (nothing downloaded): that is not a problem.
    return [
        Root(r.kind, r.path, r.source, explicit=False) if r.kind == "hub" and r.source == "opened" else r
        for r in roots
    ]


def _env_source(name: str) -> str:
    return name if os.environ.get(name) else "default"


def _absolute(path: str) -> str:
    return os.path.abspath(os.path.expanduser(path))


# -- checking them ---------------------------------------------------------------------------------------


def check_roots(roots: Iterable[Root]) -> CheckedRoots:
    """Keep the roots that can be scanned; a warning for each that cannot, or that overlaps another.

    * a path that is a file, or a symlink loop: a warning, not scanned;
    * a named root that does not exist (an unmounted share, a typo): a warning; a default one is
      listed in `absent`;
    * a root inside another root (or the same folder twice, through a symlink): a warning, and
      the inner one is not scanned on its own (its bytes are already in the outer root's total);
    * otherwise the root is kept with its filesystem (free space, read-only, network)."""
    checked = CheckedRoots()
    real_of: dict[str, str] = {}
    for root in roots:
        problem = _path_problem(root)
        if problem == "absent":
            if root.explicit:
                checked.problems.append(
                    RootProblem(
                        root.path, "missing", f"{_title(root)} {root.path} does not exist (unmounted?)"
                    )
                )
            else:
                checked.absent.append(root)
            continue
        if problem is not None:
            checked.problems.append(
                RootProblem(root.path, "invalid", f"{_title(root)} {root.path}: {problem}")
            )
            continue
        real_of[root.path] = os.path.realpath(root.path)
        checked.roots.append(root)
    # A root inside another is dropped; for the same folder twice, the first one named stays.
    kept: list[Root] = []
    for root in checked.roots:
        real = real_of[root.path]
        outer = next(
            (
                other
                for other in checked.roots
                if other is not root
                and _inside(real, real_of[other.path])
                and (real != real_of[other.path] or checked.roots.index(other) < checked.roots.index(root))
            ),
            None,
        )
        if outer is not None:
            how = "is the same folder as" if real == real_of[outer.path] else "is inside"
            checked.problems.append(
                RootProblem(
                    root.path,
                    "nested",
                    f"{_title(root)} {root.path} {how} {_title(outer)} {outer.path}; "
                    "its bytes are counted there, not twice",
                )
            )
            continue
        kept.append(root)
    checked.roots = kept
    for root in kept:
        info = filesystem_of(root.path)
        if info is not None:
            checked.fs[root.path] = info
    return checked


def _title(root: Root) -> str:
    return KIND_TITLES[root.kind]


def _inside(path: str, other: str) -> bool:
    return path == other or path.startswith(other.rstrip(os.sep) + os.sep)


def _path_problem(root: Root) -> str | None:
    path = root.path
    try:
        os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "a symlink loop (it points back at itself); not scanned"
        if exc.errno == errno.ENOENT:
            if os.path.islink(path):
                return f"a symlink to {os.readlink(path)}, which does not exist; not scanned"
            return "absent"
        return f"cannot be read ({exc.strerror or exc}); not scanned"
    if not os.path.isdir(path):
        return "is a file, not a folder; not scanned"
    return None


# -- filesystems ---------------------------------------------------------------------------------------


def _unescape(field_text: str) -> str:
    # /proc/self/mountinfo writes space, tab, newline and backslash as octal escapes.
    out = []
    i = 0
    while i < len(field_text):
        if field_text[i] == "\\" and field_text[i + 1 : i + 4].isdigit() and i + 3 < len(field_text):
            out.append(chr(int(field_text[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(field_text[i])
            i += 1
    return "".join(out)


def mounts() -> list[tuple[str, str, bool]]:
    """(mount point, filesystem type, mounted read-only) of every mount this process sees."""
    found: list[tuple[str, str, bool]] = []
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return found
    for line in lines:
        left, _, right = line.partition(" - ")
        parts = left.split()
        after = right.split()
        if len(parts) < 6 or not after:
            continue
        found.append((_unescape(parts[4]), after[0], "ro" in parts[5].split(",")))
    return found


def filesystem_of(path: str) -> FsInfo | None:
    """The filesystem holding `path` (an existing folder): device, mount, type, free space, flags."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    real = os.path.realpath(path)
    mount_point, fs_type, ro_mount = "/", "unknown", False
    best = -1
    for point, kind, ro in mounts():
        if _inside(real, point) and len(point) > best:
            mount_point, fs_type, ro_mount, best = point, kind, ro, len(point)
    try:
        usage = shutil.disk_usage(real)
        free: int | None = usage.free
        total: int | None = usage.total
    except OSError:
        free = total = None
    read_only = ro_mount
    try:
        read_only = read_only or bool(os.statvfs(real).f_flag & os.ST_RDONLY)
    except OSError:
        pass
    return FsInfo(st.st_dev, mount_point, fs_type, free, total, read_only)


def still_there(root: Root, fs: FsInfo | None) -> str | None:
    """Why `root` can no longer be used (gone, or another filesystem now sits where it was: an
    unmount), or None. Checked again before a root is scanned and before anything in it is deleted."""
    try:
        st = os.stat(root.path)
    except OSError as exc:
        return f"{_title(root)} {root.path} disappeared ({exc.strerror or exc}; unmounted?)"
    if fs is not None and st.st_dev != fs.device:
        return (
            f"{_title(root)} {root.path} is no longer on {fs.fs_type} at {fs.mount_point} "
            "(unmounted?); not scanned"
        )
    return None


__all__ = [
    "KIND_TITLES",
    "NETWORK_FS",
    "ROOT_KINDS",
    "CheckedRoots",
    "FsInfo",
    "Root",
    "RootEntry",
    "RootKind",
    "RootProblem",
    "check_roots",
    "default_datasets_cache",
    "default_hub_cache",
    "default_xet_cache",
    "filesystem_of",
    "mounts",
    "resolve_roots",
    "roots_for",
    "still_there",
]
