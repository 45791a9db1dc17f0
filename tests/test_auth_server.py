"""nbtoolkit against a real MLflow server with authentication (``mlflow server --app-name basic-auth``).

Credentials come from ``MLFLOW_TRACKING_USERNAME`` / ``MLFLOW_TRACKING_PASSWORD``, as for any
MLflow client. The admin works as on an open server; a user without the permission an action
needs is refused in one line naming the model and the permission, and nothing is written: no
version, no alias move, no history tag, no run, no lock model left behind.
"""

from __future__ import annotations

import uuid

import pytest

import nbtoolkit as nbt
from nbtoolkit import registry, store
from nbtoolkit.errors import PermissionDenied

pytestmark = pytest.mark.integration


@pytest.fixture
def auth_home(auth_mlflow_server, tmp_path, monkeypatch):
    """NBT_HOME in tmp_path, tracking on the auth server, logged in as admin."""
    monkeypatch.setenv("NBT_HOME", str(tmp_path / "nbt-home"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", auth_mlflow_server.uri)
    for var in ("MLFLOW_REGISTRY_URI", "NBT_PREDICTIONS_URL", "NBT_EXPERIMENT"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)
    login(monkeypatch, "admin", auth_mlflow_server.admin_password)
    yield auth_mlflow_server
    import mlflow

    while mlflow.active_run():
        mlflow.end_run()


def login(monkeypatch, user: str, password: str) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", user)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", password)


def everything(name: str) -> dict:
    """What a refused call must leave as it was: versions, aliases, model tags, runs, models."""
    c = store.client()
    rm = c.get_registered_model(name)
    experiments = [e.experiment_id for e in c.search_experiments()]
    return {
        "versions": sorted(str(v.version) for v in c.search_model_versions(f"name='{name}'")),
        "aliases": {a: str(v) for a, v in rm.aliases.items()},
        "tags": dict(rm.tags),
        "runs": sorted(r.info.run_id for r in c.search_runs(experiments, max_results=1000)),
        "models": sorted(m.name for m in c.search_registered_models(max_results=1000)),
    }


def test_admin_registers_loads_promotes_and_removes_aliases(auth_home, iris, iris_model):
    X, y = iris
    name = f"auth-admin-{uuid.uuid4().hex[:8]}"
    nbt.register(iris_model, name, X=X, y=y, metrics={"accuracy": 0.9}, alias="champion")
    nbt.register(iris_model, name, metrics={"accuracy": 0.95})
    assert list(nbt.load(f"{name}@champion").predict(X.head(3))) == list(iris_model.predict(X.head(3)))
    assert nbt.promote(name, 2, alias="champion", require=["accuracy:0.9"]).previous == "1"
    assert nbt.rollback(name, alias="champion").version == "1"
    assert nbt.unalias(name, alias="champion").version == "1"
    assert "champion" not in store.client().get_registered_model(name).aliases


def test_a_reader_is_refused_in_one_line_and_nothing_is_written(auth_home, iris, iris_model, monkeypatch, capsys):
    from nbtoolkit.cli import main

    X, _ = iris
    name = f"auth-churn-{uuid.uuid4().hex[:8]}"
    user = f"reader{uuid.uuid4().hex[:6]}"
    password = auth_home.add_user(user)
    nbt.register(iris_model, name, alias="champion")
    nbt.register(iris_model, name)
    nbt.promote(name, 1, alias="challenger")
    nbt.promote(name, 2, alias="challenger")  # with a holder to roll back to
    auth_home.auth_client().grant_user_permission(user, "registered_model", name, "READ")
    before = everything(name)

    login(monkeypatch, user, password)
    # reading is allowed
    assert list(nbt.load(f"{name}@champion").predict(X.head(3))) == list(iris_model.predict(X.head(3)))
    refusals = [
        (lambda: nbt.promote(name, 2, alias="champion"), "EDIT", "moving an alias"),
        (lambda: nbt.promote(name, 1, alias="staging"), "EDIT", "moving an alias"),
        (lambda: nbt.rollback(name, alias="challenger"), "EDIT", "moving an alias"),
        (lambda: nbt.register(iris_model, name), "EDIT", "adding a version"),
        (lambda: nbt.register(iris_model, name, alias="champion"), "EDIT", "adding a version"),
        (lambda: nbt.unalias(name, alias="challenger"), "MANAGE", "removing an alias"),
    ]
    for call, permission, action in refusals:
        with pytest.raises(PermissionDenied) as info:
            call()
        message = str(info.value)
        assert (f"denied user {user!r} {permission} permission on model {name!r}, which {action} needs"
                in message), message
        assert "\n" not in message and isinstance(info.value, PermissionError)
    assert main(["model", "promote", name, "2", "--alias", "champion"]) == 2
    err = capsys.readouterr().err
    assert f"EDIT permission on model {name!r}" in err and err.count("\n") == 1

    login(monkeypatch, "admin", auth_home.admin_password)
    assert everything(name) == before


def test_a_user_granted_edit_adds_a_version(auth_home, iris_model, monkeypatch):
    name = f"auth-edit-{uuid.uuid4().hex[:8]}"
    user = f"editor{uuid.uuid4().hex[:6]}"
    password = auth_home.add_user(user)
    nbt.register(iris_model, name, alias="champion")
    experiment = store.client().get_experiment_by_name("nbtoolkit")
    admin = auth_home.auth_client()
    admin.grant_user_permission(user, "registered_model", name, "EDIT")
    admin.grant_user_permission(user, "experiment", experiment.experiment_id, "EDIT")

    login(monkeypatch, user, password)
    v = nbt.register(iris_model, name)
    assert str(v.version) == "2"
    assert nbt.promote(name, 2, alias="champion").previous == "1"
    with pytest.raises(PermissionDenied, match=f"MANAGE permission on model {name!r}"):
        nbt.unalias(name, alias="champion")  # MLflow: deleting an alias needs MANAGE
    assert str(registry.resolve(f"{name}@champion").version) == "2"


def test_a_user_without_rights_on_the_experiment_logs_no_run(auth_home, iris_model, monkeypatch):
    user = f"newbie{uuid.uuid4().hex[:6]}"
    password = auth_home.add_user(user)
    nbt.register(iris_model, f"auth-seed-{uuid.uuid4().hex[:8]}")  # the experiment exists (admin's)
    c = store.client()
    runs = {r.info.run_id for r in c.search_runs([e.experiment_id for e in c.search_experiments()])}

    login(monkeypatch, user, password)
    name = f"auth-new-{uuid.uuid4().hex[:8]}"
    with pytest.raises(PermissionDenied, match="EDIT permission on experiment 'nbtoolkit', which logging "
                                               "the version's run needs"):
        nbt.register(iris_model, name)

    login(monkeypatch, "admin", auth_home.admin_password)
    assert {r.info.run_id for r in c.search_runs([e.experiment_id for e in c.search_experiments()])} == runs
    assert name not in [m.name for m in c.search_registered_models(max_results=1000)]


@pytest.mark.parametrize("password", ["wrong-password", None])
def test_bad_or_missing_credentials_are_one_line(auth_home, monkeypatch, capsys, password):
    from nbtoolkit.cli import main

    if password is None:
        monkeypatch.delenv("MLFLOW_TRACKING_USERNAME")
        monkeypatch.delenv("MLFLOW_TRACKING_PASSWORD")
        expected = "requires a login; set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD"
    else:
        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", password)
        expected = "did not accept the credentials of user 'admin'"
    with pytest.raises(PermissionDenied, match=expected):
        nbt.load("anything@champion")
    assert main(["model", "list"]) == 2
    err = capsys.readouterr().err
    assert expected in err and err.count("\n") == 1


def test_a_user_denied_the_model_cannot_read_it(auth_home, iris_model, monkeypatch):
    name = f"auth-secret-{uuid.uuid4().hex[:8]}"
    user = f"outsider{uuid.uuid4().hex[:6]}"
    password = auth_home.add_user(user)
    nbt.register(iris_model, name, alias="champion")
    auth_home.auth_client().grant_user_permission(user, "registered_model", name, "DENY")

    login(monkeypatch, user, password)
    for ref in (f"{name}@champion", f"{name}/1", name):
        with pytest.raises(PermissionDenied, match=f"denied user {user!r} READ permission on model {name!r}"):
            nbt.load(ref)
