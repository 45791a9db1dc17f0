"""Result objects of evaluation: metrics, suites, comparisons, tracked runs (the threshold
explorer's report is in :mod:`.threshold`, re-exported here).

They hold what was computed and render it; plots are drawn on demand (``.plot(kind=...)``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .base import Result, html_table
from .threshold import ThresholdReport

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    from matplotlib.figure import Figure

__all__ = ["ComparisonReport", "EvaluationReport", "SuiteReport", "ThresholdReport", "TrackedRun"]



def _f(v: Any) -> str:
    return "n/a" if v is None else f"{v:.4g}" if isinstance(v, float) else str(v)


def _section(title: str, frame: pd.DataFrame, tone: Callable[[pd.Series], str] | None = None) -> str:
    """A titled table; ``tone(row)`` marks rows (``bad``, ``good``)."""
    from .render import result

    return result("", tables=[(title, html_table(frame, tone=tone))])


class SuiteReport(Result):
    """Results of an edge-case suite: one row per (case, expectation); ``.passed`` if all hold."""

    def __init__(self, name: str, rows: list[dict[str, Any]]) -> None:
        self.name = name
        self.rows = rows

    @property
    def passed(self) -> bool:
        return all(r["passed"] for r in self.rows)

    @property
    def cases(self) -> dict[str, bool]:
        """Case name → passed (every expectation of the case held)."""
        out: dict[str, bool] = {}
        for r in self.rows:
            out[r["case"]] = out.get(r["case"], True) and r["passed"]
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "passed": self.passed, "cases": self.cases, "results": self.rows}

    def to_frame(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame(self.rows, columns=["case", "line", "n", "expectation", "observed", "passed", "note"])

    def summary(self) -> str:
        cases = self.cases
        ok = sum(cases.values())
        failed = [c for c, v in cases.items() if not v]
        tail = f"; failed: {', '.join(failed)}" if failed else ""
        return f"Suite {self.name!r}: {ok}/{len(cases)} cases passed{tail}"

    def _repr_html_(self) -> str:
        return _section(self.summary(), self.to_frame(), lambda r: "good" if r["passed"] else "bad")


class EvaluationReport(Result):
    """Metrics of one model on one dataset, per class, per slice, and an edge-case suite."""

    def __init__(self, *, model: str, ref: str | None, task: str, metrics: dict[str, float | None],
                 per_class: list[dict[str, Any]], confusion: np.ndarray | None, slices: list[dict[str, Any]],
                 suite: SuiteReport | None, predictions: Any) -> None:
        self.model, self.ref, self.task = model, ref, task
        self.metrics = metrics
        self.per_class = per_class
        self.confusion = confusion
        self.slices = slices
        self.suite = suite
        self.predictions = predictions  # kept for the plots
        self.logged = False

    @property
    def n(self) -> int:
        return int(self.predictions.n)

    @property
    def passed(self) -> bool:
        """True when every edge-case suite expectation held (True without a suite)."""
        return self.suite.passed if self.suite is not None else True

    @property
    def primary_metric(self) -> str:
        return "accuracy" if self.task == "classification" else "rmse"

    @property
    def worst_slices(self) -> list[dict[str, Any]]:
        return [r for r in self.slices if r.get("worst")]

    def loggable_metrics(self) -> dict[str, float]:
        """Scalar metrics for the version's run (what ``promote --require`` reads)."""
        out = {k: float(v) for k, v in self.metrics.items() if v is not None}
        scores = [r[self.primary_metric] for r in self.worst_slices if r.get(self.primary_metric) is not None]
        if scores:
            out[f"worst_slice_{self.primary_metric}"] = float(
                min(scores) if self.task == "classification" else max(scores))
        if self.suite is not None:
            cases = self.suite.cases
            out["suite_pass_rate"] = sum(cases.values()) / len(cases)
            out["suite_passed"] = float(self.suite.passed)
        return out

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"model": self.model, "ref": self.ref, "task": self.task, "n": self.n,
                               "metrics": self.metrics, "passed": self.passed, "logged": self.logged}
        if self.task == "classification" and self.confusion is not None:  # a classifier's report has one
            out["per_class"] = self.per_class
            out["confusion_matrix"] = {"labels": [c["class"] for c in self.per_class],
                                       "matrix": self.confusion.tolist()}
        out["slices"] = self.slices
        out["suite"] = self.suite.to_dict() if self.suite is not None else None
        return out

    def to_frame(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame({"metric": list(self.metrics), "value": list(self.metrics.values())})

    def per_class_frame(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame(self.per_class, columns=["class", "precision", "recall", "f1", "support"])

    def confusion_frame(self) -> pd.DataFrame:
        import pandas as pd

        labels = [c["class"] for c in self.per_class]
        return pd.DataFrame(self.confusion, index=pd.Index(labels, name="true"),
                            columns=pd.Index(labels, name="predicted"))

    def slices_frame(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame(self.slices)

    def summary(self) -> str:
        kind = (f"{len(self.per_class)} classes" if self.task == "classification" else "regression")
        head = (f"Evaluation of {self.model} ({kind}, {self.n:,} rows): {self.primary_metric} "
                f"{_f(self.metrics.get(self.primary_metric))}")
        for r in self.worst_slices:
            head += (f"; worst {r['column']}={r['value']} "
                     f"({self.primary_metric} {_f(r.get(self.primary_metric))}, n={r['n']})")
        if self.suite is not None:
            head += f"; {self.suite.summary()}"
        return head + ("; logged" if self.logged else "")

    def __str__(self) -> str:
        parts = [self.summary(), self.to_frame().to_string(index=False)]
        if self.per_class:
            parts += ["", "Per class:", self.per_class_frame().to_string(index=False)]
        if self.slices:
            parts += ["", "Per slice (* worst):", self.slices_frame().assign(
                worst=lambda f: f["worst"].map({True: "*", False: ""})).to_string(index=False)]
        if self.suite is not None:
            parts += ["", str(self.suite)]
        return "\n".join(parts)

    def _repr_html_(self) -> str:
        from .render import result

        tables = [("", html_table(self.to_frame()))]
        if self.per_class:
            tables += [("Per class", html_table(self.per_class_frame())),
                       ("Confusion matrix (rows: true, columns: predicted)",
                        html_table(self.confusion_frame().reset_index()))]
        if self.slices:
            tables.append(("Per slice (worst highlighted)",
                           html_table(self.slices_frame(), tone=lambda r: "bad" if r["worst"] else "")))
        return result(self.summary(), tables=tables,
                      after=self.suite._repr_html_() if self.suite is not None else "")

    def plot(self, kind: str | None = None, **kwargs: Any) -> Figure:
        """A matplotlib Figure: ``confusion``, ``roc``, ``pr``, ``calibration``, ``slices``
        (classifiers) or ``residuals``, ``slices`` (regressors)."""
        from ..errors import Arg, BadInput, say
        from . import evaluation_plots as plots

        kinds = ({"confusion", "roc", "pr", "calibration", "slices"} if self.task == "classification"
                 else {"residuals", "slices"})
        kind = kind or ("confusion" if self.task == "classification" else "residuals")
        if kind not in kinds:
            raise BadInput(f"No {kind!r} plot for a {self.task} model; choose one of {', '.join(sorted(kinds))}.")
        if kind in {"roc", "pr", "calibration"} and not self.predictions.has_proba:
            raise BadInput(f"A {kind} plot needs predicted probabilities; {self.model} has no predict_proba.")
        if kind == "slices" and not self.slices:
            raise BadInput(say("No slices to plot; evaluate with ", Arg("slices", "[...]"), "."))
        return getattr(plots, kind)(self, **kwargs)


class ComparisonReport(Result):
    """Model A vs model B on the same rows: metrics side by side, interval, McNemar, verdict."""

    def __init__(self, *, a: str, b: str, a_ref: str | None, b_ref: str | None, task: str, n: int,
                 metric: str, metrics: list[dict[str, Any]], difference: float, ci: tuple[float, float],
                 confidence: float, n_resamples: int, seed: int | None, mcnemar: dict[str, Any] | None,
                 verdict: str, bootstrap: np.ndarray) -> None:
        self.a, self.b, self.a_ref, self.b_ref = a, b, a_ref, b_ref
        self.task, self.n, self.metric = task, n, metric
        self.metrics = metrics
        self.difference, self.ci, self.confidence = difference, ci, confidence
        self.n_resamples, self.seed = n_resamples, seed
        self.mcnemar = mcnemar
        self.verdict = verdict
        self.bootstrap = bootstrap
        self.logged: str | None = None

    @property
    def b_better(self) -> bool:
        return self.verdict == "B better"

    @property
    def passed(self) -> bool:
        """True unless B is significantly worse than A."""
        return self.verdict != "B worse"

    def to_dict(self) -> dict[str, Any]:
        return {"a": self.a, "b": self.b, "a_ref": self.a_ref, "b_ref": self.b_ref, "task": self.task,
                "n": self.n, "metric": self.metric, "metrics": self.metrics, "difference": self.difference,
                "ci": list(self.ci), "confidence": self.confidence, "n_resamples": self.n_resamples,
                "seed": self.seed, "mcnemar": self.mcnemar, "verdict": self.verdict, "logged": self.logged}

    def to_frame(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame(self.metrics, columns=["metric", "A", "B", "difference"])

    def summary(self) -> str:
        low, high = self.ci
        text = (f"{self.verdict}: A={self.a} vs B={self.b} on {self.n:,} rows; {self.metric} B−A "
                f"{self.difference:+.4g} ({self.confidence:.0%} CI {low:+.4g} … {high:+.4g}, "
                f"{self.n_resamples} paired bootstrap resamples)")
        if self.mcnemar is not None:
            m = self.mcnemar
            text += (f"; McNemar exact p={m['p_value']:.4g} (only A right {m['only_a_correct']}, "
                     f"only B right {m['only_b_correct']})")
        return text + (f"; logged as {self.logged}" if self.logged else "")

    def plot(self, kind: str = "bootstrap") -> Figure:
        """The bootstrap distribution of B − A with the interval."""
        from . import evaluation_plots as plots

        return plots.bootstrap(self)


class TrackedRun(Result):
    """An MLflow run made by ``%%nbt track``: id, status, params and metrics autologged."""

    def __init__(self, *, run_id: str, experiment_id: str, name: str | None, parent_run_id: str | None) -> None:
        self.run_id, self.experiment_id, self.name = run_id, experiment_id, name
        self.parent_run_id = parent_run_id
        self.status = "RUNNING"
        self.duration_s: float | None = None
        self.params: dict[str, str] = {}
        self.metrics: dict[str, float] = {}
        self.registered: Any = None  # the RegisteredVersion of %%nbt track --register

    def finish(self, status: str, duration_s: float, *, params: dict[str, str] | None = None,
               metrics: dict[str, float] | None = None) -> None:
        """Record how the run ended (``track`` reads the params and metrics from MLflow)."""
        self.status, self.duration_s = status, duration_s
        self.params, self.metrics = dict(params or {}), dict(metrics or {})

    def to_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "experiment_id": self.experiment_id, "name": self.name,
                "parent_run_id": self.parent_run_id, "status": self.status, "duration_s": self.duration_s,
                "params": self.params, "metrics": self.metrics,
                "registered": self.registered.ref if self.registered is not None else None}

    def to_frame(self) -> pd.DataFrame:
        import pandas as pd

        rows: list[dict[str, Any]] = [{"kind": "param", "key": k, "value": v} for k, v in sorted(self.params.items())]
        rows += [{"kind": "metric", "key": k, "value": v} for k, v in sorted(self.metrics.items())]
        return pd.DataFrame(rows, columns=["kind", "key", "value"])

    def summary(self) -> str:
        nested = f", nested in {self.parent_run_id}" if self.parent_run_id else ""
        took = f" in {self.duration_s:.2f}s" if self.duration_s is not None else ""
        return (f"MLflow run {self.name or self.run_id} {self.status}{took}{nested}: "
                f"{len(self.params)} params, {len(self.metrics)} metrics"
                + (f"; registered {self.registered.ref}" if self.registered is not None else ""))
