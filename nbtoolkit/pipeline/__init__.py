"""Notebooks as reproducible pipeline steps (SPEC §5, §6): ``run_pipeline``, ``record``, status.

::

    spec.py       the pipeline file: load, validate, resolve parameters (stdlib + PyYAML)
    cache.py      cache keys, run.json (atomic), earlier runs
    runner.py     run_pipeline: what is cached, what runs, in which order, events, run.json
    executors.py  where steps run: this process, worker processes, Dask
    task.py       execute_step: one notebook through papermill (the function workers import)
    tracking.py   the MLflow parent/nested runs, written in a background thread
    record.py     record(name, value) inside a step's notebook
    status.py     pipeline_status (nbt status)
    progress.py   PipelineEvent and the tqdm progress bar

Importing this package imports only the standard library.
"""

from __future__ import annotations

from .progress import PipelineEvent, TqdmProgress
from .record import record
from .runner import run_pipeline
from .spec import Pipeline, Step, load_pipeline
from .status import pipeline_status

__all__ = ["Pipeline", "PipelineEvent", "Step", "TqdmProgress", "load_pipeline", "pipeline_status", "record",
           "run_pipeline"]
