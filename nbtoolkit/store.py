"""The one boundary to MLflow: lazy import, resolved URIs, experiment, error mapping.

Every API module reaches MLflow through :func:`client` / :func:`mlflow_module` so that
the URIs of :mod:`nbtoolkit.config` are always the ones used (MLflow 3.17 would otherwise
default to ``sqlite:///mlflow.db`` in the current folder), and so that MLflow's exceptions
become nbtoolkit's own at a single place (:func:`translate_errors`).
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from . import config
from .backoff import retry
from .errors import BadInput, ModelNotFound, NbtError, PermissionDenied, StoreUnavailable

if TYPE_CHECKING:  # pragma: no cover
    from mlflow import MlflowClient

T = TypeVar("T")

# Reads against a tracking server are retried with back-off; writes are not (not idempotent).
# Defaults; the NBT_READ_* environment variables are read at call time (see read()).
READ_RETRIES, READ_BACKOFF_S, READ_BACKOFF_MAX_S = 3, 0.5, 8.0


def mlflow_module() -> Any:
    """Import MLflow (lazily) and point its fluent API at the resolved URIs."""
    # Quieten MLflow's import-time chatter before it is imported.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    import logging

    _freeze_at_exit()
    import mlflow

    # The embedded store's first use runs DB migrations that log at INFO; not the user's business.
    for name in ("alembic", "mlflow.store.db.utils"):
        logging.getLogger(name).setLevel(logging.WARNING)

    uri, reg = config.tracking_uri(), config.registry_uri()
    # MLflow 3 mirrors set_tracking_uri/set_registry_uri into os.environ; left there, the first
    # URI resolved would win over NBT_HOME and %config from then on (config reads the env var).
    env = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    if mlflow.get_tracking_uri() != uri:
        mlflow.set_tracking_uri(uri)
    if mlflow.get_registry_uri() != reg:
        mlflow.set_registry_uri(reg)
    for key, value in env.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    return mlflow


@functools.cache  # registered once per process
def _freeze_at_exit() -> None:
    """At exit, move every live object out of the garbage collector's reach (``gc.freeze``).

    A process that imported MLflow (and with it SQLAlchemy, pandas, often scikit-learn) holds
    ~360,000 objects, and CPython's finalisation collects garbage among them while it clears the
    modules: ~1 s after the last line of a script (a cold ``evaluate``: 5.5 s -> 4.5 s wall), with
    nobody waiting for it. Frozen, they are left to the operating system. Every ``atexit`` handler still runs (MLflow's,
    logging's, temporary folders'), and objects freed by reference counting while the modules are
    cleared are freed as before; only objects kept alive by reference cycles at exit are not
    collected, which Python never promised (their ``__del__`` may not run at exit). Registered once
    per process. ``nbt`` itself skips the teardown altogether (:func:`nbtoolkit.cli.run`).
    """
    import atexit
    import gc

    atexit.register(gc.freeze)


def client() -> MlflowClient:
    """An ``MlflowClient`` on the resolved tracking and registry URIs."""
    mlflow_module()
    from mlflow import MlflowClient

    inner = MlflowClient(tracking_uri=config.tracking_uri(), registry_uri=config.registry_uri())
    return _ScopedClient(inner)  # type: ignore[return-value]


class _ScopedClient:
    """An ``MlflowClient`` whose calls run under :func:`http_settings` (fail fast, nothing global)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if not callable(attr):
            return attr

        @functools.wraps(attr)
        def call(*args: Any, **kwargs: Any) -> Any:
            with http_settings():
                return attr(*args, **kwargs)

        return call


def ensure_experiment(name: str | None = None) -> str:
    """Return the id of the experiment ``name`` (default: the configured one), creating it.

    On the embedded store its artifacts go under ``<home>/artifacts/<name>`` (SPEC §3); a
    tracking server decides artifact locations itself.
    """
    name = name or config.experiment_name()
    c = client()
    exp = read(c.get_experiment_by_name, name)  # a slow or restarting server is waited for
    with translate_errors():
        if exp is not None:
            if exp.lifecycle_stage == "deleted":
                c.restore_experiment(exp.experiment_id)
            return exp.experiment_id
        location = None
        if config.is_embedded(config.tracking_uri()):
            # the name becomes a folder under the store: '../../x' would write outside it
            from .validation import path_name

            root = config.artifacts_root()
            folder = root / path_name(name, "experiment name")
            if folder.resolve().parent != root.resolve():
                raise BadInput(f"Experiment name {name!r} would put its artifacts outside {root}; "
                               "use a plain name such as 'tuning'.")
            location = folder.as_uri()
        try:
            return c.create_experiment(name, artifact_location=location)
        except Exception:  # another process created it first
            exp = c.get_experiment_by_name(name)
            if exp is None:
                raise
            return exp.experiment_id


# MLflow error codes that mean "the store cannot answer now" (a server behind a proxy, restarting).
UNAVAILABLE_CODES = frozenset({"TEMPORARILY_UNAVAILABLE"})


def is_connection_error(exc: BaseException) -> bool:
    """True when ``exc`` (or an exception it was raised from) says the store cannot be reached.

    Decided by type: MLflow wraps transport errors in ``MlflowException`` (``raise ... from``
    or inside ``except``), so the ``__cause__`` / ``__context__`` chain is followed down to the
    requests / urllib3 / socket / SQLAlchemy exception underneath.
    """
    seen: set[int] = set()
    link: BaseException | None = exc
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        if _unreachable(link):
            return True
        link = link.__cause__ or link.__context__
    return _unchained_mlflow_transport_error(exc)


def _unreachable(exc: BaseException) -> bool:
    import requests
    import urllib3.exceptions

    if isinstance(exc, (requests.exceptions.ConnectionError, requests.exceptions.Timeout,
                        requests.exceptions.RetryError, urllib3.exceptions.MaxRetryError,
                        urllib3.exceptions.NewConnectionError, urllib3.exceptions.ProtocolError,
                        urllib3.exceptions.TimeoutError, ConnectionError, TimeoutError)):
        return True
    if getattr(exc, "error_code", None) in UNAVAILABLE_CODES:  # MlflowException / RestException
        return True
    sa_exc = sys.modules.get("sqlalchemy.exc")  # loaded whenever SQLAlchemy raised
    if sa_exc is not None and isinstance(exc, sa_exc.DBAPIError):
        return bool(exc.connection_invalidated) or (
            isinstance(exc, sa_exc.OperationalError) and _db_unreachable(exc.orig))
    return _db_unreachable(exc)


def _db_unreachable(err: BaseException | None) -> bool:
    """A DB-API error that means "cannot open / connect", by its error code."""
    import sqlite3

    if isinstance(err, sqlite3.Error):
        return getattr(err, "sqlite_errorcode", None) == sqlite3.SQLITE_CANTOPEN
    # psycopg (reached through SQLAlchemy's OperationalError): a failed connect carries no SQLSTATE;
    # class 08 is "connection exception", 57P01-57P04 the server shutting down or not up yet
    code = getattr(err, "pgcode", "")
    return code is None or (isinstance(code, str) and code.startswith(("08", "57P0")))


# The one message fallback: an ``MlflowException`` whose chain was dropped (MLflow re-raised it
# across a thread, or ``from None``) carries the transport error only as text in its message.
_TRANSPORT_MESSAGES = ("Max retries exceeded", "Connection refused", "Failed to establish a new connection")


def _unchained_mlflow_transport_error(exc: BaseException) -> bool:
    errors = sys.modules.get("mlflow.exceptions")
    if errors is None or not isinstance(exc, errors.MlflowException) or exc.__cause__ or exc.__context__:
        return False
    return any(marker in str(exc) for marker in _TRANSPORT_MESSAGES)


def unavailable(exc: BaseException) -> StoreUnavailable:
    uri = config.tracking_uri()
    return StoreUnavailable(
        f"Cannot reach the MLflow tracking store at {uri!r} ({type(exc).__name__}). "
        "Start the server or fix MLFLOW_TRACKING_URI / %config Nbt.tracking_uri."
    )


# nbtoolkit's own HTTP calls fail fast on a refused connection and give a busy server 30 s
# (read() retries idempotent reads itself); MLflow reads these
# variables at call time, so they are set only around nbtoolkit's calls (translate_errors) and the
# user's own MLflow calls in the same kernel keep MLflow's retries. A value the user set wins.
HTTP_SETTINGS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "30"}


@contextlib.contextmanager
def http_settings() -> Iterator[None]:
    """For the block only: :data:`HTTP_SETTINGS` in ``os.environ`` (unless the user set them) and
    MLflow's INFO chatter ("Created version '3'...") silenced — nbtoolkit's results say it."""
    import logging

    added = [k for k in HTTP_SETTINGS if k not in os.environ]
    for key in added:
        os.environ[key] = HTTP_SETTINGS[key]
    mlflow_log = logging.getLogger("mlflow")
    level = mlflow_log.level
    if mlflow_log.getEffectiveLevel() < logging.WARNING:
        mlflow_log.setLevel(logging.WARNING)
    # MLflow prints "Successfully registered model ..." with eprint, straight to its stream
    utils = sys.modules.get("mlflow.utils.logging_utils")
    stream = getattr(utils, "MLFLOW_LOGGING_STREAM", None)
    enabled = getattr(stream, "enabled", None)
    if enabled:
        stream.enabled = False  # type: ignore[union-attr]
    try:
        yield
    finally:
        if enabled:
            stream.enabled = True  # type: ignore[union-attr]
        mlflow_log.setLevel(level)
        for key in added:
            os.environ.pop(key, None)


def is_new_store() -> bool:
    """True when the tracking store is an embedded SQLite file that does not exist yet.

    A read-only command answers "nothing registered" then, instead of creating the database.
    """
    uri = config.tracking_uri()
    if not config.is_embedded(uri) or not uri.startswith("sqlite:///"):
        return False
    return not os.path.exists(uri.removeprefix("sqlite:///"))


@contextlib.contextmanager
def translate_errors(*, not_found: str | None = None, denied: str | None = None) -> Iterator[None]:
    """Map MLflow / transport exceptions to nbtoolkit's errors (one boundary).

    ``not_found`` replaces MLflow's message for a missing resource; ``denied`` says what a
    server with authentication refused ("EDIT permission on model 'churn', which adding a
    version needs"), see :func:`auth_error`.
    """
    try:
        with http_settings():
            yield
    except NbtError:
        raise
    except Exception as exc:
        from mlflow.exceptions import MlflowException

        if is_connection_error(exc):
            raise unavailable(exc) from exc
        refused = auth_error(exc, denied=denied)
        if refused is not None:
            raise refused from exc
        if isinstance(exc, MlflowException) and exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            raise ModelNotFound(not_found or str(exc.message)) from exc
        raise


# A tracking server with authentication (``mlflow server --app-name basic-auth``) answers 401 to
# credentials it does not accept and 403 to a user without the permission; MLflow's client turns
# the status into these error codes (also when the body is plain text).
UNAUTHENTICATED_CODES = frozenset({"UNAUTHENTICATED", "CUSTOMER_UNAUTHORIZED"})
DENIED_CODES = frozenset({"PERMISSION_DENIED"})


def auth_error(exc: BaseException, *, denied: str | None = None) -> PermissionDenied | None:
    """The :class:`PermissionDenied` an MLflow 401 / 403 means (by error code), else None."""
    code = getattr(exc, "error_code", None)
    if code not in UNAUTHENTICATED_CODES and code not in DENIED_CODES:
        return None
    uri, user = config.tracking_uri(), os.environ.get("MLFLOW_TRACKING_USERNAME")
    if code in UNAUTHENTICATED_CODES:
        if user:
            return PermissionDenied(
                f"The MLflow server at {uri!r} did not accept the credentials of user {user!r}; check "
                "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD.")
        return PermissionDenied(
            f"The MLflow server at {uri!r} requires a login; set MLFLOW_TRACKING_USERNAME and "
            "MLFLOW_TRACKING_PASSWORD.")
    who = f"user {user!r}" if user else "this user"
    refused = PermissionDenied(
        f"The MLflow server at {uri!r} denied {who} {denied or 'permission for this request'}; "
        "nothing was written. Ask the owner or an admin of the server to grant it.")
    refused.unnamed = denied is None  # type: ignore[attr-defined]
    return refused


@contextlib.contextmanager
def denied_as(what: str) -> Iterator[None]:
    """Say what a denial inside the block was about ("READ permission on model 'churn', which
    reading it needs"), when the call that was refused could not (:func:`read` knows no names)."""
    try:
        yield
    except PermissionDenied as exc:
        cause = exc.__cause__
        named = auth_error(cause, denied=what) if getattr(exc, "unnamed", False) and cause is not None else None
        if named is not None:
            raise named from cause
        raise


# Never set by nbtoolkit: deleting them changes nothing, but needs the permission (see below).
PROBE_TAG = "nbt.permission_probe"
PROBE_ALIAS = "nbt_permission_probe"


def _has_users(uri: str) -> bool:
    """Only a tracking server can have users and permissions (an embedded store has neither)."""
    return uri.startswith(("http://", "https://"))


def require_model_permission(name: str, permission: str, action: str) -> None:
    """Refuse, before anything is written, when the tracking server would deny the current user
    ``permission`` (``"EDIT"`` or ``"MANAGE"``) on registered model ``name``.

    MLflow has no call that tells a user their own permission, so a request that needs it and
    changes nothing is sent: deleting a tag (EDIT) or an alias (MANAGE) that nbtoolkit never sets.
    A model that does not exist yet is not checked: any user may create one, and then owns it.
    """
    if not _has_users(config.registry_uri()):
        return
    c = client()
    try:
        read(c.get_registered_model, name)
    except ModelNotFound:
        return
    with translate_errors(denied=f"{permission} permission on model {name!r}, which {action} needs"):
        if permission == "MANAGE":
            c.delete_registered_model_alias(name, PROBE_ALIAS)
        else:
            c.delete_registered_model_tag(name, PROBE_TAG)


def require_experiment_permission(experiment_id: str, action: str, *, name: str | None = None) -> None:
    """Like :func:`require_model_permission` for EDIT on an experiment (creating runs in it)."""
    if not _has_users(config.tracking_uri()):
        return
    c = client()
    shown = repr(name) if name else f"#{experiment_id}"
    try:
        with translate_errors(denied=f"EDIT permission on experiment {shown}, which {action} needs"):
            c.delete_experiment_tag(experiment_id, PROBE_TAG)
    except ModelNotFound:  # the server allowed it and found no such tag: nothing was deleted
        pass


def read(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call an idempotent read, retrying with exponential back-off while the store is down.

    ``NBT_READ_RETRIES`` (default 3) retries, waiting ``NBT_READ_BACKOFF_S`` (0.5 s) doubled each
    time up to ``NBT_READ_BACKOFF_MAX_S`` (8 s); then :class:`StoreUnavailable` naming the URI.
    Module attributes are read at call time, so a test or a long job may raise the retries.
    """
    retries = int(os.environ.get("NBT_READ_RETRIES", READ_RETRIES))
    delay = float(os.environ.get("NBT_READ_BACKOFF_S", READ_BACKOFF_S))
    max_delay = float(os.environ.get("NBT_READ_BACKOFF_MAX_S", READ_BACKOFF_MAX_S))

    def call() -> T:
        with translate_errors():
            return fn(*args, **kwargs)

    return retry(call, on=StoreUnavailable, attempts=retries + 1, delay=delay, max_delay=max_delay)

