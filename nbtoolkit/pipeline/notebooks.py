"""Reading a step's notebook without nbformat: its shape, source hash, kernel and parameters cell."""

from __future__ import annotations

import ast
import hashlib
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import BadInput


def read_notebook(path: Path, where: str = "", *, shown: str | None = None) -> dict[str, Any]:
    """Parse an .ipynb file as JSON (no nbformat: it is slow to import) and check its shape."""
    shown = shown or str(path)
    suffix = f" {where}" if where else ""
    try:
        found = path.is_file()
    except (OSError, ValueError):  # a name too long for the file system, a NUL byte
        found = False
    if not found:
        raise BadInput(f"Notebook {shown!r}{suffix} does not exist (looked for {str(path)!r}).")
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:  # unreadable (permissions), or a folder named *.ipynb
        raise BadInput(f"Cannot read notebook {shown!r}{suffix} ({exc.strerror or exc}).") from None
    except UnicodeDecodeError:
        raise BadInput(f"Notebook {shown!r}{suffix} is not UTF-8 text; is it really an .ipynb file?") from None
    except json.JSONDecodeError as exc:
        raise BadInput(f"Notebook {shown!r}{suffix} is not valid JSON (line {exc.lineno}, column {exc.colno}: "
                       f"{exc.msg}); open and save it in Jupyter to repair it.") from None
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise BadInput(f"Notebook {shown!r}{suffix} has no 'cells' list; is it really an .ipynb file?")
    return nb


def _source(cell: Mapping[str, Any]) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def _tags(cell: Mapping[str, Any]) -> list[str]:
    tags = (cell.get("metadata") or {}).get("tags") or []
    return [str(t) for t in tags] if isinstance(tags, list) else []


def kernel_name(nb: Mapping[str, Any]) -> str | None:
    spec = (nb.get("metadata") or {}).get("kernelspec") or {}
    return spec.get("name") if isinstance(spec, dict) else None


def jupyter_kernel(name: str | None) -> str | None:
    """The kernelspec ``name`` starts, as jupyter_client resolves it for papermill: ``python`` is
    the native ``python3`` (``KernelManager``) and names are looked up lower-cased
    (``KernelSpecManager.get_kernel_spec``), so VS Code's ``python`` and ``PYTHON3`` both run."""
    if not isinstance(name, str):
        return name
    return "python3" if name == "python" else name.lower()


def source_hash(nb: Mapping[str, Any]) -> str:
    """sha256 of what the notebook does: cell types, sources and tags, and its kernel."""
    cells = [[c.get("cell_type"), _source(c), sorted(_tags(c))] for c in nb["cells"] if isinstance(c, dict)]
    payload = json.dumps({"kernel": kernel_name(nb), "cells": cells}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()


def declared_parameters(nb: Mapping[str, Any]) -> frozenset[str] | None:
    """Names assigned in the first cell tagged ``parameters``; None when there is no such cell."""
    for cell in nb["cells"]:
        if isinstance(cell, dict) and "parameters" in _tags(cell):
            return frozenset(_assigned_names(_source(cell)))
    return None


def _assigned_names(source: str) -> set[str]:
    try:
        tree = ast.parse(source)
    except SyntaxError:  # IPython syntax (magics) in the cell: fall back to a line scan
        return set(re.findall(r"^([A-Za-z_]\w*)\s*(?::[^=\n]*)?=(?!=)", source, flags=re.M))
    names: set[str] = set()
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else (
            [node.target] if isinstance(node, (ast.AnnAssign, ast.AugAssign)) else [])
        for target in targets:
            for sub in ast.walk(target):
                if isinstance(sub, ast.Name):
                    names.add(sub.id)
    return names
