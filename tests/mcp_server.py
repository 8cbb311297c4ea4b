"""A small real MCP server for the tests, written with the SDK's MCPServer.

python tests/mcp_server.py --stdio
python tests/mcp_server.py --http PORT      # streamable HTTP on 127.0.0.1:PORT/mcp
"""

from __future__ import annotations

import sys

import anyio
from mcp.server.mcpserver import MCPServer

server = MCPServer("test-tools")
_arrived = 0
_both: anyio.Event | None = None


@server.tool()
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@server.tool()
def echo(text: str) -> str:
    """Return the text unchanged."""
    return text


@server.tool()
def fail() -> str:
    """Always raises."""
    raise ValueError("this tool always fails")


@server.tool()
async def sleep(seconds: float) -> str:
    """Sleep, then answer."""
    await anyio.sleep(seconds)
    return "slept"


@server.tool()
async def rendezvous(who: str) -> str:
    """Returns only once two calls are inside at the same time (5 s, then it fails)."""
    global _arrived, _both
    if _both is None:
        _both = anyio.Event()
    _arrived += 1
    if _arrived == 2:
        _both.set()
    with anyio.fail_after(5):
        await _both.wait()
    return f"met:{who}"


if __name__ == "__main__":
    if sys.argv[1:2] == ["--http"]:
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    else:
        server.run("stdio")
