"""Aliases a typo cannot create, removing an alias, and names the checks must refuse.

Real SQLite MLflow store in a temp folder (``nbt_home``); the CLI through ``nbtoolkit.cli.main``.
"""

from __future__ import annotations

import json
import threading

import pytest
from IPython.core.error import UsageError

import nbtoolkit as nbt
from nbtoolkit import registry, store
from nbtoolkit.errors import BadInput, ModelNotFound
from nbtoolkit.registry.aliases import near_misses


def _state(name: str) -> tuple[dict, dict, int]:
    """Aliases, tags and number of versions of ``name``: what a refused call must leave as it was."""
    c = store.client()
    rm = c.get_registered_model(name)
    aliases = {alias: str(version) for alias, version in rm.aliases.items()}
    return aliases, dict(rm.tags), len(c.search_model_versions(f"name='{name}'"))


@pytest.fixture
def two_versions(nbt_home, iris_model):
    nbt.register(iris_model, "iris", metrics={"accuracy": 0.9}, alias="champion")
    nbt.register(iris_model, "iris", metrics={"accuracy": 0.95})
    return "iris"


@pytest.mark.parametrize("alias, known, expected", [
    ("champoin", ["champion"], ["champion"]),  # two letters swapped: two edits
    ("Champion", ["champion"], ["champion"]),  # case only
    ("CHAMPOIN", ["champion"], ["champion"]),
    ("champio", ["champion", "challenger"], ["champion"]),
    ("challenger", ["champion"], []),
    ("shadow", ["champion"], []),
    ("ab", ["cd"], []),  # every letter replaced: another word, not a typo
    ("b", ["a"], []),
    ("gold", ["gilt", "bold", "silver"], ["bold", "gilt"]),  # closest first
    ("w1", ["w0", "w2"], []),  # numbered on purpose
    ("canary2", ["canary"], []),
    ("champion2", ["champoin2"], ["champoin2"]),
])
def test_near_misses(alias, known, expected):
    assert near_misses(alias, known) == expected


@pytest.mark.parametrize("typo", ["champoin", "Champion", "champio"])
def test_promote_to_a_near_miss_is_refused_and_writes_nothing(two_versions, typo):
    before = _state("iris")
    with pytest.raises(BadInput) as info:
        nbt.promote("iris", 2, alias=typo)
    message = str(info.value)
    assert "Did you mean 'champion'?" in message and "--new-alias" in message and "\n" not in message
    assert _state("iris") == before  # no alias, no history tag
    assert str(registry.resolve("iris@champion").version) == "1"


def test_new_alias_says_it_is_meant(two_versions, capsys):
    from nbtoolkit.cli import main

    assert main(["model", "promote", "iris", "2", "--alias", "champoin"]) == 2
    err = capsys.readouterr().err
    assert "Did you mean 'champion'?" in err and err.count("\n") == 1
    assert "champoin" not in _state("iris")[0]
    assert main(["model", "promote", "iris", "2", "--alias", "champoin", "--new-alias"]) == 0
    assert _state("iris")[0] == {"champion": "1", "champoin": "2"}
    result = nbt.promote("iris", 2, alias="Champion", new_alias=True)
    assert result.version == "2" and _state("iris")[0]["Champion"] == "2"
    # an alias the model already has is never a near miss of itself
    assert nbt.promote("iris", 2, alias="champion").previous == "1"


def test_magic_promote_new_alias(two_versions, ip):
    with pytest.raises(UsageError, match=r"Did you mean 'champion'\?"):
        ip.run_line_magic("nbt", "promote iris 2 --alias champoin")
    result = ip.run_line_magic("nbt", "promote iris 2 --alias champoin --new-alias")
    assert result.alias == "champoin" and result.version == "2"


def test_register_with_a_near_miss_alias_leaves_no_version(two_versions, iris_model):
    before = _state("iris")
    with pytest.raises(BadInput, match=r"Did you mean 'champion'\?.*promote the new version"):
        nbt.register(iris_model, "iris", alias="Champion")
    assert _state("iris") == before


def test_rollback_of_a_near_miss_names_the_alias(two_versions):
    nbt.promote("iris", 2, alias="champion")
    before = _state("iris")
    with pytest.raises(ModelNotFound, match=r"no alias 'champoin' to roll back\. Did you mean 'champion'\?"):
        nbt.rollback("iris", alias="champoin")
    assert _state("iris") == before


def test_unalias_keeps_the_removal_in_the_history_and_rollback_restores_it(two_versions):
    nbt.promote("iris", 2, alias="champion")
    result = nbt.unalias("iris", alias="champion")
    assert result.action == "unalias" and result.version == "2"
    assert "Removed iris@champion" in result.summary()
    aliases, tags, _ = _state("iris")
    assert "champion" not in aliases
    assert json.loads(tags[registry.ALIAS_HISTORY + "champion"]) == ["1", "2"]
    with pytest.raises(ModelNotFound, match="no alias 'champion'"):
        registry.resolve("iris@champion")
    back = nbt.rollback("iris", alias="champion")  # the version that held it when it was removed
    assert (back.version, back.previous) == ("2", None)
    assert str(registry.resolve("iris@champion").version) == "2"
    assert nbt.rollback("iris", alias="champion").version == "1"  # and further back as before


def test_promote_after_unalias_then_rollback(two_versions):
    nbt.unalias("iris", alias="champion")  # held version 1
    assert nbt.promote("iris", 2, alias="champion").previous is None
    assert nbt.rollback("iris", alias="champion").version == "1"


@pytest.mark.parametrize("alias, hint", [
    ("champoin", r"Did you mean 'champion'\?"),
    ("shadow", r"Aliases: champion\."),
])
def test_unalias_of_a_missing_alias_is_one_line_and_writes_nothing(two_versions, alias, hint):
    before = _state("iris")
    with pytest.raises(ModelNotFound, match=rf"Model 'iris' has no alias {alias!r} to remove\. {hint}$"):
        nbt.unalias("iris", alias=alias)
    assert _state("iris") == before


def test_unalias_on_every_surface(two_versions, ip, capsys):
    from nbtoolkit.cli import main

    nbt.promote("iris", 2, alias="challenger")
    result = ip.run_line_magic("nbt", "unalias iris --alias challenger")
    assert result.action == "unalias" and "challenger" not in _state("iris")[0]
    assert main(["model", "unalias", "iris", "--alias", "champion"]) == 0
    assert "Removed iris@champion" in capsys.readouterr().out and _state("iris")[0] == {}
    assert main(["model", "unalias", "iris", "--alias", "champion"]) == 2
    err = capsys.readouterr().err
    assert "has no alias 'champion' to remove" in err and err.count("\n") == 1
    with pytest.raises(UsageError, match="has no alias 'champion' to remove"):
        ip.run_line_magic("nbt", "unalias iris --alias champion")


def test_unalias_waits_for_the_alias_lock(two_versions):
    from nbtoolkit.locks import registry_lock

    done = threading.Event()
    errors: list[BaseException] = []

    def remove() -> None:
        try:
            nbt.unalias("iris", alias="champion")
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        finally:
            done.set()

    with registry_lock("iris@champion"):  # the lock promote and rollback take for this alias
        worker = threading.Thread(target=remove)
        worker.start()
        assert not done.wait(1.0)
        assert _state("iris")[0] == {"champion": "1"}  # still there while the lock is held
    assert done.wait(60) and not errors
    worker.join()
    assert _state("iris")[0] == {}


# ------------------------------------------------------------------ names the checks must refuse
@pytest.mark.parametrize("name", ["nm2\n", "nm2\r", "n\x00m", "nm\t2"])
def test_register_refuses_names_with_control_characters(nbt_home, iris_model, name):
    with pytest.raises(BadInput, match="Invalid model name"):
        nbt.register(iris_model, name)
    assert store.client().search_registered_models() == []


def test_alias_with_a_trailing_newline_is_refused(two_versions, iris_model, capsys):
    from nbtoolkit.cli import main

    before = _state("iris")
    with pytest.raises(BadInput, match="Invalid alias 'gold\\\\n'"):
        nbt.register(iris_model, "iris", alias="gold\n")
    assert main(["model", "promote", "iris", "2", "--alias", "gold\n"]) == 2
    assert "Invalid alias" in capsys.readouterr().err
    assert _state("iris") == before


@pytest.mark.parametrize("ref", ["iris/99999999999999999999", "iris/2147483648", "iris/0"])
def test_version_out_of_range_is_one_line(two_versions, ref):
    with pytest.raises(BadInput, match=r"out of range; versions are whole numbers from 1 to 2147483647"):
        nbt.load(ref)
    with pytest.raises(BadInput, match="out of range"):
        nbt.promote("iris", ref.split("/")[1], alias="champion")


# ------------------------------------------------------------------ a server whose alias is removed
def test_a_server_keeps_its_last_version_when_the_alias_is_removed(nbt_home, iris, tmp_path):
    """Real ``nbt serve``: unalias champion -> still served, /health says it is gone; rollback restores."""
    import os

    import requests
    from sklearn.linear_model import LogisticRegression

    from tests.test_serve import AUTH, TOKEN, Server, split, wait_for

    X, y = iris
    nbt.register(LogisticRegression(max_iter=500).fit(X, y), "srv", X=X, y=y, alias="champion")
    env = dict(os.environ, NBT_HOME=str(nbt_home), NBT_SERVE_TOKEN=TOKEN)
    server = Server(["srv", "--poll", "0.2"], env, tmp_path / "server.log").wait_ready()
    try:
        s = requests.Session()
        s.headers.update(AUTH)

        def health() -> dict:
            return s.get(f"{server.url}/health", timeout=10).json()

        assert health()["problems"] == []
        nbt.unalias("srv", alias="champion")
        body = wait_for(lambda: (h := health())["problems"] and h, "/health to say the alias is gone")
        assert body["status"] == "degraded"
        assert body["problems"] == ["@champion no longer exists in the registry (removed); still serving "
                                    "version 1, the last one loaded, until the alias is set again."]
        r = s.post(f"{server.url}/invocations", json=split(X.head(3), ["a1", "a2", "a3"]), timeout=30)
        assert r.status_code == 200, r.text
        assert {p["model_version"] for p in r.json()["predictions"]} == {"1"}
        nbt.rollback("srv", alias="champion")  # back on the version that held it
        wait_for(lambda: health()["problems"] == [], "/health to clear once the alias is back")
    finally:
        assert server.stop() == 0, server.output()


def test_output_names_with_a_trailing_newline_are_refused(nbt_home):
    with pytest.raises(BadInput, match=r"Invalid output name 'out\\n'"):
        nbt.record("out\n", 1)
