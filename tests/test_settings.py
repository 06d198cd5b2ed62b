from __future__ import annotations

from pathlib import Path

from hftui.settings import Settings, describe, load_settings


def test_missing_file_gives_defaults(tmp_path: Path) -> None:
    loaded = load_settings(tmp_path / "nope.toml")
    assert loaded.settings == Settings()
    assert loaded.problems == []


def test_values_are_read(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    path.write_text(
        'max_jobs = 3\ntheme = "light"\nstall_timeout = 12\ncache_dir = "~/hub"\nread_only = true\n'
    )
    loaded = load_settings(path)
    assert loaded.problems == []
    assert loaded.settings.max_jobs == 3
    assert loaded.settings.theme == "light"
    assert loaded.settings.stall_timeout == 12.0
    assert loaded.settings.read_only is True
    assert loaded.settings.cache_dir == str(Path("~/hub").expanduser())


def test_broken_toml_reports_line_and_uses_defaults(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    path.write_text('max_jobs = 3\n\ntheme = "light\n')
    loaded = load_settings(path)
    assert loaded.settings == Settings()
    [problem] = loaded.problems
    assert problem.line == 3
    assert f"{path}:3" in str(problem)


def test_bad_value_names_key_and_line_and_keeps_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    path.write_text('max_workers = 4\nmax_jobs = "two"\nresume_on_launch = "sometimes"\nfoo = 1\n')
    loaded = load_settings(path)
    assert loaded.settings.max_workers == 4
    assert loaded.settings.max_jobs == Settings().max_jobs
    assert loaded.settings.resume_on_launch == "ask"
    messages = [str(p) for p in loaded.problems]
    assert any(":2: max_jobs must be a whole number" in m for m in messages)
    assert any(":3: resume_on_launch must be one of ask, auto, never" in m for m in messages)
    assert any(":4: unknown setting 'foo'" in m for m in messages)


def test_zero_jobs_rejected(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    path.write_text("max_jobs = 0\n")
    loaded = load_settings(path)
    assert loaded.settings.max_jobs == 2
    assert "at least 1" in str(loaded.problems[0])


def test_every_setting_is_documented() -> None:
    docs = describe()
    assert {d.name for d in docs} == set(Settings.__dataclass_fields__)
    assert all(d.help for d in docs), [d.name for d in docs if not d.help]
