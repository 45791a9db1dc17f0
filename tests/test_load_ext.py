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

    # pinned exactly: a new public name is a decision, made here as well as in nbtoolkit/__init__.py
    assert sorted(nbtoolkit.__all__) == [
        "Calibrator", "Contract", "Deployment", "PredictionLog", "Profile", "__version__", "abtest",
        "calibrate", "compare", "drift", "estimate", "evaluate", "lineage", "load", "load_ipython_extension",
        "models", "monitor", "promote", "quality", "rank", "record", "register", "rollback", "run_pipeline", "serve", "sign",
        "threshold", "unalias", "validate", "verify", "versions",
    ]
