"""Imports point one way: a module imports only from its own layer or below (CONTRIBUTING.md).

Read from the source (``ast``), lazy imports inside functions included: a function-level import
is still a dependency, it only moves its cost.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "nbtoolkit"

# Bottom to top. A module belongs to the layer of its longest matching prefix.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("foundation", ("errors", "config", "refs", "vocabulary", "validation", "chunking", "backoff", "limits", "schemas")),
    ("adapters", ("store", "locks", "registry.tags", "registry.integrity")),
    ("data model and results", ("contract", "contract_checks", "data", "drift.profile", "drift.bins", "drift.stats",
                                "registry.artifacts", "registry.lookup", "registry.formats", "registry.trust", "registry.remote",
                                "registry.signing", "registry.loading",
                                "reports", "examples")),
    ("computation", ("registry", "drift", "evaluation", "estimation", "monitoring", "pipeline", "testing")),
    # the package itself: the public API table (imported lazily) and load_ipython_extension
    ("surfaces", ("__init__", "commands", "magics", "cli", "widgets", "serving", "demo")),
]


def layer_of(module: str) -> int | None:
    best: tuple[int, int] | None = None
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if module == prefix or module.startswith(prefix + "."):
                if best is None or len(prefix) > best[1]:
                    best = (index, len(prefix))
    return best[0] if best else None


def _module_name(path: Path) -> tuple[str, list[str]]:
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    if parts[-1] == "__init__":
        package = parts[:-1]
        return ".".join(package) or "__init__", package
    return ".".join(parts), parts[:-1]


def _imports(path: Path, package: list[str]) -> list[tuple[str, int]]:
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.ImportFrom):
            continue
        if node.level:
            base = package[: len(package) - node.level + 1]
            if node.module:
                out.append((".".join(base + [node.module]), node.lineno))
            else:
                out += [(".".join(base + [a.name]), node.lineno) for a in node.names]
        elif node.module and (node.module == "nbtoolkit" or node.module.startswith("nbtoolkit.")):
            out.append((node.module.removeprefix("nbtoolkit").lstrip(".") or "__init__", node.lineno))
    return out


def upward_imports() -> list[str]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module, package = _module_name(path)
        mine = layer_of(module)
        for target, line in _imports(path, package):
            theirs = layer_of(target)
            if mine is not None and theirs is not None and theirs > mine:
                found.append(f"{module} ({LAYERS[mine][0]}) imports {target} ({LAYERS[theirs][0]}) "
                             f"at line {line}")
    return found


def test_every_module_has_a_layer():
    unplaced = [_module_name(p)[0] for p in PACKAGE.rglob("*.py") if layer_of(_module_name(p)[0]) is None]
    assert not unplaced, f"add these modules to a layer in tests/test_layers.py: {unplaced}"


def test_no_module_imports_upward():
    assert upward_imports() == []


def test_the_check_sees_an_upward_import(tmp_path, monkeypatch):
    """The rule can fail: a report importing the registry is caught."""
    fake = tmp_path / "nbtoolkit"
    (fake / "reports").mkdir(parents=True)
    (fake / "reports" / "bad.py").write_text("def f():\n    from ..registry import promote\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", fake)
    assert upward_imports() == [
        "reports.bad (data model and results) imports registry (computation) at line 2"]
