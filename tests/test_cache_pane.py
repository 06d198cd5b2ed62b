"""Pilot tests of the Cache pane against real caches downloaded from the local Hub server."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from hubfixtures import MODEL, SPACE
from privileges import skip_unless_nobody_can_run_python
from test_cleanup_support import manifest, repos_by_key, revision_with, state

from hftui.settings import Settings
from hftui.tui.app import make_app
from hftui.tui.messages import CacheChanged
from hftui.tui.panes.cache import CachePane

M = ("model", MODEL)
MODEL_DIR = "models--acme--bert-mini"


async def settle(pilot, app) -> None:
    for _ in range(3):
        await pilot.pause()
        await app.workers.wait_for_complete()
    await pilot.pause()


def app_for(cache_dir: Path, **settings):
    return make_app(Settings(cache_dir=str(cache_dir), **settings))


def footer_actions(app) -> set[str]:
    from hftui.tui.widgets.key_bar import KeyBar

    return {entry.action for entry in app.query_one(KeyBar).entries()[0]}


def library_freed_for_revisions(cache_dir: Path, hashes: list[str]) -> int:
    from huggingface_hub import scan_cache_dir

    return scan_cache_dir(cache_dir).delete_revisions(*hashes).expected_freed_size


async def test_list_streams_rows_and_header(cache: Path) -> None:
    app = app_for(cache)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, app)
        pane = app.query_one(CachePane)
        assert set(pane.table.records) == {
            MODEL_DIR,
            "datasets--acme--tiny-corpus",
            "spaces--acme--demo-space",
        }
        assert not pane.scanning
        header = str(pane.query_one("#cache-header").render())
        # The path, cut at its start when the figures need the room (the title shows it whole).
        shown = header.split(" · ")[0]
        assert shown == str(cache) or (shown.startswith("…") and str(cache).endswith(shown[1:])), header
        assert "3 repos" in header and "free" in header
        # biggest first
        assert str(pane.table.coordinate_to_cell_key((0, 0)).row_key.value) == MODEL_DIR
        statuses = {name: pane.table.get_cell(name, "status") for name in pane.table.records}
        assert statuses["datasets--acme--tiny-corpus"].startswith("partial")
        assert statuses["spaces--acme--demo-space"] == "complete"
        await pilot.press("n")
        first = pane.table.coordinate_to_cell_key((0, 0)).row_key.value
        assert first == "datasets--acme--tiny-corpus"  # dataset/acme/tiny-corpus < model/... < space/...
        await pilot.press("n")
        assert pane.table.coordinate_to_cell_key((0, 0)).row_key.value == "spaces--acme--demo-space"


async def test_mark_repo_then_delete_frees_library_bytes_and_matches_scan(cache: Path) -> None:
    before = state(cache)
    expected_freed = library_freed_for_revisions(
        cache, [r.commit_hash for r in repos_by_key(cache)[M].revisions]
    )
    seen: list[object] = []
    app = app_for(cache)
    async with app.run_test(size=(120, 40), message_hook=seen.append) as pilot:
        await settle(pilot, app)
        pane = app.query_one(CachePane)
        pane.table.move_cursor(row=pane.table.get_row_index(MODEL_DIR))
        await pilot.press("space")
        await settle(pilot, app)
        assert pane.plan is not None and pane.plan.expected_freed_size == expected_freed
        assert pane.query_one("#marked").display
        assert "deleting frees" in str(pane.query_one("#marked").render())
        await pilot.press("d")
        await settle(pilot, app)
        assert type(app.screen).__name__ == "DeleteConfirmScreen"
        await pilot.press("y")
        await settle(pilot, app)
        assert MODEL_DIR not in pane.table.records and MODEL_DIR not in pane.table.rows
        assert not pane.marks and not pane.query_one("#marked").display
        assert any(isinstance(m, CacheChanged) and M in m.repos for m in seen)
    expected = {k: v for k, v in before.items() if k != M}
    assert state(cache) == expected


async def test_mark_revision_and_files_in_the_detail(cache: Path) -> None:
    repos = repos_by_key(cache)
    pr = revision_with(repos[M], "refs/pr/1")
    main = revision_with(repos[M], "main")
    before = state(cache)
    app = app_for(cache)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, app)
        pane = app.query_one(CachePane)
        pane.table.move_cursor(row=pane.table.get_row_index(MODEL_DIR))
        await pilot.press("enter")
        await settle(pilot, app)
        assert pane.view == "cache-detail"
        detail = pane.detail
        # per-revision "frees" equals the library's figure for that revision alone
        assert detail.frees[pr.commit_hash] == library_freed_for_revisions(cache, [pr.commit_hash])
        detail.revisions.move_cursor(row=detail.revisions.get_row_index(pr.commit_hash))
        await pilot.pause()
        await pilot.press("space")  # mark the PR revision
        detail.revisions.move_cursor(row=detail.revisions.get_row_index(main.commit_hash))
        await pilot.pause()
        assert detail.revision.commit_hash == main.commit_hash
        await pilot.press("tab")
        assert detail.file_tree.has_focus
        # the tree: onnx/ first (folders first), then files
        onnx = next(n for n in detail.file_tree.root.children if n.data.path == "onnx")
        detail.file_tree.move_cursor(onnx)
        await pilot.press("space")  # a folder
        readme = next(n for n in detail.file_tree.root.children if n.data.path == "README.md")
        detail.file_tree.move_cursor(readme)
        await pilot.press("space")  # a file
        await settle(pilot, app)
        kinds = sorted(m.kind for m in pane.marks)
        assert kinds == ["path", "path", "revision"]
        assert "●" in str(readme.label)
        # the marked panel's freed figure: the plan over the library's strategies, checked on disk below
        plan = pane.plan
        assert plan is not None
        await pilot.press("d")
        await settle(pilot, app)
        await pilot.press("y")
        await settle(pilot, app)
        assert pane.view == "cache-detail"  # the repo is still there, shown in its true state
        assert pr.commit_hash not in detail.revisions.rows
    after = state(cache)
    expected = dict(before)
    expected[M] = {c: v for c, v in before[M].items() if c != pr.commit_hash}
    refs, files = expected[M][main.commit_hash]
    expected[M][main.commit_hash] = (
        refs,
        frozenset(f for f in files if f[0] != "README.md" and not f[0].startswith("onnx/")),
    )
    assert after == expected
    # blobs of main's remaining files are all still there (shared with the deleted PR)
    for f in repos_by_key(cache)[M].revisions:
        for cached in f.files:
            assert cached.blob_path.exists()


async def test_read_only_hides_and_disables_destructive_keys(cache: Path) -> None:
    app = app_for(cache, read_only=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, app)
        pane = app.query_one(CachePane)
        actions = footer_actions(app)
        assert "toggle_mark" not in actions and "delete" not in actions and "prune" not in actions
        assert "filter" in actions
        await pilot.press("space")
        await pilot.press("p")
        await pilot.press("d")
        await settle(pilot, app)
        assert not pane.marks
        assert type(app.screen).__name__ == "Screen"
        assert not any(
            "delete" in c.title.lower() or "prune" in c.title.lower()
            for c in app.get_system_commands(app.screen)
        )
    assert (cache / MODEL_DIR).exists()


class _Downloading:
    def __init__(self, repos: set[tuple[str, str]]) -> None:
        self.repos = repos

    def active_repos(self) -> set[tuple[str, str]]:
        return set(self.repos)

    def __getattr__(self, name: str):  # the rest of the controller: harmless no-ops
        return lambda *a, **k: 0 if name == "running_count" else None


async def test_refuses_to_delete_a_repo_that_is_downloading(cache: Path) -> None:
    app = app_for(cache)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, app)
        app.downloads = _Downloading({M})
        pane = app.query_one(CachePane)
        pane.table.move_cursor(row=pane.table.get_row_index(MODEL_DIR))
        await pilot.press("space")
        await pilot.press("d")
        await settle(pilot, app)
        screen = app.screen
        assert type(screen).__name__ == "DeleteConfirmScreen"
        assert not screen.query("#confirm")
        text = str(screen.query_one("#refused").render())
        assert "download" in text and "not deleted" in text
        await pilot.press("y")
        await settle(pilot, app)
    assert (cache / MODEL_DIR).exists()


async def test_symlink_outside_the_cache_left_untouched(cache: Path, tmp_path: Path) -> None:
    precious = tmp_path / "outside.bin"
    precious.write_bytes(b"keep me")
    space_rev = next(iter(repos_by_key(cache)[("space", SPACE)].revisions))
    (space_rev.snapshot_path / "evil.bin").symlink_to(precious)
    app = app_for(cache)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, app)
        pane = app.query_one(CachePane)
        pane.table.move_cursor(row=pane.table.get_row_index("spaces--acme--demo-space"))
        await pilot.press("space", "d")
        await settle(pilot, app)
        await pilot.press("y")
        await settle(pilot, app)
        assert "spaces--acme--demo-space" not in pane.table.records
    assert precious.read_bytes() == b"keep me"
    assert not (cache / "spaces--acme--demo-space").exists()


async def test_permission_denied_mid_deletion_reported_and_table_shows_truth(cache: Path) -> None:
    if shutil.which("chattr") is None:
        pytest.skip("no chattr")
    main = revision_with(repos_by_key(cache)[M], "main")
    locked = main.snapshot_path / "onnx"
    if subprocess.run(["chattr", "+i", str(locked)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i not supported on this filesystem")
    notes: list[tuple[str, str]] = []
    model_before = manifest(cache / MODEL_DIR)
    app = app_for(cache)
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            app.notify = lambda message, **kw: notes.append((str(message), kw.get("severity", "information")))  # type: ignore[method-assign]
            await settle(pilot, app)
            pane = app.query_one(CachePane)
            for name in (MODEL_DIR, "spaces--acme--demo-space"):
                pane.table.move_cursor(row=pane.table.get_row_index(name))
                await pilot.press("space")
            await pilot.press("d")
            await settle(pilot, app)
            await pilot.press("y")
            await settle(pilot, app)
            errors = [m for m, sev in notes if sev == "error"]
            assert errors and "could not be deleted" in errors[0] and "permission denied" in errors[0]
            assert "onnx" in errors[0] and "not started" in errors[0]
            assert "spaces--acme--demo-space" not in pane.table.records  # the rest went on
            record = pane.table.records[MODEL_DIR]  # the survivor, rescanned
            assert not record.warnings
            # Never half a repo: the one that could not be deleted whole is left as it was.
            assert manifest(cache / MODEL_DIR) == model_before
            assert pane.marks  # the repo mark stays: it was not deleted
    finally:
        subprocess.run(["chattr", "-i", str(locked)], check=True)


async def test_item_removed_by_another_process_is_reported_not_a_crash(cache: Path) -> None:
    notes: list[tuple[str, str]] = []
    app = app_for(cache)
    async with app.run_test(size=(120, 40)) as pilot:
        app.notify = lambda message, **kw: notes.append((str(message), kw.get("severity", "information")))  # type: ignore[method-assign]
        await settle(pilot, app)
        pane = app.query_one(CachePane)
        pane.table.move_cursor(row=pane.table.get_row_index("spaces--acme--demo-space"))
        await pilot.press("space", "d")
        await settle(pilot, app)
        shutil.rmtree(cache / "spaces--acme--demo-space")
        await pilot.press("y")
        await settle(pilot, app)
        assert any("Nothing deleted" in m and "gone" in m for m, _ in notes)
        assert "spaces--acme--demo-space" not in pane.table.records


async def test_bad_filter_keeps_the_last_good_one(cache: Path) -> None:
    app = app_for(cache)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        pane = app.query_one(CachePane)
        await pilot.press("slash")
        for ch in "type=space":
            await pilot.press(ch)
        await pilot.pause()
        assert [str(k.value) for k in pane.table.rows] == ["spaces--acme--demo-space"]
        await pilot.press("enter")
        await pilot.press("slash")
        box = pane.query_one("#filter")
        box.value = "size>1.5XB"
        await pilot.pause()
        error = pane.query_one("#filter-error")
        assert error.display and "1.5XB" in str(error.render())
        assert box.has_class("-invalid")
        assert [str(k.value) for k in pane.table.rows] == ["spaces--acme--demo-space"]
        box.value = "mini"
        await pilot.pause()
        assert [str(k.value) for k in pane.table.rows] == [MODEL_DIR]
        assert not error.display
        box.value = ""
        await pilot.pause()
        assert pane.table.row_count == 3


def _corrupt_repo(cache: Path) -> Path:
    bad = cache / "models--acme--broken"
    bad.mkdir()
    (bad / "snapshots").write_text("not a dir")
    return bad


async def test_corrupt_repo_shown_with_a_warning_and_the_rest_works(cache: Path) -> None:
    _corrupt_repo(cache)
    app = app_for(cache)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, app)
        pane = app.query_one(CachePane)
        assert pane.table.get_cell("models--acme--broken", "status").startswith("⚠")
        pane.table.move_cursor(row=pane.table.get_row_index("models--acme--broken"))
        await pilot.press("space")
        assert not pane.marks
        await pilot.press("enter")
        await settle(pilot, app)
        assert "Snapshots dir" in str(pane.detail.query_one("#detail-title").render())


@pytest.mark.root
def test_unreadable_repo_dir_as_unprivileged_user(template_cache: Path) -> None:
    """Root reads everything, so the app runs as `nobody` in a subprocess over a cache with one
    repo folder it cannot read."""
    skip_unless_nobody_can_run_python()
    import tempfile

    base = Path(tempfile.mkdtemp(prefix="hftui-unreadable-"))
    try:
        os.chmod(base, 0o755)
        cache_dir = base / "hub"
        shutil.copytree(template_cache, cache_dir, symlinks=True)
        subprocess.run(["chown", "-R", "nobody:nogroup", str(base)], check=True)
        locked = cache_dir / "spaces--acme--demo-space"
        subprocess.run(["chown", "root:root", str(locked)], check=True)
        os.chmod(locked, 0o700)
        script = textwrap.dedent(
            f"""
            import asyncio, json
            from hftui.settings import Settings
            from hftui.tui.app import make_app
            from hftui.tui.panes.cache import CachePane

            async def main():
                app = make_app(Settings(cache_dir={str(cache_dir)!r}))
                async with app.run_test(size=(120, 40)) as pilot:
                    for _ in range(3):
                        await pilot.pause(); await app.workers.wait_for_complete()
                    pane = app.query_one(CachePane)
                    rows = {{name: str(pane.table.get_cell(name, "status")) for name in pane.table.records}}
                    pane.table.move_cursor(row=pane.table.get_row_index({MODEL_DIR!r}))
                    await pilot.press("space")
                    for _ in range(3):
                        await pilot.pause(); await app.workers.wait_for_complete()
                    print(json.dumps({{"rows": rows, "freed": pane.plan.expected_freed_size}}))
            asyncio.run(main())
            """
        )
        proc = subprocess.run(
            ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", sys.executable, "-c", script],
            capture_output=True,
            text=True,
            env={
                **os.environ,
                "HOME": str(base),
                "XDG_CONFIG_HOME": str(base / "cfg"),
                "XDG_STATE_HOME": str(base / "st"),
            },
            timeout=60,
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
        out = json.loads(proc.stdout.strip().splitlines()[-1])
        assert out["rows"]["spaces--acme--demo-space"].startswith("⚠")
        assert out["rows"][MODEL_DIR] == "complete"
        assert out["freed"] > 0
    finally:
        shutil.rmtree(base, ignore_errors=True)


async def test_prune_previews_sizes_then_deletes(cache: Path) -> None:
    blobs = cache / MODEL_DIR / "blobs"
    (blobs / "deadbeef.0123abcd.incomplete").write_bytes(b"x" * 1234)
    old = time.time() - 3600  # a leftover: one written a moment ago would count as a live download
    os.utime(blobs / "deadbeef.0123abcd.incomplete", (old, old))
    (cache / MODEL_DIR / "refs" / "v0.9").unlink()  # the old revision becomes detached
    app = app_for(cache)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, app)
        pane = app.query_one(CachePane)
        await pilot.press("p")
        await settle(pilot, app)
        screen = app.screen
        assert type(screen).__name__ == "PruneScreen"
        by_key = {c.key: c for c in screen.choices}
        assert by_key["incomplete"].size == 1234 and by_key["incomplete"].count == 1
        assert by_key["detached"].count == 1 and by_key["detached"].size > 0
        assert by_key["locks"].count > 0
        # choose the .incomplete prune
        options = screen.query_one("OptionList")
        options.highlighted = [c.key for c in screen.choices].index("incomplete")
        await pilot.press("enter")
        await settle(pilot, app)
        assert type(app.screen).__name__ == "DeleteConfirmScreen"
        assert app.screen.plan.expected_freed_size == 1234
        await pilot.press("y")
        await settle(pilot, app)
        assert not list(blobs.glob("*.incomplete"))
        assert "tmp" not in pane.table.get_cell(MODEL_DIR, "status")


async def test_verify_reports_ok_then_mismatch(cache: Path) -> None:
    app = app_for(cache)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, app)
        pane = app.query_one(CachePane)
        pane.table.move_cursor(row=pane.table.get_row_index("spaces--acme--demo-space"))
        await pilot.press("v")
        await settle(pilot, app)
        result = app.screen.result
        assert result is not None and result.ok and len(result.checked) == 2
        await pilot.press("escape")
        blob = next((cache / "spaces--acme--demo-space" / "blobs").iterdir())
        data = blob.read_bytes()
        blob.write_bytes(bytes([data[0] ^ 1]) + data[1:])
        await pilot.press("v")
        await settle(pilot, app)
        result = app.screen.result
        assert result is not None and not result.ok and len(result.mismatched) == 1


async def test_copy_menu_copies_a_snippet(cache: Path) -> None:
    copied: list[str] = []
    app = app_for(cache)
    async with app.run_test(size=(120, 40)) as pilot:
        app.copy_to_clipboard = copied.append  # type: ignore[method-assign]
        await settle(pilot, app)
        pane = app.query_one(CachePane)
        pane.table.move_cursor(row=pane.table.get_row_index(MODEL_DIR))
        await pilot.press("c")
        await pilot.pause()
        await pilot.press("down", "down", "enter")
        await pilot.pause()
    assert copied == [f'from_pretrained("{MODEL}", revision="main")']


async def test_help_palette_and_repos_changed(cache: Path, tmp_path: Path) -> None:
    app = app_for(cache)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        pane = app.query_one(CachePane)
        await pilot.press("question_mark")
        await pilot.pause()
        assert type(app.screen).__name__ == "HelpScreen"
        help_text = " ".join(str(w.render()) for w in app.screen.query("Static"))
        await pilot.press("escape")
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert (
            "Cache: delete marked…" in titles
            and "Cache: prune…" in titles
            and "Cache: verify revision" in titles
        )
        # a download finished into a repo: only that row is rescanned
        shutil.rmtree(cache / "spaces--acme--demo-space" / "snapshots")
        pane.repos_changed([("space", SPACE)])
        await settle(pilot, app)
        assert pane.table.get_cell("spaces--acme--demo-space", "status").startswith("⚠")
    assert help_text


def _many_repos(cache: Path, count: int) -> None:
    from cachebuilders import add_revision

    for i in range(count):
        add_revision(
            cache, f"org/repo-with-a-long-name-{i:03d}", {"w.bin": 1000 + i, "sub/c.json": b"%d" % i}
        )


async def test_file_tree_has_a_cursor_and_space_marks_at_once(tmp_path: Path) -> None:
    cache = tmp_path / "hub"
    _many_repos(cache, 1)
    app = app_for(cache)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        pane = app.query_one(CachePane)
        await pilot.press("enter")
        await settle(pilot, app)
        await pilot.press("tab")
        await settle(pilot, app)
        assert pane.detail.file_tree.has_focus
        assert "toggle_node" in footer_actions(app)  # the footer says space marks here
        await pilot.press("space")  # the first entry (the folder "sub")
        await settle(pilot, app)
        assert [(m.kind, m.path, m.is_dir) for m in pane.marks] == [("path", "sub", True)]


async def test_read_only_file_tree_offers_no_mark(tmp_path: Path) -> None:
    cache = tmp_path / "hub"
    _many_repos(cache, 1)
    app = app_for(cache, read_only=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        pane = app.query_one(CachePane)
        await pilot.press("enter", "tab")
        await settle(pilot, app)
        assert pane.detail.file_tree.has_focus
        assert "toggle_node" not in footer_actions(app)
        await pilot.press("space")
        await settle(pilot, app)
        assert not pane.marks


async def test_many_marks_at_80x24_keep_the_figures_and_the_buttons_on_screen(tmp_path: Path) -> None:
    cache = tmp_path / "hub"
    _many_repos(cache, 14)
    app = app_for(cache)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        pane = app.query_one(CachePane)
        # However the rows streamed in, the cursor starts on the top (biggest) repo.
        assert pane.table.cursor_row == 0
        for _ in range(12):  # their labels fill more lines than the panel has
            await pilot.press("space")
        await settle(pilot, app)
        panel = pane.query_one("#marked")
        lines = [line.text for line in panel.render_lines(panel.region.reset_offset)]
        assert any("12 marked" in line and "deleting frees" in line for line in lines), lines
        await pilot.press("d")
        await settle(pilot, app)
        screen = app.screen
        assert type(screen).__name__ == "DeleteConfirmScreen"
        dialog = screen.query_one("#dialog").region
        for selector in ("#freed", "#cancel", "#confirm"):
            region = screen.query_one(selector).region
            assert region.height >= 1 and dialog.contains_region(region), selector
        assert screen.query_one("#confirm").region.height == 3  # not squeezed to an empty bar


async def test_a_big_scan_batch_is_added_in_slices_and_ends_sorted(tmp_path: Path) -> None:
    from hftui.core.cache.scan import scan_cache
    from hftui.tui.panes import cache as cache_pane

    cache = tmp_path / "hub"
    _many_repos(cache, 2 * cache_pane.ROWS_PER_SLICE + 30)
    records = scan_cache(cache).repos
    app = app_for(tmp_path / "empty-hub")
    (tmp_path / "empty-hub").mkdir()
    events: list[object] = []
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        pane = app.query_one(CachePane)
        table = pane.table
        original = table.put

        def put(rows, marked, t):  # each slice, and a note of whether the loop ran in between
            rows = list(rows)
            events.append(len(rows))
            app.call_later(events.append, "loop")
            return original(rows, marked, t)

        table.put = put  # type: ignore[method-assign]
        pane.show_records(records, ())  # what the controller's listener calls with a scan batch
        await settle(pilot, app)
        assert table.row_count == len(records)
        slices = [e for e in events if isinstance(e, int)]
        assert sum(slices) == len(records) and max(slices) <= cache_pane.ROWS_PER_SLICE
        # the event loop ran between slices: never all rows in one stall
        assert all(events[i + 1] == "loop" for i, e in enumerate(events[:-1]) if isinstance(e, int)), events
        sizes = [
            pane.table.size_of(str(table.coordinate_to_cell_key((i, 0)).row_key.value))
            for i in range(table.row_count)
        ]
        assert sizes == sorted(sizes, reverse=True)


async def test_the_palette_lists_every_action_and_no_destructive_one_in_read_only(cache: Path) -> None:
    from textual.binding import Binding

    from hftui.tui import actions

    def cache_actions(read_only: bool) -> set[str]:
        app = app_for(cache, read_only=read_only)
        by_title = {a.title: a for a in actions.ACTIONS if a.title}
        return {
            by_title[c.title].name
            for c in app.get_system_commands(None)
            if by_title[c.title].scope == "cache"
        }

    keyed = {b.action.split("(")[0] for b in CachePane.BINDINGS if isinstance(b, Binding)}
    assert keyed - cache_actions(False) == set()
    assert cache_actions(True) & CachePane.DESTRUCTIVE_ACTIONS == set()


async def test_a_failing_plan_computation_is_shown_not_left_computing(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hftui.core.cache import cleanup

    def broken(*args: object, **kwargs: object) -> object:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(cleanup, "plan_deletion", broken)
    notes: list[tuple[str, str]] = []
    app = app_for(cache)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, app)
        app.notify = lambda message, **kw: notes.append((str(message), kw.get("severity", "")))  # type: ignore[method-assign]
        pane = app.query_one(CachePane)
        pane.table.move_cursor(row=pane.table.get_row_index(MODEL_DIR))
        await pilot.press("space")
        await settle(pilot, app)
        panel = str(pane.query_one("#marked").render())
        assert "could not compute what deleting frees" in panel and "disk on fire" in panel
        assert "computing" not in panel
        assert any(sev == "error" and "disk on fire" in m for m, sev in notes)
        monkeypatch.undo()
        await pilot.press("d")  # d tries again, and now the confirmation comes
        await settle(pilot, app)
        assert type(app.screen).__name__ == "DeleteConfirmScreen"


async def test_a_folder_named_with_a_newline_stays_on_one_line(tmp_path: Path) -> None:
    from cachebuilders import add_revision

    cache = tmp_path / "hub"
    add_revision(cache, "org/two\nlines\x1b[31m", {"w.bin": 5000})
    add_revision(cache, "org/plain", {"w.bin": 1000})
    name = "models--org--two\nlines\x1b[31m"
    assert (cache / name).is_dir()
    app = app_for(cache)
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(pilot, app)
        pane = app.query_one(CachePane)
        cell = str(pane.table.get_cell(name, "repo"))
        assert cell == "org/two\\nlines\\x1b[31m"  # escaped visibly, one line, no escape sequence
        pane.table.move_cursor(row=pane.table.get_row_index(name))
        await pilot.press("space")
        await settle(pilot, app)
        panel = pane.query_one("#marked")
        lines = [line.text for line in panel.render_lines(panel.region.reset_offset)]
        assert any("org/two\\nlines" in line for line in lines), lines
        assert any("1 marked" in line and "deleting frees" in line for line in lines), lines
        row = pane.table.get_row_index(name)
        rendered = [strip.text for strip in pane.table.render_lines(pane.table.region.reset_offset)]
        assert any("org/two\\nlines" in line for line in rendered)
        assert pane.table.row_count == 2 and row in (0, 1)


async def test_the_result_notification_is_on_screen_after_a_deletion(cache: Path) -> None:
    app = app_for(cache)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await settle(pilot, app)
        pane = app.query_one(CachePane)
        pane.table.move_cursor(row=pane.table.get_row_index(MODEL_DIR))
        await pilot.press("space", "d")
        await settle(pilot, app)
        await pilot.press("y")

        def freed_on_screen() -> bool:
            return any("Freed" in str(toast.render()) for toast in app.query("Toast"))

        # Wait for the event (a loaded machine may take seconds to delete), not for a time.
        for _ in range(1200):
            if freed_on_screen() or (not pane.deleting and MODEL_DIR not in pane.table.records):
                break
            await pilot.pause(0.05)
        await pilot.pause()
        assert freed_on_screen(), [str(toast.render()) for toast in app.query("Toast")]


def test_header_line_leaves_out_the_least_needed_parts_first() -> None:
    from hftui.tui.panes.cache import SHORTEST_PATH, header_line

    path = "/home/someone/.cache/huggingface/hub"
    parts = [
        ("28.3 MB", 0),
        ("3 repos", 0),
        ("68.9 GB free", 1),
        ("+1 root 77.1 kB (R)", 3),
        ("1 update", 2),
        ("sort: size ↓", 4),
    ]
    wide = header_line(path, parts, 200)
    assert wide.endswith(" · sort: size ↓") and "+1 root" in wide
    for room in (100, 80, 60, 40):
        line = header_line(path, parts, room)
        assert len(line) <= room, (room, line)
        kept = [text for text, _ in parts if text in line]
        # What is left out is always of a higher rank than what stays.
        left_out = [rank for text, rank in parts if text not in kept]
        assert not left_out or min(left_out) >= max(rank for text, rank in parts if text in kept), line
        assert "28.3 MB" in line and "3 repos" in line
        assert line.split(" · ")[0].endswith("hub") and len(line.split(" · ")[0]) >= SHORTEST_PATH - 1
    assert "sort" not in header_line(path, parts, 80) and "1 update" in header_line(path, parts, 80)
