"""Python functions (and MCP tools) as Nemotron's tools: ``@tool``, :class:`Tool`, :func:`as_tool`.

A :class:`Tool` is what the loop needs and nothing more: a name, a description and a JSON Schema to
send, a validator for what the model answers, and one coroutine to run it. A function tool stays
callable as the function, so decorating code does not change how the rest of a notebook uses it.
Running a turn's calls (concurrency, timeouts, approval, what goes back to the model) lives in
:mod:`._tool_run`; the schema in :mod:`._tool_schema`.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import copy
import functools
import inspect
import threading
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar, overload

from ._errors import ConfigurationError
from ._tool_run import ToolOutcome, run_calls, serialise_result
from ._tool_schema import ToolArgumentError, check_name, describe_function, inline_refs

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True, eq=False)
class Tool:
    """One tool the model may call: what is sent (name, description, parameters) and how it runs.

    Frozen so a tool handed to a conversation cannot change under it; compared and hashed by
    identity, since two tools with equal schemas are still two different callables.
    """

    name: str
    description: str
    parameters: dict[str, Any]
    confirm: bool = False
    timeout: float | None = None
    #: The Python callable behind it (for MCP tools, a blocking stand-in); ``tool(...)`` calls it.
    fn: Callable[..., Any] | None = field(default=None, repr=False)
    #: Runs validated arguments; ``None`` means "call ``fn`` with them".
    invoke: Callable[[dict[str, Any]], Awaitable[Any]] | None = field(default=None, repr=False)
    #: Validates the model's arguments; ``None`` means "accept any JSON object as it is".
    check: Callable[[Mapping[str, Any]], dict[str, Any]] | None = field(default=None, repr=False)
    #: Where it comes from, for listings: ``"python"`` or ``"mcp:NAME"``.
    source: str = "python"
    positional_only: tuple[str, ...] = field(default=(), repr=False)

    def __post_init__(self) -> None:
        check_name(self.name)
        if self.timeout is not None and not self.timeout > 0:
            raise ConfigurationError(f"Tool {self.name!r}: timeout must be a positive number of seconds.")
        if self.fn is None and self.invoke is None:
            raise ConfigurationError(f"Tool {self.name!r} has nothing to run: give it fn= or invoke=.")

    @classmethod
    def from_function(
        cls,
        fn: Callable[..., Any],
        *,
        name: str | None = None,
        description: str | None = None,
        confirm: bool = False,
        timeout: float | None = None,
    ) -> Tool:
        """A tool from a function: schema from its signature and hints, descriptions from its docstring."""
        if isinstance(fn, Tool):  # @tool over @tool: new options, same function
            if fn.fn is None:
                raise ConfigurationError(
                    f"Tool {fn.name!r} is not a Python function and cannot be re-wrapped."
                )
            fn = fn.fn
        tool_name = check_name(name or getattr(fn, "__name__", "") or type(fn).__name__)
        spec = describe_function(fn, name=tool_name)
        made = cls(
            name=tool_name,
            description=spec.description if description is None else description,
            parameters=spec.parameters,
            confirm=confirm,
            timeout=timeout,
            fn=fn,
            check=spec.validate,
            positional_only=spec.positional_only,
        )
        # functools.update_wrapper, through object.__setattr__: the dataclass is frozen. The tool then
        # shows the function's __name__, __doc__ and signature (inspect follows __wrapped__).
        for attr in functools.WRAPPER_ASSIGNMENTS:
            if hasattr(fn, attr):
                object.__setattr__(made, attr, getattr(fn, attr))
        for key, value in getattr(fn, "__dict__", {}).items():
            object.__setattr__(made, key, value)
        object.__setattr__(made, "__wrapped__", fn)
        return made

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Call the tool as the plain function it wraps: decorating changes nothing for Python callers."""
        assert self.fn is not None  # __post_init__: fn or invoke; every factory here sets fn
        return self.fn(*args, **kwargs)

    def to_openai(self) -> dict[str, Any]:
        """The OpenAI-style declaration every supported provider takes in ``tools=[...]``."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": copy.deepcopy(self.parameters),
            },
        }

    def validate(self, arguments: Mapping[str, Any]) -> dict[str, Any]:
        """The model's arguments as Python values, or a one-line ToolArgumentError saying what is wrong."""
        if self.check is not None:
            return self.check(arguments)
        if not isinstance(arguments, Mapping):
            raise ToolArgumentError(
                f"Invalid arguments for tool {self.name!r}: expected a JSON object, "
                f"got {type(arguments).__name__}."
            )
        return dict(arguments)

    async def acall(self, arguments: Mapping[str, Any]) -> Any:
        """Run the tool with arguments as :meth:`validate` returned them.

        ``async def`` functions are awaited on the running loop; plain functions run in a worker
        thread so a turn's calls overlap and the loop (a notebook kernel's) stays responsive.
        """
        values = dict(arguments)
        if self.invoke is not None:
            return await self.invoke(values)
        assert self.fn is not None
        args = [values.pop(p) for p in self.positional_only if p in values]
        if _is_async(self.fn):
            return await self.fn(*args, **values)
        result = await run_in_thread(self.fn, *args, **values)
        if inspect.isawaitable(result):  # a plain function that hands back a coroutine
            result = await result
        return result


def _is_async(fn: Callable[..., Any]) -> bool:
    if inspect.iscoroutinefunction(fn):
        return True
    call = getattr(fn, "__call__", None)  # noqa: B004 - an object whose __call__ is async def
    return call is not None and inspect.iscoroutinefunction(call)


async def run_in_thread(fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
    """``asyncio.to_thread``, but in a daemon thread of its own.

    A Python thread cannot be killed. When a sync tool runs past its timeout the loop moves on and
    drops its result, but the thread runs on: in the default executor it would hold a worker and make
    ``asyncio.run`` (and interpreter exit) wait for it at shutdown. A daemon thread does neither.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()
    context = contextvars.copy_context()

    def settle(ok: bool, value: Any) -> None:
        if future.done():  # cancelled by a timeout: nobody wants the result any more
            return
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)

    def work() -> None:
        try:
            result = context.run(fn, *args, **kwargs)
        except BaseException as exc:  # handed to the awaiting task, which decides
            outcome: tuple[bool, Any] = (False, exc)
        else:
            outcome = (True, result)
        with contextlib.suppress(RuntimeError):  # the loop closed while the tool ran
            loop.call_soon_threadsafe(settle, *outcome)

    threading.Thread(
        target=work, name=f"nemotron-tool-{getattr(fn, '__name__', 'call')}", daemon=True
    ).start()
    return await future


@overload
def tool(fn: F, /) -> Tool: ...


@overload
def tool(
    fn: None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    confirm: bool = False,
    timeout: float | None = None,
) -> Callable[[Callable[..., Any]], Tool]: ...


def tool(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    confirm: bool = False,
    timeout: float | None = None,
) -> Tool | Callable[[Callable[..., Any]], Tool]:
    """Make a function a tool: bare ``@tool``, or ``@tool(name=..., confirm=True, timeout=30)``.

    ``confirm=True`` marks a tool with side effects: the user approves each call before it runs.
    ``timeout`` (seconds) overrides the turn's timeout for this tool.
    """

    def make(f: Callable[..., Any]) -> Tool:
        return Tool.from_function(f, name=name, description=description, confirm=confirm, timeout=timeout)

    return make if fn is None else make(fn)


def as_tool(obj: Any) -> Tool:
    """A Tool from what a user put in ``tools=[...]``: a Tool stays, a function or method becomes one."""
    if isinstance(obj, Tool):
        return obj
    if inspect.isfunction(obj) or inspect.ismethod(obj):
        return Tool.from_function(obj)
    if isinstance(obj, Mapping):
        raise ConfigurationError(
            "A JSON-schema tool dict is sent as it is and never run: pass a Python function (or @tool) "
            "for the loop to call."
        )
    raise ConfigurationError(
        f"Cannot use {type(obj).__name__} {obj!r:.60} as a tool: pass a function, an async function, "
        "a bound method, a @tool, or an MCP server's tools."
    )


__all__ = [
    "Tool",
    "ToolArgumentError",
    "ToolOutcome",
    "as_tool",
    "inline_refs",
    "run_calls",
    "run_in_thread",
    "serialise_result",
    "tool",
]
