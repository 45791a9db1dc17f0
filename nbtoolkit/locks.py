"""A cross-process lock built on the MLflow registry itself (works on SQLite and on a server).

MLflow has no compare-and-set on tags or aliases, but creating a registered model is atomic: the
name is a unique key, and a second ``create_registered_model`` gets ``RESOURCE_ALREADY_EXISTS``.
:func:`registry_lock` uses that as a mutex: the holder creates a marker model named
``nbt-lock.<key>`` and deletes it when done. A marker older than ``stale_after`` seconds belongs to
a process that died while holding it and is removed. Marker models are hidden from
:func:`nbtoolkit.registry.models`.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Iterator

from . import store
from .backoff import retry
from .errors import ModelNotFound, StoreUnavailable

LOCK_PREFIX = "nbt-lock."
OWNER_TAG = "nbt.lock.owner"


class _Held(Exception):
    """Another process holds the lock (internal: the signal to wait and try again)."""


def is_lock_name(name: str) -> bool:
    return str(name).startswith(LOCK_PREFIX)


@contextlib.contextmanager
def registry_lock(key: str, *, timeout: float = 60.0, stale_after: float = 120.0) -> Iterator[str]:
    """Hold the registry-wide lock ``key`` for the duration of the block.

    Raises :class:`StoreUnavailable` when another holder keeps it longer than ``timeout`` s.
    """
    from mlflow.exceptions import MlflowException

    c = store.client()
    lock = LOCK_PREFIX + key
    owner = uuid.uuid4().hex

    def create() -> None:
        try:
            with store.translate_errors():
                c.create_registered_model(lock, tags={OWNER_TAG: owner},
                                          description="nbtoolkit lock; deleted when released")
        except ModelNotFound as exc:
            # Contention too: MLflow's store answers a duplicate name by reading the existing
            # model, which the holder may have released in between (RESOURCE_DOES_NOT_EXIST).
            raise _Held from exc
        except MlflowException as exc:
            if exc.error_code not in ("RESOURCE_ALREADY_EXISTS", "ALREADY_EXISTS"):
                raise
            raise _Held from exc

    try:  # jitter: waiters do not wake in lockstep
        retry(create, on=_Held, timeout=timeout, delay=0.05, max_delay=1.0, jitter=True,
              after_failure=lambda _: _break_if_stale(c, lock, stale_after))
    except _Held:
        raise StoreUnavailable(
            f"Lock {lock!r} is held by another process for more than {timeout:.0f} s; retry "
            f"later, or delete the registered model {lock!r} if that process died."
        ) from None
    try:
        yield lock
    finally:
        with contextlib.suppress(ModelNotFound), store.translate_errors():
            c.delete_registered_model(lock)


def _break_if_stale(c: object, lock: str, stale_after: float) -> None:
    try:
        with store.translate_errors():
            rm = c.get_registered_model(lock)  # type: ignore[attr-defined]
            age = time.time() - (rm.creation_timestamp or 0) / 1000
            if age > stale_after:
                c.delete_registered_model(lock)  # type: ignore[attr-defined]
    except ModelNotFound:  # released meanwhile
        pass
