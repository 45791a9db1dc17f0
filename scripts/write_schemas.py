"""Write the JSON Schemas of pipeline.yaml and of evaluation suites from their pydantic models.

Run by ``make schemas`` after changing nbtoolkit/pipeline/spec_model.py or
nbtoolkit/evaluation/suite_model.py; tests/test_schemas.py fails while a published file is stale.
"""

from __future__ import annotations

import json
import sys


def generated() -> dict[str, str]:
    from nbtoolkit.evaluation import suite_model
    from nbtoolkit.pipeline import spec_model

    return {name: json.dumps(module.json_schema(), indent=2, ensure_ascii=False) + "\n"
            for name, module in (("pipeline", spec_model), ("suite", suite_model))}


def main() -> int:
    from nbtoolkit.schemas import path_of

    for name, text in generated().items():
        path = path_of(name)
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
