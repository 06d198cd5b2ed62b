"""The selection (include/exclude globs), its preview, tree toggles and presets.

UI-free. One matcher: huggingface_hub's own `filter_repo_objects`, the function `snapshot_download` applies
to `allow_patterns` / `ignore_patterns`, so the preview cannot disagree with the download. Its semantics:
``*`` matches across ``/`` (``data/*.json`` also matches ``data/sub/x.json``), matching is case-sensitive,
a pattern ending in ``/`` gets ``*`` appended, and an exclude always wins over an include. No include
patterns means every file (``allow_patterns=None``).

The `Selection` is the single source of truth: tree toggles (`toggle`) and typed globs both edit its two
pattern lists, and every mark in the tree comes from `match` over them.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path

from hftui.core import compat, vocab
from hftui.core.disk import free_space
from hftui.core.hub.browse_local import LocalIndex
from hftui.core.hub.remote import RemoteFile
from hftui.core.hub.repo_ref import glob_escape, glob_unescape, quant_patterns

WEIGHT_FORMATS = ("*.bin", "*.h5", "*.msgpack", "*.ckpt", "*.onnx", "*.onnx_data", "*.pt", "*.pth")
"""What "safetensors weights only" skips when the repo has ``.safetensors`` files."""

CONFIG_TOKENIZER = (
    "*.json",
    "*.txt",
    "*.model",
    "*tokenizer.model.v*",
    "*.tiktoken",
    "*.jinja",
    "*configuration_*.py",
    "*tokenization_*.py",
)
"""What "config and tokenizer only" keeps: configs, tokenizer/vocab/merges files (Mistral's
``tokenizer.model.v3`` too), chat templates, and the config/tokenizer code of ``trust_remote_code`` repos."""
CONFIG_TOKENIZER_SKIP = tuple(f"{g}.index.json" for g in ("*.safetensors", *WEIGHT_FORMATS))
"""Weight index files are JSON but belong to the weights."""


class PatternError(ValueError):
    """Glob text that cannot be parsed (e.g. an unbalanced quote); `str()` is the user message."""


# -- globs <-> text ---------------------------------------------------------------------------------


def split_globs(text: str) -> tuple[str, ...]:
    """``"*.json, tokenizer* 'my file.txt'"`` -> ``("*.json", "tokenizer*", "my file.txt")``.

    Globs are separated by commas or spaces; quote a glob that contains either. Duplicates are dropped.
    """
    lexer = shlex.shlex(text, posix=True)
    lexer.whitespace += ","
    lexer.whitespace_split = True
    lexer.commenters = ""
    lexer.escape = ""
    try:
        items = list(lexer)
    except ValueError as exc:
        raise PatternError(
            f"Cannot read the globs: {exc} (quote a glob that contains spaces or commas)."
        ) from None
    out: list[str] = []
    for item in items:
        if item and item not in out:
            out.append(item)
    return tuple(out)


def join_globs(globs: Iterable[str]) -> str:
    def quote(g: str) -> str:
        if re.fullmatch(r"[^\s,'\"]+", g):
            return g
        return "'" + g.replace("'", "'\"'\"'") + "'"

    return ", ".join(quote(g) for g in globs)


# -- selection ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Selection:
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    @property
    def allow_patterns(self) -> list[str] | None:
        """For `snapshot_download(allow_patterns=...)`: None (everything) when there are no includes."""
        return list(self.include) or None

    @property
    def ignore_patterns(self) -> list[str] | None:
        return list(self.exclude) or None

    @property
    def is_everything(self) -> bool:
        return not self.include and not self.exclude


def match(files: Iterable[RemoteFile], selection: Selection) -> list[RemoteFile]:
    """The files `snapshot_download` would take, via huggingface_hub's `filter_repo_objects`."""
    from huggingface_hub.utils import filter_repo_objects

    return list(
        filter_repo_objects(
            files,
            allow_patterns=selection.allow_patterns,
            ignore_patterns=selection.ignore_patterns,
            key=lambda f: f.path,
        )
    )


def match_paths(paths: Iterable[str], selection: Selection) -> list[str]:
    from huggingface_hub.utils import filter_repo_objects

    return list(
        filter_repo_objects(
            paths, allow_patterns=selection.allow_patterns, ignore_patterns=selection.ignore_patterns
        )
    )


def dead_globs(files: Sequence[RemoteFile], globs: Iterable[str]) -> tuple[str, ...]:
    """Globs that match no file of the repo (each tested alone, with huggingface_hub's matcher)."""
    paths = [f.path for f in files]
    return tuple(g for g in globs if not match_paths(paths, Selection(include=(g,))))


# -- toggles ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ToggleResult:
    selection: Selection
    selected: bool
    """The node's state after the toggle (all its files matched)."""
    message: str | None = None
    nothing_selected: bool = False
    """The toggle left nothing selected (the view may say how to select everything again)."""


def _under(path: str, folder: str) -> bool:
    return not folder or path.startswith(folder.rstrip("/") + "/")


def _own_patterns(folder: str | None, file: str | None) -> set[str]:
    """The globs that name exactly this file, or this whole folder (paths escaped as `glob_escape` does)."""
    if file is not None:
        return {glob_escape(file)}
    assert folder is not None
    f = glob_escape(folder.rstrip("/"))
    return {f"{f}/*", f"{f}/", f, f"{f}/**", f"{f}/**/*"}


def _pattern_inside(pattern: str, folder: str) -> bool:
    """A literal path or a ``sub/*`` glob (as `glob_escape` writes them) lying entirely inside `folder`."""
    body = pattern[:-2] if pattern.endswith("/*") else pattern.rstrip("/")
    literal = glob_unescape(body)
    return literal is not None and _under(literal, folder)


def toggle(files: Sequence[RemoteFile], selection: Selection, path: str, *, is_folder: bool) -> ToggleResult:
    """Toggle a file or a folder (all files below it) and return the updated selection.

    Selecting: excludes that name exactly this node (or lie inside the folder) are dropped; if the node is
    still not fully matched and there are include patterns, ``path`` (file) or ``folder/*`` is included.
    Deselecting: includes naming exactly this node (or lying inside the folder) are dropped - unless that
    would empty the include list, which would mean "everything" - and if files are still matched,
    ``path`` / ``folder/*`` is excluded. A file excluded by a broader exclude glob cannot be re-selected
    (an exclude always wins): the message names the glob.
    """
    folder = path.rstrip("/") if is_folder else None
    if folder == "":  # the repo root: everything <-> nothing
        if len(match(files, selection)) == len(files):
            return ToggleResult(
                Selection((), ("*",)), False, "Nothing selected (exclude '*').", nothing_selected=True
            )
        return ToggleResult(Selection(), True, "Everything selected.")
    targets = [f for f in files if (_under(f.path, folder) if folder is not None else f.path == path)]
    if not targets:
        return ToggleResult(selection, False, f"Nothing to toggle at {path!r}.")
    own = _own_patterns(folder, None if is_folder else path)
    node_pattern = f"{glob_escape(folder)}/*" if folder is not None else glob_escape(path)

    def inside(p: str) -> bool:
        return p in own or (folder is not None and _pattern_inside(p, folder))

    matched = match(targets, selection)
    if len(matched) == len(targets):  # deselect
        include = tuple(p for p in selection.include if not inside(p))
        if selection.include and not include:
            include = selection.include
        new = Selection(include, selection.exclude)
        if match(targets, new):
            new = Selection(include, (*selection.exclude, node_pattern))
        return ToggleResult(new, False)
    # select
    exclude = tuple(p for p in selection.exclude if not inside(p))
    new = Selection(selection.include, exclude)
    if len(match(targets, new)) < len(targets) and new.include and node_pattern not in new.include:
        new = Selection((*new.include, node_pattern), new.exclude)
    taken = set(match(targets, new))
    still = [f for f in targets if f not in taken]
    message = None
    if still:
        blockers = [g for g in new.exclude if match_paths([still[0].path], Selection(include=(g,)))]
        what = vocab.count(len(still), "file") if is_folder else repr(path)
        message = f"{what} stay excluded by {', '.join(repr(b) for b in blockers)}; edit the exclude globs to take them."
    return ToggleResult(new, not still, message)


def only(files: Sequence[RemoteFile], path: str, *, is_folder: bool) -> Selection:
    """Select exactly this file or folder ("this folder only")."""
    literal = glob_escape(path.rstrip("/"))
    return Selection(include=(f"{literal}/*",) if is_folder else (literal,))


# -- presets ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PresetResult:
    selection: Selection | None
    message: str


def _folder(path: str) -> str:
    return path.rsplit("/", 1)[0] if "/" in path else ""


def preset_safetensors(files: Sequence[RemoteFile]) -> PresetResult:
    """Skip the other weight formats (only those present) when the repo has safetensors; keep the rest.

    The index files of the skipped formats (``pytorch_model.bin.index.json``...) go too: they only list
    shards that are not downloaded. Folders whose weights are skipped but that hold no ``.safetensors``
    themselves (``original/``, an old ``safety_checker/``) are named in the message.
    """
    paths = [f.path for f in files]
    safetensors = match_paths(paths, Selection(include=("*.safetensors",)))
    if not safetensors:
        return PresetResult(None, "No .safetensors files in this revision: preset not applied.")
    present = [g for g in WEIGHT_FORMATS if match_paths(paths, Selection(include=(g,)))]
    indexes = [
        f"{g}.index.json" for g in present if match_paths(paths, Selection(include=(f"{g}.index.json",)))
    ]
    sel = Selection((), (*present, *indexes))
    if not present:
        return PresetResult(sel, "Safetensors weights only: no other weight format here, every file kept.")
    # ONNX files are an export beside the weights; other formats in a folder without safetensors may be the
    # only copy of some weights (Llama's original/*.pth, an old safety_checker/*.bin): say so.
    with_st = {_folder(p) for p in safetensors}
    only_copy = [g for g in present if g not in ("*.onnx", "*.onnx_data")]
    skipped = match_paths(paths, Selection(include=tuple(only_copy))) if only_copy else []
    bare = sorted({_folder(p) for p in skipped} - with_st)
    note = ""
    if bare:
        shown = ", ".join(f"{d}/" if d else "the root" for d in bare[:3]) + (" …" if len(bare) > 3 else "")
        note = f" Also skipped: weights in {shown} (no .safetensors there)."
    return PresetResult(sel, f"Safetensors weights only: skips {', '.join(sel.exclude)}.{note}")


def preset_config_tokenizer(files: Sequence[RemoteFile]) -> PresetResult:
    paths = [f.path for f in files]
    include = tuple(g for g in CONFIG_TOKENIZER if match_paths(paths, Selection(include=(g,))))
    if not include:
        return PresetResult(None, "No config or tokenizer files in this revision: preset not applied.")
    exclude = tuple(g for g in CONFIG_TOKENIZER_SKIP if match_paths(paths, Selection(include=(g,))))
    return PresetResult(Selection(include, exclude), "Config and tokenizer files only.")


def preset_folder(folder: str) -> PresetResult:
    folder = folder.strip("/")
    if not folder:
        return PresetResult(Selection(), "The repo root: everything.")
    return PresetResult(Selection((f"{glob_escape(folder)}/*",)), f"Only {folder}/.")


@dataclass(frozen=True)
class Quantization:
    name: str
    """Canonical (upper-case) name, e.g. ``Q4_K_M``."""
    files: int
    bytes: int
    patterns: tuple[str, ...]
    """The `quant_patterns` that match something here (what goes into `--include`)."""


_QUANT_TOKEN = re.compile(
    r"(?:^|[-._/])("
    r"I?Q[1-8]_(?:[0-9]|[A-Z]{1,3})(?:_[0-9A-Z]{1,2})*"  # Q4_K_M, Q4_0, IQ4_XS, Q4_0_4_4, IQ2_XXS, Q4_K_XL
    r"|TQ[12]_[0-9]|MXFP4(?:_MOE)?|BF16|F16|F32|FP16|FP32|FP8"
    r")(?=\.gguf$|-\d{5}-of-\d{5}\.gguf$|/)",
    re.IGNORECASE,
)


def gguf_quantizations(files: Sequence[RemoteFile]) -> list[Quantization]:
    """The quantizations of the repo's GGUF files, with file counts and sizes (shards counted together).

    Names are found case-insensitively; the files of each are then selected with `quant_patterns` through
    huggingface_hub's matcher, so the counts are what a download of that quantization takes.
    """
    names: dict[str, None] = {}
    for f in files:
        name = f.path.rsplit("/", 1)[-1].lower()
        if not name.endswith(".gguf") or name.startswith("mmproj"):
            continue  # a vision projector (mmproj-*-f16.gguf) is not a quantization of the model
        for m in _QUANT_TOKEN.finditer(f.path):
            names.setdefault(m.group(1).upper(), None)
    out: list[Quantization] = []
    for name in names:
        pats = quant_patterns(name)
        live = tuple(p for p in pats if match(files, Selection(include=(p,))))
        chosen = match(files, Selection(include=live))
        if chosen:
            out.append(Quantization(name, len(chosen), sum(f.size for f in chosen), live))
    out.sort(key=lambda q: (q.bytes, q.name))
    return out


def preset_quant(files: Sequence[RemoteFile], quant: str) -> PresetResult:
    found = gguf_quantizations(files)
    for q in found:
        if q.name == quant.upper():
            return PresetResult(Selection(q.patterns), f"GGUF {q.name}: {q.files} file(s).")
    if found:
        avail = ", ".join(q.name for q in found)
        return PresetResult(None, f"No GGUF files for {quant}; this revision has {avail}.")
    return PresetResult(None, f"No GGUF files for {quant}: this revision has no .gguf files.")


# -- preview ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Preview:
    """What a download of `selection` does: matched files, bytes, what really has to be fetched, disk after."""

    selection: Selection
    matched: tuple[RemoteFile, ...] = field(repr=False)
    total_files: int
    download_files: int
    download_bytes: int
    free_bytes: int | None
    disk_path: str | None
    dead_includes: tuple[str, ...] = ()
    dead_excludes: tuple[str, ...] = ()
    folder_totals: dict[str, tuple[int, int]] = field(default_factory=dict, compare=False, repr=False)
    """folder -> (matched files, matched bytes) below it, for every folder holding a matched file."""
    approximate: bool = False
    copy_files: int = 0
    copy_bytes: int = 0
    """A local-dir destination: files the Hub cache holds for this commit and the dir lacks. The
    library copies them (no transfer), so they are not "to download", but they land all the same."""

    @property
    def count(self) -> int:
        return len(self.matched)

    @property
    def bytes(self) -> int:
        return sum(f.size for f in self.matched)

    @cached_property
    def matched_paths(self) -> frozenset[str]:
        return frozenset(f.path for f in self.matched)

    @property
    def free_after(self) -> int | None:
        # A copy takes the same room as a download.
        return None if self.free_bytes is None else self.free_bytes - self.download_bytes - self.copy_bytes

    @property
    def nothing_to_do(self) -> bool:
        """Every matched file is already where the download would put it: queuing would change nothing."""
        return bool(self.matched) and not self.download_files and not self.copy_files

    def problem(self) -> str | None:
        """Why this selection must not be queued, or None."""
        if not self.matched:
            globs = []
            if self.selection.include:
                globs.append("include " + join_globs(self.selection.include))
            if self.selection.exclude:
                globs.append("exclude " + join_globs(self.selection.exclude))
            hint = rooted_hint((*self.selection.include, *self.selection.exclude))
            return f"Nothing matches ({'; '.join(globs)}): nothing to download.{hint}"
        if self.dead_includes:
            return (
                f"Include glob(s) matching nothing: {join_globs(self.dead_includes)}; remove or fix them."
                + rooted_hint(self.dead_includes)
            )
        return None


def rooted_hint(globs: Iterable[str]) -> str:
    """A hint when a glob starts with ``/`` or ``./``, which never matches a repo path."""
    if any(g.startswith(("/", "./")) for g in globs):
        return " (paths in a repo start without '/' or './': write config.json, not /config.json)"
    return ""


def folder_totals(files: Iterable[RemoteFile]) -> dict[str, tuple[int, int]]:
    """folder -> (files, bytes) below it ("" is the root)."""
    totals: dict[str, list[int]] = {}
    for f in files:
        parts = f.path.split("/")[:-1]
        for i in range(len(parts) + 1):
            key = "/".join(parts[:i])
            t = totals.setdefault(key, [0, 0])
            t[0] += 1
            t[1] += f.size
    return {k: (v[0], v[1]) for k, v in totals.items()}


def _local_dir_present(local_dir: Path, f: RemoteFile, commit: str | None) -> bool:
    """Whether `snapshot_download(local_dir=...)` keeps the file already there (huggingface_hub's rules).

    With its download metadata: kept when that names this commit or this content (ETag). Without: an LFS file
    is hashed and kept when the SHA-256 matches - assumed here when the size matches (not hashed: this is
    the approximation the preview marks with ``≈``); any other file is downloaded again.
    """
    p = local_dir / f.path
    try:
        st = p.stat()
    except OSError:
        return False
    if not p.is_file():
        return False
    meta = compat.read_local_dir_metadata(local_dir, f.path, st.st_mtime)
    if meta is not None:
        return meta[0] == commit or meta[1] == f.etag
    return f.is_lfs and st.st_size == f.size


def preview(
    files: Sequence[RemoteFile],
    selection: Selection,
    *,
    local: LocalIndex | None = None,
    cache_dir: str | Path | None = None,
    local_dir: str | Path | None = None,
    force: bool = False,
) -> Preview:
    """Compute the preview of `selection` over `files`.

    Cache destination: "to download" follows `snapshot_download(dry_run=True)` exactly (see
    `LocalIndex.will_download`). `local_dir` destination: huggingface_hub's rules (`_local_dir_present`), or
    the cache holds it for this commit; LFS files without download metadata are not hashed, so this is
    flagged ``approximate=True``.
    """
    matched = tuple(match(files, selection))
    copies: list[RemoteFile] = []
    if local_dir is not None:
        ld = Path(local_dir).expanduser()
        todo = []
        for f in matched:
            if force:
                todo.append(f)
            elif _local_dir_present(ld, f, local.commit if local is not None else None):
                continue
            elif local is not None and local.state(f.path) == "cached":
                copies.append(f)  # `snapshot_download(local_dir=)` copies it out of the cache
            else:
                todo.append(f)
        free, disk = free_space(ld)
    else:
        todo = [f for f in matched if local is None or local.will_download(f.path, force=force)]
        free, disk = free_space(cache_dir)
    return Preview(
        selection=selection,
        matched=matched,
        total_files=len(files),
        download_files=len(todo),
        download_bytes=sum(f.size for f in todo),
        free_bytes=free,
        disk_path=disk,
        dead_includes=dead_globs(files, selection.include)
        if len(selection.include) > 1 or not matched
        else (),
        dead_excludes=dead_globs(files, selection.exclude),
        folder_totals=folder_totals(matched),
        approximate=local_dir is not None,
        copy_files=len(copies),
        copy_bytes=sum(f.size for f in copies),
    )


def with_patterns(
    selection: Selection, include: Iterable[str] | None = None, exclude: Iterable[str] | None = None
):
    return replace(
        selection,
        include=tuple(include) if include is not None else selection.include,
        exclude=tuple(exclude) if exclude is not None else selection.exclude,
    )


__all__ = [
    "CONFIG_TOKENIZER",
    "WEIGHT_FORMATS",
    "PatternError",
    "PresetResult",
    "Preview",
    "Quantization",
    "Selection",
    "ToggleResult",
    "dead_globs",
    "folder_totals",
    "gguf_quantizations",
    "join_globs",
    "match",
    "match_paths",
    "only",
    "preset_config_tokenizer",
    "preset_folder",
    "preset_quant",
    "preset_safetensors",
    "preview",
    "rooted_hint",
    "split_globs",
    "toggle",
]
