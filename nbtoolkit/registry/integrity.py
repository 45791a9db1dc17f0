"""The sha256 of a stored model: recorded at registration, checked before anything is read."""

from __future__ import annotations

import hashlib
from pathlib import Path

# Written by MLflow into a downloaded registered model, never stored: not part of the hash.
DOWNLOAD_ONLY = frozenset({"registered_model_meta"})


def tree_sha256(root: Path) -> str:
    """sha256 over every file under ``root``: its relative path and the sha256 of its bytes."""
    h = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.name not in DOWNLOAD_ONLY):
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        h.update(f"{path.relative_to(root).as_posix()}\0{digest}\n".encode())
    return h.hexdigest()
