"""The one helper-process pattern (nbtoolkit/helper_process.py): frames both ways, answers and
exceptions, and a helper that ends with its parent. Real processes; the targets below are imported
by the helper from this folder (PYTHONPATH)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from nbtoolkit.helper_process import Channel, FramedChannel, HelperProcess, attempt, reply

HERE = str(Path(__file__).resolve().parent)
ENV = {"PYTHONPATH": os.pathsep.join([HERE, os.environ.get("PYTHONPATH", "")])}


def _echo(channel: Channel) -> int:
    """Each message back as it came; the number of messages is the exit code."""
    n = 0
    while True:
        try:
            message = channel.receive()
        except EOFError:
            return n
        channel.send(message)
        n += 1


def _divide(channel: Channel) -> int:
    while True:
        try:
            a, b = channel.receive()
        except EOFError:
            return 0
        reply(channel, attempt(lambda a=a, b=b: a / b))


def _busy(channel: Channel) -> int:  # never reads its channel: only the parent-death signal ends it
    channel.send("started")
    time.sleep(600)
    return 0


def _gone(pid: int, within: float = 20.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        # a zombie of a reaped parent is adopted and reaped by init; /proc says when it is one
        try:
            if Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z":
                return True
        except OSError:
            return True
        time.sleep(0.1)
    return False


def test_frames_round_trip_in_both_codecs_and_the_exit_code_comes_back():
    with HelperProcess("test_helper_process:_echo", env=ENV) as helper:
        message = {"seq": 3, "entry": {"ids": ["a", "b"], "conf": [0.5, None]}, "text": "é\n"}
        assert helper.ask(message) == message
        helper.channel.send_encoded(b'{"pre":"encoded"}')  # what the log shipper sends: the journal's bytes
        assert helper.channel.receive() == {"pre": "encoded"}
        big = {"x": "y" * 1_000_000}  # larger than a pipe's buffer: written and read whole
        assert helper.ask(big) == big
    assert helper.proc.returncode == 3

    helper = HelperProcess("test_helper_process:_echo", codec="pickle", env=ENV)
    value = (b"\x00bytes", {1, 2}, ValueError("kept"))
    back = helper.ask(value)
    assert back[:2] == value[:2] and isinstance(back[2], ValueError) and str(back[2]) == "kept"
    assert helper.close() == 1


def test_call_raises_the_helpers_exception_here_and_the_helper_goes_on():
    with HelperProcess("test_helper_process:_divide", codec="pickle", env=ENV) as helper:
        assert helper.call((1, 4)) == 0.25
        with pytest.raises(ZeroDivisionError):
            helper.call((1, 0))
        assert helper.call((3, 2)) == 1.5


def test_a_frame_cut_short_is_the_end_of_the_channel():
    r, w = os.pipe()
    os.write(w, b"\x00\x00\x00\x10J{\"cut")  # 16 bytes announced, 5 sent, then the writer died
    os.close(w)
    channel = FramedChannel(os.fdopen(r, "rb"), None)
    with pytest.raises(EOFError, match="mid-frame"):
        channel.receive()
    channel.close_reading()


def test_bad_target_is_refused_before_anything_starts():
    with pytest.raises(ValueError, match="module:function"):
        HelperProcess("test_helper_process._echo")


@pytest.mark.parametrize(("target", "finish"), [("_echo", True), ("_busy", False)])
def test_the_helper_ends_when_its_parent_is_killed(target: str, finish: bool):
    """A helper reading its channel ends at its end; a busy one by the parent-death signal."""
    parent = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, time
        from nbtoolkit.helper_process import HelperProcess
        h = HelperProcess("test_helper_process:{target}", finish={finish}, env={ENV!r})
        if {target!r} == "_busy":
            h.channel.receive()
        print(h.pid, flush=True)
        time.sleep(600)
    """)], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    pid = int(parent.stdout.readline())
    parent.send_signal(signal.SIGKILL)
    parent.wait(10)
    assert _gone(pid), f"the helper {pid} outlived its parent"


def test_the_model_process_is_only_used_when_passed() -> None:
    """No hidden switch: the module has no context variable, loading in-process is the default."""
    import inspect

    from nbtoolkit.registry import loading, model_process

    source = inspect.getsource(model_process) + inspect.getsource(loading)
    assert "ContextVar" not in source and "contextvars" not in source
    assert inspect.signature(loading.load).parameters["process"].default is None


def test_the_log_helper_reads_the_journal_across_rotations_and_only_whole_lines(tmp_path):
    """What the log shipper's helper reads instead of a second copy of each entry (serving/journal.py)."""
    import json

    from nbtoolkit.serving.journal import Journal, JournalTail

    journal = Journal(tmp_path, log_url="sqlite:///x.db", segment_bytes=200)
    tail = JournalTail(tmp_path, journal.pid, journal.segment)
    assert tail.read() == []  # only the segment's header so far

    def line(seq: int) -> bytes:
        return json.dumps({"seq": seq, "entry": {"ids": [f"r{seq}"], "pad": "x" * 80}},
                          separators=(",", ":")).encode()

    journal.append_line(1, line(1))
    journal.append_line(2, line(2))
    assert [s for s, _ in tail.read()] == [1, 2]
    journal.flushed(2)  # over 200 bytes: the server rotates to segment 2 and drops segment 1
    assert journal.segment == 2
    journal.append_line(3, line(3))
    with open(journal.current, "ab") as f:  # a line being written: not taken until its newline is there
        f.write(line(4)[:30])
    assert [(s, e["ids"]) for s, e in tail.read()] == [(3, ["r3"])] and tail.segment == 2
    with open(journal.current, "ab") as f:
        f.write(line(4)[30:] + b"\n")
    assert [s for s, _ in tail.read()] == [4]
    tail.close()
    journal.close(everything_logged=True)
    assert not list(tmp_path.glob("journal-*"))
