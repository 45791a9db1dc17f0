"""``%nbt register/models/versions/load/promote/rollback/lineage/sign/verify`` and their CLI twins."""

from __future__ import annotations

import argparse
from typing import Any

from . import Command, Context, parse_kv, parse_metrics, require_signature_option


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
    p.add_argument("--sign", action="store_true",
                   help="sign the new version with the private key in NBT_SIGNING_KEY (see nbt model verify)")


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
                    alias=args.alias, description=args.description, serialization=args.serialization,
                    sign=args.sign)


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
    from ..errors import Cmd, ModelNotFound, say

    if store.is_new_store():
        raise ModelNotFound(say("No models are registered yet (the store is empty); use ", Cmd("register"), "."))


def _versions_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", metavar="NAME")


def _versions(args: argparse.Namespace, ctx: Context) -> Any:
    from ..registry import versions

    _no_store_yet()
    return versions(args.name)


def _load_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("ref", metavar="REF", help="NAME, NAME/3 or NAME@alias")
    p.add_argument("--as", dest="as_var", metavar="VAR", help="also store the model in this variable")
    require_signature_option(p)


def _load(args: argparse.Namespace, ctx: Context) -> Any:
    from ..errors import BadInput
    from ..registry import load

    if args.as_var is not None and not args.as_var.isidentifier():
        raise BadInput(f"--as needs a Python variable name, got {args.as_var!r}.")
    model = load(args.ref, require_signature=args.require_signature)
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
    p.add_argument("--new-alias", action="store_true",
                   help="create --alias even though it is a near miss of an alias the model has "
                        "(otherwise refused as a likely typo)")


def _promote(args: argparse.Namespace, ctx: Context) -> Any:
    from ..registry import promote

    return promote(args.name, args.version, alias=args.alias, require=args.require, new_alias=args.new_alias)


def _rollback_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", metavar="NAME")
    p.add_argument("--alias", required=True, help="alias to move back to its previous holder")


def _rollback(args: argparse.Namespace, ctx: Context) -> Any:
    from ..registry import rollback

    return rollback(args.name, alias=args.alias)


def _unalias_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", metavar="NAME")
    p.add_argument("--alias", required=True, help="alias to remove (rollback puts it back)")


def _unalias(args: argparse.Namespace, ctx: Context) -> Any:
    from ..registry import unalias

    return unalias(args.name, alias=args.alias)


# ----------------------------------------------------------------------------- signatures
def _sign_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("ref", metavar="REF", help="NAME/3, NAME@alias or NAME (latest)")
    p.add_argument("--key", metavar="FILE", help="private key file (PEM; default: NBT_SIGNING_KEY)")


def _sign(args: argparse.Namespace, ctx: Context) -> Any:
    from ..registry import sign

    return sign(args.ref, key=args.key)


def _verify_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("ref", metavar="REF", help="NAME/3, NAME@alias or NAME (latest)")
    p.add_argument("--key", action="append", metavar="FILE",
                   help="public key file to trust (repeatable; default: NBT_TRUSTED_KEYS)")


def _verify(args: argparse.Namespace, ctx: Context) -> Any:
    from ..registry import verify

    return verify(args.ref, keys=args.key)


def _verify_cli(args: argparse.Namespace, ctx: Context) -> int:
    import sys

    result = _verify(args, ctx)
    print(result.to_json(indent=2) if args.format == "json" else str(result))
    if not result.valid:
        print(f"nbt model verify: {result.summary()}", file=sys.stderr)
        return 1
    return 0


def _none(p: argparse.ArgumentParser) -> None:
    return None


MAGIC_COMMANDS = (
    Command("register", "Log a fitted model as a new registered version (with data fingerprint, "
            "schema and profile when --data is given).", _register_args, _register),
    Command("models", "List registered models: latest version, aliases, last update.", _none, _models),
    Command("versions", "List the versions of a model with metrics, aliases and data fingerprint.",
            _versions_args, _versions),
    Command("load", "Load the native model of REF after verifying its sha256 (and its signature when one "
            "is required).", _load_args, _load),
    Command("promote", "Move an alias to a version when every --require gate holds.", _promote_args, _promote),
    Command("rollback", "Move an alias back to the version that held it before.", _rollback_args, _rollback),
    Command("unalias", "Remove an alias from a model (a server on it keeps its last version).",
            _unalias_args, _unalias),
    Command("lineage", "Data fingerprint, schema, params, metrics, git commit, notebook, pipeline run.",
            _lineage_args, _lineage),
    Command("sign", "Sign a version's stored files and nbt.* tags with the private key in NBT_SIGNING_KEY.",
            _sign_args, _sign),
    Command("verify", "Check a version's signature against trusted public keys (--key or NBT_TRUSTED_KEYS): "
            "valid, by which key, and what changed since signing.", _verify_args, _verify),
)

_CLI_NAMES = {"models", "versions", "promote", "rollback", "unalias", "lineage", "sign"}
CLI_COMMANDS = (
    *(c for c in MAGIC_COMMANDS if c.name in _CLI_NAMES),
    Command("verify", "Check a version's signature against trusted public keys (--key or NBT_TRUSTED_KEYS); "
            "exit 1 when it is unsigned or does not verify, naming what changed.", _verify_args, _verify_cli),
)
