"""Where things live: project root, nbtoolkit home, tracking URI, prediction-log URL.

Resolution order (SPEC §3), first match wins:

- tracking URI: ``%config Nbt.tracking_uri`` (an :func:`overrides` block) > ``MLFLOW_TRACKING_URI``
  > ``sqlite:///<home>/mlflow.db``
- registry URI: override > ``MLFLOW_REGISTRY_URI`` > the tracking URI
- home: ``NBT_HOME`` > ``<project root>/.nbtoolkit``
- prediction log: override > ``NBT_PREDICTIONS_URL`` > ``sqlite:///<home>/predictions.db``
- signing key (private, PEM): ``NBT_SIGNING_KEY``; trusted public keys: ``NBT_TRUSTED_KEYS``
  (files separated by ``os.pathsep``); a signature is required when trusted keys are set or
  ``require_signature`` is overridden (``--require-signature``, ``%config Nbt.require_signature``)

Nothing here imports MLflow; :func:`mlflow_client` does so lazily.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

DEFAULT_EXPERIMENT = "nbtoolkit"


@dataclass(frozen=True)
class Overrides:
    """Values set inside a notebook (``%config Nbt...``) that win over the environment."""

    tracking_uri: str | None = None
    registry_uri: str | None = None
    experiment: str | None = None
    predictions_url: str | None = None
    drift_threshold: float | None = None
    notebook_path: str | None = None
    require_signature: bool | None = None


_overrides: contextvars.ContextVar[Overrides] = contextvars.ContextVar(
    "nbtoolkit_overrides", default=Overrides()  # noqa: B039  a frozen dataclass, never mutated
)


@contextlib.contextmanager
def overrides(**values: Any) -> Iterator[Overrides]:
    """Apply notebook-level settings for the duration of a block (used by the magics)."""
    current = _overrides.get()
    given = {k: v for k, v in values.items() if v not in (None, "")}
    token = _overrides.set(replace(current, **given))
    try:
        yield _overrides.get()
    finally:
        _overrides.reset(token)


def current_overrides() -> Overrides:
    return _overrides.get()


def project_root(start: Path | None = None) -> Path:
    """Nearest ancestor of ``start`` (default: cwd) holding ``pyproject.toml`` or ``.git``."""
    start = (start or Path.cwd()).resolve()
    for folder in (start, *start.parents):
        if (folder / "pyproject.toml").exists() or (folder / ".git").exists():
            return folder
    return start


def home() -> Path:
    """The nbtoolkit home folder (created on first use)."""
    env = os.environ.get("NBT_HOME")
    path = Path(env).expanduser().resolve() if env else project_root() / ".nbtoolkit"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _sqlite_url(path: Path) -> str:
    return f"sqlite:///{path.as_posix()}"


def is_embedded(uri: str) -> bool:
    """True for a local store (SQLite file) rather than a tracking server or remote database."""
    return uri.startswith("sqlite:")


def tracking_uri() -> str:
    o = _overrides.get()
    return o.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or _sqlite_url(home() / "mlflow.db")


def registry_uri() -> str:
    o = _overrides.get()
    return o.registry_uri or os.environ.get("MLFLOW_REGISTRY_URI") or tracking_uri()


def artifacts_root() -> Path:
    return home() / "artifacts"


def experiment_name() -> str:
    return _overrides.get().experiment or os.environ.get("NBT_EXPERIMENT") or DEFAULT_EXPERIMENT


def predictions_url() -> str:
    o = _overrides.get()
    return (
        o.predictions_url
        or os.environ.get("NBT_PREDICTIONS_URL")
        or _sqlite_url(home() / "predictions.db")
    )


def drift_threshold() -> float | None:
    return _overrides.get().drift_threshold


def notebook_path() -> str | None:
    """Path of the running notebook when known (set by the magics, papermill or the env)."""
    return _overrides.get().notebook_path or os.environ.get("NBT_NOTEBOOK_PATH") or None


def signing_key() -> str | None:
    """Path of the private key that signs versions (``NBT_SIGNING_KEY``), or None."""
    return os.environ.get("NBT_SIGNING_KEY") or None


def trusted_keys() -> list[str]:
    """Paths of the public keys a signature must verify with (``NBT_TRUSTED_KEYS``, ``os.pathsep``-separated)."""
    return [p for p in os.environ.get("NBT_TRUSTED_KEYS", "").split(os.pathsep) if p.strip()]


def allow_unsafe() -> bool:
    """True when versions stored with cloudpickle may be loaded (``NBT_ALLOW_UNSAFE=1``).

    Off by default: a cloudpickle file runs code when it is read, and anyone who can write to the
    store can tag a version cloudpickle. A version whose signature verifies with a trusted key loads
    without it (the signature covers its format tag).
    """
    return os.environ.get("NBT_ALLOW_UNSAFE", "").strip().lower() in ("1", "true", "yes")


def require_signature() -> bool:
    """True when a version must be signed to be used: trusted keys set, or asked for explicitly."""
    return bool(_overrides.get().require_signature) or bool(trusted_keys())


def runs_dir(pipeline: str) -> Path:
    return home() / "runs" / pipeline


def describe() -> dict[str, str]:
    """The resolved settings, for ``nbt info`` and error messages."""
    return {
        "project_root": str(project_root()),
        "home": str(home()),
        "tracking_uri": tracking_uri(),
        "registry_uri": registry_uri(),
        "experiment": experiment_name(),
        "predictions_url": predictions_url(),
        "signing_key": signing_key() or "(none: NBT_SIGNING_KEY)",
        "trusted_keys": os.pathsep.join(trusted_keys()) or "(none: NBT_TRUSTED_KEYS; signatures not required)",
    }
