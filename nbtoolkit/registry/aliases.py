"""Moving aliases: promotion gates, promote, rollback, unalias (with alias history in tags).

An alias that is a near miss of one the model already has (``Champion`` or ``champoin`` beside
``champion``) is refused unless the caller says it is new (``new_alias=True``): a typo would
otherwise create a second alias that nothing serves while the real one stays where it was.
"""

from __future__ import annotations

import contextlib
import json
import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .. import store
from ..errors import BadInput, Cmd, GateFailed, ModelNotFound, did_you_mean, say
from ..refs import ModelRef, check_alias, check_name, check_version, parse_ref
from ..reports.registry import PromotionResult
from .lookup import _all_versions, _require_model, resolve, run_metrics
from .tags import ALIAS_HISTORY, HISTORY_KEEP, compare_tag

if TYPE_CHECKING:
    from mlflow.entities.model_registry import ModelVersion


# --------------------------------------------------------------------------------- gates
_GATE = re.compile(r"^\s*(?P<metric>[A-Za-z_][\w.\-/]*)\s*(?P<op>>=|<=|==|!=|>|<)\s*(?P<value>[^\s]+)\s*$")
_OPS = {">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt,
        "==": operator.eq, "!=": operator.ne}


@dataclass(frozen=True)
class Gate:
    """``METRIC OP VALUE`` (e.g. ``accuracy>=0.9``) or ``beats=REF`` (see evaluation.compare)."""

    metric: str
    op: str
    value: float | str

    @classmethod
    def parse(cls, text: str) -> Gate:
        text = str(text).strip()
        m = re.match(r"^beats\s*=\s*(?P<ref>\S+)$", text)
        if m:
            return cls("beats", "=", str(parse_ref(m["ref"])))
        # Shell-safe spellings (no > or < for the shell to take as a redirection):
        # METRIC:VALUE and METRIC=min:VALUE mean METRIC>=VALUE; METRIC=max:VALUE means METRIC<=VALUE.
        safe = re.match(r"^(?P<metric>[A-Za-z_][\w.\-/]*)(?::|=(?P<bound>min|max):)(?P<value>\S+)$", text)
        m = _GATE.match(text)
        if safe:
            metric, op, raw = safe["metric"], "<=" if safe["bound"] == "max" else ">=", safe["value"]
        elif m:
            metric, op, raw = m["metric"], m["op"], m["value"]
        elif re.match(r"^[A-Za-z_][\w.\-/]*\s*[<>=!]*$", text):
            metric = text.rstrip("<>=!") if len(text) <= 80 else "METRIC"  # a 10k name is not echoed 3 times
            raise BadInput(
                f"Gate {text!r} has no value: the shell takes an unquoted > or < as a redirection "
                f"(and may have written a file named like '=0.9'); quote it ('{metric}>=0.9') "
                f"or write {metric}:0.9."
            )
        else:
            raise BadInput(
                f"Malformed gate {text!r}; write METRIC:MIN or METRIC=max:MAX (shell-safe), e.g. "
                "accuracy:0.9, or quoted 'accuracy>=0.9' (also <=, >, <, ==), or beats=NAME@champion."
            )
        try:
            value = float(raw)
        except ValueError:
            raise BadInput(f"Gate {text!r} compares with {raw!r}, which is not a number.") from None
        return cls(metric, op, value)

    def __str__(self) -> str:
        return f"{self.metric}{self.op}{self.value:g}" if self.metric != "beats" else f"beats={self.value}"


def check_gates(mv: ModelVersion, gates: Sequence[str | Gate]) -> list[dict[str, Any]]:
    """Evaluate gates on a version; returns one row per gate (raises on unknown metrics)."""
    parsed = [g if isinstance(g, Gate) else Gate.parse(g) for g in gates]
    metrics = run_metrics(mv) if any(g.metric != "beats" for g in parsed) else {}
    rows = []
    for g in parsed:
        if g.metric == "beats":
            rows.append(_beats_gate(mv, str(g.value)))
            continue
        observed = metrics[gate_metric(g, metrics, f"{mv.name}/{mv.version}")]
        rows.append({"gate": str(g), "observed": observed, "passed": bool(_OPS[g.op](observed, g.value))})
    return rows


def gate_metric(gate: Gate, metrics: dict[str, float], where: str) -> str:
    """The metric a gate reads: its exact name, else the one ``DATASET.NAME`` that ends with it.

    Metrics given at registration keep their names (``accuracy``); ``evaluate --log`` writes
    ``DATASET.METRIC`` (``test.accuracy``). A bare name that more than one of them could mean is
    refused with the candidates, rather than silently picking one.
    """
    name = gate.metric
    candidates = [k for k in metrics if k == name or k.endswith("." + name)]
    if len(candidates) == 1:
        return candidates[0]
    if candidates:
        raise BadInput(
            f"Gate {str(gate)!r} is ambiguous on {where}: {name!r} could be "
            f"{', '.join(sorted(candidates))}; name one, e.g. '{sorted(candidates)[-1]}{gate.op}{gate.value:g}'."
        )
    hint = (did_you_mean(name, metrics, what="Its metrics"),) if metrics else (
        " It has no metrics; log some with ", Cmd("evaluate"), " ... --log or --metric k=v.")
    raise BadInput(say(f"Gate {str(gate)!r}: version {where} has no metric {name!r}.", *hint))


def _beats_gate(mv: ModelVersion, other: str) -> dict[str, Any]:
    """``beats=REF``: a stored ``compare`` verdict of this version against ``other``."""
    target = resolve(other)
    key = compare_tag(target.name, target.version)
    verdict = (mv.tags or {}).get(key)
    if verdict is None:
        raise BadInput(say(
            f"Gate 'beats={other}': no comparison of {mv.name}/{mv.version} against "
            f"{target.name}/{target.version} is recorded; run ", Cmd("compare"), f" {other} "
            f"{mv.name}/{mv.version} X y --log first."
        ))
    return {"gate": f"beats={other}", "observed": verdict, "passed": verdict == "B better"}


# --------------------------------------------------------------------------------- aliases
def promote(
    name: str,
    version: str | int,
    *,
    alias: str,
    require: Sequence[str | Gate] = (),
    new_alias: bool = False,
) -> PromotionResult:
    """Move ``alias`` to ``version`` when every gate in ``require`` holds; else raise GateFailed.

    An alias the model does not have yet that is a near miss of one it has (equal ignoring case,
    or within two edits) is refused with the alias it probably means, unless ``new_alias=True``.

    Parameters
    ----------
    name : registered model name
    version : the version to move the alias to (a whole number, ``3`` or ``"3"``)
    alias : the alias to move, e.g. ``"champion"``
    require : gates that must hold on the version's logged metrics (``"accuracy>=0.9"``,
        ``"accuracy:0.9"``, ``"beats=NAME@champion"``)
    new_alias : create ``alias`` even when it is a near miss of an alias the model has

    Concurrency rule: every move of one alias (promote, rollback or unalias, from any process or
    machine) runs under a registry lock (:func:`nbtoolkit.locks.registry_lock`), so racing moves
    apply one after the other and the end state is that of some serial order. A promote racing a
    rollback therefore ends either as "rollback, then promote" (the alias holds the promoted
    version, the rolled-back-to version is its previous holder) or as "promote, then rollback"
    (the rollback undoes that promote); the alias and its history never disagree. Gates are
    checked before the lock is taken, on the version's logged metrics.
    """
    check_name(name)
    check_alias(alias)
    version = check_version(version)
    from ..validation import sequence, shown

    gates = [g if isinstance(g, Gate) else Gate.parse(g) for g in sequence(require, "require", of=(str, Gate))]
    if not isinstance(new_alias, bool):
        raise BadInput(f"new_alias must be True or False, got {shown(new_alias)}.")
    mv = resolve(ModelRef(name, version))
    if not new_alias:
        refuse_near_miss(name, alias, store.read(store.client().get_registered_model, name).aliases)
    rows = check_gates(mv, gates)
    failed = [r for r in rows if not r["passed"]]
    if failed:
        detail = "; ".join(f"{r['gate']} (observed {_fmt(r['observed'])})" for r in failed)
        raise GateFailed(
            f"Refused to move {name}@{alias} to version {version}: gate failed: {detail}."
        )
    c = store.client()
    store.require_model_permission(name, "EDIT", "moving an alias")  # before the lock: a refusal writes nothing
    with _alias_lock(name, alias):
        rm = store.read(c.get_registered_model, name)
        previous = (rm.aliases or {}).get(alias)
        moved = previous is not None and str(previous) != version
        _write(c, rm, alias, [*_history(rm, alias), str(previous)] if moved else None,
               lambda: c.set_registered_model_alias(name, alias, version))
    return PromotionResult(name=name, alias=alias, version=version,
                           previous=str(previous) if previous is not None else None,
                           gates=rows, action="promote")


def rollback(name: str, *, alias: str) -> PromotionResult:
    """Move ``alias`` back to the version that held it before the last promotion.

    After :func:`unalias`, the alias is restored on the version that held it when it was removed.
    """
    check_name(name)
    check_alias(alias)
    rm = _require_model(name)  # what can be refused is refused before the lock (a write) is taken
    if (rm.aliases or {}).get(alias) is None and not _history(rm, alias):
        raise _no_alias(name, alias, rm.aliases, "to roll back")
    if not _history(rm, alias):
        raise BadInput(f"{name}@{alias} (version {rm.aliases[alias]}) has no earlier holder to roll back to.")
    store.require_model_permission(name, "EDIT", "moving an alias")
    with _alias_lock(name, alias):  # see promote(): moves of one alias are serialised
        rm = _require_model(name)
        current = (rm.aliases or {}).get(alias)
        history = _history(rm, alias)
        if current is None and not history:
            raise _no_alias(name, alias, rm.aliases, "to roll back")
        existing = {str(v.version) for v in _all_versions(name)}
        while history and (history[-1] not in existing or history[-1] == str(current)):
            history.pop()  # skip deleted versions and no-op entries
        if not history:
            held = f"version {current}" if current is not None else "removed"
            raise BadInput(f"{name}@{alias} ({held}) has no earlier holder to roll back to.")
        target = history.pop()
        c = store.client()
        _write(c, rm, alias, history, lambda: c.set_registered_model_alias(name, alias, target))
    return PromotionResult(name=name, alias=alias, version=target,
                           previous=str(current) if current is not None else None,
                           gates=[], action="rollback")


def unalias(name: str, *, alias: str) -> PromotionResult:
    """Remove ``alias`` from model ``name``.

    The version that held it is appended to the alias history, so :func:`rollback` puts the
    alias back on it. A server that served the alias keeps serving that version and says on
    ``/health`` that the alias is gone. Removing an alias the model does not have is refused
    (with the alias it probably means) and writes nothing.

    Parameters
    ----------
    name : registered model name
    alias : the alias to remove, e.g. ``"challenger"``

    Returns
    -------
    PromotionResult
        ``action="unalias"``; ``version`` is the version that held the alias.
    """
    check_name(name)
    check_alias(alias)
    rm = _require_model(name)
    if (rm.aliases or {}).get(alias) is None:
        raise _no_alias(name, alias, rm.aliases, "to remove")
    # MLflow's permission model: deleting an alias needs MANAGE (moving one needs EDIT)
    store.require_model_permission(name, "MANAGE", "removing an alias")
    with _alias_lock(name, alias):  # the same lock as promote and rollback: one move at a time
        rm = _require_model(name)
        current = (rm.aliases or {}).get(alias)
        if current is None:
            raise _no_alias(name, alias, rm.aliases, "to remove")
        history = [*_history(rm, alias), str(current)]
        c = store.client()
        _write(c, rm, alias, history, lambda: c.delete_registered_model_alias(name, alias))
    return PromotionResult(name=name, alias=alias, version=str(current), previous=str(current),
                           gates=[], action="unalias")


def refuse_near_miss(name: str, alias: str, aliases: Any, *, hint: str = "") -> None:
    """Raise :class:`BadInput` when ``alias`` is new to the model but a near miss of one it has.

    A near miss is equal ignoring case, or within two edits (Levenshtein; a swap of two letters,
    ``champoin``, is two) of an existing alias, with the same digits (``w1`` beside ``w0`` is
    numbered on purpose) and not a whole word replaced (``ab`` beside ``cd``). ``hint`` replaces the default way out
    ("pass --new-alias").
    """
    aliases = dict(aliases or {})
    if alias in aliases:
        return
    close = near_misses(alias, aliases)
    if close:
        held = ", ".join(f"{a!r} (version {aliases[a]})" for a in close)
        raise BadInput(
            f"Refused to create alias {alias!r} on {name!r}: it is a near miss of its alias {held}. "
            f"Did you mean {close[0]!r}? "
            + (hint or f"If {alias!r} is meant to be a new alias, pass --new-alias (new_alias=True).")
        )


def refuse_near_miss_on_register(name: str, alias: str) -> None:
    """:func:`refuse_near_miss` for ``register(alias=)``, checked before anything is written."""
    if store.is_new_store():
        return
    try:
        rm = store.read(store.client().get_registered_model, name)
    except ModelNotFound:  # a new model has no aliases to be confused with
        return
    refuse_near_miss(name, alias, rm.aliases, hint=(
        f"If {alias!r} is meant to be a new alias, register without --alias, then promote the new "
        f"version with --alias {alias} --new-alias."))


def near_misses(alias: str, known: Any) -> list[str]:
    """The aliases in ``known`` that ``alias`` is a near miss of, closest first."""
    scored = []
    for given in known or ():
        other = str(given)
        if other == alias:
            continue
        if other.casefold() == alias.casefold():
            scored.append((0, other))
            continue
        if _digits(other) != _digits(alias):
            continue  # numbered aliases (w1 beside w0, canary2 beside canary) are deliberate
        d = _edits(alias.casefold(), other.casefold(), limit=2)
        # replacing a whole short word ("ab" -> "cd") is another word, not a typo
        if d <= 2 and d < min(len(alias), len(other)):
            scored.append((d, other))
    return [other for _, other in sorted(scored)]


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


def _edits(a: str, b: str, *, limit: int) -> int:
    """Levenshtein distance of ``a`` and ``b``, or ``limit + 1`` once it must exceed ``limit``."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        row = [i]
        for j, cb in enumerate(b, 1):
            row.append(min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (ca != cb)))
        if min(row) > limit:
            return limit + 1
        previous = row
    return previous[-1]


def _no_alias(name: str, alias: str, aliases: Any, purpose: str) -> ModelNotFound:
    """``Model 'm' has no alias 'champoin' to remove. Did you mean 'champion'?``"""
    aliases = dict(aliases or {})
    close = near_misses(alias, aliases)
    if close:
        hint = f" Did you mean {close[0]!r}?"
    elif aliases:
        hint = did_you_mean(alias, aliases, what="Aliases")
    else:
        hint = " It has no aliases."
    return ModelNotFound(f"Model {name!r} has no alias {alias!r} {purpose}.{hint}")


def _write(c: Any, rm: Any, alias: str, history: list[str] | None, change: Callable[[], Any]) -> None:
    """Write the alias history (unless None), then ``change`` the alias; when the change fails
    the history is put back, so the alias and its history never disagree."""
    key = ALIAS_HISTORY + alias
    before = (rm.tags or {}).get(key)
    with store.translate_errors(denied=f"permission to change {rm.name}@{alias}"):
        if history is not None:
            c.set_registered_model_tag(rm.name, key, json.dumps(history[-HISTORY_KEEP:]))
        try:
            change()
        except Exception:
            if history is not None:
                with contextlib.suppress(Exception):
                    if before is None:
                        c.delete_registered_model_tag(rm.name, key)
                    else:
                        c.set_registered_model_tag(rm.name, key, before)
            raise


def _alias_lock(name: str, alias: str) -> Any:
    from ..locks import registry_lock

    return registry_lock(f"{name}@{alias}")


def _history(rm: Any, alias: str) -> list[str]:
    raw = (rm.tags or {}).get(ALIAS_HISTORY + alias)
    if not raw:
        return []
    try:
        return [str(v) for v in json.loads(raw)]
    except ValueError:
        return []


def _fmt(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


