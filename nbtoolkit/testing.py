"""Assertions for a project's own pytest suite: data drift and data contracts.

::

    from nbtoolkit.testing import assert_no_drift, assert_valid

    def test_live_data_has_not_drifted():
        assert_no_drift(load_live_batch(), model="tickets@champion")

Both raise ``AssertionError`` (a :class:`~nbtoolkit.errors.CheckFailed`, which carries the full
report as ``.report``) with a
readable message listing what failed, and return the report when the check passes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import BadInput, CheckFailed

if TYPE_CHECKING:
    from .reports.drift import DriftReport
    from .reports.data import ValidationReport


def assert_no_drift(current: Any, reference: Any = None, *, model: Any = None,
                    max_drifted: int | None = None, **options: Any) -> DriftReport:
    """Fail when ``current`` drifted from the reference (a frame, a Profile or ``model``'s profile).

    By default the dataset verdict decides (``drift_share`` of the columns, 0.5 unless set); with
    ``max_drifted=0`` any drifted column fails. ``options`` go to :func:`nbtoolkit.drift`
    (``columns``, ``method``, ``threshold``, ``drift_share``, ``correction``, ``multivariate``).
    The message lists every drifted column with its test, statistic, p-value and threshold.
    """
    from .drift import drift
    from .reports.drift import DriftReport

    report = drift(current, reference, model=model, **options)
    if not isinstance(report, DriftReport):  # chunk_size=, window=, threshold="reference": over time
        raise BadInput(f"assert_no_drift compares two data sets; the options {sorted(options)!r} ask for drift "
                       "over time: call nbtoolkit.drift(...) and check its timeline instead.")
    failed = report.drifted if max_drifted is None else report.n_drifted > max_drifted
    if failed:
        raise CheckFailed(report.failure_message(), report)
    return report


def assert_valid(frame: Any, *, model: str | None = None, reference: Any = None,
                 **options: Any) -> ValidationReport:
    """Fail when ``frame`` breaks its data contract (``model``'s stored one or ``reference``'s).

    ``options`` go to :func:`nbtoolkit.validate` (``max_age``, ``timestamp``, ``null_tolerance``,
    ``range_tolerance``, ``contract``). The message lists every error: column, check, expected
    and observed values.
    """
    from .conformance import validate

    report = validate(frame, model=model, reference=reference, **options)
    if not report.passed:
        raise CheckFailed(report.failure_message(), report)
    return report
