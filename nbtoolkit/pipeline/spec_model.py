"""The pipeline file as a pydantic model: the one definition of its keys, types and limits.

Not imported when a pipeline runs (pydantic's import costs more than a fully cached rerun):
``make schemas`` writes :func:`PipelineFile.model_json_schema` to ``nbtoolkit/schemas/pipeline.schema.json``,
which :mod:`nbtoolkit.pipeline.spec` checks files against and editors read. Each ``description`` is
also the "what is valid" half of the error message for that key.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field
from typing_extensions import TypeAliasType

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$"

JSONValue = TypeAliasType(
    "JSONValue",
    "str | int | float | bool | list[JSONValue] | dict[str, JSONValue] | None",
)
# Parameter names (Python identifiers, not keywords, not 'upstream') are checked by spec.py, which
# checks names given with -p the same way.
Parameters = Annotated[
    dict[str, JSONValue] | None,
    Field(description="a mapping of parameter name: value (numbers, strings, booleans, lists or mappings)"),
]


class Step(BaseModel):
    """One step: a notebook run by papermill with its own parameters, after the steps it needs."""

    model_config = ConfigDict(extra="forbid", title="Step")

    name: str = Field(pattern=NAME_PATTERN, description="a step name of letters, digits, '_', '.', '-'")
    notebook: str = Field(pattern=r"\S", description="the path of an .ipynb file, relative to the pipeline file")
    parameters: Parameters = None
    needs: str | list[str] | None = Field(None, description="a list of step names (or one name)")
    timeout: float | None = Field(None, gt=0, description="a positive number of seconds per cell")
    kernel: str | None = Field(None, pattern=r"\S", description="a kernel name such as python3")
    cwd: str | None = Field(None, pattern=r"\S", description="a folder path, relative to the pipeline file")


class SqlSource(BaseModel):
    """Partitions read from a table through SQLAlchemy: one partition per distinct value of a column."""

    model_config = ConfigDict(extra="forbid", title="SQL partition source")

    url: str = Field(pattern=r"\S", description="a SQLAlchemy database URL such as sqlite:///tickets.db")
    table: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_.]*$", description="a table name (letters, digits, '_', '.')")
    column: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
                        description="the column whose distinct values are the partitions")


class Partitions(BaseModel):
    """The pipeline runs once per partition of its input data (``nbt pipeline run --pending``)."""

    model_config = ConfigDict(extra="forbid", title="Partitions")

    key: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
                     description="the partition key, a Python identifier such as date (a key named date "
                                 "takes ISO dates, YYYY-MM-DD)")
    source: str | None = Field(None, pattern=r"\S",
                               description="a file pattern relative to the pipeline file naming the key in "
                                           "braces, such as data/date={date}/*.parquet")
    sql: SqlSource | None = Field(None, description="a mapping with url, table and column")


class Trigger(BaseModel):
    """A rule that starts another pipeline: a monitoring alert on a model, or its new corrected outcomes."""

    model_config = ConfigDict(extra="forbid", title="Trigger")

    model: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$",
                       description="the registered model whose prediction log is watched, such as tickets")
    run: str = Field(pattern=r"\S", description="the pipeline file to start, relative to this pipeline file")
    alert: str | None = Field(None, pattern=r"\S",
                              description="a monitoring alert rule such as drift_share>0.3, estimated_accuracy<0.85, "
                                          "human_share>0.4 or anomaly:volume")
    outcomes: int | None = Field(None, gt=0,
                                 description="a positive number of corrected outcomes logged since the serving "
                                             "version was registered")
    window: str | None = Field(None, pattern=r"\S", description="the monitoring window of an alert, such as 1D or 6h")
    cooldown: str | None = Field(None, pattern=r"\S",
                                 description="after an alert fires, how long later windows stay quiet, such as 7D "
                                             "(time for the pipeline it started to take effect)")


class PipelineFile(BaseModel):
    """A pipeline file (``pipeline.yaml``): notebooks run in the order their ``needs`` give."""

    model_config = ConfigDict(extra="forbid", title="nbtoolkit pipeline")

    name: str | None = Field(None, pattern=NAME_PATTERN,
                             description="a pipeline name of letters, digits, '_', '.', '-'")
    parameters: Parameters = None
    secret_parameters: list[str] | None = Field(
        None, description="a list of parameter names passed through the environment, never written")
    steps: list[Step] = Field(min_length=1, description="a non-empty list of steps")
    partitions: Partitions | None = Field(
        None, description="a mapping with key and either source (a file pattern) or sql")
    on: list[Trigger] | None = Field(
        None, description="a list of triggers, each with model, run and either alert or outcomes")


def json_schema() -> dict[str, Any]:
    schema = PipelineFile.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft-07/schema#"
    return schema
