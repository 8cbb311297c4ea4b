"""One turn's tool calls, run concurrently; every failure becomes a message the model can act on.

The model's text is data here, never code: a call names a registered :class:`~._tools.Tool` or it
is reported as unknown, and its arguments are validated against the tool's schema before anything
runs. Whatever happens (bad JSON, wrong arguments, an exception, a timeout, a denial) the call
still yields a :class:`ToolOutcome` whose ``result`` goes back to the model as the tool message,
so it can retry or carry on, and the other calls of the turn go on.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import json
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from ._secrets import one_line
from ._tool_schema import ToolArgumentError

if TYPE_CHECKING:
    from ._tools import Tool

Status = Literal["done", "error", "timeout", "denied", "invalid", "unknown"]
#: (tool, or None when the name matches none; call id; name; parsed arguments; JSON parse error)
Call = tuple["Tool | None", str, str, "dict[str, Any] | None", "str | None"]
Approve = Callable[["Tool", "dict[str, Any]"], "Awaitable[bool] | bool"]

#: The most characters of a non-string result the model gets back (the rest is cut, and it is told).
MAX_RESULT_CHARS = 20_000
#: Rows of a DataFrame shown to the model.
MAX_FRAME_ROWS = 50
#: An error message's length in a result and on a card.
_ERROR_LIMIT = 2_000


@dataclass
class ToolOutcome:
    """What one call came to: ``result`` goes back to the model; ``error`` is for the user's card."""

    call_id: str
    name: str
    status: Status
    result: str
    value: Any = None
    error: str | None = None
    duration: float = 0.0


async def run_calls(
    calls: Sequence[Call],
    *,
    timeout: float | None,
    approve: Approve | None,
    confirm: bool = False,
    available: Iterable[str] | None = None,
) -> list[ToolOutcome]:
    """Run a turn's calls at the same time; outcomes come back in the order of ``calls``.

    ``approve`` is asked (one call at a time, in call order, while the others already run) for each
    tool marked ``confirm=True``, or for every tool when ``confirm`` is true. ``available`` names the
    tools the model may call, for the "unknown tool" message (default: the tools among ``calls``).
    """
    names = sorted(set(available) if available is not None else {c[0].name for c in calls if c[0]})
    asking = asyncio.Lock()  # FIFO: approvals appear one by one, in the order of the calls
    jobs = [
        _run_one(call, timeout=timeout, approve=approve, confirm=confirm, names=names, asking=asking)
        for call in calls
    ]
    return list(await asyncio.gather(*jobs))


async def _run_one(
    call: Call,
    *,
    timeout: float | None,
    approve: Approve | None,
    confirm: bool,
    names: list[str],
    asking: asyncio.Lock,
) -> ToolOutcome:
    tool, call_id, name, arguments, parse_error = call
    if tool is None:
        listed = ", ".join(names) if names else "none"
        return ToolOutcome(
            call_id, name, "unknown",
            f"Unknown tool {name!r}: there is no tool by that name. Available tools: {listed}.",
            error=f"unknown tool {name!r}",
        )  # fmt: skip
    if parse_error is not None:
        text = one_line(
            f"Invalid arguments for tool {name!r}: they are not valid JSON ({parse_error}). Send one JSON "
            "object that matches the tool's parameters.",
            _ERROR_LIMIT,
        )
        return ToolOutcome(call_id, name, "invalid", text, error=text)
    try:
        values = tool.validate(arguments if arguments is not None else {})
    except ToolArgumentError as exc:
        text = f"{exc.message} Fix the arguments and call the tool again."
        return ToolOutcome(call_id, name, "invalid", text, error=exc.message)

    if approve is not None and (confirm or tool.confirm):
        async with asking:
            try:
                verdict = approve(tool, dict(arguments or {}))
                approved = bool(await verdict) if isinstance(verdict, Awaitable) else bool(verdict)
                why = "the user declined"
            except Exception as exc:  # no terminal, a widget that broke: never run without a yes
                approved, why = (
                    False,
                    one_line(f"approval failed ({type(exc).__name__}: {exc})", _ERROR_LIMIT),
                )
        if not approved:
            return ToolOutcome(
                call_id, name, "denied",
                f"The user did not approve this call of {name!r} ({why}); it was not run. Do not call it "
                "again unless the user asks; carry on without it or ask the user.",
                error=f"not approved: {why}",
            )  # fmt: skip

    limit = tool.timeout if tool.timeout is not None else timeout
    started = time.perf_counter()
    try:
        # A sync tool runs in a thread that cannot be killed: on timeout the loop moves on and the
        # thread's eventual result is dropped (see _tools.run_in_thread). Async and MCP calls are cancelled.
        value = await asyncio.wait_for(tool.acall(values), limit)
    except asyncio.TimeoutError:
        took = time.perf_counter() - started
        return ToolOutcome(
            call_id, name, "timeout",
            f"Timed out: {name!r} did not finish within {limit:g} s and was abandoned. Try a smaller "
            "request, or carry on without it.",
            error=f"timed out after {limit:g} s", duration=took,
        )  # fmt: skip
    except (Exception, SystemExit) as exc:  # a tool's failure is the model's news, not the user's traceback
        took = time.perf_counter() - started
        text = one_line(f"{type(exc).__name__}: {exc}", _ERROR_LIMIT)
        return ToolOutcome(call_id, name, "error", text, error=text, duration=took)
    took = time.perf_counter() - started
    try:
        text = serialise_result(value)
    except Exception as exc:  # a value whose repr itself raises
        text = one_line(f"(the result could not be shown: {type(exc).__name__}: {exc})", _ERROR_LIMIT)
    return ToolOutcome(call_id, name, "done", text, value=value, duration=took)


def serialise_result(value: Any, limit: int = MAX_RESULT_CHARS) -> str:
    """A tool's return value as the text the model reads.

    Strings go as they are; JSON-shaped values (and pydantic models, dataclasses, enums) as JSON; a
    DataFrame as a bounded CSV preview that says how much was left out; anything else as its repr.
    Everything but a string is cut at ``limit`` characters, with a note saying so.
    """
    if isinstance(value, str):
        return value
    frame = _frame_preview(value)
    if frame is not None:
        return _bounded(frame, limit)
    if value is None or isinstance(value, (bool, int, float)):
        return json.dumps(value)
    if isinstance(value, (dict, list, tuple)):
        try:
            return _bounded(json.dumps(value, ensure_ascii=False, allow_nan=False), limit)
        except (TypeError, ValueError):
            pass  # a model or a datetime inside: pydantic knows them
    if _pydantic_jsonable(value):
        import pydantic_core

        try:
            text = pydantic_core.to_json(value, fallback=repr).decode()
            return _bounded(text, limit)
        except Exception:  # fall through to repr
            pass
    return _bounded(repr(value), limit)


def _pydantic_jsonable(value: Any) -> bool:
    if isinstance(value, (dict, list, tuple, set, frozenset, enum.Enum)):
        return True
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return True
    return hasattr(type(value), "model_dump_json") or type(value).__module__ in (
        "datetime",
        "decimal",
        "uuid",
    )


def _frame_preview(value: Any) -> str | None:
    """A DataFrame (or Series) as CSV: its shape, then at most MAX_FRAME_ROWS rows."""
    pandas = sys.modules.get("pandas")  # a frame can only exist if pandas is loaded: never import it
    if pandas is None:
        return None
    if isinstance(value, pandas.Series):
        value = value.to_frame()
    if not isinstance(value, pandas.DataFrame):
        return None
    rows, cols = value.shape
    head = f"DataFrame: {rows} rows × {cols} columns"
    body = value.head(MAX_FRAME_ROWS).to_csv()
    if rows > MAX_FRAME_ROWS:
        return f"{head} (first {MAX_FRAME_ROWS} shown; {rows - MAX_FRAME_ROWS} rows left out)\n{body}"
    return f"{head}\n{body}"


def _bounded(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit]}\n… [{len(text) - limit} more characters left out]"


__all__ = ["MAX_RESULT_CHARS", "Call", "ToolOutcome", "run_calls", "serialise_result"]
