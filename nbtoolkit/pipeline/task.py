"""Run one step's notebook with papermill: the task function of every executor.

:func:`execute_step` takes and returns plain dicts, so it can run in this process, in a pool
worker or on a Dask worker (it lives in the installed package so workers can import it). It never
raises for a failing notebook: the failure comes back as ``{"status": "failed", "error": ...}``.

The kernel gets its working directory (the notebook's folder) and environment (run id, store,
secrets) as arguments of the kernel launch, through a small papermill engine, instead of
``os.chdir`` / ``os.environ``: nothing process-wide changes, so concurrent steps cannot see each
other's directory or secrets.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import time
import types
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .spec import SECRET_ENV_PREFIX

ENGINE = "nbtoolkit"
RECORD_MIME = "application/vnd.nbtoolkit.record+json"


def execute_step(task: Mapping[str, Any]) -> dict[str, Any]:
    """Execute ``task["notebook"]`` into ``task["output"]``; return status, outputs, error.

    ``task`` keys: ``step``, ``notebook``, ``output``, ``cwd``, ``parameters`` (injected),
    ``secrets`` (name -> value, given through the environment), ``env`` (extra environment),
    ``kernel_name``, ``timeout`` (seconds per cell).
    """
    started = time.time()
    result: dict[str, Any] = {"step": task["step"], "executed_notebook": task["output"], "started": started}
    try:
        pm = import_papermill()
        from papermill.exceptions import PapermillExecutionError

        env = launch_env(task)
        Path(task["output"]).parent.mkdir(parents=True, exist_ok=True)
        warm = task.get("warm_kernel")
        km = warm.take(task) if isinstance(warm, WarmKernel) else None
        try:
            nb = pm.execute_notebook(
                task["notebook"], task["output"],
                parameters=dict(task.get("parameters") or {}) or None,
                engine_name=ENGINE, kernel_name=task.get("kernel_name"), progress_bar=False,
                execution_timeout=task.get("timeout"),
                nbt_env=env, nbt_cwd=task.get("cwd"), nbt_secrets=sorted(task.get("secrets") or ()),
                nbt_km=km,
            )
        except PapermillExecutionError as exc:
            result.update(status="failed", error=_failure(task["output"], exc.ename, exc.evalue, exc.exec_count))
        else:
            result.update(status="ok", outputs=records(nb))
    except Exception as exc:  # a dead kernel, a timeout, an unreadable notebook: report, don't raise
        ename = getattr(exc, "ename", None) or type(exc).__name__
        evalue = getattr(exc, "evalue", None) if hasattr(exc, "ename") else _kernel_death(exc)
        result.update(status="failed", error=_failure(task["output"], ename, evalue or "", None))
    result["finished"] = time.time()
    result["duration"] = result["finished"] - started
    return result


def _base_env() -> dict[str, str]:
    import os

    return dict(os.environ)


def launch_env(task: Mapping[str, Any]) -> dict[str, str]:
    """The environment a step's kernel is launched with: this process's, the run's, the secrets."""
    env = {**_base_env(), **dict(task.get("env") or {})}
    env.update({SECRET_ENV_PREFIX + k.upper(): str(v) for k, v in (task.get("secrets") or {}).items()})
    return env


class WarmKernel:
    """A fresh kernel for a step that will run next, started now on a thread (one warm kernel ahead).

    Started with the kernel name, working directory and environment the coming task will have
    (its run id is decided ahead); :meth:`take` hands it to that task only if all three match,
    else it is shut down and the task starts its own. A kernel is never reused: each serves one
    notebook and is shut down after it.
    """

    def __init__(self, task: Mapping[str, Any]) -> None:
        import threading

        self.task = dict(task)
        self.signature = self._signature(task)
        self.km: Any = _kernel_manager_class()(kernel_name=task.get("kernel_name") or "python3")
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._start, name="nbt-warm-kernel", daemon=True)
        self._thread.start()

    @staticmethod
    def _signature(task: Mapping[str, Any]) -> tuple[Any, ...]:
        # what the run decides (this process's own environment may gain a variable meanwhile: MLflow's)
        return (task.get("kernel_name"), task.get("cwd"), sorted(dict(task.get("env") or {}).items()),
                sorted((task.get("secrets") or {}).items()))

    def _start(self) -> None:
        import asyncio

        cwd, env = self.signature[1], launch_env(self.task)
        try:
            asyncio.run(self.km.start_kernel(env=env, cwd=cwd, extra_arguments=["--IPKernelApp.log_level=ERROR"]))
        except BaseException as exc:  # the task then starts its own kernel
            self.error = exc

    def take(self, task: Mapping[str, Any]) -> Any:
        """The started kernel manager for ``task``, or None (then this kernel is shut down)."""
        self._thread.join()
        if self.error is None and self.km.has_kernel and self._signature(task) == self.signature:
            return self.km
        self.discard()
        return None

    def discard(self) -> None:
        """Shut the kernel down (it was not used)."""
        self._thread.join()
        if self.km.has_kernel:
            import contextlib

            from jupyter_core.utils import run_sync

            with contextlib.suppress(Exception):  # a kernel that is already gone is what we want
                run_sync(self.km.shutdown_kernel)(now=True)


def _exception_line(ename: str, evalue: str) -> str:
    first = (evalue or "").strip().splitlines()
    return f"{ename}: {first[0]}" if first else ename


def _kernel_death(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    if type(exc).__name__ == "DeadKernelError" or "Kernel died" in text:
        return "the kernel died (it exited, crashed or ran out of memory)"
    return text[:300]


def _failure(output: str, ename: str, evalue: str, exec_count: Any) -> dict[str, Any]:
    """Where and why a step failed, from the executed notebook papermill saved.

    ``cell`` is the 1-based position in the step's own notebook (papermill's injected-parameters
    cell and error banners are not counted), ``line`` the exception line as Python prints it.
    """
    import json

    error = {"cell": None, "exec_count": exec_count, "ename": ename, "evalue": evalue,
             "line": _exception_line(ename, evalue)}
    try:
        nb = json.loads(Path(output).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return error
    position, started = 0, None
    for cell in nb.get("cells", []):
        tags = cell.get("metadata", {}).get("tags") or []
        if "injected-parameters" in tags or "papermill-error-cell-tag" in tags:
            continue
        position += 1
        state = cell.get("metadata", {}).get("papermill") or {}
        if state.get("start_time"):
            started = position  # a dead kernel leaves no failed cell: the last one started is the culprit
        if "raises-exception" in tags:  # allowed to raise (nbclient / papermill go on): not the failure
            continue
        if state.get("status") in ("failed", "running"):
            error["cell"] = position
            error["exec_count"] = error["exec_count"] or cell.get("execution_count")
            if not evalue:  # no error output (e.g. a UsageError printed to stderr): use what it printed
                text = "".join("".join(o.get("text", "")) for o in cell.get("outputs", [])
                               if o.get("output_type") == "stream" and o.get("name") == "stderr")
                last = [ln for ln in text.strip().splitlines() if ln.strip()]
                if last:
                    error["line"] = last[-1].strip()[:500]
            break
    else:
        error["cell"] = started
    return error


def records(nb: Any) -> dict[str, Any]:
    """Values recorded with ``nbtoolkit.record`` / ``%nbt record`` in an executed notebook."""
    out: dict[str, Any] = {}
    for cell in nb.get("cells", []):
        for output in cell.get("outputs", []) or []:
            payload = (output.get("data") or {}).get(RECORD_MIME)
            if isinstance(payload, dict) and "name" in payload:
                out[payload["name"]] = payload.get("value")
    return out


# --------------------------------------------------------------------------- papermill setup
def import_papermill() -> types.ModuleType:
    """Import papermill once per process, ~2 s faster, with the nbtoolkit engine registered.

    ``import papermill`` spends most of its time in ``rfc3987_syntax`` building a Lark grammar at
    import (reached through nbformat → jsonschema's format checks) that notebook execution never
    uses; a stand-in module defers that work to the first IRI validation, if one ever happens.
    """
    if "papermill" not in sys.modules:
        _defer_rfc3987_syntax()
    import papermill
    from papermill.engines import papermill_engines
    from papermill.exceptions import PapermillException

    try:
        papermill_engines.get_engine(ENGINE)
    except PapermillException:  # first use in this process: papermill's public register()
        papermill_engines.register(ENGINE, _engine_class())
        import logging

        log = logging.getLogger("papermill")
        if log.level == logging.NOTSET:  # "Passed unknown parameter: upstream" is expected here
            log.setLevel(logging.ERROR)
    return papermill


def _defer_rfc3987_syntax() -> None:
    name = "rfc3987_syntax"
    if name in sys.modules or importlib.util.find_spec(name) is None:
        return
    stand_in = types.ModuleType(name)

    def real() -> types.ModuleType:
        if sys.modules.get(name) is stand_in:
            del sys.modules[name]
        return importlib.import_module(name)

    def is_valid_syntax(rule: str, value: str) -> bool:
        return real().is_valid_syntax(rule, value)

    stand_in.is_valid_syntax = is_valid_syntax  # type: ignore[attr-defined]
    def __getattr__(attr: str) -> Any:
        if attr.startswith("__"):  # the import system probes __path__ etc.: not a reason to load
            raise AttributeError(attr)
        return getattr(real(), attr)

    # a module's own __getattr__ (PEP 562); typeshed declares ModuleType.__getattr__ as a method
    stand_in.__getattr__ = __getattr__  # type: ignore[method-assign]
    sys.modules[name] = stand_in


def _engine_class() -> type:
    from papermill.clientwrap import PapermillNotebookClient
    from papermill.engines import NBClientEngine
    from papermill.log import logger
    from papermill.utils import merge_kwargs, remove_args

    class NbtEngine(NBClientEngine):
        """papermill's nbclient engine, launching the kernel with an explicit cwd and env."""

        @classmethod
        def execute_managed_notebook(cls, nb_man: Any, kernel_name: str, log_output: bool = False,
                                     stdout_file: Any = None, stderr_file: Any = None,
                                     start_timeout: int = 60, execution_timeout: Any = None,
                                     nbt_env: Mapping[str, str] | None = None, nbt_cwd: str | None = None,
                                     nbt_secrets: Any = (), nbt_km: Any = None, **kwargs: Any) -> Any:
            _inject_secret_lookups(nb_man.nb, list(nbt_secrets))
            kwargs = remove_args(["input_path"], **kwargs)
            safe_kwargs = remove_args(["timeout", "startup_timeout"], **kwargs)
            final_kwargs = merge_kwargs(
                safe_kwargs, timeout=execution_timeout if execution_timeout else kwargs.get("timeout"),
                startup_timeout=start_timeout, kernel_name=kernel_name, log=logger,
                log_output=log_output, stdout_file=stdout_file, stderr_file=stderr_file)
            # The kernel's own start-up warnings (e.g. "running over TCP without encryption") are
            # noise on every step of a pipeline; errors still show.
            final_kwargs.setdefault("extra_arguments", ["--IPKernelApp.log_level=ERROR"])
            final_kwargs.setdefault("kernel_manager_class", _kernel_manager_class())
            if nbt_km is not None:  # a kernel started ahead with this env and cwd: use it, then shut it down
                client = PapermillNotebookClient(nb_man, km=nbt_km, **final_kwargs)
                try:
                    return client.execute()
                finally:
                    if client.kc is not None:
                        client.kc.stop_channels()
                    from jupyter_core.utils import run_sync

                    run_sync(nbt_km.shutdown_kernel)(now=False)
            launch: dict[str, Any] = {}
            if nbt_env is not None:
                launch["env"] = dict(nbt_env)
            if nbt_cwd:
                launch["cwd"] = nbt_cwd
            return PapermillNotebookClient(nb_man, **final_kwargs).execute(**launch)

    return NbtEngine


def _kernel_manager_class() -> type:
    """jupyter_client's kernel manager, shutting a kernel down without interrupting it first.

    ``shutdown_kernel`` sends SIGINT before its ``shutdown_request``; a kernel still inside a
    message handler then logs ``KeyboardInterrupt caught in kernel`` under a step that failed
    for another reason. The request alone ends an idle kernel (ipykernel serves it on its control
    thread even while busy), and jupyter_client still sends SIGTERM, then SIGKILL, to a kernel
    that does not exit within its ``shutdown_wait_time``. An interrupt asked for directly
    (``interrupt_kernel``, e.g. on a cell timeout) is sent as before.
    """
    from jupyter_client.manager import AsyncKernelManager

    class NbtKernelManager(AsyncKernelManager):
        _closing = False

        async def _async_interrupt_kernel(self) -> None:
            if not self._closing:
                await super()._async_interrupt_kernel()

        async def shutdown_kernel(self, now: bool = False, restart: bool = False) -> None:  # type: ignore[override]
            self._closing = True
            try:
                await AsyncKernelManager.shutdown_kernel(self, now=now, restart=restart)
            finally:
                self._closing = False

    return NbtKernelManager


def _inject_secret_lookups(nb: Any, names: list[str]) -> None:
    """Assign each secret from the kernel's environment in the injected-parameters cell.

    The executed notebook shows ``token = os.environ["NBT_SECRET_TOKEN"]``, never the value.
    """
    if not names:
        return
    lines = ["import os as _nbt_os"] + [
        f"{n} = _nbt_os.environ[{SECRET_ENV_PREFIX + n.upper()!r}]" for n in names] + ["del _nbt_os"]
    cells = nb.cells
    injected = next((c for c in cells if "injected-parameters" in c.metadata.get("tags", [])), None)
    if injected is None:
        import nbformat

        injected = nbformat.v4.new_code_cell(source="# Parameters")
        injected.metadata["tags"] = ["injected-parameters"]
        injected.metadata["papermill"] = {"exception": None, "start_time": None, "end_time": None,
                                          "duration": None, "status": "pending"}
        at = next((i + 1 for i, c in enumerate(cells) if "parameters" in c.metadata.get("tags", [])), 0)
        cells.insert(at, injected)
    injected.source = injected.source.rstrip("\n") + "\n# Secret parameters, read from the environment\n" + \
        "\n".join(lines) + "\n"
