"""Declarative description of the repos a local Hub serves, and its validation.

A spec is a plain dict (or a JSON/TOML file holding one). `load_spec` turns it into a `HubSpec`: every
commit's file set resolved, every reference checked. Hashes are computed lazily, on first use, because
generated files can be hundreds of MB and most of a demo's repos are never touched.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from hftui.hub.content import Content, git_blob_sha1, lfs_pointer

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DEFAULT_TOKEN = "hf_local_test_token"
# Like a Xet-enabled repo on the real Hub: every (non-empty) LFS file is stored in Xet.
XET_MIN_SIZE = 1
REPO_TYPES = ("model", "dataset", "space", "kernel")
LFS_MIN_SIZE = 1024 * 1024
LFS_EXTENSIONS = frozenset(
    {
        ".safetensors",
        ".bin",
        ".gguf",
        ".onnx",
        ".parquet",
        ".h5",
        ".msgpack",
        ".ckpt",
        ".pt",
        ".pth",
        ".arrow",
    }
    | {".npz", ".npy", ".pkl", ".tflite", ".ot", ".zip", ".tar", ".gz", ".model", ".mlmodel"}
)
_BASE_DATE = dt.datetime(2024, 1, 1, 12, 0, 0, tzinfo=dt.timezone.utc)
_NAME_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_BAD_REF_CHARS = re.compile(r"[\s~^:?*\[\\]|\.\.|//|@\{")
_META_RESERVED = frozenset({"id", "sha", "siblings", "private", "gated", "lastModified"})


class SpecError(ValueError):
    """An invalid spec. The message starts with the path of the offending field."""


@dataclass(frozen=True)
class FileEntry:
    """One file of one commit."""

    path: str
    content: Content
    lfs: bool
    # None: by the spec's rule (LFS and at least `xet_min_size`); False keeps the file on plain LFS.
    xet: bool | None = None

    @property
    def size(self) -> int:
        return self.content.size

    def sha256(self) -> str:
        return self.content.sha256()

    def pointer(self) -> bytes:
        return lfs_pointer(self.sha256(), self.size)

    def oid(self) -> str:
        """The git blob id the tree lists: of the LFS pointer for LFS files, else of the content."""
        return git_blob_sha1(self.pointer()) if self.lfs else self.content.blob_sha1()

    def etag(self) -> str:
        """What the client names the blob after: SHA-256 for LFS files, the git blob id otherwise."""
        return self.sha256() if self.lfs else self.content.blob_sha1()


@dataclass(eq=False)
class Commit:
    files: dict[str, FileEntry]
    parent: Commit | None
    title: str
    message: str
    date: str
    author: str = "hftui"
    _sha: str | None = field(default=None, repr=False)

    @property
    def sha(self) -> str:
        # Derived from content (and the parent), so a changed spec never reuses a commit id that
        # clients have already cached a tree listing for.
        if self._sha is None:
            digest = hashlib.sha1()
            digest.update(f"parent {self.parent.sha if self.parent else ''}\n".encode())
            for path in sorted(self.files):
                digest.update(f"{path}\0{self.files[path].oid()}\n".encode())
            self._sha = digest.hexdigest()
        return self._sha

    def ancestors(self) -> Iterator[Commit]:
        commit: Commit | None = self
        while commit is not None:
            yield commit
            commit = commit.parent


@dataclass
class RepoSpec:
    id: str
    type: str
    gated: bool | str
    private: bool
    default_branch: str
    meta: dict[str, Any]
    branches: dict[str, Commit]
    history: dict[str, list[Commit]]
    tags: dict[str, Commit]
    prs: dict[str, Commit]

    def commits(self) -> Iterator[Commit]:
        seen: set[int] = set()
        roots = [*self.branches.values(), *self.prs.values(), *self.tags.values()]
        for commits in self.history.values():
            roots.extend(commits)
        for root in roots:
            for commit in root.ancestors():
                if id(commit) in seen:
                    break
                seen.add(id(commit))
                yield commit

    def resolve(self, revision: str) -> Commit | None:
        """A branch, tag, `refs/heads/x`, `refs/tags/x`, `refs/pr/N`, full SHA or unique short SHA (>= 7 hex)."""
        if revision in self.branches:
            return self.branches[revision]
        if revision in self.tags:
            return self.tags[revision]
        for prefix, table in (
            ("refs/heads/", self.branches),
            ("refs/tags/", self.tags),
            ("refs/pr/", self.prs),
        ):
            if revision.startswith(prefix) and revision[len(prefix) :] in table:
                return table[revision[len(prefix) :]]
        if re.fullmatch(r"[0-9a-f]{7,40}", revision):
            found = {c.sha: c for c in self.commits() if c.sha.startswith(revision)}
            if len(found) == 1:
                return next(iter(found.values()))
        return None

    @property
    def head(self) -> Commit:
        return self.branches[self.default_branch]


@dataclass
class HubSpec:
    token: str
    repos: dict[tuple[str, str], RepoSpec]
    # Serve LFS files of at least `xet_min_size` bytes over Xet; `xet=False` serves everything plainly.
    xet: bool = True
    xet_min_size: int = XET_MIN_SIZE

    def is_xet(self, entry: FileEntry) -> bool:
        """Whether a Xet-enabled Hub stores this file in Xet (`self.xet` is the server's default switch)."""
        if not entry.lfs or entry.xet is False or entry.size == 0:
            return False
        return entry.xet is True or entry.size >= self.xet_min_size

    def repo(self, repo_id: str, repo_type: str = "model") -> RepoSpec | None:
        return self.repos.get((repo_type, repo_id))


def load_spec(source: Mapping[str, Any] | str | Path | HubSpec) -> HubSpec:
    """Parse and validate a spec dict, or a `.json` / `.toml` file holding one."""
    if isinstance(source, HubSpec):
        return source
    if isinstance(source, (str, Path)):
        source = _read_file(Path(source))
    if not isinstance(source, Mapping):
        raise SpecError(f"spec: must be a mapping, got {type(source).__name__}")
    return _Parser().parse(source)


def make_file(path: str, value: Any) -> FileEntry:
    """One file from the spec's file syntax (a string, or `{"text"|"size", "seed", "lfs"}`), checked the
    same way; for changing a running server's repos (`HubServer.push`)."""
    where = f"files[{path!r}]"
    return _RepoParser._file(_RepoParser._path(path, where), value, where)


def check_ref_name(name: Any, where: str = "ref") -> str:
    return _check_ref_name(name, where)


def _read_file(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(f"{path}: cannot read spec: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise SpecError(f"{path}: spec is not UTF-8 text") from None
    if path.suffix.lower() == ".toml":
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise SpecError(f"{path}: invalid TOML: {exc}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise SpecError(f"{path}: invalid JSON: line {exc.lineno} column {exc.colno}: {exc.msg}") from None


def _key(name: str) -> str:
    return f".{name}" if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) else f"[{name!r}]"


def _format_date(depth: int) -> str:
    return (_BASE_DATE + dt.timedelta(days=depth)).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _check_keys(value: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise SpecError(
            f"{where}{_key(str(unknown[0]))}: unknown field (allowed: {', '.join(sorted(allowed))})"
        )


def _is_lfs_by_default(path: str, size: int) -> bool:
    return size >= LFS_MIN_SIZE or PurePosixPath(path).suffix.lower() in LFS_EXTENSIONS


def _check_ref_name(name: Any, where: str) -> str:
    if not isinstance(name, str) or not name:
        raise SpecError(f"{where}: must be a non-empty string")
    if _BAD_REF_CHARS.search(name) or name.startswith("/") or name.endswith("/") or name.startswith("refs/"):
        raise SpecError(f"{where}: {name!r} is not a valid ref name")
    return name


@dataclass
class _RawCommit:
    spec: Mapping[str, Any]
    where: str


class _Parser:
    def parse(self, spec: Mapping[str, Any]) -> HubSpec:
        _check_keys(spec, {"token", "repos", "xet", "xet_min_size"}, "spec")
        token = spec.get("token", DEFAULT_TOKEN)
        if not isinstance(token, str) or not token:
            raise SpecError("token: must be a non-empty string")
        xet = spec.get("xet", True)
        if not isinstance(xet, bool):
            raise SpecError("xet: must be true or false")
        xet_min_size = spec.get("xet_min_size", XET_MIN_SIZE)
        if type(xet_min_size) is not int or xet_min_size < 0:
            raise SpecError("xet_min_size: must be a non-negative integer")
        repos_raw = spec.get("repos")
        if not isinstance(repos_raw, list):
            raise SpecError("repos: must be a list")
        repos: dict[tuple[str, str], RepoSpec] = {}
        for index, raw in enumerate(repos_raw):
            repo = _RepoParser(raw, f"repos[{index}]").parse()
            if (repo.type, repo.id) in repos:
                raise SpecError(f"repos[{index}].id: duplicate {repo.type} repo {repo.id!r}")
            repos[(repo.type, repo.id)] = repo
        return HubSpec(token=token, repos=repos, xet=xet, xet_min_size=xet_min_size)


class _RepoParser:
    def __init__(self, raw: Any, where: str) -> None:
        if not isinstance(raw, Mapping):
            raise SpecError(f"{where}: must be a mapping")
        self.raw = raw
        self.where = where
        self.raw_commits: dict[tuple[str, ...], _RawCommit] = {}
        self.resolved: dict[tuple[str, ...], Commit] = {}
        self.visiting: set[tuple[str, ...]] = set()
        self.depth: dict[int, int] = {}

    def parse(self) -> RepoSpec:
        raw, where = self.raw, self.where
        _check_keys(
            raw,
            {
                "id",
                "type",
                "gated",
                "private",
                "default_branch",
                "meta",
                "branches",
                "history",
                "tags",
                "prs",
            },
            where,
        )
        repo_id = self._repo_id(raw.get("id"), f"{where}.id")
        repo_type = raw.get("type", "model")
        if repo_type not in REPO_TYPES:
            raise SpecError(f"{where}.type: must be one of {', '.join(REPO_TYPES)} (got {repo_type!r})")
        gated = raw.get("gated", False)
        if gated not in (True, False, "auto", "manual"):
            raise SpecError(f"{where}.gated: must be true, false, 'auto' or 'manual'")
        private = raw.get("private", False)
        if not isinstance(private, bool):
            raise SpecError(f"{where}.private: must be true or false")
        meta = raw.get("meta", {})
        self._check_meta(meta, f"{where}.meta")

        branches_raw = raw.get("branches")
        if not isinstance(branches_raw, Mapping) or not branches_raw:
            raise SpecError(f"{where}.branches: must be a non-empty mapping of branch name to commit")
        for name, body in branches_raw.items():
            bwhere = f"{where}.branches{_key(str(name))}"
            _check_ref_name(name, bwhere)
            self.raw_commits[("head", name)] = _RawCommit(self._commit_mapping(body, bwhere), bwhere)
        default_branch = raw.get("default_branch", "main")
        if default_branch not in branches_raw:
            raise SpecError(f"{where}.default_branch: no branch named {default_branch!r}")

        history_raw = raw.get("history", {})
        if not isinstance(history_raw, Mapping):
            raise SpecError(f"{where}.history: must be a mapping of branch name to a list of commits")
        for name, commits in history_raw.items():
            hwhere = f"{where}.history{_key(str(name))}"
            if name not in branches_raw:
                raise SpecError(f"{hwhere}: no branch named {name!r}")
            if not isinstance(commits, list):
                raise SpecError(f"{hwhere}: must be a list of commits, oldest first")
            for i, body in enumerate(commits):
                self.raw_commits[("hist", name, str(i))] = _RawCommit(
                    self._commit_mapping(body, f"{hwhere}[{i}]"), f"{hwhere}[{i}]"
                )
        self.history_len = {name: len(commits) for name, commits in history_raw.items()}

        prs_raw = raw.get("prs", {})
        if not isinstance(prs_raw, Mapping):
            raise SpecError(f"{where}.prs: must be a mapping of PR number to commit")
        for num, body in prs_raw.items():
            pwhere = f"{where}.prs[{str(num)!r}]"
            if not re.fullmatch(r"[1-9][0-9]*", str(num)):
                raise SpecError(f"{pwhere}: PR number must be a positive integer")
            self.raw_commits[("pr", str(num))] = _RawCommit(self._commit_mapping(body, pwhere), pwhere)

        for node in list(self.raw_commits):
            self._resolve(node)

        tags_raw = raw.get("tags", {})
        if not isinstance(tags_raw, Mapping):
            raise SpecError(
                f"{where}.tags: must be a mapping of tag name to a ref (branch, branch~N, refs/pr/N)"
            )
        tags: dict[str, Commit] = {}
        for name, target in tags_raw.items():
            twhere = f"{where}.tags{_key(str(name))}"
            _check_ref_name(name, twhere)
            if name in branches_raw:
                raise SpecError(f"{twhere}: a branch has the same name")
            tags[name] = self._resolve(self._ref_node(target, twhere))

        return RepoSpec(
            id=repo_id,
            type=repo_type,
            gated="auto" if gated is True else gated,
            private=private,
            default_branch=default_branch,
            meta=dict(meta),
            branches={name: self.resolved[("head", name)] for name in branches_raw},
            history={
                name: [self.resolved[("hist", name, str(i))] for i in range(n)]
                for name, n in self.history_len.items()
            },
            tags=tags,
            prs={num: self.resolved[("pr", num)] for num in (str(n) for n in prs_raw)},
        )

    @staticmethod
    def _repo_id(value: Any, where: str) -> str:
        if not isinstance(value, str):
            raise SpecError(f"{where}: must be a string 'org/name'")
        parts = value.split("/")
        if len(parts) != 2 or not all(_NAME_PART.match(p) for p in parts):
            raise SpecError(f"{where}: {value!r} must look like 'org/name' (letters, digits, '-', '_', '.')")
        if "--" in value or ".." in value or value.endswith("."):
            raise SpecError(f"{where}: {value!r} must not contain '--' or '..'")
        return value

    @staticmethod
    def _check_meta(meta: Any, where: str) -> None:
        if not isinstance(meta, Mapping):
            raise SpecError(f"{where}: must be a mapping")
        for key, value in meta.items():
            kwhere = f"{where}{_key(str(key))}"
            if key in _META_RESERVED:
                raise SpecError(f"{kwhere}: is derived by the server; set it elsewhere or drop it")
            if key in ("downloads", "likes") and (type(value) is not int or value < 0):
                raise SpecError(f"{kwhere}: must be a non-negative integer")
            if key == "tags" and (not isinstance(value, list) or not all(isinstance(t, str) for t in value)):
                raise SpecError(f"{kwhere}: must be a list of strings")
            if key in ("pipeline_tag", "library_name", "author", "sdk") and not isinstance(value, str):
                raise SpecError(f"{kwhere}: must be a string")
            if key == "cardData" and not isinstance(value, Mapping):
                raise SpecError(f"{kwhere}: must be a mapping")

    @staticmethod
    def _commit_mapping(body: Any, where: str) -> Mapping[str, Any]:
        if not isinstance(body, Mapping):
            raise SpecError(f"{where}: must be a mapping with 'files' and/or 'from'")
        _check_keys(body, {"files", "from", "remove", "title", "message", "date", "author"}, where)
        for key in ("title", "message", "author", "from"):
            if key in body and not isinstance(body[key], str):
                raise SpecError(f"{where}.{key}: must be a string")
        if "date" in body:
            try:
                dt.datetime.strptime(body["date"], "%Y-%m-%dT%H:%M:%S.%fZ")
            except (TypeError, ValueError):
                raise SpecError(f"{where}.date: must look like 2024-05-01T12:00:00.000Z") from None
        return body

    def _ref_node(self, expr: Any, where: str) -> tuple[str, ...]:
        """Map `branch`, `branch~N` or `refs/pr/N` to a commit node."""
        if not isinstance(expr, str) or not expr:
            raise SpecError(f"{where}: must be a ref: a branch, 'branch~N' or 'refs/pr/N'")
        if expr.startswith("refs/pr/"):
            num = expr[len("refs/pr/") :]
            if ("pr", num) not in self.raw_commits:
                raise SpecError(f"{where}: no pull request {expr!r}")
            return ("pr", num)
        name, _, back = expr.partition("~")
        if ("head", name) not in self.raw_commits:
            raise SpecError(f"{where}: no branch named {name!r}")
        if not back:
            return ("head", name)
        if not back.isdigit():
            raise SpecError(f"{where}: {expr!r}: '~' must be followed by a number")
        n = int(back)
        available = self.history_len.get(name, 0)
        if n == 0:
            return ("head", name)
        if n > available:
            raise SpecError(f"{where}: {expr!r} goes back {n} commits but history.{name} has {available}")
        return ("hist", name, str(available - n))

    def _parent_node(self, node: tuple[str, ...], raw: _RawCommit) -> tuple[str, ...] | None:
        if node[0] == "hist" and int(node[2]) > 0:
            return ("hist", node[1], str(int(node[2]) - 1))
        if node[0] == "head" and self.history_len.get(node[1], 0) > 0:
            return ("hist", node[1], str(self.history_len[node[1]] - 1))
        if "from" in raw.spec:
            return self._ref_node(raw.spec["from"], f"{raw.where}.from")
        return None

    def _resolve(self, node: tuple[str, ...]) -> Commit:
        if node in self.resolved:
            return self.resolved[node]
        raw = self.raw_commits[node]
        if node in self.visiting:
            raise SpecError(f"{raw.where}.from: circular reference")
        self.visiting.add(node)
        parent_node = self._parent_node(node, raw)
        parent = self._resolve(parent_node) if parent_node else None
        files: dict[str, FileEntry] = {}
        if "from" in raw.spec:
            files.update(self._resolve(self._ref_node(raw.spec["from"], f"{raw.where}.from")).files)
        files_raw = raw.spec.get("files", {})
        if not isinstance(files_raw, Mapping):
            raise SpecError(f"{raw.where}.files: must be a mapping of path to content")
        for path, value in files_raw.items():
            fwhere = f"{raw.where}.files[{path!r}]"
            files[self._path(path, fwhere)] = self._file(path, value, fwhere)
        removed = raw.spec.get("remove", [])
        if not isinstance(removed, list):
            raise SpecError(f"{raw.where}.remove: must be a list of paths")
        for i, path in enumerate(removed):
            if path not in files:
                raise SpecError(f"{raw.where}.remove[{i}]: {path!r} is not in the commit's files")
            del files[path]
        self._check_no_file_dir_clash(files, raw.where)
        depth = self.depth[id(parent)] + 1 if parent else 0
        default_title = "Initial commit" if parent is None else f"Update {len(files_raw)} file(s)"
        title = raw.spec.get("title", default_title)
        commit = Commit(
            files=dict(sorted(files.items())),
            parent=parent,
            title=title,
            message=raw.spec.get("message", title),
            date=raw.spec.get("date", _format_date(depth)),
            author=raw.spec.get("author", "hftui"),
        )
        self.depth[id(commit)] = depth
        self.visiting.discard(node)
        self.resolved[node] = commit
        return commit

    @staticmethod
    def _path(path: Any, where: str) -> str:
        if not isinstance(path, str) or not path:
            raise SpecError(f"{where}: file path must be a non-empty string")
        parts = path.split("/")
        if path.startswith("/") or "\\" in path or any(p in ("", ".", "..") for p in parts):
            raise SpecError(f"{where}: {path!r} must be a relative path without '.', '..' or empty parts")
        return path

    @staticmethod
    def _check_no_file_dir_clash(files: Mapping[str, FileEntry], where: str) -> None:
        dirs = {str(parent) for path in files for parent in PurePosixPath(path).parents if str(parent) != "."}
        clash = sorted(dirs & set(files))
        if clash:
            raise SpecError(f"{where}.files[{clash[0]!r}]: is both a file and a folder")

    @staticmethod
    def _file(path: str, value: Any, where: str) -> FileEntry:
        lfs: Any = None
        xet: Any = None
        if isinstance(value, str):
            content = Content.literal(value.encode())
        elif isinstance(value, Mapping):
            _check_keys(value, {"text", "size", "seed", "lfs", "xet"}, where)
            lfs = value.get("lfs")
            if lfs is not None and not isinstance(lfs, bool):
                raise SpecError(f"{where}.lfs: must be true or false")
            xet = value.get("xet")
            if xet is not None and not isinstance(xet, bool):
                raise SpecError(f"{where}.xet: must be true or false")
            if xet is True and lfs is False:
                raise SpecError(f"{where}.xet: only LFS files can be stored in Xet (this one has lfs: false)")
            if "text" in value:
                if "size" in value or "seed" in value:
                    raise SpecError(f"{where}: give either 'text' or 'size' (+ 'seed'), not both")
                if not isinstance(value["text"], str):
                    raise SpecError(f"{where}.text: must be a string")
                content = Content.literal(value["text"].encode())
            elif "size" in value:
                size = value["size"]
                if type(size) is not int or size < 0:
                    raise SpecError(f"{where}.size: must be a non-negative integer")
                seed = value.get("seed", path)
                if not isinstance(seed, str):
                    raise SpecError(f"{where}.seed: must be a string")
                content = Content.generated(size, seed)
            else:
                raise SpecError(f"{where}: needs 'text' or 'size'")
        else:
            raise SpecError(f"{where}: must be a string or a mapping with 'text' or 'size'")
        is_lfs = _is_lfs_by_default(path, content.size) if lfs is None else lfs
        if xet is True and not is_lfs:
            raise SpecError(f"{where}.xet: only LFS files can be stored in Xet (this one is stored in git)")
        return FileEntry(path=path, content=content, lfs=is_lfs, xet=xet)
