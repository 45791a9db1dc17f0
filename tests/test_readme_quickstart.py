"""The README's ten-line quickstart runs as written, on a fresh store."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_readme_quickstart_runs(nbt_home):
    text = (ROOT / "README.md").read_text()
    section = text.split("## Quickstart", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert len([ln for ln in code.splitlines() if ln.strip()]) <= 11
    namespace: dict = {}
    exec(compile(code, "README quickstart", "exec"), namespace)  # noqa: S102 - our own README
    nbt = namespace["nbt"]
    assert nbt.versions("cancer").to_dict()["versions"][0]["aliases"] == ["champion"]
