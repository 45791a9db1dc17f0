"""One retry loop with exponential back-off, shared by every place that waits for something.

Used by idempotent store reads (``store.read``), the registry lock (``locks.registry_lock``), the
alert webhook (``monitoring.alerts.post_webhook``) and the prediction-log table creation
(``monitoring.log``). Each caller says which exceptions mean "try again"; anything else propagates
at once.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def retry(fn: Callable[[], T], *, on: type[BaseException] | tuple[type[BaseException], ...],
          attempts: int | None = None, timeout: float | None = None, delay: float = 0.0,
          max_delay: float = math.inf, jitter: bool = False,
          when: Callable[[BaseException], bool] | None = None,
          after_failure: Callable[[BaseException], None] | None = None) -> T:
    """Call ``fn()`` until it returns, retrying on the exceptions ``on``.

    Parameters
    ----------
    on
        Exception type(s) that mean "try again"; others propagate at once.
    attempts, timeout
        Give up after this many calls, or once ``timeout`` seconds have passed since the first
        call (checked after a failure); the last exception is re-raised. At least one is needed.
    delay, max_delay
        Seconds to wait before the second call, doubled after each wait up to ``max_delay``.
    jitter
        Wait ``delay`` times a random factor in [0.5, 1.5) so that waiters do not wake in lockstep.
    when
        Retry only exceptions for which this returns True (the others propagate).
    after_failure
        Called with each retried exception before deciding whether to give up (e.g. clean up).
    """
    if attempts is None and timeout is None:
        raise ValueError("retry() needs attempts= or timeout=")
    deadline = None if timeout is None else time.monotonic() + timeout
    attempt = 0
    while True:
        attempt += 1
        try:
            return fn()
        except on as exc:
            if when is not None and not when(exc):
                raise
            if after_failure is not None:
                after_failure(exc)
            if (attempts is not None and attempt >= attempts) or (
                    deadline is not None and time.monotonic() > deadline):
                raise
        if delay > 0:
            time.sleep(delay * (0.5 + random.random()) if jitter else delay)
        delay = min(delay * 2, max_delay)
