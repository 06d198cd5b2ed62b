"""What the browser asks the Hub, behind a small protocol so UI tests may pass a fake.

UI-free. `HubRemote` is the real implementation over `huggingface_hub.HfApi(endpoint=..., token=...)`;
every failure leaves it as a `RemoteError` whose `kind` and `message` are meant for the user (the token is
never part of a message). `load_listing` is the one entry point the browser uses to show a revision: it
resolves the revision, lists every file, and - offline, or with the Hub unreachable or failing - falls back
to the tree listing huggingface_hub cached locally (`get_cached_repo_tree`).

Listing strategy: one recursive `list_repo_tree` call per revision (paginated by the server, 1000 entries a
page), run in a worker thread. The whole file list is needed anyway - for folder totals and for a pattern
preview that must count every file, exactly as `snapshot_download` does - and the tree widget is filled
lazily from memory, one folder at a time, so a 20,000-file repo never stalls the UI.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NamedTuple, Protocol

from hftui.core.hub.errors import classify as classify_hub_error
from hftui.core.hub.errors import redact
from hftui.core.vocab import cache_folder, display_id

ErrorKind = Literal[
    "not_found", "gated", "auth", "revision", "unreachable", "server", "offline", "bad_request", "other"
]
RefKind = Literal["branch", "tag", "pr", "commit"]

GATED_HINT = "set HF_TOKEN or run `hf auth login` with an account that has access"
COMMIT_RE = re.compile(r"^[0-9a-f]{40}$")


class RemoteFile(NamedTuple):
    """A file of a repo revision (what `list_repo_tree` reports).

    A NamedTuple, not a dataclass: a tuple of strings and ints is untracked by Python's cyclic GC, so a
    20,000-file listing adds nothing to the full collections that would otherwise pause the UI (~80 ms).
    """

    path: str
    size: int
    blob_id: str
    """Git blob SHA-1 (`oid`); for LFS files the SHA-1 of the pointer."""
    lfs_sha256: str | None = None

    @property
    def is_lfs(self) -> bool:
        return self.lfs_sha256 is not None

    @property
    def etag(self) -> str:
        """The name huggingface_hub gives this file's blob in the cache (`blobs/<etag>`)."""
        return self.lfs_sha256 or self.blob_id


@dataclass(frozen=True)
class RepoInfo:
    repo_id: str
    repo_type: str
    revision: str
    """As asked (branch, tag, PR ref or commit); ``main`` when none was asked."""
    commit: str
    gated: bool = False
    private: bool = False


@dataclass(frozen=True)
class RefInfo:
    name: str
    ref: str
    commit: str
    kind: RefKind


@dataclass(frozen=True)
class RepoRefs:
    branches: tuple[RefInfo, ...] = ()
    tags: tuple[RefInfo, ...] = ()
    pull_requests: tuple[RefInfo, ...] = ()

    def all(self) -> tuple[RefInfo, ...]:
        return self.branches + self.tags + self.pull_requests


@dataclass(frozen=True)
class SearchHit:
    repo_id: str
    repo_type: str
    downloads: int = 0
    likes: int = 0


@dataclass(frozen=True)
class Listing:
    """The files of one revision, from the Hub or (``offline=True``) from the local cache."""

    info: RepoInfo
    files: tuple[RemoteFile, ...] = field(repr=False)
    offline: bool = False
    notice: str | None = None
    """Why the listing came from the cache (shown to the user), else None."""
    retryable: bool = False
    """The Hub may answer if asked again (the view says how to retry)."""


class RemoteError(Exception):
    """A Hub call that failed, classified for the user. `str(err)` is the message."""

    def __init__(self, kind: ErrorKind, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.kind: ErrorKind = kind
        self.message = message
        self.retryable = retryable

    @property
    def connectivity(self) -> bool:
        """The Hub could not be asked (offline switch, unreachable, 5xx): a cached listing may stand in."""
        return self.kind in ("offline", "unreachable", "server")


class Remote(Protocol):
    """What the browser needs from a Hub. Every method may raise `RemoteError`."""

    endpoint: str

    def repo_info(self, repo_id: str, repo_type: str, revision: str | None) -> RepoInfo: ...

    def list_refs(self, repo_id: str, repo_type: str) -> RepoRefs: ...

    def list_files(self, repo_id: str, repo_type: str, commit: str) -> list[RemoteFile]: ...

    def search(self, query: str, repo_type: str, limit: int = 50) -> list[SearchHit]: ...

    def check_access(self, repo_id: str, repo_type: str, revision: str, path: str) -> None: ...


def classify_error(
    exc: BaseException,
    *,
    repo_id: str = "",
    repo_type: str = "model",
    revision: str | None = None,
    endpoint: str = "",
    token: str | None = None,
    have_token: bool = False,
) -> RemoteError:
    """Turn a huggingface_hub / httpx exception into a `RemoteError` with a user-facing message.

    What happened is decided by the one Hub error classifier (`core.hub.errors`); this words it
    for the browser."""
    if isinstance(exc, RemoteError):
        return exc
    found = classify_hub_error(exc, token=token)
    kind, status, detail = found.kind, found.status, found.detail
    what = display_id(repo_type, repo_id)
    where = endpoint or "the Hub"
    if kind == "offline":
        return RemoteError(
            "offline",
            "Offline mode (HF_HUB_OFFLINE=1): the Hub is not asked; unset it and restart to go online.",
        )
    if kind == "gated":
        if have_token:
            msg = (
                f"{what} is gated and your token has no access to it: request access on its Hub page (or use "
                "the token of an account that has it: set HF_TOKEN or run `hf auth login`), then retry."
            )
        else:
            msg = f"{what} is gated: request access on its Hub page, then {GATED_HINT}."
        return RemoteError("gated", msg)
    if kind == "disabled":
        return RemoteError("not_found", f"{what} has been disabled on the Hub.")
    if kind == "revision_not_found":
        return RemoteError("revision", f"{what} has no revision {revision!r} (branch, tag, PR or commit).")
    if kind == "repo_not_found":
        hint = "" if have_token else " (if it is private, set HF_TOKEN or run `hf auth login`)"
        return RemoteError(
            "not_found", f"No {repo_type} repo {repo_id!r} on the Hub{hint}; check the id and type."
        )
    if kind in ("unreachable", "timeout"):
        reason = "timed out" if kind == "timeout" else "connection failed"
        return RemoteError("unreachable", f"Cannot reach {where} ({reason}).", retryable=True)
    if kind == "bad_request":
        return RemoteError("bad_request", f"The Hub rejected the request: {detail}")
    if kind in ("server", "rate_limited"):
        return RemoteError(
            "server",
            f"The Hub answered {status} ({'rate limited' if kind == 'rate_limited' else 'server error'}).",
            retryable=True,
        )
    if kind == "not_found" or (kind == "entry_not_found" and status):
        return RemoteError("not_found", f"No {repo_type} repo {repo_id!r} on the Hub; check the id and type.")
    if kind in ("unauthorized", "forbidden"):
        if have_token:
            return RemoteError("auth", f"Your token is not allowed to read {what} (HTTP {status}).")
        return RemoteError("auth", f"{what} needs authentication (HTTP {status}): {GATED_HINT}.")
    if kind == "http":
        return RemoteError("other", f"The Hub answered {status}: {detail}")
    if kind != "other":  # reset, network, disk, permission, other OSError: the transport failed
        return RemoteError(
            "unreachable",
            f"Network error talking to {where}: {type(found.error).__name__}.",
            retryable=True,
        )
    return RemoteError("other", f"Unexpected error: {type(exc).__name__}: {redact(str(exc), token)}")


class HubRemote:
    """`Remote` over `HfApi(endpoint=..., token=...)`. Thread-safe enough for worker threads (stateless)."""

    def __init__(self, endpoint: str | None = None, token: str | bool | None = None) -> None:
        from huggingface_hub import HfApi, constants

        self.endpoint = (endpoint or constants.ENDPOINT).rstrip("/")
        self._token = token
        self._api = HfApi(endpoint=self.endpoint, token=token)

    @property
    def has_token(self) -> bool:
        if self._token is False:
            return False
        if isinstance(self._token, str):
            return bool(self._token)
        from huggingface_hub import get_token

        return bool(get_token())

    def _error(
        self, exc: BaseException, repo_id: str = "", repo_type: str = "model", revision: str | None = None
    ) -> RemoteError:
        token = self._token if isinstance(self._token, str) else None
        return classify_error(
            exc,
            repo_id=repo_id,
            repo_type=repo_type,
            revision=revision,
            endpoint=self.endpoint,
            token=token,
            have_token=self.has_token,
        )

    def repo_info(self, repo_id: str, repo_type: str, revision: str | None) -> RepoInfo:
        try:
            info = self._api.repo_info(repo_id, repo_type=repo_type, revision=revision)
        except Exception as exc:
            raise self._error(exc, repo_id, repo_type, revision) from exc
        if not info.sha:
            raise RemoteError("other", f"The Hub gave no commit for {repo_id}@{revision or 'main'}.")
        return RepoInfo(
            repo_id=repo_id,
            repo_type=repo_type,
            revision=revision or "main",
            commit=info.sha,
            gated=bool(getattr(info, "gated", False)),
            private=bool(getattr(info, "private", False)),
        )

    def list_refs(self, repo_id: str, repo_type: str) -> RepoRefs:
        try:
            refs = self._api.list_repo_refs(repo_id, repo_type=repo_type, include_pull_requests=True)
        except Exception as exc:
            raise self._error(exc, repo_id, repo_type) from exc

        def conv(items: Iterable[Any], kind: RefKind) -> tuple[RefInfo, ...]:
            return tuple(RefInfo(r.name, r.ref, r.target_commit, kind) for r in items)

        return RepoRefs(
            conv(refs.branches, "branch"), conv(refs.tags, "tag"), conv(refs.pull_requests or (), "pr")
        )

    def list_files(self, repo_id: str, repo_type: str, commit: str) -> list[RemoteFile]:
        from huggingface_hub.hf_api import RepoFile

        try:
            return [
                RemoteFile(e.path, int(e.size or 0), e.blob_id, e.lfs.sha256 if e.lfs is not None else None)
                for e in self._api.list_repo_tree(
                    repo_id, repo_type=repo_type, revision=commit, recursive=True
                )
                if isinstance(e, RepoFile)
            ]
        except Exception as exc:
            raise self._error(exc, repo_id, repo_type, commit) from exc

    def search(self, query: str, repo_type: str, limit: int = 50) -> list[SearchHit]:
        lister: Any = {
            "model": self._api.list_models,
            "dataset": self._api.list_datasets,
            "space": self._api.list_spaces,
        }.get(repo_type)
        if lister is None:
            raise RemoteError(
                "bad_request", f"The Hub offers no search of {repo_type} repos: type the repo's id instead."
            )
        try:
            return [
                SearchHit(
                    r.id, repo_type, int(getattr(r, "downloads", 0) or 0), int(getattr(r, "likes", 0) or 0)
                )
                for r in lister(search=query, limit=limit)
            ]
        except Exception as exc:
            raise self._error(exc, "", repo_type) from exc

    def check_access(self, repo_id: str, repo_type: str, revision: str, path: str) -> None:
        """HEAD one file: raises `RemoteError("gated")` when the files of a gated repo are not accessible."""
        from huggingface_hub import get_hf_file_metadata, hf_hub_url

        url = hf_hub_url(repo_id, path, repo_type=repo_type, revision=revision, endpoint=self.endpoint)
        try:
            get_hf_file_metadata(url, token=self._token)
        except Exception as exc:
            raise self._error(exc, repo_id, repo_type, revision) from exc


def cached_listing(
    cache_dir: str | Path, repo_id: str, repo_type: str, revision: str | None
) -> tuple[str, list[RemoteFile]] | None:
    """(commit, files) from the tree listing huggingface_hub cached for that revision, or None.

    Uses the public `get_cached_repo_tree`; the commit comes from ``refs/<revision>`` (as it does there).
    `get_cached_repo_tree` drops the LFS SHA-256 the listing file stores; it is read back from that file
    (`_lfs_sha256s`), so offline the LFS marks and the blob names (hence "to download") stay right.
    """
    from huggingface_hub import get_cached_repo_tree
    from huggingface_hub.errors import CachedRepoTreeNotFoundError

    revision = revision or "main"
    try:
        entries = get_cached_repo_tree(repo_id, repo_type=repo_type, revision=revision, cache_dir=cache_dir)
    except (CachedRepoTreeNotFoundError, OSError, ValueError):
        return None
    storage = Path(cache_dir) / cache_folder(repo_type, repo_id)
    if COMMIT_RE.match(revision):
        commit = revision
    else:
        try:
            commit = (storage / "refs" / revision).read_text().strip()
        except OSError:
            return None
    lfs = _lfs_sha256s(storage, commit)
    return commit, [RemoteFile(e.path, int(e.size or 0), e.blob_id, lfs.get(e.path)) for e in entries]


def _lfs_sha256s(storage: Path, commit: str) -> dict[str, str]:
    """path -> LFS SHA-256 from the cached listing ``trees/<commit>.json`` (best effort).

    `get_cached_repo_tree` drops the LFS hashes, so the file is read with the same reader the
    offline verifier uses rather than through huggingface_hub's private `_tree_cache` module.
    """
    from hftui.core.cache.listing import ListingError, read_listing

    try:
        entries = read_listing(storage, commit)
    except ListingError:
        return {}
    return {path: entry.lfs_sha256 for path, entry in entries.items() if entry.lfs_sha256}


def load_listing(
    remote: Remote, repo_id: str, repo_type: str, revision: str | None, cache_dir: str | Path | None
) -> Listing:
    """Resolve `revision` and list every file; offline or on connectivity errors use the cached listing.

    Raises `RemoteError` for what the cache cannot answer (unknown repo or revision, gated, and connectivity
    errors when nothing is cached for that revision - then the message says so).
    """
    try:
        # "main" when none is given, as snapshot_download asks: not the default branch, which may differ.
        info = remote.repo_info(repo_id, repo_type, revision or "main")
        files = remote.list_files(repo_id, repo_type, info.commit)
        return Listing(info, tuple(sorted(files, key=lambda f: f.path)))
    except RemoteError as err:
        if not err.connectivity or cache_dir is None:
            raise
        cached = cached_listing(cache_dir, repo_id, repo_type, revision)
        rev = revision or "main"
        if cached is None:
            raise RemoteError(
                err.kind,
                f"{err.message} No listing of {repo_id}@{rev} is cached locally.",
                retryable=err.retryable,
            ) from err
        commit, files = cached
        info = RepoInfo(repo_id, repo_type, rev, commit)
        notice = f"{err.message} Showing the locally cached listing of commit {commit[:10]}."
        return Listing(
            info,
            tuple(sorted(files, key=lambda f: f.path)),
            offline=True,
            notice=notice,
            retryable=err.retryable,
        )


def resolve_ref_input(text: str, refs: RepoRefs) -> tuple[str, RefKind] | None:
    """What a typed revision means given the refs: (revision, kind), or None if it names nothing known.

    Accepts a branch, tag, PR (``refs/pr/N``, ``pr/N``, ``#N``) or a commit hash: full, or short (7+ hex
    digits) - the full commit when it starts a ref target, else as typed (the Hub resolves short hashes of
    any commit, not only of the commits refs point to).
    """
    text = text.strip()
    if not text:
        return None
    for kind, items in (("branch", refs.branches), ("tag", refs.tags), ("pr", refs.pull_requests)):
        for r in items:
            if text in (r.name, r.ref):
                return r.name, kind  # type: ignore[return-value]
    m = re.fullmatch(r"(?:#|pr/|refs/pr/)(\d+)", text)
    if m:
        name = f"refs/pr/{m.group(1)}"
        if any(r.name == name for r in refs.pull_requests):
            return name, "pr"
        return None
    if COMMIT_RE.match(text):
        return text, "commit"
    if re.fullmatch(r"[0-9a-f]{7,39}", text):
        for r in refs.all():
            if r.commit.startswith(text):
                return r.commit, "commit"
        return text, "commit"
    return None


def short_list(items: Sequence[str], n: int = 3) -> str:
    shown = ", ".join(items[:n])
    return shown + (f" (+{len(items) - n} more)" if len(items) > n else "")


__all__ = [
    "GATED_HINT",
    "HubRemote",
    "Listing",
    "RefInfo",
    "Remote",
    "RemoteError",
    "RemoteFile",
    "RepoInfo",
    "RepoRefs",
    "SearchHit",
    "cached_listing",
    "classify_error",
    "load_listing",
    "resolve_ref_input",
]
