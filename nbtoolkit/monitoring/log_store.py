"""What the rest of the package asks of a prediction log: the seams, named so a checker keeps them.

Two roles, one implementation today (:class:`~nbtoolkit.monitoring.log.PredictionLog`, on SQL):

- :class:`LogSink` — where a batching writer puts rows it already built and checked (``nbt serve``'s
  log shipper, the journal's replay): ``append`` in one transaction, ``existing_ids`` to skip what
  a replay already wrote.
- :class:`LogSource` — what the readers ask (``monitor``, ``abtest``, the server's live alerts,
  pipeline triggers): the logged predictions as a frame, the models in the log.

:class:`LogStore` is both. A test double or another backend satisfies these by shape (structural
typing), without inheriting from anything; mypy checks :class:`PredictionLog` against them below.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import pandas as pd


class LogSink(Protocol):
    """Takes rows already built and checked (the table's columns), one transaction per call."""

    @property
    def safe_url(self) -> str:
        """Where the rows go, with any password hidden (for messages)."""
        ...

    def append(self, rows: Sequence[dict[str, Any]]) -> int:
        """Insert ``rows`` all or none; returns how many. An id already logged rejects the batch
        (:class:`~nbtoolkit.errors.BadInput`); an unreachable store raises
        :class:`~nbtoolkit.errors.StoreUnavailable`."""
        ...

    def existing_ids(self, ids: Sequence[str], *, model: str | None = None) -> set[str]:
        """The ids among ``ids`` already logged (by ``model`` when given)."""
        ...


class LogSource(Protocol):
    """Gives back what was logged, oldest first."""

    @property
    def safe_url(self) -> str:
        """Where the rows come from, with any password hidden (for messages)."""
        ...

    def frame(
        self,
        model: str | None = None,
        *,
        version: str | int | None = None,
        start: Any = None,
        end: Any = None,
        alias: str | None = None,
        inputs: bool = False,
        probabilities: bool = False,
    ) -> pd.DataFrame:
        """Logged predictions of ``model`` (one ``version``/``alias``, ``start`` inclusive to
        ``end`` exclusive), with ``inputs``/``probabilities`` as dicts when asked."""
        ...

    def models(self) -> list[str]:
        """The model names that have logged predictions."""
        ...


class LogStore(LogSink, LogSource, Protocol):
    """A prediction log that is written and read."""


if TYPE_CHECKING:  # the one implementation keeps the shape (mypy fails here when it drifts)
    from .log import PredictionLog

    _: type[LogStore] = PredictionLog
