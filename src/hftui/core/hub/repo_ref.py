"""Parse what a user types or pastes to name a Hub repo into a `RepoRef`.

UI-free. Accepted forms (surrounding whitespace is ignored):

* ``org/name`` - a model repo; ``models/org/name``, ``datasets/org/name``, ``spaces/org/name`` pick the type.
* ``org/name@REV`` - a revision (branch, tag, ``refs/pr/N`` or commit hash).
* ``org/name:Q4_K_M`` - the quantization shorthand (as in ``llama.cpp -hf`` / Ollama): the GGUF files of that
  quantization, matched case-insensitively (`RepoRef.allow_patterns`).
* Hub URLs: ``https://huggingface.co/org/name``, ``.../datasets/org/name``, ``.../spaces/org/name``,
  ``.../tree/REV[/folder]``, ``.../blob/REV/file``, ``.../resolve/REV/file``; ``hf.co`` and ``huggingface.co``
  without a scheme; and URLs on the configured endpoint host (``HF_ENDPOINT``, passed as ``endpoint=``).
  The revision segment is percent-decoded, so ``tree/refs%2Fpr%2F1`` is the PR revision ``refs/pr/1`` and
  ``tree/feature%2Fx`` the branch ``feature/x`` (the Hub's own links encode a ``/`` this way; an unencoded
  ``tree/feature/x`` is read as revision ``feature`` and folder ``x``).
* ``org/name/tree/REV/folder`` - the same URL path without host.

Single-segment ids (``gpt2``, ``bert-base-uncased``) are legacy *model* ids on the real Hub (they now redirect to
``openai-community/gpt2`` and the like); they are accepted, as huggingface_hub's own `validate_repo_id` accepts
them, and the Hub answers for them. ``datasets/x`` likewise means the dataset ``x``.

Ids follow huggingface_hub's `validate_repo_id` rules (at most one ``/``, letters, digits, ``-``, ``_``, ``.``,
no ``--`` or ``..``, no leading/trailing ``-``/``.``, no ``.git`` suffix, at most 96 characters per part); each
rule that fails gets its own message in `RepoRefError`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from hftui.core.vocab import REPO_TYPES, TYPE_PREFIXES, display_id

_KNOWN_HOSTS = ("huggingface.co", "www.huggingface.co", "hf.co")
_PART_RE = re.compile(r"[A-Za-z0-9_.\-]+")
_QUANT_RE = re.compile(r"[A-Za-z0-9_]+")
_URL_ACTIONS = ("tree", "blob", "resolve", "commit", "edit", "raw")
_FILE_ACTIONS = ("blob", "resolve", "raw", "edit")
_REV_PAGES = {"commits": "tree", "blame": "blob"}
"""Repo pages whose next segment is a revision, read like the action they stand for."""
_REPO_PAGES = ("discussions", "viewer", "settings", "community")
"""Other pages of a repo (pasted from the browser): they name the repo, nothing more."""


class RepoRefError(ValueError):
    """A repo input that cannot be used; `str(err)` is the user-facing message."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class RepoRef:
    repo_id: str
    repo_type: str = "model"
    revision: str | None = None
    path: str | None = None
    """A folder (from ``/tree/REV/folder``) or a file (from ``/blob``/``/resolve``); see `path_is_file`."""
    quant: str | None = None
    """A GGUF quantization name from ``org/name:QUANT`` (as typed, e.g. ``Q4_K_M``)."""
    path_is_file: bool = False

    def allow_patterns(self) -> tuple[str, ...]:
        """Include globs this reference implies (empty = the whole repo)."""
        if self.quant:
            return quant_patterns(self.quant)
        if self.path:
            literal = glob_escape(self.path.rstrip("/"))
            return (literal,) if self.path_is_file else (literal + "/*",)
        return ()

    @property
    def prefixed_id(self) -> str:
        """``org/name`` for models, ``datasets/org/name`` / ``spaces/org/name`` otherwise."""
        return display_id(self.repo_type, self.repo_id)

    def __str__(self) -> str:
        text = self.prefixed_id
        if self.revision:
            text += f"@{self.revision}"
        if self.quant:
            text += f":{self.quant}"
        return text


_GLOB_META = re.compile(r"([*?\[])")


def glob_escape(path: str) -> str:
    """A glob matching exactly `path` (``a[1].txt`` -> ``a[[]1].txt``): ``*``, ``?`` and ``[`` become one-character
    classes, which `fnmatch` and so `filter_repo_objects` (and ``hf download --include``) read literally."""
    return _GLOB_META.sub(r"[\1]", path)


def glob_unescape(pattern: str) -> str | None:
    """The literal path a glob matches when it is one (the inverse of `glob_escape`), else None."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "[":
            if i + 2 < len(pattern) and pattern[i + 2] == "]" and pattern[i + 1] not in "!]":
                out.append(pattern[i + 1])
                i += 3
                continue
            return None
        if c in "*?":
            return None
        out.append(c)
        i += 1
    return "".join(out)


def _ci(text: str) -> str:
    """A glob fragment matching `text` case-insensitively (letters become ``[xX]`` classes)."""
    return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else c for c in text)


def quant_patterns(quant: str) -> tuple[str, ...]:
    """Globs (for `filter_repo_objects`) selecting the GGUF files of one quantization, case-insensitively.

    The quantization name must stand on its own in the file or folder name - preceded by ``-``, ``.``, ``_`` or
    ``/`` (or start the path) and followed by ``.gguf``, a shard suffix ``-00001-of-00003.gguf`` or a ``/``
    (a folder per quantization, as many repos do for multi-shard files). So ``Q4_K`` does not select
    ``Q4_K_M`` files and ``Q4_XS`` does not select ``IQ4_XS``.
    """
    q = _ci(quant)
    gguf = _ci(".gguf")
    patterns: list[str] = []
    for lead in ("", "*[-._/]"):
        patterns += [f"{lead}{q}{gguf}", f"{lead}{q}-*{gguf}", f"{lead}{q}/*{gguf}"]
    return tuple(patterns)


def _check_part(part: str, what: str, original: str) -> None:
    if not part:
        raise RepoRefError(f"The {what} is empty in {original!r}: expected org/name.")
    if ".." in part:
        raise RepoRefError(f"'..' is not allowed in a repo id ({original!r}).")
    if "--" in part:
        raise RepoRefError(f"'--' is not allowed in a repo id ({original!r}).")
    if len(part) > 96:
        raise RepoRefError(f"The {what} is longer than 96 characters ({original!r}).")
    if not _PART_RE.fullmatch(part):
        bad = sorted({c for c in part if not _PART_RE.fullmatch(c)})
        shown = " ".join(repr(c) for c in bad)
        raise RepoRefError(
            f"A repo id uses letters, digits, '-', '_' and '.' only; {original!r} contains {shown}."
        )
    if part[0] in "-." or part[-1] in "-.":
        raise RepoRefError(f"The {what} cannot start or end with '-' or '.' ({original!r}).")
    if part.endswith(".git"):
        raise RepoRefError(f"A repo id cannot end with '.git' ({original!r}).")


def validate_id(repo_id: str, original: str | None = None) -> None:
    """Raise `RepoRefError` with a specific message unless `repo_id` is ``name`` or ``org/name``."""
    original = repo_id if original is None else original
    parts = repo_id.split("/")
    if len(parts) > 2:
        raise RepoRefError(
            f"Too many '/' in {original!r}: a repo id is org/name (prefix datasets/ or spaces/ for those "
            "repo types; a folder needs a URL such as org/name/tree/main/folder)."
        )
    if len(parts) == 2:
        _check_part(parts[0], "organization", original)
        _check_part(parts[1], "repo name", original)
    else:
        _check_part(parts[0], "repo name", original)


def _endpoint_host(endpoint: str | None) -> tuple[str, str] | None:
    if not endpoint:
        return None
    parts = urlsplit(endpoint)
    if not parts.netloc:
        return None
    return parts.netloc.lower(), parts.path.rstrip("/")


def _parse_path_segments(
    segments: list[str], original: str, *, from_url: bool, repo_type: str | None = None
) -> RepoRef:
    """Interpret ``[type/]org/name[/action/REV[/path...]]`` (segments not yet percent-decoded)."""
    segs = [s for s in segments]
    while segs and segs[-1] == "":
        segs.pop()  # trailing slash
    if any(s == "" for s in segs):
        raise RepoRefError(f"Empty path segment ('//') in {original!r}.")
    if segs and segs[0] in TYPE_PREFIXES:
        repo_type = TYPE_PREFIXES[segs[0]]
        segs = segs[1:]
    if not segs:
        if from_url:
            raise RepoRefError(
                f"The URL {original!r} names no repo: expected https://huggingface.co/org/name."
            )
        raise RepoRefError(f"{original!r} names no repo: expected org/name after the repo type.")
    # Where does the id end? org/name, unless the second segment is an action (legacy single-segment id).
    if len(segs) >= 2 and segs[1] not in _URL_ACTIONS:
        id_parts, rest = segs[:2], segs[2:]
    else:
        id_parts, rest = segs[:1], segs[1:]
    id_parts = [unquote(p) for p in id_parts]
    repo_id = "/".join(id_parts)
    revision: str | None = None
    path: str | None = None
    path_is_file = False
    if rest and from_url and rest[0] in _REV_PAGES:
        rest = [_REV_PAGES[rest[0]], *rest[1:]] if len(rest) >= 2 else []
    elif rest and from_url and rest[0] in _REPO_PAGES:
        rest = []
    if rest:
        action = rest[0]
        if action not in _URL_ACTIONS:
            if not from_url and len(segs) >= 3:
                validate_id("/".join(unquote(s) for s in segs), original)
            raise RepoRefError(
                f"Unexpected {action!r} after the repo in {original!r}: expected /tree/REV, /blob/REV/file "
                "or /resolve/REV/file."
            )
        if len(rest) < 2:
            raise RepoRefError(f"{original!r} ends after /{action}: the revision is missing.")
        revision = unquote(rest[1])
        if not revision.strip():
            raise RepoRefError(f"The revision is empty in {original!r}.")
        tail = [unquote(s) for s in rest[2:]]
        if any(s in (".", "..") for s in tail):
            raise RepoRefError(f"'.' and '..' are not allowed in a path in the repo ({original!r}).")
        if tail:
            path = "/".join(tail)
            path_is_file = action in _FILE_ACTIONS
        elif action in _FILE_ACTIONS:
            raise RepoRefError(f"{original!r} ends after the revision: /{action}/REV needs a file path.")
    validate_id(repo_id, original)
    return RepoRef(repo_id, repo_type or "model", revision, path, None, path_is_file)


def parse_repo_input(text: str, *, endpoint: str | None = None, repo_type: str | None = None) -> RepoRef:
    """Parse a repo id, prefixed id, Hub URL or ``org/name:QUANT`` into a `RepoRef`.

    `endpoint` is the configured Hub endpoint (``HF_ENDPOINT``); URLs on its host are accepted besides
    huggingface.co. `repo_type` is the type to assume for a bare id that names none (default ``"model"``);
    a URL without ``datasets/`` or ``spaces/`` is always a model, as on the Hub.
    Raises `RepoRefError` with a user-facing message.
    """
    if repo_type is not None and repo_type not in REPO_TYPES:
        raise RepoRefError(f"Unknown repo type {repo_type!r}: expected one of {', '.join(REPO_TYPES)}.")
    original = text
    text = (text or "").strip()
    if not text:
        raise RepoRefError("Type a repo: org/name, datasets/org/name, a Hub URL, or org/name:Q4_K_M.")
    if any(c.isspace() for c in text):
        raise RepoRefError(f"A repo id cannot contain spaces: {original.strip()!r}.")

    lowered = text.lower()
    scheme_less_host = next((h for h in _KNOWN_HOSTS if lowered == h or lowered.startswith(h + "/")), None)
    if "://" in text or scheme_less_host:
        # A URL names its type itself (no prefix = model): the default type only applies to bare ids.
        return _parse_url(text if "://" in text else "https://" + text, original.strip(), endpoint, None)

    quant: str | None = None
    revision: str | None = None
    if ":" in text:
        text, quant = text.rsplit(":", 1)
        _check_quant(quant, original.strip())
    if "@" in text:
        text, revision = text.split("@", 1)
        if not revision:
            raise RepoRefError(f"Nothing after '@' in {original.strip()!r}: expected a revision.")
    if text.startswith("/"):
        raise RepoRefError(f"{original.strip()!r} starts with '/': expected org/name, not a file path.")
    ref = _parse_path_segments(text.split("/"), original.strip(), from_url=False, repo_type=repo_type)
    if revision is not None:
        if ref.revision is not None:
            raise RepoRefError(f"Two revisions in {original.strip()!r}.")
        ref = RepoRef(ref.repo_id, ref.repo_type, revision, ref.path, None, ref.path_is_file)
    if quant is not None:
        ref = RepoRef(ref.repo_id, ref.repo_type, ref.revision, ref.path, quant, ref.path_is_file)
    return ref


def _parse_url(url: str, original: str, endpoint: str | None, repo_type: str | None) -> RepoRef:
    try:
        parts = urlsplit(url)
        netloc = parts.netloc.lower()
    except ValueError as exc:
        raise RepoRefError(f"Malformed URL {original!r}: {exc}.") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise RepoRefError(f"Only http(s) Hub URLs are accepted, not {parts.scheme!r}: {original!r}.")
    if not netloc:
        raise RepoRefError(f"The URL {original!r} has no host.")
    path = parts.path
    configured = _endpoint_host(endpoint)
    if configured and netloc == configured[0]:
        prefix = configured[1]
        if prefix and (path == prefix or path.startswith(prefix + "/")):
            path = path[len(prefix) :]
    elif netloc not in _KNOWN_HOSTS:
        hosts = "huggingface.co" + (f" or {configured[0]}" if configured else "")
        raise RepoRefError(f"{parts.hostname or netloc!r} is not a Hugging Face Hub host: expected {hosts}.")
    segments = path.split("/")[1:] if path.startswith("/") else path.split("/")
    if not any(segments):
        raise RepoRefError(f"The URL {original!r} names no repo: expected https://huggingface.co/org/name.")
    if segments and segments[0] == "api":
        raise RepoRefError(
            f"{original!r} is an API URL: paste the repo's page URL (https://huggingface.co/org/name)."
        )
    quant: str | None = None
    if ":" in segments[-1] and len(segments) <= 3:  # hf.co/org/name:Q4_K_M (Ollama / llama.cpp form)
        segments[-1], quant = segments[-1].rsplit(":", 1)
        _check_quant(quant, original)
    ref = _parse_path_segments(segments, original, from_url=True, repo_type=repo_type)
    if quant:
        ref = RepoRef(ref.repo_id, ref.repo_type, ref.revision, ref.path, quant, ref.path_is_file)
    return ref


def _check_quant(quant: str, original: str) -> None:
    if not quant:
        raise RepoRefError(f"Nothing after ':' in {original!r}: expected a quantization such as Q4_K_M.")
    if not _QUANT_RE.fullmatch(quant):
        raise RepoRefError(
            f"{quant!r} is not a quantization name: expected letters, digits and '_' such as Q4_K_M."
        )


__all__ = [
    "REPO_TYPES",
    "RepoRef",
    "RepoRefError",
    "glob_escape",
    "glob_unescape",
    "parse_repo_input",
    "quant_patterns",
    "validate_id",
]
