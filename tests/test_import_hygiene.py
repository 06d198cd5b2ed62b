"""The UI-free core and the Hub server must never pull in Textual or Rich (Harlequin's rule).

Each module is imported in a fresh interpreter so one test's imports cannot hide another's.
"""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import pytest

import hftui
import hftui.core

CORE_MODULES = [
    *sorted(name for _, name, _ in pkgutil.walk_packages(hftui.core.__path__, prefix="hftui.core.")),
    "hftui",
    "hftui.cli",
    "hftui.settings",
    "hftui.hub",
    "hftui.commands.scan",
    "hftui.commands.download",
]

_PROBE = """
import importlib, json, sys
importlib.import_module(sys.argv[1])
print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich', 'huggingface_hub'))))
"""


def _imported_by(module: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", _PROBE, module], capture_output=True, text=True, check=True)
    return {name.split(".")[0] for name in json.loads(out.stdout)}


@pytest.mark.parametrize("module", CORE_MODULES)
def test_core_module_never_imports_textual_or_rich(module: str) -> None:
    leaked = _imported_by(module) & {"textual", "rich"}
    assert not leaked, f"{module} imports {sorted(leaked)}"


@pytest.mark.parametrize("module", ["hftui", "hftui.cli", "hftui.hub"])
def test_entry_points_stay_cheap(module: str) -> None:
    # huggingface_hub reads HF_ENDPOINT at import: the demo must start its server first.
    assert "huggingface_hub" not in _imported_by(module)


def test_version_is_exposed() -> None:
    assert hftui.__version__.count(".") == 2
