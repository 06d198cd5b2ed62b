"""Issue 13, headless half: `hftui download` says where files went (text and --json), local-dir copies
say what they copied, `hftui scan` keeps stdout for rows, stops quietly on a closed pipe and takes the
TUI's bare-word filters. Every command runs as a user runs it: a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from cachebuilders import add_incomplete, build_mixed_cache
from hubfixtures import MODEL, hub_server  # noqa: F401
from test_download_cli import hftui_env, run_download

from hftui.hub import HubServer


def _files_under(root: Path) -> dict[str, int]:
    """Payload files of a local dir (not the library's `.cache/huggingface` bookkeeping) -> size."""
    return {
        str(p.relative_to(root)): p.stat().st_size
        for p in root.rglob("*")
        if p.is_file() and ".cache" not in p.relative_to(root).parts
    }


def test_download_prints_snapshot_path_and_commit_in_text_and_json(hub: HubServer, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    commit = hub.commit(MODEL)
    snapshot = cache / "models--acme--bert-mini" / "snapshots" / commit
    text = run_download(hub, MODEL, "--cache-dir", str(cache), "--include", "*.json")
    assert text.returncode == 0, text.stderr
    assert f"\n  path: {snapshot}\n  commit: {commit}\n" in text.stdout
    assert (snapshot / "config.json").read_bytes() == hub.read_file(MODEL, "config.json")

    again = run_download(hub, MODEL, "--cache-dir", str(cache), "--include", "*.json", "--json")
    assert again.returncode == 0, again.stderr
    events = [json.loads(line) for line in again.stdout.splitlines()]
    (done,) = [e for e in events if e["event"] == "state" and e["state"] == "done"]
    assert done["path"] == str(snapshot) and done["commit"] == commit
    assert Path(done["path"]).is_dir()


def test_local_dir_copy_from_the_cache_says_what_it_copied(hub: HubServer, tmp_path: Path) -> None:
    """Issue 13: a local-dir job that copies from the Hub cache said `already cached` (0 files)."""
    cache = tmp_path / "cache"
    assert run_download(hub, MODEL, "--cache-dir", str(cache)).returncode == 0
    seen = len(hub.requests)
    target = tmp_path / "out"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "hftui",
            "--cache-dir",
            str(cache),
            "download",
            MODEL,
            "--local-dir",
            str(target),
        ],
        capture_output=True,
        text=True,
        timeout=90,
        env=hftui_env(hub),
    )
    assert result.returncode == 0, result.stderr
    landed = _files_under(target)
    expected = {path: info.size for path, info in hub.files(MODEL).items()}
    assert landed == expected  # every file of the repo, byte counts equal to the server's
    assert "already" not in result.stdout
    from hftui.core import vocab

    line = f"copied from the cache: {vocab.size(sum(landed.values()))}, {vocab.count(len(landed), 'file')}"
    assert line in result.stdout, result.stdout
    assert f"\n  path: {target}\n" in result.stdout
    # Copied, not downloaded: no file body was fetched from the Hub.
    assert not [r for r in hub.requests[seen:] if r.method == "GET" and "/resolve/" in r.path]

    json_run = subprocess.run(
        [
            sys.executable,
            "-m",
            "hftui",
            "--cache-dir",
            str(cache),
            "download",
            MODEL,
            "--local-dir",
            str(target),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=90,
        env=hftui_env(hub),
    )
    events = [json.loads(line) for line in json_run.stdout.splitlines()]
    (done,) = [e for e in events if e.get("state") == "done"]
    assert events[-1]["files_copied"] == 0 and events[-1]["event"] == "summary"
    # A second run finds every file in the dir already: nothing copied, and it says so.
    assert (done["files_copied"], done["bytes_copied"], done["path"]) == (0, 0, str(target))


def _scan_cache(tmp_path: Path) -> Path:
    cache = tmp_path / "hub"
    build_mixed_cache(cache)
    add_incomplete(cache, "org/gpt", "a" * 40, 321)
    (cache / "notarepo").mkdir()
    (cache / "version.txt").write_text("1\n")
    return cache


def _scan(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hftui", "scan", *args], capture_output=True, text=True, timeout=60
    )


def test_scan_warnings_go_to_stderr_and_counts_match_the_tui(tmp_path: Path) -> None:
    cache = _scan_cache(tmp_path)
    result = _scan("--cache-dir", str(cache))
    assert result.returncode == 0, result.stderr
    assert "warning" not in result.stdout.split("\n\n")[0]  # the table
    assert "hftui: warning: Repo path is not a valid HuggingFace cache directory" in result.stderr
    assert "hftui: warning: Repo path is not a directory" in result.stderr
    # `version.txt` and `notarepo` are entries, not repos: the same words as the Cache pane's header.
    assert "in 7 repos, 2 other entries, " in result.stdout
    rows = {line.split()[0]: line for line in result.stdout.splitlines()[2:] if line.strip()}
    assert rows["model/org/gpt"].endswith("complete, detached, temp files")
    assert rows["space/org/app"].endswith("no listing")
    assert rows["notarepo"].endswith("corrupt")
    for old in ("unknown", "+", " -\n"):
        assert old not in "\n".join(rows.values())


def test_scan_accepts_the_tuis_bare_words(tmp_path: Path) -> None:
    cache = _scan_cache(tmp_path)
    result = _scan("--cache-dir", str(cache), "-f", "org/", "--json")
    assert result.returncode == 0, result.stderr
    ids = sorted(f"{r['repo_type']}/{r['repo_id']}" for r in json.loads(result.stdout)["repos"])
    assert ids and all("org/" in i for i in ids)
    assert "model/solo" not in ids
    both = _scan("--cache-dir", str(cache), "-f", "org/ type=model", "--json")
    models = sorted(r["repo_id"] for r in json.loads(both.stdout)["repos"])
    assert models == ["org/empty", "org/gpt", "org/xet-a", "org/xet-b"]


def test_scan_into_a_closed_pipe_exits_quietly(tmp_path: Path) -> None:
    """`hftui scan | head -1`: the reader leaves after one line; no BrokenPipeError traceback."""
    cache = tmp_path / "hub"
    cache.mkdir()
    for i in range(1500):  # well over a pipe buffer (64 KiB) of rows
        (cache / f"not-a-repo-with-a-long-enough-name-{i:05d}").touch()
    err = tmp_path / "stderr"
    with err.open("w") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "hftui", "scan", "--cache-dir", str(cache)],
            stdout=subprocess.PIPE,
            stderr=stderr,
        )
        assert proc.stdout is not None
        first = proc.stdout.readline()
        proc.stdout.close()
        code = proc.wait(timeout=60)
    assert first.split()[:2] == [b"ID", b"SIZE"]
    assert code in (0, 141), code
    assert "Traceback" not in err.read_text() and "BrokenPipe" not in err.read_text()


def test_a_whole_filter_with_spaces_stays_one_filter_as_in_hf() -> None:
    from hftui.core.cache.filters import parse_cli_filter

    (one,) = parse_cli_filter("size= 1000")  # `hf cache ls -f "size= 1000"`
    assert (one.key, one.op, one.number) == ("size", "=", 1000)
    words = parse_cli_filter("org1/ size>1GB")  # the TUI's box: two terms, ANDed
    assert [(f.key, f.op) for f in words] == [("text", "~"), ("size", ">")]
