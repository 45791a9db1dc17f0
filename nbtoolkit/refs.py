"""Model references: ``NAME`` (latest), ``NAME/3`` (version 3), ``NAME@champion`` (alias)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import BadInput
from .validation import MAX_NAME

# Matched with fullmatch: ``$`` would also accept one newline before the end ("nm2\n"), and
# ``\d`` every Unicode digit.
_NAME = r"[A-Za-z0-9][A-Za-z0-9_.\-]*"
_ALIAS = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*")
_REF = re.compile(rf"(?P<name>{_NAME})(?:/(?P<version>[0-9]+)|@(?P<alias>{_ALIAS.pattern}))?")
NAME_RE = re.compile(_NAME)
MAX_VERSION = 2**31 - 1  # MLflow keeps version numbers in 32-bit integer columns


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
    m = _REF.fullmatch(text)
    if not m:
        raise BadInput(
            f"Malformed model reference {ref!r}; use NAME (latest version), NAME/3 (version 3) "
            "or NAME@alias (e.g. tickets@champion)."
        )
    version = check_version(m["version"], ref=text) if m["version"] is not None else None
    return ModelRef(m["name"], version, m["alias"])


def check_version(version: str | int, *, ref: str | None = None) -> str:
    """``version`` as MLflow's text for it (``"3"``): a whole number from 1 to :data:`MAX_VERSION`."""
    text = str(version).strip() if isinstance(version, (str, int)) and not isinstance(version, bool) else None
    where = f" in {ref!r}" if ref else ""
    if text is None or not re.fullmatch(r"[0-9]+", text):
        raise BadInput(f"Version {version!r}{where} is not a version number; use a whole number "
                       f"such as 3 (from 1 to {MAX_VERSION}).")
    if len(text.lstrip("0")) > 10 or not 1 <= int(text) <= MAX_VERSION:
        raise BadInput(f"Version {text}{where} is out of range; versions are whole numbers from 1 "
                       f"to {MAX_VERSION}.")
    return str(int(text))


def check_name(name: str, *, what: str = "model name") -> str:
    if isinstance(name, str) and len(name) > MAX_NAME:  # MLflow keeps names in VARCHAR(256) columns
        raise BadInput(f"The {what} {name[:60]!r}... is {len(name)} characters long; use at most {MAX_NAME}.")
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise BadInput(
            f"Invalid {what} {name!r}; use letters, digits, '_', '.', '-' and start with a letter "
            "or digit."
        )
    return name


def check_alias(alias: str) -> str:
    if isinstance(alias, str) and len(alias) > MAX_NAME:  # MLflow: at most 255 characters
        raise BadInput(f"The alias {alias[:60]!r}... is {len(alias)} characters long; use at most {MAX_NAME}.")
    if not isinstance(alias, str) or not _ALIAS.fullmatch(alias) or (
        re.fullmatch(r"v[0-9]+", alias) or alias == "latest"
    ):
        raise BadInput(
            f"Invalid alias {alias!r}; use a word such as 'champion' or 'challenger' "
            "('latest' and 'v<number>' are reserved by MLflow)."
        )
    return alias
