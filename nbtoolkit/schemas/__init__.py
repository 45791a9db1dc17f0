"""The published JSON Schemas of nbtoolkit's YAML files, and the check of a document against one.

``pipeline.schema.json`` and ``suite.schema.json`` are generated from the pydantic models
(:mod:`nbtoolkit.pipeline.spec_model`, :mod:`nbtoolkit.evaluation.suite_model`) by
``make schemas``, with ``pipeline_check.py`` / ``suite_check.py``: the same schemas compiled to
plain Python by fastjsonschema. A test fails when a file here differs from its model, and checks
that model and compiled check accept and refuse the same documents. Neither pydantic nor
fastjsonschema is imported at run time: pydantic's import alone costs more than a fully cached
pipeline rerun, and compiling a schema at each start about a tenth of it.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent


def path_of(name: str) -> Path:
    """The published JSON Schema ``name`` ("pipeline" or "suite"), for an editor's $schema line."""
    return HERE / f"{name}.schema.json"


class JsonSchemaValueException(ValueError):
    """Raised by the compiled checks (fastjsonschema's class of that name, same arguments)."""

    def __init__(self, message: str, value: Any = None, name: str | None = None, definition: Any = None,
                 rule: str | None = None) -> None:
        super().__init__(message)
        self.message, self.value, self.name, self.definition, self.rule = message, value, name, definition, rule

    @property
    def path(self) -> list[str]:
        return [p for p in re.split(r"[.\[\]]+", self.name or "") if p]


class JsonSchemaValuesException(ValueError):
    """Imported by the compiled checks (fastjsonschema's class of that name); not raised here."""


@dataclass(frozen=True)
class Problem:
    """The first place where a document breaks its schema."""

    path: tuple[str | int, ...]  # keys and list indexes from the top of the document
    value: Any                   # the value found there
    valid: str                   # what is valid there: the schema's description of that key
    unknown: str | None = None   # an unknown key of the mapping at ``path``
    missing: str | None = None   # a required key the mapping at ``path`` lacks
    known: tuple[str, ...] = ()  # the keys the mapping at ``path`` may have
    rule: str = ""               # the JSON Schema keyword broken (type, oneOf, minItems...)


def problem(document: Any, name: str) -> Problem | None:
    """None when ``document`` follows schema ``name``, else where and how it does not."""
    try:
        importlib.import_module(f"{__name__}.{name}_check").validate(document)
    except JsonSchemaValueException as exc:
        definition = exc.definition if isinstance(exc.definition, dict) else {}
        path = tuple(int(p) if p.isdigit() else p for p in exc.path[1:])  # [0] is 'data'
        known = tuple(definition.get("properties") or ())
        valid = str(definition.get("description") or "")
        unknown = missing = None
        if isinstance(exc.value, dict) and definition.get("additionalProperties") is False:
            # an unknown key first, whatever rule failed: a misspelt key is also a missing one
            unknown = next((str(k) for k in exc.value if k not in known), None)
        if unknown is None and exc.rule == "required" and isinstance(exc.value, dict):
            missing = next((k for k in definition.get("required", ()) if k not in exc.value), None)
            valid = str(definition["properties"].get(missing, {}).get("description") or "") if missing else valid
        return Problem(path, exc.value, valid, unknown, missing, known, str(exc.rule))
    return None
