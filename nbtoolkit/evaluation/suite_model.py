"""An evaluation suite file as a pydantic model: the one definition of its keys and types.

Not imported when a suite runs: ``make schemas`` writes :func:`json_schema` to
``nbtoolkit/schemas/suite.schema.json``, which :mod:`nbtoolkit.evaluation.suite` checks files
against and editors read. Each ``description`` is also the "what is valid" half of the error
message for that key. What the schema cannot say (metric names, one label per row, the model's
classes) is checked by suite.py.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

ExpectValue = str | int | float | bool


class Case(BaseModel):
    """One edge case: rows chosen by a query or given literally, and what the model must do on them."""

    model_config = ConfigDict(
        extra="forbid", title="Case",
        json_schema_extra={"oneOf": [{"required": ["query"]}, {"required": ["rows"]}]})

    name: str | None = Field(None, description="a name for the case (default: case N)")
    description: str | None = Field(None, description="free text")
    query: str | None = Field(None, pattern=r"\S", description="a pandas query string on X ('label' names y)")
    rows: list[Any] | None = Field(None, min_length=1, description="a non-empty list of input rows")
    labels: list[Any] | None = Field(None, description="a list with the true label of each row")
    label: Any = Field(None, description="the true label of every row")
    expect: dict[str, ExpectValue] | list[str | dict[str, ExpectValue]] = Field(
        description="a mapping or a list of expectations such as 'accuracy >= 0.9' or predicts: LABEL")

    @model_validator(mode="after")
    def _query_or_rows(self) -> Case:
        if ("query" in self.model_fields_set) == ("rows" in self.model_fields_set):  # as the schema's oneOf
            raise ValueError("give exactly one of 'query' or 'rows'")
        return self


class SuiteFile(BaseModel):
    """An evaluation suite: named edge cases with expectations (``evaluate(..., suite=FILE)``)."""

    model_config = ConfigDict(extra="forbid", title="nbtoolkit evaluation suite")

    name: str | None = Field(None, description="the suite's name (default: the file name)")
    description: str | None = Field(None, description="free text")
    cases: list[Case] = Field(min_length=1, description="a non-empty list of cases")


def json_schema() -> dict[str, Any]:
    schema = SuiteFile.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft-07/schema#"
    return schema
