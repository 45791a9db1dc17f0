"""Edge-case suites: cases pass and fail as written; a text pipeline on DataFrame input; bad files."""

from __future__ import annotations

import textwrap

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from nbtoolkit.errors import BadInput
from nbtoolkit.evaluation import evaluate

WORDS = {
    "billing": ["refund", "invoice", "charge", "payment", "price"],
    "technical": ["error", "crash", "login", "bug", "slow"],
    "account": ["password", "email", "profile", "delete", "username"],
}


@pytest.fixture(scope="module")
def tickets():
    rng = np.random.default_rng(0)
    rows, labels = [], []
    for i in range(900):
        label = list(WORDS)[i % 3]
        words = list(rng.choice(WORDS[label], size=3)) + list(rng.choice(sum(WORDS.values(), []), size=1))
        rows.append({"text": " ".join(words), "channel": ["email", "chat", "phone"][i % 3 if i % 5 else 0],
                     "tier": ["free", "pro"][i % 2], "length": len(" ".join(words))})
        labels.append(label)
    X, y = pd.DataFrame(rows), pd.Series(labels, name="category")
    model = make_pipeline(ColumnTransformer([("text", TfidfVectorizer(), "text")]),
                          LogisticRegression(max_iter=500)).fit(X, y)
    return X, y, model


def write(tmp_path, text):
    path = tmp_path / "edge_cases.yaml"
    path.write_text(textwrap.dedent(text))
    return str(path)


def test_cases_pass_and_fail_as_written(tmp_path, tickets):
    X, y, model = tickets
    suite = write(tmp_path, """\
        name: ticket edge cases
        cases:
          - name: refunds are billing
            query: "text.str.contains('refund') and label == 'billing'"
            expect: {accuracy: ">= 0.8", predicts: billing}
          - name: impossible accuracy
            query: "channel == 'chat'"
            expect: ["accuracy > 1.0"]
          - name: literal crash ticket
            rows:
              - {text: "app crash error on login", channel: chat, tier: pro}
              - {text: "crash crash bug"}
            labels: [technical, technical]
            expect:
              - "predicts: technical"
              - "accuracy >= 1"
              - "confidence >= 0.4"
              - "max_latency_ms: 10000"
          - name: wrong prediction expected
            rows: [{text: "refund my invoice payment"}]
            expect: {predicts: account}
          - name: too slow for a 0 ms budget
            rows: [{text: "hello"}]
            expect: {max_latency_ms: 0}
          - name: log loss is a loss
            query: "tier == 'pro'"
            expect: {log_loss: 5}
        """)
    r = evaluate(model, X, y, suite=suite, slices=["channel", "tier"])
    cases = r.suite.cases
    assert cases == {"refunds are billing": True, "impossible accuracy": False,
                     "literal crash ticket": True, "wrong prediction expected": False,
                     "too slow for a 0 ms budget": False, "log loss is a loss": True}
    assert not r.passed and not r.suite.passed
    frame = r.suite.to_frame()
    row = frame[frame["expectation"] == "log_loss <= 5"].iloc[0]
    pro = (X["tier"] == "pro").to_numpy()
    from sklearn.metrics import log_loss

    assert row["observed"] == pytest.approx(log_loss(y[pro], model.predict_proba(X[pro]), labels=model.classes_), abs=1e-6)
    refunds = frame[frame["case"] == "refunds are billing"].iloc[0]
    assert refunds["n"] == (X["text"].str.contains("refund") & (y == "billing")).sum()
    assert r.loggable_metrics()["suite_pass_rate"] == pytest.approx(3 / 6)
    assert "3/6 cases passed" in r.summary()
    suite_html = r.suite._repr_html_()
    passed = r.suite.to_frame()["passed"]
    assert suite_html.count('class="nbt-bad"') == (~passed).sum() > 0  # a failed row is marked bad
    assert suite_html.count('class="nbt-good"') == passed.sum() > 0


def test_all_passing_suite_from_dict(tickets):
    X, y, model = tickets
    suite = {"cases": [{"name": "ok", "query": "length > 0", "expect": {"accuracy": 0.5}}]}
    r = evaluate(model, X, y, suite=suite)
    assert r.passed and r.suite.cases == {"ok": True}


@pytest.mark.parametrize("text, message", [
    ("cases:\n  - name: a\n    query: 'x'\n   expect: {accuracy: 1}\n", r"line 4: YAML error"),
    ("cases:\n  - name: a\n    query: \"text ==== 'x'\"\n    expect: {accuracy: 0.5}\n",
     r"line 2 \(case 'a'\): malformed query"),
    ("cases:\n  - name: a\n    query: \"tier == 'pro'\"\n    expect: {acuracy: 0.5}\n",
     r"line 2 \(case 'a'\): unknown metric 'acuracy'. Did you mean 'accuracy'"),
    ("cases:\n  - name: a\n    query: \"nocolumn == 1\"\n    expect: {accuracy: 0.5}\n", "malformed query"),
    ("cases:\n  - name: a\n    rows: [{text: hi}]\n    expect: {accuracy: 0.5}\n", "needs the true labels"),
    ("cases:\n  - name: a\n    rows: [{txt: hi}]\n    expect: {predicts: billing}\n",
     "rows name column 'txt'.*Did you mean 'text'"),
    ("cases:\n  - name: a\n    query: \"tier == 'pro'\"\n    expect: {predicts: biling}\n",
     "predicts 'biling' is not a class"),
    ("cases:\n  - name: a\n    quary: \"tier == 'pro'\"\n    expect: {accuracy: 1}\n", "unknown key 'quary'"),
    ("cases:\n  - name: a\n    query: \"tier == 'pro'\"\n    expect: {mae: 1}\n", "'mae' is a regression metric"),
    ("name: x\n", "non-empty 'cases' list"),
    ("cases:\n  - name: a\n    query: \"tier == 'pro'\"\n    rows: [{text: hi}]\n    expect: {accuracy: 1}\n",
     r"line 2 \(case 'a'\): give exactly one of 'query'"),
    ("cases:\n  - name: a\n    query: \"tier == 'pro'\"\n    expect: 3\n",
     r"line 2 \(case 'a'\): 'expect' must be a mapping or a list of expectations .*, got 3"),
    ("cases:\n  - name: a\n    query: \"tier == 'pro'\"\n", r"line 2 \(case 'a'\): needs 'expect'"),
    ("name: x\ncase:\n  - name: a\n", "unknown key 'case'. Did you mean 'cases'"),
])
def test_bad_suite_files(tmp_path, tickets, text, message):
    X, y, model = tickets
    with pytest.raises(BadInput, match=message) as info:
        evaluate(model, X, y, suite=write(tmp_path, text))
    assert "\n" not in str(info.value)


def test_missing_suite_file(tickets):
    X, y, model = tickets
    with pytest.raises(BadInput, match="does not exist"):
        evaluate(model, X, y, suite="nope.yaml")


def test_regression_suite_on_array_input():
    from sklearn.linear_model import LinearRegression

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 2))
    y = X @ [2.0, -1.0] + 3
    model = LinearRegression().fit(X, y)
    suite = {"cases": [
        {"name": "exact", "rows": [[1.0, 1.0], [0.0, 0.0]], "labels": [4.0, 3.0], "expect": ["mae <= 0.001"]},
        {"name": "off", "rows": [[0.0, 0.0]], "label": 10.0, "expect": {"mae": 1}},
    ]}
    r = evaluate(model, X, y, suite=suite)
    assert r.suite.cases == {"exact": True, "off": False}
    with pytest.raises(BadInput, match="a query needs X as a DataFrame"):
        evaluate(model, X, y, suite={"cases": [{"name": "q", "query": "a > 0", "expect": {"mae": 1}}]})
    with pytest.raises(BadInput, match="'predicts' applies to classifiers"):
        evaluate(model, X, y, suite={"cases": [{"name": "p", "rows": [[0, 0]], "expect": {"predicts": 3}}]})
