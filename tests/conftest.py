"""Test isolation: no test may read the developer's real cache, config, token or the network.

huggingface_hub reads HF_ENDPOINT, HF_HOME and friends at import time, so they are set here,
before any test module imports it. The endpoint points at a closed port so that a call that
forgets `endpoint=` fails fast instead of reaching the real Hub; tests that download start the
project's local Hub server and pass `endpoint=hub.endpoint`.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

_SESSION_HOME = Path(tempfile.mkdtemp(prefix="hftui-tests-"))
os.environ.update(
    {
        "HF_HOME": str(_SESSION_HOME / "hf_home"),
        "HF_HUB_CACHE": str(_SESSION_HOME / "hf_home" / "hub"),
        "HF_ENDPOINT": "http://127.0.0.1:9",
        "HF_TOKEN": "",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_HUB_DISABLE_IMPLICIT_TOKEN": "1",
        "HF_HUB_ETAG_TIMEOUT": "5",
        "HF_HUB_DOWNLOAD_TIMEOUT": "5",
        "XDG_CONFIG_HOME": str(_SESSION_HOME / "config"),
        "XDG_STATE_HOME": str(_SESSION_HOME / "state"),
        "XDG_CACHE_HOME": str(_SESSION_HOME / "xdg_cache"),
        "NO_COLOR": "",
        # Textual animates the tab underline for 0.4 s and Pilot waits for it on every pane switch
        # (hundreds across the suite); what the tests check is the state after it.
        "TEXTUAL_ANIMATIONS": "none",
    }
)
os.environ.pop("HF_HUB_OFFLINE", None)
os.environ.pop("NO_COLOR", None)

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _isolated_user_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test gets its own config/state dirs, so saved queues and settings never leak between tests."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "_config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "_state"))


@pytest.fixture
def world_tmp():
    """A temp dir an unprivileged user can traverse (pytest's tmp_path lives under a 0700 dir).

    For permission-denied tests that run the subject with `setpriv --reuid=nobody`.
    """
    import shutil
    import stat

    path = Path(tempfile.mkdtemp(prefix="hftui-world-", dir="/tmp"))
    path.chmod(0o755)
    yield path
    for root, dirs, _ in os.walk(path):
        for name in dirs:
            full = os.path.join(root, name)
            os.chmod(full, os.stat(full).st_mode | stat.S_IRWXU)
    shutil.rmtree(path, ignore_errors=True)


# -- waiting on events (never sleep-then-assert) ----------------------------------------------------
# Import them: `from conftest import until, wait_for`.


def wait_for(predicate: Callable[[], bool], timeout: float = 20.0, what: str = "condition") -> None:
    """Poll `predicate` until it holds; fail after `timeout` seconds (a budget, not a measurement)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


async def until(
    pilot: Any, predicate: Callable[[], bool], timeout: float = 20.0, what: str = "condition"
) -> None:
    """`wait_for` inside a Pilot test: the app keeps running between polls."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.05)


async def update_check_done(pilot: Any, monitor: Any, timeout: float = 60.0) -> None:
    """Until the app's update check has run and ended. Polled with the app running: the check
    starts once every row is shown, so a blocking wait on the monitor would hold it back."""
    await until(
        pilot,
        lambda: (monitor.last_report is not None or monitor.error is not None) and not monitor.checking,
        timeout,
        "the update check",
    )


@contextlib.contextmanager
def mounted_tmpfs(point: Path, size: str) -> Iterator[Path]:
    """A tmpfs of `size` (`"1m"`) mounted at `point`, unmounted after: a real small disk for the
    disk-full cases. The test is skipped where it cannot be mounted (not root, no permission)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    point.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(point)], capture_output=True, text=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield point
    finally:
        subprocess.run(["umount", "-l", str(point)], capture_output=True, check=False)


def record_notifications(app: Any) -> list[str]:
    """Every message `app.notify` is given from now on (the toasts' text, without reading Textual's
    private notification store)."""
    seen: list[str] = []
    original: Callable[..., Awaitable[None] | None] = app.notify

    def notify(message: str, *args: Any, **kwargs: Any) -> Any:
        seen.append(str(message))
        return original(message, *args, **kwargs)

    app.notify = notify
    return seen


# -- real caches for the cleanup / verify / Cache pane tests ------------------------------------------


@pytest.fixture(scope="session")
def template_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real cache downloaded once per session from the local Hub, copied for each test (`cache`).

    models: MODEL at main, v0.9 (older commit) and refs/pr/1 (shares blobs with main);
    dataset: DATASET partially (README + one shard); space: SPACE complete."""
    from hubfixtures import DATASET, MODEL, SPACE, download_into, small_spec

    from hftui.hub import HubServer

    root = tmp_path_factory.mktemp("template") / "hub"
    with HubServer(small_spec()) as hub:
        download_into(root, hub, MODEL)
        download_into(root, hub, MODEL, revision="v0.9")
        download_into(root, hub, MODEL, revision="refs/pr/1")
        download_into(
            root, hub, DATASET, repo_type="dataset", allow_patterns=["README.md", "data/train-00000*"]
        )
        download_into(root, hub, SPACE, repo_type="space")
    return root


@pytest.fixture
def cache(template_cache: Path, tmp_path: Path) -> Iterator[Path]:
    """The template cache copied (symlinks kept) into this test's tmp_path: each test deletes from its own."""
    import shutil
    import subprocess

    target = tmp_path / "hub"
    shutil.copytree(template_cache, target, symlinks=True)
    yield target
    # Undo immutable flags a test may have set, so tmp cleanup works.
    subprocess.run(["chattr", "-R", "-i", str(target)], capture_output=True, check=False)


def _pinned_version(package: str) -> str | None:
    """The `package==X` pin in constraints.txt (the versions CI tests with), if there is one."""
    constraints = Path(__file__).resolve().parents[1] / "constraints.txt"
    try:
        lines = constraints.read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    for line in lines:
        name, sep, version = line.split("#", 1)[0].strip().partition("==")
        if sep and name.strip().lower().replace("_", "-") == package:
            return version.strip()
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """SVG snapshots are Textual's exact output: under another textual they would fail for no fault of
    ours, so every `snap_compare` test skips and names the version it needs."""
    from importlib.metadata import version

    pinned, installed = _pinned_version("textual"), version("textual")
    if pinned is None or pinned == installed:
        return
    skip = pytest.mark.skip(
        reason=f"SVG snapshots are pinned to textual {pinned} (constraints.txt); textual {installed} is installed"
    )
    for item in items:
        if "snap_compare" in getattr(item, "fixturenames", ()):
            item.add_marker(skip)


_RERUN_FAILURES: list[tuple[str, str]] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Keep why a test was rerun: `--reruns` hides the first failure, and a flaky test in CI is
    otherwise a name with no cause."""
    if report.outcome == "rerun":
        _RERUN_FAILURES.append((report.nodeid, report.longreprtext))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for nodeid, text in _RERUN_FAILURES:
        lines = text.splitlines()
        terminalreporter.write_sep("-", f"rerun: {nodeid}")
        terminalreporter.write_line("\n".join(lines[-40:]))
