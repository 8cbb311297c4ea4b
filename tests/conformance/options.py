"""The scenario/options segment of the URL: names, types, aliases, and the encoding both ways.

Everything a test chooses travels in the base_url path, because that is all a client lets us choose.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, unquote

from .batch import BATCH_SCENARIOS
from .faults import ERROR_EVENTS, ERROR_KINDS, SHAPES
from .tools import DIALECTS, SCENARIOS

# option name -> converter; unknown names are refused so a typo in a test fails loudly.
OPTIONS: dict[str, type] = {
    "split": int,
    "delay": float,
    "framing": str,
    "fail": int,
    "status": int,
    "error": str,
    "retry_after": str,
    "style": str,
    "reset": int,
    "drop": int,
    "reset_after": int,
    "stall": float,
    "after": int,
    "truncate": int,
    "hangup": int,
    "partial": int,
    "malformed": int,
    "error_event": int,
    "error_style": str,
    "model": str,
    "n": int,
    "r": int,
    "chars": int,
    "rchars": int,
    "chunk": int,
    "rate": float,
    "shape": str,
    "pad": int,
    "retry_after_ms": str,
    "mb": int,
    "dialect": str,
    "parallel": int,
    "cut": int,
    "rows": int,
    # batches (batch.py): admission control and per-request pacing
    "latency": float,
    "slots": int,
    "window": float,
    "queue": int,
    "hold": int,
    "fail_on": str,
}

# alias -> (scenario it plays, default options); explicit options win over these defaults.
ALIASES: dict[str, tuple[str, dict[str, Any]]] = {
    "reset": ("nvidia", {"reset": 1}),
    "drop": ("nvidia", {"drop": 1}),
    "stall": ("nvidia", {"stall": 30.0, "after": 2}),
    "truncate": ("nvidia", {"truncate": 4}),
    "hangup": ("nvidia", {"hangup": 4}),
    "malformed": ("nvidia", {"malformed": 3}),
    "error_event": ("nvidia", {"error_event": 4}),
    "bad_request": ("nvidia", {"error": "bad_request"}),
    "context_length": ("nvidia", {"error": "context_length"}),
    "unauthorized": ("nvidia", {"error": "unauthorized"}),
    "forbidden": ("nvidia", {"error": "forbidden"}),
    "model_not_found": ("nvidia", {"error": "model_not_found"}),
    "rate_limited": ("nvidia", {"error": "rate_limited", "retry_after": "1"}),
    "server_error": ("nvidia", {"error": "server_error"}),
    "overloaded": ("nvidia", {"error": "overloaded"}),
    "bad_gateway": ("nvidia", {"error": "bad_gateway"}),
    "cloudflare_error": ("cloudflare_native", {"error": "cloudflare"}),
    "slow": ("long", {"chars": 4000, "rchars": 400, "rate": 2000.0}),
    "trickle": ("nvidia", {"split": 1, "delay": 1.0}),
}
GENERATORS = ("big", "long", "giant", "table", *BATCH_SCENARIOS)
#: Multi-round tool scenarios (``tools.py``): the server checks the history before each round.
TOOL_SCENARIOS = tuple(SCENARIOS)


# --------------------------------------------------------------------------- option encoding


_CHOICES: dict[str, tuple[str, ...]] = {
    "framing": ("chunked", "length", "close"),
    "style": ("nvidia", "openai", "openrouter", "text"),
    "error_style": tuple(ERROR_EVENTS),
    "shape": tuple(SHAPES),
    "dialect": DIALECTS,
}


def check_options(opts: dict[str, Any]) -> dict[str, Any]:
    """Refuse unknown names and values (a typo in a test must fail loudly); returns typed options."""
    unknown = sorted(set(opts) - set(OPTIONS))
    if unknown:
        raise ValueError(f"unknown conformance option(s) {unknown}; known: {sorted(OPTIONS)}")
    typed = {k: OPTIONS[k](int(v) if isinstance(v, bool) else v) for k, v in opts.items()}
    for key, allowed in _CHOICES.items():
        if key in typed and typed[key] not in allowed:
            raise ValueError(f"option {key}={typed[key]!r}: expected one of {allowed}")
    if "error" in typed and typed["error"] not in ERROR_KINDS:
        raise ValueError(f"option error={typed['error']!r}: expected one of {sorted(ERROR_KINDS)}")
    if "cut" in typed and typed["cut"] < 0:
        raise ValueError(f"option cut={typed['cut']!r}: expected a position >= 0")
    return typed


def encode_options(opts: dict[str, Any]) -> str:
    """Render options as the URL segment (sorted, so one set of options is one fail-counter key)."""
    check_options(opts)
    parts = []
    for key in sorted(opts):
        value = int(opts[key]) if isinstance(opts[key], bool) else opts[key]
        parts.append(f"{quote(key, safe='')}={quote(str(value), safe='')}")
    return ",".join(parts) or "-"


def decode_options(segment: str) -> dict[str, Any]:
    """Parse the URL segment back into typed options; raises ValueError on unknown names or bad values."""
    opts: dict[str, str] = {}
    if segment not in ("", "-"):
        for part in filter(None, segment.split(",")):
            key, sep, value = part.partition("=")
            opts[unquote(key)] = unquote(value) if sep else "1"
    return check_options(opts)
