"""README promises that CI and users rely on."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from hftui.settings import describe

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def quick_start_lines() -> list[str]:
    section = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```[a-z]*\n(.*?)```", section, re.S)
    assert block, "Quick start needs a fenced block"
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_quick_start_has_exactly_two_command_lines() -> None:
    demo, tests = quick_start_lines()
    assert "hftui --demo" in demo and "pip install" in demo
    assert "pytest" in tests and ".[test]" in tests


def test_ci_runs_the_readme_test_line_verbatim() -> None:
    script = ROOT / ".ci" / "run"
    awk = re.search(r"test_line=\"\$\(awk '(.*?)' README.md\)\"", script.read_text(), re.S)
    assert awk
    found = subprocess.run(["awk", awk.group(1), str(ROOT / "README.md")], capture_output=True, text=True)
    assert found.stdout.strip() == quick_start_lines()[1]


def test_every_setting_is_in_the_readme() -> None:
    missing = [doc.name for doc in describe() if f"`{doc.name}`" not in README]
    assert not missing, f"README does not document settings: {missing}"
