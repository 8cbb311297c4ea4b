"""A real MCP server (tests/mcp_server.py, the SDK's MCPServer) over stdio and streamable HTTP."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from nemotron_magics import _mcp
from nemotron_magics._errors import ConfigurationError
from nemotron_magics._mcp import MCPConnection, MCPError, mcp
from nemotron_magics._tools import run_calls

SERVER = str(Path(__file__).with_name("mcp_server.py"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def http_url() -> Iterator[str]:
    port = _free_port()
    proc = subprocess.Popen([sys.executable, SERVER, "--http", str(port)], stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    try:
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        proc.kill()
        proc.wait(5)


@pytest.fixture(params=["stdio", "http"])
def conn(request: pytest.FixtureRequest) -> Iterator[MCPConnection]:
    target: str | list[str]
    target = (
        [sys.executable, SERVER, "--stdio"]
        if request.param == "stdio"
        else request.getfixturevalue("http_url")
    )
    c = mcp(target, name="t")
    yield c
    c.close()


def test_tools_are_listed_with_schemas(conn: MCPConnection) -> None:
    assert {t.name for t in conn.tools} >= {"add", "echo", "fail", "sleep", "rendezvous"}
    add = conn.tool("add")
    assert add.source == "mcp:t"
    assert add.parameters["properties"] == {"a": {"type": "integer"}, "b": {"type": "integer"}}
    assert add.to_openai()["function"]["name"] == "add"
    with pytest.raises(ConfigurationError, match="has no tool 'nope'"):
        conn.tool("nope")


def test_calls_errors_and_concurrency(conn: MCPConnection) -> None:
    add, fail, meet = conn.tool("add"), conn.tool("fail"), conn.tool("rendezvous")
    calls = [
        (add, "1", "add", {"a": 2, "b": 3}, None),
        (fail, "2", "fail", {}, None),
        (add, "3", "add", {"a": "x"}, None),
        # rendezvous returns only if both calls are inside the server at the same time
        (meet, "4", "rendezvous", {"who": "x"}, None),
        (meet, "5", "rendezvous", {"who": "y"}, None),
    ]
    out = asyncio.run(run_calls(calls, timeout=20, approve=None))
    assert [o.status for o in out] == ["done", "error", "invalid", "done", "done"]
    assert out[0].result == "5"
    assert out[1].result.startswith("MCPToolError:")
    assert "'b' is a required property" in out[2].result
    assert out[3].result == "met:x" and out[4].result == "met:y"
    assert add(a=1, b=1) == "2"  # the blocking form, for plain Python


def test_timeout_cancels_an_mcp_call(conn: MCPConnection) -> None:
    out = asyncio.run(
        run_calls([(conn.tool("sleep"), "1", "sleep", {"seconds": 30}, None)], timeout=0.5, approve=None)
    )
    assert out[0].status == "timeout"
    assert conn.tool("echo")(text="still there") == "still there"


def test_a_killed_server_gives_one_line_not_a_hang() -> None:
    c = MCPConnection([sys.executable, SERVER, "--stdio"], name="doomed").start()
    try:
        found = subprocess.run(["pgrep", "-f", f"{SERVER} --stdio"], capture_output=True, text=True)
        pids = [int(p) for p in found.stdout.split()]
        # our child is the one whose parent is this process
        mine = [
            p
            for p in pids
            if Path(f"/proc/{p}/stat").read_text().split()[3] == str(__import__("os").getpid())
        ]
        assert mine
        for pid in mine:
            __import__("os").kill(pid, 9)
        started = time.monotonic()
        out = asyncio.run(
            run_calls([(c.tool("echo"), "1", "echo", {"text": "hi"}, None)], timeout=20, approve=None)
        )
        assert time.monotonic() - started < 15
        assert out[0].status == "error" and "\n" not in out[0].result
        assert "MCPError" in out[0].result and "doomed" in out[0].result and "not running" in out[0].result
        with pytest.raises(MCPError, match="not running"):
            c.tool("echo")(text="again")
    finally:
        c.close()


def test_a_command_that_cannot_start_says_so() -> None:
    with pytest.raises(MCPError, match="Could not start MCP server"):
        mcp(["/nonexistent/server-binary"], name="bad")
    with pytest.raises(MCPError, match=r"Could not start|did not answer"):
        MCPConnection(
            [sys.executable, "-c", "import sys; sys.stderr.write('ValueError: bad config\\n')"],
            connect_timeout=15,
        ).start()


def test_registry() -> None:
    c = MCPConnection([sys.executable, SERVER, "--stdio"], name="reg")
    _mcp.register("reg", c)
    assert _mcp.get("reg") is c and "reg" in _mcp.connections()
    _mcp.remove("reg")
    assert "reg" not in _mcp.connections()
    with pytest.raises(ConfigurationError, match="No MCP server named 'reg'"):
        _mcp.get("reg")


def test_a_killed_http_server_gives_one_line_not_a_hang() -> None:
    port = _free_port()
    proc = subprocess.Popen([sys.executable, SERVER, "--http", str(port)], stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        c = mcp(f"http://127.0.0.1:{port}/mcp", name="gone")
        proc.kill()
        proc.wait(5)
        started = time.monotonic()
        out = asyncio.run(
            run_calls([(c.tool("echo"), "1", "echo", {"text": "hi"}, None)], timeout=20, approve=None)
        )
        assert time.monotonic() - started < 15
        assert out[0].status == "error" and "\n" not in out[0].result and "MCPError" in out[0].result
        c.close()
    finally:
        proc.kill()
