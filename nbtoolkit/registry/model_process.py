"""A registered model loaded and run in a helper process, for commands that start cold.

``nbt data drift --model`` needs the model's predictions, so it must load the model: for a skops
file that means ``import skops.io``, which imports every scikit-learn estimator (skops builds its
trusted-type list with ``all_estimators()`` at import) — ~2.2 s of CPU, on top of MLflow's ~2.5 s
to find the version. In one interpreter they add up; here a helper process
(``python -m nbtoolkit.registry.remote``) imports skops and scikit-learn on the other core while
the command imports MLflow, then loads the downloaded, already sha256-checked folder with the same
:func:`~.formats.load_local` (the file audited against the allow-list, formats as recorded) and answers
``predict`` / ``predict_proba`` calls. Errors and warnings of the load come back as they are.

When a signature is required (``NBT_TRUSTED_KEYS``, ``--require-signature``) the helper also
imports model-signing (~0.6 s) and checks the staged version there (:func:`.signing.check` asks
it), so that import too runs beside MLflow's rather than after it.

Used only where nothing has imported skops yet (a fresh ``nbt`` process); a notebook loads
in-process as before.
"""

from __future__ import annotations

import contextlib
import contextvars
import pickle
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

_helper: contextvars.ContextVar[ModelHelper | None] = contextvars.ContextVar("nbt_model_helper", default=None)

METHODS = ("predict", "predict_proba", "decision_function", "transform")


@contextlib.contextmanager
def loading() -> Iterator[None]:
    """Inside: :func:`~.loading.load` loads through a helper process (started now) when skops is not
    imported in this process yet; the helper stops at the end."""
    if "skops.io" in sys.modules:
        yield
        return
    from .. import config

    helper = ModelHelper(signing=config.require_signature())
    token = _helper.set(helper)
    try:
        yield
    finally:
        _helper.reset(token)
        helper.close()


def current() -> ModelHelper | None:
    return _helper.get()


class ModelHelper:
    """The command's side of the helper process: pickled requests and answers over its pipes."""

    def __init__(self, *, signing: bool = False) -> None:
        self._proc = subprocess.Popen([sys.executable, "-m", "nbtoolkit.registry.remote",
                                       *(["--signing"] if signing else [])],
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def _ask(self, *request: Any) -> Any:
        assert self._proc.stdin is not None and self._proc.stdout is not None
        try:
            pickle.dump(request, self._proc.stdin, protocol=pickle.HIGHEST_PROTOCOL)
            self._proc.stdin.flush()
            kind, value, caught = pickle.load(self._proc.stdout)
        except (OSError, EOFError, pickle.UnpicklingError) as exc:
            from ..errors import NbtError

            raise NbtError(f"The model helper process stopped ({type(exc).__name__}: {exc}); "
                           "load the model in a notebook or retry.") from None
        for category, message in caught:
            warnings.warn(message, category, stacklevel=4)
        if kind == "error":
            raise value
        return value

    def load(self, local: Path, tags: dict[str, str], where: str, *, unsafe_ok: bool = False) -> RemoteModel:
        """Load the checked folder ``local`` in the helper; a stand-in that predicts there."""
        methods, type_name = self._ask("load", str(local), tags, where, unsafe_ok)
        return RemoteModel(self, methods, type_name)

    def verify(self, root: str, signature: str | None, keys: list[Any], name: str, version: str) -> Any:
        """:func:`.signing.verify_folder` run in the helper: the verdict on a staged version."""
        return self._ask("verify", root, signature, keys, name, version)

    def close(self) -> None:
        if self._proc.poll() is None:
            with contextlib.suppress(OSError):
                self._proc.stdin.close()  # type: ignore[union-attr]
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(10)
        if self._proc.stdout is not None:
            self._proc.stdout.close()


class RemoteModel:
    """Stands in for the model loaded in the helper: the prediction methods it has, nothing else."""

    def __init__(self, helper: ModelHelper, methods: list[str], type_name: str) -> None:
        self._helper = helper
        self._methods = set(methods)
        self.type_name = type_name

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name not in self._methods:
            raise AttributeError(name)
        return lambda *args, **kwargs: self._helper._ask("call", name, args, kwargs)

    def __repr__(self) -> str:
        return f"<{self.type_name}, loaded in a helper process>"


# ---------------------------------------------------------------------------------- the helper
def _serve() -> int:
    import skops.io  # noqa: F401  (the point: imported while the command imports MLflow)

    if "--signing" in sys.argv[1:]:  # the same: the signature check runs here
        try:
            import model_signing  # noqa: F401
        except ImportError:  # the command says which extra to install
            pass

    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    model: Any = None
    while True:
        try:
            request = pickle.load(stdin)
        except EOFError:
            return 0
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                if request[0] == "load":
                    from .formats import load_local

                    model = load_local(Path(request[1]), request[2], request[3], unsafe_ok=request[4])
                    answer: Any = ([m for m in METHODS if hasattr(model, m)], type(model).__name__)
                elif request[0] == "verify":
                    from .signing import verify_folder

                    answer = verify_folder(*request[1:])
                else:
                    _, name, args, kwargs = request
                    answer = getattr(model, name)(*args, **kwargs)
                reply = ("ok", answer)
            except Exception as exc:  # handed back to the command, raised there
                reply = ("error", exc)
        notes = [(w.category, str(w.message)) for w in caught]
        try:
            payload = pickle.dumps((*reply, notes), protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # an exception that does not pickle: its type and message
            payload = pickle.dumps(("error", RuntimeError(f"{type(reply[1]).__name__}: {exc}"), notes))
        stdout.write(payload)
        stdout.flush()


if __name__ == "__main__":  # pragma: no cover - run as the helper process
    sys.exit(_serve())
