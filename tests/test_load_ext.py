"""%load_ext nbtoolkit must import nothing heavy (checked in a fresh process)."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ["mlflow", "sklearn", "scipy", "matplotlib", "papermill", "ipywidgets", "pandas",
         "sqlalchemy", "dask", "numpy", "nbformat", "yaml"]

SCRIPT = """
import json, sys
from IPython.core.interactiveshell import InteractiveShell
from traitlets.config import Config
c = Config(); c.HistoryManager.enabled = False
ip = InteractiveShell.instance(config=c)
before = set(sys.modules)
ip.run_line_magic("load_ext", "nbtoolkit")
ip.run_line_magic("nbt", "help")
import nbtoolkit
nbtoolkit.__all__
print(json.dumps(sorted(set(sys.modules) - before)))
"""


def test_load_ext_imports_nothing_heavy():
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True)
    loaded = json.loads(out.stdout.strip().splitlines()[-1])
    heavy = sorted({m.split(".")[0] for m in loaded} & set(HEAVY))
    assert heavy == [], f"%load_ext nbtoolkit imported {heavy}"
    assert "nbtoolkit.magics" in loaded


def test_public_api_is_pinned():
    import nbtoolkit

    assert set(nbtoolkit.__all__) >= {
        "register", "load", "promote", "rollback", "models", "versions", "lineage", "validate",
        "drift", "Profile", "evaluate", "compare", "threshold", "record", "run_pipeline",
        "PredictionLog", "Deployment", "monitor", "abtest", "load_ipython_extension",
    }
