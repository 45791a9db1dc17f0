"""Evaluation: metrics, slices and edge-case suites; champion vs challenger; confidence thresholds.

``evaluate`` (metrics, per-slice metrics, a named edge-case suite, ``log=True`` for promotion
gates), ``compare`` (paired bootstrap interval, McNemar's exact test, a verdict the
``beats=REF`` gate reads), ``threshold`` / ``save_threshold`` (coverage vs accuracy of
auto-handled predictions; the saved threshold routes low-confidence items to a human), and
``track`` (an MLflow run with scikit-learn autologging). Heavy libraries are imported on use.
"""

from __future__ import annotations

from .comparison import compare, mcnemar_exact, paired_bootstrap
from .evaluator import evaluate
from .suite import Suite
from .thresholds import save_threshold, threshold
from .tracked_runs import track, track_cell

__all__ = ["Suite", "compare", "evaluate", "mcnemar_exact", "paired_bootstrap", "save_threshold",
           "threshold", "track", "track_cell"]
