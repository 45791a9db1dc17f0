"""``record(name, value)``: a step output, handed back to the pipeline through the notebook.

The value is published as display data with the MIME type ``application/vnd.nbtoolkit.record+json``;
papermill stores it in the executed notebook, where the orchestrator reads it back (and then
passes it to the steps that need this one as ``upstream[step][name]``). Values must be JSON: small
results (metrics, counts, paths, lists, dicts) — write data frames to a file and record its path.

Nothing heavy is imported: the display goes through the running IPython shell if there is one,
and the value is logged on the active MLflow run only when MLflow is already in use.
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
import warnings
from typing import TYPE_CHECKING, Any

from ..errors import BadInput
from .task import RECORD_MIME

if TYPE_CHECKING:  # pragma: no cover
    from ..reports.pipeline import Recorded

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")


def record(name: str, value: Any) -> Recorded:
    """Record ``value`` as the output ``name`` of the running notebook.

    Parameters
    ----------
    name : str
        Output name; steps that need this one read it as ``upstream["<step>"]["<name>"]``.
    value : JSON-compatible value
        A number, string, bool, None, or a list / dict of those (NumPy scalars and arrays are
        converted). Scalars are also logged on the active MLflow run, if there is one.

    Returns
    -------
    Recorded
        ``.name`` and ``.value`` (the JSON form that the pipeline will see).
    """
    if not isinstance(name, str) or not _NAME.fullmatch(name):  # match() allows "out\n"
        raise BadInput(f"Invalid output name {name!r}; use letters, digits, '_', '.', '-' and start with a "
                       "letter or '_'.")
    from ..reports.pipeline import Recorded

    plain = _to_json(value, name)
    rec = Recorded(name=name, value=plain, pipeline_run=os.environ.get("NBT_PIPELINE_RUN_ID"))
    _publish(rec)
    _log_to_active_mlflow_run(name, plain)
    return rec


def _to_json(value: Any, name: str) -> Any:
    def default(obj: Any) -> Any:
        if hasattr(obj, "tolist") and hasattr(obj, "dtype"):  # numpy scalars and arrays
            return obj.tolist()
        if isinstance(obj, os.PathLike):
            return os.fspath(obj)
        if isinstance(obj, (set, frozenset, tuple)):
            return list(obj)
        raise TypeError(type(obj).__name__)

    try:
        text = json.dumps(value, default=default, allow_nan=False, ensure_ascii=False)
    except TypeError as exc:
        raise BadInput(f"Cannot record {name!r}: a {exc} is not JSON; record numbers, strings, lists or dicts "
                       "(write a data frame to a file and record its path).") from None
    except ValueError:
        raise BadInput(f"Cannot record {name!r}: it contains NaN or infinity, which JSON cannot hold; "
                       "record None or a finite number instead.") from None
    return json.loads(text)


def _publish(rec: Recorded) -> None:
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is None:
        return
    shell.display_pub.publish(data={
        RECORD_MIME: {"name": rec.name, "value": rec.value},
        "text/plain": rec.summary(),
    }, metadata={})


def _log_to_active_mlflow_run(name: str, value: Any) -> None:
    mlflow = sys.modules.get("mlflow")
    if mlflow is None or isinstance(value, (list, dict)) or value is None:
        return
    try:
        if mlflow.active_run() is None:
            return
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            mlflow.log_metric(name, float(value))
        else:
            mlflow.log_param(name, str(value)[:6000])
    except Exception as exc:  # the value is recorded either way; MLflow is a bonus here
        warnings.warn(f"Recorded {name!r} but could not log it to MLflow: {exc}", stacklevel=3)
