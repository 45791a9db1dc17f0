"""Registered models loaded and run in a helper process, for a cold command that asks for it.

``nbt data drift --model`` needs the model's predictions, so it must load the model: for a skops
file that means ``import skops.io``, which imports every scikit-learn estimator (skops builds its
trusted-type list with ``all_estimators()`` at import) — ~2.2 s of CPU, on top of MLflow's ~2.5 s
to find the version. In one interpreter they add up; in a :class:`ModelProcess` (a
:class:`~nbtoolkit.helper_process.HelperProcess`) skops and scikit-learn are imported on the other
core while the command imports MLflow. :func:`~.loading.load` with ``process=`` then downloads and
sha256-checks the version here and has the helper read the folder with the same
:func:`~.readers.load_local` (the file audited against the allow-list, formats as recorded); what
comes back is a :class:`HelperModel`, which has the prediction methods and nothing else. Errors and
warnings of the load come back as they are.

When a signature is required (``NBT_TRUSTED_KEYS``, ``--require-signature``) the helper also
imports model-signing (~0.6 s) and checks the staged version there (:func:`.signing.check` asks
it), so that import too runs beside MLflow's rather than after it.

Nothing switches this on but the caller: ``load(ref, process=ModelProcess())``; a notebook loads
in-process.
"""

from __future__ import annotations

import contextlib
import functools
import warnings
from pathlib import Path
from typing import Any

from ..helper_process import Channel, HelperProcess, attempt, reply

METHODS = ("predict", "predict_proba", "decision_function", "transform")


class ModelProcess:
    """The caller's side of the helper: start it now (it imports skops at once), load, predict, close.

    ``signing``: the helper imports model-signing too, for :meth:`verify`. Use as a context manager
    or call :meth:`close`.
    """

    def __init__(self, *, signing: bool = False) -> None:
        self._helper = HelperProcess("nbtoolkit.registry.model_process:_serve", codec="pickle")
        if signing:
            self._helper.channel.send(("prepare-signing",))  # no answer: an import to start early

    @property
    def pid(self) -> int:
        return self._helper.pid

    def ask(self, *request: Any) -> Any:
        """One request; the helper's warnings re-issued here, its exception raised here."""
        try:
            kind, value, caught = self._helper.ask(request)
        except (OSError, EOFError, ValueError) as exc:
            from ..errors import NbtError

            raise NbtError(f"The model helper process stopped ({type(exc).__name__}: {exc}); "
                           "load the model in a notebook or retry.") from None
        for category, message in caught:
            warnings.warn(message, category, stacklevel=4)
        if kind == "error":
            raise value
        return value

    def load(self, local: Path, tags: dict[str, str], where: str, *, unsafe_ok: bool = False) -> HelperModel:
        """Load the checked folder ``local`` in the helper; a stand-in that predicts there."""
        methods, type_name = self.ask("load", str(local), tags, where, unsafe_ok)
        return HelperModel(self, methods, type_name)

    def verify(self, root: str, signature: str | None, keys: list[Any], name: str, version: str) -> Any:
        """:func:`.signing.verify_folder` run in the helper: the verdict on a staged version."""
        return self.ask("verify", root, signature, keys, name, version)

    def close(self) -> int:
        """End the helper (it exits when its channel ends); its exit code."""
        return self._helper.close()

    def __enter__(self) -> ModelProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class HelperModel:
    """Stands in for the model loaded in the helper: the prediction methods it has, nothing else."""

    def __init__(self, process: ModelProcess, methods: list[str], type_name: str) -> None:
        self._process = process
        self._methods = set(methods)
        self.type_name = type_name

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name not in self._methods:
            raise AttributeError(name)
        return lambda *args, **kwargs: self._process.ask("call", name, args, kwargs)

    def __repr__(self) -> str:
        return f"<{self.type_name}, loaded in a helper process>"


# ---------------------------------------------------------------------------------- the helper
def _serve(channel: Channel) -> int:
    """The helper process: ``load`` / ``verify`` / ``call`` requests, each answered with its warnings."""
    import skops.io  # noqa: F401  (the point: imported while the command imports MLflow)

    model: Any = None

    def answer(request: tuple[Any, ...]) -> Any:
        nonlocal model
        if request[0] == "load":
            from .readers import load_local

            model = load_local(Path(request[1]), request[2], request[3], unsafe_ok=request[4])
            return [m for m in METHODS if hasattr(model, m)], type(model).__name__
        if request[0] == "verify":
            from .signing import verify_folder

            return verify_folder(*request[1:])
        _, name, args, kwargs = request
        return getattr(model, name)(*args, **kwargs)

    while True:
        try:
            request = channel.receive()
        except EOFError:
            return 0
        if request[0] == "prepare-signing":  # the same: the signature check runs here
            with contextlib.suppress(ImportError):  # without it, the command says which extra to install
                import model_signing  # noqa: F401
            continue
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            outcome = attempt(functools.partial(answer, request))
        reply(channel, (*outcome, [(w.category, str(w.message)) for w in caught]))
