"""Cost of `import nbtoolkit` + `%load_ext nbtoolkit` in a fresh process vs `python -c pass`.

Both are whole fresh processes; medians of N runs, interleaved. Target (issue 2): <= 0.15 s added
over the IPython start-up that any notebook pays anyway; also shown against bare `python -c pass`.
Run: .venv/bin/python benchmarks/load_ext.py
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time

N = int(os.environ.get("ROUNDS", "15"))
IPY = ("from IPython.core.interactiveshell import InteractiveShell\n"
       "from traitlets.config import Config\n"
       "c = Config(); c.HistoryManager.enabled = False\n"
       "ip = InteractiveShell.instance(config=c)\n")
CASES = {
    "python -c pass": "pass",
    "IPython shell only": IPY,
    "IPython shell + import nbtoolkit + %load_ext nbtoolkit": IPY + "import nbtoolkit\nip.run_line_magic('load_ext', 'nbtoolkit')\n",
    "import nbtoolkit only": "import nbtoolkit",
}


def timed(code: str) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.perf_counter() - t0


def main() -> None:
    times: dict[str, list[float]] = {k: [] for k in CASES}
    for _ in range(N):
        for name, code in CASES.items():
            times[name].append(timed(code))
    med = {k: statistics.median(v) for k, v in times.items()}
    for k, v in med.items():
        print(f"{k:58s} {v * 1000:7.1f} ms")
    print(f"added by `import nbtoolkit` over `python -c pass`:             "
          f"{(med['import nbtoolkit only'] - med['python -c pass']) * 1000:7.1f} ms")
    print(f"added by import + %load_ext over an IPython shell:             "
          f"{(med['IPython shell + import nbtoolkit + %load_ext nbtoolkit'] - med['IPython shell only']) * 1000:7.1f} ms"
          " (target <= 150 ms)")


if __name__ == "__main__":
    main()
