"""ThresholdReport: coverage vs accuracy of auto-handled predictions per confidence threshold
(what :func:`nbtoolkit.threshold` computes and the threshold explorer widget shows)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .base import Result
from .base import html_table

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure


class ThresholdReport(Result):
    """Coverage vs accuracy of auto-handled predictions, one row per candidate threshold.

    ``table`` columns: threshold, coverage (share auto-handled), accuracy (on the auto-handled),
    human_share, n_auto. ``chosen`` is the lowest threshold reaching ``target_accuracy``.
    """

    def __init__(self, *, model: str, ref: str | None, table: dict[str, Any], chosen: float | None,
                 target_accuracy: float | None, confidence: Any, correct: Any,
                 saver: Any = None) -> None:
        import numpy as np

        self.model, self.ref = model, ref
        # evaluation.save_threshold, handed in by threshold(): a report describes, it does not
        # know the registry (and importing it here made an import circle)
        self._saver = saver
        self._table = table
        self.chosen = chosen
        self.target_accuracy = target_accuracy
        order = np.argsort(confidence, kind="stable")
        self._conf = np.asarray(confidence)[order]   # sorted, for exact .at(t)
        self._hits = np.concatenate([[0], np.cumsum(np.asarray(correct)[order])])
        self.saved = False

    @property
    def table(self) -> Any:
        """The full table as a DataFrame (one row per candidate threshold)."""
        import pandas as pd

        return pd.DataFrame(self._table)

    @property
    def n(self) -> int:
        return len(self._conf)

    @property
    def passed(self) -> bool:
        """True when a target was given and some threshold reaches it."""
        return self.chosen is not None

    @property
    def best_accuracy(self) -> float:
        import numpy as np

        acc = np.asarray(self._table["accuracy"], dtype="float64")
        return float(np.nanmax(acc)) if np.isfinite(acc).any() else float("nan")

    def at(self, threshold: float) -> dict[str, Any]:
        """Exact coverage / accuracy / human share / n_auto at any threshold (e.g. a slider)."""
        import numpy as np

        first = int(np.searchsorted(self._conf, float(threshold), side="left"))
        n_auto = self.n - first
        correct = int(self._hits[-1] - self._hits[first])
        return {"threshold": float(threshold), "coverage": n_auto / self.n,
                "accuracy": correct / n_auto if n_auto else float("nan"),
                "human_share": 1 - n_auto / self.n, "n_auto": n_auto}

    def save(self, value: float | None = None) -> Any:
        """Store ``value`` (default: the chosen threshold) on the version as ``nbt.threshold``."""
        from ..errors import BadInput

        value = self.chosen if value is None else value
        if value is None:
            raise BadInput("No threshold chosen; pass a value, e.g. report.save(0.7).")
        if self.ref is None:
            raise BadInput(f"{self.model} is not a registered version; nothing to save the threshold on.")
        if self._saver is None:
            raise BadInput("This threshold report was not made by nbtoolkit.threshold; call "
                           "nbtoolkit.evaluation.save_threshold(REF, value).")
        mv = self._saver(self.ref, value)
        self.saved = True
        return mv

    def to_dict(self) -> dict[str, Any]:
        frame = self.table
        rows = [{k: (None if isinstance(v, float) and v != v else v) for k, v in r.items()}
                for r in frame.to_dict("records")]
        return {"model": self.model, "ref": self.ref, "n": self.n, "target_accuracy": self.target_accuracy,
                "chosen": self.chosen, "at_chosen": self.at(self.chosen) if self.chosen is not None else None,
                "saved": self.saved, "table": rows}

    def to_frame(self) -> pd.DataFrame:
        return self.table

    def summary(self) -> str:
        head = f"Confidence thresholds for {self.model} ({self.n:,} rows)"
        if self.target_accuracy is None:
            return head
        if self.chosen is None:
            return (f"{head}: no threshold reaches accuracy {self.target_accuracy:g} "
                    f"(best {self.best_accuracy:.4g}); route everything to a human or improve the model")
        row = self.at(self.chosen)
        return (f"{head}: threshold {self.chosen:g} reaches accuracy {row['accuracy']:.4g} ≥ "
                f"{self.target_accuracy:g} on {row['coverage']:.1%} auto-handled; {row['human_share']:.1%} "
                "to a human" + ("; saved as nbt.threshold" if self.saved else ""))

    def __str__(self) -> str:
        frame = self.table
        show = frame.iloc[::10] if len(frame) > 30 else frame
        return f"{self.summary()}\n{show.to_string(index=False)}"

    def _repr_html_(self) -> str:
        frame = self.table
        show = frame.iloc[::5] if len(frame) > 40 else frame
        chosen = self.chosen
        from .render import result

        def tone(r: pd.Series) -> str:  # the chosen threshold's row
            return "good" if chosen is not None and abs(r["threshold"] - chosen) < 1e-12 else ""

        return result("", tables=[(self.summary(), html_table(show, tone=tone))])

    def plot(self, marker: float | None = None) -> Figure:
        """Coverage, auto-handled accuracy and human share by threshold; marker at ``marker``
        (default: the chosen threshold)."""
        from . import evaluation_plots as plots

        return plots.threshold_curve(self, marker)
