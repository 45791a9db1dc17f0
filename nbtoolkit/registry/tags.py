"""Where a version's metadata lives: MLflow tag keys and run-artefact paths."""

from __future__ import annotations

TAG_SHA = "nbt.artifact_sha256"
TAG_FINGERPRINT = "nbt.data_fingerprint"
TAG_GIT = "nbt.git_commit"
TAG_NOTEBOOK = "nbt.notebook"
TAG_PIPELINE_RUN = "nbt.pipeline_run"
TAG_THRESHOLD = "nbt.threshold"
TAG_TASK = "nbt.task"
TAG_CLASSES = "nbt.classes"   # JSON list of a classifier's classes_ (what an outcome may be)
ALIAS_HISTORY = "nbt.alias_history."
SCHEMA_ARTIFACT = "nbt/schema.json"
PROFILE_ARTIFACT = "nbt/profile.json"
CONTRACT_ARTIFACT = "nbt/contract.json"
MODEL_ARTIFACT = "model"
HISTORY_KEEP = 50
TAG_FLAVOR = "nbt.flavor"            # sklearn | xgboost | lightgbm | pyfunc
TAG_FORMAT = "nbt.format"            # skops | ubj | lgb | cloudpickle
TAG_TRUSTED = "nbt.skops_trusted_types"   # JSON list handed to skops on load
TAG_UNSAFE = "nbt.unsafe_to_load_from_untrusted_sources"
TAG_TRAINING_RUN = "nbt.training_run"     # the tracked run the model was fitted in
COMPARE_PREFIX = "nbt.compare."          # + NAME.VERSION: a compare verdict against that version


def compare_tag(name: str, version: str | int) -> str:
    """Tag key of a ``compare`` verdict against ``name``/``version`` (read by the ``beats=`` gate)."""
    return f"{COMPARE_PREFIX}{name}.{version}"
