"""The one way to fetch what a version stores beside its model: its data contract and profile.

Returns the JSON text, not the parsed object, so that this module needs neither
:mod:`nbtoolkit.contract` nor :mod:`nbtoolkit.drift` — they call it, and the registry imports them
to write these files at registration, without an import circle.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import Arg, NotFound, say
from .lookup import read_artifact_text, resolve
from .tags import CONTRACT_ARTIFACT, PROFILE_ARTIFACT

if TYPE_CHECKING:
    from .model_process import ModelProcess


def stored_contract(ref: Any, *, process: ModelProcess | None = None) -> tuple[Any, str]:
    """``(model_version, contract JSON)`` of ``ref``; :class:`NotFound` when it has none.

    ``process``: a required signature is checked in that helper process (:mod:`.model_process`)."""
    return _stored(ref, CONTRACT_ARTIFACT, "data contract",
                   ("register it with --data X, or pass ", Arg("reference", "DataFrame"), "."), process)


def stored_profile(ref: Any, *, process: ModelProcess | None = None) -> tuple[Any, str]:
    """``(model_version, drift profile JSON)`` of ``ref``; :class:`NotFound` when it has none.

    ``process``: a required signature is checked in that helper process (:mod:`.model_process`)."""
    return _stored(ref, PROFILE_ARTIFACT, "drift profile",
                   ("register it with --data X (or X=...), or pass a reference frame.",), process)


def _stored(ref: Any, artifact: str, what: str, hint: tuple[str | Arg, ...],
            process: ModelProcess | None) -> tuple[Any, str]:
    from . import signing

    keys = signing.enforced()
    mv = resolve(ref)
    if keys is not None:  # a signed version's profile and contract are covered by its signature
        signing.check_stored(mv, keys, helper=process)
    text = read_artifact_text(mv, artifact)
    if text is None:
        raise NotFound(say(f"Model version {mv.name}/{mv.version} (from {str(ref)!r}) has no stored {what}; ", *hint))
    return mv, text
