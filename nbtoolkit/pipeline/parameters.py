"""Parameters of a pipeline: the checks of names and values, and what each step receives.

As papermill does, a parameter no ``parameters`` cell assigns, or one given to a notebook without
such a cell, is injected with a warning (:class:`ParameterWarning`).
"""

from __future__ import annotations

import keyword
import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import BadInput, did_you_mean

if TYPE_CHECKING:  # pragma: no cover
    from .definition import Pipeline, Step

UPSTREAM = "upstream"
SECRET_ENV_PREFIX = "NBT_SECRET_"


class ParameterWarning(UserWarning):
    """A parameter is passed as papermill would, but maybe not as meant (unknown, no parameters cell)."""


@dataclass(frozen=True)
class Resolved:
    """What one step receives: plain parameters (injected) and secrets (through the env)."""

    parameters: dict[str, Any] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)


def check_values(params: Mapping[str, Any], where: str) -> dict[str, Any]:
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


def check_param_name(name: Any, where: str) -> str:
    if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
        raise BadInput(f"Parameter name {name!r} {where} is not a Python identifier; use letters, digits and '_'.")
    if name == UPSTREAM:
        raise BadInput(f"Parameter name 'upstream' {where} is reserved for the outputs of needed steps.")
    return name


def resolve_parameters(
    pipeline: Pipeline,
    overrides: Mapping[str, Any] | None = None,
    secrets: Mapping[str, Any] | None = None,
) -> dict[str, Resolved]:
    """Per step: pipeline defaults < the step's own parameters < ``overrides`` (``-p``).

    A pipeline-wide default or a ``-p k=v`` goes to the steps whose ``parameters`` cell assigns
    ``k`` (or whose own ``parameters:`` name it); ``-p STEP.k=v`` targets one step. A key that no
    step takes goes to every step, with a :class:`ParameterWarning` (papermill's behaviour).
    Secrets (``secret_parameters:`` and ``--secret``) are resolved the same way but travel through
    the environment.
    """
    if overrides is not None and not isinstance(overrides, Mapping):
        raise BadInput(f"parameters must be a mapping of name -> value, got {type(overrides).__name__}.")
    # checked like the file's own parameters, before any kernel, run folder or MLflow run exists
    overrides = check_values(dict(overrides or {}), "given with -p / parameters=")
    secret_values = dict(secrets or {})
    secret_names = set(pipeline.secret_names) | set(secret_values)
    targeted: dict[str, dict[str, Any]] = {name: {} for name in pipeline.steps}
    plain: dict[str, Any] = {}
    for key, value in overrides.items():
        step_name, dot, param = str(key).rpartition(".")
        if dot:
            if step_name not in pipeline.steps:
                raise BadInput(f"Parameter {key!r} targets step {step_name!r}, which is not a step of "
                               f"{pipeline.name!r}." + did_you_mean(step_name, pipeline.steps, what="Steps"))
            targeted[step_name][check_param_name(param, "given with -p")] = value
        else:
            plain[check_param_name(key, "given with -p")] = value
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
        check_param_name(key, "given as a secret")

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
