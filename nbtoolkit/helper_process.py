"""Helper processes: start one, talk to it in frames, and it ends with its parent.

nbtoolkit moves work that would hold the caller's interpreter lock, or that needs a slow import, to a
helper process: the prediction-log shipper of ``nbt serve`` (:mod:`.serving.shipper`), the live
monitor's window reader (:mod:`.serving.alerts`), the MLflow tracker of ``nbt run``
(:mod:`.pipeline.tracking`) and the model loader of a cold ``nbt data drift --model``
(:mod:`.registry.model_process`). They all start and talk the same way:

- **Start**: :class:`HelperProcess` (``target="package.module:function"``) runs
  ``python -c`` :func:`_child`, which imports the module and calls ``function(channel)``; its return
  value is the exit code. Each use is switched on by its caller, explicitly — never by state.
- **Wire format**: frames in both directions (parent → helper on the helper's stdin, helper →
  parent on a pipe of its own, so a ``print`` in the helper cannot corrupt the channel): a 4-byte
  big-endian payload length, one codec byte (``J`` JSON, ``P`` pickle — for arrays, models' answers
  and exceptions), then the payload. :class:`Channel` is the seam both ends type against.
- **End**: the helper's :meth:`Channel.receive` raises :class:`EOFError` once the parent closed its
  end — by :meth:`HelperProcess.close`, or by dying (the kernel closes a dead process's pipes) —
  and the helper returns. A helper with nothing to finish (``finish=False``) also gets SIGTERM when
  its parent dies (Linux ``PR_SET_PDEATHSIG``), in case it is busy rather than reading; a helper
  that must finish what it holds (the log shipper drains, the tracker ends the run) ignores SIGTERM
  and ends on the end of its channel. SIGINT (Ctrl-C reaches the whole process group) is ignored:
  the parent decides.
"""

from __future__ import annotations

import json
import os
import pickle
import struct
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping
from typing import Any, BinaryIO, Literal, Protocol

Codec = Literal["json", "pickle"]
_HEADER = struct.Struct("!Ic")
_TAGS: dict[str, bytes] = {"json": b"J", "pickle": b"P"}


class Channel(Protocol):
    """One end of a helper's channel: frames out, frames in."""

    codec: Codec  # how this end encodes what it sends

    def send(self, message: Any) -> None:
        """Encode ``message`` with the channel's codec and send it as one frame."""

    def send_encoded(self, payload: bytes) -> None:
        """Send a payload already encoded with the channel's codec (one frame, one write)."""

    def receive(self) -> Any:
        """The next message; :class:`EOFError` when the other end closed (or died mid-frame)."""

    def close(self) -> None:
        """Close this end; the other end's :meth:`receive` then raises :class:`EOFError`."""


def encode(message: Any, codec: Codec = "json") -> bytes:
    """A message's payload in ``codec`` (what :meth:`Channel.send_encoded` takes)."""
    if codec == "pickle":
        return pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return json.dumps(message, separators=(",", ":"), default=str).encode()


def decode(tag: bytes, payload: bytes) -> Any:
    return pickle.loads(payload) if tag == b"P" else json.loads(payload)


class FramedChannel:
    """A :class:`Channel` over two file descriptors (pipes): length-prefixed, codec-tagged frames."""

    def __init__(self, read: BinaryIO | None, write_fd: int | None, *, codec: Codec = "json") -> None:
        self._read = read
        self._write_fd = write_fd
        self.codec = codec
        self._tag = _TAGS[codec]
        self._lock = threading.Lock()  # a frame is written whole, whichever thread sends

    def send(self, message: Any) -> None:
        self.send_encoded(encode(message, self.codec))

    def send_encoded(self, payload: bytes) -> None:
        if self._write_fd is None:
            raise BrokenPipeError("the channel is closed")
        data = memoryview(_HEADER.pack(len(payload), self._tag) + payload)
        with self._lock:
            while data:
                data = data[os.write(self._write_fd, data):]

    def receive(self) -> Any:
        return decode(*self.receive_frame())

    def receive_frame(self) -> tuple[bytes, bytes]:
        """The next frame undecoded: ``(codec tag, payload)``."""
        if self._read is None:
            raise EOFError("the channel is closed")
        head = self._read.read(_HEADER.size)
        if len(head) < _HEADER.size:
            raise EOFError("the other end closed the channel")
        size, tag = _HEADER.unpack(head)
        payload = self._read.read(size)
        if len(payload) < size:  # the sender died while writing
            raise EOFError("the other end closed the channel mid-frame")
        return tag, payload

    def close(self) -> None:
        with self._lock:
            if self._write_fd is not None:
                try:
                    os.close(self._write_fd)
                finally:
                    self._write_fd = None

    def close_reading(self) -> None:
        if self._read is not None:
            self._read.close()
            self._read = None


class HelperProcess:
    """Start ``target`` (``"package.module:function"``, called with the helper's :class:`Channel`).

    Parameters
    ----------
    target : the helper's function, ``"module:function"``; it returns the exit code
    codec : how this side encodes what it sends (the helper answers in the codec it likes)
    finish : the helper must finish what it holds when the parent goes: it ignores SIGTERM and ends
        when its channel ends; otherwise it also ends by SIGTERM when the parent dies
    nice : added to the helper's niceness (work that may wait for the parent's)
    env : environment variables set for the helper, on top of this process's
    """

    def __init__(self, target: str, *, codec: Codec = "json", finish: bool = False, nice: int = 0,
                 env: Mapping[str, str] | None = None) -> None:
        if ":" not in target:
            raise ValueError(f"target must be 'module:function', got {target!r}")
        self.target = target
        back_r, back_w = os.pipe()
        options = json.dumps({"finish": finish, "nice": nice, "codec": codec})
        # -c, not -m: `-m nbtoolkit.x` imports the package first, and runpy warns about running x twice.
        code = "from nbtoolkit.helper_process import _child; _child()"
        try:
            self.proc = subprocess.Popen([sys.executable, "-c", code, target, str(back_w), options],
                                         stdin=subprocess.PIPE, pass_fds=(back_w,),
                                         env=None if env is None else {**os.environ, **env})
        except BaseException:
            os.close(back_r)
            raise
        finally:
            os.close(back_w)
        assert self.proc.stdin is not None
        write_fd = os.dup(self.proc.stdin.fileno())  # ours to close: EOF for the helper
        self.proc.stdin.close()
        self.channel = FramedChannel(os.fdopen(back_r, "rb"), write_fd, codec=codec)

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def ask(self, message: Any) -> Any:
        """Send one request and wait for its answer (:class:`EOFError` / :class:`OSError` if it died)."""
        self.channel.send(message)
        return self.channel.receive()

    def call(self, message: Any) -> Any:
        """:meth:`ask` a helper that answers with :func:`reply`: its value, or its exception raised here."""
        kind, value, *_ = self.ask(message)
        if kind == "error":
            raise value
        return value

    def close(self, timeout: float = 10.0, *, keep_reading: bool = False) -> int:
        """End the channel (the helper finishes and exits); kill it after ``timeout``; its exit code.

        ``keep_reading``: a thread of the caller still reads the helper's last frames (it gets
        :class:`EOFError` after them); the caller closes that side with :meth:`close_reading`.
        """
        self.channel.close()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        if not keep_reading:
            self.channel.close_reading()
        return self.proc.returncode

    def close_reading(self) -> None:
        self.channel.close_reading()

    def __enter__(self) -> HelperProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def attempt(work: Callable[[], Any]) -> tuple[str, Any]:
    """``("ok", work())``, or ``("error", exception)`` when it raised: what a helper answers."""
    try:
        return "ok", work()
    except Exception as exc:  # handed back to the caller, raised there
        return "error", exc


def reply(channel: Channel, outcome: tuple[Any, ...]) -> None:
    """Send :func:`attempt`'s ``outcome`` (plus anything after it) as the answer to a
    :meth:`HelperProcess.call`; a pickle channel carries an exception itself, and a value or exception
    that does not encode goes as a RuntimeError with its type and message."""
    try:
        payload = encode(outcome, channel.codec)
    except Exception as exc:
        payload = encode(("error", RuntimeError(f"{type(outcome[1]).__name__}: {exc}"), *outcome[2:]), channel.codec)
    channel.send_encoded(payload)


def die_with_parent() -> None:
    """Linux: SIGTERM this process when the process that started it dies; elsewhere nothing."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # pragma: no cover - not glibc
        pass


def _child() -> None:  # pragma: no cover - runs in the helper process
    """The helper's side: argv is ``target, fd of the channel back, options``; run the target."""
    import importlib
    import signal

    target, back_fd, raw = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    options = json.loads(raw)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if options["finish"]:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    else:
        die_with_parent()
    if options["nice"]:
        os.nice(int(options["nice"]))
    module, function = target.split(":", 1)
    run = getattr(importlib.import_module(module), function)
    channel = FramedChannel(sys.stdin.buffer, back_fd, codec=options["codec"])
    sys.exit(run(channel) or 0)
