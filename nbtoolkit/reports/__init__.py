"""Result objects: ``to_dict()``, ``to_frame()``, ``_repr_html_()``, ``plot()`` — no computation."""

from .base import Result, html_table
from .registry import Lineage, ModelsTable, PromotionResult, RegisteredVersion, VersionsTable

__all__ = [
    "Lineage",
    "ModelsTable",
    "PromotionResult",
    "RegisteredVersion",
    "Result",
    "VersionsTable",
    "html_table",
]
