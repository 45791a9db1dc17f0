"""notebooks/quickstart.ipynb runs unattended under papermill on a fresh store."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_quickstart_notebook_runs_under_papermill(nbt_home, tmp_path):
    import papermill as pm

    out = tmp_path / "quickstart.out.ipynb"
    pm.execute_notebook(str(ROOT / "notebooks" / "quickstart.ipynb"), str(out),
                        parameters={"model_name": "wine_test", "C": 0.5},
                        kernel_name="python3", cwd=str(tmp_path), progress_bar=False)
    import nbtoolkit as nbt

    versions = nbt.versions("wine_test").to_frame()
    assert list(versions["version"]) == ["1"]
    assert versions.loc[0, "aliases"] == "@champion"
    params = nbt.lineage("wine_test@champion").params
    assert params["C"] == "0.5" and params["logisticregression__C"] == "0.5"  # given + hyperparameters
