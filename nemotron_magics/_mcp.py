"""MCP servers' tools as Nemotron tools, through the official ``mcp`` SDK.

The SDK's client sessions are async context managers that must be entered and left in one task, and
a notebook kernel already runs an event loop. So each :class:`MCPConnection` owns one daemon thread
with its own loop: the session lives in one task there, and every call, from any loop or thread, is
submitted to it. A server is started once, stopped on :meth:`MCPConnection.close` and at exit; one
that died answers the next call with a one-line :class:`MCPError`, never a hang.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import importlib
import json
import re
import shlex
import tempfile
import threading
import weakref
from collections.abc import Mapping, Sequence
from typing import Any

from ._errors import ConfigurationError, NemotronError
from ._secrets import one_line, safe_url
from ._tool_schema import clean_schema
from ._tools import Tool

#: Seconds to start a server, connect and list its tools.
CONNECT_TIMEOUT = 30.0
#: Seconds one tool call may take when the loop sets no timeout of its own (a guard against hangs).
CALL_TIMEOUT = 300.0
_CLOSE_TIMEOUT = 10.0


class MCPError(NemotronError):
    """An MCP server cannot be started, reached, or has stopped."""


class MCPToolError(MCPError):
    """The MCP tool ran and reported an error (``isError``): its text is the message."""


class MCPConnection:
    """One MCP server (a stdio command or a streamable-HTTP URL), connected, with its tools."""

    def __init__(
        self,
        command_or_url: str | Sequence[str],
        *,
        name: str | None = None,
        env: Mapping[str, str] | None = None,
        connect_timeout: float = CONNECT_TIMEOUT,
        call_timeout: float = CALL_TIMEOUT,
    ) -> None:
        self.url: str | None = None
        self.argv: list[str] | None = None
        if isinstance(command_or_url, str) and re.match(r"(?i)^https?://", command_or_url):
            self.url = command_or_url
        else:
            argv = shlex.split(command_or_url) if isinstance(command_or_url, str) else list(command_or_url)
            if not argv:
                raise ConfigurationError(
                    "MCP server command is empty: give a command line or an http(s) URL."
                )
            self.argv = argv
        self.name = name or self._default_name()
        self.env = dict(env) if env is not None else None
        self.connect_timeout = connect_timeout
        self.call_timeout = call_timeout
        self.tools: list[Tool] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop: asyncio.Event | None = None
        self._client: Any = None
        self._dead: str | None = None
        self._closed = False
        self._errlog: Any = None
        self._lock = threading.Lock()

    # --- lifecycle -----------------------------------------------------------------------------

    def _default_name(self) -> str:
        if self.url is not None:
            return re.sub(r"[^A-Za-z0-9_-]", "_", self.url.split("://", 1)[1].split("/", 1)[0])
        assert self.argv is not None
        words = [w for w in self.argv if not w.startswith("-")]
        return re.sub(r"[^A-Za-z0-9_-]", "_", (words[-1] if words else self.argv[0]).rsplit("/", 1)[-1])[:40]

    @property
    def target(self) -> str:
        """The command or URL as it may be shown (no password in a URL)."""
        return safe_url(self.url) if self.url is not None else shlex.join(self.argv or [])

    @property
    def alive(self) -> bool:
        return self._loop is not None and self._dead is None and not self._closed

    def start(self) -> MCPConnection:
        """Start (or connect to) the server and list its tools; idempotent. Raises MCPError on failure."""
        import importlib.util

        if importlib.util.find_spec("mcp") is None:
            raise MCPError("MCP servers need the official mcp SDK: pip install 'nemotron-magics[mcp]'")
        with self._lock:
            if self._loop is not None:
                return self
            if self._closed:
                raise MCPError(
                    f"MCP server {self.name!r} was closed: connect again with nemotron_magics.mcp(...)."
                )
            ready: concurrent.futures.Future[None] = concurrent.futures.Future()
            loop = asyncio.new_event_loop()
            self._loop = loop
            self._thread = threading.Thread(
                target=self._thread_main, args=(loop, ready), name=f"nemotron-mcp-{self.name}", daemon=True
            )
            self._thread.start()
            _LIVE.add(self)
        try:
            ready.result(timeout=self.connect_timeout)
        except concurrent.futures.TimeoutError:
            self.close()
            raise MCPError(
                f"MCP server {self.name!r} ({self.target}) did not answer within {self.connect_timeout:g} s: "
                "check the command or URL, or raise connect_timeout."
            ) from None
        except BaseException as exc:
            self.close()
            raise MCPError(
                f"Could not start MCP server {self.name!r} ({self.target}): "
                f"{_describe(exc)}{self._stderr_tail()}"
            ) from None
        return self

    def _thread_main(self, loop: asyncio.AbstractEventLoop, ready: concurrent.futures.Future[None]) -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._session_main(ready))
        except BaseException as exc:
            self._dead = _describe(exc)
            if not ready.done():
                ready.set_exception(exc)
        finally:
            if self._dead is None:
                self._dead = "the connection was closed"
            loop.close()

    async def _session_main(self, ready: concurrent.futures.Future[None]) -> None:
        """The one task that enters and leaves the SDK's client, and waits in between."""
        from mcp import Client, StdioServerParameters
        from mcp.client.stdio import stdio_client

        self._stop = asyncio.Event()
        server: Any
        if self.url is not None:
            server = self.url
        else:
            assert self.argv is not None
            # The server's stderr, kept so an error can quote its last line (closed in close()).
            self._errlog = tempfile.TemporaryFile(mode="w+", encoding="utf-8", errors="replace")  # noqa: SIM115
            params = StdioServerParameters(command=self.argv[0], args=self.argv[1:], env=self.env)
            server = stdio_client(params, errlog=self._errlog)
        async with Client(server, read_timeout_seconds=self.call_timeout) as client:
            self._client = client
            listing = await client.list_tools()
            self.tools = [self._make_tool(t) for t in listing.tools]
            ready.set_result(None)
            await self._stop.wait()

    def close(self) -> None:
        """Stop the server (or leave the HTTP session) and the thread; safe to call twice."""
        with self._lock:
            self._closed = True
            loop, thread, stop = self._loop, self._thread, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop ended on its own (the server died)
                loop.call_soon_threadsafe(stop.set)
        if thread is not None and thread is not threading.current_thread():
            thread.join(_CLOSE_TIMEOUT)
        if self._errlog is not None:
            self._errlog.close()
            self._errlog = None
        _LIVE.discard(self)

    def __enter__(self) -> MCPConnection:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "dead" if self._dead else "running" if self._loop else "new"
        return f"<MCPConnection {self.name!r} {self.target} {state}, {len(self.tools)} tools>"

    # --- tools ---------------------------------------------------------------------------------

    def tool(self, name: str) -> Tool:
        """One of the server's tools by name; a ConfigurationError lists the others."""
        for t in self.tools:
            if t.name == name or (t.fn is not None and getattr(t.fn, "mcp_name", None) == name):
                return t
        names = ", ".join(t.name for t in self.tools) or "none"
        raise ConfigurationError(f"MCP server {self.name!r} has no tool {name!r}; it has: {names}.")

    def _make_tool(self, spec: Any) -> Tool:
        mcp_name: str = spec.name
        schema: dict[str, Any] = dict(spec.input_schema or {"type": "object", "properties": {}})
        conn = self

        async def invoke(arguments: dict[str, Any]) -> Any:
            return await conn.acall_tool(mcp_name, arguments)

        def check(arguments: Mapping[str, Any]) -> dict[str, Any]:
            return _validate_json(tool_name, schema, arguments)

        def blocking(**kwargs: Any) -> Any:
            return conn.call_tool(mcp_name, check(kwargs))

        blocking.mcp_name = mcp_name  # type: ignore[attr-defined]
        tool_name = re.sub(r"[^A-Za-z0-9_-]", "_", mcp_name)[:64] or "tool"
        return Tool(
            name=tool_name,
            description=spec.description or "",
            parameters=clean_schema(schema),
            fn=blocking,
            invoke=invoke,
            check=check,
            source=f"mcp:{self.name}",
        )

    async def acall_tool(self, name: str, arguments: Mapping[str, Any]) -> Any:
        """Call an MCP tool from any event loop: the work runs on this connection's own loop."""
        loop = self._require_loop()  # before the coroutine exists: a dead server leaves none un-awaited
        future = asyncio.run_coroutine_threadsafe(self._call(name, dict(arguments)), loop)
        return await asyncio.wrap_future(future)

    def call_tool(self, name: str, arguments: Mapping[str, Any]) -> Any:
        """Blocking form of :meth:`acall_tool`, for plain Python (never from this connection's thread)."""
        loop = self._require_loop()
        future = asyncio.run_coroutine_threadsafe(self._call(name, dict(arguments)), loop)
        return future.result(self.call_timeout + 5)

    def _require_loop(self) -> asyncio.AbstractEventLoop:
        loop = self._loop
        if self._closed:
            raise MCPError(
                f"MCP server {self.name!r} was closed: connect again with nemotron_magics.mcp(...)."
            )
        if loop is None:
            raise MCPError(f"MCP server {self.name!r} is not started: call .start() first.")
        if self._dead is not None or loop.is_closed():
            raise self._died(self._dead or "its connection ended")
        return loop

    def _died(self, why: str) -> MCPError:
        return MCPError(
            f"MCP server {self.name!r} ({self.target}) is not running ({why}){self._stderr_tail()}: "
            f"remove it and connect again (%nemotron mcp remove {self.name}; %nemotron mcp add ...)."
        )

    async def _call(self, name: str, arguments: dict[str, Any]) -> Any:
        from mcp import MCPError as SDKError

        try:
            result = await self._client.call_tool(name, arguments)
        except SDKError as exc:
            if "closed" in str(exc).lower():
                self._dead = str(exc)
                raise self._died(str(exc)) from None
            raise MCPError(f"MCP server {self.name!r} refused the call of {name!r}: {exc}") from None
        except (OSError, EOFError) as exc:
            self._dead = _describe(exc)
            raise self._died(self._dead) from None
        except Exception as exc:
            if self._stop is None or self._client is None:
                raise
            raise MCPError(f"MCP call {name!r} on {self.name!r} failed: {_describe(exc)}") from None
        text = _content_text(result)
        if result.is_error:
            raise MCPToolError(text or f"the tool {name!r} reported an error")
        return text

    def _stderr_tail(self) -> str:
        log = self._errlog
        if log is None:
            return ""
        try:
            log.flush()
            log.seek(0)
            lines = [line for line in log.read().splitlines() if line.strip()]
        except (OSError, ValueError):
            return ""
        return f"; its last error output: {one_line(lines[-1], 200)}" if lines else ""


def _content_text(result: Any) -> str:
    """A tool result as text: its text parts joined, else its structured content as JSON."""
    texts = [block.text for block in result.content if getattr(block, "type", None) == "text"]
    if texts:
        return "\n".join(texts)
    if result.structured_content is not None:
        return json.dumps(result.structured_content, ensure_ascii=False, default=str)
    others = [getattr(block, "type", "content") for block in result.content]
    return f"({', '.join(others)} content)" if others else ""


def _validate_json(tool_name: str, schema: dict[str, Any], arguments: Mapping[str, Any]) -> dict[str, Any]:
    """Check the model's arguments against the server's JSON Schema before the call goes out."""
    from ._tool_schema import ToolArgumentError

    if not isinstance(arguments, Mapping):
        raise ToolArgumentError(f"Invalid arguments for tool {tool_name!r}: expected a JSON object.")
    try:
        jsonschema: Any = importlib.import_module("jsonschema")  # the mcp SDK depends on it; no stubs
    except ImportError:  # the server validates anyway
        return dict(arguments)
    validator = jsonschema.Draft202012Validator(schema)
    problems = []
    for err in sorted(validator.iter_errors(dict(arguments)), key=lambda e: list(e.path)):
        where = ".".join(str(p) for p in err.path) or "arguments"
        problems.append(f"{where}: {one_line(err.message, 200)}")
    if problems:
        raise ToolArgumentError(f"Invalid arguments for tool {tool_name!r}: {'; '.join(problems)}.")
    return dict(arguments)


def _describe(exc: BaseException) -> str:
    """One line for an exception, unwrapping the task-group groups the SDK raises."""
    inner = getattr(exc, "exceptions", None)  # an (anyio task group's) ExceptionGroup
    while isinstance(inner, tuple) and inner and isinstance(inner[0], BaseException):
        exc = inner[0]
        inner = getattr(exc, "exceptions", None)
    return one_line(f"{type(exc).__name__}: {exc}", 300)


def mcp(
    command_or_url: str | list[str], *, name: str | None = None, env: Mapping[str, str] | None = None
) -> MCPConnection:
    """Connect to an MCP server (stdio command or http(s) URL) and return it with its tools listed."""
    return MCPConnection(command_or_url, name=name, env=env).start()


# --- the registry behind %nemotron mcp add/list/remove ---------------------------------------------

_REGISTRY: dict[str, MCPConnection] = {}
_LIVE: weakref.WeakSet[MCPConnection] = weakref.WeakSet()


def register(name: str, conn: MCPConnection) -> MCPConnection:
    """Keep ``conn`` under ``name``; a server already there is closed first (re-adding replaces)."""
    old = _REGISTRY.get(name)
    if old is not None and old is not conn:
        old.close()
    _REGISTRY[name] = conn
    return conn


def get(name: str) -> MCPConnection:
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY)) or "none"
        raise ConfigurationError(
            f"No MCP server named {name!r} (registered: {known}); "
            f"add it with %nemotron mcp add {name} COMMAND|URL."
        ) from None


def remove(name: str) -> None:
    """Forget the server and stop it."""
    get(name)
    _REGISTRY.pop(name).close()


def connections() -> dict[str, MCPConnection]:
    return dict(_REGISTRY)


@atexit.register
def _close_all() -> None:
    # The threads are daemons (a non-daemon one would make exit wait before atexit runs): close here.
    for conn in list(_LIVE):
        conn.close()


__all__ = ["MCPConnection", "MCPError", "MCPToolError", "connections", "get", "mcp", "register", "remove"]
