"""The pipeline file (SPEC §6): load, validate, resolve parameters.

Everything a run needs is checked here, before anything is written: YAML syntax (with its line),
unknown keys, duplicate step names, unknown ``needs``, cycles (named), missing or malformed
notebooks, kernel names and ``cwd:`` folders. As papermill does, a parameter no ``parameters`` cell
assigns, or one given to a notebook without such a cell, is injected with a warning
(:class:`ParameterWarning`). Only the standard library and PyYAML are used: checking the cache of a fully
cached rerun must not import papermill or MLflow.
"""

from __future__ import annotations

import ast
import hashlib
import json
import keyword
import os
import re
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import BadInput, did_you_mean


class ParameterWarning(UserWarning):
    """A parameter is passed as papermill would, but maybe not as meant (unknown, no parameters cell)."""


UPSTREAM = "upstream"
SECRET_ENV_PREFIX = "NBT_SECRET_"
_STEP_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
_TOP_KEYS = ("name", "parameters", "secret_parameters", "steps")
_STEP_KEYS = ("name", "notebook", "parameters", "needs", "timeout", "kernel", "cwd")


@dataclass(frozen=True)
class Step:
    """One step: a notebook, its own parameters and the steps it needs."""

    name: str
    notebook: Path
    notebook_text: str  # as written in the pipeline file, relative to it
    parameters: Mapping[str, Any]
    needs: tuple[str, ...]
    declared: frozenset[str] | None  # names assigned in the 'parameters' cell; None: no such cell
    source_hash: str  # sha256 of the source cells (outputs and execution counts ignored)
    kernel_name: str | None
    timeout: float | None = None
    cwd: Path | None = None  # working directory of the kernel; None: the notebook's folder


@dataclass(frozen=True)
class Pipeline:
    """A validated pipeline file; ``steps`` are in a topological order."""

    name: str
    path: Path
    parameters: Mapping[str, Any]
    secret_names: frozenset[str]
    steps: Mapping[str, Step]

    def dependants(self, names: Iterable[str]) -> set[str]:
        """``names`` and every step that (transitively) needs one of them."""
        out = set(names)
        for step in self.steps.values():  # topological order: needs come first
            if out.intersection(step.needs):
                out.add(step.name)
        return out

    def ancestors(self, names: Iterable[str]) -> set[str]:
        """Every step that one of ``names`` (transitively) needs, ``names`` excluded."""
        out: set[str] = set()
        todo = list(names)
        while todo:
            for need in self.steps[todo.pop()].needs:
                if need not in out:
                    out.add(need)
                    todo.append(need)
        return out


@dataclass(frozen=True)
class Resolved:
    """What one step receives: plain parameters (injected) and secrets (through the env)."""

    parameters: dict[str, Any] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)


# ------------------------------------------------------------------------------------ load
def load_pipeline(path: str | os.PathLike[str]) -> Pipeline:
    """Read and validate a pipeline file; raise :class:`BadInput` with one sentence otherwise."""
    if not isinstance(path, (str, os.PathLike)):
        raise BadInput(f"The pipeline file must be a path, got {type(path).__name__}.")
    path = Path(path).expanduser()
    try:
        found = path.is_file()
    except (OSError, ValueError):  # a name too long for the file system, a NUL byte
        found = False
    if not found:
        raise BadInput(f"Pipeline file {str(path)!r} does not exist; pass the path of a pipeline .yaml file.")
    path = path.resolve()
    data = _read_yaml(path)
    where = path.name
    if not isinstance(data, dict):
        raise BadInput(f"{where} must be a mapping with 'name' and 'steps', got {type(data).__name__}.")
    _check_keys(data, _TOP_KEYS, f"{where}")
    name = data.get("name", path.stem)
    if not isinstance(name, str) or not _STEP_NAME.match(name):
        raise BadInput(f"Invalid pipeline name {name!r} in {where}; use letters, digits, '_', '.', '-'.")
    defaults = _mapping(data.get("parameters"), f"'parameters' in {where}")
    secret_names = data.get("secret_parameters") or []
    if not isinstance(secret_names, list) or not all(isinstance(s, str) for s in secret_names):
        raise BadInput(f"'secret_parameters' in {where} must be a list of parameter names, got {secret_names!r}.")
    for key in [*defaults, *secret_names]:
        _check_param_name(key, f"in {where}")
    _check_values(defaults, f"in {where}")
    raw_steps = data.get("steps")
    if not isinstance(raw_steps, list) or not raw_steps:
        raise BadInput(f"{where} needs a non-empty list under 'steps', got {raw_steps!r}.")
    steps = [_load_step(raw, i, path) for i, raw in enumerate(raw_steps, 1)]
    seen: dict[str, int] = {}
    for i, step in enumerate(steps, 1):
        if step.name in seen:
            raise BadInput(f"Step name {step.name!r} appears twice in {where} (steps {seen[step.name]} and {i}); "
                           "give each step a unique name.")
        seen[step.name] = i
    for step in steps:
        for need in step.needs:
            if need not in seen:
                raise BadInput(f"Step {step.name!r} needs {need!r}, which is not a step of {where}."
                               + did_you_mean(need, seen, what="Steps"))
    ordered = _topological(steps)
    return Pipeline(name=name, path=path, parameters=defaults, secret_names=frozenset(secret_names),
                    steps={s.name: s for s in ordered})


def _read_yaml(path: Path) -> Any:
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"Cannot read pipeline file {str(path)!r} ({exc}).") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise BadInput(f"{path.name} is not valid YAML{at}: {problem}.") from None


def _check_keys(data: Mapping[str, Any], known: tuple[str, ...], where: str) -> None:
    for key in data:
        if key not in known:
            raise BadInput(f"Unknown key {key!r} in {where}." + did_you_mean(str(key), known, what="Known keys"))


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadInput(f"{where} must be a mapping of name: value, got {value!r}.")
    return dict(value)


def _check_values(params: Mapping[str, Any], where: str) -> dict[str, Any]:
    """Parameter values must be JSON-like: they are injected as Python literals and hashed."""
    def ok(value: Any) -> bool:
        if value is None or isinstance(value, (str, bool, int, float)):
            return True
        if isinstance(value, list):
            return all(ok(v) for v in value)
        if isinstance(value, dict):
            return all(isinstance(k, str) and ok(v) for k, v in value.items())
        return False

    for key, value in params.items():
        if not ok(value):
            raise BadInput(f"Parameter {key!r} {where} is a {type(value).__name__} ({value!r}); use numbers, "
                           "strings, booleans, lists or mappings (quote dates and times in YAML).")
    return dict(params)


def _check_param_name(name: Any, where: str) -> str:
    if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
        raise BadInput(f"Parameter name {name!r} {where} is not a Python identifier; use letters, digits and '_'.")
    if name == UPSTREAM:
        raise BadInput(f"Parameter name 'upstream' {where} is reserved for the outputs of needed steps.")
    return name


def _load_step(raw: Any, index: int, pipeline_file: Path) -> Step:
    where = f"step {index} of {pipeline_file.name}"
    if not isinstance(raw, dict):
        raise BadInput(f"{where.capitalize()} must be a mapping with 'name' and 'notebook', got {raw!r}.")
    _check_keys(raw, _STEP_KEYS, where)
    name = raw.get("name")
    if not isinstance(name, str) or not _STEP_NAME.match(name):
        raise BadInput(f"{where.capitalize()} needs a 'name' of letters, digits, '_', '.', '-', got {name!r}.")
    where = f"step {name!r}"
    notebook_text = raw.get("notebook")
    if not isinstance(notebook_text, str) or not notebook_text.strip():
        raise BadInput(f"Step {name!r} needs 'notebook': the path of an .ipynb file, got {notebook_text!r}.")
    params = _mapping(raw.get("parameters"), f"'parameters' of {where}")
    for key in params:
        _check_param_name(key, f"of {where}")
    _check_values(params, f"of {where}")
    needs = raw.get("needs") or []
    if isinstance(needs, str):
        needs = [needs]
    if not isinstance(needs, list) or not all(isinstance(n, str) for n in needs):
        raise BadInput(f"'needs' of {where} must be a list of step names, got {needs!r}.")
    if name in needs:
        raise BadInput(f"Step {name!r} needs itself; remove {name!r} from its 'needs'.")
    timeout = raw.get("timeout")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0):
        raise BadInput(f"'timeout' of {where} must be a positive number of seconds per cell, got {timeout!r}.")
    kernel = raw.get("kernel")
    if kernel is not None and (not isinstance(kernel, str) or not kernel.strip()):
        raise BadInput(f"'kernel' of {where} must be a kernel name such as python3, got {kernel!r}.")
    cwd = _step_cwd(raw.get("cwd"), pipeline_file, where)
    notebook = (pipeline_file.parent / notebook_text).resolve()
    nb = read_notebook(notebook, f"of step {name!r}", shown=notebook_text)
    return Step(name=name, notebook=notebook, notebook_text=notebook_text, parameters=params,
                needs=tuple(dict.fromkeys(needs)), declared=declared_parameters(nb),
                source_hash=source_hash(nb), kernel_name=kernel or _kernel_name(nb),
                timeout=float(timeout) if timeout is not None else None, cwd=cwd)


def _step_cwd(value: Any, pipeline_file: Path, where: str) -> Path | None:
    """``cwd:`` of a step, relative to the pipeline file; it must be an existing folder."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise BadInput(f"'cwd' of {where} must be a folder path, got {value!r}.")
    path = (pipeline_file.parent / os.path.expanduser(value)).resolve()
    if not path.is_dir():
        raise BadInput(f"'cwd' of {where} is {value!r}, which is not a folder (looked for {str(path)!r}).")
    return path


def _topological(steps: list[Step]) -> list[Step]:
    """Kahn's order, stable in file order; a cycle is named ``a -> b -> a``."""
    by_name = {s.name: s for s in steps}
    done: set[str] = set()
    ordered: list[Step] = []
    while len(ordered) < len(steps):
        ready = [s for s in steps if s.name not in done and all(n in done for n in s.needs)]
        if not ready:
            raise BadInput(f"The steps form a cycle: {_find_cycle(by_name, done)}; remove one of these needs.")
        for s in ready:
            done.add(s.name)
            ordered.append(s)
    return ordered


def _find_cycle(by_name: Mapping[str, Step], done: set[str]) -> str:
    start = next(n for n in by_name if n not in done)
    path: list[str] = []
    node = start
    while node not in path:  # every remaining step has an unfinished need: follow one
        path.append(node)
        node = next(n for n in by_name[node].needs if n not in done)
    cycle = path[path.index(node):] + [node]
    return " -> ".join(reversed(cycle))  # read as "a is needed by b", i.e. data flow


# ------------------------------------------------------------------------------- notebooks
def read_notebook(path: Path, where: str = "", *, shown: str | None = None) -> dict[str, Any]:
    """Parse an .ipynb file as JSON (no nbformat: it is slow to import) and check its shape."""
    shown = shown or str(path)
    suffix = f" {where}" if where else ""
    if not path.is_file():
        raise BadInput(f"Notebook {shown!r}{suffix} does not exist (looked for {str(path)!r}).")
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
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


def _kernel_name(nb: Mapping[str, Any]) -> str | None:
    spec = (nb.get("metadata") or {}).get("kernelspec") or {}
    return spec.get("name") if isinstance(spec, dict) else None


def source_hash(nb: Mapping[str, Any]) -> str:
    """sha256 of what the notebook does: cell types, sources and tags, and its kernel."""
    cells = [[c.get("cell_type"), _source(c), sorted(_tags(c))] for c in nb["cells"] if isinstance(c, dict)]
    payload = json.dumps({"kernel": _kernel_name(nb), "cells": cells}, sort_keys=True, ensure_ascii=False)
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


# ------------------------------------------------------------------------------ parameters
def resolve_parameters(
    pipeline: Pipeline,
    overrides: Mapping[str, Any] | None = None,
    secrets: Mapping[str, Any] | None = None,
) -> dict[str, Resolved]:
    """Per step: pipeline defaults < the step's own parameters < ``overrides`` (``-p``).

    A pipeline-wide default or a ``-p k=v`` goes to the steps whose ``parameters`` cell assigns
    ``k`` (or whose own ``parameters:`` name it); ``-p STEP.k=v`` targets one step. A key that no
    step takes goes to every step, with a :class:`ParameterWarning` (papermill's behaviour). Secrets (``secret_parameters:`` and
    ``--secret``) are resolved the same way but travel through the environment.
    """
    if overrides is not None and not isinstance(overrides, Mapping):
        raise BadInput(f"parameters must be a mapping of name -> value, got {type(overrides).__name__}.")
    # checked like the file's own parameters, before any kernel, run folder or MLflow run exists
    overrides = _check_values(dict(overrides or {}), "given with -p / parameters=")
    secret_values = {k: v for k, v in (secrets or {}).items()}
    secret_names = set(pipeline.secret_names) | set(secret_values)
    targeted: dict[str, dict[str, Any]] = {name: {} for name in pipeline.steps}
    plain: dict[str, Any] = {}
    for key, value in overrides.items():
        step_name, dot, param = str(key).rpartition(".")
        if dot:
            if step_name not in pipeline.steps:
                raise BadInput(f"Parameter {key!r} targets step {step_name!r}, which is not a step of "
                               f"{pipeline.name!r}." + did_you_mean(step_name, pipeline.steps, what="Steps"))
            targeted[step_name][_check_param_name(param, "given with -p")] = value
        else:
            plain[_check_param_name(key, "given with -p")] = value
    for key in list(plain):
        if key in secret_names:
            secret_values[key] = plain.pop(key)
    for key in list(pipeline.parameters):
        if key in secret_names and key not in secret_values:
            secret_values[key] = pipeline.parameters[key]
    for key in secret_names - set(secret_values):  # not given: from the environment, else the notebook default
        env = os.environ.get(SECRET_ENV_PREFIX + key.upper())
        if env is not None:
            secret_values[key] = env
    for key in secret_values:
        _check_param_name(key, "given as a secret")

    unknown: set[str] = set()

    def takes(step: Step, key: str) -> bool:
        return key in (step.declared or ()) or key in step.parameters or key in unknown

    known = {k for s in pipeline.steps.values() for k in (*(s.declared or ()), *s.parameters)}
    for key in [*plain, *(k for k in pipeline.parameters if k not in secret_names), *secret_values]:
        if key not in known:  # papermill injects an unknown parameter and warns; so do we (every step)
            unknown.add(key)
            warnings.warn(f"Parameter {key!r} is not assigned in any step's 'parameters' cell; it is "
                          "injected into every step anyway (as papermill does)."
                          + did_you_mean(key, known, what="Parameters"), ParameterWarning, stacklevel=3)
    resolved: dict[str, Resolved] = {}
    for step in pipeline.steps.values():
        params = {k: v for k, v in pipeline.parameters.items() if k not in secret_names and takes(step, k)}
        params.update(step.parameters)
        params.update({k: v for k, v in plain.items() if takes(step, k)})
        params.update(targeted[step.name])
        secret = {k: str(v) for k, v in secret_values.items() if takes(step, k)}
        for k in secret:
            params.pop(k, None)
        if (params or secret or step.needs) and step.declared is None:
            given = sorted(params) + sorted(secret) + (["upstream"] if step.needs else [])
            warnings.warn(f"Step {step.name!r}: notebook {step.notebook_text!r} has no cell tagged "
                          f"'parameters'; {given!r} are injected at the top (as papermill does). Tag the "
                          "cell that assigns the defaults 'parameters' to inject them after it.",
                          ParameterWarning, stacklevel=3)
        resolved[step.name] = Resolved(parameters=params, secrets=secret)
    return resolved
