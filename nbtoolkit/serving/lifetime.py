"""Processes nbt serve starts (the background server, the live monitor's helper) end with it."""

from __future__ import annotations


def die_with_parent() -> None:
    """Linux: SIGTERM this process when the process that started it dies (a notebook kernel,
    the server); elsewhere nothing."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # pragma: no cover - not glibc
        pass
