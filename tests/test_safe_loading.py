"""Loading never runs code from a model file, whoever wrote the store.

The attack: a teammate with write access to the MLflow store (the open-source server lets any
writer upload a version's files and set its tags) replaces a version's ``model.skops`` with one
whose schema calls ``numpy.save`` — a function of a module nbtoolkit used to trust by module — with
a path of their choosing, and rewrites the version's sha256 and trusted-types tags to match. Plain
``skops.io.load`` with the file's own untrusted types creates the marker file (first test); every
nbtoolkit load path refuses the file before skops builds anything, and the marker never appears.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import nbtoolkit as nbt
from nbtoolkit import registry
from nbtoolkit.errors import BadInput, IntegrityError

ROOT = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------------- crafting
def _json(value) -> dict:
    return {"__class__": type(value).__name__, "__module__": "builtins", "__loader__": "JsonNode",
            "content": json.dumps(value), "is_json": True}


def _tuple(*items) -> dict:
    return {"__class__": "tuple", "__module__": "builtins", "__loader__": "TupleNode", "content": list(items)}


def _function(module: str, name: str) -> dict:
    return {"__class__": name, "__module__": module, "__loader__": "FunctionNode"}


def numpy_save(marker: Path, loader: str = "ConstructorFromReduceNode") -> dict:
    """A node skops builds by calling ``numpy.save(marker, [1, 2])``: it writes the marker file."""
    if loader == "LossNode":  # a ReduceNode: constructor(*args), then __setstate__
        return {"__class__": "save", "__module__": "numpy", "__loader__": "LossNode",
                "__reduce__": {"args": _tuple(_json(str(marker)), _json([1, 2]))},
                "content": {"__class__": "dict", "__module__": "builtins", "__loader__": "DictNode",
                            "content": {}, "key_types": {"__class__": "list", "__module__": "builtins",
                                                         "__loader__": "ListNode", "content": []}}}
    return {"__class__": "save", "__module__": "numpy", "__loader__": loader,
            "content": _tuple(_json(str(marker)), _json([1, 2]))}


def craft(data: bytes, node: dict | None = None, *, extra: dict[str, bytes] | None = None,
          attribute: str = "n_estimators") -> bytes:
    """``data`` (a forest's skops bytes) with the value of ``attribute`` replaced by ``node`` and
    ``extra`` members added to the zip."""
    src = zipfile.ZipFile(io.BytesIO(data))
    schema = json.loads(src.read("schema.json"))
    if node is not None:
        schema["content"]["content"][attribute] = node
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as dst:
        for name in src.namelist():
            dst.writestr(name, json.dumps(schema) if name == "schema.json" else src.read(name))
        for name, payload in (extra or {}).items():
            dst.writestr(name, payload)
    return out.getvalue()


def forest_bytes(iris) -> bytes:
    import skops.io as sio
    from sklearn.ensemble import RandomForestClassifier

    X, y = iris
    return sio.dumps(RandomForestClassifier(3, random_state=0).fit(X, y))


def rewrite_version(name: str, version: str, data: bytes | None = None, *, files: dict[str, bytes] | None = None,
                    tags: dict[str, str] | None = None) -> Path:
    """What a writer of the store can do: replace stored files (``data``: the model.skops), then set
    the version's sha256 tag, its trusted-types tag (to the file's own list) and ``tags`` to match
    (plain MLflow client calls). Returns the stored model folder."""
    import mlflow
    import skops.io as sio

    from nbtoolkit.registry.integrity import tree_sha256

    client = mlflow.MlflowClient()
    info = mlflow.models.get_model_info(f"models:/{name}/{version}")
    artifacts = Path(os.environ["NBT_HOME"]) / "artifacts"
    folder = [p.parent for p in artifacts.rglob("MLmodel") if info.model_id in str(p)]
    assert len(folder) == 1, folder
    if data is not None:
        (folder[0] / "model.skops").write_bytes(data)
    for file, content in (files or {}).items():
        (folder[0] / file).write_bytes(content)
    local = Path(mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{name}/{version}",
                                                     dst_path=str(folder[0].parents[2] / f"dl-{name}-{version}")))
    client.set_model_version_tag(name, version, registry.TAG_SHA, tree_sha256(local))
    if data is not None:
        client.set_model_version_tag(name, version, registry.TAG_TRUSTED, json.dumps(sio.get_untrusted_types(data=data)))
    for key, value in (tags or {}).items():
        client.set_model_version_tag(name, version, key, value)
    return folder[0]


@pytest.fixture
def evil(nbt_home, iris, tmp_path):
    """Version evil/1: a forest registered with its data, then its file and tags rewritten so that
    loading it with skops calls numpy.save(marker). Yields the marker path (must never exist)."""
    from sklearn.ensemble import RandomForestClassifier

    X, y = iris
    nbt.register(RandomForestClassifier(3, random_state=0).fit(X, y), "evil", X=X, y=y)
    marker = tmp_path / "ran-code-from-the-file.npy"
    rewrite_version("evil", "1", craft(forest_bytes(iris), numpy_save(marker)))
    yield marker
    assert not marker.exists(), "code from the model file ran"


def one_line(exc: BaseException) -> str:
    text = str(exc)
    assert "\n" not in text, text
    return text


# --------------------------------------------------------------------------------- the attack
def test_the_crafted_file_runs_code_with_plain_skops(iris, tmp_path):
    """Without nbtoolkit's audit, skops trusting the file's own list writes the marker: the tests
    below are meaningful."""
    import skops.io as sio

    marker = tmp_path / "marker.npy"
    path = tmp_path / "model.skops"
    path.write_bytes(craft(forest_bytes(iris), numpy_save(marker)))
    trusted = sio.get_untrusted_types(file=path)
    assert "numpy.save" in trusted  # under the old rule: module numpy, trusted
    sio.load(path, trusted=trusted)
    assert marker.exists()


def test_load_and_evaluate_refuse_the_crafted_version(evil, iris):
    X, y = iris
    with pytest.raises(IntegrityError) as err:
        nbt.load("evil/1")
    assert "'numpy.save'" in one_line(err.value) and "evil/1" in str(err.value)
    assert "nothing from the file was run" in str(err.value)
    with pytest.raises(IntegrityError, match="numpy.save"):
        nbt.evaluate("evil/1", X, y)
    assert not evil.exists()


def test_drift_with_model_in_a_cold_cli_refuses_it_in_the_helper_process(evil, iris, tmp_path):
    """``nbt data drift --model`` in a fresh process loads through the helper process
    (registry/model_process.py): the refusal comes back as one line, exit 2."""
    X, _ = iris
    path = tmp_path / "current.csv"
    X.to_csv(path, index=False)
    proc = subprocess.run([sys.executable, "-m", "nbtoolkit.cli", "data", "drift", str(path), "--model", "evil/1"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr + proc.stdout
    err = proc.stderr.strip()
    assert len(err.splitlines()) == 1 and "numpy.save" in err, err
    assert not evil.exists()


def test_serve_refuses_the_crafted_version_at_start_and_at_swap(evil, iris, nbt_home):
    import requests

    from tests.test_serve import Server, wait_for

    env = dict(os.environ, NBT_HOME=str(nbt_home))
    env.pop("NBT_SERVE_TOKEN", None)
    nbt.promote("evil", 1, alias="champion")
    start = Server(["evil"], env, nbt_home.parent / "evil.log")
    try:
        code = start.proc.wait(180)
    finally:
        start.stop()
    assert code == 2, start.output()
    assert "numpy.save" in start.output() and "refusing to load" in start.output()
    assert not evil.exists()

    # a server already serving a good version: the crafted one promoted later is refused, the
    # good one keeps serving and /health says why
    from sklearn.linear_model import LogisticRegression

    X, y = iris
    good = nbt.register(LogisticRegression(max_iter=500).fit(X, y), "evil", X=X, y=y, alias="champion")
    srv = Server(["evil", "--poll", "0.2"], env, nbt_home.parent / "serve.log").wait_ready()
    try:
        nbt.promote("evil", 1, alias="champion")

        def refused():
            body = requests.get(f"{srv.url}/health", timeout=5).json()
            return [p for p in body["problems"] if "version 1, which was refused" in p] and body

        health = wait_for(refused, "the refusal to show in /health", timeout=120)
        problem = next(p for p in health["problems"] if "version 1" in p)
        assert "numpy.save" in problem, problem
        assert health["serving"]["champion"]["version"] == str(good.version)
        body = {"dataframe_split": {"columns": list(X.columns), "data": X.head(2).to_numpy().tolist()}}
        assert requests.post(f"{srv.url}/invocations", json=body, timeout=30).status_code == 200
    finally:
        assert srv.stop() == 0, srv.output()
    assert not evil.exists()


class Opens:
    """A pickle payload: unpickling it opens (creates) the marker file."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_a_boosting_version_whose_mlmodel_names_another_class_or_a_pickle_is_refused(nbt_home, iris, tmp_path):
    """MLflow's LightGBM loader unpickles when the MLmodel file says "cloudpickle", and its XGBoost
    loader imports and calls whatever class the file names: nbtoolkit reads that file itself."""
    import pickle

    import mlflow.lightgbm
    import yaml

    lgb = pytest.importorskip("lightgbm")
    xgb = pytest.importorskip("xgboost")
    X, y = iris
    nbt.register(lgb.train({"verbose": -1}, lgb.Dataset(X, y), 3), "booster")
    marker = tmp_path / "unpickled.txt"
    mlmodel = yaml.safe_load((next(p for p in (nbt_home / "artifacts").rglob("MLmodel"))).read_text())
    mlmodel["flavors"]["lightgbm"].update(model_class="lightgbm.sklearn.LGBMClassifier", data="model.pkl",
                                          serialization_format="cloudpickle")
    folder = rewrite_version("booster", "1", files={"MLmodel": yaml.safe_dump(mlmodel).encode(),
                                                    "model.pkl": pickle.dumps(Opens(marker))})
    with pytest.raises(IntegrityError) as err:
        nbt.load("booster/1")
    assert "names the class 'lightgbm.sklearn.LGBMClassifier'" in one_line(err.value)
    assert not marker.exists()
    mlflow.lightgbm.load_model(str(folder))  # plain MLflow runs the file's pickle: the test is meaningful
    assert marker.exists()

    nbt.register(xgb.XGBClassifier(n_estimators=3).fit(X, y), "boosted")
    stored = next(p for p in (nbt_home / "artifacts").rglob("MLmodel") if "model.ubj" in p.read_text())
    mlmodel = yaml.safe_load(stored.read_text())
    for model_class, data, says in (("sklearn.linear_model.LinearRegression", "model.ubj", "names the class"),
                                    ("xgboost.sklearn.XGBClassifier", "../../../MLmodel", "names the model file")):
        mlmodel["flavors"]["xgboost"].update(model_class=model_class, data=data)
        rewrite_version("boosted", "1", files={"MLmodel": yaml.safe_dump(mlmodel).encode()})
        with pytest.raises(IntegrityError) as err:
            nbt.load("boosted/1")
        assert says in one_line(err.value)


def test_a_version_retagged_as_cloudpickle_is_not_unpickled_unless_allowed(nbt_home, iris, tmp_path, monkeypatch):
    """A writer of the store replaces the skops file with a pickle and tags the version cloudpickle
    (sha256 rewritten to match): the tag proves nothing, so nothing is unpickled on any load path
    unless the user allows cloudpickle (NBT_ALLOW_UNSAFE=1 / allow_unsafe=True)."""
    import pickle

    import yaml
    from sklearn.linear_model import LogisticRegression

    monkeypatch.delenv("NBT_ALLOW_UNSAFE", raising=False)
    X, y = iris
    nbt.register(LogisticRegression(max_iter=500).fit(X, y), "swapped", X=X, y=y)
    marker = tmp_path / "unpickled.txt"
    mlmodel = yaml.safe_load(next((nbt_home / "artifacts").rglob("MLmodel")).read_text())
    mlmodel["flavors"]["sklearn"].update(pickled_model="model.pkl", serialization_format="cloudpickle")
    rewrite_version("swapped", "1", files={"MLmodel": yaml.safe_dump(mlmodel).encode(),
                                           "model.pkl": pickle.dumps(Opens(marker))},
                    tags={registry.TAG_FORMAT: "cloudpickle"})
    for call in (lambda: nbt.load("swapped/1"), lambda: nbt.evaluate("swapped/1", X, y),
                 lambda: nbt.drift(X, model="swapped/1")):
        with pytest.raises(IntegrityError) as err:
            call()
        assert "NBT_ALLOW_UNSAFE=1" in one_line(err.value)
        assert not marker.exists()
    cli = subprocess.run([sys.executable, "-m", "nbtoolkit.cli", "model", "lineage", "swapped/1"],
                         capture_output=True, text=True)  # reading its story never loads it
    assert cli.returncode == 0, cli.stderr
    with pytest.warns(registry.formats.UnsafeModelWarning):
        nbt.load("swapped/1", allow_unsafe=True)  # allowed by the user: the pickle runs (what cloudpickle means)
    assert marker.exists()


# --------------------------------------------------------------------------------- crafted inputs
def _cases(marker: Path) -> dict[str, tuple[dict | None, dict[str, bytes] | None, str]]:
    """name -> (node replacing n_estimators, extra zip members, what the refusal names)."""
    partial = {"__class__": "partial", "__module__": "functools", "__loader__": "PartialNode",
               "content": {"func": _function("numpy", "save"), "args": _tuple(_json(str(marker))),
                           "kwds": {"__class__": "dict", "__module__": "builtins", "__loader__": "DictNode",
                                    "content": {}, "key_types": {"__class__": "list", "__module__": "builtins",
                                                                 "__loader__": "ListNode", "content": []}},
                           "namespace": _json(None)}}
    check_array_partial = json.loads(json.dumps(partial))
    check_array_partial["content"]["func"] = _function("sklearn.utils.validation", "check_array")
    keyed = {"__class__": "dict", "__module__": "builtins", "__loader__": "DictNode", "content": {"a": _json(1)},
             "key_types": {"__class__": "list", "__module__": "builtins", "__loader__": "ListNode",
                           "content": [_function("numpy", "exp")]}}
    obj = {"__loader__": "ObjectNode", "content": {"__class__": "dict", "__module__": "builtins",
                                                     "__loader__": "DictNode", "content": {},
                                                     "key_types": {"__class__": "list", "__module__": "builtins",
                                                                   "__loader__": "ListNode", "content": []}}}
    return {
        "numpy.save in a constructor node": (numpy_save(marker), None, "'numpy.save'"),
        "numpy.save in a reduce (loss) node": (numpy_save(marker, "LossNode"), None, "'numpy.save'"),
        "numpy.save as a list type": (numpy_save(marker, "ListNode") | {"content": [_json(1)]}, None,
                                      "'numpy.save'"),
        "a trusted class in a constructor node": (
            {"__class__": "LogisticRegression", "__module__": "sklearn.linear_model._logistic",
             "__loader__": "ConstructorFromReduceNode", "content": _tuple()}, None, "as a ConstructorFromReduceNode"),
        "a listed function in a constructor node": (
            {"__class__": "check_array", "__module__": "sklearn.utils.validation",
             "__loader__": "ConstructorFromReduceNode", "content": _tuple(_json([1]))}, None, "'sklearn.utils.validation.check_array'"),
        "a real sklearn function as a value": (_function("sklearn.utils._testing", "assert_run_python_script_without_output"),
                                                None, "'sklearn.utils._testing.assert_run_python_script_without_output'"),
        "numpy.save as a value": (_function("numpy", "save"), None, "'numpy.save'"),
        "a renamed sklearn-looking class": (
            obj | {"__class__": "EvilRegression", "__module__": "sklearn.linear_model"}, None,
            "'sklearn.linear_model.EvilRegression'"),
        "an unknown type": (obj | {"__class__": "Thing", "__module__": "evil.payload"}, None, "'evil.payload.Thing'"),
        "os.system as a value": (_function("os", "system"), None, "'os.system'"),
        "builtins.eval in a constructor node": (
            {"__class__": "eval", "__module__": "builtins", "__loader__": "ConstructorFromReduceNode",
             "content": _tuple(_json("open('x','w')"))}, None, "'builtins.eval'"),
        "a partial of numpy.save": (partial, None, "functools.partial of 'numpy.save'"),
        "a partial of check_array with positional arguments": (check_array_partial, None, "arguments nbtoolkit does not trust"),
        "a ufunc called as a dict key type": (keyed, None, "key type is a FunctionNode"),
        "an object id reused for another kind of node": (
            _tuple(_function("numpy", "exp") | {"__id__": 7},
                   {"__class__": "str", "__module__": "builtins", "__loader__": "TypeNode", "__id__": 7}),
            None, "reuses the object id 7"),
        "an extra zip member": (None, {"payload.py": b"import os; os.system('touch x')"}, "'payload.py'"),
    }


CASES = list(_cases(Path("m")))


@pytest.mark.parametrize("case", CASES)
def test_each_crafted_file_is_refused_by_the_audit_in_one_line(case, iris, tmp_path):
    """The audit alone, on bytes: each refusal one line naming what was wrong; skops never runs."""
    from nbtoolkit.registry.formats import checked_skops

    marker = tmp_path / "marker.npy"
    node, extra, says = _cases(marker)[case]
    data = craft(forest_bytes(iris), node, extra=extra)
    with pytest.raises(IntegrityError) as err:
        checked_skops(data, None, "m/1")
    assert says in one_line(err.value) and "refusing to load" in str(err.value)
    assert not marker.exists()


def test_not_a_skops_file_and_tags_that_disagree_with_the_file(nbt_home, iris):
    from nbtoolkit.registry.formats import checked_skops

    data = forest_bytes(iris)
    with pytest.raises(IntegrityError, match="is not a skops file nbtoolkit can read"):
        checked_skops(b"PK\x05\x06" + b"\0" * 18, None, "m/1")
    with pytest.raises(IntegrityError, match="is not a skops file"):
        checked_skops(b"not a zip", None, "m/1")
    assert checked_skops(data, json.dumps(["sklearn.tree._tree.Tree"]), "m/1") == ["sklearn.tree._tree.Tree"]
    with pytest.raises(IntegrityError) as err:
        checked_skops(data, json.dumps([]), "m/1")
    assert "holds the type 'sklearn.tree._tree.Tree'" in one_line(err.value)
    with pytest.raises(IntegrityError) as err:
        checked_skops(data, json.dumps(["sklearn.tree._tree.Tree", "numpy.save"]), "m/1")
    assert "does not hold the type 'numpy.save'" in one_line(err.value)
    with pytest.raises(IntegrityError, match="not a list of type names"):
        checked_skops(data, "{", "m/1")

    # through the registry: a tag rewritten alone (the file untouched) is refused too
    from sklearn.ensemble import RandomForestClassifier

    X, y = iris
    nbt.register(RandomForestClassifier(3).fit(X, y), "forest")
    registry.set_version_tag("forest/1", registry.TAG_TRUSTED, json.dumps(["builtins.eval"]))
    with pytest.raises(IntegrityError, match=r"holds the type 'sklearn.tree._tree.Tree', unlike the trusted types"):
        nbt.load("forest/1")


def test_a_crafted_file_with_matching_tags_is_refused_for_each_case(nbt_home, iris, tmp_path):
    """The same inputs through nbt.load, with the sha256 and trusted-types tags rewritten to match."""
    from sklearn.ensemble import RandomForestClassifier

    X, y = iris
    marker = tmp_path / "marker.npy"
    cases = _cases(marker)
    for i, (case, (node, extra, says)) in enumerate(cases.items(), 1):
        nbt.register(RandomForestClassifier(3).fit(X, y), "crafted")
        rewrite_version("crafted", str(i), craft(forest_bytes(iris), node, extra=extra))
        with pytest.raises(IntegrityError) as err:
            nbt.load(f"crafted/{i}")
        assert says in one_line(err.value), (case, str(err.value))
    assert not marker.exists()


# --------------------------------------------------------------------------------- the allow-list
def test_registering_refuses_what_loading_would_refuse(nbt_home, iris):
    """A model holding a function off the list is refused at registration with the way out."""
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer
    from sklearn.tree import DecisionTreeClassifier

    X, y = iris
    import numpy as np

    model = make_pipeline(FunctionTransformer(np.round), DecisionTreeClassifier()).fit(X, y)
    with pytest.raises(BadInput) as err:
        nbt.register(model, "rounded")
    assert "the function 'numpy.round'" in one_line(err.value) and "cloudpickle" in str(err.value)
    model = make_pipeline(FunctionTransformer(np.log1p), DecisionTreeClassifier()).fit(X, y)
    nbt.register(model, "logged")  # a ufunc: skops trusts it, and it really is one
    assert type(nbt.load("logged").steps[0][1].func) is np.ufunc


@pytest.mark.parametrize("kind", ["classifier", "regressor"])
def test_hist_gradient_boosting_on_a_category_column_registers_and_loads(nbt_home, kind):
    import numpy as np
    import pandas as pd
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"amount": rng.normal(size=200),
                      "plan": pd.Categorical(rng.choice(["free", "pro", "team"], 200))})
    y = (X["amount"] > 0).astype(int) if kind == "classifier" else X["amount"] * 2 + (X["plan"] == "pro")
    cls = HistGradientBoostingClassifier if kind == "classifier" else HistGradientBoostingRegressor
    model = cls(max_iter=10).fit(X, y)
    v = nbt.register(model, "hgb", X=X, y=y)
    assert "functools.partial" in json.loads(v.tags[registry.TAG_TRUSTED])
    loaded = nbt.load("hgb")
    assert np.array_equal(loaded.predict(X), model.predict(X))


def test_the_allow_list_is_read_without_scikit_learn():
    code = ("import sys; from nbtoolkit.registry import trust; n = len(trust.trusted_classes()); "
            "print(n, sorted(m for m in ('sklearn', 'skops', 'scipy', 'mlflow') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    count, imported = out.stdout.split(" ", 1)
    assert int(count) > 200 and imported.strip() == "[]"


def test_every_estimator_class_is_listed_and_nothing_by_module():
    from sklearn.utils import all_estimators

    from nbtoolkit.registry import trust

    classes = trust.trusted_classes()
    assert all(f"{c.__module__}.{c.__name__}" in classes for _, c in all_estimators())
    assert "sklearn.linear_model.EvilRegression" not in classes and "numpy.save" not in classes
    assert not [name for name in classes if name.endswith((".*", "."))]
    for name in trust.FUNCTIONS:
        assert name not in classes


@pytest.mark.slow
def test_the_shipped_allow_list_is_generated_from_the_installed_libraries():
    """scripts/write_trusted_types.py regenerates trusted_types.json: it must match the shipped file
    (run the script after upgrading scikit-learn, skops, numpy, scipy, XGBoost or LightGBM)."""
    pytest.importorskip("xgboost")
    pytest.importorskip("lightgbm")
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        from write_trusted_types import text
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    from nbtoolkit.registry.trust import CLASSES_FILE

    assert CLASSES_FILE.read_text(encoding="utf-8") == text(), \
        "nbtoolkit/registry/trusted_types.json is stale: run python scripts/write_trusted_types.py"


def _rewrite_array(data: bytes, class_name: str, key: str, change) -> bytes:
    """``data`` with the ``key`` array of the first ``class_name`` node changed by ``change(array)``."""
    import numpy as np

    from nbtoolkit.registry.trust import name_of, nodes

    src = zipfile.ZipFile(io.BytesIO(data))
    schema = json.loads(src.read("schema.json"))
    node = next(n for n in nodes(schema) if name_of(n).endswith("." + class_name))
    member = node["content"]["content"][key]["file"]
    array = np.load(io.BytesIO(src.read(member)), allow_pickle=False).copy()
    change(array)
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as dst:
        for name in src.namelist():
            dst.writestr(name, buffer.getvalue() if name == member else src.read(name))
    return out.getvalue()


@pytest.mark.parametrize("case", ["child out of range", "child before its parent (a cycle)", "feature out of range",
                                  "hist child out of range", "hist categorical bitset out of range"])
def test_a_tree_whose_indices_scikit_learn_would_not_check_is_refused(case, iris):
    """scikit-learn indexes tree node arrays without bounds checks: a crafted index would read
    outside them at predict time (a crash), so the arrays are checked in the file first."""
    import skops.io as sio
    from sklearn.ensemble import HistGradientBoostingClassifier

    from nbtoolkit.registry.formats import checked_skops

    X, y = iris
    if case.startswith("hist"):
        data = sio.dumps(HistGradientBoostingClassifier(max_iter=3).fit(X, y))
        assert checked_skops(data, None, "m/1")  # as written: accepted
        field, value = ("left", 10**6) if "child" in case else ("bitset_idx", 10**6)

        def change(a):
            a[field][0] = value
            if field == "bitset_idx":
                a["is_categorical"][0] = 1
        data = _rewrite_array(data, "TreePredictor", "nodes", change)
    else:
        data = forest_bytes(iris)
        field, value = {"child out of range": ("left_child", 10**6), "child before its parent (a cycle)": ("right_child", 0),
                        "feature out of range": ("feature", 99)}[case]
        data = _rewrite_array(data, "Tree", "nodes", lambda a: a[field].__setitem__(0, value))
    with pytest.raises(IntegrityError) as err:
        checked_skops(data, None, "m/1")
    assert "node array is not one scikit-learn builds" in one_line(err.value)
