"""A :class:`~nemotron_magics.Response` as a plain JSON-able dict, and back.

The store's history and cache hold this form, so it round-trips exactly: ``from_dict(to_dict(r))``
gives a response whose ``to_dict()`` is the same dict. What cannot travel as JSON stays behind and
is said here: a schema travels as its JSON schema (a caller that has the pydantic model passes it
back with ``schema=``), an error as its one-line message, the live ``retrying`` state not at all.
"""

from __future__ import annotations

from dataclasses import asdict, fields
from typing import TYPE_CHECKING, Any

from ._events import Usage

if TYPE_CHECKING:
    from ._response import Response
    from ._schema import Schema

#: Bump when the dict changes incompatibly: an old cache entry is then a miss, never a wrong answer.
VERSION = 1
_TIMINGS = ("sent_at", "first_byte", "first_reasoning", "first_answer", "done")
_CALL_FIELDS = ("index", "id", "name", "arguments_text", "arguments", "error", "status", "result", "duration")


def to_dict(r: Response) -> dict[str, Any]:
    """Everything a reader of the response sees, as JSON types."""
    rounds = r.rounds[:-1] if r.rounds and r.rounds[-1] is r else r.rounds
    schema = r.schema
    return {
        "version": VERSION,
        "provider": r.provider,
        "model": r.model,
        "request": r.request,
        "reasoning_mode": r.reasoning_mode,
        "content": r.content,
        "reasoning": r.reasoning,
        "tool_calls": [{name: getattr(c, name) for name in _CALL_FIELDS} for c in r.tool_calls],
        "usage": asdict(r.usage) if r.usage is not None else None,
        "finish_reason": r.finish_reason,
        "timings": {name: getattr(r.timings, name) for name in _TIMINGS},
        "error": r.error.message if r.error is not None else None,
        "error_type": type(r.error).__name__ if r.error is not None else None,
        "reasoning_details": r.reasoning_details,
        "notices": list(r.notices),
        "done": r.done,
        # A tool loop's answer is its last round: the earlier rounds travel, the answer is this dict.
        "rounds": [to_dict(x) for x in rounds],
        "answer_is_last_round": bool(r.rounds) and r.rounds[-1] is r,
        "schema": {"name": schema.name, "json_schema": schema.json_schema} if schema is not None else None,
        "validation_errors": list(r.validation_errors),
        "repairs": list(r.repairs),
        "cached": r.cached,
    }


def from_dict(data: dict[str, Any], *, schema: Schema | None = None) -> Response:
    """The response ``data`` describes; ``schema`` (the caller's own) replaces the stored JSON schema."""
    from . import _errors
    from ._response import Response, ToolCall
    from ._schema import Schema

    if data.get("version") != VERSION:
        raise ValueError(f"not a Response dict of version {VERSION}: {data.get('version')!r}")
    r = Response(
        provider=data["provider"],
        model=data["model"],
        request=data["request"],
        reasoning_mode=data["reasoning_mode"],
    )
    r._content = [data["content"]] if data["content"] else []
    r._reasoning = [data["reasoning"]] if data["reasoning"] else []
    for call in data["tool_calls"]:
        r._tool_calls[call["index"]] = ToolCall(**{name: call[name] for name in _CALL_FIELDS})
    usage = data["usage"]
    r.usage = Usage(**{f.name: usage[f.name] for f in fields(Usage)}) if usage is not None else None
    r.finish_reason = data["finish_reason"]
    for name in _TIMINGS:
        setattr(r.timings, name, data["timings"][name])
    if data["error"] is not None:
        kind = getattr(_errors, str(data["error_type"]), None)
        cls = (
            kind if isinstance(kind, type) and issubclass(kind, _errors.StreamError) else _errors.StreamError
        )
        error = cls(data["error"])
        error.response = r
        r.error = error
    r.reasoning_details = list(data["reasoning_details"])
    r.notices = list(data["notices"])
    r.done = data["done"]
    if schema is not None:
        r.schema = schema
    elif data["schema"] is not None:
        r.schema = Schema(data["schema"]["json_schema"], name=data["schema"]["name"])
    r.validation_errors = list(data["validation_errors"])
    r.repairs = list(data["repairs"])
    r.cached = data["cached"]
    r.rounds = [from_dict(x) for x in data["rounds"]]
    if data["answer_is_last_round"]:
        r.rounds.append(r)
    return r


__all__ = ["VERSION", "from_dict", "to_dict"]
