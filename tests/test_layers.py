"""The layers, enforced: every `import hftui...` in src/ (module level or inside a function) is
checked against the rules below, and the module-level imports must not form a cycle.

  core      the UI-free engine: imports nothing above it (no tui, commands, cli, hub server)
  hub       the local Hub server (tests, benchmarks, demo): stands alone
  tui       the Textual views: core, settings, errors
  commands  the headless subcommands: core, the hub server (hub-serve), settings, errors
  cli       the entry point: anything

(An AST walk rather than import-linter: no extra dependency, and lazy imports inside functions
count too, which import-linter does not see.)
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

BASE = {"hftui", "hftui.settings", "hftui.errors"}
ALLOWED: dict[str, set[str]] = {
    "hftui.core": BASE,
    "hftui.hub": {"hftui"},
    "hftui.tui": BASE | {"hftui.core"},
    "hftui.commands": BASE | {"hftui.core", "hftui.hub"},
    "hftui.settings": {"hftui", "hftui.errors"},
    "hftui.errors": set(),
    "hftui": set(),
    "hftui.cli": BASE | {"hftui.core", "hftui.hub", "hftui.tui", "hftui.commands"},
    "hftui.__main__": {"hftui.cli"},
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _layer(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 1 else module


def _type_checking_block(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _imports(tree: ast.Module) -> tuple[set[str], set[str]]:
    """(every hftui module imported anywhere, those imported at module level at run time)."""
    anywhere: set[str] = set()
    top: set[str] = set()

    def names(node: ast.AST) -> list[str]:
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            # `from hftui.core import vocab` imports the module hftui.core.vocab; `from hftui import
            # __version__` a name in hftui.
            return [node.module] + [
                f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in MODULES
            ]
        if isinstance(node, ast.Import):
            return [a.name for a in node.names]
        return []

    for node in ast.walk(tree):
        anywhere.update(n for n in names(node) if n.split(".")[0] == "hftui")
    for node in tree.body:
        if _type_checking_block(node):
            continue
        top.update(n for n in names(node) if n.split(".")[0] == "hftui")
    return anywhere, top


MODULES = {_module_name(p): p for p in SRC.rglob("*.py")}


def _graph() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    modules = MODULES
    anywhere: dict[str, set[str]] = {}
    top: dict[str, set[str]] = defaultdict(set)
    for name, path in modules.items():
        every, at_top = _imports(ast.parse(path.read_text(encoding="utf-8")))
        anywhere[name] = every
        top[name] = {m for m in at_top if m in modules}
    return anywhere, top


ANYWHERE, TOP_LEVEL = _graph()


@pytest.mark.parametrize("module", sorted(ANYWHERE))
def test_module_imports_only_what_its_layer_may(module: str) -> None:
    layer = _layer(module)
    assert layer in ALLOWED, f"{module}: no rule for layer {layer!r}; add one to ALLOWED"
    wrong = sorted(
        imported
        for imported in ANYWHERE[module]
        if _layer(imported) != layer and _layer(imported) not in ALLOWED[layer]
    )
    assert not wrong, f"{module} ({layer}) must not import {wrong}"


def test_module_level_imports_have_no_cycle() -> None:
    seen: dict[str, int] = {}  # 1 = on the current path, 2 = done

    def visit(module: str, path: list[str]) -> None:
        seen[module] = 1
        for target in sorted(TOP_LEVEL.get(module, ())):
            if seen.get(target) == 1:
                cycle = [*path[path.index(target) :], target] if target in path else [module, target]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if target not in seen:
                visit(target, [*path, target])
        seen[module] = 2

    for module in sorted(TOP_LEVEL):
        if module not in seen:
            visit(module, [module])


def test_the_rules_catch_a_violation(tmp_path: Path) -> None:
    tree = ast.parse("from hftui.tui import app\ndef f():\n    import hftui.cli\n")
    anywhere, top = _imports(tree)
    assert {"hftui.tui.app", "hftui.cli"} <= anywhere and "hftui.cli" not in top
    assert _layer("hftui.tui.app") not in ALLOWED["hftui.core"]


def test_panes_ask_the_app_through_the_typed_contract() -> None:
    """Panes use `AppServices` (tui/services.py): no attribute looked up on the app by name."""
    offenders = []
    for path in (SRC / "hftui" / "tui").rglob("*.py"):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if "getattr(self.app" in line or ("self.app." in line and "type: ignore" in line):
                offenders.append(f"{path.relative_to(SRC)}:{number}")
    assert not offenders, offenders
