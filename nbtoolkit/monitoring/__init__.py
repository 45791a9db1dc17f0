"""Production side of a model: prediction log, champion/challenger deployment, monitoring, A/B.

::

    PredictionLog   log.py         every served prediction, its confidence, routing and outcome
    Deployment      deployment.py  stable-hash canary routing, saved confidence threshold, logging
    monitor         monitor.py     windows, label-free accuracy estimate, drift, alert rules, sinks
    abtest          abtest.py      champion vs challenger on logged traffic with outcomes
    quality         data_quality.py missing / unseen / out-of-range rates and summary statistics per chunk

Heavy libraries (SQLAlchemy, pandas, scipy, MLflow) are imported inside the functions that use them.
"""

from .abtest import abtest
from .deployment import Deployment
from .log import PredictionLog
from .alerts import AlertRule
from .data_quality import quality
from .monitor import monitor, parse_window

__all__ = ["AlertRule", "Deployment", "PredictionLog", "abtest", "monitor", "parse_window", "quality"]
