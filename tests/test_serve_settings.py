"""The serve settings are described once (issue 24, item 2): the fields of ``ServeSettings``.

The ``nbt serve`` / ``%nbt serve`` options are generated from the fields and checked against them
one by one; ``nbt.serve()``'s keywords and defaults are the fields'; and a real background server
whose workers report their settings on ``GET /version`` runs with every field as given — each set to
a value that is not its default, so a field dropped on the way (the background child once lost
``access_log``, ``drain_timeout``, ``max_rows`` and ``log_queue_bytes``) fails here.
"""

from __future__ import annotations

import dataclasses
import inspect
import os

import pytest

from nbtoolkit.errors import BadInput, NbtError
from nbtoolkit.serving.settings import ServeSettings, fingerprint, from_namespace
from nbtoolkit.vocabulary import OLD_SPELLINGS
from tests.test_serve import free_port, requests

FIELDS = {f.name: f for f in dataclasses.fields(ServeSettings)}


def non_default(tmp: os.PathLike) -> dict:
    """A value for every field that is not its default (a new field needs one here)."""
    return dict(name="iris", host="localhost", port=free_port(), traffic=0.3, threshold=0.4,
                predictions_url=f"sqlite:///{tmp}/log.db", workers=2, champion="prod", challenger="canary",
                poll_interval=2.5, alerts=["human_share>0.99"], webhook="http://127.0.0.1:9/hook?token=t0k",
                window="2h", monitor_interval=60.0, max_body="7MB", max_rows=5000, log_batch=500,
                log_queue_rows=20_000, log_queue_bytes="32MB", log_linger=0.02, drain_timeout=12.0,
                journal_dir=str(tmp / "journal"), journal_sync=True, access_log=True, require_signature=True,
                rollout="0.2,0.6,1.0", rollout_margin=0.02, rollout_min_samples=50, rollout_alpha=0.1)


def test_every_field_has_a_value_that_is_not_its_default(tmp_path):
    given = non_default(tmp_path)
    assert sorted(given) == sorted(FIELDS), "give each new ServeSettings field a non-default value in non_default()"
    checked = ServeSettings.checked(**given)
    defaults = ServeSettings.checked(name="iris")
    same = [k for k in FIELDS if k != "name" and getattr(checked, k) == getattr(defaults, k)]
    assert not same, same


def _parsers():
    from nbtoolkit.commands import cli_commands, magic_commands

    return [("nbt serve", cli_commands()["serve"].parser()), ("%nbt serve", magic_commands()["serve"].parser())]


def _argv(given: dict) -> list[str]:
    """``given`` as an ``nbt serve`` command line, for every field that has a flag."""
    argv = [given["name"]]
    for name, f in FIELDS.items():
        option = f.metadata["option"]
        if option.flag is None or not option.flag.startswith("-"):
            continue
        value = given[name]
        if isinstance(value, bool):
            argv += [option.flag] if value else []
        elif isinstance(value, (list, tuple)):
            argv += [t for item in value for t in (option.flag, item)]
        else:
            argv += [option.flag, str(value)]
    return argv


@pytest.mark.parametrize("surface", ["nbt serve", "%nbt serve"])
def test_the_parser_is_the_fields_one_by_one(surface, tmp_path):
    parser = dict(_parsers())[surface]
    by_flag = {s: a for a in parser._actions for s in a.option_strings}
    for name, f in FIELDS.items():
        option = f.metadata["option"]
        if option.flag is None:
            continue
        if not option.flag.startswith("-"):
            assert [a.dest for a in parser._actions if not a.option_strings] == [name]
            continue
        action = by_flag.get(option.flag)
        assert action is not None and action.dest == name, (option.flag, name)
        assert action.help != "==SUPPRESS==" and action.help, option.flag
        for old in option.old:  # hidden, and listed among the old spellings the docs name
            assert by_flag[old].dest == name and by_flag[old].help == "==SUPPRESS==", old
            assert OLD_SPELLINGS["cli"][old] == option.flag, old
    flags = {f.metadata["option"].flag for f in FIELDS.values()} | {o for f in FIELDS.values()
                                                                     for o in f.metadata["option"].old}
    others = sorted(s for s in by_flag if s not in flags)
    assert others == sorted({"-h", "--help", "--background", "--format"} & set(by_flag)), others

    # the defaults argparse holds are the fields' defaults, once checked
    assert ServeSettings.checked(**from_namespace(parser.parse_args(["iris"]))) == ServeSettings.checked(name="iris")
    # a command line with every flag reaches every flagged field; API-only fields keep their default
    given = non_default(tmp_path)
    parsed = ServeSettings.checked(**from_namespace(parser.parse_args(_argv(given))))
    flagged = {k for k, f in FIELDS.items() if f.metadata["option"].flag}
    expected = ServeSettings.checked(**{k: v for k, v in given.items() if k in flagged})
    assert {k: getattr(parsed, k) for k in FIELDS} == {k: getattr(expected, k) for k in FIELDS}
    assert {k for k in FIELDS if getattr(parsed, k) != getattr(ServeSettings.checked(name="iris"), k)} \
        == flagged - {"name"}
    # the hidden older spelling
    old = parser.parse_args(["iris", "--log-url", "sqlite:///x.db"])
    assert from_namespace(old)["predictions_url"] == "sqlite:///x.db"


def test_serve_keywords_and_defaults_are_the_fields():
    import nbtoolkit as nbt

    params = inspect.signature(nbt.serve).parameters
    named = {n: p for n, p in params.items() if p.kind is not p.VAR_KEYWORD and n != "background"}
    assert set(named) <= set(FIELDS), set(named) - set(FIELDS)
    defaults = ServeSettings.checked(name="iris")
    for n, p in named.items():
        if p.default is not p.empty:
            assert getattr(ServeSettings.checked(name="iris", **{n: p.default}), n) == getattr(defaults, n), n
    tuning = nbt.serve.__doc__.split("tuning :")[1]
    assert [f for f in FIELDS if f not in named and f"``{f}``" not in tuning] == []
    with pytest.raises(BadInput, match="unknown argument 'drain_timout'. Did you mean 'drain_timeout'"):
        nbt.serve("iris", drain_timout=3)


def test_the_json_a_child_reads_holds_every_field_and_nothing_else(tmp_path):
    settings = ServeSettings.checked(**non_default(tmp_path))
    assert ServeSettings.from_json(settings.to_json()) == settings
    import json

    short = {k: v for k, v in json.loads(settings.to_json()).items() if k != "max_rows"}
    with pytest.raises(NbtError, match="do not match its fields"):
        ServeSettings.from_json(json.dumps(short))
    with pytest.raises(NbtError, match="do not match its fields"):
        ServeSettings.from_json(json.dumps({**short, "max_rows": 1, "later": 1}))


def test_public_settings_hide_urls_behind_a_fingerprint(tmp_path):
    settings = ServeSettings.checked(**{**non_default(tmp_path),
                                        "predictions_url": "postgresql://u:pw@db/log"})
    shown = settings.public()
    assert "pw" not in str(shown) and "t0k" not in str(shown)
    assert shown["predictions_url"] == fingerprint("postgresql://u:pw@db/log")
    assert fingerprint("postgresql://u:pw@db/log") != fingerprint("postgresql://u:pw2@db/log")
    assert shown["webhook"] == fingerprint(settings.webhook)
    assert {k: v for k, v in shown.items() if k not in ("predictions_url", "webhook")} == \
        {k: v for k, v in settings.as_dict().items() if k not in ("predictions_url", "webhook")}


@pytest.mark.slow
def test_a_background_server_and_its_workers_run_with_every_field_given(nbt_home, tmp_path, iris, monkeypatch):
    """``serve(..., background=True)``: the notebook checks the settings, the child gets them, and
    hands them to its two workers; a worker answers ``/version`` with what it runs with."""
    import nbtoolkit as nbt
    from tests.test_signing import _ec_key_pair

    X, y = iris
    private, public = _ec_key_pair(tmp_path, "serve-key")
    monkeypatch.setenv("NBT_SIGNING_KEY", str(private))
    monkeypatch.setenv("NBT_TRUSTED_KEYS", str(public))  # the child inherits it: require_signature holds
    monkeypatch.delenv("NBT_SERVE_TOKEN", raising=False)
    from sklearn.linear_model import LogisticRegression

    nbt.register(LogisticRegression(max_iter=500).fit(X, y), "iris", X=X, y=y, alias="prod", sign=True)
    given = non_default(tmp_path)
    expected = ServeSettings.checked(**given).public()
    handle = nbt.serve(background=True, **given)
    try:
        assert handle.url == f"http://localhost:{given['port']}"
        body = requests.get(f"{handle.url}/version", timeout=30).json()
        assert body["pid"] != handle.pid  # a worker answered: parent → child → worker
        reported = body["settings"]
        assert sorted(reported) == sorted(FIELDS)
        wrong = {k: (reported[k], v) for k, v in expected.items() if reported[k] != v}
        assert wrong == {}, wrong
        r = requests.post(f"{handle.url}/invocations", json={"dataframe_split": {
            "columns": list(X.columns), "data": X.head(2).to_numpy().tolist()}}, timeout=30)
        assert r.status_code == 200 and r.json()["predictions"][0]["model_version"] == "1"
    finally:
        assert handle.stop() == 0, handle.log_path.read_text()
    log = handle.log_path.read_text()
    assert "POST /invocations" in log  # access_log reached uvicorn in the workers


@pytest.mark.slow
def test_a_background_server_that_cannot_start_says_why_in_one_line(nbt_home, iris, iris_model):
    """The child reads its settings and fails as ``nbt serve`` does: exit 2, one line, told to the notebook."""
    import nbtoolkit as nbt

    X, y = iris
    nbt.register(iris_model, "iris", X=X, y=y, alias="champion")
    with pytest.raises(BadInput, match=r"^nbt serve did not start: .*no alias 'prod'"):
        nbt.serve("iris", champion="prod", port=0, background=True)


def test_the_background_module_alone_says_how_to_start_a_server(monkeypatch, capsys):
    from nbtoolkit.serving.__main__ import main
    from nbtoolkit.serving.settings import ENV

    monkeypatch.delenv(ENV, raising=False)
    assert main() == 2
    assert "run `nbt serve NAME`" in capsys.readouterr().err
