"""Label-free performance estimation (confidence-based, as NannyML's CBPE) per chunk of data.

::

    estimate      engine.py       per-chunk expected metrics, sampling-error band, alert limits
    Calibrator    calibration.py  per-class isotonic calibration on a labelled reference (JSON)
    calibrate     stored.py       fit a calibrator for a registered version and store it with it
    metrics       metrics.py      expected / realised metrics and their standard errors
    method=shift  shift.py        per chunk, the reference reweighted by a domain classifier (ESS, auto)
    no proba      regression.py   a regressor's metrics from expected losses (as NannyML's DLE)
    LossModel     losstree.py     the expected losses: regression trees on inputs binned once

Heavy libraries (pandas, scikit-learn, MLflow) are imported inside the functions that use them.
"""

from .calibration import Calibrator
from .engine import estimate
from .stored import calibrate, stored_calibrator

__all__ = ["Calibrator", "calibrate", "estimate", "stored_calibrator"]
