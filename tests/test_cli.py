"""The CLI entry points, run as a user would: in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from privileges import skip_unless_nobody_can_run_python

import hftui


def run_hftui(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hftui", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def test_version() -> None:
    result = run_hftui("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"hftui {hftui.__version__}"


def test_help_lists_subcommands() -> None:
    result = run_hftui("--help")
    assert result.returncode == 0
    for command in ("scan", "download", "hub-serve"):
        assert command in result.stdout
    assert "--demo" in result.stdout


def test_console_script_is_installed() -> None:
    script = Path(sys.executable).parent / "hftui"
    assert script.exists()
    result = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0


@pytest.mark.parametrize("kind", ["missing", "file"])
def test_tui_bad_cache_dir_is_one_line_exit_2(tmp_path: Path, kind: str) -> None:
    target = tmp_path / "cache"
    if kind == "file":
        target.write_text("not a dir")
    result = run_hftui("--cache-dir", str(target))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("hftui: error:")
    assert str(target) in lines[0]
    assert "Traceback" not in result.stderr


def test_tui_unreadable_cache_dir_is_one_line_exit_2(world_tmp: Path) -> None:
    skip_unless_nobody_can_run_python()
    cache = world_tmp / "cache"
    cache.mkdir()
    cache.chmod(0o000)
    try:
        result = subprocess.run(
            [
                "setpriv",
                "--reuid=nobody",
                "--regid=nogroup",
                "--clear-groups",
                sys.executable,
                "-m",
                "hftui",
                "--cache-dir",
                str(cache),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "PYTHONPATH": str(Path(hftui.__file__).parents[1])},
        )
    finally:
        cache.chmod(0o755)
    assert result.returncode == 2, result.stderr
    assert "permission denied" in result.stderr
    assert "Traceback" not in result.stderr


def test_demo_refuses_cache_dir(tmp_path: Path) -> None:
    result = run_hftui("--demo", "--cache-dir", str(tmp_path))
    assert result.returncode == 2
    assert "--demo" in result.stderr


def test_unreachable_default_cache_is_one_line_exit_2(world_tmp: Path) -> None:
    skip_unless_nobody_can_run_python()
    locked = world_tmp / "root-only"
    (locked / "hub").mkdir(parents=True)
    locked.chmod(0o700)
    result = subprocess.run(
        ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", sys.executable, "-m", "hftui"],
        capture_output=True,
        text=True,
        timeout=60,
        env={
            **os.environ,
            "HF_HUB_CACHE": str(locked / "hub"),
            "HOME": str(world_tmp),
            "XDG_CONFIG_HOME": str(world_tmp / "config"),
            "XDG_STATE_HOME": str(world_tmp / "state"),
            "PYTHONPATH": str(Path(hftui.__file__).parents[1]),
        },
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [
        f"hftui: error: default cache is not reachable (Permission denied): {locked / 'hub'}"
    ]
