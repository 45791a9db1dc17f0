"""The %nbt magic framework and the registry magics, in a real InteractiveShell."""

from __future__ import annotations

import pytest
from IPython.core.error import UsageError

from nbtoolkit import registry


def run(ip, line):
    return ip.run_line_magic("nbt", line)


def test_help_lists_subcommands(ip):
    text = run(ip, "help")
    for sub in ("register", "models", "versions", "load", "promote", "rollback", "lineage"):
        assert sub in text
    assert "--require" in run(ip, "help promote")
    assert "--require" in run(ip, "promote --help")  # --help never exits the kernel


def test_register_promote_load_roundtrip(ip, iris, iris_model):
    X, y = iris
    ip.push({"clf": iris_model, "X": X, "y": y})
    v = run(ip, "register clf --name iris --data X y --metric accuracy=0.97 --param C=1 "
                "--tag team=ml --alias champion")
    assert v.ref == "iris/1" and v.aliases == ["champion"]
    run(ip, "register clf --name iris --metric accuracy=0.9")
    assert len(run(ip, "models")) == 1
    assert len(run(ip, "versions iris")) == 2
    with pytest.raises(UsageError, match=r"gate failed: accuracy>=0.95 \(observed 0.9\)"):
        run(ip, "promote iris 2 --alias champion --require accuracy>=0.95")
    res = run(ip, "promote iris 2 --alias champion --require accuracy>=0.5")
    assert res.version == "2" and res.previous == "1"
    assert run(ip, "rollback iris --alias champion").version == "1"
    model = run(ip, "load iris@champion --as champ")
    assert ip.user_ns["champ"] is model
    assert (model.predict(X) == iris_model.predict(X)).all()
    lin = run(ip, "lineage iris@champion")
    assert lin.params["C"] == "1" and lin.params["max_iter"] == "500" and lin.tags["team"] == "ml"


def test_result_is_assignable(ip, iris_model):
    ip.push({"clf": iris_model})
    ip.run_cell("v = %nbt register clf --name iris")
    assert ip.user_ns["v"].ref == "iris/1"


@pytest.mark.parametrize(
    "line, message",
    [
        ("register nope --name iris", "No model variable named 'nope' in the notebook. Known: X, clf"),
        ("register clf", "the following arguments are required: --name"),
        ("register clf --name iris --bogus", "unrecognized arguments: --bogus"),
        ("register clf --name iris --metric acc", "Malformed metric 'acc'"),
        ("register clf --name iris --metric acc=1 --metric acc=2", "Duplicate metric 'acc'"),
        ("register clf --name iris --param a=1 --param a=1", "Duplicate parameter 'a'"),
        ("register clf --name iris --data X y z", "--data takes X and optionally y"),
        ("register clf --name iris --data Xs", "No variable named 'Xs'"),
        ("register X --name iris", "expected a fitted scikit-learn"),
        ("register unfit --name iris", "not fitted yet; call .fit"),
        ("register clf --name iris --data X yshort", "rows but y has"),
        ("registr clf", "Unknown subcommand 'registr'. Did you mean 'register'"),
        ("load 'a b'", "Malformed model reference"),
        ("register clf --name 'x \"", "check the quotes"),
    ],
)
def test_user_errors_are_one_line_and_write_nothing(ip, iris, iris_model, line, message):
    from sklearn.linear_model import LogisticRegression

    X, y = iris
    ip.push({"clf": iris_model, "X": X, "y": y, "yshort": y.head(3), "unfit": LogisticRegression()})
    with pytest.raises(UsageError, match=message) as info:
        run(ip, line)
    assert "\n" not in str(info.value)
    from nbtoolkit.errors import ModelNotFound

    with pytest.raises(ModelNotFound):
        registry.resolve("iris")


def test_unknown_model_messages(ip, iris_model):
    ip.push({"clf": iris_model})
    run(ip, "register clf --name iris --alias champion")
    with pytest.raises(UsageError, match="No model named 'irs'. Did you mean 'iris'"):
        run(ip, "versions irs")
    with pytest.raises(UsageError, match="has no version 4"):
        run(ip, "load iris/4")
    with pytest.raises(UsageError, match="has no metric 'f1'"):
        run(ip, "promote iris 1 --alias prod --require f1>0.3")
    with pytest.raises(UsageError, match="has no value.*quote it"):  # what an unquoted > leaves
        run(ip, "promote iris 1 --alias prod --require f1")
    with pytest.raises(UsageError, match="no alias 'prod' to roll back"):
        run(ip, "rollback iris --alias prod")


def test_config_tracking_uri_wins(ip, tmp_path, iris_model, monkeypatch):
    other = tmp_path / "elsewhere.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'env.db'}")
    ip.run_line_magic("config", f"Nbt.tracking_uri = 'sqlite:///{other}'")
    ip.push({"clf": iris_model})
    run(ip, "register clf --name iris")
    assert other.exists()
    assert not (tmp_path / "env.db").exists()


def test_env_tracking_uri_wins_over_default(ip, tmp_path, nbt_home, iris_model, monkeypatch):
    env_db = tmp_path / "env.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{env_db}")
    ip.push({"clf": iris_model})
    run(ip, "register clf --name iris")
    assert env_db.exists()
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    from nbtoolkit.errors import ModelNotFound

    with pytest.raises(ModelNotFound):  # the default store in NBT_HOME never saw it
        registry.resolve("iris")


def test_bug_keeps_traceback(ip, monkeypatch):
    """Anything that is not an NbtError is a bug and is not turned into a UsageError."""
    import nbtoolkit.registry as reg

    def boom():
        raise ZeroDivisionError("bug")

    monkeypatch.setattr(reg, "models", boom)
    with pytest.raises(ZeroDivisionError):
        run(ip, "models")
