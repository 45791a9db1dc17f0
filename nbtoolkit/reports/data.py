"""ValidationReport: the result of a data-contract check — no computation."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .base import Result

if TYPE_CHECKING:
    import pandas as pd

FRAME_COLUMNS = ["column", "check", "severity", "expected", "observed"]


class ValidationReport(Result):
    """Issues found by :func:`nbtoolkit.validate`; ``passed`` is False when any issue is an error.

    Each issue names the column, the check (missing column, dtype, nulls, null rate, out of
    range, unseen categories, inf, empty frame, duplicated columns, freshness, ...), what the
    contract expected and what was observed; ``severity`` is ``error`` or ``warning``.
    """

    title = "Validation"

    def __init__(self, issues: list[dict[str, Any]], *, n_rows: int, n_columns: int, source: str = "") -> None:
        self.issues = issues
        self.n_rows = n_rows
        self.n_columns = n_columns
        self.source = source

    @property
    def errors(self) -> list[dict[str, Any]]:
        return [i for i in self.issues if i["severity"] == "error"]

    @property
    def warnings(self) -> list[dict[str, Any]]:
        return [i for i in self.issues if i["severity"] == "warning"]

    @property
    def passed(self) -> bool:
        return not self.errors

    def to_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "n_rows": self.n_rows, "n_columns": self.n_columns,
                "source": self.source, "n_errors": len(self.errors), "n_warnings": len(self.warnings),
                "issues": self.issues}

    def to_frame(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame(self.issues, columns=FRAME_COLUMNS)

    def summary(self) -> str:
        """The verdict and what failed: ``Validation FAILED: 1 error(s) (x: missing column), ...``."""
        from .drift import names_shown

        def found(issues: list[dict[str, Any]]) -> str:
            named = [f"{i['column'] or '(frame)'}: {i['check']}" for i in issues]
            return f" ({names_shown(list(dict.fromkeys(named)), 6)})" if named else ""

        verdict = "PASSED" if self.passed else "FAILED"
        return (f"Validation {verdict}: {len(self.errors)} error(s){found(self.errors)}, "
                f"{len(self.warnings)} warning(s){found(self.warnings)} — "
                f"{self.n_rows} rows × {self.n_columns} columns checked against {self.source}")

    def __str__(self) -> str:
        if not self.issues:
            return self.summary()
        return self.summary() + "\n" + self.to_frame().to_string(index=False)

    def failure_message(self) -> str:
        lines = [self.summary()]
        lines += [f"  {i['column'] or '(frame)'}: {i['check']} — expected {i['expected']}, "
                  f"observed {i['observed']}" for i in self.errors]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        from .render import TEXT, Row, result, table

        colour = TEXT["good"] if self.passed else TEXT["bad"]
        if not self.issues:
            return result(self.summary(), colour=colour)
        issues = sorted(self.issues, key=lambda i: i["severity"] != "error")
        rows = [Row([str(i[c]) for c in FRAME_COLUMNS], tone="bad" if i["severity"] == "error" else "warn")
                for i in issues]
        return result(self.summary(), colour=colour, tables=[("", table(FRAME_COLUMNS, rows))])
