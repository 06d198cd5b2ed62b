"""The `datasets` library's cache (`HF_DATASETS_CACHE`): one entry per dataset config, plus downloads.

UI-free; never imports `datasets` (optional, and slow to import). The layout it reads is in
`hftui.core.compat` (section 6b). Each `<builder>/<config id>` folder is one entry: all its
versions and fingerprints go together, as `load_dataset` would prepare the config again as a whole.
Deleting an entry loses no source data: `load_dataset` re-prepares the Arrow files from the data
files (a Hub dataset's from the hub cache, downloaded again only if they are gone from there).

A config folder that is not in the layout datasets writes (2.13.2 and 5.2.0 checked: the same; no
`<version>/<fingerprint>/dataset_info.json`, or Arrow files at the wrong depth) is still sized and
deletable, with a warning: datasets will not reuse it, so it is usually dead weight.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable

from hftui.core.cache.roots import RootEntry
from hftui.core.cache.tree import tree_size
from hftui.core.compat import DATASETS_DOWNLOADS_DIR, DATASETS_NAMESPACE_SEPARATOR

# Builders shipped inside `datasets` (`datasets.packaged_modules`): their data files are the
# user's own (or a Hub repo's), and the cache does not record which.
PACKAGED_BUILDERS = frozenset(
    {
        "arrow",
        "audiofolder",
        "cache",
        "csv",
        "eval",
        "generator",
        "hdf5",
        "imagefolder",
        "json",
        "niftifolder",
        "pandas",
        "parquet",
        "pdffolder",
        "spark",
        "sql",
        "text",
        "videofolder",
        "webdataset",
        "xml",
        "lance",
    }
)
_VERSION = re.compile(r"^\d+\.\d+\.\d+$")
IGNORED_TOP = frozenset({".gitignore", "CACHEDIR.TAG"})

HubLookup = Callable[[str], "str | None"]
"""`namespace/name` -> where a hub cache holds that dataset repo (for the rebuild note), or None."""


def dataset_repo_id(builder_dir: str) -> str | None:
    """`acme___tiny-corpus` -> `acme/tiny-corpus`; a packaged builder or a bare name -> None."""
    namespace, sep, name = builder_dir.partition(DATASETS_NAMESPACE_SEPARATOR)
    return f"{namespace}/{name}" if sep and namespace and name else None


def scan_datasets_cache(
    root: str, *, device: int | None = None, hub_lookup: HubLookup | None = None
) -> tuple[list[RootEntry], list[str]]:
    """Entries of the datasets cache at `root` and the warnings about it."""
    entries: list[RootEntry] = []
    warnings: list[str] = []
    with os.scandir(root) as it:
        top = sorted(it, key=lambda e: e.name)
    for item in top:
        if item.name in IGNORED_TOP or item.name.endswith(".lock"):
            continue
        if not item.is_dir(follow_symlinks=False):
            if item.is_symlink():
                warnings.append(f"{item.path}: a symlink in the datasets cache; not followed")
            continue
        if item.name == DATASETS_DOWNLOADS_DIR:
            sized = tree_size(item.path, device=device)
            warnings.extend(sized.errors)
            entries.append(
                RootEntry(
                    root,
                    item.path,
                    "downloads",
                    "datasets-downloads",
                    sized.size,
                    sized.files,
                    sized.last_used,
                    detail="source files datasets fetched by URL, and their extracted archives",
                    rebuild="fetched and extracted again by the next load_dataset that needs them",
                )
            )
            continue
        entries.extend(_builder_entries(root, item.path, item.name, device, hub_lookup, warnings))
    return entries, warnings


def _builder_entries(
    root: str,
    builder_path: str,
    builder: str,
    device: int | None,
    hub_lookup: HubLookup | None,
    warnings: list[str],
) -> list[RootEntry]:
    entries = []
    try:
        with os.scandir(builder_path) as it:
            configs = sorted(it, key=lambda e: e.name)
    except OSError as exc:
        warnings.append(f"{builder_path}: {exc.strerror or exc}")
        return []
    loose = [c for c in configs if not c.is_dir(follow_symlinks=False) and not c.name.endswith(".lock")]
    if loose:
        # Files right under the builder folder (Arrow files, dataset_info.json): an old layout.
        sized = tree_size(builder_path, device=device)
        message = (
            f"{builder_path}: files directly under the dataset folder ({loose[0].name}…): "
            "not the layout datasets 2.13 to 5.2 write (an older datasets version?); datasets will not reuse it"
        )
        warnings.append(message)
        return [
            RootEntry(
                root,
                builder_path,
                builder,
                "dataset",
                sized.size,
                sized.files,
                sized.last_used,
                detail="old datasets cache layout",
                rebuild="not reused by this datasets version: nothing needs it",
                problems=(message,),
            )
        ]
    for config in configs:
        if not config.is_dir(follow_symlinks=False):
            continue
        entries.append(_config_entry(root, builder, config.path, config.name, device, hub_lookup, warnings))
    return entries


def _config_entry(
    root: str,
    builder: str,
    path: str,
    config_id: str,
    device: int | None,
    hub_lookup: HubLookup | None,
    warnings: list[str],
) -> RootEntry:
    sized = tree_size(path, device=device)
    warnings.extend(sized.errors)
    problems: list[str] = []
    infos: list[dict[str, object]] = []
    prepared = 0
    for version in _dirs(path):
        if not _VERSION.match(version):
            problems.append(f"{os.path.join(path, version)}: {version!r} is not a version folder")
            continue
        for fingerprint in _dirs(os.path.join(path, version)):
            folder = os.path.join(path, version, fingerprint)
            info_path = os.path.join(folder, "dataset_info.json")
            try:
                with open(info_path, encoding="utf-8") as fh:
                    info = json.load(fh)
            except FileNotFoundError:
                if fingerprint.endswith(".incomplete"):
                    problems.append(f"{folder}: an interrupted preparation (datasets starts it again)")
                else:
                    problems.append(f"{folder}: no dataset_info.json")
                continue
            except (OSError, ValueError) as exc:
                problems.append(f"{info_path}: unreadable ({exc})")
                continue
            if isinstance(info, dict):
                infos.append(info)
                prepared += 1
    if not prepared and not problems:
        problems.append(f"{path}: no prepared version inside")
    if problems and not prepared:
        problems[0] += " - not the layout datasets 2.13 to 5.2 write (an older datasets version?)"
    for problem in problems:
        warnings.append(problem)
    repo_id = dataset_repo_id(builder)
    name = f"{repo_id or builder}/{config_id}"
    rows = sum(_num_rows(info) for info in infos)
    detail = f"{prepared} prepared version{'s' if prepared != 1 else ''}"
    if rows:
        detail += f", {rows:,} rows"
    splits = sorted({split for info in infos for split in _splits(info)})
    if splits:
        detail += f" ({', '.join(splits[:4])}{'…' if len(splits) > 4 else ''})"
    return RootEntry(
        root,
        path,
        name,
        "dataset",
        sized.size,
        sized.files,
        sized.last_used,
        detail=detail,
        rebuild=_rebuild(builder, repo_id, hub_lookup),
        problems=tuple(problems),
    )


def _rebuild(builder: str, repo_id: str | None, hub_lookup: HubLookup | None) -> str:
    if repo_id is not None:
        held = hub_lookup(repo_id) if hub_lookup is not None else None
        if held:
            return f"load_dataset re-prepares it from the hub cache ({held}); no download"
        return f"load_dataset downloads datasets/{repo_id} from the Hub again, then re-prepares it"
    if builder in PACKAGED_BUILDERS:
        return f"load_dataset({builder!r}, data_files=…) re-prepares it from its data files (the cache does not say which)"
    return "load_dataset re-prepares it from its source (a loading script or the Hub)"


def _dirs(path: str) -> list[str]:
    try:
        with os.scandir(path) as it:
            return sorted(e.name for e in it if e.is_dir(follow_symlinks=False))
    except OSError:
        return []


def _splits(info: dict[str, object]) -> list[str]:
    splits = info.get("splits")
    return [str(k) for k in splits] if isinstance(splits, dict) else []


def _num_rows(info: dict[str, object]) -> int:
    splits = info.get("splits")
    if not isinstance(splits, dict):
        return 0
    total = 0
    for split in splits.values():
        if isinstance(split, dict) and isinstance(split.get("num_examples"), int):
            total += int(split["num_examples"])
    return total


__all__ = ["PACKAGED_BUILDERS", "dataset_repo_id", "scan_datasets_cache"]
