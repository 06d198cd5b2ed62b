"""Issue 17: settings, flags and saved state that used to be accepted and break later."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hftui.cli import main
from hftui.settings import Settings, check_setting, cpu_count, load_settings


def _load(tmp_path: Path, text: str):
    path = tmp_path / "settings.toml"
    path.write_text(text)
    return load_settings(path)


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e300", "0.0", "-5"])
def test_a_stall_timeout_that_breaks_downloads_is_refused_by_name(tmp_path: Path, value: str) -> None:
    loaded = _load(tmp_path, f"stall_timeout = {value}\n")
    assert loaded.settings.stall_timeout == Settings().stall_timeout
    (problem,) = loaded.problems
    assert (
        problem.line == 1 and "stall_timeout" in problem.message and "using default 30.0" in problem.message
    )


def test_process_counts_are_capped_to_what_helps(tmp_path: Path) -> None:
    loaded = _load(tmp_path, "scan_processes = 300\nmax_jobs = 500\nmax_workers = 10000\n")
    assert loaded.settings.scan_processes == cpu_count()
    assert loaded.settings.max_jobs == 16 and loaded.settings.max_workers == 64
    messages = [p.message for p in loaded.problems]
    assert any(m.startswith("scan_processes: 300 is more than the CPUs") for m in messages)
    assert len(messages) == 3


@pytest.mark.parametrize(
    "value",
    ['"not a url"', '"ftp://host"', '"https://"', '"https://hub:99999"', '"https://hub x"', '""', "3"],
)
def test_an_endpoint_must_be_an_http_url(tmp_path: Path, value: str) -> None:
    loaded = _load(tmp_path, f"endpoint = {value}\n")
    assert loaded.settings.endpoint is None
    assert "endpoint" in loaded.problems[0].message


def test_a_good_endpoint_and_wrong_types_elsewhere(tmp_path: Path) -> None:
    loaded = _load(tmp_path, 'endpoint = "http://127.0.0.1:8080/"\nretries = "3"\nread_only = 1\n')
    assert loaded.settings.endpoint == "http://127.0.0.1:8080"
    assert loaded.settings.retries == 3 and loaded.settings.read_only is False
    assert [p.line for p in loaded.problems] == [2, 3]


def test_unparsable_settings_are_moved_aside(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    path.write_text("theme = \n")
    loaded = load_settings(path)
    assert loaded.settings == Settings()
    (aside,) = tmp_path.glob("settings.toml.corrupt-*")
    assert aside.read_text() == "theme = \n" and not path.exists()
    assert str(aside) in str(loaded.problems[0])


def test_check_setting_names_ranges() -> None:
    with pytest.raises(ValueError, match="between 0 and 100"):
        check_setting("retries", 1000)
    with pytest.raises(ValueError, match="at least 1"):
        check_setting("max_jobs", 0)
    assert check_setting("scan_processes", 0) == (0, None)


def test_flags_are_validated_like_settings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cache = tmp_path / "hub"
    cache.mkdir()
    assert main(["--cache-dir", str(cache), "scan", "--processes", "1000", "--json"]) == 0
    captured = capsys.readouterr()
    assert f"--processes 1000 is more than the CPUs this machine has ({cpu_count()})" in captured.err
    assert json.loads(captured.out)["cache_dir"] == str(cache)

    for argv, message in (
        (["--cache-dir", "", "scan"], "--cache-dir is empty"),
        (["scan", "--cache-dir", "  "], "--cache-dir is empty"),
        (["download", "--cache-dir", "", "acme/x"], "--cache-dir is empty"),
        (["download", "--local-dir", "", "acme/x"], "--local-dir is empty"),
        (["--max-jobs", "0"], "--max-jobs must be at least 1"),
        (["download", "--jobs", "-3", "acme/x"], "--jobs must be at least 1"),
        (["scan", "--processes", "-1"], "--processes must not be negative"),
    ):
        assert main(argv) == 2, argv
        assert message in capsys.readouterr().err, argv


def test_the_scanner_itself_never_starts_more_processes_than_cpus(tmp_path: Path) -> None:
    from hftui.core.cache.scan import iter_scan

    for n in range(3):
        (tmp_path / f"models--org--m{n}").mkdir()
    stream = iter_scan(tmp_path, processes=1000)
    assert stream.processes <= min(cpu_count(), 3)
    stream.close()


# -- the saved queue -------------------------------------------------------------------------------

_GOOD_JOB = {
    "id": "a1",
    "request": {"repo_id": "acme/x", "repo_type": "model", "allow_patterns": [], "cache_dir": None},
    "state": "done",
    "bytes_done": 10,
    "bytes_total": 10,
    "files_done": 1,
    "files_total": 1,
    "added_at": 1.0,
}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("bytes_total", "big"),
        ("bytes_done", -1),
        ("files_done", True),
        ("held", "yes"),
        ("added_at", float("inf")),
        ("state", "exploded"),
        ("id", 7),
        ("request.repo_id", 5),
        ("request.repo_type", "kernel-ish"),
        ("request.allow_patterns", "*.bin"),
        ("request.force_download", "false"),
    ],
)
def test_a_saved_queue_with_a_wrong_typed_field_is_moved_aside(
    tmp_path: Path, field: str, value: object
) -> None:
    from hftui.core.downloads.persist import QueueStore

    job = json.loads(json.dumps(_GOOD_JOB))
    target = job["request"] if field.startswith("request.") else job
    target[field.removeprefix("request.")] = value
    path = tmp_path / "queue.json"
    text = json.dumps({"version": 1, "jobs": [_GOOD_JOB, job]}).replace("Infinity", "1e999")
    path.write_text(text)
    loaded = QueueStore(tmp_path).load()
    assert loaded.jobs == []
    (aside,) = tmp_path.glob("queue.json.corrupt-*")
    assert aside.read_text() == text and not path.exists()
    (warning,) = loaded.warnings
    assert f"jobs[1].{field}" in warning and "moved aside" in warning


def test_the_good_queue_still_loads(tmp_path: Path) -> None:
    from hftui.core.downloads.persist import QueueStore

    (tmp_path / "queue.json").write_text(json.dumps({"version": 1, "jobs": [_GOOD_JOB]}))
    loaded = QueueStore(tmp_path).load()
    assert [job["id"] for job in loaded.jobs] == ["a1"] and not loaded.warnings


async def test_the_tui_starts_on_a_queue_that_crashed_it(tmp_path: Path) -> None:
    """The reproduction from the issue: a wrong-typed field crashed the TUI at every launch."""
    from hftui.settings import state_dir
    from hftui.tui.app import make_app

    state = state_dir()
    state.mkdir(parents=True, exist_ok=True)
    bad = dict(_GOOD_JOB, bytes_total="big")
    (state / "queue.json").write_text(json.dumps({"version": 1, "jobs": [bad]}))
    cache = tmp_path / "hub"
    cache.mkdir()
    notes: list[str] = []
    app = make_app(Settings(cache_dir=str(cache)))
    app.notify = lambda message, **kw: notes.append(str(message))  # type: ignore[method-assign]
    async with app.run_test(size=(100, 30)) as pilot:
        for _ in range(100):
            if any("corrupt" in n for n in notes):
                break
            await pilot.pause(0.05)
        await pilot.press("3")  # the Queue pane, where the crash was
        await pilot.pause()
    assert app.return_code in (None, 0)
    assert any("jobs[0].bytes_total" in n and "moved aside" in n for n in notes)
    (aside,) = state.glob("queue.json.corrupt-*")
    assert json.loads(aside.read_text())["jobs"][0]["bytes_total"] == "big"  # kept for the user
    if (state / "queue.json").exists():  # what the app saved since is a queue it can read back
        assert json.loads((state / "queue.json").read_text())["jobs"] == []
