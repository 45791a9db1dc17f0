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

from typing import Any

from .errors import CheckFailed


def assert_no_drift(current: Any, reference: Any = None, *, model: Any = None,
                    max_drifted: int | None = None, **options: Any) -> Any:
    """Fail when ``current`` drifted from the reference (a frame, a Profile or ``model``'s profile).

    By default the dataset verdict decides (``drift_share`` of the columns, 0.5 unless set); with
    ``max_drifted=0`` any drifted column fails. ``options`` go to :func:`nbtoolkit.drift`
    (``columns``, ``method``, ``threshold``, ``drift_share``, ``correction``, ``multivariate``).
    The message lists every drifted column with its test, statistic, p-value and threshold.
    """
    from .drift import drift

    report = drift(current, reference, model=model, **options)
    failed = report.drifted if max_drifted is None else report.n_drifted > max_drifted
    if failed:
        raise CheckFailed(report.failure_message(), report)
    return report


def assert_valid(frame: Any, *, model: str | None = None, reference: Any = None, **options: Any) -> Any:
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
