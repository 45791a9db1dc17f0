"""Old import path of :mod:`nbtoolkit.contract` (frames, fingerprints, the data contract), kept working."""

from __future__ import annotations

from .contract import (
    COLUMN_KINDS,
    CONTRACT_FORMAT,
    MAX_CATEGORIES,
    Contract,
    as_frame,
    column_kind,
    fingerprint,
    validate,
)

__all__ = ["COLUMN_KINDS", "CONTRACT_FORMAT", "MAX_CATEGORIES", "Contract", "as_frame", "column_kind",
           "fingerprint", "validate"]
