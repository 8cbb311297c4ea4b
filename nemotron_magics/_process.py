"""One supervisor for every inference server this package starts: the embedded engine and ``serve()``.

It knows nothing about engines. It finds a free loopback port, spawns a command with its output
in a log file, asks ``GET /v1/models`` whether it answers, and stops it (the whole process
group, SIGTERM then SIGKILL). Two lifetimes:

* attached (the embedded engine): the server dies with the interpreter that started it, by
  ``atexit`` on a normal exit and by ``PR_SET_PDEATHSIG`` when the parent is killed;
* detached (``%nemotron serve``): the server runs in its own session, so a kernel restart does
  not take it down, and a small JSON record in :func:`state_dir` lets the next kernel find it.

What a recipe adds is the command line; how a failure reads is up to the caller, which gets a
:class:`StartFailed` with the exit code and the log.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import json
import os
import pathlib
import queue
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Record",
    "StartFailed",
    "Supervised",
    "free_port",
    "log_summary",
    "pid_alive",
    "probe",
    "records",
    "served_models",
    "spawn",
    "start",
    "state_dir",
]

ENV_STATE_DIR = "NEMOTRON_SERVE_DIR"
STOP_GRACE_S = 5.0
PORT_ATTEMPTS = 3
#: Called while waiting: seconds since the start, and the last line of the log.
Progress = Callable[[float, str], None]


# --------------------------------------------------------------------------- health


def served_models(
    base_url: str, *, timeout: float, headers: Mapping[str, str] | None = None
) -> list[str] | None:
    """The model ids ``GET {base_url}/models`` lists; None when it answers but not with a 200 list.

    The one health check: the embedded engine, ``serve()`` readiness and the client's model
    discovery all ask this. Raises ``httpx.HTTPError`` when the server cannot be reached, so a
    caller can tell "not listening" (or "busy": a read timeout) from "listening, not ready".
    """
    import httpx

    reply = httpx.get(f"{base_url.rstrip('/')}/models", headers=dict(headers or {}), timeout=timeout)
    if reply.status_code != 200:
        return None
    try:
        data = reply.json()
    except ValueError:
        return None
    items = data.get("data") if isinstance(data, dict) else None
    if not isinstance(items, list):
        return None
    # A server's word is untrusted: anything but a non-empty string id is skipped.
    ids = [m.get("id") for m in items if isinstance(m, dict)]
    return [i for i in ids if isinstance(i, str) and i.strip()]


def probe(base_url: str, timeout: float = 1.0) -> list[str] | None:
    """:func:`served_models`, with "cannot be reached" as None too: is it answering yet?"""
    import httpx

    try:
        return served_models(base_url, timeout=timeout)
    except httpx.HTTPError:
        return None


# --------------------------------------------------------------------------- ports, logs, files


def free_port() -> int:
    """A loopback port the OS just handed out; another process may take it before the server binds,
    which :func:`start` survives by retrying on address-in-use."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def state_dir() -> pathlib.Path:
    """Where detached servers leave their record and log: Jupyter's runtime dir (``NEMOTRON_SERVE_DIR``
    overrides), so every kernel of this user finds them; the temp dir where jupyter_core is absent."""
    override = os.environ.get(ENV_STATE_DIR, "").strip()
    if override:
        base = pathlib.Path(override)
    else:
        try:
            from jupyter_core.paths import jupyter_runtime_dir

            base = pathlib.Path(jupyter_runtime_dir()) / "nemotron-serve"
        except ImportError:
            base = temp_dir() / "serve"
    base.mkdir(parents=True, exist_ok=True)
    return base


def temp_dir() -> pathlib.Path:
    getuid = getattr(os, "getuid", None)
    base = pathlib.Path(tempfile.gettempdir()) / f"nemotron-magics-{getuid() if getuid else 'user'}"
    base.mkdir(parents=True, exist_ok=True)
    return base


def read_log(path: pathlib.Path | str) -> str:
    try:
        return pathlib.Path(path).read_text(errors="replace")
    except OSError:
        return ""


def log_tail(path: pathlib.Path | str, lines: int = 40) -> str:
    return "\n".join(read_log(path).splitlines()[-lines:]) if lines > 0 else ""


_ERROR_MARKERS = re.compile(r"error|exception|traceback|failed|fatal|segmentation|no such|not found", re.I)


_TRACEBACK_HEAD = re.compile(r"\s*Traceback \(most recent call last\):\s*$")


def log_summary(log: str, lines: int = 3) -> str:
    """The lines of a server log that explain a failure, joined into one line for an error message.

    Errors first (a bind error, a Python exception, a load failure), since the shutdown chatter
    that follows them would otherwise fill the tail; else the last lines.
    """
    kept = [line.strip() for line in log.splitlines() if line.strip() and not _TRACEBACK_HEAD.match(line)]
    errors = [line for line in kept if _ERROR_MARKERS.search(line)]
    return " | ".join((errors or kept)[-lines:])[-600:]


def last_line(path: pathlib.Path | str) -> str:
    """The last non-empty log line (progress bars rewrite a line with ``\\r``: the latest part)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 4096))
            tail = f.read().decode(errors="replace")
    except OSError:
        return ""
    parts = [p.strip() for p in re.split(r"[\r\n]", tail) if p.strip()]
    return parts[-1][-160:] if parts else ""


def address_in_use(log: str) -> bool:
    text = log.lower()
    return "address already in use" in text or f"errno {errno.EADDRINUSE}" in text


# --------------------------------------------------------------------------- processes


def pid_alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie counts as gone: it no longer serves anything)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


def _start_ticks(pid: int) -> str | None:
    """When ``pid`` started (clock ticks since boot): a recycled pid has another value."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _death_signal_hook() -> Callable[[], None] | None:
    """A ``preexec_fn`` asking Linux to SIGKILL the child when its parent dies (PR_SET_PDEATHSIG).

    atexit does not run when a kernel is SIGKILLed or crashes; without this an attached server
    would outlive it. SIGKILL rather than SIGTERM: nobody is left to wait for a graceful
    shutdown. libc is loaded here, before fork, so the child only makes one call. None off
    Linux, or without libc.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()
    pr_set_pdeathsig = 1

    def hook() -> None:
        prctl(pr_set_pdeathsig, int(signal.SIGKILL), 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os.kill(os.getpid(), signal.SIGKILL)

    return hook


_spawn_requests: queue.SimpleQueue[tuple[list[str], dict[str, Any], queue.SimpleQueue[Any]]] = (
    queue.SimpleQueue()
)
_spawner: threading.Thread | None = None
_spawner_lock = threading.Lock()


def spawn(cmd: list[str], *, detach: bool = False, **kwargs: Any) -> subprocess.Popen[bytes]:
    """Popen ``cmd``: detached in a session of its own, or attached with the parent-death signal.

    Attached children are forked from one long-lived daemon thread: Linux delivers
    PR_SET_PDEATHSIG when the *thread* that forked the child exits, not the process, so a server
    started from a short-lived worker thread (a batch pool, a widget callback) would die with it.
    """
    global _spawner
    if detach:
        return subprocess.Popen(cmd, start_new_session=True, **kwargs)
    hook = _death_signal_hook()
    if hook is None:
        return subprocess.Popen(cmd, **kwargs)
    with _spawner_lock:
        if _spawner is None or not _spawner.is_alive():
            _spawner = threading.Thread(target=_spawn_loop, name="nemotron-engine-spawner", daemon=True)
            _spawner.start()
    reply: queue.SimpleQueue[Any] = queue.SimpleQueue()
    _spawn_requests.put((cmd, {**kwargs, "preexec_fn": hook}, reply))
    result = reply.get()
    if isinstance(result, BaseException):
        raise result
    return result  # type: ignore[no-any-return]


def _spawn_loop() -> None:
    while True:
        cmd, kwargs, reply = _spawn_requests.get()
        try:
            reply.put(subprocess.Popen(cmd, **kwargs))
        except BaseException as exc:
            reply.put(exc)


@dataclass
class Supervised:
    """A server process: where it answers and where it logs; ``proc`` only in the process that started it."""

    pid: int
    base_url: str
    log_path: pathlib.Path
    detached: bool
    proc: subprocess.Popen[bytes] | None = None

    def alive(self) -> bool:
        if self.proc is not None:
            return self.proc.poll() is None
        return pid_alive(self.pid)

    def exit_code(self) -> int | None:
        return self.proc.poll() if self.proc is not None else None

    def wait_ready(self, deadline: float, progress: Progress | None = None) -> list[str] | None:
        """Poll ``GET /models`` until it answers (the model ids), the process dies, or time runs out."""
        began, delay, last_tick = time.monotonic(), 0.05, 0.0
        while time.monotonic() < deadline:
            if not self.alive():
                return None
            models = probe(self.base_url, timeout=1.0)
            if models is not None:
                return models
            now = time.monotonic()
            if progress is not None and now - last_tick >= 0.5:
                last_tick = now
                progress(now - began, last_line(self.log_path))
            time.sleep(delay)
            delay = min(delay * 1.5, 0.25 if self.proc is not None else 1.0)
        return None

    def stop(self, grace: float = STOP_GRACE_S) -> None:
        """SIGTERM (the whole group when detached: vLLM's workers too), then SIGKILL after ``grace``."""
        if not self.alive():
            if self.proc is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.proc.wait(timeout=grace)
            return
        self._signal(signal.SIGTERM)
        if not self._wait_gone(grace):
            self._signal(signal.SIGKILL)
            self._wait_gone(grace)

    def _signal(self, sig: signal.Signals) -> None:
        with contextlib.suppress(OSError):
            if self.detached:
                os.killpg(self.pid, sig)  # a session leader: its group id is its pid
            elif self.proc is not None:
                self.proc.send_signal(sig)
            else:
                os.kill(self.pid, sig)

    def _wait_gone(self, grace: float) -> bool:
        if self.proc is not None:
            try:
                self.proc.wait(timeout=grace)
                return True
            except subprocess.TimeoutExpired:
                return False
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            if not pid_alive(self.pid):
                return True
            time.sleep(0.05)
        return not pid_alive(self.pid)


class StartFailed(Exception):
    """The server did not come up; the caller turns this into its own one-line error."""

    def __init__(self, exit_code: int | None, log_path: pathlib.Path, attempts: int) -> None:
        super().__init__(f"exit code {exit_code}")
        self.exit_code, self.log_path, self.attempts = exit_code, log_path, attempts
        self.log = read_log(log_path)

    @property
    def timed_out(self) -> bool:
        return self.exit_code is None and self.attempts > 0


def start(
    command: Callable[[int], list[str]],
    *,
    log_path: pathlib.Path,
    deadline: float,
    port: int | None = None,
    detach: bool = False,
    env: Mapping[str, str] | None = None,
    progress: Progress | None = None,
    ports: Callable[[], int] = free_port,
    spawner: Callable[..., subprocess.Popen[bytes]] = spawn,
    wait: bool = True,
) -> tuple[Supervised, list[str]]:
    """Start ``command(port)`` and wait until ``GET /v1/models`` answers: (the process, its model ids).

    Without a fixed ``port`` a lost race for a free one (address in use) costs a retry on another.
    ``env`` is the whole environment (default: this one). ``wait=False`` returns at once with no
    model ids. Raises :class:`StartFailed` when the process exits or time runs out (the process is
    stopped, its log kept), ``OSError`` when it cannot run.
    """
    full_env = {**(os.environ if env is None else env), "PYTHONUNBUFFERED": "1"}
    for attempt in range(1, PORT_ATTEMPTS + 1):
        chosen = port or ports()
        with open(log_path, "wb") as log_file:  # the child keeps its own copy of the descriptor
            proc = spawner(
                command(chosen),
                detach=detach,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                env=full_env,
                close_fds=True,
            )
        server = Supervised(proc.pid, f"http://127.0.0.1:{chosen}/v1", log_path, detach, proc)
        if not wait:
            return server, []
        models = server.wait_ready(deadline, progress)
        if models is not None:
            return server, models
        exit_code = proc.poll()
        server.stop()
        if exit_code is not None and port is None and address_in_use(read_log(log_path)):
            continue
        raise StartFailed(exit_code, log_path, attempt)
    raise StartFailed(None, log_path, 0)


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class Record:
    """What a detached server leaves behind for the next kernel: one JSON file per server."""

    name: str
    engine: str
    model: str
    served_model: str
    pid: int
    port: int
    url: str
    command: list[str]
    log: str
    started: float
    #: What a later kernel needs to show and stop it: the environment additions, files, a stop command.
    env: dict[str, str] = dataclasses.field(default_factory=dict)
    files: list[str] = dataclasses.field(default_factory=list)
    stop_argv: list[str] = dataclasses.field(default_factory=list)
    ticks: str | None = None

    @property
    def path(self) -> pathlib.Path:
        return state_dir() / f"{self.name}.json"

    def alive(self) -> bool:
        return pid_alive(self.pid) and (self.ticks is None or _start_ticks(self.pid) in (None, self.ticks))

    def supervised(self, proc: subprocess.Popen[bytes] | None = None) -> Supervised:
        return Supervised(self.pid, self.url, pathlib.Path(self.log), True, proc)

    def save(self) -> Record:
        record = self if self.ticks else dataclasses.replace(self, ticks=_start_ticks(self.pid))
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(dataclasses.asdict(record), indent=1))
        tmp.replace(self.path)
        return record

    def forget(self) -> None:
        with contextlib.suppress(OSError):
            self.path.unlink()


def records(*, include_exited: bool = False) -> list[Record]:
    """The detached servers still running, oldest first; with ``include_exited`` the crashed ones too.

    A record outlives its server until someone looks (``%nemotron serve status``) or stops it, so
    the log of a server that died while no kernel watched can still be read.
    """
    found: list[Record] = []
    fields = {f.name for f in dataclasses.fields(Record)}
    for path in sorted(state_dir().glob("*.json")):
        try:
            data = json.loads(path.read_text())
            record = Record(**{k: v for k, v in data.items() if k in fields})
        except (OSError, ValueError, TypeError):
            continue
        if include_exited or record.alive():
            found.append(record)
    return sorted(found, key=lambda r: r.started)


def shell_join(argv: Sequence[str]) -> str:
    import shlex

    return shlex.join(argv)
