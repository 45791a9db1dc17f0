"""Chunks of a frame for estimation and drift over time: by row count, number of chunks or time.

The vocabulary is NannyML's: ``chunk_size=N`` (consecutive chunks of N rows, the last one may be
shorter), ``chunk_number=N`` (N chunks of as equal a size as possible) or ``window="1D"`` with a
``timestamp`` column (calendar windows; empty windows are left out). One :class:`Chunker` chunks
the reference and the analysis data the same way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import pairwise
from typing import TYPE_CHECKING, Any

from .errors import Arg, BadInput, say

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

DEFAULT_CHUNKS = 10
_WINDOW = re.compile(r"^\s*\d+(\.\d+)?\s*[A-Za-z]+\s*$")


@dataclass(frozen=True)
class Chunk:
    """One chunk: its label, first/last row position (or timestamp), and the row positions."""

    key: str
    start: pd.Timestamp | int
    end: pd.Timestamp | int
    positions: np.ndarray  # int row positions in the chunked frame

    @property
    def rows(self) -> int:
        return len(self.positions)


@dataclass(frozen=True)
class Chunker:
    """How to cut a frame into chunks; validated at construction (see :func:`chunker`)."""

    chunk_size: int | None = None
    chunk_number: int | None = None
    window: pd.Timedelta | str | None = None  # a duration, or a calendar period's offset string
    window_text: str | None = None
    timestamp: str | None = None

    def describe(self) -> str:
        if self.chunk_size:
            return f"chunks of {self.chunk_size} rows"
        if self.window_text:
            return f"windows of {self.window_text}"
        return f"{self.chunk_number} chunks"

    def split(self, frame: pd.DataFrame, *, what: str = "analysis data") -> list[Chunk]:
        """Chunks of ``frame`` (row positions), oldest first."""
        import numpy as np
        import pandas as pd

        n = len(frame)
        stamps = self._stamps(frame, what) if self.timestamp else None
        if self.window is not None:
            assert stamps is not None  # chunker() accepts window= only with timestamp=
            order = np.argsort(stamps.to_numpy(), kind="stable")
            sorted_stamps = stamps.iloc[order]
            groups = pd.Series(order).groupby(
                sorted_stamps.dt.floor(self.window).to_numpy() if isinstance(self.window, pd.Timedelta)
                else sorted_stamps.dt.to_period(self.window).dt.start_time.to_numpy(), sort=True)
            chunks = []
            for first, group in groups:
                pos = group.to_numpy()
                chunks.append(Chunk(str(pd.Timestamp(first)), pd.Timestamp(stamps.iloc[pos].min()),
                                    pd.Timestamp(stamps.iloc[pos].max()), pos))
            return chunks
        if self.chunk_size:
            if self.chunk_size > n:
                raise BadInput(say(f"chunk_size={self.chunk_size} is larger than the {what} ({n} rows); "
                               f"use at most {n}, or ", Arg("chunk_number"), "."))
            bounds = [*range(0, n, self.chunk_size), n]
        else:
            number = self.chunk_number or DEFAULT_CHUNKS
            if number > n:
                raise BadInput(f"chunk_number={number} is more than the {n} rows of the {what}; "
                               "use fewer chunks.")
            bounds = [round(i * n / number) for i in range(number + 1)]
        chunks = []
        for a, b in pairwise(bounds):
            pos = np.arange(a, b)
            start: pd.Timestamp | int
            end: pd.Timestamp | int
            if stamps is not None:
                start, end = pd.Timestamp(stamps.iloc[a]), pd.Timestamp(stamps.iloc[b - 1])
            else:
                start, end = a, b - 1
            chunks.append(Chunk(f"[{a}:{b - 1}]", start, end, pos))
        return chunks

    def _stamps(self, frame: pd.DataFrame, what: str) -> pd.Series:
        import pandas as pd

        if self.timestamp not in frame.columns:
            raise BadInput(f"The timestamp column {self.timestamp!r} is not in the {what}; "
                           f"columns: {', '.join(map(str, list(frame.columns)[:12]))}.")
        try:
            stamps = pd.to_datetime(frame[self.timestamp]).reset_index(drop=True)
        except (TypeError, ValueError):
            raise BadInput(f"The timestamp column {self.timestamp!r} of the {what} does not hold dates.") from None
        if stamps.isna().any():
            raise BadInput(f"The timestamp column {self.timestamp!r} of the {what} has "
                           f"{int(stamps.isna().sum())} missing value(s); fill or drop them.")
        return stamps


def chunker(*, chunk_size: Any = None, chunk_number: Any = None, window: Any = None,
            timestamp: str | None = None) -> Chunker:
    """Validate the chunking arguments (at most one of the three; default 10 chunks)."""
    if timestamp is not None and (not isinstance(timestamp, str) or not timestamp.strip()):
        raise BadInput(f"timestamp must name the time column, got {timestamp!r:.80} ({type(timestamp).__name__}).")
    given = [k for k, v in (("chunk_size", chunk_size), ("chunk_number", chunk_number),
                            ("window", window)) if v is not None]
    if len(given) > 1:
        raise BadInput(f"Give one of chunk_size, chunk_number or window, not {' and '.join(given)}.")
    for name, value in (("chunk_size", chunk_size), ("chunk_number", chunk_number)):
        if value is None:
            continue
        if isinstance(value, bool) or (not isinstance(value, (int,)) and not (
                hasattr(value, "is_integer") and float(value).is_integer())):
            raise BadInput(f"{name} must be a positive whole number, got {value!r}.")
        if int(value) <= 0:
            raise BadInput(f"{name} must be a positive whole number, got {value!r}.")
    if window is not None:
        text = str(window)
        if not _WINDOW.match(text):
            raise BadInput(f"Cannot read the window {window!r}: give a number with a unit, such as "
                           "'1h', '1D', '7D' or '1W'.")
        if timestamp is None:
            raise BadInput(say(f"window={window!r} needs ", Arg("timestamp", "'COLUMN'"), " naming the time column."))
        import pandas as pd

        try:
            td: Any = pd.Timedelta(text.strip())
        except (TypeError, ValueError):
            td = None
        if td is None:  # calendar periods: 1M (month), 1Y ...
            try:
                pd.Period("2000-01-01", freq=text.strip())
                td = text.strip()
            except (TypeError, ValueError):
                raise BadInput(f"Cannot read the window {window!r}: use a duration such as '1h', '1D' "
                               "or '7D', or a calendar period such as '1M'.") from None
        elif td <= pd.Timedelta(0):
            raise BadInput(f"The window must be positive, got {window!r}.")
        return Chunker(window=td, window_text=text.strip(), timestamp=timestamp)
    if chunk_size is not None:
        return Chunker(chunk_size=int(chunk_size), timestamp=timestamp)
    return Chunker(chunk_number=int(chunk_number or DEFAULT_CHUNKS), timestamp=timestamp)
