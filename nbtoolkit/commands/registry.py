"""``%nbt register/models/versions/load/promote/rollback/lineage`` and their CLI twins."""

from __future__ import annotations

import argparse
from typing import Any

from . import Command, Context, parse_kv, parse_metrics


# ----------------------------------------------------------------------------- register
def _register_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="MODEL", help="notebook variable holding the fitted model")
    p.add_argument("--name", required=True, help="registered model name")
    p.add_argument("--data", nargs="+", metavar="X [y]", help="training data variables: X, optionally y")
    p.add_argument("--metric", action="append", metavar="k=v", help="metric to log (repeatable)")
    p.add_argument("--param", action="append", metavar="k=v", help="parameter to log (repeatable)")
    p.add_argument("--tag", action="append", metavar="k=v", help="version tag (repeatable)")
    p.add_argument("--alias", help="move this alias to the new version")
    p.add_argument("--description", help="version description")
    p.add_argument("--format", dest="serialization", choices=("skops", "cloudpickle"), default=None,
                   help="how the model is stored: skops (default; safe) or cloudpickle (any Python "
                        "model; load it only from trusted sources). XGBoost/LightGBM use their own formats.")


def _register(args: argparse.Namespace, ctx: Context) -> Any:
    from ..errors import BadInput
    from ..registry import register

    metrics = parse_metrics(args.metric)
    params = parse_kv(args.param, what="parameter", flag="--param")
    tags = parse_kv(args.tag, what="tag", flag="--tag")
    model = ctx.var(args.model, what="model variable")
    X = y = None
    if args.data:
        if len(args.data) > 2:
            raise BadInput(f"--data takes X and optionally y, got {len(args.data)} names: {args.data!r}.")
        X = ctx.var(args.data[0])
        y = ctx.var(args.data[1]) if len(args.data) == 2 else None
    return register(model, args.name, X=X, y=y, metrics=metrics, params=params, tags=tags,
                    alias=args.alias, description=args.description, serialization=args.serialization)


# ----------------------------------------------------------------------------- browse
def _models(args: argparse.Namespace, ctx: Context) -> Any:
    from .. import store
    from ..registry import models
    from ..reports.registry import ModelsTable

    if store.is_new_store():  # a read must not create the embedded database
        return ModelsTable([])
    return models()


def _no_store_yet() -> None:
    from .. import store
    from ..errors import ModelNotFound

    if store.is_new_store():
        raise ModelNotFound("No models are registered yet (the store is empty); use %nbt register.")


def _versions_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", metavar="NAME")


def _versions(args: argparse.Namespace, ctx: Context) -> Any:
    from ..registry import versions

    _no_store_yet()
    return versions(args.name)


def _load_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("ref", metavar="REF", help="NAME, NAME/3 or NAME@alias")
    p.add_argument("--as", dest="as_var", metavar="VAR", help="also store the model in this variable")


def _load(args: argparse.Namespace, ctx: Context) -> Any:
    from ..errors import BadInput
    from ..registry import load

    if args.as_var is not None and not args.as_var.isidentifier():
        raise BadInput(f"--as needs a Python variable name, got {args.as_var!r}.")
    model = load(args.ref)
    if args.as_var:
        ctx.user_ns[args.as_var] = model  # type: ignore[index]
    return model


def _lineage_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("ref", metavar="REF", help="NAME, NAME/3 or NAME@alias")


def _lineage(args: argparse.Namespace, ctx: Context) -> Any:
    from ..registry import lineage

    _no_store_yet()
    return lineage(args.ref)


# ----------------------------------------------------------------------------- aliases
def _promote_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", metavar="NAME")
    p.add_argument("version", metavar="VERSION")
    p.add_argument("--alias", required=True, help="alias to move, e.g. champion")
    p.add_argument("--require", action="append", default=[], metavar="GATE",
                   help="gate on the version's logged metrics (repeatable): accuracy:0.9 (at least), "
                        "log_loss=max:0.3 (at most), quoted 'accuracy>=0.9', or beats=NAME@alias")


def _promote(args: argparse.Namespace, ctx: Context) -> Any:
    from ..registry import promote

    return promote(args.name, args.version, alias=args.alias, require=args.require)


def _rollback_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", metavar="NAME")
    p.add_argument("--alias", required=True, help="alias to move back to its previous holder")


def _rollback(args: argparse.Namespace, ctx: Context) -> Any:
    from ..registry import rollback

    return rollback(args.name, alias=args.alias)


def _none(p: argparse.ArgumentParser) -> None:
    return None


MAGIC_COMMANDS = (
    Command("register", "Log a fitted model as a new registered version (with data fingerprint, "
            "schema and profile when --data is given).", _register_args, _register),
    Command("models", "List registered models: latest version, aliases, last update.", _none, _models),
    Command("versions", "List the versions of a model with metrics, aliases and data fingerprint.",
            _versions_args, _versions),
    Command("load", "Load the native model of REF after verifying its sha256.", _load_args, _load),
    Command("promote", "Move an alias to a version when every --require gate holds.", _promote_args, _promote),
    Command("rollback", "Move an alias back to the version that held it before.", _rollback_args, _rollback),
    Command("lineage", "Data fingerprint, schema, params, metrics, git commit, notebook, pipeline run.",
            _lineage_args, _lineage),
)

CLI_COMMANDS = tuple(c for c in MAGIC_COMMANDS if c.name in {"models", "versions", "promote", "rollback", "lineage"})
