"""How fast the threshold explorer answers a slider move, vs redrawing the report's matplotlib plot.

One slider move = ``ThresholdExplorer.show(t)``: ``ThresholdReport.at(t)`` plus the inline SVG
curve with its marker. The alternative is what a naive widget would do: ``report.plot(marker=t)``
rendered to a PNG. Both sides run in this process on the same report (medians over ROUNDS moves),
plus the cost of building each widget once. No MLflow store: the model is passed directly.
Run: .venv/bin/python benchmarks/widgets.py
"""

from __future__ import annotations

import os
import statistics
import time

ROUNDS = int(os.environ.get("ROUNDS", "20"))
N_ROWS = int(os.environ.get("N_ROWS", "20000"))


def median_ms(fn, values) -> float:
    times = []
    for v in values:
        t0 = time.perf_counter()
        fn(v)
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def main() -> None:
    import matplotlib

    matplotlib.use("Agg")
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression

    import nbtoolkit as nbt
    from nbtoolkit.widgets import DriftDashboard, ThresholdExplorer
    from nbtoolkit.widgets._base import figure_png

    X, y = make_classification(n_samples=N_ROWS, n_features=10, n_informative=5, n_classes=3, random_state=0)
    model = LogisticRegression(max_iter=300).fit(X, y)
    report = nbt.threshold(model, X, y, target_accuracy=0.9)
    values = [0.35 + 0.6 * i / ROUNDS for i in range(ROUNDS)]

    t0 = time.perf_counter()
    explorer = ThresholdExplorer(report)
    build = time.perf_counter() - t0
    move = median_ms(explorer.show, values)
    redraw = median_ms(lambda t: figure_png(report.plot(marker=t)), values)
    print(f"threshold report: {report.n:,} rows, {len(report.table)} thresholds")
    print(f"ThresholdExplorer built in {build * 1000:.0f} ms")
    print(f"slider move (at(t) + SVG curve): {move:.2f} ms")
    print(f"report.plot(marker=t) -> PNG:     {redraw:.1f} ms  (ratio {redraw / move:.0f}x slower)")

    import pandas as pd

    frame = pd.DataFrame(X[:, :6], columns=[f"x{i}" for i in range(6)])
    shifted = frame.copy()
    shifted["x0"] += 0.5
    drift_report = nbt.drift(shifted, reference=frame)
    t0 = time.perf_counter()
    DriftDashboard(drift_report)
    print(f"DriftDashboard of {len(drift_report.rows)} columns (one plot) built in "
          f"{(time.perf_counter() - t0) * 1000:.0f} ms")


if __name__ == "__main__":
    main()
