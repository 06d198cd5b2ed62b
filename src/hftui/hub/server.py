"""A local HTTP server speaking the part of the Hub API that huggingface_hub 2.4 downloads with.

Point `endpoint=` (or `HF_ENDPOINT`) at `HubServer.endpoint` and the library's real code path runs:
repo info, paginated tree listings, refs, HEAD metadata, ranged GETs and typed errors. Faults (dropped
connections, resets, error statuses, stalls) and a bandwidth cap can be injected per server.
See /work/shared/HUB_API.md for the client behaviour this mirrors.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fnmatch
import hashlib
import json
import os
import re
import secrets
import socket
import struct
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, NamedTuple
from urllib.parse import parse_qsl, unquote, urlencode

from hftui.hub.content import Content
from hftui.hub.spec import Commit, FileEntry, HubSpec, RepoSpec, check_ref_name, load_spec, make_file
from hftui.hub.xet import BAD_XET_KINDS, BadXet, LazyStore, XetStore, content_key, xet_hash_of

FaultKind = Literal["close_after", "reset_after", "status", "stall", "delay", "hold"]
ServerRole = Literal["hub", "cas"]
_TYPE_PREFIXES = {"models": "model", "datasets": "dataset", "spaces": "space", "kernels": "kernel"}
_URL_PREFIXES = {"datasets": "dataset", "spaces": "space", "kernels": "kernel"}
_STATUS_ERROR_CODES = {429: "TooManyRequests", 500: "InternalServerError", 503: "ServiceUnavailable"}
_IDLE_TIMEOUT = 120.0
# The real Hub's Xet read tokens live about an hour.
XET_TOKEN_TTL = 3600


@dataclass
class Fault:
    """A misbehaviour injected into matching requests.

    kind:
      close_after  send `after_bytes` of the body, then close cleanly (FIN); the client resumes with Range.
      reset_after  send `after_bytes`, then reset the connection (RST); the client raises httpx2.ReadError.
      status       answer `status` instead (with `Retry-After: retry_after` if set) and an error JSON body.
      stall        pause `stall_seconds` after `after_bytes` of the body, then finish normally.
      delay        wait `stall_seconds` before answering at all (slow metadata calls).
      hold         send `after_bytes`, then wait until `HubServer.release_holds()` (at most
                   `stall_seconds`), then finish: a test stops a client at a known byte.
    Matching: `method` (None = any) and `path_glob` (fnmatch against the percent-decoded URL path,
    e.g. "*/model.safetensors" or "/api/models/*/tree/*"), and `server` ("hub", "cas" or None = both).
    CAS paths: `/v2/reconstructions/{xet_hash}`, `/v1/reconstructions/{xet_hash}`,
    `/xorbs/{xet_hash}/{xorb_hash}` (xorb ranges fetched for that file), `/bridge/{xet_hash}`,
    `/v1/telemetry`. `times` matches are consumed (None = forever).
    """

    kind: FaultKind
    path_glob: str = "*"
    method: str | None = "GET"
    times: int | None = 1
    after_bytes: int = 0
    status: int = 500
    retry_after: int | None = None
    stall_seconds: float = 1.0
    server: ServerRole | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("close_after", "reset_after", "status", "stall", "delay", "hold"):
            raise ValueError(f"unknown fault kind {self.kind!r}")
        if self.after_bytes < 0:
            raise ValueError("after_bytes must be >= 0")
        if self.server not in (None, "hub", "cas"):
            raise ValueError(f"unknown server {self.server!r} (hub, cas or None)")


class RequestRecord(NamedTuple):
    """One served request. `path` is the raw (percent-encoded) path, `headers` has lower-case keys.

    `server` is "hub" for the Hub API, "cas" for the Xet CAS (and its plain-bytes bridge).
    """

    method: str
    path: str
    query: str
    status: int
    headers: dict[str, str]
    server: ServerRole = "hub"


@dataclass(frozen=True)
class RemoteFileInfo:
    """What the server holds for one file. `git_sha1` is the tree's blob id (of the pointer, for LFS files)."""

    path: str
    size: int
    sha256: str
    git_sha1: str
    lfs: bool
    xet_hash: str | None = None


class _HubError(Exception):
    def __init__(
        self, status: int, code: str | None, message: str, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})


@dataclass
class _Reply:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    content: Content | None = None
    start: int = 0
    end: int = 0
    # Generated bodies (xorb ranges): `stream` yields exactly `stream_length` bytes.
    stream: Iterable[bytes | memoryview] | None = None
    stream_length: int = 0

    @property
    def length(self) -> int:
        if self.stream is not None:
            return self.stream_length
        return self.end - self.start if self.content is not None else len(self.body)

    def parts(self) -> Iterator[bytes | memoryview]:
        if self.stream is not None:
            yield from self.stream
        elif self.content is not None:
            yield from self.content.iter_range(self.start, self.end)
        elif self.body:
            yield memoryview(self.body)


def _json_reply(data: Any, status: int = 200, headers: Iterable[tuple[str, str]] = ()) -> _Reply:
    body = json.dumps(data).encode()
    return _Reply(status, [("Content-Type", "application/json; charset=utf-8"), *headers], body)


class HubServer:
    """A threaded local Hub over a spec. Use as a context manager, or `start()` / `stop()`.

    With Xet on (`xet=None` takes the spec's setting, which defaults to on), LFS files the spec stores
    in Xet are served like the real Hub does: a second listener on `cas_port` is the CAS (see
    `Fault` for its paths) and the Hub answers `resolve` for those files with a 302 to the CAS's
    plain-bytes bridge. `xet_token_ttl` is the lifetime of the read tokens the Hub hands out;
    `xet_v2=False` makes the CAS answer 404 on `/v2/reconstructions` (clients fall back to `/v1`).
    """

    def __init__(
        self,
        spec: HubSpec | Mapping[str, Any] | str | Path,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        page_size: int = 1000,
        expand_page_size: int = 50,
        lfs_redirect: bool = False,
        xet: bool | None = None,
        cas_port: int = 0,
        xet_token_ttl: int = XET_TOKEN_TTL,
        xet_v2: bool = True,
    ) -> None:
        self.spec = load_spec(spec)
        self.xet = self.spec.xet if xet is None else xet
        self.cas_port = cas_port
        self.xet_token_ttl = xet_token_ttl
        self.xet_v2 = xet_v2
        self._xet_store = LazyStore(self._xet_contents)
        self._xet_tokens: dict[str, float] = {}
        self._xet_bad: dict[str, BadXet] = {}
        self._bytes: dict[tuple[ServerRole, str], int] = {}
        self._writing: dict[tuple[ServerRole, str], int] = {}
        self._released = threading.Event()
        self._cas_httpd: _HTTPServer | None = None
        self._cas_thread: threading.Thread | None = None
        # Like the real Hub: LFS files answer a same-origin 302 to a content URL instead of a 200.
        self.lfs_redirect = lfs_redirect
        self.host = host
        self.port = port
        self.page_size = page_size
        self.expand_page_size = expand_page_size
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._requests: list[RequestRecord] = []
        self._faults: list[Fault] = []
        self._bandwidth: int | None = None
        self._dir_oids: dict[tuple[str, str], str] = {}
        # (repo_type, old id) -> new id: a renamed repo answers its old URLs with a redirect, as the Hub does.
        self._renamed: dict[tuple[str, str], str] = {}

    # lifecycle

    def start(self) -> HubServer:
        if self._httpd is not None:
            return self
        if self.xet:
            cas = _HTTPServer((self.host, self.cas_port), _Handler)
            cas.hub, cas.role = self, "cas"
            self._cas_httpd = cas
            self.cas_port = cas.server_address[1]
            self._cas_thread = threading.Thread(
                target=cas.serve_forever, args=(0.05,), name=f"hub-cas:{self.cas_port}", daemon=True
            )
            self._cas_thread.start()
        try:
            httpd = _HTTPServer((self.host, self.port), _Handler)
        except OSError:
            self.stop()
            raise
        httpd.hub = self
        self._httpd = httpd
        self.port = httpd.server_address[1]
        self._thread = threading.Thread(
            target=httpd.serve_forever, args=(0.05,), name=f"hub-server:{self.port}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        cas, self._cas_httpd = self._cas_httpd, None
        httpd, self._httpd = self._httpd, None
        for server, thread in ((httpd, self._thread), (cas, self._cas_thread)):
            if server is None:
                continue
            server.shutdown()
            server.server_close()
            server.close_connections()
            if thread is not None:
                thread.join(timeout=5)

    def __enter__(self) -> HubServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def serve_forever(self) -> None:
        """Block until interrupted (Ctrl-C); for the `hub-serve` command."""
        self.start()
        try:
            while self._thread is not None and self._thread.is_alive():
                self._thread.join(0.5)
        finally:
            self.stop()

    # facts for tests

    @property
    def endpoint(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def cas_endpoint(self) -> str:
        """Base URL of the Xet CAS (what the token route hands out as `casUrl`)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.cas_port}"

    @property
    def token(self) -> str:
        return self.spec.token

    def _repo(self, repo_id: str, repo_type: str) -> RepoSpec:
        repo = self.spec.repo(repo_id, repo_type)
        if repo is None:
            raise KeyError(f"no {repo_type} repo {repo_id!r} in the spec")
        return repo

    def _commit(self, repo_id: str, revision: str, repo_type: str) -> Commit:
        commit = self._repo(repo_id, repo_type).resolve(revision)
        if commit is None:
            raise KeyError(f"{repo_type} repo {repo_id!r} has no revision {revision!r}")
        return commit

    def commit(self, repo_id: str, revision: str = "main", repo_type: str = "model") -> str:
        return self._commit(repo_id, revision, repo_type).sha

    def files(
        self, repo_id: str, revision: str = "main", repo_type: str = "model"
    ) -> dict[str, RemoteFileInfo]:
        return {
            path: RemoteFileInfo(
                path, entry.size, entry.sha256(), entry.oid(), entry.lfs, self._advertised_hash(entry)
            )
            for path, entry in self._commit(repo_id, revision, repo_type).files.items()
        }

    def _entry(self, repo_id: str, path: str, revision: str, repo_type: str) -> FileEntry:
        files = self._commit(repo_id, revision, repo_type).files
        if path not in files:
            raise KeyError(f"{path!r} is not in {repo_id}@{revision}")
        return files[path]

    def file_sha256(self, repo_id: str, path: str, revision: str = "main", repo_type: str = "model") -> str:
        return self._entry(repo_id, path, revision, repo_type).sha256()

    def read_file(self, repo_id: str, path: str, revision: str = "main", repo_type: str = "model") -> bytes:
        return self._entry(repo_id, path, revision, repo_type).content.read()

    # Xet

    def is_xet(self, repo_id: str, path: str, revision: str = "main", repo_type: str = "model") -> bool:
        """Whether this file travels over Xet on this server."""
        return self._is_xet(self._entry(repo_id, path, revision, repo_type))

    def xet_hash(self, repo_id: str, path: str, revision: str = "main", repo_type: str = "model") -> str:
        """The Xet hash the Hub announces for a file (KeyError if the file is not served over Xet)."""
        entry = self._entry(repo_id, path, revision, repo_type)
        advertised = self._advertised_hash(entry)
        if advertised is None:
            raise KeyError(f"{path!r} of {repo_id} is not served over Xet")
        return advertised

    def xorb_hashes(
        self, repo_id: str, path: str, revision: str = "main", repo_type: str = "model"
    ) -> list[str]:
        """The xorbs holding a file's chunks, in file order."""
        entry = self._entry(repo_id, path, revision, repo_type)
        if not self._is_xet(entry):
            raise KeyError(f"{path!r} of {repo_id} is not served over Xet")
        stored = self.xet_store.files[xet_hash_of(content_key(entry.content))]
        return [segment.xorb.hash for segment in stored.segments]

    def xorb_starts(
        self, repo_id: str, path: str, revision: str = "main", repo_type: str = "model"
    ) -> list[tuple[str, int]]:
        """(xorb hash, offset in the file of its first byte) of each xorb run of a file, in file order."""
        entry = self._entry(repo_id, path, revision, repo_type)
        if not self._is_xet(entry):
            raise KeyError(f"{path!r} of {repo_id} is not served over Xet")
        stored = self.xet_store.files[xet_hash_of(content_key(entry.content))]
        return [(segment.xorb.hash, segment.layout.start(segment.first)) for segment in stored.segments]

    @property
    def xet_store(self) -> XetStore:
        return self._xet_store.get()

    def break_xet(
        self,
        repo_id: str,
        path: str,
        kind: BadXet,
        revision: str = "main",
        repo_type: str = "model",
    ) -> None:
        """Make the Xet side of one file bad, until `clear_xet_breaks()`.

        kind:
          unknown_hash    the Hub announces a Xet hash the CAS does not know (404 on reconstruction)
          xorb_404        the reconstruction names a xorb the CAS answers 404 for
          truncated_xorb  xorb ranges arrive complete at the HTTP level but end mid-chunk
          malformed_xorb  the first chunk header of each xorb range is invalid
          size_mismatch   the reconstruction leaves out the last chunk (shorter than X-Linked-Size)
        Identical content elsewhere shares the Xet hash, so it is broken too.
        """
        if kind not in BAD_XET_KINDS:
            raise ValueError(f"unknown bad-Xet kind {kind!r} (one of {', '.join(BAD_XET_KINDS)})")
        entry = self._entry(repo_id, path, revision, repo_type)
        if not self._is_xet(entry):
            raise KeyError(f"{path!r} of {repo_id} is not served over Xet")
        with self._lock:
            self._xet_bad[xet_hash_of(content_key(entry.content))] = kind

    def clear_xet_breaks(self) -> None:
        with self._lock:
            self._xet_bad.clear()

    def expire_xet_tokens(self) -> None:
        """Invalidate every Xet token handed out so far: the CAS answers 401 to them from now on."""
        with self._lock:
            self._xet_tokens.clear()

    def _issue_xet_token(self) -> tuple[str, int]:
        expiry = int(time.time()) + self.xet_token_ttl
        token = f"xet_{secrets.token_hex(16)}"
        with self._lock:
            self._xet_tokens[token] = expiry
        return token, expiry

    def _xet_token_valid(self, authorization: str) -> bool:
        scheme, _, token = authorization.partition(" ")
        with self._lock:
            expiry = self._xet_tokens.get(token)
        return scheme.lower() == "bearer" and expiry is not None and time.time() < expiry

    def _is_xet(self, entry: FileEntry) -> bool:
        return self.xet and self.spec.is_xet(entry)

    def _advertised_hash(self, entry: FileEntry) -> str | None:
        if not self._is_xet(entry):
            return None
        real = xet_hash_of(content_key(entry.content))
        if self._xet_bad.get(real) == "unknown_hash":
            return hashlib.sha256(f"unknown:{real}".encode()).hexdigest()
        return real

    def _xet_contents(self) -> list[Content]:
        # Every commit of every repo, in spec order: the packing (and so the xorb hashes) is stable.
        contents: list[Content] = []
        for repo in self.spec.repos.values():
            for commit in sorted(repo.commits(), key=lambda c: c.date):
                contents.extend(e.content for e in commit.files.values() if self.spec.is_xet(e))
        return contents

    # byte counters

    def bytes_sent(self, path_glob: str = "*", server: ServerRole | None = None) -> int:
        """Body bytes written so far to responses whose decoded path matches (live, during a response)."""
        with self._lock:
            return sum(
                n
                for (role, path), n in self._bytes.items()
                if (server is None or role == server) and fnmatch.fnmatchcase(path, path_glob)
            )

    def bytes_by_path(self, server: ServerRole | None = None) -> dict[str, int]:
        with self._lock:
            totals: dict[str, int] = {}
            for (role, path), n in self._bytes.items():
                if server is None or role == server:
                    totals[path] = totals.get(path, 0) + n
            return totals

    def bodies_in_flight(self, path_glob: str = "*", server: ServerRole | None = None) -> int:
        """Response bodies still being written whose decoded path matches. A client that stopped
        (paused, killed) is noticed only at the server's next write, so a byte counter is final for
        a path once this is 0: tests wait on it before they read one."""
        with self._lock:
            return sum(
                n
                for (role, path), n in self._writing.items()
                if (server is None or role == server) and fnmatch.fnmatchcase(path, path_glob)
            )

    def _writing_body(self, role: ServerRole, path: str, delta: int) -> None:
        with self._lock:
            key = (role, path)
            self._writing[key] = self._writing.get(key, 0) + delta

    def release_holds(self) -> None:
        """Let every response held by a `hold` fault go on (and the ones that come later)."""
        self._released.set()

    def reset_byte_counters(self) -> None:
        with self._lock:
            self._bytes.clear()

    def _count(self, role: ServerRole, path: str, n: int) -> None:
        with self._lock:
            key = (role, path)
            self._bytes[key] = self._bytes.get(key, 0) + n

    @property
    def requests(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    def _record(self, record: RequestRecord) -> None:
        with self._lock:
            self._requests.append(record)

    # changing the served repos while running (refs that move upstream, repos deleted or renamed)
    #
    # Handler threads read the spec without a lock, so every change builds a new dict and swaps it
    # in: a request sees the repo either before or after the change, never half of it.

    def push(
        self,
        repo_id: str,
        ref: str = "main",
        *,
        files: Mapping[str, Any] | None = None,
        remove: Iterable[str] = (),
        title: str | None = None,
        repo_type: str = "model",
    ) -> str:
        """Commit on top of a branch (or `refs/pr/N`) and move it there; returns the new commit id.

        `files` uses the spec's syntax (`"text"` or `{"size": N, "seed": s}`); `remove` drops paths.
        A branch that does not exist yet is created from the default branch."""
        repo = self._repo(repo_id, repo_type)
        is_pr = ref.startswith("refs/pr/")
        name = ref[len("refs/pr/") :] if is_pr else ref.removeprefix("refs/heads/")
        if is_pr and not name.isdigit():
            raise ValueError(f"{ref!r}: a pull request ref is refs/pr/<number>")
        if not is_pr:
            check_ref_name(name, "ref")
        table = repo.prs if is_pr else repo.branches
        parent = table.get(name) or repo.head
        tree = dict(parent.files)
        for path, value in (files or {}).items():
            tree[path] = make_file(path, value)
        for path in remove:
            if path not in tree:
                raise KeyError(f"{path!r} is not in {repo_id}@{ref}")
            del tree[path]
        commit = Commit(
            files=dict(sorted(tree.items())),
            parent=parent,
            title=title or f"Update {len(files or {})} file(s)",
            message=title or "",
            date=_next_date(parent.date),
        )
        if is_pr:
            repo.prs = {**repo.prs, name: commit}
        else:
            repo.branches = {**repo.branches, name: commit}
        if self.xet and any(self.spec.is_xet(entry) for entry in tree.values()):
            # The Xet store is packed once from every commit; new content needs a new packing.
            self._xet_store = LazyStore(self._xet_contents)
        return commit.sha

    def set_tag(self, repo_id: str, tag: str, revision: str, *, repo_type: str = "model") -> str:
        """Create or move a tag to `revision` (a branch, tag, refs/pr/N or commit); returns its commit id."""
        repo = self._repo(repo_id, repo_type)
        check_ref_name(tag, "tag")
        commit = self._commit(repo_id, revision, repo_type)
        repo.tags = {**repo.tags, tag: commit}
        return commit.sha

    def delete_ref(self, repo_id: str, ref: str, *, repo_type: str = "model") -> None:
        """Delete a branch (not the default one), a tag or a `refs/pr/N`."""
        repo = self._repo(repo_id, repo_type)
        if ref.startswith("refs/pr/"):
            repo.prs = {k: v for k, v in repo.prs.items() if k != ref[len("refs/pr/") :]}
        elif ref in repo.tags:
            repo.tags = {k: v for k, v in repo.tags.items() if k != ref}
        elif ref in repo.branches and ref != repo.default_branch:
            # History kept under its own key, so commits it reached stay resolvable by id.
            repo.history = {**repo.history, f"\0deleted:{ref}": [repo.branches[ref]]}
            repo.branches = {k: v for k, v in repo.branches.items() if k != ref}
        else:
            raise KeyError(f"{repo_id} has no deletable ref {ref!r}")

    def delete_repo(self, repo_id: str, *, repo_type: str = "model") -> None:
        self._repo(repo_id, repo_type)
        self.spec.repos = {k: v for k, v in self.spec.repos.items() if k != (repo_type, repo_id)}

    def rename_repo(self, repo_id: str, new_id: str, *, repo_type: str = "model") -> None:
        """Move a repo to `new_id`; its old URLs answer 307 to the new ones from then on."""
        repo = self._repo(repo_id, repo_type)
        if self.spec.repo(new_id, repo_type) is not None:
            raise ValueError(f"{new_id!r} already exists")
        repo.id = new_id
        repos = {k: v for k, v in self.spec.repos.items() if k != (repo_type, repo_id)}
        repos[(repo_type, new_id)] = repo
        self.spec.repos = repos
        self._renamed = {**self._renamed, (repo_type, repo_id): new_id}

    def _redirect_for(self, repo_type: str, repo_id: str) -> str | None:
        seen: set[str] = set()
        target = self._renamed.get((repo_type, repo_id))
        while target is not None and target not in seen and self.spec.repo(target, repo_type) is None:
            seen.add(target)
            target = self._renamed.get((repo_type, target))
        return target

    # faults and throttling

    def add_fault(self, fault: Fault) -> None:
        with self._lock:
            if fault.kind == "hold":
                self._released.clear()  # a new hold waits for the next `release_holds()`
            self._faults.append(fault)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def set_bandwidth(self, bytes_per_second: int | None) -> None:
        """Cap each response body to this rate (None = unlimited)."""
        if bytes_per_second is not None and bytes_per_second <= 0:
            raise ValueError("bytes_per_second must be positive or None")
        self._bandwidth = bytes_per_second

    def _take_fault(self, method: str, path: str, role: ServerRole = "hub") -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.method not in (None, method) or not fnmatch.fnmatchcase(path, fault.path_glob):
                    continue
                if fault.server not in (None, role):
                    continue
                if fault.times is not None:
                    if fault.times <= 0:
                        continue
                    fault.times -= 1
                return fault
        return None

    # tree helpers

    def _dir_oid(self, commit: Commit, directory: str) -> str:
        key = (commit.sha, directory)
        cached = self._dir_oids.get(key)
        if cached is not None:
            return cached
        prefix = f"{directory}/" if directory else ""
        children: dict[str, str] = {}
        for path, entry in commit.files.items():
            if not path.startswith(prefix):
                continue
            head, sep, _ = path[len(prefix) :].partition("/")
            if sep:
                children.setdefault(head + "/", "")
            else:
                children[head] = entry.oid()
        digest = hashlib.sha1(b"tree\0")
        for name in sorted(children):
            oid = self._dir_oid(commit, prefix + name[:-1]) if name.endswith("/") else children[name]
            digest.update(f"{name}\0{oid}\n".encode())
        oid = digest.hexdigest()
        self._dir_oids[key] = oid
        return oid


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64
    hub: HubServer
    role: ServerRole = "hub"

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, handler)
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        # Wakes handler threads blocked on idle keep-alive connections so they exit with the server.
        with self._open_lock:
            sockets, self._open = list(self._open), set()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients vanish mid-body all the time (cancelled downloads, injected resets): not worth a traceback.
        pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "hftui-hub"
    timeout = _IDLE_TIMEOUT
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def version_string(self) -> str:
        return self.server_version

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_POST(self) -> None:
        self._dispatch("POST")

    # plumbing

    @property
    def hub(self) -> HubServer:
        return self.server.hub

    def _dispatch(self, method: str) -> None:
        target = self.path
        if "://" in target.split("?", 1)[0]:
            # Absolute-form request target (proxies, some clients): keep only path and query.
            target = "/" + target.split("://", 1)[1].partition("/")[2]
        raw_path, _, query = target.partition("?")
        length = int(self.headers.get("Content-Length") or 0)
        # Read the body even when unused, or the next keep-alive request would start mid-body.
        body = self.rfile.read(length) if length else b""
        decoded = unquote(raw_path)
        role = self.server.role
        self._count_key = decoded
        fault = self.hub._take_fault(method, decoded, role)
        try:
            if fault is not None and fault.kind == "delay":
                time.sleep(fault.stall_seconds)
            if fault is not None and fault.kind == "status":
                headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
                code = _STATUS_ERROR_CODES.get(fault.status)
                raise _HubError(fault.status, code, f"Injected fault: HTTP {fault.status}", headers)
            if role == "cas":
                reply = _CasRouter(self, method, raw_path, query).route()
            else:
                reply = _Router(self, method, raw_path, query, body).route()
        except _HubError as exc:
            reply = self._error_reply(exc)
        self._send(method, raw_path, query, reply, fault)

    @staticmethod
    def _error_reply(exc: _HubError) -> _Reply:
        headers = [("X-Error-Message", exc.message), *exc.headers.items()]
        if exc.code:
            headers.append(("X-Error-Code", exc.code))
        return _json_reply({"error": exc.message}, exc.status, headers)

    def _send(self, method: str, raw_path: str, query: str, reply: _Reply, fault: Fault | None) -> None:
        self.hub._record(
            RequestRecord(
                method,
                raw_path,
                query,
                reply.status,
                {k.lower(): v for k, v in self.headers.items()},
                self.server.role,
            )
        )
        self.send_response(reply.status)
        for name, value in reply.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(reply.length))
        self.end_headers()
        if method == "HEAD":
            return
        body_fault = (
            fault
            if fault is not None and fault.kind in ("close_after", "reset_after", "stall", "hold")
            else None
        )
        self.hub._writing_body(self.server.role, self._count_key, 1)
        try:
            self._write_body(reply, body_fault)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        finally:
            self.hub._writing_body(self.server.role, self._count_key, -1)

    def _write_body(self, reply: _Reply, fault: Fault | None) -> None:
        limit = fault.after_bytes if fault is not None else None
        sent = 0
        for part in reply.parts():
            if limit is not None and fault is not None and sent + len(part) >= limit:
                head = limit - sent
                self._throttled_write(part[:head])
                sent += head
                part = part[head:]
                if fault.kind == "close_after":
                    self.close_connection = True
                    return
                if fault.kind == "reset_after":
                    self._reset()
                    return
                if fault.kind == "hold":
                    self.hub._released.wait(fault.stall_seconds)
                else:
                    time.sleep(fault.stall_seconds)
                limit = None
            self._throttled_write(part)
            sent += len(part)

    def _throttled_write(self, data: bytes | memoryview) -> None:
        rate = self.hub._bandwidth
        if rate is None:
            self.wfile.write(data)
            self.hub._count(self.server.role, self._count_key, len(data))
            return
        step = max(1, rate // 20)
        started = time.monotonic()
        for offset in range(0, len(data), step):
            piece = data[offset : offset + step]
            self.wfile.write(piece)
            self.hub._count(self.server.role, self._count_key, len(piece))
            ahead = (offset + len(piece)) / rate - (time.monotonic() - started)
            if ahead > 0:
                time.sleep(ahead)

    def _reset(self) -> None:
        # SO_LINGER 0 + close sends RST. Closing the fd directly skips socketserver's shutdown(SHUT_WR),
        # which would send a FIN first and turn the reset into a clean close.
        self.close_connection = True
        sock = self.connection
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        os.close(sock.detach())

    def host_url(self) -> str:
        host = self.headers.get("Host") or f"{self.hub.host}:{self.hub.port}"
        return f"http://{host}"

    def authorized(self) -> bool:
        auth = self.headers.get("Authorization") or ""
        return auth == f"Bearer {self.hub.spec.token}"


class _Router:
    def __init__(self, handler: _Handler, method: str, raw_path: str, query: str, body: bytes) -> None:
        self.handler = handler
        self.hub = handler.hub
        self.method = method
        self.raw_path = raw_path
        self.query = query
        self.params = parse_qsl(query, keep_blank_values=True)
        self.body = body
        # Split before decoding: a revision like refs/pr/1 arrives as one segment, refs%2Fpr%2F1.
        self.segments = [unquote(s) for s in raw_path.split("/")[1:]]

    def param(self, name: str, default: str | None = None) -> str | None:
        for key, value in self.params:
            if key == name:
                return value
        return default

    def flag(self, name: str) -> bool:
        return (self.param(name) or "").lower() in ("1", "true")

    def route(self) -> _Reply:
        segs = self.segments
        if segs and segs[0] == "api":
            return self.route_api(segs[1:])
        repo_type = "model"
        if segs and segs[0] in _URL_PREFIXES:
            repo_type = _URL_PREFIXES[segs[0]]
            segs = segs[1:]
        if len(segs) >= 5 and segs[2] == "resolve" and self.method in ("GET", "HEAD"):
            return self.resolve(repo_type, f"{segs[0]}/{segs[1]}", segs[3], "/".join(segs[4:]))
        raise _HubError(404, None, "Not found")

    def route_api(self, segs: list[str]) -> _Reply:
        if segs == ["agent-harnesses"]:
            # A 404 keeps the client from caching a registry file in the user's HF_HOME.
            raise _HubError(404, None, "Not found")
        if not segs or segs[0] not in _TYPE_PREFIXES:
            raise _HubError(404, None, "Not found")
        repo_type = _TYPE_PREFIXES[segs[0]]
        if len(segs) == 1 and self.method == "GET":
            return self.list_repos(repo_type)
        if len(segs) < 3:
            raise _HubError(404, None, "Not found")
        repo = self.repo(repo_type, f"{segs[1]}/{segs[2]}")
        rest = segs[3:]
        if not rest and self.method == "GET":
            return self.info(repo, repo.default_branch)
        if len(rest) == 2 and rest[0] == "revision" and self.method == "GET":
            return self.info(repo, rest[1])
        if len(rest) >= 2 and rest[0] == "tree" and self.method == "GET":
            return self.tree(repo, rest[1], "/".join(rest[2:]).strip("/"))
        if rest == ["refs"] and self.method == "GET":
            return self.refs(repo)
        if len(rest) == 2 and rest[0] == "paths-info" and self.method == "POST":
            return self.paths_info(repo, rest[1])
        if len(rest) == 2 and rest[0] == "commits" and self.method == "GET":
            return self.commits(repo, rest[1])
        if len(rest) == 2 and rest[0] == "xet-read-token" and self.method == "GET" and self.hub.xet:
            return self.xet_read_token(repo, rest[1])
        raise _HubError(404, None, "Not found")

    # lookups

    def repo(self, repo_type: str, repo_id: str) -> RepoSpec:
        repo = self.hub.spec.repo(repo_id, repo_type)
        moved_to = self.hub._redirect_for(repo_type, repo_id) if repo is None else None
        if moved_to is not None:
            # The Hub redirects a renamed repo's URLs (API and downloads) to its new name.
            location = (self.raw_path + "/").replace(f"/{repo_id}/", f"/{moved_to}/", 1)[:-1]
            if self.query:
                location += f"?{self.query}"
            raise _HubError(307, None, f"Repository moved to {moved_to}", {"Location": location})
        if repo is None or (repo.private and not self.handler.authorized()):
            raise _HubError(
                404,
                "RepoNotFound",
                "Repository not found. Check that the repo id and type are right and, if it is private, "
                "that you are authenticated.",
            )
        return repo

    def commit(self, repo: RepoSpec, revision: str) -> Commit:
        commit = repo.resolve(revision)
        if commit is None:
            raise _HubError(404, "RevisionNotFound", f"Invalid rev id: {revision}")
        return commit

    # endpoints

    def info(self, repo: RepoSpec, revision: str) -> _Reply:
        commit = self.commit(repo, revision)
        data = _summary(repo)
        data["sha"] = commit.sha
        data["lastModified"] = commit.date
        blobs = self.flag("blobs")
        siblings = []
        for path, entry in commit.files.items():
            sibling: dict[str, Any] = {"rfilename": path}
            if blobs:
                sibling["size"] = entry.size
                sibling["blobId"] = entry.oid()
                if entry.lfs:
                    sibling["lfs"] = {
                        "sha256": entry.sha256(),
                        "size": entry.size,
                        "pointerSize": len(entry.pointer()),
                    }
            siblings.append(sibling)
        data["siblings"] = siblings
        if blobs:
            data["usedStorage"] = sum(e.size for e in commit.files.values())
        return _json_reply(data)

    def list_repos(self, repo_type: str) -> _Reply:
        search = (self.param("search") or "").lower()
        author = self.param("author")
        filters = [v for k, v in self.params if k == "filter"]
        authorized = self.handler.authorized()
        items = []
        for (rtype, _), repo in self.hub.spec.repos.items():
            if rtype != repo_type or (repo.private and not authorized):
                continue
            summary = _summary(repo)
            if search and search not in repo.id.lower():
                continue
            if author and repo.id.split("/")[0] != author:
                continue
            tags = set(summary.get("tags") or [])
            if any(f not in tags and f != summary.get("library_name") for f in filters):
                continue
            items.append(summary)
        sort = self.param("sort")
        if sort in ("downloads", "likes", "lastModified", "createdAt"):
            items.sort(key=lambda item: item.get(sort) or 0, reverse=self.param("direction", "-1") == "-1")
        limit = self.param("limit")
        page_size = self.hub.page_size
        if limit and limit.isdigit() and int(limit) > 0:
            page_size = min(page_size, int(limit))
        return self.page(items, page_size)

    def page(self, items: list[Any], page_size: int) -> _Reply:
        start, end, headers = self.window(len(items), page_size)
        return _json_reply(items[start:end], headers=headers)

    def window(self, total: int, page_size: int) -> tuple[int, int, list[tuple[str, str]]]:
        """The [start, end) slice the `cursor` param asks for, and the Link header to the next page."""
        cursor = self.param("cursor") or "0"
        start = int(cursor) if cursor.isdigit() else 0
        end = min(start + page_size, total)
        headers = []
        if end < total:
            params = [(k, v) for k, v in self.params if k != "cursor"] + [("cursor", str(end))]
            # Absolute, built from Host: the client's shared session has no base URL to resolve against.
            url = f"{self.handler.host_url()}{self.raw_path}?{urlencode(params)}"
            headers.append(("Link", f'<{url}>; rel="next"'))
        return start, end, headers

    def tree(self, repo: RepoSpec, revision: str, path: str) -> _Reply:
        commit = self.commit(repo, revision)
        recursive = self.flag("recursive")
        expand = self.flag("expand")
        prefix = f"{path}/" if path else ""
        below = [p for p in commit.files if p.startswith(prefix)]
        if path and not below:
            raise _HubError(
                404, "EntryNotFound", f"{path} does not exist on {revision}", {"X-Repo-Commit": commit.sha}
            )
        dirs: set[str] = set()
        files: list[str] = []
        for p in below:
            rel = p[len(prefix) :]
            parts = rel.split("/")
            if recursive:
                files.append(p)
                dirs.update(prefix + "/".join(parts[:i]) for i in range(1, len(parts)))
            elif len(parts) == 1:
                files.append(p)
            else:
                dirs.add(prefix + parts[0])
        paths = sorted([*dirs, *files]) if recursive else sorted(dirs) + sorted(files)
        file_set = set(files)
        page_size = self.hub.expand_page_size if expand else self.hub.page_size
        start, end, headers = self.window(len(paths), page_size)
        # Entries only for this page: expansion walks history.
        return _json_reply(
            [self.entry(commit, p, p in file_set, expand) for p in paths[start:end]], headers=headers
        )

    def entry(self, commit: Commit, path: str, is_file: bool, expand: bool) -> dict[str, Any]:
        if not is_file:
            data: dict[str, Any] = {
                "type": "directory",
                "oid": self.hub._dir_oid(commit, path),
                "size": 0,
                "path": path,
            }
        else:
            entry = commit.files[path]
            data = {"type": "file", "oid": entry.oid(), "size": entry.size, "path": path}
            if entry.lfs:
                data["lfs"] = {"oid": entry.sha256(), "size": entry.size, "pointerSize": len(entry.pointer())}
            xet_hash = self.hub._advertised_hash(entry)
            if xet_hash is not None:
                data["xetHash"] = xet_hash
        if expand:
            last = _last_commit(commit, path, is_file)
            data["lastCommit"] = {"id": last.sha, "title": last.title, "date": last.date}
            if is_file:
                data["securityFileStatus"] = {
                    "status": "safe",
                    "avScan": {"virusFound": False, "virusNames": None},
                    "pickleImportScan": None,
                }
        return data

    def paths_info(self, repo: RepoSpec, revision: str) -> _Reply:
        commit = self.commit(repo, revision)
        form = parse_qsl(self.body.decode("utf-8", "replace"), keep_blank_values=True)
        expand = any(k == "expand" and v.lower() in ("1", "true") for k, v in form)
        entries = []
        for key, value in form:
            if key != "paths":
                continue
            path = value.strip("/")
            if path in commit.files:
                entries.append(self.entry(commit, path, True, expand))
            elif path and any(p.startswith(path + "/") for p in commit.files):
                entries.append(self.entry(commit, path, False, expand))
        return _json_reply(entries)

    def refs(self, repo: RepoSpec) -> _Reply:
        def ref(name: str, full: str, commit: Commit) -> dict[str, str]:
            return {"name": name, "ref": full, "targetCommit": commit.sha}

        data: dict[str, Any] = {
            "branches": [ref(n, f"refs/heads/{n}", c) for n, c in repo.branches.items()],
            "converts": [],
            "tags": [ref(n, f"refs/tags/{n}", c) for n, c in repo.tags.items()],
        }
        if self.flag("include_prs"):
            data["pullRequests"] = [ref(f"refs/pr/{n}", f"refs/pr/{n}", c) for n, c in repo.prs.items()]
        return _json_reply(data)

    def commits(self, repo: RepoSpec, revision: str) -> _Reply:
        commit = self.commit(repo, revision)
        items = [
            {
                "id": c.sha,
                "title": c.title,
                "message": c.message,
                "date": c.date,
                "authors": [{"user": c.author, "avatar": None}],
            }
            for c in commit.ancestors()
        ]
        return self.page(items, 50)

    def resolve(self, repo_type: str, repo_id: str, revision: str, path: str) -> _Reply:
        repo = self.repo(repo_type, repo_id)
        commit = self.commit(repo, revision)
        if repo.gated and not self.handler.authorized():
            raise _HubError(
                401,
                "GatedRepo",
                f"Access to model {repo.id} is restricted. You must have access to it and be authenticated to access it.",
            )
        entry = commit.files.get(path)
        if entry is None:
            raise _HubError(404, "EntryNotFound", "Entry not found", {"X-Repo-Commit": commit.sha})
        xet_hash = self.hub._advertised_hash(entry)
        if xet_hash is not None:
            return self.xet_redirect(repo, commit, entry, xet_hash)
        if entry.lfs and self.hub.lfs_redirect and not self.flag("cdn"):
            # The client follows a same-origin redirect itself, then needs X-Repo-Commit and ETag on
            # the final answer, which the content URL (same route, pinned to the commit) provides.
            parts = self.raw_path.split("/")
            parts[parts.index("resolve") + 1] = commit.sha
            return _Reply(
                302,
                [
                    ("Location", "/".join(parts) + "?cdn=1"),
                    ("X-Repo-Commit", commit.sha),
                    ("ETag", f'"{entry.oid()}"'),
                    ("X-Linked-Etag", f'"{entry.sha256()}"'),
                    ("X-Linked-Size", str(entry.size)),
                ],
            )
        size = entry.size
        etag = entry.etag()
        headers = [
            ("Content-Type", _content_type(path)),
            ("Accept-Ranges", "bytes"),
            ("ETag", f'"{etag}"'),
            ("X-Repo-Commit", commit.sha),
            ("Cache-Control", "public, max-age=3600"),
        ]
        if entry.lfs:
            headers += [("X-Linked-Etag", f'"{etag}"'), ("X-Linked-Size", str(size))]
        reply = _Reply(200, headers, content=entry.content, start=0, end=size)
        range_header = self.handler.headers.get("Range")
        if range_header and self.method == "GET":
            span = _parse_range(range_header, size)
            if span is None:
                raise _HubError(
                    416,
                    "RangeNotSatisfiable",
                    f"Range not satisfiable: {range_header}",
                    {"Content-Range": f"bytes */{size}"},
                )
            reply.status = 206
            reply.start, reply.end = span
            reply.headers.append(("Content-Range", f"bytes {span[0]}-{span[1] - 1}/{size}"))
        return reply

    def xet_redirect(self, repo: RepoSpec, commit: Commit, entry: FileEntry, xet_hash: str) -> _Reply:
        """A Xet file's `resolve`: a 302 to the CAS bridge, carrying what a Xet client needs instead."""
        token_url = f"{self.handler.host_url()}/api/{repo.type}s/{repo.id}/xet-read-token/{commit.sha}"
        return _Reply(
            302,
            [
                ("Location", f"{self.hub.cas_endpoint}/bridge/{xet_hash}"),
                ("X-Repo-Commit", commit.sha),
                ("ETag", f'"{entry.oid()}"'),
                ("X-Linked-Etag", f'"{entry.sha256()}"'),
                ("X-Linked-Size", str(entry.size)),
                ("X-Xet-Hash", xet_hash),
                ("Link", f'<{token_url}>; rel="xet-auth"'),
            ],
        )

    def xet_read_token(self, repo: RepoSpec, revision: str) -> _Reply:
        """A short-lived CAS token: headers for huggingface_hub, JSON for hf_xet's own refresh."""
        commit = self.commit(repo, revision)
        if repo.gated and not self.handler.authorized():
            raise _HubError(
                401,
                "GatedRepo",
                f"Access to model {repo.id} is restricted. You must have access to it and be authenticated to access it.",
            )
        token, expiry = self.hub._issue_xet_token()
        cas_url = self.hub.cas_endpoint
        return _json_reply(
            {"casUrl": cas_url, "accessToken": token, "exp": expiry},
            headers=[
                ("X-Xet-Cas-Url", cas_url),
                ("X-Xet-Access-Token", token),
                ("X-Xet-Token-Expiration", str(expiry)),
                ("X-Repo-Commit", commit.sha),
            ],
        )


class _CasRouter:
    """The Xet CAS: reconstructions (v2, v1), xorb byte ranges, the plain-bytes bridge, telemetry."""

    def __init__(self, handler: _Handler, method: str, raw_path: str, query: str) -> None:
        self.handler = handler
        self.hub = handler.hub
        self.method = method
        self.segments = [unquote(s) for s in raw_path.split("/")[1:]]

    def route(self) -> _Reply:
        segs = self.segments
        if segs == ["v1", "telemetry"] and self.method == "POST":
            return _json_reply({})
        if self.method not in ("GET", "HEAD"):
            raise _HubError(405, None, "Method not allowed")
        if len(segs) == 3 and segs[1] == "reconstructions" and segs[0] in ("v1", "v2"):
            return self.reconstruction(segs[0], segs[2])
        if len(segs) == 3 and segs[0] == "xorbs":
            return self.xorb(segs[1], segs[2])
        if len(segs) == 2 and segs[0] == "bridge":
            return self.bridge(segs[1])
        raise _HubError(404, None, "Not found")

    def range_header(self) -> str | None:
        return self.handler.headers.get("Range")

    def reconstruction(self, version: str, xet_hash: str) -> _Reply:
        if version == "v2" and not self.hub.xet_v2:
            raise _HubError(404, None, "Not found")
        if not self.hub._xet_token_valid(self.handler.headers.get("Authorization") or ""):
            raise _HubError(401, None, "Invalid or expired Xet token")
        store = self.hub.xet_store
        stored = store.files.get(xet_hash)
        if stored is None:
            raise _HubError(404, None, f"File {xet_hash} not found")
        start, end = 0, stored.size
        header = self.range_header()
        if header:
            match = re.fullmatch(r"\s*bytes\s*=\s*(\d+)\s*-\s*(\d+)\s*", header)
            if match is None:
                raise _HubError(400, None, f"Bad range {header!r}")
            start, end = int(match[1]), int(match[2]) + 1
        bad = self.hub._xet_bad.get(xet_hash)

        def xorb_url(xorb_hash: str) -> str:
            if bad == "xorb_404":
                xorb_hash = hashlib.sha256(f"missing:{xorb_hash}".encode()).hexdigest()
            return f"{self.hub.cas_endpoint}/xorbs/{xet_hash}/{xorb_hash}"

        data = store.reconstruction(
            xet_hash, start, end, xorb_url, v2=version == "v2", drop_tail=bad == "size_mismatch"
        )
        if data is None:
            raise _HubError(416, None, "Range not satisfiable", {"Content-Range": f"bytes */{stored.size}"})
        if bad == "xorb_404":
            # The terms name the missing xorbs too, so the client looks their fetch info up and finds it.
            for term in data["terms"]:
                term["hash"] = hashlib.sha256(f"missing:{term['hash']}".encode()).hexdigest()
            key = "xorbs" if "xorbs" in data else "fetch_info"
            data[key] = {hashlib.sha256(f"missing:{h}".encode()).hexdigest(): v for h, v in data[key].items()}
        return _json_reply(data)

    def xorb(self, file_hash: str, xorb_hash: str) -> _Reply:
        xorb = self.hub.xet_store.xorbs.get(xorb_hash)
        if xorb is None:
            raise _HubError(404, None, f"Xorb {xorb_hash} not found")
        span = _parse_range(self.range_header() or f"bytes=0-{xorb.size - 1}", xorb.size)
        if span is None:
            raise _HubError(416, None, "Range not satisfiable", {"Content-Range": f"bytes */{xorb.size}"})
        start, end = span
        bad = self.hub._xet_bad.get(file_hash)
        if bad == "truncated_xorb":
            # Well-formed HTTP (Content-Length matches) around chunk data that stops mid-chunk.
            end = max(start + 1, end - 1000)
        stream = xorb.iter_bytes(start, end, malformed=bad == "malformed_xorb")
        return _Reply(
            206,
            [
                ("Content-Type", "application/octet-stream"),
                ("Content-Range", f"bytes {start}-{end - 1}/{xorb.size}"),
            ],
            stream=stream,
            stream_length=end - start,
        )

    def bridge(self, xet_hash: str) -> _Reply:
        stored = self.hub.xet_store.files.get(xet_hash)
        if stored is None:
            raise _HubError(404, None, f"File {xet_hash} not found")
        content = stored.layout.content
        size = content.size
        reply = _Reply(
            200,
            [
                ("Content-Type", "application/octet-stream"),
                ("Accept-Ranges", "bytes"),
            ],
            content=content,
            start=0,
            end=size,
        )
        header = self.range_header()
        if header and self.method == "GET":
            span = _parse_range(header, size)
            if span is None:
                raise _HubError(416, None, "Range not satisfiable", {"Content-Range": f"bytes */{size}"})
            reply.status = 206
            reply.start, reply.end = span
            reply.headers.append(("Content-Range", f"bytes {span[0]}-{span[1] - 1}/{size}"))
        return reply


def _summary(repo: RepoSpec) -> dict[str, Any]:
    """The fields of a repo listing; without `sha`, so listing never forces hashing."""
    root = list(repo.head.ancestors())[-1]
    data: dict[str, Any] = {
        "_id": hashlib.sha1(f"{repo.type}/{repo.id}".encode()).hexdigest()[:24],
        "id": repo.id,
        "author": repo.id.split("/")[0],
        "private": repo.private,
        "gated": repo.gated,
        "disabled": False,
        "downloads": 0,
        "likes": 0,
        "tags": [],
        "createdAt": root.date,
        "lastModified": repo.head.date,
    }
    if repo.type == "model":
        data["modelId"] = repo.id
    if repo.type == "space":
        data["sdk"] = "gradio"
    data.update(repo.meta)
    return data


def _last_commit(commit: Commit, path: str, is_file: bool) -> Commit:
    def state(c: Commit) -> Any:
        if is_file:
            entry = c.files.get(path)
            return entry.oid() if entry else None
        prefix = path + "/"
        return tuple((p, e.oid()) for p, e in c.files.items() if p.startswith(prefix))

    current = state(commit)
    last = commit
    for ancestor in commit.ancestors():
        if state(ancestor) != current:
            break
        last = ancestor
    return last


def _next_date(date: str) -> str:
    """A day after `date` (the spec's format), so a pushed commit sorts after its parent."""
    parsed = dt.datetime.strptime(date, "%Y-%m-%dT%H:%M:%S.%fZ") + dt.timedelta(days=1)
    return parsed.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _content_type(path: str) -> str:
    if path.endswith(".json"):
        return "application/json"
    if path.endswith((".md", ".txt", ".gitattributes")):
        return "text/plain; charset=utf-8"
    return "application/octet-stream"


def _parse_range(header: str, size: int) -> tuple[int, int] | None:
    """[start, end) for `bytes=N-`, `bytes=N-M` or `bytes=-S`; None when unsatisfiable or malformed."""
    match = re.fullmatch(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*", header)
    if match is None or (not match[1] and not match[2]):
        return None
    if not match[1]:
        suffix = int(match[2])
        if suffix == 0 or size == 0:
            return None
        return max(0, size - suffix), size
    start = int(match[1])
    end = int(match[2]) + 1 if match[2] else size
    if start >= size or end <= start:
        return None
    return start, min(end, size)
