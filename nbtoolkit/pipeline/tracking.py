"""MLflow records of a pipeline run, written off the critical path.

One parent run per pipeline run and a nested run per step (parameters, recorded outputs,
duration, status, the executed notebook as an artefact). MLflow costs seconds to import and
milliseconds per call, so this work runs beside the notebooks and :meth:`Tracker.close` waits for it:

- in a process that has imported MLflow already (a notebook, a test), on a background thread;
- in a fresh process (the ``nbt`` command), in a helper process (:class:`ProcessTracker` on
  :class:`~nbtoolkit.helper_process.HelperProcess`, ``finish=True``: when the pipeline process
  goes, the helper ends the run as failed): importing MLflow and opening its store is ~2.5 s of
  CPU, as long as papermill's whole run; on a thread it held this interpreter's lock while the
  kernel was being started and driven, in a helper it runs on the other core.

A run in which every step is cached executes nothing and creates no tracker (so it never imports
MLflow).
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import os
import queue
import sys
import threading
import time
from collections.abc import Mapping
from typing import Any

from ..helper_process import Channel, HelperProcess

_STOP = object()
_MAX_PARAM = 6000


class Tracker:
    """Log a pipeline run to MLflow from a background thread (same config context as the caller)."""

    def __init__(self, *, pipeline: str, run_id: str, pipeline_file: str, parameters: Mapping[str, Any],
                 tags: Mapping[str, str] | None = None) -> None:
        self.pipeline = pipeline
        self.run_id = run_id
        self.pipeline_file = pipeline_file
        self.parameters = dict(parameters)
        self.tags = dict(tags or {})  # on the parent and every step run (nbt.partition)
        self.parent_run_id: str | None = None
        self.step_run_ids: dict[str, str] = {}
        self.error: str | None = None
        self._queue: queue.Queue[Any] = queue.Queue()
        context = contextvars.copy_context()  # %config Nbt.tracking_uri lives in a context variable
        self._thread = threading.Thread(target=context.run, args=(self._work,), name=f"nbt-mlflow-{run_id}",
                                        daemon=True)
        self._thread.start()

    def step(self, name: str, record: Mapping[str, Any]) -> None:
        """Queue the nested run of a finished step (ok, cached, failed or skipped)."""
        self._queue.put(("step", name, dict(record)))

    def close(self, status: str) -> None:
        """Finish the parent run with ``status`` and wait until everything is written."""
        self._queue.put(("end", status))
        self._queue.put(_STOP)
        self._thread.join()

    # ------------------------------------------------------------------ background thread
    def _work(self) -> None:
        try:
            self._start()
        except Exception as exc:
            self.error = f"MLflow logging failed: {' '.join(str(exc).split())[:300]}"
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            if self.error:
                continue
            try:
                if item[0] == "step":
                    self._log_step(item[1], item[2])
                else:
                    assert self.parent_run_id is not None  # _start set it, or self.error skipped this
                    self._client.set_terminated(self.parent_run_id, status="FINISHED" if item[1] == "ok" else "FAILED")
            except Exception as exc:
                self.error = f"MLflow logging failed: {' '.join(str(exc).split())[:300]}"

    def _start(self) -> None:
        from .. import store

        self._client = store.client()
        with store.translate_errors():
            self._experiment_id = store.ensure_experiment()
            run = self._client.create_run(self._experiment_id, run_name=f"{self.pipeline} {self.run_id}", tags={
                "nbt.kind": "pipeline", "nbt.pipeline": self.pipeline, "nbt.pipeline_run": self.run_id,
                "nbt.pipeline_file": self.pipeline_file, **self.tags})
        self.parent_run_id = run.info.run_id
        self._log(self.parent_run_id, params=dict(self.parameters), metrics={})

    def _log_step(self, name: str, rec: Mapping[str, Any]) -> None:
        status = rec.get("status", "?")
        tags = {"mlflow.parentRunId": self.parent_run_id, "nbt.kind": "pipeline-step", "nbt.pipeline": self.pipeline,
                "nbt.pipeline_run": self.run_id, "nbt.step": name, "nbt.status": status,
                "nbt.notebook": rec.get("notebook") or "", "nbt.cache_key": rec.get("key") or "", **self.tags}
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
        params = dict(rec.get("parameters") or {})
        self._log(step_run, params=params, metrics=metrics)
        if outputs:
            self._client.log_text(step_run, json.dumps(outputs, indent=1, default=str), "nbt/outputs.json")
        notebook = rec.get("executed_notebook")
        if notebook and status in ("ok", "failed"):
            with contextlib.suppress(FileNotFoundError):
                self._client.log_artifact(step_run, notebook, artifact_path="notebook")
        end = int((rec.get("finished") or time.time()) * 1000)
        self._client.set_terminated(step_run, status="FAILED" if status == "failed" else "FINISHED", end_time=end)

    def _log(self, run_id: str, *, params: Mapping[str, Any], metrics: Mapping[str, float]) -> None:
        from mlflow.entities import Metric, Param

        now = int(time.time() * 1000)
        plist = [Param(str(k), _param_text(v)) for k, v in params.items()]
        mlist = [Metric(str(k), float(v), now, 0) for k, v in metrics.items()]
        for i in range(0, max(len(plist), len(mlist)), 100):
            self._client.log_batch(run_id, metrics=mlist[i:i + 100], params=plist[i:i + 100])


def in_process() -> bool:
    """Whether :func:`start` will use a thread (MLflow is imported already) rather than a helper process."""
    return "mlflow" in sys.modules


def start(*, pipeline: str, run_id: str, pipeline_file: str, parameters: Mapping[str, Any],
          tags: Mapping[str, str] | None = None) -> Any:
    """A :class:`Tracker` on a thread when MLflow is imported already, else a :class:`ProcessTracker`."""
    kind: type[Tracker | ProcessTracker] = Tracker if in_process() else ProcessTracker
    return kind(pipeline=pipeline, run_id=run_id, pipeline_file=pipeline_file, parameters=parameters,
                tags=dict(tags or {}))


class ProcessTracker:
    """:class:`Tracker`'s work in a helper process; same surface (``step``, ``close``, the run ids)."""

    def __init__(self, *, pipeline: str, run_id: str, pipeline_file: str, parameters: Mapping[str, Any],
                 tags: Mapping[str, str] | None = None) -> None:
        from .. import config

        self.parent_run_id: str | None = None
        self.step_run_ids: dict[str, str] = {}
        self.error: str | None = None
        env = {"NBT_HOME": str(config.home()), "MLFLOW_TRACKING_URI": config.tracking_uri(),
               "MLFLOW_REGISTRY_URI": config.registry_uri(), "NBT_EXPERIMENT": config.experiment_name()}
        self._helper = HelperProcess("nbtoolkit.pipeline.tracking:_helper", finish=True, env=env)
        self._send({"start": {"pipeline": pipeline, "run_id": run_id, "pipeline_file": pipeline_file,
                              "parameters": dict(parameters), "tags": dict(tags or {})}})

    def _send(self, message: Mapping[str, Any]) -> None:
        try:
            self._helper.channel.send(message)
        except OSError as exc:
            self.error = self.error or f"MLflow logging failed: the tracking helper process is gone ({exc})"

    def step(self, name: str, record: Mapping[str, Any]) -> None:
        self._send({"step": name, "record": dict(record)})

    def close(self, status: str) -> None:
        self._send({"end": status})
        try:
            result = self._helper.channel.receive()
        except (EOFError, OSError, ValueError):
            result = None
        code = self._helper.close(60)
        if not isinstance(result, dict):
            self.error = self.error or f"MLflow logging failed: the tracking helper process exited ({code})"
            return
        self.parent_run_id = result.get("parent_run_id")
        self.step_run_ids = result.get("step_run_ids") or {}
        self.error = self.error or result.get("error")


def _helper(channel: Channel) -> int:
    """The helper process: messages → a :class:`Tracker`; the run ids in the last frame back.

    Ctrl-C reaches the whole process group: the pipeline process handles it and ends the run
    here as failed (or its channel ends, which ends the run the same way).
    """
    tracker = None
    status = "failed"  # the pipeline process went away without saying how the run ended
    while True:
        try:
            message = channel.receive()
        except EOFError:
            break
        if "start" in message:
            tracker = Tracker(**message["start"])
        elif "step" in message and tracker is not None:
            tracker.step(message["step"], message["record"])
        elif "end" in message:
            status = message["end"]
            break
    if tracker is None:
        return 1
    tracker.close(status)
    with contextlib.suppress(OSError):  # the pipeline process may be gone; the run is recorded all the same
        channel.send({"parent_run_id": tracker.parent_run_id, "step_run_ids": tracker.step_run_ids,
                      "error": tracker.error})
    # Everything is committed (the SQL store and the artefact copies are synchronous): skip tearing
    # down an interpreter that holds MLflow (~0.6 s the pipeline command would wait for).
    os._exit(0)


def _param_text(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= _MAX_PARAM else text[: _MAX_PARAM - 3] + "..."

