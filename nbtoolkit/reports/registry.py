"""Result objects of the registry: a registered version, model/version tables, promotions, lineage."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from .base import Result, html_table

if TYPE_CHECKING:
    import pandas as pd


class RegisteredVersion(Result):
    """A new registered version; behaves like MLflow's ``ModelVersion`` (attributes delegate)."""

    def __init__(self, model_version: Any, *, metrics: dict[str, float], params: dict[str, str]) -> None:
        self.model_version = model_version
        self.metrics = dict(metrics)
        self.params = dict(params)
        self.aliases: list[str] = list(getattr(model_version, "aliases", None) or [])

    def __getattr__(self, item: str) -> Any:  # name, version, run_id, tags, source, ...
        if item == "model_version":
            raise AttributeError(item)
        return getattr(self.model_version, item)

    @property
    def ref(self) -> str:
        return f"{self.model_version.name}/{self.model_version.version}"

    def to_dict(self) -> dict[str, Any]:
        mv = self.model_version
        tags = mv.tags or {}
        return {
            "name": mv.name,
            "version": mv.version,
            "aliases": self.aliases,
            "run_id": mv.run_id,
            "metrics": self.metrics,
            "params": self.params,
            "data_fingerprint": tags.get("nbt.data_fingerprint"),
            "artifact_sha256": tags.get("nbt.artifact_sha256"),
            "git_commit": tags.get("nbt.git_commit"),
        }

    def summary(self) -> str:
        alias = f" (@{', @'.join(self.aliases)})" if self.aliases else ""
        return f"Registered {self.ref}{alias}"

    def __str__(self) -> str:
        d = self.to_dict()
        lines = [self.summary()]
        for key in ("run_id", "data_fingerprint", "artifact_sha256", "git_commit"):
            if d[key]:
                lines.append(f"  {key}: {d[key]}")
        if self.metrics:
            lines.append("  metrics: " + ", ".join(f"{k}={v:.4g}" for k, v in self.metrics.items()))
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        from .render import render

        return render("text.html.j2", text=str(self), inline=False)


class ModelsTable(Result):
    """Registered models (``%nbt models``)."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows

    def to_dict(self) -> dict[str, Any]:
        return {"models": self.rows}

    def to_frame(self) -> pd.DataFrame:
        import pandas as pd

        frame = pd.DataFrame(self.rows, columns=["name", "latest_version", "versions", "aliases", "last_updated"])
        frame["aliases"] = frame["aliases"].map(
            lambda a: ", ".join(f"@{k}=v{v}" for k, v in sorted(a.items())) if a else "")
        return frame

    def summary(self) -> str:
        return f"{len(self.rows)} registered model(s)"

    def __len__(self) -> int:
        return len(self.rows)


class VersionsTable(Result):
    """Versions of one model (``%nbt versions NAME``)."""

    def __init__(self, name: str, rows: list[dict[str, Any]]) -> None:
        self.name = name
        self.rows = rows

    def to_dict(self) -> dict[str, Any]:
        rows = [{**r, "threshold": _number(r.get("threshold"))} for r in self.rows]
        return {"name": self.name, "versions": rows}

    def to_frame(self) -> pd.DataFrame:
        import pandas as pd

        metric_names = self._shown_metrics()
        records = []
        for r in self.rows:
            rec = {
                "version": r["version"],
                "aliases": ", ".join("@" + a for a in r["aliases"]),
                "created": (r["created"] or "")[:16],
                **{m: r["metrics"].get(m) for m in metric_names},
                "data": (r["data_fingerprint"] or "")[:8],
                "threshold": _number(r.get("threshold")),
            }
            if any(x.get("tags") for x in self.rows):  # columns only when some version has them
                rec["tags"] = ", ".join(f"{k}={v}" for k, v in (r.get("tags") or {}).items())
            if any(x.get("description") for x in self.rows):
                rec["description"] = r.get("description") or ""
            records.append(rec)
        return pd.DataFrame(records)

    MAX_METRICS = 5

    def _shown_metrics(self) -> list[str]:
        """The metrics most versions have (at most MAX_METRICS; to_dict() keeps them all)."""
        counts: dict[str, int] = {}
        for r in self.rows:
            for m in r["metrics"]:
                counts[m] = counts.get(m, 0) + 1
        ranked = sorted(counts, key=lambda m: (-counts[m], m))[: self.MAX_METRICS]
        return sorted(ranked)

    def summary(self) -> str:
        return f"{self.name}: {len(self.rows)} version(s)"

    def __len__(self) -> int:
        return len(self.rows)


# repr=False: the dataclass __repr__ would hide Result._repr_pretty_ (IPython shows the text view).
@dataclass(repr=False)
class PromotionResult(Result):
    """An alias move (promote, rollback or unalias), with the gates that were checked."""

    name: str
    alias: str
    version: str
    previous: str | None
    gates: list[dict[str, Any]] = field(default_factory=list)
    action: str = "promote"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_frame(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame(self.gates, columns=["gate", "observed", "passed"])

    def summary(self) -> str:
        if self.action == "unalias":
            return (f"Removed {self.name}@{self.alias} (it pointed at version {self.version}; "
                    f"rollback puts it back there)")
        verb = "Rolled back" if self.action == "rollback" else "Moved"
        was = f" (was version {self.previous})" if self.previous else ""
        held = [f"{g['gate']} ({_observed(g['observed'])})" for g in self.gates if g["passed"]]
        gates = f" — gates held: {', '.join(held)}" if held else ""
        return f"{verb} {self.name}@{self.alias} to version {self.version}{was}{gates}"

    def __str__(self) -> str:
        lines = [self.summary()]
        lines += [f"  gate {g['gate']}: observed {g['observed']} -> {'ok' if g['passed'] else 'FAILED'}"
                  for g in self.gates]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        from .render import result

        return result(self.summary(), tables=[("", html_table(self.to_frame()))] if self.gates else [])


@dataclass(repr=False)
class Lineage(Result):
    """Where a version came from (``%nbt lineage REF``)."""

    name: str
    version: str
    aliases: list[str]
    created: str | None
    data_fingerprint: str | None
    schema: dict[str, Any] | None
    params: dict[str, str]
    metrics: dict[str, float]
    git_commit: str | None
    notebook: str | None
    pipeline_run: str | None
    run_id: str | None
    artifact_sha256: str | None
    tags: dict[str, str] = field(default_factory=dict)
    #: MLflow dataset inputs of the version's run: name, digest, context (training / evaluation)
    datasets: list[dict[str, str]] = field(default_factory=list)
    #: where each metric came from: "given at registration" or "evaluate on DATASET"
    metric_sources: dict[str, str] = field(default_factory=dict)
    model_format: str | None = None
    training_run: str | None = None
    description: str | None = None  # the version's, as given at register

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_frame(self) -> pd.DataFrame:
        import pandas as pd

        rows = [
            ("model", f"{self.name}/{self.version}"),
            ("description", self.description),
            ("aliases", ", ".join(self.aliases)),
            ("created", self.created),
            ("data_fingerprint", self.data_fingerprint),
            ("git_commit", self.git_commit),
            ("notebook", self.notebook),
            ("pipeline_run", self.pipeline_run),
            ("run_id", self.run_id),
            ("artifact_sha256", self.artifact_sha256),
            ("format", self.model_format),
            ("training_run", self.training_run),
        ]
        rows += [(f"tag.{k}", v) for k, v in user_tags(self.tags).items()]
        rows += [(f"dataset.{d['context']}", f"{d['name']} (digest {d['digest']})") for d in self.datasets]
        rows += [(f"param.{k}", v) for k, v in sorted(self.params.items())]
        rows += [(f"metric.{k}", f"{v:.4g}" + (f"  ({self.metric_sources[k]})" if k in self.metric_sources else ""))
                 for k, v in sorted(self.metrics.items())]
        if self.schema:
            for col, info in self.schema.get("columns", {}).items():
                rows.append((f"schema.{col}", (f"{info.get('dtype')} ({info.get('kind')}), "
                                               f"null {info.get('null_rate', 0):.1%}")))
        return pd.DataFrame(rows, columns=["field", "value"])

    def summary(self) -> str:
        return f"Lineage of {self.name}/{self.version}"


def user_tags(tags: Any) -> dict[str, str]:
    """A version's tags without nbtoolkit's and MLflow's own (``nbt.*``, ``mlflow.*``): the
    ``tags=`` / ``--tag`` given at register, or set later."""
    return {str(k): v for k, v in sorted((tags or {}).items()) if not str(k).startswith(("nbt.", "mlflow."))}


def _observed(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _number(value: Any) -> Any:
    """A tag holding a number (``nbt.threshold``) as a number in JSON and tables."""
    if value is None or isinstance(value, (int, float)):
        return value
    try:
        return float(value)
    except (TypeError, ValueError):
        return value
