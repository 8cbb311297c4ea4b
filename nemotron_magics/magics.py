"""``%%nemotron`` and ``%nemotron``: a thin notebook skin over :class:`~nemotron_magics.session.Session`.

The magic only parses flags (:mod:`._magic_args`), fills in the prompt
(:mod:`._interpolate`), picks the conversation, and hands the stream to the
display. Everything else is the Python API, so a notebook and a script
behave the same. Loading imports no httpx, pandas or ipywidgets (the bar is
0.10 s for ``%load_ext``): those come with the first request or display.

Errors are never printed and swallowed: a :class:`~nemotron_magics.NemotronError`
propagates and IPython shows its one-line ``_render_traceback_``; a bad flag is
a one-line :class:`~IPython.core.error.UsageError`; the stop button ends the
stream, leaves the partial answer on screen and in the conversation, and fails
the cell with one line.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class, no_var_expand
from traitlets import CaselessStrEnum, Float, TraitError, Unicode

from . import session as _session
from ._configurable import Nemotron, RuleTrait, remember_config_file_values
from ._errors import ConfigurationError
from ._formats import get_format
from ._interpolate import interpolate
from ._magic_args import CELL_HELP, CellOptions, parse_cell_line, split_line, wants_help
from ._secrets import redact
from ._tables import Table, chats_table, providers_table

# --------------------------------------------------------------------------- the magics

_LEADING_BLANK_LINES = re.compile(r"\A(?:[ \t]*\r?\n)+")
LINE_COMMANDS = (
    "providers",
    "config",
    "chats",
    "reset",
    "usage",
    "tools",
    "mcp",
    "controls",
    "chat",
    "help",
    "serve",
    "gpus",
    "history",
)

LINE_HELP = """%nemotron COMMAND — look at and change the notebook's Nemotron setup.

  %nemotron providers           every provider: key set (yes/no, never the key), base URL, model, prices
  %nemotron config              the Nemotron settings in effect
  %nemotron config key=value …  change them (e.g. provider=openrouter temperature=0.6 reasoning=low)
  %nemotron controls            a panel of the defaults (provider, model, temperature, reasoning …), live
  %nemotron chat [NAME]         a chat box for conversation NAME (shared with %%nemotron --chat NAME)
  %nemotron chats               the named conversations (%%nemotron --chat NAME)
  %nemotron reset [NAME]        forget conversation NAME (all of them without NAME)
  %nemotron usage [--since DATE] tokens and cost per provider, model and day, from the store (all kernels)
  %nemotron history [N] [--search TEXT]  the last N calls (20), or those whose prompt or answer has TEXT
  %nemotron tools               the @tool functions in the notebook and MCP servers' tools, with schemas
  %nemotron mcp add NAME CMD|URL  start an MCP server for --tools mcp:NAME (also: mcp list, mcp remove NAME)
  %nemotron serve ENGINE …      serve Nemotron on this machine (vllm, sglang, trtllm, llamacpp, ollama, nim)
  %nemotron serve status | logs [-n N] [NAME] | stop [NAME]   the servers started here (%nemotron serve help)
  %nemotron gpus                the GPUs found and the checkpoint, precision and TP that fit them
  %nemotron help                this text and the %%nemotron flags

Ask with the cell magic: %%nemotron [flags] on the first line, the prompt below (%%nemotron? for the flags).
"""


def cell_key(shell: Any, cell: str) -> str:
    """What identifies "this cell" across re-runs: the frontend's cell id, else the cell's text.

    JupyterLab and Notebook 7 send ``metadata.cellId`` with every execute
    request; ipykernel keeps the whole request as the kernel's parent (the
    shell's ``parent_header`` is only the header). nbclient and terminal
    IPython send no id, so the text of the cell stands in: re-running an
    unchanged cell replaces its turn, an edited one adds a new turn.
    """
    import hashlib

    kernel = getattr(shell, "kernel", None)
    get_parent: Callable[..., Any] | None = getattr(kernel, "get_parent", None)
    if get_parent is not None:
        try:
            parent = get_parent("shell")
        except Exception:  # an older ipykernel, or no request in flight
            parent = None
        metadata = parent.get("metadata") if isinstance(parent, dict) else None
        cell_id = metadata.get("cellId") if isinstance(metadata, dict) else None
        if isinstance(cell_id, str) and cell_id:
            return f"cell:{cell_id}"
    return "text:" + hashlib.sha256(cell.encode("utf-8", "surrogatepass")).hexdigest()[:32]


@magics_class
class NemotronMagics(Magics):
    """The ``%%nemotron`` cell magic and the ``%nemotron`` line magic."""

    def __init__(self, shell: Any, configurable: Nemotron) -> None:
        super().__init__(shell)
        self.nemotron_config = configurable

    @property
    def ip(self) -> Any:
        """The shell these magics are registered with (IPython sets it; never None once loaded)."""
        if self.shell is None:
            raise RuntimeError("the nemotron magics are not attached to an IPython shell")
        return self.shell

    # -- the cell magic ---------------------------------------------------------
    # no_var_expand: IPython would otherwise run {expressions} and eat $names in the flag line
    # before we see it; the flags are taken literally, and only the body is interpolated (our rules).
    # (IPython types its marker as returning "a function or a decorator": mypy cannot tell which.)
    @cell_magic("nemotron")  # type: ignore[arg-type]
    @no_var_expand
    def nemotron_cell(self, line: str, cell: str | None = None) -> None:
        argv = split_line(line)
        if wants_help(argv):
            print(CELL_HELP)
            return None
        opts = parse_cell_line(line)
        cfg = self.nemotron_config
        if opts.over is not None:  # a batch: the cell is a template filled per row, not a prompt
            from ._magic_batch import run_over

            if not (cell or "").strip():
                raise UsageError("%%nemotron --over: the cell is empty; write the template below the line")
            template = _LEADING_BLANK_LINES.sub("", (cell or "").rstrip())
            return run_over(template, opts, self.ip.user_ns, self._schema)  # type: ignore[no-any-return]
        prompt = self._prompt(cell or "", opts)
        fmt = opts.format or cfg.format

        if opts.chat is not None:
            conversation = _session.get_session(opts.chat)
            if opts.new:
                conversation.reset()
            if opts.system is not None:
                conversation.system = opts.system
            key: str | None = cell_key(self.ip, cell or "")
        else:
            conversation = _session.Session(None, system=opts.system)
            key = None
        params = opts.request_params()
        if opts.cache is not None:
            params["cache"] = opts.cache  # a single cell reads the cache only when asked (--cache)
        if opts.schema is not None:
            params["schema"] = self._schema(opts.schema)
            fmt = "schema"
        get_format(fmt).request(params)  # --format json asks for a JSON object
        if opts.tools:
            from ._magic_tools import resolve_tools
            from .display._approve import default_approver

            params["tools"] = [*resolve_tools(opts.tools, self.ip.user_ns), *params.get("tools", [])]
            params.update(opts.loop, approve=default_approver())
        stream = conversation.stream(
            prompt, key=key, provider=opts.provider, model=opts.model, base_url=opts.base_url, **params
        )
        response = self._show(stream, fmt, opts)
        self._deliver(response, fmt, opts)
        return None  # the live display is the only rendering: no Out[] repeat

    nemotron_cell.__doc__ = CELL_HELP  # type: ignore[assignment]

    def _prompt(self, cell: str, opts: CellOptions) -> str:
        if not cell.strip():
            raise UsageError("%%nemotron: the cell is empty; write the prompt below the %%nemotron line")
        cfg = self.nemotron_config
        # Blank lines around the prompt are an artefact of the cell, not part of the question.
        cell = _LEADING_BLANK_LINES.sub("", cell.rstrip())
        if opts.no_interpolate or not cfg.interpolate:
            return cell
        result = interpolate(cell, self.ip.user_ns, max_chars=cfg.interpolate_max_chars)
        for reference in result.withheld:
            print(
                f"nemotron: {{{reference}}} sent as written: its value holds an API key, "
                "which never goes into a prompt",
                file=sys.stderr,
            )
        for reference, why in result.skipped:
            print(f"nemotron: {{{reference}}} sent as written ({why})", file=sys.stderr)
        for reference in result.truncated:
            print(
                f"nemotron: {{{reference}}} was cut to {cfg.interpolate_max_chars:,} characters "
                "(Nemotron.interpolate_max_chars)",
                file=sys.stderr,
            )
        if not result.text.strip():
            raise UsageError("%%nemotron: the prompt is empty once its {names} are filled in")
        return result.text

    def _schema(self, name: str) -> Any:
        """``--schema NAME``: ``Row`` or ``list[Row]``, looked up in the notebook."""
        from ._schema import as_schema

        inner = name[5:-1].strip() if name.startswith("list[") else name
        value: Any = self.ip.user_ns
        for i, part in enumerate(inner.split(".")):
            try:
                value = value[part] if i == 0 else getattr(value, part)
            except (KeyError, AttributeError):
                raise UsageError(f"--schema {name}: {inner!r} is not defined in the notebook") from None
        if inner is not name:
            value = list[value]
        try:
            return as_schema(value)
        except ConfigurationError as exc:
            raise UsageError(f"--schema {name}: {exc}") from None

    def _show(self, stream: Any, fmt: str, opts: CellOptions) -> Any:
        """Render while streaming (or once at the end); on Ctrl-C keep the partial answer for -o."""
        from ._errors import StreamCancelled, StreamError
        from .display import show, show_stream

        try:
            if opts.no_stream:
                try:
                    response = stream.until_done()
                except (StreamCancelled, StreamError) as exc:  # show what arrived, then fail
                    if exc.response is not None:
                        show(exc.response, format=fmt, banners=False)
                    raise
                show(response, format=fmt)
                return response
            return show_stream(stream, format=fmt, max_rate=self.nemotron_config.max_rate)
        except StreamCancelled as exc:
            if opts.out and exc.response is not None and fmt not in ("json", "schema"):
                self.ip.user_ns[opts.out] = exc.response
            raise

    def _deliver(self, response: Any, fmt: str, opts: CellOptions) -> None:
        form = get_format(fmt, response)
        if form.name in ("json", "schema"):
            self.ip.user_ns["_nemotron_response"] = response  # the Response, errors and all
            # The parsed value (a DataFrame for a table schema); StructuredOutputError (one line)
            # when it is not JSON or not valid: the display already showed why.
            self.ip.user_ns[opts.out or "_nemotron_json"] = form.store(response)
            return
        if opts.out:
            self.ip.user_ns[opts.out] = form.store(response)
        if fmt == "code":
            code = _session.extract_code(response.content)
            if code:
                self.ip.set_next_input(code, replace=False)

    # -- the line magic ---------------------------------------------------------
    @line_magic("nemotron")  # type: ignore[arg-type]
    @no_var_expand
    def nemotron_line(self, line: str) -> Any:
        words = split_line(line)
        if not words:
            print(LINE_HELP)
            return None
        command, rest = words[0].lower(), words[1:]
        if command in ("help", "-h", "--help"):
            print(LINE_HELP)
            print(CELL_HELP)
            return None
        if command == "providers":
            self._no_arguments(command, rest)
            return providers_table()
        if command == "config":
            return self._config(rest)
        if command == "controls":
            self._no_arguments(command, rest)
            from .widgets import show_controls

            return show_controls()
        if command == "chat":
            if len(rest) > 1:
                raise UsageError(f"%nemotron chat takes at most one NAME, got {' '.join(rest)!r}")
            from .widgets import show_chat

            return show_chat(rest[0] if rest else "default")
        if command == "chats":
            self._no_arguments(command, rest)
            return chats_table()
        if command == "usage":
            from ._magic_store import usage_command

            return usage_command(rest)
        if command == "history":
            from ._magic_store import history_command

            return history_command(rest)
        if command == "reset":
            return self._reset(rest)
        if command == "serve":
            from ._serve._magic import serve_line

            return serve_line(rest, self.nemotron_config)
        if command == "tools":
            from ._magic_tools import tools_table

            self._no_arguments(command, rest)
            return tools_table(self.ip.user_ns)
        if command == "mcp":
            from ._magic_tools import mcp_command

            return mcp_command(rest)
        if command == "gpus":
            from ._serve._magic import gpus_table

            self._no_arguments(command, rest)
            return gpus_table()
        raise UsageError(
            f"%nemotron: unknown command {words[0]!r}; choose one of {', '.join(LINE_COMMANDS)} "
            "(ask with %%nemotron in a cell)"
        )

    nemotron_line.__doc__ = LINE_HELP  # type: ignore[assignment]

    @staticmethod
    def _no_arguments(command: str, rest: list[str]) -> None:
        if rest:
            raise UsageError(f"%nemotron {command} takes no arguments, got {' '.join(rest)!r}")

    def _config(self, assignments: list[str]) -> Table | None:
        cfg = self.nemotron_config
        names = sorted(cfg.class_trait_names(config=True))
        if not assignments:
            traits = cfg.traits(config=True)
            rows = [[name, repr(getattr(cfg, name)), traits[name].help] for name in names]
            return Table(
                "Nemotron settings (%config Nemotron.NAME = value, or %nemotron config NAME=value)",
                ["setting", "value", "meaning"],
                rows,
            )
        import json

        updates: dict[str, Any] = {}
        for item in assignments:
            name, sep, raw = item.partition("=")
            name = name.strip()
            if not sep:
                raise UsageError(f"%nemotron config takes NAME=VALUE pairs, got {item!r}")
            if name not in names:
                raise UsageError(
                    f"%nemotron config: unknown setting {name!r}; choose from {', '.join(names)}"
                )
            trait = cfg.traits()[name]
            if raw.strip().lower() in ("none", "null", ""):
                value: Any = None
            elif isinstance(trait, RuleTrait):
                value = raw  # read by the rule itself, below: the flags' words
            else:
                try:
                    value = json.loads(raw)
                except ValueError:
                    value = raw
                if isinstance(trait, Unicode | CaselessStrEnum) and not isinstance(value, str):
                    value = raw  # format=123 is text, not a number
                elif isinstance(trait, Float) and isinstance(value, int) and not isinstance(value, bool):
                    value = float(value)
            updates[name] = value
        for name, value in updates.items():
            trait = cfg.traits()[name]
            try:
                if isinstance(trait, RuleTrait) and value is not None:
                    value = trait.rule.from_text(value, f"Nemotron.{name}")
                setattr(cfg, name, value)
            except ConfigurationError as exc:
                raise UsageError(f"%nemotron config: {exc.message}") from None
            except TraitError as exc:
                message = str(exc).splitlines()[0] if str(exc) else f"bad value for {name}"
                raise UsageError(f"%nemotron config: {message}") from None
        print(redact("nemotron: " + ", ".join(f"{name} = {getattr(cfg, name)!r}" for name in updates)))
        return None

    def _reset(self, names: list[str]) -> None:
        existing = _session.sessions()
        if not names:
            total = sum(len(s) for s in existing.values())
            for name in existing:
                _session.drop_session(name)
            print(f"nemotron: forgot {len(existing)} conversation(s), {total} turn(s)")
            return None
        unknown = [n for n in names if n not in existing]
        if unknown:
            have = ", ".join(existing) or "none yet"
            raise UsageError(
                f"%nemotron reset: no conversation named {', '.join(map(repr, unknown))} (existing: {have})"
            )
        for name in names:
            turns = len(_session.drop_session(name))
            print(f"nemotron: forgot conversation {name!r} ({turns} turn(s))")
        return None


# --------------------------------------------------------------------------- loading

_LOADED: dict[int, tuple[NemotronMagics, Nemotron]] = {}


def load_ipython_extension(ip: Any) -> None:
    """Register the magics and the ``Nemotron`` configurable; nothing else is touched."""
    if id(ip) in _LOADED:
        return
    remember_config_file_values(ip.config)  # before %config can merge into it: what reset returns to
    configurable = Nemotron(parent=ip)
    configurable.push_all()  # values from ipython_config.py reach the library settings now
    ip.configurables.append(configurable)
    magics = NemotronMagics(ip, configurable)
    ip.register_magics(magics)
    _LOADED[id(ip)] = (magics, configurable)
    from ._frontend import frontends

    frontends.announce(ip)  # a page with our JupyterLab extension then gets appends, not HTML


def unload_ipython_extension(ip: Any) -> None:
    """Remove what loading added (``%reload_ext nemotron_magics`` starts clean; conversations stay)."""
    loaded = _LOADED.pop(id(ip), None)
    if loaded is None:
        return
    magics, configurable = loaded
    from ._config import settings
    from ._frontend import frontends

    frontends.forget()
    settings.unobserve(configurable._follow)
    if configurable in ip.configurables:
        ip.configurables.remove(configurable)
    registry = ip.magics_manager.magics
    for kind in ("line", "cell"):
        if registry[kind].get("nemotron") is not None:
            registry[kind].pop("nemotron", None)
    ip.magics_manager.registry.pop(type(magics).__name__, None)


__all__ = ["Nemotron", "NemotronMagics", "Table", "load_ipython_extension", "unload_ipython_extension"]
