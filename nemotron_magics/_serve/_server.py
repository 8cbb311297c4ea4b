"""``serve()``: run a recipe's plan on the supervisor, detached, and hand back a :class:`Server`.

A served engine runs in its own session: a kernel restart leaves it running, and its record in
:func:`.._process.state_dir` lets the next kernel find it (:func:`servers`, or the same
``serve()`` call again, which reattaches instead of starting a second copy). Once it answers it
is registered as the ``local`` provider, under the model id its ``/v1/models`` lists.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .. import _process
from .._config import settings
from .._errors import ConfigurationError, EngineUnavailable
from ._gpus import GPU, Recommendation, describe, gpus, recommend
from ._progress import LiveStatus
from ._recipes import get_recipe
from ._spec import Checkpoint, Plan, Recipe, Request, default_tp, parse_checkpoint

#: A callable given (seconds waited, last log line); None for the live status line; False for silence.
ProgressArg = Callable[[float, str], None] | bool | None
DEFAULT_TIMEOUT = 1800.0  # loading a 120B checkpoint from a cold disk takes minutes
_DRY_RUN_PORT = 8000


@dataclass
class Server:
    """A served engine: ``.command`` (argv), ``.url``, ``.ready()``, ``.logs()``, ``.stop()``.

    A dry run has the command and no process: ``.ready()`` is False and ``.stop()`` does nothing.
    """

    name: str
    engine: str
    model: str
    url: str
    command: list[str]
    env: Mapping[str, str] = field(default_factory=dict)
    files: Mapping[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    served_model: str = ""
    log_path: pathlib.Path | None = None
    pid: int | None = None
    started: float | None = None
    dry_run: bool = False
    after_ready: tuple[tuple[str, ...], ...] = ()
    stop_argv: tuple[str, ...] = ()
    #: True when serve() found it already running (started by this or an earlier kernel).
    reused: bool = False
    _process: _process.Supervised | None = field(default=None, repr=False)

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1].split("/", 1)[0])

    # -- looking at it -----------------------------------------------------------
    def shell(self) -> str:
        """The command as one shell line, environment first (what ``--dry-run`` prints)."""
        env = " ".join(f"{k}={_process.shell_join([v])}" for k, v in self.env.items())
        return (env + " " if env else "") + _process.shell_join(self.command)

    def alive(self) -> bool:
        return self._process is not None and self._process.alive()

    def ready(self) -> bool:
        """True when the server runs and answers ``GET /v1/models`` now (no waiting)."""
        return self.alive() and _process.probe(self.url, timeout=2.0) is not None

    def logs(self, n: int = 40) -> str:
        """The last ``n`` lines of the server's log."""
        return _process.log_tail(self.log_path, n) if self.log_path is not None else ""

    def __str__(self) -> str:
        if self.dry_run:
            lines = [self.shell()]
            lines += [f"# {path}:\n{text.rstrip()}" for path, text in self.files.items()]
            lines += [f"# note: {note}" for note in self.notes]
            return "\n".join(lines)
        state = "ready" if self.ready() else ("starting" if self.alive() else "stopped")
        return f"{self.name}: {self.engine} serving {self.served_model or self.model} at {self.url} ({state})"

    def __repr__(self) -> str:
        where = "dry run" if self.dry_run else f"pid {self.pid}"
        return f"<Server {self.name} {self.engine} {self.served_model or self.model} {self.url} ({where})>"

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(str(self))

    # -- running it --------------------------------------------------------------
    def wait(self, timeout: float = DEFAULT_TIMEOUT, progress: ProgressArg = None) -> Server:
        """Block until it answers, then run its after-ready steps; one-line error with the log tail if not."""
        if self.dry_run or self._process is None:
            raise ConfigurationError(
                f"{self.name} is a dry run: nothing to wait for; serve it without dry_run"
            )
        label = pathlib.Path(self.model).name if self.model.lower().endswith(".gguf") else self.model
        live = LiveStatus(f"{self.name} loading {label}") if progress is None or progress is True else None
        tick = live if live is not None else (progress if callable(progress) else None)
        began = time.monotonic()
        ids = self._process.wait_ready(began + timeout, tick)
        if ids is None:
            if live is not None:
                live.finish(f"✗ {self.name} did not start: see the error below")
            self._fail(timeout)
        for step in self.after_ready:
            if live is not None:
                live(time.monotonic() - began, f"running {_process.shell_join(step)}")
            self._run_step(step)
            ids = _process.probe(self.url) or ids
        self.served_model = _pick_model(ids or [], self.served_model)
        _record_of(self).save()
        if live is not None:
            took = time.monotonic() - began
            live.finish(f"✓ {self.name} ready in {took:.1f} s at {self.url} ({self.served_model})")
        return self

    def _fail(self, timeout: float) -> None:
        assert self._process is not None and self.log_path is not None
        code = self._process.exit_code()
        alive = self._process.alive()
        self._process.stop()
        _record_of(self).forget()
        why = _process.log_summary(_process.read_log(self.log_path)) or "the log is empty"
        if alive:
            raise EngineUnavailable(
                f"{self.engine} did not answer within {timeout:g}s (log {self.log_path}): {why} - it may "
                "still have been loading: serve again with a longer timeout"
            )
        exit_text = f"with code {code}" if code is not None else ""
        raise EngineUnavailable(
            f"{self.engine} exited at startup {exit_text} (log {self.log_path}): {why} - fix the model or "
            f"flags (%nemotron serve {self.engine} --dry-run shows the command line)"
        )

    def _run_step(self, argv: Sequence[str]) -> None:
        assert self.log_path is not None
        with open(self.log_path, "ab") as log:
            done = subprocess.run(
                list(argv), stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **self.env}, check=False
            )
        if done.returncode != 0:
            self.stop(keep_log=True)
            tail = _process.log_summary(_process.read_log(self.log_path))
            raise EngineUnavailable(
                f"{_process.shell_join(argv)} failed with code {done.returncode} "
                f"(log {self.log_path}): {tail}"
            )

    def register(self) -> Server:
        """Make this server the ``local`` provider: every cell and ``chat()`` without -p goes here."""
        settings.update(provider="local", base_url=self.url, model=self.served_model or self.model)
        return self

    def registered(self) -> bool:
        return settings.provider == "local" and settings.base_url == self.url

    def stop(self, *, keep_log: bool = False) -> None:
        """Stop it (the container too, for NIM), forget its record, and unregister it."""
        if self.dry_run:
            return
        if self.stop_argv:
            with contextlib.suppress(OSError, subprocess.TimeoutExpired):
                subprocess.run(list(self.stop_argv), capture_output=True, timeout=60, check=False)
        if self._process is not None:
            self._process.stop(grace=15.0)
        _record_of(self).forget()
        if self.registered():
            settings.update(provider=None, base_url=None, model=None)
        for path in self.files:
            with contextlib.suppress(OSError):
                os.remove(path)
        if self.log_path is not None and not keep_log:
            with contextlib.suppress(OSError):
                self.log_path.unlink()


def _record_of(server: Server) -> _process.Record:
    assert server.pid is not None and server.log_path is not None and server.started is not None
    return _process.Record(
        name=server.name, engine=server.engine, model=server.model, served_model=server.served_model,
        pid=server.pid, port=server.port, url=server.url, command=server.command,
        log=str(server.log_path), started=server.started, env=dict(server.env), files=list(server.files),
        stop_argv=list(server.stop_argv),
    )  # fmt: skip


def _from_record(record: _process.Record) -> Server:
    return Server(
        name=record.name, engine=record.engine, model=record.model, url=record.url, command=record.command,
        env=record.env, files=dict.fromkeys(record.files, ""), served_model=record.served_model,
        log_path=pathlib.Path(record.log), pid=record.pid, started=record.started,
        stop_argv=tuple(record.stop_argv), _process=record.supervised(),
    )  # fmt: skip


def _pick_model(ids: Sequence[str], hint: str) -> str:
    """The id a client should send: the recipe's name if listed, else a Nemotron, else the first."""
    if hint in ids:
        return hint
    return next((i for i in ids if "nemotron" in i.lower()), ids[0] if ids else hint)


def servers(*, include_exited: bool = False) -> list[Server]:
    """The servers running now that ``serve()`` started, in this kernel or an earlier one.

    ``include_exited`` adds those that died on their own (their logs say why; ``.stop()`` forgets them).
    """
    return [_from_record(r) for r in _process.records(include_exited=include_exited)]


def find(name: str | None = None) -> Server:
    """One server by name (or engine, when only one of it runs); the only one without a name.

    Servers that exited count too: their logs are what a user wants to read.
    """
    running = servers(include_exited=True)
    if not running:
        raise ConfigurationError("No server is running: start one with %nemotron serve ENGINE")
    if name is None:
        if len(running) == 1:
            return running[0]
        raise ConfigurationError(
            f"{len(running)} servers run: name one of {', '.join(s.name for s in running)}"
        )
    matches = [s for s in running if s.name == name] or [s for s in running if s.engine == name]
    if len(matches) == 1:
        return matches[0]
    raise ConfigurationError(
        f"No single server named {name!r}: running are {', '.join(s.name for s in running)}"
    )


# --------------------------------------------------------------------------- serve()


def _choose(
    recipe: Recipe, model: str | None, tp: int | None, found: tuple[GPU, ...]
) -> tuple[Checkpoint, int | None, list[str], Recommendation]:
    """The checkpoint and TP to serve: the user's, else what fits the GPUs, else the recipe's default."""
    rec = recommend(found)
    if model is not None:
        return parse_checkpoint(model), tp, [], rec
    if recipe.needs_gpu and rec.fits and rec.checkpoint is not None:
        return rec.checkpoint, tp or rec.tp, [f"chosen for {describe(found)}: {rec.reason}"], rec
    cp = recipe.default_checkpoint()
    notes = (
        []
        if found or not recipe.needs_gpu
        else [f"no GPU found here: the default for {default_tp(cp)}x H100"]
    )
    return cp, tp, notes, rec


def serve(
    engine: str,
    *,
    model: str | None = None,
    tp: int | None = None,
    port: int | None = None,
    context: int | None = None,
    mtp: bool = False,
    extra_args: Sequence[str] = (),
    dry_run: bool = False,
    wait: bool = True,
    timeout: float = DEFAULT_TIMEOUT,
    register: bool = True,
    check_gpus: bool = True,
    progress: ProgressArg = None,
) -> Server:
    """Serve Nemotron locally with ``engine`` (vllm, sglang, trtllm, llamacpp, ollama, nim).

    ``model``: a checkpoint (``super-fp8``, ``nano-bf16``, an HF id, a ``.gguf`` path or repo, an
    Ollama tag, a NIM image); without it, what fits the GPUs found. ``extra_args`` go to the engine
    last and replace any flag of the same name. ``dry_run`` builds the command and starts nothing.
    The server runs detached (it outlives the kernel); the same call from a later kernel finds it
    again. With ``wait`` it blocks until the server answers (``progress``: a callable, or False),
    then registers it as the ``local`` provider.
    """
    recipe = get_recipe(engine)
    if tp is not None and tp < 1:
        raise ConfigurationError(f"--tp must be a positive number of GPUs, got {tp}")
    found = tuple(gpus())
    checkpoint, tp, notes, rec = _choose(recipe, model, tp, found)
    version = recipe.version()

    def request(port: int, name: str) -> Request:
        return Request(
            checkpoint,
            port,
            tp=tp,
            context=context,
            mtp=mtp,
            extra_args=tuple(extra_args),
            gpus=found,
            name=name,
        )

    if not dry_run:
        running = _running(
            recipe, checkpoint, port, lambda s: recipe.plan(request(s.port, s.name), version).argv
        )
        if running is not None:
            if wait and not running.ready():  # a kernel that died while it loaded
                running.wait(timeout, progress)
            return running.register() if register else running
        _check_fit(recipe, checkpoint, tp, found, rec, check_gpus, model is not None)
        if not recipe.installed():
            raise EngineUnavailable(f"{recipe.name} is not installed: {recipe.install_hint}")
    chosen = port or (_DRY_RUN_PORT if dry_run else _process.free_port())
    name = f"{recipe.name}-{chosen}"
    req = request(chosen, name)
    plan = recipe.plan(req, version)
    server = _server_for(name, checkpoint, plan, notes, chosen, dry_run)
    if dry_run:
        return server
    recipe.check(req)
    return _launch(server, wait=wait, timeout=timeout, register=register, progress=progress)


def _running(
    recipe: Recipe, cp: Checkpoint, port: int | None, command_for: Callable[[Server], list[str]]
) -> Server | None:
    """The server a new kernel should attach to: same engine, model and command (port included).

    The same model with other flags is not silently handed back: stopping it, or another port,
    is the user's call.
    """
    for server in servers():
        if server.engine != recipe.name or server.model != cp.name or port not in (None, server.port):
            continue
        if command_for(server) != server.command:
            raise ConfigurationError(
                f"{server.name} already serves {cp.name} with other flags: stop it first "
                f"(%nemotron serve stop {server.name}), or pass --port for a second server"
            )
        server.reused = True
        return server
    return None


def _server_for(name: str, cp: Checkpoint, plan: Plan, notes: list[str], port: int, dry_run: bool) -> Server:
    return Server(
        name=name, engine=plan.engine, model=cp.name, url=f"http://127.0.0.1:{port}/v1", command=plan.argv,
        env=dict(plan.env), files=dict(plan.files), notes=(*notes, *plan.notes),
        served_model=plan.served_model,
        dry_run=dry_run, after_ready=plan.after_ready, stop_argv=plan.stop_argv,
    )  # fmt: skip


def _launch(server: Server, *, wait: bool, timeout: float, register: bool, progress: ProgressArg) -> Server:
    for path, text in server.files.items():
        pathlib.Path(path).write_text(text)
    server.log_path = _process.state_dir() / f"{server.name}.log"
    try:
        proc, _ = _process.start(
            lambda _port: server.command, log_path=server.log_path, port=server.port, deadline=0,
            detach=True, env={**os.environ, **server.env}, wait=False,
        )  # fmt: skip
    except OSError as exc:
        raise EngineUnavailable(
            f"Could not start {server.engine} ({exc}): {get_recipe(server.engine).install_hint}"
        ) from None
    server.pid, server.started, server._process = proc.pid, time.time(), proc
    _record_of(server).save()  # before waiting: a kernel that dies now still leaves it findable
    if wait:
        server.wait(timeout, progress)
        if register:
            server.register()
    return server


def _check_fit(
    recipe: Recipe,
    cp: Checkpoint,
    tp: int | None,
    found: tuple[GPU, ...],
    rec: Recommendation,
    check: bool,
    user_model: bool,
) -> None:
    """Refuse what cannot run here, saying what can: no GPU, NVFP4 off Blackwell, too little memory."""
    if not check or not recipe.needs_gpu:
        return
    from ._gpus import FLOORS_GB

    if not found:
        raise EngineUnavailable(
            f"{recipe.name} needs an NVIDIA GPU and found {describe(found)}. {rec.message()}"
        )
    if not user_model and not rec.fits:
        raise EngineUnavailable(f"Nothing for {recipe.name} to serve here. {rec.message()}")
    if cp.precision == "NVFP4" and not all(g.blackwell for g in found):
        raise EngineUnavailable(
            f"{cp.label} needs Blackwell GPUs (compute 10.x); here: {describe(found)}. {rec.message()}"
        )
    want = tp or default_tp(cp)
    if want > len(found):
        raise EngineUnavailable(
            f"TP {want} for {cp.label} needs {want} GPUs; found {describe(found)}. {rec.message()}"
        )
    floor = FLOORS_GB.get((cp.family, cp.precision))
    used = found[:want]
    if floor is not None and sum(g.memory_gb for g in used) < floor:
        raise EngineUnavailable(
            f"{cp.label} needs {floor:.0f} GB of GPU memory; TP {len(used)} here gives "
            f"{sum(g.memory_gb for g in used):.0f} GB ({describe(found)}). {rec.message()}"
        )
