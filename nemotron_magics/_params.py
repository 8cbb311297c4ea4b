"""The rules for every request parameter and every setting, written once.

``chat()``/``stream()``, ``Client(...)``, ``configure()``, the CLI, the traitlets
``Nemotron`` configurable and the ``%%nemotron`` flags all check values here, so a
mistake reads the same wherever it is made (``temperature must be a number between 0
and 2, got 'hot'``), and nothing bad reaches a server. Each surface names the value its
own way (``--temperature``, ``Nemotron.temperature``, ``temperature``) and turns the
:class:`~nemotron_magics.ConfigurationError` into its own error (``UsageError`` in the
magic, ``TraitError`` in traitlets, a usage line in the CLI).

Python callers pass typed values (``temperature=0.2``); the text surfaces (flags, the
CLI, ``%nemotron config``) pass text, which :meth:`Rule.from_text` reads first.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ._errors import ConfigurationError
from ._providers import PROVIDERS

REASONING_MODES: tuple[str, ...] = ("on", "low", "off")
_ESCAPES = {"\\n": "\n", "\\t": "\t", "\\r": "\r", "\\\\": "\\"}
_TRUE, _FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")


def shown(value: Any) -> str:
    """A value as an error message quotes it: short, and one line."""
    try:
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = type(value).__name__
    if len(text) > 40:
        text = text[:37] + "…"
    return repr(text)


# --------------------------------------------------------------------------- value checks
# Each takes a typed value and returns it normalised, or raises ValueError/TypeError.


@dataclass(frozen=True)
class Bounds:
    """A numeric check that also says its range, so a trait or a slider can be made from it."""

    low: float
    high: float
    whole: bool = False
    low_open: bool = False

    def __call__(self, value: Any) -> Any:
        if self.whole:
            if isinstance(value, bool) or not isinstance(value, int):
                if isinstance(value, float) and value.is_integer():
                    value = int(value)  # 4096.0 from a JSON-ish config is still 4096
                else:
                    raise TypeError
            if not self.low <= value <= self.high:
                raise ValueError
            return int(value)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError
        number = float(value)
        low_ok = self.low < number if self.low_open else self.low <= number
        if not math.isfinite(number) or not low_ok or number > self.high:
            raise ValueError
        return number


def _number(low: float, high: float, *, low_open: bool = False) -> Bounds:
    return Bounds(low, high, low_open=low_open)


def _whole(low: int, high: int) -> Bounds:
    return Bounds(low, high, whole=True)


@dataclass(frozen=True)
class Choice:
    """One of a few words (case and spaces forgiven); the words are what a menu offers."""

    values: tuple[str, ...]

    def __call__(self, value: Any) -> str:
        if not isinstance(value, str) or value.strip().lower() not in self.values:
            raise ValueError
        return value.strip().lower()


def _choice(*values: str) -> Choice:
    return Choice(tuple(values))


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError
    return value


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError
    return value


def _stop(value: Any) -> str | list[str]:
    items = value if isinstance(value, list | tuple) else [value]
    if not items or not all(isinstance(i, str) and i for i in items):
        raise ValueError
    return list(items) if isinstance(value, list | tuple) else value


def _mapping(value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise TypeError
    return dict(value)


def _extra_body(value: Any) -> dict[str, Any]:
    body = _mapping(value)
    if "guided_json" in body:
        raise ConfigurationError(
            "guided_json is silently ignored by vLLM ≥ 0.12: use response_format={'type': 'json_schema', …}"
        )
    return body


def _response_format(value: Any) -> dict[str, Any]:
    fmt = _mapping(value)
    if fmt.get("type") not in ("json_object", "json_schema", "text"):
        raise ValueError
    return fmt


def _schema(value: Any) -> Any:
    from ._schema import as_schema

    return as_schema(value)


def _tools(value: Any) -> list[Any]:
    if not isinstance(value, list | tuple) or not value:
        raise TypeError
    return list(value)


def _tool_choice(value: Any) -> str | dict[str, Any]:
    if isinstance(value, str) and value in ("auto", "none", "required"):
        return value
    return _mapping(value)


def _url(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError
    url = value.strip()
    try:
        parts = urlsplit(url)
        ok = (
            parts.scheme in ("http", "https")
            and bool(parts.hostname)
            and (parts.port is None or parts.port > 0)
        )
    except ValueError:  # a port that is not a number
        ok = False
    if not ok or any(c.isspace() for c in url):
        raise ValueError
    return url.rstrip("/")


# --------------------------------------------------------------------------- reading text


def _unescape(text: str) -> str:
    return re.sub(r"\\[ntr\\]", lambda m: _ESCAPES[m.group(0)], text)


def _no_constant(name: str) -> Any:
    raise ValueError(name)


def read_json(text: Any) -> Any:
    """Text as JSON when it parses (``40``, ``true``, ``{"sort": "price"}``), else the text itself."""
    if not isinstance(text, str):
        return text  # already a value (a --param parsed as JSON)
    try:
        return json.loads(text, parse_constant=_no_constant)  # NaN/Infinity are no JSON a server takes
    except ValueError:
        return text


def _reader(convert: Callable[[str], Any]) -> Callable[[Any], Any]:
    """Text through ``convert`` (stripped); text it cannot read, and values, pass on to the check."""

    def read(text: Any) -> Any:
        if not isinstance(text, str):
            return text
        try:
            return convert(text.strip())
        except ValueError:
            return text

    return read


_read_float, _read_int = _reader(float), _reader(int)


def _read_bool(text: Any) -> Any:
    if not isinstance(text, str):
        return text
    low = text.strip().lower()
    return True if low in _TRUE else False if low in _FALSE else text


def _read_stop(text: Any) -> Any:
    if isinstance(text, list):
        return [_unescape(t) if isinstance(t, str) else t for t in text]
    return _unescape(text) if isinstance(text, str) else text


def _as_is(text: Any) -> Any:
    return text


# --------------------------------------------------------------------------- the rules


@dataclass(frozen=True)
class Rule:
    """One parameter or setting: what it accepts, how to read it from text, what it means."""

    name: str
    #: Completes "NAME must be …" (or "needs …" when ``needs``).
    what: str
    check: Callable[[Any], Any]
    read: Callable[[Any], Any] = read_json
    help: str = ""
    needs: bool = False
    #: A setting that may be ``None`` (meaning: the provider's or the library's default).
    optional: bool = True

    @property
    def kind(self) -> str:
        """What the value is, for a surface that derives a control or a trait: ``float``, ``int``,
        ``choice``, ``text``, ``bool`` or ``value`` (anything the check takes)."""
        check = self.check
        if isinstance(check, Bounds):
            return "int" if check.whole else "float"
        if isinstance(check, Choice):
            return "choice"
        if check in (_text, _url):
            return "text"
        return "bool" if check is _boolean else "value"

    def fail(self, value: Any, label: str | None = None) -> ConfigurationError:
        verb = "needs" if self.needs else "must be"
        return ConfigurationError(f"{label or self.name} {verb} {self.what}, got {shown(value)}")

    def validate(self, value: Any, label: str | None = None) -> Any:
        """The value normalised, or a one-line :class:`ConfigurationError` naming ``label``."""
        if value is None and self.optional:
            return None
        try:
            return self.check(value)
        except ConfigurationError:
            raise
        except (TypeError, ValueError):
            raise self.fail(value, label) from None

    def from_text(self, text: Any, label: str | None = None) -> Any:
        """A flag's or a config line's text, read (number, JSON …) and validated.

        A mistake quotes the text as it was typed (``got '0'``, not ``got '0.0'``).
        """
        try:
            value = self.read(text)
            return None if value is None and self.optional else self.check(value)
        except ConfigurationError:
            raise
        except (TypeError, ValueError):
            raise self.fail(text, label) from None


def _rules(*rules: Rule) -> dict[str, Rule]:
    return {r.name: r for r in rules}


#: Request parameters: what ``chat()``, ``stream()``, ``Client(...)``, ``Session`` and the magic accept.
PARAMS: dict[str, Rule] = _rules(
    Rule(
        "temperature",
        "a number between 0 and 2",
        _number(0.0, 2.0),
        _read_float,
        "sampling temperature, 0 to 2 (Nemotron recommends 1.0)",
    ),
    Rule(
        "top_p",
        "a number above 0 and at most 1",
        _number(0.0, 1.0, low_open=True),
        _read_float,
        "nucleus sampling, above 0 and at most 1 (recommended 0.95)",
    ),
    Rule(
        "max_tokens",
        "a whole number of tokens from 1 to 1000000",
        _whole(1, 1_000_000),
        _read_int,
        "longest answer in tokens; reasoning counts against it, so give thousands",
    ),
    Rule("seed", "a whole number", _whole(-(2**63), 2**63 - 1), _read_int, "sampling seed"),
    Rule(
        "stop",
        "non-empty text to stop at (or a list of such texts)",
        _stop,
        _read_stop,
        r"stop generating at TEXT (\n and \t are understood)",
        needs=True,
    ),
    Rule("presence_penalty", "a number between -2 and 2", _number(-2.0, 2.0), _read_float),
    Rule("frequency_penalty", "a number between -2 and 2", _number(-2.0, 2.0), _read_float),
    Rule("logprobs", "true or false", _boolean, _read_bool),
    Rule("top_logprobs", "a whole number from 0 to 20", _whole(0, 20), _read_int),
    Rule(
        "reasoning",
        "one of on, low, off",
        _choice(*REASONING_MODES),
        _as_is,
        "thinking: on, low (low effort) or off",
    ),
    Rule(
        "reasoning_budget",
        "a whole number of reasoning tokens from 0 to 1000000, or -1",
        _whole(-1, 1_000_000),
        _read_int,
        "most reasoning tokens (-1: no limit)",
    ),
    Rule("system", "the system prompt text", _text, _as_is, "system prompt", needs=True),
    Rule("tools", "a non-empty list of tools", _tools),
    Rule("tool_choice", "auto, none, required or a dict naming a tool", _tool_choice),
    Rule("parallel_tool_calls", "true or false", _boolean, _read_bool),
    Rule(
        "response_format",
        'a dict like {"type": "json_schema", "json_schema": {"name": …, "schema": {…}}} '
        'or {"type": "json_object"}',
        _response_format,
    ),
    Rule(
        "schema",
        "a pydantic model, a dataclass, a TypedDict, a JSON-schema dict, or list[...] of one of these",
        _schema,
        help="the structured answer's schema: validated at the end, a DataFrame with to_dataframe()",
    ),
    Rule("extra_body", "a dict of fields sent as they are", _extra_body),
)

#: Process settings (``configure()``, ``Client(...)`` keywords, ``%config Nemotron.…``).
SETTINGS: dict[str, Rule] = _rules(
    Rule(
        "provider",
        f"one of {', '.join(PROVIDERS)}",
        _choice(*PROVIDERS),
        _as_is,
        "provider to use (see %nemotron providers)",
    ),
    Rule(
        "model",
        "a model id",
        _text,
        _as_is,
        "model id (default: the provider's Nemotron 3 Super)",
        needs=True,
    ),
    Rule(
        "base_url",
        "an http:// or https:// URL such as http://127.0.0.1:8000/v1",
        _url,
        _as_is,
        "an OpenAI-compatible endpoint (implies provider local)",
    ),
    Rule(
        "connect_timeout",
        "a positive number of seconds",
        _number(0.0, 86_400.0, low_open=True),
        _read_float,
        "seconds to open a connection",
        optional=False,
    ),
    Rule(
        "read_timeout",
        "a positive number of seconds",
        _number(0.0, 86_400.0, low_open=True),
        _read_float,
        "seconds allowed between two chunks of a stream",
        optional=False,
    ),
    Rule(
        "total_timeout",
        "a positive number of seconds",
        _number(0.0, 7 * 86_400.0, low_open=True),
        _read_float,
        "seconds one request may take in all",
        optional=False,
    ),
    Rule(
        "max_retries",
        "a whole number from 0 to 100",
        _whole(0, 100),
        _read_int,
        "retries before the first byte (429, 5xx, connect errors)",
        optional=False,
    ),
    Rule(
        "max_backoff",
        "a number of seconds from 0 to 3600",
        _number(0.0, 3600.0),
        _read_float,
        "longest wait between two retries, Retry-After included",
        optional=False,
    ),
    Rule(
        "max_event_bytes",
        "a whole number of bytes from 1024 to 1073741824",
        _whole(1024, 1 << 30),
        _read_int,
        "largest server-sent event accepted",
        optional=False,
    ),
    Rule(
        "store",
        "off, or the path of a SQLite file",
        _text,
        _as_is,
        "where history, the response cache and usage are kept: a file path, or off "
        "(default: NEMOTRON_STORE, else Jupyter's data directory)",
        needs=True,
    ),
)

#: The request parameters that are also notebook-wide defaults (``Nemotron.temperature``, the panel).
DEFAULT_PARAMS: tuple[str, ...] = (
    "temperature",
    "top_p",
    "max_tokens",
    "seed",
    "reasoning",
    "reasoning_budget",
    "system",
)


#: The tool loop's options (``chat(..., tools=[f], max_rounds=…)``, ``--max-rounds``).
LOOP: dict[str, Rule] = _rules(
    Rule(
        "max_rounds",
        "a whole number of rounds from 1 to 100",
        _whole(1, 100),
        _read_int,
        "most rounds of tool calls before the loop gives up (default 8)",
    ),
    Rule(
        "tool_timeout",
        "a positive number of seconds",
        _number(0.0, 86_400.0, low_open=True),
        _read_float,
        "seconds one tool call may take",
    ),
    Rule("confirm", "true or false", _boolean, _read_bool, "ask before every tool call"),
)


#: A batch's own options (``nm.map(…, concurrency=…)``, ``--concurrency``, ``--max-cost``).
BATCH: dict[str, Rule] = _rules(
    Rule("concurrency", "a whole number from 1 to 1000", _whole(1, 1000), _read_int, "rows asked at once"),
    Rule(
        "max_cost",
        "a number of US dollars, 0 or more",
        _number(0.0, 1e9),
        _read_float,
        "stop taking rows once the cost so far reaches it",
    ),
)


def check_params(params: Mapping[str, Any], *, label: Callable[[str], str] = str) -> dict[str, Any]:
    """Validated request parameters (``None`` values dropped); one line for the first mistake.

    ``label`` names a parameter in the message the way the caller's surface does.
    """
    unknown = sorted(set(params) - set(PARAMS))
    if unknown:
        raise ConfigurationError(
            f"Unknown parameter {', '.join(map(repr, unknown))}: pass provider-specific fields in "
            "extra_body={...}"
        )
    return {
        name: PARAMS[name].validate(value, label(name)) for name, value in params.items() if value is not None
    }


def check_setting(name: str, value: Any, label: str | None = None) -> Any:
    rule = SETTINGS.get(name)
    if rule is None:
        raise ConfigurationError(
            f"Unknown setting {name!r}: choose from {', '.join(sorted(SETTINGS))}, params"
        )
    return rule.validate(value, label)


__all__ = [
    "BATCH",
    "DEFAULT_PARAMS",
    "LOOP",
    "PARAMS",
    "REASONING_MODES",
    "SETTINGS",
    "Bounds",
    "Choice",
    "Rule",
    "check_params",
    "check_setting",
    "read_json",
    "shown",
]
