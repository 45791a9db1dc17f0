"""The keys of signed versions: the private key that signs (``NBT_SIGNING_KEY``), the public keys a
reader trusts (``NBT_TRUSTED_KEYS``), each read and checked in one line before anything is written,
and whether a signature is required here (:func:`enforced`). Signing and checking are :mod:`.signing`.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import config
from ..errors import BadInput, NbtError

KEYGEN = ("openssl ecparam -name prime256v1 -genkey -noout -out nbt-signing.pem && "
          "openssl ec -in nbt-signing.pem -pubout -out nbt-signing.pub")
_CURVES = ("secp256r1", "secp384r1", "secp521r1")  # the curves model-signing signs with


@dataclass(frozen=True)
class Key:
    """A checked key file: its path and the sha256 fingerprint of its public half."""

    path: str
    fingerprint: str


def fingerprint(public_key: Any) -> str:
    """sha256 of the public key's PEM (SubjectPublicKeyInfo): the hint model-signing puts in a bundle."""
    from cryptography.hazmat.primitives import serialization

    pem = public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(pem).hexdigest()


def signing_key(path: str | os.PathLike[str] | None = None) -> Key:
    """The private key that signs (``path`` or ``NBT_SIGNING_KEY``), read and checked before any write."""
    path = path if path is not None else config.signing_key()
    if path is None:
        raise BadInput(f"No signing key: set NBT_SIGNING_KEY to a private key file (PEM). Make a key pair "
                       f"with: {KEYGEN}")
    from cryptography.hazmat.primitives import serialization

    data = _read_key(path, "signing key (NBT_SIGNING_KEY)")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:  # encrypted: it needs a password
        raise BadInput(f"The signing key {str(path)!r} is encrypted; nbtoolkit needs an unencrypted EC key "
                       f"file (keep it private). Make one with: {KEYGEN}") from None
    except Exception:  # ValueError / UnsupportedAlgorithm: not a PEM private key
        raise BadInput(f"The signing key {str(path)!r} is not a PEM private key; give an EC (P-256, P-384 or "
                       f"P-521) private key, e.g. made with: {KEYGEN}") from None
    _check_curve(key.public_key(), path, "signing key")
    return Key(str(path), fingerprint(key.public_key()))


def public_keys(paths: Iterable[str | os.PathLike[str]]) -> list[Key]:
    """The trusted public keys at ``paths``, each read and checked (one line naming a bad file)."""
    from cryptography.hazmat.primitives import serialization

    out = []
    for path in paths:
        data = _read_key(path, "public key")
        try:
            key = serialization.load_pem_public_key(data)
        except Exception:  # ValueError / UnsupportedAlgorithm
            hint = " (that is the private key: give its .pub half)" if b"PRIVATE KEY" in data else ""
            raise BadInput(f"The public key {str(path)!r} is not a PEM public key{hint}; make one with: "
                           f"openssl ec -in nbt-signing.pem -pubout -out nbt-signing.pub") from None
        _check_curve(key, path, "public key")
        out.append(Key(str(path), fingerprint(key)))
    return out


def _read_key(path: Any, what: str) -> bytes:
    if not isinstance(path, (str, os.PathLike)) or not str(path).strip():
        raise BadInput(f"The {what} must be a file path, got {path!r}.")
    try:
        data = Path(path).expanduser().read_bytes()
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the path
        raise BadInput(f"Cannot read the {what} {str(path)!r}: {getattr(exc, 'strerror', None) or exc}.") from None
    if len(data) > 64 * 1024:
        raise BadInput(f"The {what} {str(path)!r} is {len(data)} bytes; a PEM key file is a few hundred.")
    return data


def _check_curve(public_key: Any, path: Any, what: str) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    curve = public_key.curve.name if isinstance(public_key, ec.EllipticCurvePublicKey) else None
    if curve not in _CURVES:
        other = type(public_key).__name__.lstrip("_").removesuffix("PublicKey") or "unknown"
        kind = f"an EC key on curve {curve}" if curve else f"not an EC key ({other})"
        raise BadInput(f"The {what} {str(path)!r} is {kind}; model signing takes EC P-256, P-384 or P-521 "
                       f"keys. Make a key pair with: {KEYGEN}")


def enforced(require_signature: bool = False) -> list[Key] | None:
    """The trusted keys when a signature is required here (else None); refuses when none are set."""
    if not isinstance(require_signature, bool):
        raise BadInput(f"require_signature must be True or False, got {require_signature!r}.")
    if not (require_signature or config.require_signature()):
        return None
    paths = config.trusted_keys()
    if not paths:
        raise BadInput("A signature is required (--require-signature) but no public key is trusted; set "
                       "NBT_TRUSTED_KEYS to the public key file(s) whose signatures you accept.")
    library()
    return public_keys(paths)


def library() -> None:
    """Refuse in one line, naming the extra, when model-signing is not installed (without importing it:
    ~0.6 s, which a cold command's helper process pays instead)."""
    import importlib.util

    if importlib.util.find_spec("model_signing") is None:
        raise NbtError("Signed versions need the model-signing library: pip install 'nbtoolkit[sign]'.")
