"""``%nemotron serve …`` and ``%nemotron gpus``: parse the line, call :func:`._server.serve`, format.

The line magic only dispatches here. Parsing is argparse with every mistake turned into a
one-line :class:`~IPython.core.error.UsageError`; words after ``--`` go to the engine untouched.
Registration goes through the ``Nemotron`` configurable, so ``%nemotron config`` shows the
served model as the provider in effect, and the library settings follow it.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from typing import Any, NoReturn

from IPython.core.error import UsageError

from .._tables import Table

SERVE_HELP = """%nemotron serve — run Nemotron on this machine's GPUs (or CPU) and point the magics at it.

  %nemotron serve ENGINE [--model CHECKPOINT] [--tp N] [--port P] [--context N] [--mtp] [--dry-run]
                         [--timeout S] [--no-gpu-check] [-- extra engine args]
      ENGINE: vllm, sglang, trtllm, llamacpp, ollama or nim. CHECKPOINT: super-fp8, super-bf16,
      super-nvfp4, nano-bf16, nano-fp8, nano-nvfp4, super-gguf, nano-gguf, an HF id, a .gguf path,
      an Ollama tag or a NIM image (default: what fits the GPUs, see %nemotron gpus).
      --dry-run prints the command line and starts nothing. Extra args replace the recipe's flag
      of the same name (e.g. -- --tool-call-parser qwen3_coder).
      The server outlives the kernel; the same line in a new kernel finds it again.
  %nemotron serve status          the servers running, their URLs, logs and which one is 'local'
  %nemotron serve logs [-n N] [NAME]   the last N lines (default 40) of a server's log
  %nemotron serve stop [NAME|all] stop a server (the only one without NAME)
  %nemotron gpus                  the GPUs found and the checkpoint, precision and TP that fit
"""


class _Parser(argparse.ArgumentParser):
    """argparse whose mistakes are one-line usage errors, not ``SystemExit`` and a usage dump."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"%nemotron serve: {message} (%nemotron serve help lists the flags)")

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        raise UsageError(message or "%nemotron serve: see %nemotron serve help")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def _engine_parser() -> _Parser:
    parser = _Parser(prog="%nemotron serve", add_help=False)
    parser.add_argument("engine")
    parser.add_argument("--model", "-m")
    parser.add_argument("--tp", type=_positive)
    parser.add_argument("--port", type=_positive)
    parser.add_argument("--context", type=_positive)
    parser.add_argument("--mtp", action="store_true")
    parser.add_argument("--dry-run", action="store_true")
    parser.add_argument("--timeout", type=_seconds)
    parser.add_argument("--no-gpu-check", action="store_true")
    return parser


def serve_line(words: Sequence[str], configurable: Any) -> Any:
    """``%nemotron serve …``: start (or dry-run) a server, or show/stop the ones running."""
    if not words or words[0] in ("help", "-h", "--help"):
        print(SERVE_HELP)
        return None
    command, rest = words[0].lower(), list(words[1:])
    if command == "status":
        if rest:
            raise UsageError(f"%nemotron serve status takes no arguments, got {' '.join(rest)!r}")
        return status_table()
    if command == "logs":
        return _logs(rest)
    if command == "stop":
        return _stop(rest, configurable)
    return _serve(list(words), configurable)


def _serve(words: list[str], configurable: Any) -> None:
    from .._errors import ConfigurationError
    from ._server import DEFAULT_TIMEOUT, serve

    ours, extra = (
        (words[: words.index("--")], words[words.index("--") + 1 :]) if "--" in words else (words, [])
    )
    opts = _engine_parser().parse_args(ours)
    try:
        server = serve(
            opts.engine,
            model=opts.model,
            tp=opts.tp,
            port=opts.port,
            context=opts.context,
            mtp=opts.mtp,
            extra_args=extra,
            dry_run=opts.dry_run,
            timeout=opts.timeout or DEFAULT_TIMEOUT,
            check_gpus=not opts.no_gpu_check,
        )
    except ConfigurationError as exc:
        raise UsageError(f"%nemotron serve: {exc.message}") from None
    if opts.dry_run:
        print(server)
        return None
    for note in server.notes:
        print(f"nemotron: note: {note}")
    _register(configurable, server.url, server.served_model or server.model)
    how = "already running" if server.reused else "ready"
    print(
        f"nemotron: {server.name} {how} at {server.url}; %%nemotron cells now go to it "
        f"(provider local, model {server.served_model or server.model}). Stop it with "
        f"%nemotron serve stop {server.name}"
    )
    return None


def _register(configurable: Any, base_url: str | None, model: str | None) -> None:
    """Point the notebook's defaults (and through them the library settings) at a server, or away."""
    configurable.provider = "local" if base_url else None
    configurable.base_url = base_url
    configurable.model = model


def _logs(rest: list[str]) -> None:
    from ._server import find

    parser = _Parser(prog="%nemotron serve logs", add_help=False)
    parser.add_argument("-n", type=_positive, default=40)
    parser.add_argument("name", nargs="?")
    opts = parser.parse_args(rest)
    server = _found(find, opts.name)
    print(f"# {server.name}: the last {opts.n} lines of {server.log_path}")
    print(server.logs(opts.n))


def _stop(rest: list[str], configurable: Any) -> None:
    from ._server import find, servers

    if len(rest) > 1:
        raise UsageError(f"%nemotron serve stop takes one NAME (or all), got {' '.join(rest)!r}")
    targets = servers(include_exited=True) if rest == ["all"] else [_found(find, rest[0] if rest else None)]
    for server in targets:
        was_local, exited = server.registered(), not server.alive()
        server.stop()
        if exited:
            print(f"nemotron: forgot {server.name} (it had exited; its log is removed)")
            continue
        if was_local:
            _register(configurable, None, None)
        print(f"nemotron: stopped {server.name}" + (" (it was the local provider)" if was_local else ""))
    if not targets:
        print("nemotron: no server is running")


def _found(find: Any, name: str | None) -> Any:
    from .._errors import ConfigurationError

    try:
        return find(name)
    except ConfigurationError as exc:
        raise UsageError(f"%nemotron serve: {exc.message}") from None


def status_table() -> Table:
    from ._server import servers

    rows, exited = [], []
    for s in servers(include_exited=True):
        state = "ready" if s.ready() else "starting" if s.alive() else "exited"
        if state == "exited":
            exited.append(s.name)
        up = _duration(time.time() - s.started) if s.started and state != "exited" else ""
        local = "← local" if s.registered() else ""
        rows.append([s.name, s.engine, s.served_model or s.model, s.url, s.pid, state, up, s.log_path, local])
    if not rows:
        note = "No server is running: start one with %nemotron serve ENGINE (%nemotron serve help)."
    else:
        note = "Logs: %nemotron serve logs NAME; stop: %nemotron serve stop NAME."
    if exited:
        note += (
            f" Exited on their own: {', '.join(exited)} (read why with %nemotron serve logs NAME; "
            "%nemotron serve stop NAME forgets it)."
        )
    return Table(
        "Nemotron servers",
        ["name", "engine", "model", "URL", "pid", "state", "up", "log", "provider"],
        rows,
        note=note,
    )


def gpus_table() -> Table:
    """The GPUs found and what fits them (the recommendation, or why nothing does)."""
    from ._gpus import gpus, recommend

    found = gpus()
    rec = recommend(found)
    rows = [[g.index, g.name, f"{g.memory_gb:.1f}", g.compute_capability or "?"] for g in found]
    note = rec.message()
    if rec.fits and rec.checkpoint is not None:
        note += f" Start it with %nemotron serve vllm (it picks {rec.checkpoint.name} on TP {rec.tp})."
    return Table("NVIDIA GPUs", ["index", "name", "memory (GB)", "compute capability"], rows, note=note)


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"
