"""README promises that CI and users rely on, and the manual in docs/ that it points to."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from hftui.settings import describe

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
REPO_URL = "https://github.com/hftui/hftui"
# Where README's links into the repository point: a file on the main branch, rendered or raw.
FILE_URL = re.compile(
    r"^(?:https://github\.com/hftui/hftui/(?:blob|tree)/main/|https://raw\.githubusercontent\.com/hftui/hftui/main/)(.+)$"
)
MARKDOWN_LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def quick_start_lines() -> list[str]:
    section = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```[a-z]*\n(.*?)```", section, re.S)
    assert block, "Quick start needs a fenced block"
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_quick_start_has_exactly_two_command_lines() -> None:
    demo, tests = quick_start_lines()
    assert "hftui --demo" in demo and "pip install" in demo
    assert "pytest" in tests and ".[test]" in tests


def test_the_test_line_installs_the_pinned_versions() -> None:
    # The snapshot tests only run under the pinned textual, so the documented line must use the pins.
    assert "-c constraints.txt" in quick_start_lines()[1]
    assert (ROOT / "constraints.txt").is_file()


def test_ci_runs_the_readme_test_line_verbatim() -> None:
    script = ROOT / ".ci" / "run"
    awk = re.search(r"test_line=\"\$\(awk '(.*?)' README.md\)\"", script.read_text(), re.S)
    assert awk
    found = subprocess.run(["awk", awk.group(1), str(ROOT / "README.md")], capture_output=True, text=True)
    assert found.stdout.strip() == quick_start_lines()[1]


def test_readme_is_a_front_door() -> None:
    size = len(README.encode("utf-8"))
    assert size <= 10 * 1024, f"README is {size} bytes: details belong in docs/"
    assert README.count("![") == 1, "README shows exactly one screenshot"


def test_readme_links_work_on_pypi_and_name_files_that_exist() -> None:
    # PyPI renders README without the repository around it: a relative link or image is broken there.
    links = MARKDOWN_LINK.findall(README)
    assert links
    relative = [link for link in links if not link.startswith("https://")]
    assert not relative, f"relative links break on PyPI: {relative}"
    missing = []
    for link in links:
        match = FILE_URL.match(link.split("#", 1)[0])
        if match and not (ROOT / match.group(1)).exists():
            missing.append(link)
    assert not missing, f"README links to files that are not in the repository: {missing}"


def test_readme_links_every_pane_page_and_the_docs_index_links_every_page() -> None:
    for page in ("cache.md", "browse.md", "queue.md", "headless.md", "settings.md", "benchmarks.md"):
        assert f"{REPO_URL}/blob/main/docs/{page}" in README, page
    index = (ROOT / "docs" / "index.md").read_text(encoding="utf-8")
    unlisted = [
        p.name
        for p in sorted((ROOT / "docs").glob("*.md"))
        if p.name != "index.md" and f"]({p.name}" not in index
    ]
    assert not unlisted, f"docs/index.md does not link: {unlisted}"


def test_every_setting_is_in_the_settings_page() -> None:
    page = (ROOT / "docs" / "settings.md").read_text(encoding="utf-8")
    missing = [doc.name for doc in describe() if f"| `{doc.name}` |" not in page]
    assert not missing, f"docs/settings.md does not document settings: {missing}"


def test_package_metadata_matches_the_licence_and_the_links() -> None:
    assert PROJECT["license"] == "Apache-2.0"
    licence = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License" in licence and "Version 2.0, January 2004" in licence
    assert "END OF TERMS AND CONDITIONS" in licence  # the full text, not a pointer to it
    urls = PROJECT["urls"]
    assert {"Homepage", "Documentation", "Source", "Issues"} <= set(urls)
    assert all(url.startswith(REPO_URL) for url in urls.values())
    classifiers = set(PROJECT["classifiers"])
    assert "Environment :: Console" in classifiers
    assert {f"Programming Language :: Python :: 3.{minor}" for minor in range(10, 14)} <= classifiers
