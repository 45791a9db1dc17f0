"""Run code inside an MLflow run with scikit-learn autologging (``%%nbt track``).

The run always ends: FINISHED when the block completes, FAILED when it raises (KILLED on
KeyboardInterrupt), so no run is left dangling. Inside an active run the new run is nested.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from types import ModuleType
from typing import Any

from .. import store, validation
from ..errors import BadInput

CELL_ARTIFACT = "cell.py"


@contextlib.contextmanager
def track(
    *,
    experiment: str | None = None,
    name: str | None = None,
    source: str | None = None,
    log_models: bool = False,
) -> Iterator[Any]:
    """Context manager: an MLflow run with ``mlflow.sklearn.autolog`` on for the block.

    Parameters
    ----------
    experiment : experiment for a top-level run (default: the configured one); a nested run
        stays in its parent's experiment
    name : run name
    source : code to store as the ``cell.py`` artefact (``%%nbt track`` passes the cell)
    log_models : let autologging also log every fitted model (off: version models with
        ``%nbt register``, which is faster and records integrity data)

    Yields
    ------
    TrackedRun
        filled in (status, params, metrics) when the block ends.
    """
    from ..reports.evaluation import TrackedRun

    if experiment is not None and (not isinstance(experiment, str) or not experiment.strip()):
        raise BadInput(f"Experiment name must be a non-empty string, got {experiment!r}.")
    # checked here for every store: a tracking server answers a 10k-character name with an HTTP 400
    if experiment is not None:
        validation.text(experiment, "The experiment name", limit=validation.MAX_NAME)
    if name is not None:
        validation.text(name, "The run name", limit=validation.MAX_NAME)
    mlflow = store.mlflow_module()
    import mlflow.sklearn  # noqa: F811 - loads the flavour onto the same module
    from mlflow.utils.autologging_utils import autologging_is_disabled

    active = mlflow.active_run()
    # MLflow puts a nested run in the default experiment unless told: keep it with its parent
    experiment_id = active.info.experiment_id if active else store.ensure_experiment(experiment)
    enable = autologging_is_disabled(mlflow.sklearn.FLAVOR_NAME)
    with store.translate_errors():
        run = mlflow.start_run(experiment_id=experiment_id, run_name=name, nested=active is not None,
                               tags={"nbt.kind": "track"})
    tracked = TrackedRun(run_id=run.info.run_id, experiment_id=run.info.experiment_id,
                         name=run.info.run_name, parent_run_id=active.info.run_id if active else None)
    started = time.perf_counter()
    status = "FAILED"
    try:
        if enable:
            mlflow.sklearn.autolog(log_models=log_models, log_datasets=False, silent=True)
        if source is not None:
            mlflow.log_text(source, CELL_ARTIFACT)
        yield tracked
        status = "FINISHED"
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    finally:
        try:
            if enable:
                mlflow.sklearn.autolog(disable=True, silent=True)
        finally:
            _end(mlflow, run.info.run_id, status)
            params, metrics = _logged(run.info.run_id)
            tracked.finish(status, time.perf_counter() - started, params=params, metrics=metrics)


def _logged(run_id: str) -> tuple[dict[str, str], dict[str, float]]:
    """What autologging recorded on the run (empty when the store cannot say: the run has ended)."""
    from ..errors import NbtError

    try:
        run = store.read(store.client().get_run, run_id)
    except NbtError:
        return {}, {}
    return dict(run.data.params), dict(run.data.metrics)


def _end(mlflow: ModuleType, run_id: str, status: str) -> None:
    """End our run, and before it any run the block started and left open (same status)."""
    while (current := mlflow.active_run()) is not None:
        mlflow.end_run(status=status)
        if current.info.run_id == run_id:
            return
    store.client().set_terminated(run_id, status=status)  # someone ended it already: record status


def track_cell(cell: str, *, shell: Any = None, user_ns: Any = None, experiment: str | None = None,
               name: str | None = None, log_models: bool = False, register: str | None = None,
               model_var: str | None = None, data_vars: tuple[str, ...] | None = None) -> Any:
    """Run a notebook cell inside :func:`track`; a failing cell ends the run FAILED and raises.

    With ``register=NAME`` the model the cell fitted (``model_var``, or the one fitted model the
    cell assigned) is registered as a new version of NAME inside the tracked run, so the version
    links to the run that trained it (tag ``nbt.training_run``).
    """
    from ..errors import StepFailed

    if not cell or not cell.strip():
        raise BadInput("%%nbt track needs code in the cell body below the magic line.")
    if register is not None:
        from ..refs import check_name

        check_name(register)
        if model_var is not None and not model_var.isidentifier():
            raise BadInput(f"--model needs a notebook variable name, got {model_var!r}.")
    namespace = user_ns if user_ns is not None else (shell.user_ns if shell is not None else {})
    before = {k: id(v) for k, v in namespace.items()}
    with track(experiment=experiment, name=name, source=cell, log_models=log_models) as tracked:
        if shell is not None:
            result = shell.run_cell(cell)
            error = result.error_in_exec or result.error_before_exec
        else:
            exec(compile(cell, "<%%nbt track>", "exec"), user_ns if user_ns is not None else {})
            error = None
        if isinstance(error, KeyboardInterrupt):
            raise error
        if error is not None:
            raise StepFailed(
                f"The tracked cell failed ({type(error).__name__}: {str(error)[:200]}); MLflow run "
                f"{tracked.run_id} ended as FAILED."
            )
        if register is not None:
            from ..registry import register as register_model

            model = _fitted_model(namespace, before, model_var)
            X = y = None
            if data_vars:
                missing = [v for v in data_vars if v not in namespace]
                if missing:
                    raise BadInput(f"--data names {missing[0]!r}, which is not a notebook variable.")
                X = namespace[data_vars[0]]
                y = namespace[data_vars[1]] if len(data_vars) > 1 else None
            tracked.registered = register_model(model, register, X=X, y=y)
    return tracked


def _fitted_model(namespace: Any, before: dict[str, int], model_var: str | None) -> Any:
    """The model to register: ``model_var``, else the one fitted model the cell (re)assigned."""
    if model_var is not None:
        if model_var not in namespace:
            raise BadInput(f"--model names {model_var!r}, which is not a notebook variable.")
        return namespace[model_var]
    assigned = [k for k, v in namespace.items()
                if not k.startswith("_") and before.get(k) != id(v) and _looks_fitted(v)]
    if len(assigned) == 1:
        return namespace[assigned[0]]
    if not assigned:
        raise BadInput("--register found no fitted model assigned in the cell; name it with --model VAR.")
    raise BadInput(f"--register found several fitted models in the cell ({', '.join(sorted(assigned))}); "
                   "name one with --model VAR.")


def _looks_fitted(value: Any) -> bool:
    if isinstance(value, type) or not hasattr(value, "predict"):
        return False
    from sklearn.base import BaseEstimator
    from sklearn.utils.validation import check_is_fitted

    if isinstance(value, BaseEstimator):
        try:
            check_is_fitted(value)
        except Exception:
            return False
    return True
