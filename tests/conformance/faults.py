"""Faults: provider-like HTTP error bodies, and the in-stream damage (bad events, cut streams).

Each error body copies a real provider's shape, because clients tend to parse exactly one shape and
print the rest raw; the 401 bodies echo the key so a test can prove the client redacts it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from http import HTTPStatus
from typing import Any

from .streams import DONE, transcript_bytes

JSON_TYPE = "application/json"


_NGINX_502 = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)


def _openai_error(message: str, etype: str, code: Any, param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": etype, "param": param, "code": code}}


def _error_unauthorized(ctx: dict[str, Any]) -> Any:
    # Echo the key back, as careless gateways do: the client must redact it from anything it shows.
    # ``pad`` puts that many filler characters before it, so a test can walk the key across a cut.
    key = "." * int(ctx.get("pad") or 0) + ctx["key"]
    style = ctx.get("style") or "nvidia"
    if style == "text":
        return (key + "." * 40 + " is not a valid key").encode()  # a plain-text body, served as text
    if style == "openai":
        return _openai_error(
            f"Incorrect API key provided: {key}. You can find your API key in your account settings.",
            "invalid_request_error",
            "invalid_api_key",
        )
    if style == "openrouter":
        return {"error": {"message": f"No auth credentials found for key {key}", "code": 401}}
    return {
        "status": 401,
        "title": "Unauthorized",
        "detail": f"Authentication failed: invalid bearer token '{key}'",
    }


ERROR_KINDS: dict[str, tuple[int, Any]] = {
    "bad_request": (
        400,
        lambda c: _openai_error(
            "Invalid value for 'temperature': must be between 0 and 2, got 3.5.",
            "invalid_request_error",
            "invalid_value",
            "temperature",
        ),
    ),
    "context_length": (
        400,
        lambda c: _openai_error(
            "This model's maximum context length is 262144 tokens. However, you requested 300000 tokens "
            "(296000 in the messages, 4000 in the completion). Please reduce the length of the messages or "
            "completion.",
            "BadRequestError",
            400,
        ),
    ),
    "unauthorized": (401, _error_unauthorized),
    "forbidden": (
        403,
        lambda c: {
            "status": 403,
            "title": "Forbidden",
            "detail": f"Authorization failed: no access to function {c['model']}",
        },
    ),
    "model_not_found": (
        404,
        lambda c: _openai_error(f"The model `{c['model']}` does not exist.", "NotFoundError", 404, "model"),
    ),
    "timeout": (
        408,
        lambda c: {"error": {"message": "Request timed out before the model answered.", "code": 408}},
    ),
    "conflict": (
        409,
        lambda c: _openai_error("Another request with this idempotency key is in progress.", "conflict", 409),
    ),
    "rate_limited": (
        429,
        lambda c: {
            "error": {
                "message": "Rate limit exceeded: free-models-per-min. ",
                "code": 429,
                "metadata": {
                    "headers": {
                        "X-RateLimit-Limit": "20",
                        "X-RateLimit-Remaining": "0",
                        "X-RateLimit-Reset": "1773842060000",
                    }
                },
            }
        },
    ),
    "server_error": (500, lambda c: _openai_error("Internal server error", "InternalServerError", 500)),
    "bad_gateway": (502, lambda c: _NGINX_502),
    "overloaded": (
        503,
        lambda c: _openai_error(
            "The model is overloaded. Please try again later.", "ServiceUnavailableError", 503
        ),
    ),
    "gateway_timeout": (504, lambda c: {"error": {"message": "Upstream timed out", "code": 504}}),
    "cloudflare": (400, lambda c: transcript_bytes("cloudflare_error")),
}
_KIND_BY_STATUS = {
    status: kind for kind, (status, _) in reversed(list(ERROR_KINDS.items())) if kind != "cloudflare"
}


def error_response(status: int | None, kind: str | None, ctx: dict[str, Any]) -> tuple[int, str, bytes]:
    """(status, content type, body) of a provider-like HTTP error."""
    if kind is not None and kind not in ERROR_KINDS:
        raise ValueError(f"unknown error kind {kind!r}; known: {sorted(ERROR_KINDS)}")
    kind = kind or _KIND_BY_STATUS.get(status or 503)
    if kind is None:
        phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
        code, body = status or 503, _openai_error(phrase, "error", status)
    else:
        code, make = ERROR_KINDS[kind]
        body = make(ctx)
    code = status or code
    if isinstance(body, bytes):
        return code, "text/plain" if kind == "unauthorized" else JSON_TYPE, body
    if isinstance(body, str):
        return code, "text/html", body.encode()
    return code, JSON_TYPE, json.dumps(body, ensure_ascii=False).encode()


MALFORMED_EVENT = (
    b'data: {"id":"chatcmpl-bad","object":"chat.completion.chunk","choices":[{"index":0,'
    b'"delta":{"content":"oops\n\n'
)
ERROR_EVENTS: dict[str, tuple[bytes, bool]] = {  # style -> (event, followed by [DONE])
    "plain": (
        b'data: {"error": {"message": "Upstream provider error: connection reset by peer", "code": 500}}\n\n',
        True,
    ),
    "vllm": (
        b'data: {"error": {"object": "error", "message": "CUDA error: an illegal memory access was '
        b'encountered", "type": "InternalServerError", "param": null, "code": 500}}\n\n',
        True,
    ),
    "openrouter": (
        b'data: {"id":"gen-1773842000-err","object":"chat.completion.chunk","created":1773842000,'
        b'"model":"nvidia/nemotron-3-super-120b-a12b","provider":"Nebius","error":{"code":'
        b'"server_error","message":"Provider disconnected unexpectedly"},"choices":[{"index":0,'
        b'"delta":{"content":""},"finish_reason":"error","native_finish_reason":"error"}]}\n\n',
        False,
    ),
}


def _event(obj: Any) -> bytes:
    return b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n"


def _delta(delta: Any) -> bytes:
    return _event(
        {
            "id": "chatcmpl-shape",
            "object": "chat.completion.chunk",
            "choices": [{"index": 0, "delta": delta, "finish_reason": None}],
        }
    )


def _usage_event(usage: Any) -> bytes:
    return _event({"id": "chatcmpl-shape", "object": "chat.completion.chunk", "choices": [], "usage": usage})


# Wire shapes a server should not send but some do. ``shape=NAME`` applies one to the stream:
#   ("insert", event)       the event goes in after ``at`` events (default 3: reasoning has begun);
#   ("usage", event)        the event replaces the stream's usage chunk;
#   ("replace", old, new)   bytes ``old`` become ``new`` in every event;
#   ("body", ctype, bytes)  the whole 200 answer is this body (a login page, a model list …);
#   ("ctype", ctype)        the real stream, labelled with another content type;
#   ("models", ids)         ``GET …/models`` answers these ids (the stream is untouched).
NVFP4 = "nvidia/NVIDIA-Nemotron-3-Super-120B-A12B-NVFP4"
SHAPES: dict[str, tuple[Any, ...]] = {
    "delta_string": ("insert", _delta("oops")),
    "content_number": ("insert", _delta({"content": 42})),
    "choices_null": ("insert", _event({"id": "chatcmpl-shape", "choices": [None]})),
    "function_string": (
        "insert",
        _delta({"tool_calls": [{"index": 0, "id": "call_1", "function": "get_weather"}]}),
    ),
    "tool_index_string": (
        "insert",
        _delta(
            {
                "tool_calls": [
                    {"index": "0", "id": "call_1", "function": {"name": "get_weather", "arguments": "{}"}}
                ]
            }
        ),
    ),
    "details_strings": ("insert", _delta({"reasoning_details": ["a", "b"]})),
    "response_object": ("insert", _event({"response": {"text": "x"}})),
    "response_number": ("insert", _event({"response": 42})),
    "finish_number": ("replace", b'"finish_reason":"stop"', b'"finish_reason":3'),
    "cost_string": ("usage", _usage_event({"prompt_tokens": 24, "completion_tokens": 61, "cost": "n/a"})),
    "tokens_string": (
        "usage",
        _usage_event(
            {
                "prompt_tokens": "12",
                "completion_tokens": 61,
                "completion_tokens_details": {"reasoning_tokens": "lots"},
                "prompt_tokens_details": {"cached_tokens": -5},
            }
        ),
    ),
    "usage_list": ("usage", _usage_event([24, 61])),
    "html_page": (
        "body",
        "text/html; charset=utf-8",
        b"<!DOCTYPE html>\n<html><head><title>Sign in \xc2\xb7 Example SSO</title></head>"
        b"<body><form action=/login><input name=user></form></body></html>\n",
    ),
    "html_unlabelled": (
        "body",
        "text/plain",
        b"\n  <html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>",
    ),
    "not_completion": (
        "body",
        "application/json",
        b'{"object": "list", "data": [{"id": "nvidia/nemotron-3-super-120b-a12b"}]}',
    ),
    "envelope_errors_string": (
        "body",
        "application/json",
        b'{"result": null, "success": false, "errors": "boom", "messages": []}',
    ),
    "sse_unlabelled": ("ctype", "text/plain"),
    "sse_as_json": ("ctype", "application/json"),
    "model_ids": ("models", [7, None, "", ["x"], {"id": 3}, NVFP4]),
    "model_ids_none": ("models", [7, None, False]),
}


def giant_line_events(mb: int) -> Iterator[bytes]:
    """A good start, then one ``data:`` line of ``mb`` MiB that never ends (written 1 MiB at a time)."""
    yield _delta({"role": "assistant", "content": ""})
    yield _delta({"content": "Hello"})
    yield b'data: {"choices":[{"index":0,"delta":{"content":"'
    piece = b"a" * (1 << 20)
    for _ in range(mb):
        yield piece


def apply_shape(events: list[bytes], weights: list[int], shape: str) -> tuple[list[bytes], list[int]]:
    """The stream with one bad shape applied (``insert``/``usage``/``replace``); other kinds leave it."""
    kind, *args = SHAPES[shape]
    events, weights = list(events), list(weights)
    if kind == "insert":
        events.insert(min(3, len(events)), args[0])
        weights.insert(min(3, len(weights)), 0)
    elif kind == "usage":
        at = next((i for i in range(len(events) - 1, -1, -1) if b'"usage"' in events[i]), len(events) - 1)
        events[at] = args[0]
    elif kind == "replace":
        events = [e.replace(args[0], args[1]) for e in events]
    return events, weights


def apply_faults(
    events: list[bytes], weights: list[int], opts: dict[str, Any], ctx: dict[str, Any] | None = None
) -> tuple[list[bytes], list[int], str | None]:
    """Insert bad events and cut the stream where the options say; returns the cut's name.

    With ``pad`` (and the key in ``ctx``), the malformed event echoes the key after ``pad`` characters.
    """
    events, weights = list(events), list(weights)
    if "shape" in opts:
        events, weights = apply_shape(events, weights, opts["shape"])
    if "malformed" in opts:
        bad = MALFORMED_EVENT
        if "pad" in opts and ctx is not None:
            bad = b"data: " + b"." * int(opts["pad"]) + ctx["key"].encode() + b"... not JSON\n\n"
        events.insert(int(opts["malformed"]), bad)
        weights.insert(int(opts["malformed"]), 0)
    if "error_event" in opts:
        at = int(opts["error_event"])
        event, done = ERROR_EVENTS[opts.get("error_style", "plain")]
        tail = [event, DONE] if done else [event]
        events, weights = [*events[:at], *tail], [*weights[:at], *[0] * len(tail)]
    for cut in ("truncate", "hangup", "reset_after", "stall"):
        if cut in opts:
            at = int(opts.get("after", 2)) if cut == "stall" else int(opts[cut])
            kept, kept_weights = events[:at], weights[:at]
            if cut in ("truncate", "hangup") and at < len(events):
                size = int(opts.get("partial", max(1, len(events[at]) // 2)))
                if size:
                    kept, kept_weights = [*kept, events[at][:size]], [*kept_weights, 0]
            return kept, kept_weights, cut
    return events, weights, None
