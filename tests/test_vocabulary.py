"""Issue 13: one vocabulary. The Cache pane, its help and `hftui scan` say the same facts in the same
words (core/vocab.py); marks totals count each byte once; confirmations state what they do, with figures."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from cachebuilders import add_incomplete, build_mixed_cache, payload_bytes
from test_cache_controller import MODEL_DIR, M, scanned
from test_cache_pane import app_for, settle

from hftui.cli import main
from hftui.core import vocab
from hftui.core.cache.cleanup import Mark
from hftui.tui.panes.cache import CachePane


@pytest.fixture
def odd_cache(tmp_path: Path) -> Path:
    """Seven repos (partial, detached, temp files, no listing) and two entries that are not repos."""
    cache = tmp_path / "hub"
    build_mixed_cache(cache)
    add_incomplete(cache, "org/gpt", "a" * 40, 321)
    (cache / "notarepo").mkdir()
    (cache / "version.txt").write_text("1\n")
    return cache


def _cli_rows(cache: Path, capsys: pytest.CaptureFixture[str]) -> tuple[dict[str, list[str]], str]:
    """`hftui scan`'s rows by id, split on its column gaps, and its summary line."""
    assert main(["scan", "--cache-dir", str(cache), "--no-roots"]) == 0
    out = capsys.readouterr().out
    table, summary = out.split("\n\n")
    rows = {}
    for line in table.splitlines()[2:]:
        cells = re.split(r"\s{2,}", line.strip())
        rows[cells[0]] = cells
    return rows, summary


async def test_cache_pane_and_scan_say_the_same_words(
    odd_cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows, summary = _cli_rows(odd_cache, capsys)
    assert "in 7 repos, 2 other entries," in summary
    app = app_for(odd_cache)
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot, app)
        pane = app.query_one(CachePane)
        header = str(pane.query_one("#cache-header").render())
        # The header counts what the CLI counts (not version.txt or notarepo as repos).
        assert "7 repos, 2 other entries ⚠" in header, header
        seen_words: set[str] = set()
        for name, record in pane.table.records.items():
            status = str(pane.table.get_cell(name, "status")).removeprefix("⚠ ")
            cli = rows[record.cache_id]
            assert cli[-1] == status, (name, cli, status)  # STATUS, word for word
            seen_words.update(status.split(", "))
            if not record.corrupt:
                assert str(pane.table.get_cell(name, "size")) == cli[1]  # SIZE
                assert pane.table.get_cell(name, "accessed") == cli[4]  # LAST_ACCESSED
        assert {"complete", "partial", "no listing", "detached", "temp files", "corrupt"} <= seen_words
        legend = {word for word, _ in vocab.STATUS_LEGEND}
        assert seen_words <= legend  # every word shown is explained in `?`
        assert not any(old in " ".join(seen_words) for old in ("?", "+", "tmp", "unknown"))

        await pilot.press("question_mark")
        await pilot.pause()
        from rich.console import Console

        from hftui.tui.screens.help import HelpScreen, status_legend

        assert isinstance(app.screen, HelpScreen)
        console = Console(width=100, record=True)
        console.print(status_legend())
        text = console.export_text()
        for word, meaning in vocab.STATUS_LEGEND:
            assert word in text and meaning.split()[0] in text


def test_counts_are_singular_and_plural() -> None:
    assert vocab.count(1, "repo") == "1 repo" and vocab.count(2, "repo") == "2 repos"
    assert vocab.entries_text(1, 1) == "1 repo, 1 other entry"
    assert vocab.entries_text(301, 10) == "301 repos, 10 other entries"
    assert vocab.entries_text(0, 0) == "0 repos"
    assert vocab.delete_title(1, 435) == "Delete 1 item (frees 435 B)?"
    assert vocab.delete_title(3, 1_234_000, what="detached revision", verb="Prune") == (
        "Prune 3 detached revisions (frees 1.2 MB)?"
    )


def test_a_file_inside_a_marked_revision_is_counted_once_and_the_title_has_the_figures(cache: Path) -> None:
    controller, runner, seen = scanned(cache)
    record = controller.records[MODEL_DIR]
    revision = max(record.revisions, key=lambda r: r.size_on_disk)
    path = max(revision.files, key=lambda f: f[0])[0]
    controller.toggle(Mark.revision(*M, revision.commit_hash))
    controller.toggle(Mark.file(*M, revision.commit_hash, path))
    runner.wait_idle()
    plan = controller.plan
    assert plan is not None and len(plan.items) == 2
    # The file's bytes are inside the revision's: the marks total is the revision's size, once.
    assert plan.total_size == revision.size_on_disk
    assert plan.item_count == 1

    before = payload_bytes(cache)
    controller.request_delete()
    runner.wait_idle()
    (request,) = seen.confirms
    assert request.title == f"Delete 1 item (frees {vocab.size(plan.expected_freed_size)})?"
    controller.confirmed(request)
    runner.wait_idle()
    # The figure in the title is what really left the disk.
    assert before - payload_bytes(cache) == plan.expected_freed_size
    assert seen.notices[-1].title == "Delete 1 item"
