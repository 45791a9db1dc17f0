"""Which served rows lie outside their version's stored data contract (``nbt/contract.json``).

A row outside the contract is still served — the contract describes the training data, and a new
category or a value past the training range is what monitoring is for — but it is flagged: its
prediction-log row carries the list of what it broke, ``[{"column": ..., "kind": ...}]`` (the
``contract`` column), ``/metrics`` counts ``nbt_contract_violations_total{column,kind}``, and the
share of flagged rows is the alert metric ``contract`` (``contract>0.05``).

Kinds, per row and column: ``unseen_category`` (a label the training data did not have),
``out_of_range`` (a number outside the training data's [min, max]), ``null`` (a missing value in a
column that had none). The contract is read once per served version and compiled into arrays, so
the check of a request is a few vectorised comparisons per column.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import Counter
from collections.abc import Mapping
from typing import Any

logger = logging.getLogger("nbtoolkit.serving")

KINDS = ("unseen_category", "out_of_range", "null")


class RowContract:
    """A version's data contract compiled for checking request rows (see the module docstring)."""

    def __init__(self, columns: Mapping[str, Mapping[str, Any]]) -> None:
        self.numeric: list[tuple[str, float | None, float | None, bool]] = []
        self.labels: list[tuple[str, frozenset, bool]] = []
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

    def check(self, frame: Any) -> tuple[list[str | None], Counter]:
        """Per row of ``frame``: None, or the JSON list of what it broke; and the count per (column, kind)."""
        import numpy as np

        n = len(frame)
        found: dict[int, list[tuple[str, str]]] = {}
        counts: Counter = Counter()

        def flag(column: str, kind: str, mask: Any) -> None:
            rows = np.flatnonzero(mask)
            if len(rows):
                counts[(column, kind)] += len(rows)
                for k in rows.tolist():
                    found.setdefault(k, []).append((column, kind))

        present = set(frame.columns)
        for column, lo, hi, nullable in self.numeric:
            if column not in present:
                continue
            try:
                values = frame[column].to_numpy(dtype="float64", na_value=np.nan)
            except (TypeError, ValueError):  # not numbers at all: the signature let text through
                continue
            missing = np.isnan(values)
            if not nullable:
                flag(column, "null", missing)
            if lo is not None and hi is not None:
                with np.errstate(invalid="ignore"):
                    flag(column, "out_of_range", ~missing & ((values < lo) | (values > hi)))
        for column, known, nullable in self.labels:
            if column not in present:
                continue
            s = frame[column]
            missing = s.isna().to_numpy()
            if not nullable:
                flag(column, "null", missing)
            flag(column, "unseen_category", ~missing & ~s.isin(known).to_numpy())
        for column, _ in self.other:
            if column in present:
                flag(column, "null", frame[column].isna().to_numpy())
        out: list[str | None] = [None] * n
        for k, broken in found.items():
            out[k] = json.dumps([{"column": c, "kind": kind} for c, kind in broken], separators=(",", ":"))
        return out, counts


def _label_set(categories: Any) -> frozenset:
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
