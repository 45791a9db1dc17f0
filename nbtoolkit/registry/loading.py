"""Loading a version's model: download, signature and sha256 checks, then the format's reader.

The one path every surface takes to a model (``nbt.load``, evaluate, drift with predictions,
``nbt serve``): :func:`load` resolves the reference (:mod:`.lookup`), checks a required signature
(:mod:`.signing`) and the recorded sha256 (:mod:`.integrity`), and reads the folder with
:func:`.readers.load_local` — here, or in the helper process the caller passes (:mod:`.model_process`).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from .. import config, store
from ..errors import BadInput, IntegrityError
from ..refs import ModelRef
from . import signing
from .integrity import tree_sha256
from .lookup import resolve
from .tags import TAG_SHA

if TYPE_CHECKING:
    from .model_process import ModelProcess


def load(ref: str | ModelRef, *, require_signature: bool = False, allow_unsafe: bool = False,
         process: ModelProcess | None = None) -> Any:
    """Load the native model of ``ref`` after verifying its sha256 (refuses a changed artefact).

    The model is read in the format recorded on the version (:mod:`.formats`): skops, audited
    against nbtoolkit's allow-list from the file itself (:mod:`.trust`), XGBoost's and LightGBM's
    own files, or cloudpickle — only when allowed, and then it warns once.

    With ``require_signature=True``, or whenever ``NBT_TRUSTED_KEYS`` is set, the version must
    carry a signature by one of the trusted keys that still covers its stored files and tags
    (:mod:`.signing`); otherwise :class:`IntegrityError` says what changed, before the file is read.

    A version stored with cloudpickle is refused (:class:`IntegrityError`) unless
    ``allow_unsafe=True``, ``NBT_ALLOW_UNSAFE=1``, or a trusted signature covers it: its format
    is only a tag, which anyone who can write to the store can set.

    With ``process=`` (a :class:`~.model_process.ModelProcess`, for a cold command that started it
    early), the signature is checked and the model read in that helper process; the result is then
    a :class:`~.model_process.HelperModel`, which has the prediction methods only.
    """
    _check_options(allow_unsafe, process)  # before the store is read
    return load_version(resolve(ref), require_signature=require_signature, allow_unsafe=allow_unsafe,
                        process=process).model


def _check_options(allow_unsafe: Any, process: Any) -> None:
    if not isinstance(allow_unsafe, bool):
        raise BadInput(f"allow_unsafe must be True or False, got {allow_unsafe!r}.")
    if process is not None:
        from .model_process import ModelProcess

        if not isinstance(process, ModelProcess):
            raise BadInput(f"process must be a started ModelProcess or None, got {process!r:.80}.")


class Loaded(NamedTuple):
    """A loaded version: the native model and the input columns of its MLmodel signature."""

    model: Any
    inputs: list[dict[str, Any]] | None  # the MLmodel's signature inputs ({"name", "type", ...}); None: none


def load_version(mv: Any, *, require_signature: bool = False, allow_unsafe: bool = False,
                 process: ModelProcess | None = None) -> Loaded:
    """:func:`load` for a version already resolved (an MLflow ``ModelVersion``): no second lookup,
    and the MLmodel file is read once, for both the model's input columns and the signature
    ``nbt serve`` checks requests against. ``process``: as for :func:`load`."""
    _check_options(allow_unsafe, process)
    keys = signing.enforced(require_signature)
    unsafe_ok = allow_unsafe or config.allow_unsafe() or keys is not None
    mlflow = store.mlflow_module()
    expected = (mv.tags or {}).get(TAG_SHA)
    with tempfile.TemporaryDirectory(prefix="nbt-load-") as tmp:
        with store.translate_errors():
            local = Path(mlflow.artifacts.download_artifacts(
                artifact_uri=f"models:/{mv.name}/{mv.version}", dst_path=tmp))
        if keys is not None:  # first: it names the file or tag that changed, and covers the sha256 tag
            signing.check(mv, local, keys, helper=process)
        if expected:
            actual = tree_sha256(local)
            if actual != expected:
                raise IntegrityError(
                    f"The stored files of {mv.name}/{mv.version} changed since registration "
                    f"(sha256 {actual[:12]}... != recorded {expected[:12]}...); refusing to load. "
                    "Re-register the model from its source."
                )
        from .readers import load_local

        read: Any = process.load if process is not None else load_local  # a HelperModel, or the model
        with store.translate_errors():
            model = read(local, dict(mv.tags or {}), f"{mv.name}/{mv.version}", unsafe_ok=unsafe_ok)
        inputs = signature_inputs(local)
    try:
        model._nbt_ref = f"{mv.name}/{mv.version}"  # lets evaluate/compare name the version
        model._nbt_inputs = input_names(inputs)  # lets evaluate predict on these columns of a wider frame
    except AttributeError:  # pragma: no cover
        pass
    return Loaded(model, inputs)


def signature_inputs(model_dir: Path) -> list[dict[str, Any]] | None:
    """The input specs of the MLmodel signature in ``model_dir`` (None without one).

    Read from the folder load has already downloaded: no further request to the store.
    """
    import yaml

    try:
        meta = yaml.safe_load((model_dir / "MLmodel").read_text(encoding="utf-8")) or {}
        inputs = json.loads((meta.get("signature") or {}).get("inputs") or "null")
    except (OSError, ValueError, yaml.YAMLError, AttributeError):
        return None
    if not isinstance(inputs, list) or not all(isinstance(spec, dict) for spec in inputs):
        return None
    return inputs


def input_names(inputs: list[dict[str, Any]] | None) -> list[str] | None:
    """The column names of signature inputs; None unless every input has a name."""
    names = [spec.get("name") for spec in inputs or ()]
    return [str(n) for n in names] if names and all(n is not None for n in names) else None
