"""Versioning on MLflow: register, load, promote, rollback, models, versions, lineage.

Models are stored in a safe format per kind (:mod:`.formats`: skops with an allow-list of
trusted types, XGBoost/LightGBM in their own files; cloudpickle only when asked). A registered
version carries, as MLflow model-version tags (``nbt.*``), everything needed to
trust it later: the sha256 of its stored files (checked on every :func:`load`), the data
fingerprint, git commit and notebook. Its schema and drift profile are JSON artefacts of the run
that logged it (``nbt/schema.json``, ``nbt/profile.json``); its metrics are that run's metrics,
which is where :func:`promote` gates read them.

Alias history lives in registered-model tags ``nbt.alias_history.<alias>`` (a JSON list of the
previous holders, most recent last; :func:`unalias` appends the holder it removed), so
:func:`rollback` survives kernel restarts and puts a removed alias back.

The package: :mod:`.versioning` (register), :mod:`.lookup` (resolve, load, browse, lineage),
:mod:`.aliases` (gates, promote, rollback, unalias), :mod:`.signing` (sign, verify; the check
behind load when a signature is required), :mod:`.tags` (tag keys and artefact paths).
"""

from __future__ import annotations

from .aliases import Gate, check_gates, promote, rollback, unalias
from .artifacts import stored_contract, stored_profile
from .integrity import tree_sha256
from .loading import load
from .lookup import lineage, models, read_artifact_text, resolve, run_metrics, versions
from .tags import (ALIAS_HISTORY, CONTRACT_ARTIFACT, HISTORY_KEEP, MODEL_ARTIFACT, PROFILE_ARTIFACT,
                   SCHEMA_ARTIFACT, TAG_FINGERPRINT, TAG_GIT, TAG_NOTEBOOK, TAG_PIPELINE_RUN, TAG_SHA,
                   TAG_FLAVOR, TAG_FORMAT, TAG_TASK, TAG_THRESHOLD, TAG_TRAINING_RUN, TAG_TRUSTED, TAG_UNSAFE)
from .metadata import log_version_metrics, set_version_tag
from .signing import sign, verify
from .versioning import git_commit, pip_requirements, register

__all__ = [
                   "ALIAS_HISTORY",
                   "CONTRACT_ARTIFACT",
                   "HISTORY_KEEP",
                   "MODEL_ARTIFACT",
                   "PROFILE_ARTIFACT",
                   "SCHEMA_ARTIFACT",
                   "TAG_FINGERPRINT",
                   "TAG_FLAVOR",
                   "TAG_FORMAT",
                   "TAG_GIT",
                   "TAG_NOTEBOOK",
                   "TAG_PIPELINE_RUN",
                   "TAG_SHA",
                   "TAG_TASK",
                   "TAG_THRESHOLD",
                   "TAG_TRAINING_RUN",
                   "TAG_TRUSTED",
                   "TAG_UNSAFE",
                   "Gate",
                   "check_gates",
                   "git_commit",
                   "lineage",
                   "load",
                   "log_version_metrics",
                   "models",
                   "pip_requirements",
                   "promote",
                   "read_artifact_text",
                   "register",
                   "resolve",
                   "rollback",
                   "run_metrics",
                   "set_version_tag",
                   "sign",
                   "stored_contract",
                   "stored_profile",
                   "tree_sha256",
                   "unalias",
                   "verify",
                   "versions",
]
