"""The ``%%nemotron`` flags: declared with IPython's ``@magic_arguments``, validated here.

Declared with ``@magic_arguments`` so ``%%nemotron?`` prints real help, but
every value is taken as a string and checked by :func:`parse_cell_line`, so
each mistake gets one line that names the flag and what it accepts
(``--temperature must be a number between 0 and 2, got 'hot'``) instead of
argparse's ``invalid float value``. IPython's parser already turns argparse's
``exit()`` into a :class:`~IPython.core.error.UsageError`; the line is split
here by :func:`split_line`, which keeps JSON values intact and turns an
unbalanced quote into a usage error instead of a ``ValueError`` traceback.
"""

from __future__ import annotations

import argparse
import keyword
import re
from dataclasses import dataclass, field
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic_arguments import argument, magic_arguments

from ._config import FORMATS
from ._errors import ConfigurationError
from ._params import BATCH, LOOP, PARAMS, REASONING_MODES, SETTINGS, Rule, read_json, shown

REASONING = REASONING_MODES
_PARAM_KEY = re.compile(r"^[A-Za-z_][\w.-]*$")
# Parameters the magic itself fills in: a --param for them would silently fight the magic.
_RESERVED = {
    "messages": "write the prompt in the cell",
    "model": "use -m/--model",
    "stream": "the magic always streams; --no-stream only holds the display back",
}
# API parameter -> (its flag, argparse's dest): a --param for it is validated by the flag's rule.
_FLAG_OF_PARAM = {
    "temperature": ("--temperature", "temperature"),
    "top_p": ("--top-p", "top_p"),
    "max_tokens": ("--max-tokens", "max_tokens"),
    "seed": ("--seed", "seed"),
    "stop": ("--stop", "stop"),
    "reasoning": ("--reasoning", "reasoning"),
    "reasoning_budget": ("--budget", "budget"),
    "system": ("--system", "system"),
}

HELP = """Ask Nemotron: the cell is the prompt; the answer streams below it.

Values from the notebook go in with {name}, {obj.attr}, {seq[0]} or {d["key"]};
other braces (code, JSON) are sent as written, and {{name}} sends a literal {name}.
A DataFrame goes in as its shape, column types and first rows.

Examples:

  %%nemotron --reasoning low -o answer
  Explain {df.shape[0]} rows of this table: {df}

  %%nemotron --chat review --format code
  Write a function that parses the log lines above.

  %%nemotron -p openrouter -t 0.3 --param top_k=40 --param 'provider={"sort": "price"}'
  …

Defaults come from %config Nemotron (or ipython_config.py); flags override them for one cell.
Line commands: %nemotron providers | config | chats | reset [NAME] | usage | history | help.

  %%nemotron --over tickets --schema Ticket -o labels
  Classify this support ticket: {text}
"""


def _stub(line: str, cell: str = "") -> None:
    """The parser's carrier: @magic_arguments builds the parser (and the help) on a function."""


_DECLARATIONS = (
    argument(
        "-p",
        "--provider",
        metavar="NAME",
        help="where to send it: nvidia, openrouter, deepinfra, cloudflare, cloudflare-native, local "
        "or embedded (default: %%config Nemotron.provider, else NEMOTRON_PROVIDER, else the first "
        "provider whose API key is set)",
    ),
    argument("-m", "--model", metavar="ID", help="model id (default: the provider's Nemotron 3 Super)"),
    argument(
        "--base-url",
        dest="base_url",
        metavar="URL",
        help="an OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1 (implies --provider local)",
    ),
    argument(
        "-t", "--temperature", metavar="T", help="sampling temperature, 0 to 2 (Nemotron recommends 1.0)"
    ),
    argument(
        "--top-p",
        dest="top_p",
        metavar="P",
        help="nucleus sampling, above 0 and at most 1 (recommended 0.95)",
    ),
    argument(
        "--max-tokens",
        dest="max_tokens",
        metavar="N",
        help="longest answer in tokens; reasoning counts against it, so give thousands",
    ),
    argument("--seed", metavar="N", help="sampling seed, a whole number"),
    argument(
        "--stop",
        action="append",
        metavar="TEXT",
        help=r"stop generating at TEXT (repeatable; \n and \t are understood)",
    ),
    argument("--reasoning", metavar="{on,low,off}", help="thinking: on, low (low effort) or off"),
    argument("--budget", metavar="N", help="most reasoning tokens (-1: no limit)"),
    argument("-s", "--system", metavar="TEXT", help="system prompt (with --chat: for the rest of that chat)"),
    argument(
        "--chat",
        metavar="NAME",
        help="continue the conversation NAME across cells; re-running a cell replaces its earlier turn",
    ),
    argument(
        "--new", action="store_true", help="start the --chat conversation over (its system prompt stays)"
    ),
    argument(
        "-o",
        "--out",
        metavar="VAR",
        help="store the Response in VAR (with --format json: the parsed value; with --schema: "
        "the DataFrame, or the object for a one-object schema)",
    ),
    argument(
        "--format",
        metavar="{markdown,text,json,code}",
        help="markdown (default); text; json: parse the answer into VAR or _nemotron_json; "
        "code: put the code into a new cell below",
    ),
    argument(
        "--schema",
        metavar="NAME",
        help="structured answer: NAME is a pydantic model, dataclass, TypedDict, JSON-schema dict "
        "or list[...] of one in the notebook; validated, shown as a table; -o VAR holds the DataFrame",
    ),
    argument("--json", action="store_true", help="ask for any JSON object (like --format json)"),
    argument(
        "--no-stream",
        dest="no_stream",
        action="store_true",
        help="show the answer only when it is complete (no live updates)",
    ),
    argument(
        "--no-interpolate",
        dest="no_interpolate",
        action="store_true",
        help="send {braces} exactly as written",
    ),
    argument(
        "--tools",
        metavar="NAMES",
        help="comma-separated tools the model may call: functions in the notebook (f,g), an MCP server's "
        "tools (mcp:NAME) or one of them (mcp:NAME.tool); the loop runs them and sends the results back",
    ),
    argument("--max-rounds", dest="max_rounds", metavar="N", help="most rounds of tool calls (default 8)"),
    argument("--tool-timeout", dest="tool_timeout", metavar="S", help="seconds one tool call may take"),
    argument("--confirm", action="store_true", help="ask (Approve / Deny) before every tool call"),
    argument(
        "--over",
        metavar="DF",
        help="run the cell once per row of the DataFrame DF: {column} is that row's value; the answers "
        "come back as a frame with DF's index (live table and progress; -o VAR holds it)",
    ),
    argument("--concurrency", metavar="N", help="with --over: rows asked at once (default 8)"),
    argument(
        "--max-cost",
        dest="max_cost",
        metavar="USD",
        help="with --over: stop taking rows once the cost so far reaches USD",
    ),
    argument(
        "--cache",
        action="store_true",
        help="answer from the response cache when this exact request was answered before (batches do "
        "by default)",
    ),
    argument("--no-cache", dest="no_cache", action="store_true", help="neither read nor fill the cache"),
    argument("--refresh", action="store_true", help="ask again, and replace what the cache holds"),
    argument(
        "--param",
        action="append",
        metavar="KEY=VALUE",
        help="any other API parameter (repeatable); VALUE is JSON when it parses, else a string; "
        "keys the API does not define go into extra_body",
    ),
)
for _declaration in reversed(_DECLARATIONS):
    _stub = _declaration(_stub)
_stub.__doc__ = HELP
#: The argparse parser IPython built (a ``MagicArgumentParser``, with ``%%nemotron?``'s formatter).
PARSER: argparse.ArgumentParser = magic_arguments()(_stub).parser
PARSER.prog = "%nemotron"  # the help formatter adds one more %
#: What ``%%nemotron?`` prints: the usage line, the description and every flag. IPython's help
#: formatter writes reST (a ``::`` literal-block marker before the usage); a reader sees plain text.
CELL_HELP: str = PARSER.format_help().removeprefix("::\n\n").replace("::\n", ":\n")


@dataclass
class CellOptions:
    """A validated ``%%nemotron`` line; ``None`` where the flag was not given."""

    provider: str | None = None
    model: str | None = None
    base_url: str | None = None
    system: str | None = None
    chat: str | None = None
    new: bool = False
    out: str | None = None
    format: str | None = None
    no_stream: bool = False
    no_interpolate: bool = False
    #: --schema NAME, as written (the magic looks it up in the notebook).
    schema: str | None = None
    #: Names from --tools, as written (the magic looks them up in the notebook).
    tools: list[str] = field(default_factory=list)
    #: Tool-loop options from --max-rounds, --tool-timeout and --confirm.
    loop: dict[str, Any] = field(default_factory=dict)
    #: Validated API parameters, from their flags (--temperature …) or --param (keys the API defines).
    params: dict[str, Any] = field(default_factory=dict)
    #: Provider-specific fields from --param, sent in the request body as they are.
    extra_body: dict[str, Any] = field(default_factory=dict)
    #: --over DF, as written (the magic looks it up in the notebook).
    over: str | None = None
    concurrency: int | None = None
    max_cost: float | None = None
    #: --cache (True), --no-cache (False), --refresh ("refresh"), or None: the default.
    cache: bool | str | None = None

    def request_params(self) -> dict[str, Any]:
        """Keyword arguments for ``Client.stream`` / ``Session.stream`` (``None`` ones left out)."""
        out: dict[str, Any] = dict(self.params)
        if self.extra_body:
            out["extra_body"] = {**out.get("extra_body", {}), **self.extra_body}
        return out


# --------------------------------------------------------------------------- value rules
# The rules live in the library (:mod:`._params`); here they are named after the flag.


def _usage(exc: ConfigurationError) -> UsageError:
    return UsageError(exc.message)


def check_value(rule: Rule, value: Any, flag: str) -> Any:
    """A flag's value (text) or a ``--param`` value (JSON) through the library's rule."""
    try:
        return rule.from_text(value, flag)
    except ConfigurationError as exc:
        raise _usage(exc) from None


def check_provider(value: str, flag: str = "--provider") -> str:
    return str(check_value(SETTINGS["provider"], value, flag))


def check_base_url(value: str, flag: str = "--base-url") -> str:
    return str(check_value(SETTINGS["base_url"], value, flag))


def check_identifier(value: str, flag: str = "--out") -> str:
    if not value.isidentifier() or keyword.iskeyword(value):
        raise UsageError(f"{flag} must be a Python variable name, got {shown(value)}")
    return value


def check_chat_name(value: str) -> str:
    from .session import valid_name

    if not valid_name(value):
        raise UsageError(
            f"--chat must be a name of letters, digits, '_', '.' or '-' (up to 64), got {shown(value)}"
        )
    return value


def check_format(value: str) -> str:
    if value.strip().lower() not in FORMATS:
        raise UsageError(f"--format must be one of {', '.join(FORMATS)}, got {shown(value)}")
    return value.strip().lower()


def parse_param(item: str) -> tuple[str, Any]:
    """``KEY=VALUE``; VALUE is JSON when it parses (``40``, ``true``, ``{"sort": "price"}``), else text."""
    key, sep, raw = item.partition("=")
    key = key.strip()
    if not sep or not _PARAM_KEY.match(key):
        raise UsageError(f"--param takes KEY=VALUE (e.g. --param top_k=40), got {shown(item)}")
    if key in _RESERVED:
        raise UsageError(f"--param {key} is not allowed: {_RESERVED[key]}")
    return key, read_json(raw)


def _batch_flags(ns: argparse.Namespace, opts: CellOptions) -> None:
    """--over and its companions; --cache, --no-cache and --refresh (one of them)."""
    chosen = [
        flag
        for flag, on in (("--cache", ns.cache), ("--no-cache", ns.no_cache), ("--refresh", ns.refresh))
        if on
    ]
    if len(chosen) > 1:
        raise UsageError(f"{' and '.join(chosen)} contradict each other: give one")
    if chosen:
        opts.cache = True if chosen[0] == "--cache" else False if chosen[0] == "--no-cache" else "refresh"
    if ns.over is not None:
        name = ns.over.strip()
        if not name.replace(".", "_").isidentifier():
            raise UsageError(f"--over must name a DataFrame in the notebook, got {shown(name)}")
        opts.over = name
        clashes = [
            flag
            for flag, given in (
                ("--chat", opts.chat is not None),
                ("--tools", bool(opts.tools)),
                ("--format", opts.format is not None),
                ("--no-stream", opts.no_stream),
                ("--no-interpolate", opts.no_interpolate),
            )
            if given
        ]
        if clashes:
            raise UsageError(f"--over runs the cell once per row: it does not go with {', '.join(clashes)}")
    if ns.concurrency is not None:
        opts.concurrency = check_value(BATCH["concurrency"], ns.concurrency, "--concurrency")
    if ns.max_cost is not None:
        opts.max_cost = float(check_value(BATCH["max_cost"], ns.max_cost, "--max-cost"))
    if opts.over is None and (opts.concurrency is not None or opts.max_cost is not None):
        flag = "--concurrency" if opts.concurrency is not None else "--max-cost"
        raise UsageError(f"{flag} goes with --over DF (a batch over a DataFrame's rows)")


# --------------------------------------------------------------------------- the line


def split_line(line: str) -> list[str]:
    """Words separated by whitespace; a quote groups only where a value starts.

    A quote opens at the start of a word or right after its first ``=``
    (``-s "be brief"``, ``--system='be brief'``, ``--param key="a b"``); anywhere
    else it is an ordinary character, so ``--param response_format={"type":"json_object"}``
    keeps its JSON and ``-s Don't`` its apostrophe (``shlex`` would strip or choke on
    both). Inside double quotes ``\\"`` and ``\\\\`` are escapes; every other backslash is
    kept, for ``--stop "\\n"`` to mean a newline. An unbalanced quote is a usage error.
    """
    words: list[str] = []
    i, n = 0, len(line)
    while i < n:
        if line[i].isspace():
            i += 1
            continue
        word: list[str] = []
        at_value_start = True
        seen_equals = False
        while i < n and not line[i].isspace():
            ch = line[i]
            if ch in "\"'" and at_value_start:
                end = i + 1
                piece: list[str] = []
                while end < n and line[end] != ch:
                    if ch == '"' and line[end] == "\\" and end + 1 < n and line[end + 1] in '"\\':
                        end += 1
                    piece.append(line[end])
                    end += 1
                if end >= n:
                    raise UsageError(f"%%nemotron: a {ch} quote is not closed in {shown(line)}")
                word.extend(piece)
                i = end + 1
                at_value_start = False
                continue
            word.append(ch)
            at_value_start = ch == "=" and not seen_equals
            seen_equals = seen_equals or ch == "="
            i += 1
        words.append("".join(word))
    return words


def wants_help(argv: list[str]) -> bool:
    return any(a in ("-h", "--help") for a in argv)


def parse_cell_line(line: str) -> CellOptions:
    """Validate a ``%%nemotron`` line; raises :class:`UsageError` (one line) on any mistake."""
    argv = split_line(line)
    try:
        ns = PARSER.parse_args(argv)
    except UsageError as exc:  # argparse's own words quote the input raw: keep them on one line
        message = str(exc).replace("\r", "\\r").replace("\n", "\\n")
        raise UsageError(f"%%nemotron: {message}") from None
    except SystemExit:  # belt and braces: argparse must never end the kernel's cell with SystemExit
        raise UsageError(f"%%nemotron: cannot parse the flags {shown(line)}; see %%nemotron?") from None
    opts = CellOptions(new=ns.new, no_stream=ns.no_stream, no_interpolate=ns.no_interpolate)
    if ns.tools is not None:
        opts.tools = [t.strip() for t in ns.tools.split(",") if t.strip()]
        if not opts.tools:
            raise UsageError("--tools needs names: --tools f,g or --tools mcp:NAME")
    for key, flag in (("max_rounds", "--max-rounds"), ("tool_timeout", "--tool-timeout")):
        if getattr(ns, key) is not None:
            opts.loop[key] = check_value(LOOP[key], getattr(ns, key), flag)
    if ns.confirm:
        opts.loop["confirm"] = True
    if opts.loop and not opts.tools:
        raise UsageError(f"{', '.join('--' + k.replace('_', '-') for k in opts.loop)} go with --tools NAMES")
    if ns.provider is not None:
        opts.provider = check_provider(ns.provider)
    if ns.model is not None:
        opts.model = check_value(SETTINGS["model"], ns.model, "--model").strip()
    if ns.base_url is not None:
        opts.base_url = check_base_url(ns.base_url)
    for key, (flag, dest) in _FLAG_OF_PARAM.items():
        value = getattr(ns, dest)
        if value is not None and key != "system":
            opts.params[key] = check_value(PARAMS[key], value, flag)
    if ns.system is not None:
        opts.system = check_value(PARAMS["system"], ns.system, "--system")
    if ns.chat is not None:
        opts.chat = check_chat_name(ns.chat)
    if ns.new and opts.chat is None:
        raise UsageError("--new starts a named conversation over: give it with --chat NAME")
    if ns.out is not None:
        opts.out = check_identifier(ns.out)
    if ns.format is not None:
        opts.format = check_format(ns.format)
    if ns.json:
        if opts.format not in (None, "json"):
            raise UsageError(f"--json asks for JSON: it does not go with --format {opts.format}")
        opts.format = "json"
    if ns.schema is not None:
        name = ns.schema.strip()
        inner = name[5:-1].strip() if name.startswith("list[") and name.endswith("]") else name
        if not inner.replace(".", "_").isidentifier():
            raise UsageError(
                f"--schema must name a schema in the notebook (Row or list[Row]), got {shown(name)}"
            )
        opts.schema = name
    _batch_flags(ns, opts)
    for item in ns.param or ():
        key, value = parse_param(item)
        flag, dest = _FLAG_OF_PARAM.get(key, ("", ""))
        if flag and getattr(ns, dest) is not None:
            raise UsageError(f"--param {key} repeats {flag}: give it once")
        if key == "system":
            opts.system = check_value(PARAMS["system"], value, "--param system")
        elif key == "extra_body":
            if not isinstance(value, dict):
                raise UsageError(f"--param extra_body must be a JSON object, got {shown(value)}")
            opts.extra_body.update(check_value(PARAMS[key], value, "--param extra_body"))
        elif key in PARAMS:
            opts.params[key] = check_value(PARAMS[key], value, f"--param {key}")
        else:
            opts.extra_body[key] = value
    return opts


__all__ = [
    "CELL_HELP",
    "FORMATS",
    "HELP",
    "PARSER",
    "REASONING",
    "CellOptions",
    "parse_cell_line",
    "split_line",
]
