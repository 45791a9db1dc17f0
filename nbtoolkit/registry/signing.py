"""Signed versions: who vouched for a version's stored files and tags, checked before it is used.

The sha256 recorded at registration (:mod:`.integrity`) lives in the same store as the files it
describes, so anyone who can write to the store can change both. A signature cannot be forged
that way: it is made with a private key the store never sees (``NBT_SIGNING_KEY``) and checked
with public keys the reader chose (``NBT_TRUSTED_KEYS``). Signing and checking are done by the
OpenSSF ``model-signing`` library (elliptic-curve keys, no network); the signature is its
Sigstore bundle, stored as the run artefact ``nbt/signature.json``, and the version gets the tag
``nbt.signed_by`` (the signer's key fingerprint — information only: checks never read it).

What a signature covers is a folder built the same way at signing and at every check
(:func:`stage`):

- ``model/...`` — every file of the registered model (what ``models:/NAME/V`` downloads);
- ``nbt/schema.json``, ``nbt/contract.json``, ``nbt/profile.json`` — those the version has;
- ``tags/<key>`` — one file per ``nbt.*`` version tag (the key %-quoted) holding its value, so
  that a changed, added or removed tag is named by the check (``tag nbt.format changed``).

Not covered, because they are decisions written after registration on purpose and none of them
changes which files are read or how: :data:`UNSIGNED_TAGS` (the saved confidence threshold, the
stored calibrator's pointer, the signing tag itself), tags starting with
:data:`UNSIGNED_PREFIXES` (compare verdicts), the calibrator artefact ``nbt/calibrator.json``,
tags outside ``nbt.*``, the run's metrics and parameters, aliases.

The keys (reading and checking a key file, which keys are trusted here) are :mod:`.keys`.
When a signature is required (:func:`enforced`: trusted keys set, ``--require-signature``,
``require_signature=True``), :func:`check` runs in :func:`~.loading.load` before the model file is
read, and in :func:`~.artifacts.stored_profile` / ``stored_contract``; it raises
:class:`~nbtoolkit.errors.IntegrityError` in one line naming what changed.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from .. import config, store
from ..errors import BadInput, IntegrityError, StoreUnavailable
from ..reports.signing import SignatureMade, Verification
from .integrity import DOWNLOAD_ONLY, tree_sha256
from .keys import KEYGEN as KEYGEN  # the keys are part of this module's interface too
from .keys import Key, library, public_keys, signing_key
from .keys import enforced as enforced
from .keys import fingerprint as fingerprint
from .lookup import resolve
from .tags import COMPARE_PREFIX, CONTRACT_ARTIFACT, PROFILE_ARTIFACT, SCHEMA_ARTIFACT, TAG_SHA, TAG_THRESHOLD

SIGNATURE_ARTIFACT = "nbt/signature.json"
TAG_SIGNED_BY = "nbt.signed_by"
SIGNED_ARTIFACTS = (SCHEMA_ARTIFACT, CONTRACT_ARTIFACT, PROFILE_ARTIFACT)
# "nbt.calibrator" is estimation.stored.TAG_CALIBRATOR (a layer above this one)
UNSIGNED_TAGS = frozenset({TAG_SIGNED_BY, TAG_THRESHOLD, "nbt.calibrator"})
UNSIGNED_PREFIXES = (COMPARE_PREFIX,)


# ----------------------------------------------------------------------------- what is signed
def covered_tags(tags: Mapping[str, str]) -> dict[str, str]:
    """The ``nbt.*`` tags a signature covers (see the module docstring for those it does not)."""
    return {k: v for k, v in tags.items() if k.startswith("nbt.") and k not in UNSIGNED_TAGS
            and not k.startswith(UNSIGNED_PREFIXES)}


def stage(mv: Any, model_dir: Path, dest: Path) -> tuple[Path, Path | None]:
    """Build the signed folder of ``mv`` under ``dest`` from its stored files and tags.

    ``model_dir`` is the downloaded model folder. Returns the folder and the stored signature
    file (None when the version has none).
    """
    root = dest / "version"
    model = root / "model"
    model.mkdir(parents=True)
    for path in sorted(p for p in model_dir.rglob("*") if p.is_file() and p.name not in DOWNLOAD_ONLY):
        target = model / path.relative_to(model_dir)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(path, target)  # hashed, never written: a link is as good as a copy
        except OSError:
            shutil.copyfile(path, target)
    stored = _download_nbt(mv, dest / "stored")
    signature = None
    if stored is not None:
        for artifact in SIGNED_ARTIFACTS:
            source = stored.parent / artifact
            if source.is_file():
                (root / "nbt").mkdir(exist_ok=True)
                shutil.copyfile(source, root / artifact)
        if (stored.parent / SIGNATURE_ARTIFACT).is_file():
            signature = stored.parent / SIGNATURE_ARTIFACT
    tags = root / "tags"
    tags.mkdir()
    for key, value in covered_tags(mv.tags or {}).items():
        (tags / _tag_file(key)).write_bytes(str(value).encode("utf-8"))
    return root, signature


def _download_nbt(mv: Any, dest: Path) -> Path | None:
    """The version run's ``nbt/`` artefact folder, downloaded under ``dest`` (None when absent)."""
    if not mv.run_id:
        return None
    dest.mkdir(parents=True)
    mlflow = store.mlflow_module()
    try:
        with store.translate_errors():
            return Path(mlflow.artifacts.download_artifacts(run_id=mv.run_id, artifact_path="nbt", dst_path=str(dest)))
    except Exception as exc:  # no nbt/ folder: MLflow raises OSError/MlflowException
        if isinstance(exc, StoreUnavailable):
            raise
        return None


def _download_model(mv: Any, dest: Path) -> Path:
    mlflow = store.mlflow_module()
    with store.translate_errors():
        return Path(mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{mv.name}/{mv.version}",
                                                        dst_path=str(dest)))


def _hashing() -> Any:
    from model_signing import hashing

    # one hashing thread: a version is a handful of small files, and a pool of threads only adds
    # hand-offs (they cost more than the hashing on a busy machine)
    return hashing.Config().use_file_serialization(hashing_algorithm="sha256", allow_symlinks=False, max_workers=1)


def _tag_file(key: str) -> str:
    """A tag's file name: the key, %-quoted (one flat folder); a key too long for a file name
    (MLflow allows 250 characters, quoting triples some) by its sha256."""
    name = quote(key, safe="")
    return name if len(name) <= 200 else "sha256-" + hashlib.sha256(key.encode("utf-8")).hexdigest()


def _described(identifier: str) -> str:
    """``model/model.skops`` -> ``file model/model.skops``; ``tags/nbt.format`` -> ``tag nbt.format``."""
    if identifier.startswith("tags/sha256-"):  # covered keys start with nbt.: never this prefix
        return f"a tag with a long key ({identifier.removeprefix('tags/')[:19]}...)"
    if identifier.startswith("tags/"):
        return f"tag {unquote(identifier.removeprefix('tags/'))}"
    return f"file {identifier}"


# ----------------------------------------------------------------------------- sign
def sign(ref: Any, *, key: str | os.PathLike[str] | None = None) -> SignatureMade:
    """Sign version ``ref``: its stored files and ``nbt.*`` tags, with ``key`` (default ``NBT_SIGNING_KEY``).

    Parameters
    ----------
    ref : ``NAME/3``, ``NAME@alias`` or ``NAME`` (latest version)
    key : private key file (PEM, EC P-256/384/521); default: ``NBT_SIGNING_KEY``

    The key is read and checked before anything is written. Signing again (e.g. after a change
    you made on purpose) replaces the signature. Returns what the signature covers.
    """
    signer = signing_key(key)
    library()
    mv = resolve(ref)
    return sign_version(mv, signer)


def sign_version(mv: Any, signer: Key) -> SignatureMade:
    """Sign the registered version ``mv`` (tags as stored now) with the checked key ``signer``."""
    from model_signing import signing as ms

    if not mv.run_id:
        raise BadInput(f"Model version {mv.name}/{mv.version} has no MLflow run to store its signature on; "
                       "register it with nbtoolkit to sign it.")
    with tempfile.TemporaryDirectory(prefix="nbt-sign-") as tmp:
        model_dir = _download_model(mv, Path(tmp, "download"))
        recorded = (mv.tags or {}).get(TAG_SHA)
        if recorded and tree_sha256(model_dir) != recorded:  # never vouch for files changed since registration
            raise IntegrityError(f"The stored files of {mv.name}/{mv.version} changed since registration (their "
                                 "sha256 differs from the recorded one); refusing to sign them. Re-register the "
                                 "model from its source and sign that version.")
        root, _ = stage(mv, model_dir, Path(tmp))
        folder = Path(tmp, "signature")
        folder.mkdir()
        bundle = folder / Path(SIGNATURE_ARTIFACT).name
        ms.Config().use_elliptic_key_signer(private_key=signer.path).set_hashing_config(_hashing()).sign(root, bundle)
        files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*")
                       if p.is_file() and not p.relative_to(root).as_posix().startswith("tags/"))
        client = store.client()
        with store.translate_errors():
            client.log_artifact(mv.run_id, str(bundle), str(Path(SIGNATURE_ARTIFACT).parent))
            client.set_model_version_tag(mv.name, mv.version, TAG_SIGNED_BY, signer.fingerprint)
    return SignatureMade(mv.name, str(mv.version), signer.fingerprint, files, sorted(covered_tags(mv.tags or {})))


# ----------------------------------------------------------------------------- verify
def verify(ref: Any, *, keys: str | os.PathLike[str] | Iterable[str | os.PathLike[str]] | None = None
           ) -> Verification:
    """Check the signature of version ``ref`` against trusted public keys.

    Parameters
    ----------
    ref : ``NAME/3``, ``NAME@alias`` or ``NAME``
    keys : public key file(s) (PEM); default: ``NBT_TRUSTED_KEYS``

    Returns a :class:`~nbtoolkit.reports.signing.Verification`: ``signed``, ``valid``, the key,
    and each file or tag that changed since signing. Never raises for an invalid signature.
    """
    paths: list[str | os.PathLike[str]]
    if keys is None:
        paths = list(config.trusted_keys())
        if not paths:
            raise BadInput("No public key to verify with: pass --key FILE (keys=) or set NBT_TRUSTED_KEYS.")
    elif isinstance(keys, (str, os.PathLike)):
        paths = [keys]
    elif isinstance(keys, (list, tuple)) and keys:
        paths = list(keys)
    else:
        raise BadInput(f"keys must be a public key file or a list of them, got {keys!r}.")
    trusted = public_keys(paths)
    library()
    mv = resolve(ref)
    with tempfile.TemporaryDirectory(prefix="nbt-verify-") as tmp:
        return _verify(mv, _download_model(mv, Path(tmp, "download")), trusted, Path(tmp))


def check(mv: Any, model_dir: Path, keys: list[Key], *, helper: Any = None) -> None:
    """Refuse ``mv`` (IntegrityError, one line) unless a trusted signature covers it as stored now.

    ``model_dir`` is its downloaded model folder (the one about to be loaded); ``helper``, a cold
    command's helper process (:mod:`.model_process`), which has model-signing imported already, verifies
    there when given.
    """
    with tempfile.TemporaryDirectory(prefix="nbt-verify-") as tmp:
        outcome = _verify(mv, model_dir, keys, Path(tmp), check=helper.verify if helper is not None else None)
    if outcome.valid:
        return
    ref = f"{mv.name}/{mv.version}"
    if not outcome.signed:
        raise IntegrityError(f"Model version {ref} is not signed and a signature is required (NBT_TRUSTED_KEYS / "
                             f"--require-signature); refusing to use it. Sign it with `nbt model sign {ref}`.")
    raise IntegrityError(f"Model version {ref} does not match its signature: {outcome.reason}; refusing to use "
                         f"it. If the change is yours, sign it again with `nbt model sign {ref}`.")


def check_stored(mv: Any, keys: list[Key], *, helper: Any = None) -> None:
    """:func:`check` for a reader that does not load the model (a stored profile or contract)."""
    with tempfile.TemporaryDirectory(prefix="nbt-verify-") as tmp:
        check(mv, _download_model(mv, Path(tmp)), keys, helper=helper)


def _verify(mv: Any, model_dir: Path, keys: list[Key], dest: Path, *, check: Any = None) -> Verification:
    root, signature = stage(mv, model_dir, dest)
    return (check or verify_folder)(str(root), None if signature is None else str(signature), keys,
                                    mv.name, str(mv.version))


def verify_folder(root: str, signature: str | None, keys: list[Key], name: str, version: str) -> Verification:
    """The verdict on a staged folder (:func:`stage`) and its signature file; files only, no store."""
    root_path = Path(root)
    out = Verification(name, version, signed=signature is not None, valid=False)
    if signature is None:
        out.reason = "it has no signature (nbt/signature.json)"
        return out
    try:
        bundle = json.loads(Path(signature).read_text(encoding="utf-8"))
        named = bundle["verificationMaterial"]["publicKey"]["hint"]
        payload = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
        signed = {r["name"]: r["digest"] for r in payload["predicate"]["resources"]}
    except (ValueError, KeyError, TypeError):
        out.reason = "its signature file nbt/signature.json is not a model-signing bundle"
        return out
    out.key = named if isinstance(named, str) else None
    key = next((k for k in keys if k.fingerprint == out.key), None)
    if key is None:
        out.reason = (f"it was signed with key {str(out.key)[:16]}, which is not a trusted key (trusted: "
                      f"{', '.join(k.fingerprint[:16] for k in keys)})")
        return out
    out.trusted_key = key.path
    from model_signing import verifying

    try:
        verifying.Config().use_elliptic_key_verifier(public_key=key.path).set_hashing_config(_hashing()).verify(
            root_path, Path(signature))
    except Exception as exc:  # ValueError (mismatch, bad bundle), InvalidSignature: the verdict is "no"
        out.changes = _changes(signed, root_path)
        out.reason = (f"{', '.join(out.changes)} since signing" if out.changes else
                      f"the signature does not verify with key {key.fingerprint[:16]} ({type(exc).__name__})")
        return out
    out.valid = True
    return out


def _changes(signed: Mapping[str, str], root: Path) -> list[str]:
    """Each file or tag that differs between what was signed and what is stored now."""
    now = {d.identifier: d.digest.digest_hex for d in _hashing().hash(root).resource_descriptors()}
    out = []
    for name in sorted(set(signed) | set(now)):
        if name not in now:
            out.append(f"{_described(name)} removed")
        elif name not in signed:
            out.append(f"{_described(name)} added")
        elif signed[name] != now[name]:
            out.append(f"{_described(name)} changed")
    return out
