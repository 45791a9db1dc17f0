"""Drift over time: per chunk × column statistics with thresholds learned from reference chunks.

``drift(current, reference, chunk_size=N | chunk_number=N | window="1D", timestamp=...)`` cuts
both frames the same way (:mod:`nbtoolkit.chunking`). The reference is profiled once
(:class:`~nbtoolkit.profiles.Profile`, which fixes each column's bins); then every row of both
frames is put in its bin once per column and one 2-D ``bincount`` gives the counts of every chunk
(discrete and free-text columns, and statistics that need more than counts such as
``wasserstein``, profile each chunk ``like=`` the reference instead). Either way a chunk's value is
the registered statistic's (:mod:`nbtoolkit.profiles.methods`, the one drift() uses): ``ks``,
``wasserstein`` on numbers (free text: its length), ``jensenshannon``, ``psi``, ``chisquare`` (the
statistic, not its p-value) on numbers and categories.

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
from typing import TYPE_CHECKING, Any

from ..errors import Arg, BadInput, did_you_mean, say
from ..limits import outside, reference_limits, sd_multiplier
from ..profiles import Profile, without
from ..profiles import methods as registry
from ..profiles import stats
from ..profiles.methods import STATISTICS, Statistic

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from ..chunking import Chunk


def drift_timeline(current: Any, reference: Any, *, columns: Any = None, method: Any = "auto",
                   threshold: Any = "reference", threshold_sd: float = 3.0, chunk_size: Any = None,
                   chunk_number: Any = None, window: Any = None, timestamp: str | None = None,
                   multivariate: bool | str = True) -> Any:
    """Per-chunk drift of ``current`` against ``reference``; see the module docstring.

    ``multivariate``: ``True`` or ``"pca"`` (the reconstruction error), ``"classifier"`` (a domain
    classifier per chunk, :mod:`.domain`), ``"both"``, or ``False``.

    Returns a :class:`~nbtoolkit.reports.drift_timeline.DriftTimeline`.
    """
    import numpy as np

    from ..chunking import chunker
    from ..contract import as_frame
    from ..reports.drift_timeline import DriftTimeline

    chunks_of = chunker(chunk_size=chunk_size, chunk_number=chunk_number, window=window, timestamp=timestamp)
    k = sd_multiplier(threshold_sd, "threshold_sd")
    learned = isinstance(threshold, str)
    if learned and threshold != "reference":
        raise BadInput(f"threshold must be 'reference', a number or {{column: number}}, got {threshold!r}.")
    if isinstance(reference, Profile):
        raise BadInput(say("Drift over time learns thresholds from reference chunks and needs the reference "
                           "frame (", Arg("reference", "DataFrame"), "), not a stored profile; or check one chunk "
                           "at a time."))
    if reference is None:
        raise BadInput(say("Drift over time needs ", Arg("reference", "DataFrame"),
                           " (the period the thresholds are learned from)."))
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
            raise BadInput(say("threshold='reference' needs several reference chunks: ", *exc.parts)) from None
    if learned and len(ref_chunks) < 2:
        raise BadInput(f"threshold='reference' needs at least 2 reference chunks, got {len(ref_chunks)} "
                       f"({chunks_of.describe()} of {len(ref)} rows); use smaller chunks or a fixed threshold.")
    chosen = {name: _method(methods.get(name, "auto"), ref_profile.columns[name], name) for name in tested}

    # Fast path: each row's bin on the reference profile's bins, once per column; one 2-D
    # bincount gives every chunk's counts, and the statistic's count function takes them all at
    # once. Discrete and text columns, and statistics that need more than counts (wasserstein),
    # compare per-chunk profiles with the same statistic's compare().
    fast = [n for n in tested if ref_profile.columns[n]["kind"] in {"numeric", "categorical", "boolean"}
            and STATISTICS[chosen[n]].counts is not None]
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
        # categories the reference profile lacks got bins after its own: both sides as wide
        width = max(ref_counts.shape[1], cur_counts.shape[1])
        if ref_counts.shape[1] != cur_counts.shape[1]:
            ref_counts, cur_counts = (np.pad(c, ((0, 0), (0, width - c.shape[1]))) for c in (ref_counts, cur_counts))
        total = ref_counts.sum(axis=0)
        stat = STATISTICS[chosen[name]]
        # A reference chunk is compared with the rest of the reference (its own rows taken out
        # of the counts), so its statistic is distributed as a new chunk's would be.
        for i, value in enumerate(_counts_statistic(stat, entry, total - ref_counts, ref_counts)):
            ref_stats[i][name] = value
        for i, value in enumerate(_counts_statistic(stat, entry, total[None, :], cur_counts)):
            cur_stats[i][name] = value

    def stats_of(frame: pd.DataFrame, chunk: Chunk, *, own: bool, out: dict[str, float]) -> None:
        prof = Profile.from_frame(frame.iloc[chunk.positions], like=ref_profile, columns=slow)
        for name in slow:
            base, entry = ref_profile.columns[name], prof.columns[name]
            out[name] = STATISTICS[chosen[name]].compare(without(base, entry) if own else base, entry)

    if slow:
        for c, out in zip(ref_chunks, ref_stats):
            stats_of(ref, c, own=True, out=out)
        for c, out in zip(cur_chunks, cur_stats):
            stats_of(cur, c, own=False, out=out)
    limits: dict[str, float | None] = {}
    for name in tested:
        if learned:  # the reference chunks' mean + k sd (limits.py); a statistic only rises with drift
            limits[name] = reference_limits([s[name] for s in ref_stats], k, lower=False)[1]
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
                             "drifted": absent or outside(value, (None, limit))})
    multi = None
    how = _multivariate(multivariate)
    domain = None
    if how in {"classifier", "both"} and tested:
        from .domain import domain_timeline

        domain = domain_timeline(ref, cur, tested, ref_profile, ref_chunks, cur_chunks, k=k,
                                 named=columns is not None)
        notes += domain["notes"]
    if how in {"pca", "both"} and tested:
        from .reconstruction import reconstruction_timeline

        multi = reconstruction_timeline(ref, cur, tested, ref_profile, ref_chunks, cur_chunks, k=k)
        if multi is None:
            notes.append("No multivariate timeline: fewer than 2 usable columns.")
    return DriftTimeline(rows=rows, columns=tested, skipped=skipped, chunking=chunks_of.describe(),
                         threshold="reference" if learned else "fixed", threshold_sd=k,
                         multivariate=multi, domain=domain, notes=notes, n_reference=len(ref), n_current=len(cur))


def _multivariate(value: Any) -> str | None:
    """``multivariate=`` as None, "pca", "classifier" or "both"."""
    if value is None or value is False:
        return None
    if value is True:
        return "pca"
    if isinstance(value, str) and value in {"pca", "classifier", "both"}:
        return value
    raise BadInput(f"multivariate must be True, False, 'pca', 'classifier' or 'both', got {value!r}.")


# ------------------------------------------------------------------------------ statistics
def _chunk_missing(series: pd.Series, ids: np.ndarray, n_chunks: int) -> np.ndarray:
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


def _missing_limit(shares: np.ndarray, series: pd.Series, k: float) -> float:
    """The reference chunks' missing share, mean + k sd (the whole reference's when it has one chunk)."""
    import numpy as np

    upper = reference_limits(shares, k, lower=False)[1]
    if upper is None:
        return float(_chunk_missing(series, np.zeros(len(series), dtype=np.intp), 1)[0])
    return upper


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
    of bins). Numeric bins as in :func:`nbtoolkit.profiles.bins.numeric_profile`; categories in
    the reference's order, then one bin per level the reference does not have (as a chunk's
    profile counts them: a statistic compares the same counts either way)."""
    import numpy as np
    import pandas as pd

    from ..profiles.bins import cell_index

    if entry["kind"] == "numeric":
        cuts = np.asarray(entry["cuts"])
        cell_to_bin = np.concatenate([[0], np.repeat(np.arange(1, len(cuts)), np.diff(cuts)), [len(cuts)]])

        def numeric(series: pd.Series) -> tuple[Any, int]:
            x = series.to_numpy(dtype="float64", na_value=np.nan)
            ok = np.isfinite(x)
            if ok.all():
                return cell_to_bin[cell_index(x, entry["grid"])], len(cuts) + 1
            bins = np.full(len(x), -1, dtype=np.intp)
            bins[ok] = cell_to_bin[cell_index(x[ok], entry["grid"])]
            return bins, len(cuts) + 1

        return numeric
    index = {level: i for i, level in enumerate(entry["counts"])}
    unseen: dict[str, int] = {}  # shared by every series binned: a level keeps its bin

    def categorical(series: pd.Series) -> tuple[Any, int]:
        codes, uniques = pd.factorize(series, use_na_sentinel=True)   # hashing once; few uniques
        lookup = [index[key] if key in index else unseen.setdefault(key, len(index) + len(unseen))
                  for key in map(str, uniques)]                      # levels as the profile names them
        return np.array([*lookup, -1], dtype=np.intp)[codes], len(index) + len(unseen)  # code -1 (missing) -> -1

    return categorical


def _chunk_counts(series: pd.Series, binner: Any, ids: np.ndarray, n_chunks: int) -> np.ndarray:
    """Counts per chunk (rows) × bin (columns), one 2-D ``bincount``."""
    import numpy as np

    bins, n_bins = binner(series)
    keep = (bins >= 0) & (ids >= 0)
    flat = np.bincount(ids[keep] * n_bins + bins[keep], minlength=n_chunks * n_bins)
    return flat.reshape(n_chunks, n_bins).astype("float64")


def _counts_statistic(stat: Statistic, entry: dict[str, Any], ref: Any, cur: Any) -> list[float]:
    """``stat`` of each row of ``cur`` (chunks × bins) against ``ref`` (one row or as many), on the
    bins :meth:`Statistic.compare` uses (numbers: reference deciles unless the statistic wants the
    fine bins); NaN for a chunk without values."""
    import numpy as np

    assert stat.counts is not None
    ref = np.broadcast_to(ref, cur.shape)
    if entry["kind"] == "numeric" and stat.bins == "coarse":
        starts = stats.coarse_groups(np.asarray(entry["counts"]))
        ref, cur = np.add.reduceat(ref, starts, axis=1), np.add.reduceat(cur, starts, axis=1)
    values = np.atleast_1d(stat.counts(ref, cur))
    return [float(v) if n else math.nan for v, n in zip(values, cur.sum(axis=1))]


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
        raise BadInput(say(f"Column(s) {missing!r} are in the reference but not in the current data; "
                           "fix the data or pass ", Arg("columns", "[...]"), "."))
    if not names:
        raise BadInput("No columns to check; name at least one.")
    return names


def _methods(method: Any, names: list[str]) -> dict[str, str]:
    per = dict(method) if isinstance(method, Mapping) else {"*": method or "auto"}
    default = per.pop("*", "auto")
    for col, m in [("*", default), *per.items()]:
        registry.check_method(m, None if col == "*" else col)
        if col != "*" and col not in names:
            raise BadInput(f"Per-column method for unknown column {col!r}." + did_you_mean(col, names))
    return {name: per.get(name, default) for name in names}


def _method(method: str, entry: dict[str, Any], name: str) -> str:
    if method == "auto":
        return registry.auto_over_time(entry["kind"])
    if not STATISTICS[method].applies_to(entry["kind"]):
        raise BadInput(registry.numeric_only_message(method, name, entry["kind"]))
    return method


def _fixed(threshold: Any, names: list[str]) -> dict[str, float]:
    per = dict(threshold) if isinstance(threshold, Mapping) else {"*": threshold}
    out = {}
    for col, value in per.items():
        if col != "*" and col not in names:
            raise BadInput(f"Per-column threshold for unknown column {col!r}." + did_you_mean(col, names))
        out[col] = _positive(value, f"The threshold for {col!r}" if col != "*" else "The threshold")
    return out

