"""MLflow records of a pipeline run, written off the critical path.

One parent run per pipeline run and a nested run per step (parameters, recorded outputs,
duration, status, the executed notebook as an artefact). MLflow costs seconds to import (~3 s
of CPU with its SQL store) and milliseconds per call, so that work happens beside the notebooks:

- :class:`ProcessTracker` (MLflow not imported yet, e.g. the ``nbt`` command): a writer process
  (``python -m nbtoolkit.pipeline.tracking``) imports MLflow and opens the parent run while this
  process imports papermill and the kernel starts and runs, on another core (a thread would
  share one interpreter lock with papermill's client); step records go to it once each notebook
  is saved.
- :class:`Tracker` (MLflow already imported, e.g. ``%nbt pipeline run`` in a notebook that has
  used nbtoolkit): a background thread does the same in this process.

Both take a step's record when it finishes; ``close`` waits until everything is written. A run
in which every step is cached executes nothing and starts no tracker (it never imports MLflow).
"""

from __future__ import annotations

import contextvars
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from typing import Any

_STOP = object()
_MAX_PARAM = 6000


def writes_in_a_thread() -> bool:
    """Whether :func:`start_tracker` gives a thread (MLflow is imported here already)."""
    return "mlflow" in sys.modules


def start_tracker(*, pipeline: str, run_id: str, pipeline_file: str,
                  parameters: Mapping[str, Any]) -> Tracker | ProcessTracker:
    """The tracker that finishes first here: a thread once MLflow is imported, else a process."""
    kind = Tracker if writes_in_a_thread() else ProcessTracker
    return kind(pipeline=pipeline, run_id=run_id, pipeline_file=pipeline_file, parameters=parameters)


class _Writer:
    """Writes one pipeline run to MLflow: :meth:`start` (parent run), then :meth:`handle` items."""

    def __init__(self, *, pipeline: str, run_id: str, pipeline_file: str, parameters: Mapping[str, Any]) -> None:
        self.pipeline = pipeline
        self.run_id = run_id
        self.pipeline_file = pipeline_file
        self.parameters = dict(parameters)
        self.parent_run_id: str | None = None
        self.step_run_ids: dict[str, str] = {}
        self.error: str | None = None

    def start(self) -> None:
        try:
            self._start()
        except Exception as exc:
            self._fail(exc)

    def handle(self, item: Any) -> None:
        """``("step", name, record)`` or ``("end", status)``; after a failure, nothing more is tried."""
        if self.error:
            return
        try:
            if item[0] == "step":
                self._log_step(item[1], item[2])
            else:
                self._client.set_terminated(self.parent_run_id, status="FINISHED" if item[1] == "ok" else "FAILED")
        except Exception as exc:
            self._fail(exc)

    def _fail(self, exc: BaseException) -> None:
        self.error = f"MLflow logging failed: {' '.join(str(exc).split())[:300]}"

    def _start(self) -> None:
        from .. import store

        self._client = store.client()
        with store.translate_errors():
            self._experiment_id = store.ensure_experiment()
            run = self._client.create_run(self._experiment_id, run_name=f"{self.pipeline} {self.run_id}", tags={
                "nbt.kind": "pipeline", "nbt.pipeline": self.pipeline, "nbt.pipeline_run": self.run_id,
                "nbt.pipeline_file": self.pipeline_file})
        self.parent_run_id = run.info.run_id
        self._log(self.parent_run_id, params={k: v for k, v in self.parameters.items()}, metrics={})

    def _log_step(self, name: str, rec: Mapping[str, Any]) -> None:
        status = rec.get("status", "?")
        tags = {"mlflow.parentRunId": self.parent_run_id, "nbt.kind": "pipeline-step", "nbt.pipeline": self.pipeline,
                "nbt.pipeline_run": self.run_id, "nbt.step": name, "nbt.status": status,
                "nbt.notebook": rec.get("notebook") or "", "nbt.cache_key": rec.get("key") or ""}
        if rec.get("cached_from"):
            tags["nbt.cached_from"] = rec["cached_from"]
        if rec.get("error"):
            tags["nbt.error"] = str(rec["error"].get("line", ""))[:5000]
        run = self._client.create_run(self._experiment_id, run_name=name, tags=tags,
                                      start_time=int((rec.get("started") or time.time()) * 1000))
        step_run = run.info.run_id
        self.step_run_ids[name] = step_run
        outputs = rec.get("outputs") or {}
        metrics = {k: float(v) for k, v in outputs.items()
                   if isinstance(v, (int, float)) and not isinstance(v, bool)}
        if rec.get("duration") is not None:
            metrics["duration_s"] = float(rec["duration"])
        params = {k: v for k, v in (rec.get("parameters") or {}).items()}
        self._log(step_run, params=params, metrics=metrics)
        if outputs:
            self._client.log_text(step_run, json.dumps(outputs, indent=1, default=str), "nbt/outputs.json")
        notebook = rec.get("executed_notebook")
        if notebook and status in ("ok", "failed"):
            try:
                self._client.log_artifact(step_run, notebook, artifact_path="notebook")
            except FileNotFoundError:
                pass
        end = int((rec.get("finished") or time.time()) * 1000)
        self._client.set_terminated(step_run, status="FAILED" if status == "failed" else "FINISHED", end_time=end)

    def _log(self, run_id: str, *, params: Mapping[str, Any], metrics: Mapping[str, float]) -> None:
        from mlflow.entities import Metric, Param

        now = int(time.time() * 1000)
        plist = [Param(str(k), _param_text(v)) for k, v in params.items()]
        mlist = [Metric(str(k), float(v), now, 0) for k, v in metrics.items()]
        for i in range(0, max(len(plist), len(mlist)), 100):
            self._client.log_batch(run_id, metrics=mlist[i:i + 100], params=plist[i:i + 100])


class Tracker:
    """Log a pipeline run to MLflow from a background thread (same config context as the caller)."""

    def __init__(self, *, pipeline: str, run_id: str, pipeline_file: str, parameters: Mapping[str, Any]) -> None:
        self._writer = _Writer(pipeline=pipeline, run_id=run_id, pipeline_file=pipeline_file, parameters=parameters)
        self._queue: queue.Queue[Any] = queue.Queue()
        context = contextvars.copy_context()  # %config Nbt.tracking_uri lives in a context variable
        self._thread = threading.Thread(target=context.run, args=(self._work,), name=f"nbt-mlflow-{run_id}",
                                        daemon=True)
        self._thread.start()

    parent_run_id = property(lambda self: self._writer.parent_run_id)
    step_run_ids = property(lambda self: self._writer.step_run_ids)
    error = property(lambda self: self._writer.error)

    def step(self, name: str, record: Mapping[str, Any]) -> None:
        """Queue the nested run of a finished step (ok, cached, failed or skipped)."""
        self._queue.put(("step", name, dict(record)))

    def close(self, status: str) -> None:
        """Finish the parent run with ``status`` and wait until everything is written."""
        self._queue.put(("end", status))
        self._queue.put(_STOP)
        self._thread.join()

    def _work(self) -> None:
        self._writer.start()
        while (item := self._queue.get()) is not _STOP:
            self._writer.handle(item)


class ProcessTracker:
    """Log a pipeline run to MLflow from a writer process (this process's store settings).

    The writer reads JSON lines on its stdin (the header, then ``["step", name, record]`` and
    ``["end", status]``) and answers one JSON line with the run ids and any error. It ignores
    Ctrl-C, so an interrupted run is still recorded (as failed) when ``close`` is called.
    """

    def __init__(self, *, pipeline: str, run_id: str, pipeline_file: str, parameters: Mapping[str, Any]) -> None:
        from .. import config

        self.parent_run_id: str | None = None
        self.step_run_ids: dict[str, str] = {}
        self.error: str | None = None
        env = {**os.environ, "NBT_HOME": str(config.home()), "MLFLOW_TRACKING_URI": config.tracking_uri(),
               "MLFLOW_REGISTRY_URI": config.registry_uri(), "NBT_EXPERIMENT": config.experiment_name()}
        self._stderr = tempfile.TemporaryFile(mode="w+", encoding="utf-8")
        self._proc = subprocess.Popen(  # noqa: S603 - this interpreter, this package's module
            [sys.executable, "-m", "nbtoolkit.pipeline.tracking"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=self._stderr, env=env, text=True, encoding="utf-8")
        self._send({"pipeline": pipeline, "run_id": run_id, "pipeline_file": pipeline_file,
                    "parameters": dict(parameters)})

    def _send(self, item: Any) -> None:
        if self.error:
            return
        try:
            assert self._proc.stdin is not None
            self._proc.stdin.write(json.dumps(item, default=str) + "\n")
            self._proc.stdin.flush()
        except OSError:  # the writer died; close() says why
            pass

    def step(self, name: str, record: Mapping[str, Any]) -> None:
        """Send the nested run of a finished step (ok, cached, failed or skipped)."""
        self._send(["step", name, dict(record)])

    def close(self, status: str) -> None:
        """Finish the parent run with ``status`` and wait until everything is written."""
        self._send(["end", status])
        try:
            out, _ = self._proc.communicate()
        except (OSError, ValueError):
            out = ""
        try:
            answer = json.loads(out.strip().splitlines()[-1])
        except (IndexError, ValueError):
            self._stderr.seek(0)
            text = " ".join(self._stderr.read().split())[-300:]
            self.error = (f"MLflow logging failed: the writer process exited with code {self._proc.returncode}"
                          + (f": {text}" if text else "."))
        else:
            self.parent_run_id = answer.get("parent_run_id")
            self.step_run_ids = dict(answer.get("step_run_ids") or {})
            self.error = answer.get("error")
        finally:
            self._stderr.close()


def _serve() -> None:
    """The writer process: header line, then items until ``end`` (or end of input)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the caller decides
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:  # drain stdin at once: the caller never blocks on a full pipe
        for line in sys.stdin:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    header = lines.get()
    if header is None:
        return
    writer = _Writer(**json.loads(header))
    writer.start()
    while (line := lines.get()) is not None:
        item = json.loads(line)
        writer.handle(item)
        if item[0] == "end":
            break
    print(json.dumps({"parent_run_id": writer.parent_run_id, "step_run_ids": writer.step_run_ids,
                      "error": writer.error}), flush=True)


def _param_text(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= _MAX_PARAM else text[: _MAX_PARAM - 3] + "..."


if __name__ == "__main__":
    _serve()
