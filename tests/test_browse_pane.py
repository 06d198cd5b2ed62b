"""The Browse pane, driven with Pilot against the local Hub server.

The end-to-end promise: the files `snapshot_download` writes for the pane's patterns are exactly the files the
preview showed, with the same byte counts.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from conftest import record_notifications
from hubfixtures import DATASET, GATED, MODEL, SPACE, download_into, hub, small_spec  # noqa: F401
from huggingface_hub import snapshot_download
from textual.pilot import Pilot
from textual.widgets import Input, OptionList, Select

from hftui.core.downloads.models import DownloadRequest
from hftui.core.hub.hfcmd import hf_download_argv, hf_download_env
from hftui.hub import Fault, HubServer
from hftui.settings import Settings
from hftui.tui.app import HfTuiApp, make_app
from hftui.tui.panes.browse import BrowsePane
from hftui.tui.screens.revision_picker import ChoicePicker, RevisionPicker
from hftui.tui.widgets.key_bar import KeyBar
from hftui.tui.widgets.repo_tree import MoreNode, RepoTree

GGUF = "acme/tiny-gguf"


def gguf_spec() -> dict[str, Any]:
    spec = small_spec()
    spec["repos"].append(
        {
            "id": GGUF,
            "type": "model",
            "branches": {
                "main": {
                    "files": {
                        "README.md": "# gguf\n",
                        "tiny-Q4_K_M.gguf": {"size": 40_000},
                        "tiny-q8_0.gguf": {"size": 80_000},
                        "BF16/tiny-BF16-00001-of-00002.gguf": {"size": 90_000},
                        "BF16/tiny-BF16-00002-of-00002.gguf": {"size": 70_000},
                    }
                }
            },
        }
    )
    return spec


@pytest.fixture(scope="module")
def ghub() -> Any:
    with HubServer(gguf_spec()) as server:
        yield server


@asynccontextmanager
async def browse(
    tmp_path: Path, endpoint: str
) -> AsyncIterator[tuple[HfTuiApp, Pilot[Any], BrowsePane, list[Any]]]:
    app = make_app(Settings(cache_dir=str(tmp_path / "cache"), endpoint=endpoint))
    queued: list[Any] = []

    def enqueue(request: object) -> str:
        queued.append(request)
        return "queued (test)"

    app.enqueue_download = enqueue  # type: ignore[method-assign]
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("2")
        await pilot.pause()
        yield app, pilot, app.browse_pane, queued


async def settle(app: HfTuiApp, pilot: Pilot[Any]) -> None:
    """Until no worker runs: each worker's message may start another (listing -> preview)."""
    for _ in range(10):
        await app.workers.wait_for_complete()
        await pilot.pause()
        if not any(w.is_running for w in app.workers):
            return


async def open_typed(
    app: HfTuiApp, pilot: Pilot[Any], pane: BrowsePane, text: str, *, type_it: bool = False
) -> None:
    """Put `text` in the repo input (typed key by key if `type_it`) and press enter there."""
    pane.repo_input.focus()
    if type_it:
        pane.repo_input.value = ""
        await pilot.press(*text)
    else:
        pane.repo_input.value = text
    await pilot.press("enter")
    await settle(app, pilot)


async def set_globs(
    app: HfTuiApp, pilot: Pilot[Any], pane: BrowsePane, include: str, exclude: str = ""
) -> None:
    app.query_one("#include-input", Input).value = include
    app.query_one("#exclude-input", Input).value = exclude
    await pilot.pause(0.35)  # the debounce
    await settle(app, pilot)


def snapshot_files(root: Path) -> dict[str, int]:
    return {p.relative_to(root).as_posix(): p.stat().st_size for p in root.rglob("*") if p.is_file()}


async def test_every_input_form_opens_the_repo(tmp_path: Path, hub: HubServer) -> None:  # noqa: F811
    forms = [
        ("acme/bert-mini", MODEL, "model", "main", None),
        ("models/acme/bert-mini", MODEL, "model", "main", None),
        ("datasets/acme/tiny-corpus", DATASET, "dataset", "main", None),
        ("spaces/acme/demo-space", SPACE, "space", "main", None),
        ("https://huggingface.co/acme/bert-mini/tree/v1.0", MODEL, "model", "v1.0", None),
        (f"{hub.endpoint}/datasets/acme/tiny-corpus/tree/main/data", DATASET, "dataset", "main", ("data/*",)),
        (
            f"{hub.endpoint}/acme/bert-mini/blob/main/onnx/model.onnx",
            MODEL,
            "model",
            "main",
            ("onnx/model.onnx",),
        ),
        ("models/acme/bert-mini@refs/pr/1", MODEL, "model", "refs/pr/1", None),
        (
            "https://huggingface.co/acme/bert-mini/tree/feature%2Flong-context",
            MODEL,
            "model",
            "feature/long-context",
            None,
        ),
    ]
    async with browse(tmp_path, hub.endpoint) as (app, pilot, pane, _):
        for i, (text, repo_id, repo_type, revision, include) in enumerate(forms):
            await open_typed(app, pilot, pane, text, type_it=i == 0)
            assert pane.listing is not None, (text, pane.message_text)
            info = pane.listing.info
            assert (info.repo_id, info.repo_type, info.revision) == (repo_id, repo_type, revision), text
            assert info.commit == hub.commit(repo_id, revision, repo_type)
            assert {f.path for f in pane.listing.files} == set(hub.files(repo_id, revision, repo_type))
            if include:
                assert pane.selection.include == include, text
                assert app.query_one("#include-input", Input).value == include[0]
            assert pane.message_severity != "error", pane.message_text


async def test_each_revision_kind_and_the_picker(tmp_path: Path, hub: HubServer) -> None:  # noqa: F811
    async with browse(tmp_path, hub.endpoint) as (app, pilot, pane, _):
        await open_typed(app, pilot, pane, MODEL)
        sha = hub.commit(MODEL, "v0.9")
        for revision in ("feature/long-context", "v1.0", "refs/pr/1", sha, "main"):
            pane.revision_input.value = revision
            pane.revision_input.focus()
            await pilot.press("enter")
            await settle(app, pilot)
            assert pane.listing is not None and pane.listing.info.commit == hub.commit(MODEL, revision), (
                revision
            )
            assert {f.path for f in pane.listing.files} == set(hub.files(MODEL, revision))
        # The picker lists branches, tags and PRs from the refs; choose the PR.
        pane.action_focus_tree()
        await pilot.press("v")
        await pilot.pause()
        picker = app.screen
        assert isinstance(picker, RevisionPicker)
        options = picker.query_one(OptionList)
        labels = [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]
        assert any("feature/long-context" in label for label in labels)
        assert any("v0.9" in label for label in labels) and any("refs/pr/1" in label for label in labels)
        await pilot.press(*"refs/pr", "enter")
        await settle(app, pilot)
        assert pane.listing is not None and pane.listing.info.revision == "refs/pr/1"
        # A short commit hash of a ref is accepted by the picker.
        await pilot.press("v")
        await pilot.pause()
        await pilot.press(*sha[:8], "enter")
        await settle(app, pilot)
        assert pane.listing is not None and pane.listing.info.commit == sha
        # An unknown revision typed in the picker is refused inline; escape closes.
        await pilot.press("v")
        await pilot.pause()
        await pilot.press(*"nope-nope", "enter")
        await pilot.pause()
        assert isinstance(app.screen, RevisionPicker)
        assert "not a branch" in str(app.screen.query_one("#revision-message").render())
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, RevisionPicker)


async def test_search_then_open(tmp_path: Path, hub: HubServer) -> None:  # noqa: F811
    async with browse(tmp_path, hub.endpoint) as (app, pilot, pane, _):
        await pilot.press("ctrl+f", *"bert", "enter")
        await settle(app, pilot)
        results = app.query_one("#search-results", OptionList)
        assert results.option_count == 1 and app.focused is results
        await pilot.press("enter")
        await settle(app, pilot)
        assert pane.listing is not None and pane.listing.info.repo_id == MODEL
        # Nothing found: said plainly.
        await pilot.press("slash")
        app.query_one("#search-input", Input).value = "zzz-nothing"
        await pilot.press("enter")
        await settle(app, pilot)
        assert "No model repo matches" in pane.message_text


GLOB_CASES = [
    ("", ""),
    ("*.json", ""),
    ("onnx/*", "*quantized*"),
    ("", "*.onnx, README.md"),
    ("model.safetensors tok*", ""),
]


async def test_download_writes_exactly_the_preview(tmp_path: Path, hub: HubServer) -> None:  # noqa: F811
    previews = []
    async with browse(tmp_path, hub.endpoint) as (app, pilot, pane, _):
        await open_typed(app, pilot, pane, MODEL)
        for include, exclude in GLOB_CASES:
            await set_globs(app, pilot, pane, include, exclude)
            p = pane.last_preview
            assert p is not None and p.selection == pane.selection
            assert f"{p.count:,} of" in str(app.query_one("#preview-line").render())
            assert pane.repo_tree.matched == p.matched_paths  # the tree highlights exactly the preview
            previews.append((pane.selection, p))
    for i, (selection, p) in enumerate(previews):
        folder = snapshot_download(
            MODEL, allow_patterns=selection.allow_patterns, ignore_patterns=selection.ignore_patterns,
            endpoint=hub.endpoint, cache_dir=str(tmp_path / f"dl{i}"), token=False,
        )  # fmt: skip
        written = snapshot_files(Path(folder))
        assert written == {f.path: f.size for f in p.matched}, GLOB_CASES[i]
        assert sum(written.values()) == p.bytes == p.download_bytes


async def test_presets_and_quant_shorthand(tmp_path: Path, ghub: HubServer) -> None:
    async with browse(tmp_path, ghub.endpoint) as (app, pilot, pane, _):
        await open_typed(app, pilot, pane, MODEL)
        await pilot.press("s")
        await settle(app, pilot)
        assert pane.selection.exclude == ("*.onnx",)
        assert pane.last_preview is not None and "onnx/model.onnx" not in pane.last_preview.matched_paths
        await pilot.press("c")
        await settle(app, pilot)
        assert pane.last_preview is not None and pane.last_preview.matched_paths == {
            "config.json",
            "tokenizer.json",
        }
        # The presets menu: this folder only (cursor on the onnx folder).
        pane.action_focus_tree()
        tree = pane.repo_tree
        tree.move_cursor(next(n for n in tree.root.children if getattr(n.data, "path", "") == "onnx"))
        await pilot.press("p")
        await pilot.pause()
        assert isinstance(app.screen, ChoicePicker)
        await pilot.press("down", "down", "down", "enter")
        await settle(app, pilot)
        assert pane.selection.include == ("onnx/*",)
        await pilot.press("a")
        await settle(app, pilot)
        assert pane.selection.include == () and pane.selection.exclude == ()

        # org/name:QUANT, case-insensitive; then the GGUF picker lists every quantization with sizes.
        await open_typed(app, pilot, pane, f"{GGUF}:q4_k_m")
        p = pane.last_preview
        assert p is not None and p.matched_paths == {"tiny-Q4_K_M.gguf"}
        await pilot.press("Q")
        await pilot.pause()
        picker = app.screen
        assert isinstance(picker, ChoicePicker)
        options = picker.query_one(OptionList)
        labels = [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]
        assert any("BF16" in label and "2 files" in label and "160.0 kB" in label for label in labels)
        bf16 = next(i for i, label in enumerate(labels) if "BF16" in label)
        options.highlighted = bf16
        await pilot.press("enter")
        await settle(app, pilot)
        p = pane.last_preview
        assert p is not None and p.matched_paths == {
            "BF16/tiny-BF16-00001-of-00002.gguf",
            "BF16/tiny-BF16-00002-of-00002.gguf",
        }
        include, exclude = pane.selection.allow_patterns, pane.selection.ignore_patterns
        await open_typed(app, pilot, pane, f"{GGUF}:Q2_K")
        assert "No GGUF files for Q2_K" in pane.message_text and "Q4_K_M" in pane.message_text
    folder = snapshot_download(
        GGUF, allow_patterns=include, ignore_patterns=exclude, endpoint=ghub.endpoint,
        cache_dir=str(tmp_path / "dl"), token=False,
    )  # fmt: skip
    assert set(snapshot_files(Path(folder))) == p.matched_paths


async def test_space_toggles_files_and_folders(tmp_path: Path, hub: HubServer) -> None:  # noqa: F811
    async with browse(tmp_path, hub.endpoint) as (app, pilot, pane, _):
        await open_typed(app, pilot, pane, MODEL)
        tree = pane.repo_tree
        tree.focus()
        onnx = next(n for n in tree.root.children if getattr(n.data, "path", "") == "onnx")
        tree.move_cursor(onnx)
        await pilot.press("space")
        await settle(app, pilot)
        assert app.query_one("#exclude-input", Input).value == "onnx/*"
        assert pane.last_preview is not None and not any(
            p.startswith("onnx/") for p in pane.last_preview.matched_paths
        )
        await pilot.press("space")
        await settle(app, pilot)
        assert app.query_one("#exclude-input", Input).value == ""
        # "only this" on a file, then space on another file adds it to the includes.
        config = next(n for n in tree.root.children if getattr(n.data, "path", "") == "config.json")
        tree.move_cursor(config)
        await pilot.press("t")
        await settle(app, pilot)
        readme = next(n for n in tree.root.children if getattr(n.data, "path", "") == "README.md")
        tree.move_cursor(readme)
        await pilot.press("space")
        await settle(app, pilot)
        assert app.query_one("#include-input", Input).value == "config.json, README.md"
        assert pane.last_preview is not None and pane.last_preview.matched_paths == {
            "config.json",
            "README.md",
        }


async def test_enter_queues_and_y_copies(tmp_path: Path, hub: HubServer) -> None:  # noqa: F811
    local_dir = tmp_path / "out dir"
    async with browse(tmp_path, hub.endpoint) as (app, pilot, pane, queued):
        await open_typed(app, pilot, pane, "acme/bert-mini@v1.0")
        await set_globs(app, pilot, pane, "*.json", "tokenizer.json")
        pane.repo_tree.focus()
        await pilot.press("enter")
        await pilot.pause()
        assert queued == [
            DownloadRequest(MODEL, "model", "v1.0", ("*.json",), ("tokenizer.json",), None, None, False)
        ]
        assert "queued (test)" in pane.message_text
        # --local-dir and force-download.
        app.query_one("#local-dir-input", Input).value = str(local_dir)
        pane.repo_tree.focus()
        await pilot.press("F")
        await settle(app, pilot)
        await pilot.press("enter")
        await pilot.pause()
        assert queued[-1].local_dir == str(local_dir) and queued[-1].force_download
        await pilot.press("y")
        await pilot.pause()
        line = app.clipboard
        assert hf_download_argv(line) == [
            "hf", "download", MODEL, "--revision", "v1.0", "--include", "*.json", "--exclude", "tokenizer.json",
            "--local-dir", str(local_dir), "--force-download",
        ]  # fmt: skip
        assert line in pane.message_text
        # A glob matching nothing: said before queueing, and refused.
        await set_globs(app, pilot, pane, "*.nope")
        assert "Nothing matches" in str(app.query_one("#preview-line").render())
        count = len(queued)
        pane.repo_tree.focus()
        await pilot.press("enter")
        await pilot.pause()
        assert len(queued) == count and "Not queued" in pane.message_text and "*.nope" in pane.message_text
        await set_globs(app, pilot, pane, "*.json, *.nope")
        await pilot.press("enter")
        await pilot.pause()
        assert len(queued) == count and "*.nope" in pane.message_text
    # The copied command line works as is with the real `hf` CLI (dry run against the local Hub).
    argv = hf_download_argv(line)
    argv[argv.index("--force-download")] = "--dry-run"
    # The line names the Hub it was browsed on (the session's HF_ENDPOINT points at a closed port).
    assert hf_download_env(line) == {"HF_ENDPOINT": hub.endpoint}
    env = {**os.environ, **hf_download_env(line), "HF_TOKEN": ""}
    hf = Path(sys.executable).parent / "hf"
    out = subprocess.run([str(hf), *argv[1:]], capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "config.json" in out.stdout and "tokenizer.json" not in out.stdout


BAD_INPUTS = [
    ("a/b/c", "Too many '/'"),
    ("../x", "'..' is not allowed"),
    ("", "Type a repo"),
    ("org/my model", "cannot contain spaces"),
    ("org/na--me", "'--' is not allowed"),
    ("https://example.com/org/name", "not a Hugging Face Hub host"),
    ("https://huggingface.co/acme/bert-mini/tree", "revision is missing"),
    ("acme/nope", "No model repo 'acme/nope'"),
    ("acme/bert-mini@no-such-rev", "has no revision 'no-such-rev'"),
]


async def test_bad_input_is_an_inline_message(tmp_path: Path, hub: HubServer) -> None:  # noqa: F811
    async with browse(tmp_path, hub.endpoint) as (app, pilot, pane, queued):
        for text, fragment in BAD_INPUTS:
            await open_typed(app, pilot, pane, text)
            assert fragment in pane.message_text and pane.message_severity == "error", text
            assert "Traceback" not in pane.message_text
            if text.startswith("acme/"):  # the Hub said no: the old tree is gone, nothing can be queued
                assert pane.listing is None
                pane.repo_tree.focus()
                notes = record_notifications(app)
                await pilot.press("enter")
                # enter cannot act without a file list: it says why, and the Hub's answer stays shown
                assert queued == [] and any("No file list yet" in n for n in notes)
                assert fragment in pane.message_text
            else:  # a typo in the input leaves the open repo (and its tree) as it was
                assert pane.listing is None or pane.listing.info.repo_id == MODEL
            # The screen stays usable.
            await open_typed(app, pilot, pane, f"{MODEL}@main")
            assert pane.listing is not None and pane.message_severity != "error", text


async def test_gated_repo_says_how_to_get_access_without_showing_a_token(
    tmp_path: Path,
    hub: HubServer,  # noqa: F811
) -> None:
    async with browse(tmp_path, hub.endpoint) as (app, pilot, pane, queued):
        pane.open_repo(GATED)
        await settle(app, pilot)
        assert pane.listing is not None
        assert (
            "gated" in pane.message_text
            and "HF_TOKEN" in pane.message_text
            and "hf auth login" in pane.message_text
        )
        assert hub.token not in pane.message_text
        pane.repo_tree.focus()
        await pilot.press("enter")
        await pilot.pause()
        assert queued == [] and "Not queued" in pane.message_text and hub.token not in pane.message_text


async def test_server_error_then_retry(tmp_path: Path) -> None:
    with HubServer(small_spec()) as server:
        server.add_fault(
            Fault(kind="status", path_glob=f"/api/models/{MODEL}/revision/*", status=500, times=1)
        )
        async with browse(tmp_path, server.endpoint) as (app, pilot, pane, _):
            pane.open_repo(MODEL)
            await settle(app, pilot)
            assert "500" in pane.message_text and "Press r to retry" in pane.message_text
            pane.repo_tree.focus()
            await pilot.press("r")
            await settle(app, pilot)
            assert pane.listing is not None and pane.message_severity == "information"


async def test_unreachable_server_shows_the_cached_listing(tmp_path: Path) -> None:
    with HubServer(small_spec()) as server:
        download_into(tmp_path / "cache", server, MODEL, allow_patterns=["*.json"])
        endpoint = server.endpoint
    async with browse(tmp_path, endpoint) as (app, pilot, pane, queued):
        pane.open_repo(MODEL)
        await settle(app, pilot)
        assert pane.listing is not None and pane.listing.offline
        assert "Cannot reach" in pane.message_text and "cached listing" in pane.message_text
        assert pane.local is not None and pane.local.state("config.json") == "cached"
        assert pane.local.state("model.safetensors") == "missing"
        pane.repo_tree.focus()
        await pilot.press("enter")
        await pilot.pause()
        assert queued == [] and "Not queued" in pane.message_text
        # Nothing cached for another revision: says so, offers retry.
        pane.open_repo("acme/bert-mini@v0.9")
        await settle(app, pilot)
        assert "No listing" in pane.message_text and "retry" in pane.message_text


async def test_local_marks_follow_the_cache(tmp_path: Path, hub: HubServer) -> None:  # noqa: F811
    async with browse(tmp_path, hub.endpoint) as (app, pilot, pane, _):
        pane.open_repo(MODEL)
        await settle(app, pilot)
        assert pane.local is not None and pane.local.state("config.json") == "missing"
        download_into(tmp_path / "cache", hub, MODEL, allow_patterns=["config.json"])
        pane.local_cache_changed((("model", MODEL),))
        await settle(app, pilot)
        assert pane.local.state("config.json") == "cached"
        p = pane.last_preview
        assert p is not None and p.download_files == p.count - 1


async def test_twenty_thousand_files_fill_lazily(tmp_path: Path) -> None:
    files: dict[str, Any] = {f"flat/f{i:05d}.txt": "x" for i in range(12_000)}
    files.update({f"deep/d{i // 100:03d}/f{i:05d}.json": "{}" for i in range(8_000)})
    spec = {"repos": [{"id": "acme/many", "type": "model", "branches": {"main": {"files": files}}}]}
    with HubServer(spec) as server:
        async with browse(tmp_path, server.endpoint) as (app, pilot, pane, _):
            pane.open_repo("acme/many")
            await settle(app, pilot)
            assert pane.listing is not None and len(pane.listing.files) == 20_000
            tree = pane.repo_tree
            assert len(tree.root.children) == 2  # deep/, flat/: nothing below is built yet
            flat = tree.root.children[1]
            flat.expand()
            await pilot.pause()
            assert len(flat.children) == 201 and isinstance(flat.children[-1].data, MoreNode)
            tree.move_cursor(flat.children[-1])
            tree.focus()
            await pilot.press("enter")
            await pilot.pause()
            assert len(flat.children) == 401
            assert pane.last_preview is not None and pane.last_preview.count == 20_000
            await set_globs(app, pilot, pane, "deep/*")
            assert pane.last_preview.count == 8_000
            assert tree.matched_totals["deep"] == (8_000, 16_000)
            # Toggles on the root run in a worker and land in order: partial -> everything -> nothing.
            tree.move_cursor(tree.root)
            await pilot.press("space", "space")
            await settle(app, pilot)
            assert pane.selection.exclude == ("*",)
            assert pane.last_preview is not None and pane.last_preview.count == 0
            # Presets over 20,000 files run in a worker too.
            await pilot.press("c")
            await settle(app, pilot)
            assert pane.selection.include == ("*.json", "*.txt") and pane.last_preview.count == 20_000
            await pilot.press("s")
            await settle(app, pilot)
            assert "No .safetensors" in pane.message_text


async def test_keys_are_documented(tmp_path: Path, hub: HubServer) -> None:  # noqa: F811
    keys = {getattr(b, "key", "") for b in [*RepoTree.BINDINGS, *BrowsePane.BINDINGS]}
    assert {"space", "enter", "y", "slash", "v", "p"} <= keys
    async with browse(tmp_path, hub.endpoint) as (app, _pilot, _pane, _):
        commands = {c.title: c for c in app.get_system_commands(app.screen)}
        assert "Browse: queue the selection" in commands and "Browse: one GGUF quantization" in commands
        # A palette command shows the pane and then acts (here: focus the search box).
        app.action_show_pane("cache")
        await _pilot.pause()
        commands["Browse: search the Hub"].callback()
        await _pilot.pause()
        await _pilot.pause()
        assert app.active_pane == "browse" and app.focused is app.query_one("#search-input", Input)


# -- acceptance fixes -------------------------------------------------------------------------------

TRICKY = "acme/tricky-names"


def tricky_spec() -> dict[str, Any]:
    spec = small_spec()
    spec["repos"].append(
        {
            "id": TRICKY,
            "type": "model",
            "branches": {
                "main": {
                    "files": {
                        "a[1].txt": "bracket",
                        "a1.txt": "plain",
                        "my file, v2.txt": "space and comma",
                        "ünï/ß.json": "{}",
                        "onnx/model.onnx": {"size": 5000},
                        "onnx_int8/model.onnx": {"size": 4000},
                        "x[1]/w.bin": {"size": 3000},
                        "x1/w.bin": {"size": 2000},
                    }
                }
            },
        }
    )
    return spec


@pytest.fixture(scope="module")
def thub() -> Any:
    with HubServer(tricky_spec()) as server:
        yield server


def node_at(pane: BrowsePane, path: str) -> Any:
    return next(n for n in pane.repo_tree.root.children if getattr(n.data, "path", "") == path)


async def test_space_on_names_with_glob_characters_takes_exactly_them(
    tmp_path: Path, thub: HubServer
) -> None:
    async with browse(tmp_path, thub.endpoint) as (app, pilot, pane, _):
        await open_typed(app, pilot, pane, TRICKY)
        tree = pane.repo_tree
        tree.focus()
        for path in ("a[1].txt", "x[1]", "onnx", "my file, v2.txt"):
            tree.move_cursor(node_at(pane, path))
            await pilot.press("space")
            await settle(app, pilot)
        p = pane.last_preview
        assert p is not None and p.matched_paths == {
            "a1.txt",
            "ünï/ß.json",
            "onnx_int8/model.onnx",
            "x1/w.bin",
        }
        # The tree marks, the globs typed back and the download all agree.
        assert tree.matched == p.matched_paths
        selection = pane.controller.selection_from(pane.inputs())
        assert selection == pane.selection
        tree.move_cursor(node_at(pane, "a[1].txt"))
        await pilot.press("t")
        await settle(app, pilot)
        assert pane.last_preview is not None and pane.last_preview.matched_paths == {"a[1].txt"}
    assert selection is not None
    folder = snapshot_download(
        TRICKY, allow_patterns=selection.allow_patterns, ignore_patterns=selection.ignore_patterns,
        endpoint=thub.endpoint, cache_dir=str(tmp_path / "dl"), token=False,
    )  # fmt: skip
    assert snapshot_files(Path(folder)) == {f.path: f.size for f in p.matched}


async def test_a_bare_id_after_a_prefixed_one_is_a_model(tmp_path: Path, hub: HubServer) -> None:  # noqa: F811
    async with browse(tmp_path, hub.endpoint) as (app, pilot, pane, _):
        await open_typed(app, pilot, pane, f"datasets/{DATASET}")
        assert pane.listing is not None and pane.repo_type == "dataset"
        await open_typed(app, pilot, pane, MODEL)
        assert pane.listing is not None and pane.listing.info.repo_type == "model", pane.message_text
        # Picked by hand, the type box does apply to bare ids.
        pane.query_one("#repo-type", Select).value = "dataset"
        await settle(app, pilot)
        await open_typed(app, pilot, pane, DATASET)
        assert pane.listing is not None and pane.listing.info.repo_type == "dataset", pane.message_text


async def test_revision_box_takes_pr_shorthand_and_short_hashes(tmp_path: Path, hub: HubServer) -> None:  # noqa: F811
    async with browse(tmp_path, hub.endpoint) as (app, pilot, pane, queued):
        await open_typed(app, pilot, pane, MODEL)
        for typed, revision in (
            ("#1", "refs/pr/1"),
            (hub.commit(MODEL, "v0.9")[:9], hub.commit(MODEL, "v0.9")),
        ):
            pane.revision_input.value = typed
            pane.revision_input.focus()
            await pilot.press("enter")
            await settle(app, pilot)
            assert pane.listing is not None and pane.listing.info.commit == hub.commit(MODEL, revision), typed
            pane.repo_tree.focus()
            await pilot.press("enter")
            await pilot.pause()
            assert queued[-1].revision == revision  # a short hash is queued in full


async def test_fits_80_by_24(tmp_path: Path, hub: HubServer) -> None:  # noqa: F811
    app = make_app(Settings(cache_dir=str(tmp_path / "cache"), endpoint=hub.endpoint))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("2")
        pane = app.browse_pane
        await open_typed(app, pilot, pane, MODEL)
        pane.repo_tree.focus()
        await pilot.pause()
        tree = pane.repo_tree
        # No horizontal scrollbar taking one of the few tree lines, and the footer still shows help.
        assert tree.virtual_size.width <= tree.scrollable_content_region.width
        assert not tree.show_horizontal_scrollbar
        visible = {entry.key for entry in app.query_one(KeyBar).shown()}
        assert {"question_mark", "q", "space"} <= visible, visible


async def test_real_queue_writes_exactly_the_preview(tmp_path: Path, thub: HubServer) -> None:
    app = make_app(Settings(cache_dir=str(tmp_path / "cache"), endpoint=thub.endpoint))
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("2")
        pane = app.browse_pane
        await open_typed(app, pilot, pane, TRICKY)
        await set_globs(app, pilot, pane, "*.txt, x[[]1]/", "a1.txt")
        p = pane.last_preview
        assert p is not None and p.matched_paths == {"a[1].txt", "my file, v2.txt", "x[1]/w.bin"}
        pane.repo_tree.focus()
        await pilot.press("enter")
        for _ in range(100):
            await pilot.pause(0.05)
            if "1 done" in app.downloads.summary_text():
                break
        assert "1 done" in app.downloads.summary_text(), app.downloads.summary_text()
        snapshot = tmp_path / "cache" / "models--acme--tricky-names" / "snapshots" / thub.commit(TRICKY)
        assert snapshot_files(snapshot) == {f.path: f.size for f in p.matched}


async def test_finished_download_refreshes_the_local_marks(tmp_path: Path, hub: HubServer) -> None:  # noqa: F811
    app = make_app(Settings(cache_dir=str(tmp_path / "cache"), endpoint=hub.endpoint))
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("2")
        pane = app.browse_pane
        await open_typed(app, pilot, pane, MODEL)
        await set_globs(app, pilot, pane, "*.json")
        pane.repo_tree.focus()
        await pilot.press("enter")
        for _ in range(100):
            await pilot.pause(0.05)
            if "1 done" in app.downloads.summary_text():
                break
        await pilot.pause(0.2)
        await settle(app, pilot)
        assert pane.local is not None and pane.local.state("config.json") == "cached"
        assert pane.last_preview is not None and pane.last_preview.download_files == 0


async def test_brackets_in_globs_and_messages_are_shown_as_typed(tmp_path: Path, thub: HubServer) -> None:
    # Messages were parsed as Textual markup: `[/x]` crashed the app (MarkupError), `[qQ]` vanished.
    async with browse(tmp_path, thub.endpoint) as (app, pilot, pane, _):
        await open_typed(app, pilot, pane, f"{TRICKY}@main")
        await set_globs(app, pilot, pane, "*.txt, [/x], a[[]1].txt")
        assert "[/x]" in str(app.query_one("#preview-line").render())
        await pilot.press("y")
        await pilot.pause()
        assert "a[[]1].txt" in str(app.query_one("#browse-message").render())
        await open_typed(app, pilot, pane, f"{TRICKY}@[/b]")
        assert "'[/b]'" in str(app.query_one("#browse-message").render())
        await open_typed(app, pilot, pane, TRICKY)
        pane.repo_tree.focus()
        await pilot.press("v")
        await pilot.pause()
        await pilot.press(*"[/x]", "enter")
        await pilot.pause()
        assert isinstance(app.screen, RevisionPicker)
        assert "[/x]" in str(app.screen.query_one("#revision-message").render())


@pytest.mark.parametrize(
    "suffix", [":Q2_K", "/blob/main/nope.txt", "/tree/main/nope"], ids=["quant", "file", "folder"]
)
async def test_asking_for_something_absent_never_selects_everything(
    tmp_path: Path, ghub: HubServer, suffix: str
) -> None:
    async with browse(tmp_path, ghub.endpoint) as (app, pilot, pane, queued):
        text = f"{GGUF}{suffix}" if suffix.startswith(":") else f"{ghub.endpoint}/{GGUF}{suffix}"
        await open_typed(app, pilot, pane, text)
        assert pane.listing is not None and pane.message_severity == "warning"
        assert pane.last_preview is not None and pane.last_preview.count == 0
        pane.repo_tree.focus()
        await pilot.press("enter")
        await pilot.pause()
        assert queued == [] and "Not queued" in pane.message_text
