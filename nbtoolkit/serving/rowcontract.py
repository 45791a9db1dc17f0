"""Which served rows lie outside their version's stored data contract (``nbt/contract.json``).

A row outside the contract is still served — the contract describes the training data, and a new
category or a value past the training range is what monitoring is for — but it is flagged: its
prediction-log row carries the list of what it broke, ``[{"column": ..., "kind": ...}]`` (the
``contract`` column), ``/metrics`` counts ``nbt_contract_violations_total{column,kind}``, and the
share of flagged rows is the alert metric ``contract`` (``contract>0.05``).

Kinds, per row and column: ``unseen_category`` (a label the training data did not have),
``out_of_range`` (a number outside the training data's [min, max]), ``null`` (a missing value in a
column that had none). The contract is read once per served version and compiled into arrays, so
the check of a request is one comparison per value.
"""

from __future__ import annotations

import json
import logging
import math
import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

logger = logging.getLogger("nbtoolkit.serving")

class RowContract:
    """A version's data contract compiled for checking request rows (see the module docstring)."""

    def __init__(self, columns: Mapping[str, Mapping[str, Any]]) -> None:
        self.numeric: list[tuple[str, float | None, float | None, bool]] = []
        self.labels: list[tuple[str, frozenset[str], bool]] = []
        self.other: list[tuple[str, bool]] = []  # only the null rule applies (datetime, text)
        for name, spec in columns.items():
            nullable = bool(spec.get("nullable", True))
            kind = spec.get("kind")
            if kind == "numeric":
                self.numeric.append((str(name), spec.get("min"), spec.get("max"), nullable))
            elif kind in ("categorical", "boolean") and "categories" in spec:
                self.labels.append((str(name), _label_set(spec["categories"]), nullable))
            elif not nullable:
                self.other.append((str(name), nullable))

    @classmethod
    def of(cls, name: str, version: str) -> RowContract | None:
        """The contract stored with ``name/version``, compiled; None when the version has none."""
        from ..errors import NotFound
        from ..registry.artifacts import stored_contract

        try:
            _, text = stored_contract(f"{name}/{version}")
        except NotFound:  # registered without data: nothing to check rows against
            return None
        data = json.loads(text)
        return cls(data.get("columns") or {})

    def check(self, values: Mapping[str, Sequence[Any]], n: int) -> tuple[list[str | None], Counter[tuple[str, str]]]:
        """Per row of a request's columns (``values``: column -> its ``n`` values, as parsed): None, or
        the JSON list of what the row broke; and the count per (column, kind).

        Plain Python over the parsed values: a request is rarely more than a few hundred rows, and
        building pandas objects for each column cost more than the comparisons (0.4 ms a request).
        """
        found: dict[int, list[tuple[str, str]]] = {}
        counts: Counter[tuple[str, str]] = Counter()

        def flag(k: int, column: str, kind: str) -> None:
            counts[(column, kind)] += 1
            found.setdefault(k, []).append((column, kind))

        for column, lo, hi, nullable in self.numeric:
            vals = values.get(column)
            if vals is None:
                continue
            ranged = lo is not None and hi is not None
            low = lo if lo is not None else -math.inf
            high = hi if hi is not None else math.inf
            for k, v in enumerate(vals):
                if v is None or v != v:  # null, or NaN
                    if not nullable:
                        flag(k, column, "null")
                elif ranged and isinstance(v, (int, float)) and not low <= v <= high:
                    flag(k, column, "out_of_range")
        for column, known, nullable in self.labels:
            vals = values.get(column)
            if vals is None:
                continue
            for k, v in enumerate(vals):
                if v is None or (isinstance(v, float) and v != v):
                    if not nullable:
                        flag(k, column, "null")
                    continue
                try:
                    seen = v in known
                except TypeError:  # a list or an object: certainly not a category
                    seen = False
                if not seen:
                    flag(k, column, "unseen_category")
        for column, _ in self.other:
            vals = values.get(column)
            if vals is not None:
                for k, v in enumerate(vals):
                    if v is None or (isinstance(v, float) and v != v):
                        flag(k, column, "null")
        out: list[str | None] = [None] * n
        for k, broken in found.items():
            out[k] = json.dumps([{"column": c, "kind": kind} for c, kind in broken], separators=(",", ":"))
        return out, counts


def _label_set(categories: Any) -> frozenset[str]:
    """The contract keeps categories as text; a request sends ``true`` or ``3`` for ``"True"`` / ``"3"``."""
    import math

    known: set[Any] = set(map(str, categories))
    for text in list(known):
        if text in ("True", "False"):
            known.add(text == "True")
            continue
        try:
            number = float(text)
        except ValueError:
            continue
        if math.isfinite(number):
            known.add(number)  # 3.0 == 3: one entry takes both
    return frozenset(known)


class Contracts:
    """The compiled contract of each served version, read from the registry once per version."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._compiled: dict[str, RowContract | None] = {}
        self._lock = threading.Lock()

    def get(self, version: str) -> RowContract | None:
        """The version's :class:`RowContract` (None: it has no contract, or the registry cannot say now)."""
        if version in self._compiled:
            return self._compiled[version]
        with self._lock:
            if version not in self._compiled:
                from ..errors import NbtError

                try:
                    self._compiled[version] = RowContract.of(self.name, version)
                except NbtError as exc:  # the registry is unreachable: serve unchecked, try again later
                    logger.warning("nbt serve: cannot read the data contract of %s/%s (%s); rows are not "
                                   "checked against it for now.", self.name, version, " ".join(str(exc).split()))
                    return None
                except (ValueError, TypeError, AttributeError) as exc:  # an unreadable contract file
                    logger.warning("nbt serve: the data contract of %s/%s is unreadable (%s); rows are not "
                                   "checked against it.", self.name, version, exc)
                    self._compiled[version] = None
        return self._compiled[version]
