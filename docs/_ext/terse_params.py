"""Griffe extension for the API reference: read nbtoolkit's docstrings as they are written.

nbtoolkit's numpydoc docstrings keep types in the signature's annotations and write a parameter as
``name : what it is`` (a description on the name's line), which numpydoc would take for a type.
Before griffe parses a docstring this extension moves such a text under the name (a real type —
``DataFrame``, ``str, optional`` — stays), does the same for ``Raises`` items (``BadInput : when``),
starts a ``Notes`` section where a free paragraph follows the items of a section (numpydoc has
no place for it there; griffe would read its first words as parameter names), and shows Sphinx
roles (``:func:`load```, ``:class:`~nbtoolkit.errors.BadInput```) as code, as a reader of the
source sees them (a relative ``.formats`` cannot be resolved into a link).
"""

from __future__ import annotations

import re
from typing import Any

import griffe

ITEM_SECTIONS = {"Parameters", "Other Parameters", "Attributes", "Raises", "Warns"}
ALL_SECTIONS = ITEM_SECTIONS | {"Returns", "Yields", "Receives", "See Also", "Notes", "References",
                                "Examples", "Warnings", "Methods", "Functions", "Classes", "Modules"}
TYPE_WORDS = {"str", "int", "float", "bool", "bytes", "optional", "or", "of", "None", "list", "dict", "tuple",
              "set", "callable", "default", "Any", "sequence", "mapping", "iterable"}
NAMES = r"\*{0,2}[A-Za-z_][\w]*(?:\s*,\s*\*{0,2}[A-Za-z_][\w]*)*"
ITEM = re.compile(rf"^({NAMES})(?:\s+:\s+(.*))?$")


def is_type(text: str) -> bool:
    """``DataFrame``, ``str, optional``, ``Contract or None`` — not ``registered model name``."""
    if "`" in text or "(" in text or len(text) > 40:
        return False
    tokens = [t for t in re.split(r"[\s,|\[\]]+", text) if t]
    return bool(tokens) and all(t in TYPE_WORDS or t[0].isupper() or "." in t for t in tokens)


ROLE = re.compile(r":(?:func|meth|class|mod|attr|data|exc|obj|const):`~?([^`]+)`")


def role_as_code(match: re.Match) -> str:
    target = match.group(1)
    shown = target.rsplit(".", 1)[-1] if match.group(0).split("`")[1].startswith("~") else target
    return f"``{shown}``"


def rewrite(doc: str) -> str:
    lines = ROLE.sub(role_as_code, doc).splitlines()
    out: list[str] = []
    section = None
    previous_blank = False
    i = 0
    while i < len(lines):
        line = lines[i]
        underline = i + 1 < len(lines) and re.fullmatch(r"-{3,}", lines[i + 1].strip() or "x")
        if line.strip() in ALL_SECTIONS and underline and not line.startswith(" "):
            section = line.strip()
            out += [line, lines[i + 1]]
            i += 2
            previous_blank = False
            continue
        if section in ITEM_SECTIONS and line and not line.startswith(" "):
            match = ITEM.match(line)
            if match is None and previous_blank:
                out += ["Notes", "-----"]  # a free paragraph after the items
                section = "Notes"
            elif match is not None and match.group(2) and not is_type(match.group(2).strip()):
                out += [match.group(1), "    " + match.group(2).strip()]
                i += 1
                previous_blank = False
                continue
        out.append(line)
        previous_blank = not line.strip()
        i += 1
    return "\n".join(out)


class TerseParams(griffe.Extension):
    """Rewrite every docstring as described in the module docstring, before it is parsed."""

    def on_instance(self, *, node: Any, obj: griffe.Object, agent: Any, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = rewrite(obj.docstring.value)
