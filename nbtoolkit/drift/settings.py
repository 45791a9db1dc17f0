"""How drift tests columns: the per-column method and threshold (checked once, with defaults) and
how the dataset verdict is reached (share of drifted columns, p-value correction), as one frozen
:class:`Settings` that :func:`.engine.drift` passes to its three modes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import BadInput
from ..validation import fraction, number
from ..profiles import stats
from ..profiles.methods import P_VALUE_METHODS, check_method
from .columns import compare_column

if TYPE_CHECKING:  # pragma: no cover
    from ..reports.drift import DriftColumn, DriftReport

CORRECTIONS = ("none", "bonferroni", "holm", "fdr_bh")
DEFAULT_SHARE = 0.5


@dataclass(frozen=True)
class Settings:
    """How each column is tested (per-column method and threshold, with defaults) and how the
    dataset verdict is reached (share of drifted columns, p-value correction)."""

    methods: Mapping[str, str]
    default_method: str
    thresholds: Mapping[str, float]
    default_threshold: float | None
    share: float
    correction: str | None

    def compare(self, name: str, ref: dict[str, Any], cur: dict[str, Any], *, raw: Any = None,
                label: str | None = None) -> DriftColumn:
        """One column's row (see :func:`.columns.compare_column`)."""
        return compare_column(name, ref, cur, method=self.methods.get(name, self.default_method),
                              explicit=name in self.methods,
                              threshold=self.thresholds.get(name, self.default_threshold), raw=raw, label=label)

    def report(self, rows: list[DriftColumn], **describe: Any) -> DriftReport:
        """The report over ``rows``, p-values adjusted first when a correction is set."""
        from ..reports.drift import DriftReport

        return DriftReport(_corrected(rows, self.correction), drift_share=self.share, correction=self.correction,
                           **describe)

    @classmethod
    def from_arguments(cls, method: Any, threshold: Any, drift_share: float | None,
                       correction: str | None) -> Settings:
        """Check drift()'s arguments once; defaults from ``%config Nbt.drift_share``."""
        from .. import config

        methods, default_method = _methods(method)
        thresholds, default_threshold = _thresholds(threshold, methods, default_method)
        correction = _correction(correction)
        share = drift_share if drift_share is not None else config.drift_threshold()
        share = DEFAULT_SHARE if share is None else fraction(share, "drift_share", zero=False,
                                                             hint=" (e.g. 0.5: half the columns)")
        return cls(methods, default_method, thresholds, default_threshold, share, correction)


def _methods(method: Any) -> tuple[dict[str, str], str]:
    per = dict(method) if isinstance(method, Mapping) else {}
    default = per.pop("*", "auto") if per else (method or "auto")
    for col, m in [("*", default), *per.items()]:
        check_method(m, None if col == "*" else col)
    return per, default


def _thresholds(threshold: Any, methods: Mapping[str, str] | None = None,
                default_method: str = "auto") -> tuple[dict[str, float], float | None]:
    """Thresholds as floats: positive and finite; below 1 where the column's test gives a p-value."""
    per = dict(threshold) if isinstance(threshold, Mapping) else {}
    default = per.pop("*", None) if per else threshold
    checked: dict[str, float] = {}
    for col, value in [("*", default), *per.items()]:
        if value is None and col == "*":
            continue
        where = f" for column {col!r}" if col != "*" else ""
        method = (methods or {}).get(col, default_method)
        if method in P_VALUE_METHODS:  # a p-value: 1.5 would flag every column
            checked[col] = number(value, f"Drift threshold{where}", low=0, high=1, low_open=True,
                                  high_open=True, hint=f" ({method} gives a p-value; e.g. 0.05)")
        else:
            checked[col] = number(value, f"Drift threshold{where}", low=0, low_open=True)
    default = checked.pop("*", None)
    return checked, default


def _correction(correction: str | None) -> str | None:
    if correction in (None, "", "none"):
        return None
    if correction not in CORRECTIONS:
        raise BadInput(f"Unknown correction {correction!r}; use one of {', '.join(CORRECTIONS)}.")
    return correction


def _corrected(rows: list[DriftColumn], correction: str | None) -> list[DriftColumn]:
    """``rows`` with the p-values of the p-value tests adjusted across columns (and the verdicts
    they give) when a correction is set."""
    tested = [(i, r.p_value, r.threshold) for i, r in enumerate(rows)
              if r.method in P_VALUE_METHODS and r.p_value is not None and r.threshold is not None]
    if not correction or not tested:
        return rows
    from dataclasses import replace

    rows = list(rows)
    adjusted = stats.adjust([p for _, p, _ in tested], correction)
    for (i, _, threshold), p in zip(tested, adjusted):
        note = f"{correction}-adjusted p"
        rows[i] = replace(rows[i], p_value=p, drifted=p < threshold,
                          note=f"{rows[i].note}; {note}" if rows[i].note else note)
    return rows
