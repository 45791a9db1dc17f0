"""Model references: ``NAME`` (latest), ``NAME/3`` (version 3), ``NAME@champion`` (alias)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import BadInput
from .validation import MAX_NAME

_NAME = r"[A-Za-z0-9][A-Za-z0-9_.\-]*"
_REF = re.compile(rf"^(?P<name>{_NAME})(?:/(?P<version>\d+)|@(?P<alias>[A-Za-z_][A-Za-z0-9_\-]*))?$")
NAME_RE = re.compile(rf"^{_NAME}$")


@dataclass(frozen=True)
class ModelRef:
    name: str
    version: str | None = None
    alias: str | None = None

    def __str__(self) -> str:
        if self.version:
            return f"{self.name}/{self.version}"
        if self.alias:
            return f"{self.name}@{self.alias}"
        return self.name


def parse_ref(ref: str | ModelRef) -> ModelRef:
    """Parse ``NAME``, ``NAME/3`` or ``NAME@alias``; raise :class:`BadInput` otherwise."""
    if isinstance(ref, ModelRef):
        return ref
    text = str(ref).strip()
    if len(text) > MAX_NAME + 40:
        raise BadInput(f"Model reference {text[:60]!r}... is {len(text)} characters long; names have at "
                       f"most {MAX_NAME}.")
    m = _REF.match(text)
    if not m:
        raise BadInput(
            f"Malformed model reference {ref!r}; use NAME (latest version), NAME/3 (version 3) "
            "or NAME@alias (e.g. tickets@champion)."
        )
    return ModelRef(m["name"], m["version"], m["alias"])


def check_name(name: str, *, what: str = "model name") -> str:
    if isinstance(name, str) and len(name) > MAX_NAME:  # MLflow keeps names in VARCHAR(256) columns
        raise BadInput(f"The {what} {name[:60]!r}... is {len(name)} characters long; use at most {MAX_NAME}.")
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise BadInput(
            f"Invalid {what} {name!r}; use letters, digits, '_', '.', '-' and start with a letter "
            "or digit."
        )
    return name


def check_alias(alias: str) -> str:
    if isinstance(alias, str) and len(alias) > MAX_NAME:  # MLflow: at most 255 characters
        raise BadInput(f"The alias {alias[:60]!r}... is {len(alias)} characters long; use at most {MAX_NAME}.")
    if not isinstance(alias, str) or not re.match(r"^[A-Za-z_][A-Za-z0-9_\-]*$", alias) or (
        re.match(r"^v\d+$", alias) or alias == "latest"
    ):
        raise BadInput(
            f"Invalid alias {alias!r}; use a word such as 'champion' or 'challenger' "
            "('latest' and 'v<number>' are reserved by MLflow)."
        )
    return alias
