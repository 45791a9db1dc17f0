"""The data contract: inference, every check, storage with a version, assert_valid."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import nbtoolkit as nbt
from nbtoolkit.conformance import validate
from nbtoolkit.contract import Contract, as_frame, fingerprint
from nbtoolkit.errors import BadInput, ContractViolation, NotFound
from nbtoolkit.testing import assert_valid


@pytest.fixture
def ref():
    rng = np.random.default_rng(0)
    n = 500
    return pd.DataFrame({
        "amount": rng.normal(100, 10, n),
        "count": rng.integers(0, 10, n),
        "channel": rng.choice(["email", "chat", "phone"], n),
        "vip": rng.random(n) < 0.3,
        "note": [None if i % 10 == 0 else "x" for i in range(n)],
        "created_at": pd.Timestamp("2026-03-01") + pd.to_timedelta(np.arange(n), unit="min"),
    })


def checks(report):
    return {(i["column"], i["check"]): i for i in report.issues}


def test_contract_inferred_and_round_trips(ref):
    c = Contract.from_frame(ref)
    cols = c.columns
    assert cols["amount"]["kind"] == "numeric" and cols["amount"]["min"] == pytest.approx(ref.amount.min())
    assert cols["channel"]["categories"] == ["chat", "email", "phone"]
    assert cols["vip"]["kind"] == "boolean" and not cols["vip"]["nullable"]
    assert cols["note"]["nullable"] and cols["note"]["null_rate"] == pytest.approx(0.1)
    assert cols["created_at"]["kind"] == "datetime"
    again = Contract.from_json(c.to_json())
    assert again.to_dict() == c.to_dict()
    report = validate(ref, contract=again)
    assert report.passed and not report.issues


def test_every_check_names_column_expected_and_observed(ref):
    bad = ref.copy()
    bad = bad.drop(columns="count")
    bad["extra"] = 1
    bad.loc[0, "amount"] = np.inf
    bad.loc[1, "amount"] = 1e6
    bad.loc[2, "channel"] = "fax"
    bad["vip"] = bad["vip"].astype(object)
    bad.loc[3:100, "vip"] = None
    bad["note"] = None
    report = validate(bad, reference=ref)
    found = checks(report)
    assert found[("count", "missing column")]["severity"] == "error"
    assert found[("extra", "extra column")]["severity"] == "warning"
    assert found[("amount", "inf")]["observed"] == "1 inf"
    assert "1 values" in found[("amount", "out of range")]["observed"]
    assert "'fax'" in found[("channel", "unseen categories")]["observed"]
    assert found[("vip", "nulls")]["expected"] == "no nulls"
    assert found[("note", "all null")]["severity"] == "error"
    assert not report.passed
    frame = report.to_frame()
    assert list(frame.columns) == ["column", "check", "severity", "expected", "observed"]
    page = report._repr_html_()
    assert page.count('class="nbt-bad"') == len(report.errors) > 0  # an error row is marked bad
    assert page.count('class="nbt-warn"') == len(report.issues) - len(report.errors) > 0


def test_null_rate_jump_dtype_change_mixed_types_and_tolerances(ref):
    bad = ref.copy()
    bad["note"] = [None if i % 2 else "x" for i in range(len(bad))]  # 10% -> 50% nulls
    bad["count"] = bad["count"].astype("float64")                   # int -> float: warning only
    bad["channel"] = [1, "a"] * (len(bad) // 2)                      # mixed types
    bad["amount"] = bad["amount"].astype(str)                        # numeric -> strings
    found = checks(validate(bad, reference=ref))
    assert found[("note", "null rate")]["observed"] == "50.0%"
    assert found[("count", "dtype")]["severity"] == "warning"
    assert "int" in found[("channel", "mixed types")]["observed"]
    assert found[("amount", "dtype")]["expected"].startswith("numeric")
    first = str(validate(bad, reference=ref)).splitlines()[0]  # the verdict line names what failed
    assert first.startswith("Validation FAILED: ") and "note: null rate" in first and "amount: dtype" in first
    assert "warning(s) (count: dtype" in first and validate(ref, reference=ref).summary().startswith(
        "Validation PASSED: 0 error(s), 0 warning(s) — ")
    ok = ref.copy()
    ok.loc[0, "amount"] = ref.amount.max() + 1
    found = checks(validate(ok, reference=ref))
    assert found[("amount", "out of range")]["severity"] == "warning"  # one new extreme
    assert not checks(validate(ok, reference=ref, range_tolerance=0.5))
    ok.loc[:20, "amount"] = ref.amount.max() + 1                      # 4% of the rows
    assert not validate(ok, reference=ref).passed


def test_empty_duplicated_and_freshness(ref):
    assert checks(validate(ref.iloc[:0], reference=ref))[("", "empty frame")]["severity"] == "error"
    dup = pd.concat([ref, ref[["amount"]]], axis=1)
    assert ("amount", "duplicated columns") in checks(validate(dup, reference=ref))
    c = Contract.from_frame(ref, max_age="2D")
    assert c.freshness == {"column": "created_at", "max_age": "2 days 00:00:00"}
    fresh = c.check(ref, now="2026-03-02")
    assert fresh.passed
    stale = c.check(ref, now="2026-03-10")
    assert checks(stale)[("created_at", "freshness")]["observed"].startswith("newest 2026-03-01 08:19:00")
    assert not validate(ref, reference=ref, max_age="1h").passed  # machine time is far later
    with pytest.raises(BadInput, match="duration"):
        validate(ref, reference=ref, max_age="soon")
    with pytest.raises(BadInput, match="no datetime column"):
        Contract.from_frame(ref.drop(columns="created_at"), max_age="1D")


def test_raise_on_fail_and_assert_valid(ref):
    bad = ref.drop(columns="amount")
    with pytest.raises(ContractViolation) as info:
        validate(bad, reference=ref, raise_on_fail=True)
    assert "amount: missing column" in str(info.value) and info.value.report is not None
    with pytest.raises(AssertionError, match="missing column"):
        assert_valid(bad, reference=ref)
    assert assert_valid(ref, reference=ref).passed


def test_bad_arguments(ref):
    with pytest.raises(BadInput, match="exactly one"):
        validate(ref)
    with pytest.raises(BadInput, match="exactly one"):
        validate(ref, reference=ref, contract=Contract.from_frame(ref))
    with pytest.raises(BadInput, match="must be a pandas DataFrame"):
        validate("frame", reference=ref)
    with pytest.raises(BadInput, match="Not an nbtoolkit data contract"):
        Contract.from_json('{"format": "x"}')


def test_foundation_helpers_still_work(ref):
    assert fingerprint(ref) == fingerprint(ref.copy())
    assert Contract.from_frame(ref).columns["channel"]["kind"] == "categorical"
    assert as_frame(np.zeros((3, 2))).shape == (3, 2)


def test_contract_and_profile_stored_at_register(nbt_home, iris, iris_model):
    X, y = iris
    nbt.register(iris_model, "iris", X=X, y=y, alias="champion")
    assert validate(X, model="iris@champion").passed
    broken = X.drop(columns="sepal_width")
    with pytest.raises(AssertionError, match="sepal_width: missing column"):
        assert_valid(broken, model="iris@champion")
    nbt.register(iris_model, "bare")
    with pytest.raises(NotFound, match="has no stored data contract"):
        validate(X, model="bare")


def test_the_public_names_come_from_the_contract_and_the_layer_above_it():
    """nbtoolkit.data (an old path used only inside the package) is gone; validate(model=) reads the
    registry, so it lives above the contract (nbtoolkit.conformance), and the contract knows no registry."""
    import importlib.util
    from pathlib import Path

    import nbtoolkit
    import nbtoolkit.conformance as conformance
    import nbtoolkit.contract as contract

    assert nbtoolkit.validate is conformance.validate and nbtoolkit.Contract is contract.Contract
    assert importlib.util.find_spec("nbtoolkit.data") is None
    assert "registry" not in Path(contract.__file__).read_text(encoding="utf-8").split('"""', 2)[2]
