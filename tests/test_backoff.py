"""retry(): the one back-off loop (store reads, the registry lock, the webhook, the log table)."""

from __future__ import annotations

import pytest

from nbtoolkit import backoff
from nbtoolkit.backoff import retry


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    waited: list[float] = []
    monkeypatch.setattr(backoff.time, "sleep", waited.append)
    return waited


def flaky(failures: int, exc: type[BaseException] = OSError):
    calls = []

    def fn() -> str:
        calls.append(1)
        if len(calls) <= failures:
            raise exc(f"failure {len(calls)}")
        return "ok"

    return fn, calls


def test_retries_with_doubling_delays_capped(sleeps: list[float]) -> None:
    fn, calls = flaky(4)
    assert retry(fn, on=OSError, attempts=5, delay=0.5, max_delay=1.5) == "ok"
    assert len(calls) == 5 and sleeps == [0.5, 1.0, 1.5, 1.5]


def test_gives_up_after_the_attempts_with_the_last_exception(sleeps: list[float]) -> None:
    fn, calls = flaky(10)
    with pytest.raises(OSError, match="failure 3"):
        retry(fn, on=OSError, attempts=3, delay=0.1)
    assert len(calls) == 3 and sleeps == [0.1, 0.2]


def test_other_exceptions_and_refused_ones_propagate_at_once(sleeps: list[float]) -> None:
    fn, calls = flaky(1, KeyError)
    with pytest.raises(KeyError):
        retry(fn, on=OSError, attempts=3)
    fn, calls = flaky(1)
    with pytest.raises(OSError):
        retry(fn, on=OSError, attempts=3, when=lambda exc: "race" in str(exc))
    assert len(calls) == 1 and sleeps == []


def test_timeout_jitter_and_after_failure(sleeps: list[float], monkeypatch: pytest.MonkeyPatch) -> None:
    clock = iter([0.0, 1.0, 2.0, 11.0])
    monkeypatch.setattr(backoff.time, "monotonic", lambda: next(clock))
    seen: list[str] = []
    fn, calls = flaky(10)
    with pytest.raises(OSError):
        retry(fn, on=OSError, timeout=10, delay=0.2, jitter=True, after_failure=lambda e: seen.append(str(e)))
    assert seen == ["failure 1", "failure 2", "failure 3"]  # cleaned up after each failure, the last too
    assert len(sleeps) == 2 and 0.1 <= sleeps[0] < 0.3 and 0.2 <= sleeps[1] < 0.6


def test_needs_a_bound() -> None:
    with pytest.raises(ValueError):
        retry(lambda: None, on=OSError)
