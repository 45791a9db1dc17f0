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
    ("foundation", ("errors", "config", "refs", "vocabulary", "validation", "chunking", "backoff", "limits", "schemas",
                    "helper_process")),
    ("adapters", ("store", "locks", "registry.tags", "registry.integrity")),
    ("data model and results", ("contract", "contract_checks", "profiles",
                                "registry.artifacts", "registry.lookup", "registry.formats", "registry.readers",
                                "registry.trust", "registry.model_process", "registry.signing", "registry.keys",
                                "registry.loading",
                                "reports", "examples")),
    ("computation", ("registry", "conformance", "drift", "evaluation", "estimation", "monitoring", "pipeline",
                     "testing")),
    # the package itself: the public API table (imported lazily) and load_ipython_extension
    ("surfaces", ("__init__", "commands", "magics", "cli", "widgets", "serving", "demo", "demo_report")),
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


def _absolute(name: str, level: int, package: list[str]) -> str | None:
    """The module a (possibly relative) import names, without the ``nbtoolkit.`` prefix; None outside it."""
    if level:
        return ".".join(package[: len(package) - level + 1] + ([name] if name else []))
    if name == "nbtoolkit" or name.startswith("nbtoolkit."):
        return name.removeprefix("nbtoolkit").lstrip(".") or "__init__"
    return None


def _imported_by_call(node: ast.Call) -> tuple[str, int] | None:
    """``importlib.import_module("...")`` / ``import_module("...")`` / ``__import__("...")`` with a literal
    name: ``(name, level)``. A name built at run time cannot be read here."""
    func = node.func
    called = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
    if called not in ("import_module", "__import__") or not node.args:
        return None
    first = node.args[0]
    if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
        return None
    name = first.value
    return name.lstrip("."), len(name) - len(name.lstrip("."))


def _imports(path: Path, package: list[str]) -> list[tuple[str, int]]:
    """Every module of the package that ``path`` imports: ``from ... import``, ``import x`` /
    ``import x.y as z``, and ``import_module``/``__import__`` with a literal name; lazy ones included."""
    out: list[tuple[str, int]] = []

    def add(name: str, level: int, line: int) -> None:
        target = _absolute(name, level, package)
        if target is not None:
            out.append((target, line))

    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.module:
                add(node.module, node.level, node.lineno)
            else:  # from . import x, y: each name is a module of the package
                for alias in node.names:
                    add(alias.name, node.level, node.lineno)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name, 0, node.lineno)
        elif isinstance(node, ast.Call) and (call := _imported_by_call(node)):
            add(*call, node.lineno)
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


def test_the_check_reads_every_form_of_import(tmp_path, monkeypatch):
    """``import x``, ``import x.y as z`` and import_module with a literal name are imports too; a name
    built at run time is not read (it cannot be)."""
    fake = tmp_path / "nbtoolkit"
    fake.mkdir()
    (fake / "contract.py").write_text(
        "import nbtoolkit.monitoring\n"
        "import nbtoolkit.pipeline.runner as runner\n"
        "import importlib\n"
        "from importlib import import_module\n"
        "def f(name):\n"
        "    importlib.import_module('nbtoolkit.evaluation')\n"
        "    import_module('.estimation', __package__)\n"
        "    __import__('nbtoolkit.drift')\n"
        "    importlib.import_module(f'nbtoolkit.{name}')\n"
        "    import os.path, nbtoolkit.errors\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", fake)
    assert upward_imports() == [
        f"contract (data model and results) imports {target} (computation) at line {line}"
        for target, line in [("monitoring", 1), ("pipeline.runner", 2), ("evaluation", 6), ("estimation", 7),
                             ("drift", 8)]]


def test_the_server_imports_no_other_surface():
    """serving/ sits beside the commands, not above them: the server parses no command line (its
    settings are described once in serving/settings.py), so it imports no commands, cli or magics."""
    found = []
    for path in sorted((PACKAGE / "serving").rglob("*.py")):
        module, package = _module_name(path)
        found += [f"{module} imports {target} at line {line}" for target, line in _imports(path, package)
                  if target.split(".")[0] in ("commands", "cli", "magics", "widgets")]
    assert found == []
