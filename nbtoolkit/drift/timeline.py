"""Drift over time: per chunk × column statistics with thresholds learned from reference chunks.

``drift(current, reference, chunk_size=N | chunk_number=N | window="1D", timestamp=...)`` cuts
both frames the same way (:mod:`nbtoolkit.chunking`). The reference is profiled once
(:class:`.profile.Profile`, which fixes each column's bins); then every row of both frames is put
in its bin once per column and one 2-D ``bincount`` gives the counts of every chunk (discrete and
free-text columns, and ``wasserstein``, profile each chunk ``like=`` the reference instead), so
every statistic is computed on counts:

- numeric (and free-text lengths): ``ks`` (Kolmogorov–Smirnov D on the 1000 profile bins, exact
  at the bin edges), ``wasserstein`` (normed by the reference std), ``jensenshannon`` / ``psi``
  (reference deciles);
- categorical, boolean and few-valued numerics: ``chisquare`` (the statistic of
  ``scipy.stats.chi2_contingency``), ``jensenshannon``, ``psi``.

``auto`` is ``ks`` for numbers and ``chisquare`` for categories — the statistics NannyML's
univariate drift uses with learned thresholds. ``threshold="reference"`` (the default) flags a
chunk when its statistic exceeds the mean + k standard deviations (``threshold_sd``, default 3)
of the same statistic over the reference chunks, each compared with the rest of the reference
(its own counts subtracted from the reference's); a number (or ``{column: number}``) is a fixed limit on the statistic.

The multivariate timeline is the PCA data-reconstruction error (NannyML's
``DataReconstructionDriftCalculator``): fitted once on the reference, applied to every chunk in
one matrix product, with limits learned from the reference chunks — it needs no training per
chunk and works on chunks of a few hundred rows, where a domain classifier per chunk would need
a cross-validated model per chunk and many rows to be stable. See :mod:`.reconstruction`.

Missing values are left out of every statistic, so each row also carries ``missing``: the share of
the chunk's rows whose value is missing (or infinite, for numbers). A chunk in which every value
of a column is missing has no distribution to compare; it is ``drifted`` (the column stopped
arriving — "no drift" would hide it), with a ``note``. A chunk whose missing share exceeds the
reference chunks' mean + ``threshold_sd`` standard deviations of that share gets a ``note`` (as
NannyML's missing-values check alerts), without changing ``drifted``: the values that did arrive
are tested as usual.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from ..errors import BadInput, did_you_mean
from . import stats
from .profile import Profile

TIMELINE_METHODS = ("auto", "ks", "chisquare", "jensenshannon", "psi", "wasserstein")
NUMERIC_ONLY = {"ks", "wasserstein"}


def drift_timeline(current: Any, reference: Any, *, columns: Any = None, method: Any = "auto",
                   threshold: Any = "reference", threshold_sd: float = 3.0, chunk_size: Any = None,
                   chunk_number: Any = None, window: Any = None, timestamp: str | None = None,
                   multivariate: bool = True) -> Any:
    """Per-chunk drift of ``current`` against ``reference``; see the module docstring.

    Returns a :class:`~nbtoolkit.reports.drift_timeline.DriftTimeline`.
    """
    from ..chunking import chunker
    from ..contract import as_frame
    from ..reports.drift_timeline import DriftTimeline

    chunks_of = chunker(chunk_size=chunk_size, chunk_number=chunk_number, window=window, timestamp=timestamp)
    k = _positive(threshold_sd, "threshold_sd")
    learned = isinstance(threshold, str)
    if learned and threshold != "reference":
        raise BadInput(f"threshold must be 'reference', a number or {{column: number}}, got {threshold!r}.")
    if isinstance(reference, Profile):
        raise BadInput("Drift over time learns thresholds from reference chunks and needs the reference "
                       "frame (reference=DataFrame), not a stored profile; or check one chunk at a time.")
    if reference is None:
        raise BadInput("Drift over time needs reference=DataFrame (the period the thresholds are learned from).")
    cur = as_frame(current, what="current data")
    ref = as_frame(reference, what="reference data")
    names = _columns(columns, ref, cur, exclude=timestamp)
    methods = _methods(method, names)
    fixed = _fixed(threshold, names) if not learned else {}

    ref_profile = Profile.from_frame(ref, columns=names)
    tested, skipped = [], {}
    for name in names:
        entry = ref_profile.columns[name]
        if entry["kind"] in {"skipped", "empty"}:
            skipped[name] = entry.get("reason", "no values")
        else:
            tested.append(name)
    cur_chunks = chunks_of.split(cur, what="current data")
    notes: list[str] = []
    try:
        ref_chunks = chunks_of.split(ref, what="reference data")
    except BadInput as exc:
        ref_chunks = []
        if learned:
            raise BadInput(f"threshold='reference' needs several reference chunks: {exc}") from None
    if learned and len(ref_chunks) < 2:
        raise BadInput(f"threshold='reference' needs at least 2 reference chunks, got {len(ref_chunks)} "
                       f"({chunks_of.describe()} of {len(ref)} rows); use smaller chunks or a fixed threshold.")
    chosen = {name: _method(methods.get(name, "auto"), ref_profile.columns[name], name) for name in tested}

    # Fast path: each row's bin on the reference profile's bins, once per column; one 2-D
    # bincount gives every chunk's counts. Discrete, text and wasserstein use per-chunk profiles.
    fast = [n for n in tested if ref_profile.columns[n]["kind"] in {"numeric", "categorical", "boolean"}
            and chosen[n] != "wasserstein"]
    slow = [n for n in tested if n not in fast]
    ref_stats: list[dict[str, float]] = [{} for _ in ref_chunks]
    cur_stats: list[dict[str, float]] = [{} for _ in cur_chunks]
    ref_ids, cur_ids = _chunk_ids(len(ref), ref_chunks), _chunk_ids(len(cur), cur_chunks)
    missing = {"reference": {n: _chunk_missing(ref[n], ref_ids, len(ref_chunks)) for n in tested},
               "current": {n: _chunk_missing(cur[n], cur_ids, len(cur_chunks)) for n in tested}}
    missing_limits = {n: _missing_limit(missing["reference"][n], ref[n], k) for n in tested}
    for name in fast:
        entry = ref_profile.columns[name]
        binner = _binner(entry)
        ref_counts = _chunk_counts(ref[name], binner, ref_ids, len(ref_chunks))
        cur_counts = _chunk_counts(cur[name], binner, cur_ids, len(cur_chunks))
        total = ref_counts.sum(axis=0)
        # A reference chunk is compared with the rest of the reference (its own rows taken out
        # of the counts), so its statistic is distributed as a new chunk's would be.
        for i, value in enumerate(_counts_statistic(chosen[name], entry, total - ref_counts, ref_counts)):
            ref_stats[i][name] = value
        for i, value in enumerate(_counts_statistic(chosen[name], entry, total[None, :], cur_counts)):
            cur_stats[i][name] = value

    def stats_of(frame: Any, chunk: Any, *, own: bool, out: dict[str, float]) -> None:
        prof = Profile.from_frame(frame.iloc[chunk.positions], like=ref_profile, columns=slow)
        for name in slow:
            base, entry = ref_profile.columns[name], prof.columns[name]
            out[name] = statistic(chosen[name], without(base, entry) if own else base, entry)

    if slow:
        for c, out in zip(ref_chunks, ref_stats):
            stats_of(ref, c, own=True, out=out)
        for c, out in zip(cur_chunks, cur_stats):
            stats_of(cur, c, own=False, out=out)
    limits = {}
    for name in tested:
        if learned:
            values = [s[name] for s in ref_stats if not math.isnan(s[name])]
            mean = sum(values) / len(values) if values else math.nan
            sd = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values)) if values else math.nan
            limits[name] = mean + k * sd
        else:
            limits[name] = fixed.get(name, fixed.get("*"))
    rows = []
    for period, chunks, chunk_stats in (("reference", ref_chunks, ref_stats), ("current", cur_chunks, cur_stats)):
        for i, (chunk, values) in enumerate(zip(chunks, chunk_stats)):
            for name in tested:
                value, limit = values[name], limits[name]
                share = float(missing[period][name][i])
                absent = chunk.rows > 0 and share >= 1.0
                note = _missing_note(share, missing_limits[name], absent, ref_profile.columns[name]["kind"])
                rows.append({"period": period, "chunk": chunk.key, "start": chunk.start, "end": chunk.end,
                             "rows": chunk.rows, "column": name, "method": chosen[name], "statistic": value,
                             "threshold": limit, "missing": share, "note": note,
                             "drifted": absent or bool(not math.isnan(value) and limit is not None and value > limit)})
    multi = None
    if multivariate and tested:
        from .reconstruction import reconstruction_timeline

        multi = reconstruction_timeline(ref, cur, tested, ref_profile, ref_chunks, cur_chunks, k=k)
        if multi is None:
            notes.append("No multivariate timeline: fewer than 2 usable columns.")
    return DriftTimeline(rows=rows, columns=tested, skipped=skipped, chunking=chunks_of.describe(),
                         threshold="reference" if learned else "fixed", threshold_sd=k,
                         multivariate=multi, notes=notes, n_reference=len(ref), n_current=len(cur))


# ------------------------------------------------------------------------------ statistics
def statistic(method: str, ref: dict[str, Any], cur: dict[str, Any]) -> float:
    """One drift statistic of a chunk's profile entry against the reference's (same bins)."""
    import numpy as np

    if ref["kind"] == "text":
        ref, cur = ref["length"], cur["length"]
    if cur["kind"] in {"skipped", "empty"}:
        return math.nan
    kind = ref["kind"]
    if kind == "numeric":
        if not cur["n"]:
            return math.nan
        if method == "ks":
            return float(np.abs(stats.cdf_at_edges(ref["counts"]) - stats.cdf_at_edges(cur["counts"])).max())
        if method == "wasserstein":
            return stats.wasserstein_binned(ref, cur)
        rc, cc = np.asarray(ref["counts"]), np.asarray(cur["counts"])
        starts = stats.coarse_groups(rc)
        r, c = np.add.reduceat(rc, starts), np.add.reduceat(cc, starts)
    elif kind == "discrete":
        values, fr, fc = stats.discrete_cdf(ref, cur)
        if method == "ks":
            return float(np.abs(fr - fc).max())
        if method == "wasserstein":
            return float(np.sum(np.abs(fr - fc)[:-1] * np.diff(values)) / max(_discrete_std(ref), 1e-12))
        r = np.diff(np.concatenate([[0], fr])) * sum(ref["counts"])
        c = np.diff(np.concatenate([[0], fc])) * sum(cur["counts"])
    else:
        levels = list(ref["counts"]) + [k for k in cur["counts"] if k not in ref["counts"]]
        r = np.array([ref["counts"].get(k, 0) for k in levels], dtype="float64")
        c = np.array([cur["counts"].get(k, 0) for k in levels], dtype="float64")
    if not c.sum():
        return math.nan
    if method == "chisquare":
        return stats.chisquare(r, c)[0]
    if method == "psi":
        return stats.psi(r, c)
    return stats.jensenshannon(r, c)


def _chunk_missing(series: Any, ids: Any, n_chunks: int) -> Any:
    """Share of each chunk's rows whose value is missing (numbers: or not finite)."""
    import numpy as np
    import pandas as pd

    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        absent = ~np.isfinite(series.to_numpy(dtype="float64", na_value=np.nan))
    else:
        absent = series.isna().to_numpy()
    keep = ids >= 0
    rows = np.bincount(ids[keep], minlength=n_chunks)
    hits = np.bincount(ids[keep], weights=absent[keep], minlength=n_chunks)
    return hits / np.maximum(rows, 1)


def _missing_limit(shares: Any, series: Any, k: float) -> float:
    """The reference chunks' missing share, mean + k sd (the whole reference's when it has one chunk)."""
    import numpy as np

    if len(shares) < 2:
        return float(_chunk_missing(series, np.zeros(len(series), dtype=np.intp), 1)[0])
    return float(np.mean(shares) + k * np.std(shares))


def _missing_note(share: float, limit: float, absent: bool, kind: str) -> str:
    what = "missing or infinite" if kind in {"numeric", "discrete"} else "missing"
    if absent:
        return f"every value {what}, nothing to compare (reference chunks: up to {limit:.1%})"
    if share > limit + 1e-12:
        return f"{share:.1%} of values {what} (reference chunks: up to {limit:.1%})"
    return ""


def _chunk_ids(n: int, chunks: list[Any]) -> Any:
    """Chunk number of every row (-1: in no chunk)."""
    import numpy as np

    ids = np.full(n, -1, dtype=np.intp)
    for i, c in enumerate(chunks):
        ids[c.positions] = i
    return ids


def _binner(entry: dict[str, Any]) -> Any:
    """A function: Series -> (bin of every value on the profile's bins, -1 when not counted; number
    of bins). Numeric bins as in :func:`.bins.numeric_profile`; categories in the reference's
    order, then one bin for unseen levels."""
    import numpy as np
    import pandas as pd

    from .bins import cell_index

    if entry["kind"] == "numeric":
        cuts = np.asarray(entry["cuts"])
        cell_to_bin = np.concatenate([[0], np.repeat(np.arange(1, len(cuts)), np.diff(cuts)), [len(cuts)]])

        def numeric(series: Any) -> tuple[Any, int]:
            x = series.to_numpy(dtype="float64", na_value=np.nan)
            ok = np.isfinite(x)
            if ok.all():
                return cell_to_bin[cell_index(x, entry["grid"])], len(cuts) + 1
            bins = np.full(len(x), -1, dtype=np.intp)
            bins[ok] = cell_to_bin[cell_index(x[ok], entry["grid"])]
            return bins, len(cuts) + 1

        return numeric
    index = {level: i for i, level in enumerate(entry["counts"])}

    def categorical(series: Any) -> tuple[Any, int]:
        codes, uniques = pd.factorize(series, use_na_sentinel=True)   # hashing once; few uniques
        lookup = np.array([index.get(str(u), len(index)) for u in uniques] + [-1], dtype=np.intp)
        return lookup[codes], len(index) + 1                           # code -1 (missing) -> -1

    return categorical


def _chunk_counts(series: Any, binner: Any, ids: Any, n_chunks: int) -> Any:
    """Counts per chunk (rows) × bin (columns), one 2-D ``bincount``."""
    import numpy as np

    bins, n_bins = binner(series)
    keep = (bins >= 0) & (ids >= 0)
    flat = np.bincount(ids[keep] * n_bins + bins[keep], minlength=n_chunks * n_bins)
    return flat.reshape(n_chunks, n_bins).astype("float64")


def _counts_statistic(method: str, entry: dict[str, Any], ref: Any, cur: Any) -> list[float]:
    """The statistic of each row of ``cur`` (chunks × bins) against ``ref`` (one row or as many)."""
    import numpy as np

    ref = np.broadcast_to(ref, cur.shape)
    n_ref, n_cur = ref.sum(axis=1), cur.sum(axis=1)
    if method == "ks":
        with np.errstate(invalid="ignore", divide="ignore"):
            fr = np.cumsum(ref[:, :-1], axis=1) / n_ref[:, None]
            fc = np.cumsum(cur[:, :-1], axis=1) / n_cur[:, None]
            d = np.abs(fr - fc).max(axis=1) if cur.shape[1] > 1 else np.zeros(len(cur))
        return [float(v) if n else math.nan for v, n in zip(d, n_cur)]
    if entry["kind"] == "numeric":  # distances on reference deciles, as drift() does
        starts = stats.coarse_groups(np.asarray(entry["counts"]))
        ref, cur = np.add.reduceat(ref, starts, axis=1), np.add.reduceat(cur, starts, axis=1)
    if method == "chisquare":
        return [stats.chisquare(r, c)[0] if c.sum() else math.nan for r, c in zip(ref, cur)]
    with np.errstate(invalid="ignore", divide="ignore"):
        p = ref / np.where(n_ref > 0, n_ref, 1)[:, None]
        q = cur / np.where(n_cur > 0, n_cur, 1)[:, None]
        if method == "psi":  # as stats.psi: proportions floored at PSI_EPS
            p, q = np.clip(p, stats.PSI_EPS, None), np.clip(q, stats.PSI_EPS, None)
            values = np.sum((q - p) * np.log(q / p), axis=1)
        else:  # Jensen–Shannon distance, natural log, as stats.jensenshannon
            m = (p + q) / 2
            kl_p = np.sum(np.where(p > 0, p * np.log(np.where(p > 0, p, 1) / np.where(m > 0, m, 1)), 0.0), axis=1)
            kl_q = np.sum(np.where(q > 0, q * np.log(np.where(q > 0, q, 1) / np.where(m > 0, m, 1)), 0.0), axis=1)
            values = np.sqrt(np.maximum(0.0, (kl_p + kl_q) / 2))
    return [float(v) if n else math.nan for v, n in zip(values, n_cur)]


def without(ref: dict[str, Any], part: dict[str, Any]) -> dict[str, Any]:
    """The profile entry of the reference minus one of its chunks (profiled ``like=`` it)."""
    import numpy as np

    kind = ref["kind"]
    if part["kind"] != kind:
        return ref
    if kind == "text":
        return {**ref, "length": without(ref["length"], part["length"])}
    if kind in {"categorical", "boolean"}:
        return {**ref, "counts": {k: v - part["counts"].get(k, 0) for k, v in ref["counts"].items()}}
    if kind == "discrete":
        taken = dict(zip(part["values"], part["counts"]))
        return {**ref, "counts": [c - taken.get(v, 0) for v, c in zip(ref["values"], ref["counts"])]}
    n, nc = ref["n"], part["n"]
    rest = n - nc
    if rest <= 0:
        return ref
    mean = (n * ref["mean"] - nc * part["mean"]) / rest
    delta = part["mean"] - mean
    m2 = max(ref["m2"] - part["m2"] - delta * delta * rest * nc / n, 0.0)
    return {**ref, "n": rest, "mean": mean, "m2": m2,
            "counts": (np.asarray(ref["counts"]) - np.asarray(part["counts"])).tolist(),
            "tails": [ref["tails"][0] - part["tails"][0], ref["tails"][1] - part["tails"][1]]}


def _discrete_std(entry: dict[str, Any]) -> float:
    import numpy as np

    v, c = np.asarray(entry["values"], "float64"), np.asarray(entry["counts"], "float64")
    mean = float(np.dot(v, c) / c.sum())
    return float(np.sqrt(np.dot((v - mean) ** 2, c) / c.sum()))


# ------------------------------------------------------------------------------ arguments
def _positive(value: Any, what: str) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        out = -1.0
    if not out > 0:
        raise BadInput(f"{what} must be a positive number, got {value!r}.")
    return out


def _columns(columns: Any, ref: Any, cur: Any, *, exclude: str | None) -> list[str]:
    known = [str(c) for c in ref.columns if str(c) != exclude]
    if isinstance(columns, str):
        columns = [c.strip() for c in columns.split(",") if c.strip()]
    names = list(columns) if columns is not None else known
    for col in names:
        if col not in known:
            raise BadInput(f"Unknown column {col!r}: not in the reference." + did_you_mean(col, known))
    missing = [c for c in names if c not in cur.columns]
    if missing:
        raise BadInput(f"Column(s) {missing!r} are in the reference but not in the current data; "
                       "fix the data or pass columns=[...].")
    if not names:
        raise BadInput("No columns to check; name at least one.")
    return names


def _methods(method: Any, names: list[str]) -> dict[str, str]:
    per = dict(method) if isinstance(method, Mapping) else {"*": method or "auto"}
    default = per.pop("*", "auto")
    for col, m in [("*", default), *per.items()]:
        if m not in TIMELINE_METHODS:
            raise BadInput(f"Unknown drift method {m!r}" + (f" for column {col!r}" if col != "*" else "")
                           + f"; use one of {', '.join(TIMELINE_METHODS)}.")
        if col != "*" and col not in names:
            raise BadInput(f"Per-column method for unknown column {col!r}." + did_you_mean(col, names))
    return {name: per.get(name, default) for name in names}


def _method(method: str, entry: dict[str, Any], name: str) -> str:
    numeric = entry["kind"] in {"numeric", "text"}
    if method == "auto":
        return "ks" if numeric or entry["kind"] == "discrete" else "chisquare"
    if method in NUMERIC_ONLY and entry["kind"] in {"categorical", "boolean"}:
        raise BadInput(f"Method {method!r} needs a numeric column, but {name!r} is {entry['kind']}; "
                       "use chisquare, psi or jensenshannon.")
    return method


def _fixed(threshold: Any, names: list[str]) -> dict[str, float]:
    per = dict(threshold) if isinstance(threshold, Mapping) else {"*": threshold}
    out = {}
    for col, value in per.items():
        if col != "*" and col not in names:
            raise BadInput(f"Per-column threshold for unknown column {col!r}." + did_you_mean(col, names))
        out[col] = _positive(value, f"The threshold for {col!r}" if col != "*" else "The threshold")
    return out

