"""The published JSON Schemas match their pydantic models, and both accept and refuse the same files."""

from __future__ import annotations

import datetime
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from nbtoolkit.evaluation.suite_model import SuiteFile
from nbtoolkit.pipeline.spec_model import PipelineFile
from nbtoolkit.schemas import HERE, problem

ROOT = Path(__file__).resolve().parents[1]


def test_published_schemas_are_generated_from_the_models():
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        from write_schemas import generated
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    written = generated()
    assert sorted(written) == ["pipeline.schema.json", "pipeline_check.py", "suite.schema.json", "suite_check.py"]
    for name, text in written.items():
        assert (HERE / name).read_text(encoding="utf-8") == text, f"run `make schemas`: {name} is stale"


def test_checking_a_file_imports_neither_pydantic_nor_fastjsonschema():
    import subprocess

    code = ("import sys; from nbtoolkit.schemas import problem; problem({'steps': []}, 'pipeline'); "
            "problem({'cases': []}, 'suite'); print(sorted({'pydantic', 'fastjsonschema'} & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"


STEP = {"name": "a", "notebook": "a.ipynb"}
PIPELINES = [
    ({"steps": [STEP]}, True),
    ({"name": "p", "parameters": {"n": [1, {"x": None}]}, "secret_parameters": ["token"],
      "steps": [{**STEP, "needs": "b", "timeout": 5, "kernel": "python3", "cwd": "."}]}, True),
    ({"steps": []}, False),
    ({"step": [STEP]}, False),
    ({"steps": [{"name": "a"}]}, False),
    ({"steps": [{**STEP, "timeout": 0}]}, False),
    ({"steps": [{**STEP, "timeout": True}]}, False),
    ({"steps": [{**STEP, "needs": [1]}]}, False),
    ({"steps": [{**STEP, "name": "a b"}]}, False),
    ({"steps": [{**STEP, "kernel": " "}]}, False),
    ({"name": "-x", "steps": [STEP]}, False),
    ({"steps": [STEP], "parameters": {"d": datetime.date(2024, 1, 1)}}, False),
    ({"steps": ["a.ipynb"]}, False),
]
CASE = {"query": "x > 1", "expect": {"accuracy": ">= 0.9"}}
SUITES = [
    ({"cases": [CASE]}, True),
    ({"name": "s", "cases": [{"name": "r", "rows": [{"x": 1}], "labels": [1], "expect": ["accuracy >= 0.5",
                                                                                        {"predicts": 1}]}]}, True),
    ({"cases": []}, False),
    ({"cases": [{**CASE, "rows": [[1]]}]}, False),
    ({"cases": [{"expect": {"accuracy": 1}}]}, False),
    ({"cases": [{**CASE, "quary": "x"}]}, False),
    ({"cases": [{**CASE, "expect": 3}]}, False),
    ({"cases": [{**CASE, "rows": None, "query": None}]}, False),
    ({"case": [CASE]}, False),
]


@pytest.mark.parametrize("model, name, document, valid", [
    *[(PipelineFile, "pipeline", d, v) for d, v in PIPELINES],
    *[(SuiteFile, "suite", d, v) for d, v in SUITES],
])
def test_the_model_and_its_published_schema_agree(model, name, document, valid):
    try:
        model.model_validate(document, strict=True)
        by_model = True
    except ValidationError:
        by_model = False
    assert by_model is valid
    assert (problem(document, name) is None) is valid
