"""The pipeline file (SPEC §6): load and validate.

Everything a run needs is checked here, before anything is written: YAML syntax (with its line),
the file's shape against its published JSON Schema (``nbtoolkit/schemas/pipeline.schema.json``,
generated from :mod:`.spec_model`: unknown keys, types, limits), then what a schema cannot say:
duplicate step names, unknown ``needs``, cycles (named), parameter names, missing or malformed
notebooks and ``cwd:`` folders. Parameters and notebooks are read in :mod:`.parameters` and
:mod:`.notebooks` (re-exported here). Only the standard library and PyYAML are imported (the
schema check is generated Python, :mod:`nbtoolkit.schemas`): checking the cache of a fully cached
rerun must not import papermill, MLflow or pydantic.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from ..errors import BadInput, did_you_mean
from .definition import Partitions, Pipeline, Step, Trigger
from .notebooks import declared_parameters, jupyter_kernel, kernel_name, read_notebook, source_hash
from .parameters import (
    SECRET_ENV_PREFIX,
    UPSTREAM,
    ParameterWarning,
    Resolved,
    check_param_name,
    check_values,
    resolve_parameters,
)

__all__ = ["SECRET_ENV_PREFIX", "UPSTREAM", "ParameterWarning", "Pipeline", "Resolved", "Step",
           "declared_parameters", "load_pipeline", "read_notebook", "resolve_parameters", "source_hash"]

_STEP_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


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
    if True in data and "on" not in data:  # YAML 1.1 reads an unquoted `on:` key as the boolean true
        data["on"] = data.pop(True)
    _check_shape(data, where)
    defaults = dict(data.get("parameters") or {})
    secret_names = list(data.get("secret_parameters") or [])
    for key in [*defaults, *secret_names]:
        check_param_name(key, f"in {where}")
    check_values(defaults, f"in {where}")  # also what JSON Schema cannot see: YAML's non-string keys
    steps = [_load_step(raw, path) for raw in data["steps"]]
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
    return Pipeline(name=data.get("name") or _name_from_file(path), path=path, parameters=defaults,
                    secret_names=frozenset(secret_names), steps={s.name: s for s in _topological(steps)},
                    partitions=_partitions(data.get("partitions"), where),
                    triggers=_triggers(data.get("on"), path, where))


def _partitions(raw: dict[str, Any] | None, where: str) -> Partitions | None:
    """``partitions:`` beyond its schema: exactly one source, and a file pattern that names the key."""
    if raw is None:
        return None
    key, source, sql = raw["key"], raw.get("source"), raw.get("sql")
    if (source is None) == (sql is None):
        raise BadInput(f"'partitions' in {where} needs either 'source' (a file pattern such as "
                       f"data/{key}={{{key}}}/*.parquet) or 'sql' (url, table, column), not "
                       f"{'both' if source else 'neither'}.")
    if source is not None:
        holes = re.findall(r"\{([^{}]*)\}", source)
        if holes != [key]:
            raise BadInput(f"'source' of partitions in {where} is {source!r}, which must name the key "
                           f"{{{key}}} once (and no other braces), e.g. data/{key}={{{key}}}/*.parquet.")
        if os.path.isabs(source) or ".." in Path(source).parts:
            raise BadInput(f"'source' of partitions in {where} is {source!r}; give a pattern inside the "
                           "pipeline's folder, relative to the pipeline file.")
    return Partitions(key=key, source=source, sql=dict(sql) if sql is not None else None)


def _triggers(raw: list[dict[str, Any]] | None, pipeline_file: Path, where: str) -> tuple[Trigger, ...]:
    """``on:`` beyond its schema: one condition per trigger, a rule that parses, a file that exists."""
    from ..monitoring.alerts import AlertRule

    out = []
    for i, rule in enumerate(raw or (), 1):
        alert, outcomes = rule.get("alert"), rule.get("outcomes")
        if (alert is None) == (outcomes is None):
            raise BadInput(f"Trigger {i} in {where} needs either 'alert' (a rule such as drift_share>0.3) or "
                           f"'outcomes' (a number of corrected outcomes), not {'both' if alert else 'neither'}.")
        if alert is not None:
            AlertRule.parse(alert)  # one line naming the metric when it is unknown
        for key in ("window", "cooldown"):
            if outcomes is not None and rule.get(key) is not None:
                raise BadInput(f"Trigger {i} in {where} counts outcomes, which have no {key!r} (they fire once per "
                               "serving version); remove it.")
        window, cooldown = rule.get("window") or "1D", rule.get("cooldown")
        if alert is not None:
            from ..monitoring.monitor import parse_window

            parse_window(window)
            if cooldown is not None:
                from ..validation import duration

                duration(cooldown, f"cooldown of trigger {i} in {where}")
        run = _file_path(rule["run"], pipeline_file, "run", f"trigger {i} in {where}")
        if not run.is_file():
            raise BadInput(f"Trigger {i} in {where} runs {rule['run']!r}, which does not exist; give the path of a "
                           f"pipeline file relative to {pipeline_file.name}.")
        if run.suffix not in (".yaml", ".yml"):
            raise BadInput(f"Trigger {i} in {where} runs {rule['run']!r}, which is not a pipeline .yaml file.")
        out.append(Trigger(model=rule["model"], run=run, run_text=rule["run"], alert=alert, outcomes=outcomes,
                           window=window, cooldown=cooldown))
    return tuple(out)


def _name_from_file(path: Path) -> str:
    """A pipeline without ``name:`` is named after its file, when that name can be a folder of ``runs/``."""
    from ..validation import path_name

    try:
        return path_name(path.stem, "pipeline name")
    except BadInput:
        raise BadInput(f"Pipeline file {path.name!r} has no 'name:', and {path.stem!r} (its file name) cannot name the "
                       "pipeline's folder under runs/; add a line such as 'name: my-pipeline'.") from None


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


def _check_shape(data: dict[str, Any], where: str) -> None:
    """The file against its JSON Schema; the first problem as one sentence naming the step and key."""
    from ..schemas import problem

    found = problem(data, "pipeline")
    if found is None:
        return
    place, of, rest = where, "in", found.path
    if len(rest) >= 2 and rest[0] == "steps" and isinstance(rest[1], int):
        raw = data["steps"][rest[1]]
        named = isinstance(raw, dict) and isinstance(raw.get("name"), str) and _STEP_NAME.fullmatch(raw["name"])
        place, of, rest = (f"step {raw['name']!r}" if named else f"step {rest[1] + 1} of {where}"), "of", rest[2:]
        if not rest and not isinstance(raw, dict):
            raise BadInput(f"{place.capitalize()} must be a mapping with 'name' and 'notebook', got {raw!r}.")
    if found.unknown is not None:
        raise BadInput(f"Unknown key {found.unknown!r} in {place}."
                       + did_you_mean(found.unknown, found.known, what="Known keys"))
    if found.missing is not None:
        raise BadInput(f"{place[0].upper() + place[1:]} needs {found.missing!r}: {found.valid}.")
    key = rest[0] if rest else None
    if key == "parameters" and isinstance(found.value, dict):
        check_values(found.value, f"{of} {place}")  # names the parameter and its value
    raise BadInput(f"'{key}' {of} {place} must be {found.valid}, got {found.value!r}.")


def _load_step(raw: dict[str, Any], pipeline_file: Path) -> Step:
    name, notebook_text = raw["name"], raw["notebook"]
    params = dict(raw.get("parameters") or {})
    for key in params:
        check_param_name(key, f"of step {name!r}")
    check_values(params, f"of step {name!r}")
    needs = raw.get("needs") or []
    needs = [needs] if isinstance(needs, str) else needs
    if name in needs:
        raise BadInput(f"Step {name!r} needs itself; remove {name!r} from its 'needs'.")
    timeout, kernel = raw.get("timeout"), raw.get("kernel")
    cwd = _step_cwd(raw.get("cwd"), pipeline_file, f"step {name!r}")
    notebook = _file_path(notebook_text, pipeline_file, "notebook", f"step {name!r}")
    nb = read_notebook(notebook, f"of step {name!r}", shown=notebook_text)
    return Step(name=name, notebook=notebook, notebook_text=notebook_text, parameters=params,
                needs=tuple(dict.fromkeys(needs)), declared=declared_parameters(nb),
                source_hash=source_hash(nb), kernel_name=jupyter_kernel(kernel or kernel_name(nb)),
                timeout=float(timeout) if timeout is not None else None, cwd=cwd)


def _step_cwd(value: Any, pipeline_file: Path, where: str) -> Path | None:
    """``cwd:`` of a step, relative to the pipeline file; it must be an existing folder."""
    if value is None:
        return None
    path = _file_path(value, pipeline_file, "cwd", where)
    if not path.is_dir():
        raise BadInput(f"'cwd' of {where} is {value!r}, which is not a folder (looked for {str(path)!r}).")
    return path


def _file_path(value: str, pipeline_file: Path, key: str, where: str) -> Path:
    """``value`` (a path in the pipeline file) relative to the file's folder, resolved."""
    from ..validation import shown

    problem = "holds a NUL byte" if "\0" in value else None
    if problem is None:
        try:
            return (pipeline_file.parent / os.path.expanduser(value)).resolve()
        except (OSError, ValueError, RuntimeError) as exc:  # too long for the file system, a symlink loop
            problem = f"is not a usable path ({exc})"
    raise BadInput(f"'{key}' of {where} is {shown(value)}, which {problem}; give a path relative to "
                   f"{pipeline_file.name}.")


def _topological(steps: list[Step]) -> list[Step]:
    """graphlib's order, taken a layer at a time in file order; a cycle is named ``a -> b -> a``."""
    from graphlib import CycleError, TopologicalSorter

    by_name = {s.name: s for s in steps}
    position = {s.name: i for i, s in enumerate(steps)}
    sorter = TopologicalSorter({s.name: s.needs for s in steps})
    try:
        sorter.prepare()
    except CycleError as exc:  # each node is needed by the next: read as data flow
        raise BadInput(f"The steps form a cycle: {' -> '.join(exc.args[1])}; remove one of these needs.") from None
    ordered: list[Step] = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready(), key=position.__getitem__)
        ordered += [by_name[n] for n in ready]
        sorter.done(*ready)
    return ordered
