"""One word per concept on every surface: magic flag, CLI flag, API argument, config / env.

:data:`CONCEPTS` is the table the "One vocabulary" section of docs/cli.md shows; a test checks every
row against the real magic parsers, the ``nbt`` parser, the API signatures and the ``Nbt``
traits, so a surface cannot drift from the others unnoticed. Old spellings keep working as
hidden aliases for one release (:data:`OLD_SPELLINGS`).

Rules behind the words:

- a repeatable flag is singular, its API argument the plural list (``--alert`` / ``alerts=``,
  ``--metric`` / ``metrics=``); ``--metric`` always names a metric, with ``=VALUE`` where the
  command stores one (``register``);
- a flag ``--a-b`` is the API argument ``a_b`` (``--drift-share`` / ``drift_share=``);
- the CLI groups commands by what they act on (``nbt model ...``, ``nbt data ...``,
  ``nbt pipeline ...``); a magic may be written grouped too (``%nbt data drift``).

Standard library only (imported by the commands, which must stay light).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:  # pragma: no cover
    from .errors import Arg

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Concept:
    """One row of the vocabulary table; ``None`` where a surface has no such thing."""

    concept: str
    magic: str | None  # "COMMAND --flag"
    cli: str | None  # "GROUP COMMAND --flag"
    api: str | None  # "function(argument=)"
    config: str | None  # "%config Nbt.x" and/or an environment variable


# The schedulers `nbt pipeline export --to` writes for (nbtoolkit.pipeline.export), and how often
# their wrapper runs by default: here so that building the CLI's parsers imports no pipeline module.
EXPORT_TARGETS = ("airflow", "dagster", "prefect", "cron", "systemd")
EXPORT_EVERY = "1h"

CONCEPTS: tuple[Concept, ...] = (
    Concept("fail (exit 1 / raise) when the check fails", "drift --fail", "data drift --fail",
            "drift(fail=)", None),
    Concept("fail when the data contract is broken", "validate --fail", "data validate --fail",
            "validate(fail=)", None),
    Concept("share of drifted columns that makes the dataset drift", "drift --drift-share",
            "data drift --drift-share", "drift(drift_share=)", "%config Nbt.drift_share"),
    Concept("per-column drift threshold", "drift --threshold", "data drift --threshold",
            "drift(threshold=)", None),
    Concept("drift statistic (auto or one of nbtoolkit.profiles.methods)", "drift --method", "data drift --method",
            "drift(method=)", None),
    Concept("limits learned from the reference chunks: mean ± K sd (drift over time)", "drift --threshold-sd",
            "data drift --threshold-sd", "drift(threshold_sd=)", None),
    Concept("limits learned from the reference chunks: mean ± K sd (estimate)", "estimate --threshold-sd",
            "estimate --threshold-sd", "estimate(threshold_sd=)", None),
    Concept("a model's stored reference (profile / contract)", "drift --model", "data drift --model",
            "drift(model=)", None),
    Concept("also test the model's outputs (prediction drift)", "drift --no-predictions",
            "data drift --no-predictions", "drift(predictions=)", None),
    Concept("metric values stored on a new version", "register --metric", None, "register(metrics=)", None),
    Concept("how a model is stored (skops / cloudpickle)", "register --format", None,
            "register(serialization=)", None),
    Concept("sign the new version (with the private key NBT_SIGNING_KEY)", "register --sign", None,
            "register(sign=)", "NBT_SIGNING_KEY"),
    Concept("private key that signs a version", "sign --key", "model sign --key", "sign(key=)", "NBT_SIGNING_KEY"),
    Concept("public key a signature must verify with", "verify --key", "model verify --key", "verify(keys=)",
            "NBT_TRUSTED_KEYS"),
    Concept("refuse a version that is unsigned or changed since signing", "load --require-signature",
            "serve --require-signature", "load(require_signature=)", "%config Nbt.require_signature, NBT_TRUSTED_KEYS"),
    Concept("promotion gate", "promote --require", "model promote --require", "promote(require=)", None),
    Concept("alias to move", "promote --alias", "model promote --alias", "promote(alias=)", None),
    Concept("create an alias that is a near miss of one the model has", "promote --new-alias",
            "model promote --new-alias", "promote(new_alias=)", None),
    Concept("alias to remove", "unalias --alias", "model unalias --alias", "unalias(alias=)", None),
    Concept("monitoring window", "monitor --window", "monitor --window", "monitor(window=)", None),
    Concept("alert rule", "monitor --alert", "monitor --alert", "monitor(alerts=)", None),
    Concept("pipeline started when an alert fires", "monitor --on-alert", "monitor --on-alert", None, None),
    Concept("prediction log", "monitor --predictions-url", "monitor --predictions-url",
            "monitor(predictions_url=)", "%config Nbt.predictions_url, NBT_PREDICTIONS_URL"),
    Concept("prediction log of a deployment", None, None, "Deployment(predictions_url=)", None),
    Concept("champion alias of an A/B test", "abtest --champion", "abtest --champion",
            "abtest(champion=)", None),
    Concept("challenger alias of an A/B test", "abtest --challenger", "abtest --challenger",
            "abtest(challenger=)", None),
    Concept("bootstrap resamples", "compare --resamples", None, "compare(resamples=)", None),
    Concept("candidate confidence thresholds", "threshold --thresholds", None,
            "threshold(thresholds=)", None),
    Concept("metrics to compute", "evaluate --metric", None, "evaluate(metrics=)", None),
    Concept("name of the evaluated data (metrics logged as NAME.metric)", "evaluate --dataset", None,
            "evaluate(dataset=)", None),
    Concept("pipeline parameter", "pipeline run -p", "pipeline run -p", "run_pipeline(parameters=)", None),
    Concept("pipeline steps to run", "pipeline run --step", "pipeline run --step",
            "run_pipeline(steps=)", None),
    Concept("rerun cached steps", "pipeline run --force", "pipeline run --force",
            "run_pipeline(force=)", None),
    Concept("Jupyter kernel of the steps (papermill's -k; step key kernel:)", "pipeline run --kernel",
            "pipeline run --kernel", "run_pipeline(kernel=)", None),
    Concept("run the partitions that are new or whose data changed", "pipeline run --pending",
            "pipeline run --pending", "run_pipeline(pending=)", None),
    Concept("one partition, by its key value", "pipeline run --partition", "pipeline run --partition",
            "run_pipeline(partition=)", None),
    Concept("partitions in a range FROM..TO", "pipeline run --backfill", "pipeline run --backfill",
            "run_pipeline(backfill=)", None),
    Concept("how performance is estimated without labels (cbpe / shift / auto)", "estimate --method",
            "estimate --method", "estimate(method=)", None),
    Concept("the model's input columns (a shift-aware estimate's domain classifier, a regression estimate's "
            "loss models)", "estimate --features",
            "estimate --features", "estimate(features=)", None),
    Concept("machine-readable output", None, "model list --format", "to_dict()", None),
    Concept("tracking store", None, None, None, "%config Nbt.tracking_uri, MLFLOW_TRACKING_URI"),
)

# Old spelling -> new spelling, per surface (hidden: accepted, not shown in --help).
OLD_SPELLINGS: dict[str, dict[str, str]] = {
    "cli": {"--fail-on-drift": "--fail", "--share": "--drift-share", "--log-url": "--predictions-url",
            "--json": "--format json", "--points": "--thresholds", "--alert-sd": "--threshold-sd",
            "nbt run": "nbt pipeline run", "nbt status": "nbt pipeline status",
            "nbt models": "nbt model list", "nbt versions": "nbt model versions",
            "nbt promote": "nbt model promote", "nbt rollback": "nbt model rollback",
            "nbt lineage": "nbt model lineage", "nbt drift": "nbt data drift",
            "nbt validate": "nbt data validate"},
    "api": {"raise_on_drift": "fail", "raise_on_fail": "fail", "log": "predictions_url",
            "champion_alias": "champion", "challenger_alias": "challenger", "n_resamples": "resamples",
            "alert_sd": "threshold_sd"},
    "config": {"Nbt.drift_threshold": "Nbt.drift_share"},
}


# A message tells the user what to pass as an :class:`~nbtoolkit.errors.Arg` (the API keyword); a
# magic or an ``nbt`` command spells it as its flag, with the flag's own placeholder: :func:`flag`.
# A keyword without a flag here keeps its Python spelling. A test checks every flag against the parsers.
FLAGS: dict[str, str] = {
    "columns": "--columns a,b",
    "reference": "--reference",
    "model": "--model NAME@alias",
    "chunk_number": "--chunk-number",
    "timestamp": "--timestamp COL",
    "slices": "--slice COL",  # a repeatable flag is singular, its API argument the plural list
}


def flag(arg: Arg) -> str:
    """How a magic or the CLI names ``arg``: its flag (:data:`FLAGS`), else its Python spelling."""
    return FLAGS.get(arg.name) or arg.python()


def renamed(**old_to_new: str) -> Callable[[F], F]:
    """Accept old keyword names of a function: ``@renamed(raise_on_drift="fail")``.

    Passing both the old and the new name is a :class:`~nbtoolkit.errors.BadInput`.
    """

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            for old, new in old_to_new.items():
                if old in kwargs:
                    if new in kwargs:
                        from .errors import BadInput

                        raise BadInput(f"{fn.__name__}() got both {new}= and its old name {old}=; "
                                       f"pass {new}= only.")
                    kwargs[new] = kwargs.pop(old)
            return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


def markdown_table() -> str:
    """The vocabulary table of docs/cli.md (a test keeps the page and this table the same)."""

    def cell(value: str | None, prefix: str = "") -> str:
        if value is None:
            return "—"
        return ", ".join(f"`{prefix}{part.strip()}`" for part in value.split(", "))

    lines = ["| Concept | Magic | CLI | Python API | Config / env |", "| --- | --- | --- | --- | --- |"]
    for c in CONCEPTS:
        lines.append(f"| {c.concept} | {cell(c.magic, '%nbt ')} | {cell(c.cli, 'nbt ')} | "
                     f"{cell(c.api, 'nbt.' if c.api and not c.api.startswith('to_') else '')} | {cell(c.config)} |")
    return "\n".join(lines)
