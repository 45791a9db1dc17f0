"""One vocabulary: each concept is spelt the same on the magic, the CLI, the API and config.

The table is :data:`nbtoolkit.vocabulary.CONCEPTS`; every cell is checked against the real magic
parsers, the ``nbt`` parser, the API signatures and the ``Nbt`` traits, and docs/cli.md shows it.
"""

from __future__ import annotations

import argparse
import inspect
import types
from typing import Any
from pathlib import Path

import pytest

import nbtoolkit
from nbtoolkit.vocabulary import CONCEPTS, OLD_SPELLINGS, markdown_table

ROOT = Path(__file__).resolve().parents[1]


def _sub(parser: argparse.ArgumentParser, word: str) -> argparse.ArgumentParser:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) and word in action.choices:
            return action.choices[word]
    raise AssertionError(f"{parser.prog}: no subcommand {word!r}")


def _visible_flags(parser: argparse.ArgumentParser) -> set[str]:
    return {o for a in parser._actions if a.help != argparse.SUPPRESS for o in a.option_strings}


def _walk(parser: argparse.ArgumentParser, words: list[str]) -> argparse.ArgumentParser:
    for word in words:
        parser = _sub(parser, word)
    return parser


@pytest.mark.parametrize("concept", [c for c in CONCEPTS if c.magic], ids=lambda c: c.concept)
def test_magic_flag(concept):
    from nbtoolkit.commands import magic_commands

    *path, flag = concept.magic.split()
    parser = _walk(magic_commands()[path[0]].parser(), path[1:])
    assert flag in _visible_flags(parser), f"%nbt {concept.magic}"


@pytest.mark.parametrize("concept", [c for c in CONCEPTS if c.cli], ids=lambda c: c.concept)
def test_cli_flag(concept):
    from nbtoolkit.cli import build_parser

    *path, flag = concept.cli.split()
    assert flag in _visible_flags(_walk(build_parser(), path)), f"nbt {concept.cli}"


@pytest.mark.parametrize("concept", [c for c in CONCEPTS if c.api], ids=lambda c: c.concept)
def test_api_argument(concept):
    name, _, rest = concept.api.partition("(")
    if name.startswith("to_"):
        from nbtoolkit.reports.base import Result

        assert callable(getattr(Result, name))
        return
    fn = getattr(nbtoolkit, name)
    if isinstance(fn, types.ModuleType):  # nbtoolkit.drift: the callable package
        fn = getattr(fn, name)
    argument = rest.rstrip(")").rstrip("=")
    assert argument in inspect.signature(fn).parameters, f"nbt.{concept.api}"


@pytest.mark.parametrize("concept", [c for c in CONCEPTS if c.config], ids=lambda c: c.concept)
def test_config_names(concept):
    from nbtoolkit.magics import Nbt

    source = (ROOT / "nbtoolkit" / "config.py").read_text()
    for part in concept.config.split(", "):
        if part.startswith("%config Nbt."):
            assert Nbt.class_traits(config=True).get(part.removeprefix("%config Nbt.")), part
        else:
            assert part in source, part


def test_the_same_word_on_every_surface():
    """Where two surfaces have a flag/argument for a concept, they are the same word."""
    for c in CONCEPTS:
        words = set()
        if c.magic:
            words.add(c.magic.split()[-1].lstrip("-").replace("-", "_"))
        if c.cli:
            words.add(c.cli.split()[-1].lstrip("-").replace("-", "_"))
        if c.api and "=" in c.api:
            words.add(c.api.partition("(")[2].rstrip("=)"))
        if c.config and "%config Nbt." in c.config:
            words.add(c.config.split("%config Nbt.")[1].split(",")[0])
        allowed = ({"metric", "metrics"}, {"alert", "alerts"}, {"p", "parameters"}, {"step", "steps"},
                   {"key", "keys"}, {"no_predictions", "predictions"},  # a switch that is on by default
                   {"format", "serialization"})  # SPEC §9 fixes both names for register
        assert len(words) <= 1 or words in allowed, (c.concept, words)


def test_the_docs_show_the_table():
    assert markdown_table() in (ROOT / "docs" / "cli.md").read_text()


def test_old_spellings_still_work(nbt_home, capsys):
    from nbtoolkit.cli import build_parser, main

    parser = build_parser()
    args = parser.parse_args(["drift", "x.csv", "--model", "m", "--fail-on-drift", "--share", "0.3", "--json"])
    assert args.fail and args.share == 0.3 and args.json
    args = parser.parse_args(["monitor", "m", "--log-url", "sqlite:///x.db"])
    assert args.predictions_url == "sqlite:///x.db"
    assert main(["models", "--json"]) == 0 and '"models": []' in capsys.readouterr().out
    assert set(OLD_SPELLINGS) == {"cli", "api", "config"}


def test_old_api_keywords_still_work():
    from nbtoolkit.errors import BadInput

    sig = inspect.signature(nbtoolkit.drift.drift)
    assert "fail" in sig.parameters and "raise_on_drift" not in sig.parameters
    with pytest.raises(BadInput, match="both fail= and its old name raise_on_drift="):
        nbtoolkit.drift.drift(None, fail=True, raise_on_drift=True)


def test_lazy_api_has_real_signatures_and_docs():
    import pydoc

    assert "fail" in inspect.signature(nbtoolkit.drift).parameters  # the callable package nbt.drift
    assert "Test every column of ``current`` for drift" in pydoc.render_doc(nbtoolkit.drift)
    for name in ("register", "promote", "validate", "monitor", "run_pipeline"):
        fn = getattr(nbtoolkit, name)
        assert fn.__doc__ and list(inspect.signature(fn).parameters) != ["args", "kwargs"], name
    assert nbtoolkit.__version__ and nbtoolkit.__version__ != "0+unknown"


def test_public_functions_name_their_result_class():
    """Every public function's return annotation names the class it returns (``load`` gives back
    the user's own model object, whatever its class, so ``Any`` is the truth there)."""
    import pydoc

    for name in sorted(nbtoolkit._API):
        obj = getattr(nbtoolkit, name)
        if inspect.isclass(obj):
            continue
        sig = inspect.signature(obj)
        returned = sig.return_annotation
        assert returned is not inspect.Signature.empty, name
        if name == "load":
            assert returned in ("Any", Any), returned
            continue
        classes = [part.strip() for part in str(returned).split("|")]
        assert "Any" not in classes and all(c[:1].isupper() or c == "int" for c in classes), (name, returned)
        text = pydoc.render_doc(obj, renderer=pydoc.plaintext)
        assert f"-> {returned!r}" in text or f"-> {returned}" in text, name  # help() shows it


def test_an_error_names_its_parameters_once_and_each_surface_spells_them():
    """A message is built with structured words: Python sees the keyword, a magic the flag from the
    vocabulary, the CLI the flag and its own command names; plain text is never rewritten."""
    from nbtoolkit.cli import _for_cli
    from nbtoolkit.errors import Arg, BadInput, Cmd, say
    from nbtoolkit.magics import _one_line

    exc = BadInput(say("Column(s) ['a'] are missing; pass ", Arg("columns", "[...]"), " or ",
                       Arg("contract", "Contract"), ", then run ", Cmd("promote"), " and ", Cmd("register"), "."))
    assert exc.params == ("columns", "contract")
    assert str(exc) == ("Column(s) ['a'] are missing; pass columns=[...] or contract=Contract, "
                        "then run %nbt promote and %nbt register.")
    assert _one_line(exc) == ("Column(s) ['a'] are missing; pass --columns a,b or contract=Contract, "
                              "then run %nbt promote and %nbt register.")
    assert _for_cli(exc) == ("Column(s) ['a'] are missing; pass --columns a,b or contract=Contract, then run "
                             "nbt model promote and nbtoolkit.register() in Python (%nbt register in a notebook).")
    plain = BadInput("pass columns=[...]; see %nbt promote")
    assert _for_cli(plain) == _one_line(plain) == str(plain)
