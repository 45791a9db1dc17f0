"""Named edge-case suites: rows chosen by a pandas query or given literally, with expectations.

A suite file::

    name: ticket edge cases
    cases:
      - name: refunds are billing
        query: "text.str.contains('refund')"      # rows of X (``label`` names the truth y)
        expect: {accuracy: ">= 0.9", predicts: billing}
      - name: gibberish goes to a human
        rows: [{text: "asdf qwer", channel: email}]
        expect: ["confidence < 0.6", "max_latency_ms: 50"]

Expectations: any metric (``accuracy >= 0.9``; a bare number means "at least" for scores and
"at most" for losses), ``predicts: LABEL`` (every selected row), ``confidence OP x`` (every
selected row's top probability), ``max_latency_ms: N`` (slowest single-row prediction).
Literal rows need ``labels: [...]`` (or ``label: X``) for metric expectations.
"""

from __future__ import annotations

import contextlib
import functools
import operator
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import BadInput, did_you_mean
from . import metrics as M
from .inputs import Model, Predictions, predict

OPS = {">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt, "==": operator.eq}
_EXPR = re.compile(r"^\s*(?P<key>[A-Za-z_][\w]*)\s*(?P<op>>=|<=|==|>|<|:)\s*(?P<value>.+?)\s*$")
SPECIAL = {"predicts", "confidence", "max_latency_ms"}
LATENCY_ROWS = 100   # single-row predictions timed per case (each best of 3)


@dataclass
class Expectation:
    key: str          # a metric name, "predicts", "confidence" or "max_latency_ms"
    op: str
    value: Any

    def __str__(self) -> str:
        if self.key == "predicts":
            return f"predicts: {self.value}"
        return f"{self.key} {self.op} {self.value:g}"


@dataclass
class Case:
    name: str
    line: int
    query: str | None = None
    rows: list[Any] | None = None
    labels: list[Any] | None = None
    expect: list[Expectation] = field(default_factory=list)

    def where(self, source: str) -> str:
        return f"{source} line {self.line} (case {self.name!r})"


@dataclass
class Suite:
    name: str
    cases: list[Case]
    source: str = "<suite>"

    @classmethod
    def load(cls, suite: Any) -> Suite:
        """A suite from a YAML file path, YAML text or an already-parsed dict."""
        if isinstance(suite, Suite):
            return suite
        if isinstance(suite, dict):
            return cls._from_data(suite, "<suite>")
        path = Path(str(suite))
        if isinstance(suite, str) and "\n" in suite:
            return cls._from_data(_parse_yaml(suite, "<suite>"), "<suite>")
        from ..validation import existing_file

        path = existing_file(suite, "suite file (YAML)")
        return cls._from_data(_parse_yaml(path.read_text(), path.name), path.name)

    @classmethod
    def _from_data(cls, data: Any, source: str) -> Suite:
        lines = _pop_lines(data)
        _check_shape(data, lines, source)
        cases = [_case(c, i, lines[i - 1], source) for i, c in enumerate(data["cases"], 1)]
        names = [c.name for c in cases]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise BadInput(f"Suite {source} has duplicate case names {dup!r}; name each case once.")
        return cls(str(data.get("name") or Path(source).stem), cases, source)


def _pop_lines(data: Any) -> list[int]:
    """Take the ``__line__`` keys the loader added out of ``data``; the line of each case (0: unknown)."""
    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            value.pop("__line__", None)
            for v in value.values():
                strip(v)
        elif isinstance(value, list):
            for v in value:
                strip(v)
        return value

    cases = data.get("cases") if isinstance(data, dict) else None
    lines = [c.get("__line__", 0) if isinstance(c, dict) else 0 for c in cases] if isinstance(cases, list) else []
    strip(data)
    return lines


def _check_shape(data: Any, lines: list[int], source: str) -> None:
    """The suite against its JSON Schema; the first problem as one sentence naming the case and key."""
    from ..schemas import problem

    if not isinstance(data, dict):
        raise BadInput(f"Suite {source} must be a mapping with a non-empty 'cases' list.")
    found = problem(data, "suite")
    if found is None:
        return
    if found.path[:1] != ("cases",) or len(found.path) == 1:  # the suite itself, not one case
        if found.unknown is not None:
            raise BadInput(f"Suite {source}: unknown key {found.unknown!r}."
                           + did_you_mean(found.unknown, found.known, what="Keys"))
        if found.path[:1] in (("name",), ("description",)):
            raise BadInput(f"Suite {source}: {found.path[0]!r} must be {found.valid}, got {found.value!r}.")
        raise BadInput(f"Suite {source} must be a mapping with a non-empty 'cases' list.")
    index = found.path[1]
    assert isinstance(index, int)  # the position in the 'cases' list
    raw = data["cases"][index]
    if not isinstance(raw, dict):
        raise BadInput(f"Suite {source}: case {index + 1} must be a mapping with name, query or rows, "
                       f"and expect; got {raw!r}.")
    name = raw.get("name") if isinstance(raw.get("name"), str) else None
    at = Case(name=name or f"case {index + 1}", line=lines[index]).where(source)
    if found.unknown is not None:
        raise BadInput(f"{at}: unknown key {found.unknown!r}." + did_you_mean(found.unknown, found.known, what="Keys"))
    if found.rule == "oneOf" and len(found.path) == 2:
        raise BadInput(f"{at}: give exactly one of 'query' (a pandas query on X) or 'rows' (literal inputs).")
    if found.missing is not None:
        raise BadInput(f"{at}: needs {found.missing!r}: {found.valid}.")
    key = found.path[2] if len(found.path) > 2 else "case"
    value = raw.get(key, raw) if isinstance(key, str) else raw
    raise BadInput(f"{at}: {key!r} must be {found.valid}, got {value!r}.")


@functools.cache
def _line_loader() -> Any:
    """A ``yaml.SafeLoader`` that records the line of every mapping (for error messages)."""
    import yaml

    class Loader(yaml.SafeLoader):
        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            mapping = super().construct_mapping(node, deep=deep)
            mapping["__line__"] = node.start_mark.line + 1
            return mapping

    return Loader


def _parse_yaml(text: str, source: str) -> Any:
    import yaml

    try:
        return yaml.load(text, Loader=_line_loader())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise BadInput(f"Suite {source}{where}: YAML error: {problem}; fix the file's syntax.") from None


def _case(raw: dict[str, Any], index: int, line: int, source: str) -> Case:
    """A case whose shape the schema has checked: what is left are the rules between its keys."""
    case = Case(name=str(raw.get("name") or f"case {index}"), line=line)
    at = case.where(source)
    if "query" in raw:
        case.query = raw["query"]
    else:
        rows = raw["rows"]
        case.rows = list(rows)
        if "labels" in raw:
            if len(raw["labels"]) != len(rows):
                raise BadInput(f"{at}: 'labels' must be a list with one label per row ({len(rows)}).")
            case.labels = list(raw["labels"])
        elif "label" in raw:
            case.labels = [raw["label"]] * len(rows)
    case.expect = _expectations(raw["expect"], at)
    for e in case.expect:
        if e.key in M.METRICS and case.rows is not None and case.labels is None:
            raise BadInput(f"{at}: expectation '{e}' needs the true labels of the rows; add 'labels: [...]'.")
    return case


def _expectations(raw: Any, at: str) -> list[Expectation]:
    items: list[tuple[str, Any]] = []
    if isinstance(raw, dict):
        items = list(raw.items())
    elif isinstance(raw, list):
        for item in raw:
            if isinstance(item, dict):
                items += list(item.items())
            elif isinstance(item, str) and (m := _EXPR.match(item)):
                op = m["op"]
                items.append((m["key"], m["value"] if op == ":" else f"{op} {m['value']}"))
            else:
                raise BadInput(f"{at}: cannot read expectation {item!r}; write e.g. 'accuracy >= 0.9' "
                               "or 'predicts: billing'.")
    elif raw is not None:
        raise BadInput(f"{at}: 'expect' must be a mapping or a list, got {raw!r}.")
    if not items:
        raise BadInput(f"{at}: no expectations; add e.g. expect: {{accuracy: '>= 0.9'}} or predicts: LABEL.")
    return [_expectation(str(k), v, at) for k, v in items]


def _expectation(key: str, value: Any, at: str) -> Expectation:
    if key == "predicts":
        return Expectation(key, "==", value)
    if key not in M.METRICS and key not in SPECIAL:
        raise BadInput(f"{at}: unknown metric {key!r}."
                       + did_you_mean(key, [*M.METRICS, *SPECIAL], what="Known"))
    default_op = "<=" if key == "max_latency_ms" or (key in M.METRICS and not M.METRICS[key].higher_is_better) else ">="
    op, number = default_op, value
    if isinstance(value, str):
        m = re.match(r"^\s*(>=|<=|==|>|<)?\s*(\S+)\s*$", value)
        if not m:
            raise BadInput(f"{at}: cannot read {key}: {value!r}; write e.g. '>= 0.9'.")
        op, number = m[1] or default_op, m[2]
    try:
        number = float(number)
    except (TypeError, ValueError):
        raise BadInput(f"{at}: {key} must be compared with a number, got {value!r}.") from None
    if key == "max_latency_ms" and op not in {"<=", "<"}:
        raise BadInput(f"{at}: max_latency_ms is an upper bound; write max_latency_ms: {number:g}.")
    return Expectation(key, op, number)


# ----------------------------------------------------------------------------------- running
def run_suite(suite: Suite, model: Model, X: Any, y: Any, p: Predictions) -> list[dict[str, Any]]:
    """One row per (case, expectation) with what was observed; checks every case before running."""
    import numpy as np

    selections = [_select(case, suite, model, X, y, p) for case in suite.cases]
    rows = []
    for case, (sub, frame) in zip(suite.cases, selections, strict=True):
        for e in case.expect:
            observed, note = _observe(e, case, suite, model, sub, frame)
            # predicts: every selected row
            ok = (observed == 1.0 if e.key == "predicts"
                  else observed is not None and bool(OPS[e.op](observed, e.value)))
            rows.append({
                "case": case.name, "line": case.line, "n": int(sub.n), "expectation": str(e),
                "observed": None if observed is None else float(np.round(observed, 6)),
                "passed": ok, "note": note,
            })
    return rows


def _select(case: Case, suite: Suite, model: Model, X: Any, y: Any, p: Predictions) -> tuple[Predictions, Any]:
    import numpy as np
    import pandas as pd

    at = case.where(suite.source)
    needs_proba = any(e.key == "confidence" or M.METRICS.get(e.key, M.METRICS["accuracy"]).needs_proba
                      for e in case.expect)
    if needs_proba and not p.has_proba and p.task == "classification":
        raise BadInput(f"{at}: needs predicted probabilities but {model.label} has no predict_proba.")
    for e in case.expect:
        if e.key in M.METRICS:
            M.check_metric_names([e.key], task=p.task, has_proba=p.has_proba,
                                 n_classes=len(p.classes) if p.classes is not None else 0, label=model.label)
        if e.key in {"predicts", "confidence"} and p.task != "classification":
            raise BadInput(f"{at}: '{e.key}' applies to classifiers; {model.label} is a regressor.")
        if e.key == "predicts":
            e.value = _class_of(e.value, p.classes, at)
    if case.query is not None:
        if not isinstance(X, pd.DataFrame):
            raise BadInput(f"{at}: a query needs X as a DataFrame with column names.")
        truth = pd.Series(p.y_true, index=X.index, name="label")
        try:
            mask = X.eval(case.query, resolvers=({"label": truth},) if "label" not in X.columns else ())
        except Exception as exc:  # pandas raises many types for a bad query
            raise BadInput(f"{at}: malformed query {case.query!r} ({type(exc).__name__}: "
                           f"{str(exc).splitlines()[0] if str(exc) else ''}); use pandas query syntax "
                           "on the columns of X (and 'label' for y).") from None
        mask = np.asarray(mask)
        if mask.dtype != bool or mask.shape != (len(X),):
            raise BadInput(f"{at}: query {case.query!r} must give True/False per row, got {mask.dtype}.")
        rows = np.flatnonzero(mask)
        return p.take(rows), (X.iloc[rows] if isinstance(X, pd.DataFrame) else X[rows])
    frame = _literal_frame(case, X, at)
    labels = case.labels if case.labels is not None else [p.classes[0] if p.classes is not None else 0.0] * len(frame)
    sub = predict(model, frame, np.asarray(labels, dtype=object if p.task == "classification" else float))
    return sub, frame


def _class_of(value: Any, classes: Any, at: str) -> Any:
    for c in classes:
        if c == value or str(c) == str(value):
            return c
    raise BadInput(f"{at}: predicts {value!r} is not a class of the model."
                   + did_you_mean(str(value), [str(c) for c in classes], what="Classes"))


def _literal_frame(case: Case, X: Any, at: str) -> Any:
    """Literal rows as the model's input: a DataFrame with X's columns and dtypes, or an array."""
    import numpy as np
    import pandas as pd

    if not isinstance(X, pd.DataFrame):
        try:
            return np.asarray(case.rows, dtype=X.dtype)
        except (TypeError, ValueError) as exc:
            raise BadInput(f"{at}: rows must be lists of {X.shape[1]} values ({exc}).") from None
    rows = case.rows or []
    if not all(isinstance(r, dict) for r in rows):
        raise BadInput(f"{at}: rows must be mappings of column to value, e.g. {{text: 'refund please'}}.")
    columns = [str(c) for c in X.columns]
    extra = sorted({k for r in rows for k in r} - set(columns))
    if extra:
        raise BadInput(f"{at}: rows name column {extra[0]!r}, which X does not have."
                       + did_you_mean(str(extra[0]), columns, what="Columns"))
    frame = pd.DataFrame(rows).reindex(columns=list(X.columns))
    for col in X.columns:
        # missing values in a column of ints, etc.: keep pandas' inferred type
        with contextlib.suppress(TypeError, ValueError):
            frame[col] = frame[col].astype(X[col].dtype)
    return frame


def _observe(e: Expectation, case: Case, suite: Suite, model: Model, sub: Predictions,
             frame: Any) -> tuple[float | None, str]:
    import numpy as np

    if sub.n == 0:
        return None, "no rows selected"
    if e.key == "predicts":
        share = float(np.mean(sub.y_pred == e.value))
        return share, "" if share == 1.0 else f"{share:.0%} of rows predicted {e.value!r}"
    if e.key == "confidence":
        conf = sub.confidence
        return float(conf.min() if e.op in {">=", ">"} else conf.max()), ""
    if e.key == "max_latency_ms":
        return _latency_ms(model, frame), f"slowest of {min(sub.n, LATENCY_ROWS)} single-row predictions"
    value = M.compute(sub, [e.key])[e.key]
    return value, "" if value is not None else "undefined on these rows"


def _latency_ms(model: Model, frame: Any) -> float:
    slowest = 0.0
    frame = model.input_frame(frame)  # a selected frame still carries the columns it was selected by
    for i in range(min(len(frame), LATENCY_ROWS)):
        row = frame.iloc[[i]] if hasattr(frame, "iloc") else frame[i:i + 1]
        best = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            model.estimator.predict(row)
            best = min(best, time.perf_counter() - t0)
        slowest = max(slowest, best)
    return slowest * 1000.0
