"""Tools in the notebook: ``--tools f,g,mcp:NAME``, ``%nemotron tools`` and ``%nemotron mcp …``.

Only what the user names can be called: a ``--tools`` name is looked up in the notebook's
namespace (a function, an ``async def``, a bound method or a ``@tool``) or in the MCP servers
added with ``%nemotron mcp add``. The model's text never names something into existence.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from typing import Any

from IPython.core.error import UsageError

from ._errors import NemotronError
from ._tables import Table

MCP_HELP = (
    "%nemotron mcp add NAME COMMAND…|URL   start an MCP server (a stdio command, or a streamable-HTTP URL;\n"
    "                                      `python` runs the kernel's own interpreter)\n"
    "%nemotron mcp list                    the servers and their tools\n"
    "%nemotron mcp remove NAME             stop one"
)


def resolve_tools(names: list[str], namespace: Mapping[str, Any]) -> list[Any]:
    """The tools ``--tools`` names; a name that is not there is one usage line."""
    from . import _mcp
    from ._tools import Tool, as_tool

    found: list[Any] = []
    for name in names:
        if name.startswith("mcp:"):
            server, _, one = name[4:].partition(".")
            try:
                conn = _mcp.get(server)
                found.extend([conn.tool(one)] if one else conn.tools)
            except NemotronError as exc:
                raise UsageError(f"--tools {name}: {exc.message}") from None
            continue
        if name not in namespace:
            raise UsageError(
                f"--tools {name}: nothing is called {name!r} in the notebook; define the function first"
            )
        value = namespace[name]
        try:
            found.append(value if isinstance(value, Tool) else as_tool(value))
        except NemotronError as exc:
            raise UsageError(f"--tools {name}: {exc.message}") from None
    return found


def tools_table(namespace: Mapping[str, Any]) -> Table:
    """Every ``@tool`` in the notebook and every MCP server's tool, with its schema."""
    from . import _mcp
    from ._tools import Tool

    rows: list[list[Any]] = []
    for name, value in namespace.items():
        if isinstance(value, Tool) and not name.startswith("_"):
            rows.append([value.name, "python", value.description[:80], json.dumps(value.parameters)])
    for server, conn in _mcp.connections().items():
        for t in conn.tools:
            rows.append([t.name, f"mcp:{server}", t.description[:80], json.dumps(t.parameters)])
    return Table(
        "Nemotron tools",
        ["tool", "from", "description", "parameters (JSON schema)"],
        rows,
        note=""
        if rows
        else "No tools yet: decorate a function with @nemotron_magics.tool, or %nemotron mcp add.",
    )


def mcp_command(words: list[str]) -> Table | None:
    """``%nemotron mcp add | list | remove``."""
    from . import _mcp

    sub = words[0].lower() if words else "list"
    if sub == "list":
        rows = [
            [name, conn.target, "yes" if conn.alive else "no", ", ".join(t.name for t in conn.tools)]
            for name, conn in _mcp.connections().items()
        ]
        return Table(
            "MCP servers",
            ["name", "command or URL", "running", "tools"],
            rows,
            note="" if rows else "None yet: %nemotron mcp add NAME COMMAND…|URL",
        )
    if sub == "add" and len(words) >= 3:
        name, target = words[1], words[2:]
        if name in _mcp.connections():
            raise UsageError(f"%nemotron mcp add: {name!r} is already added; remove it first")
        spec: str | list[str] = target[0] if target[0].startswith(("http://", "https://")) else target
        if isinstance(spec, list) and spec[0] in ("python", "python3"):
            # The kernel's own interpreter: the one whose packages (the mcp SDK) the notebook sees.
            spec = [sys.executable, *spec[1:]]
        conn = _mcp.mcp(spec, name=name)  # MCPError (one line) if it cannot start
        _mcp.register(name, conn)
        listed = ", ".join(t.name for t in conn.tools)
        print(f"nemotron: MCP server {name!r}: {len(conn.tools)} tool(s): {listed}")
        return None
    if sub == "remove" and len(words) == 2:
        try:
            _mcp.remove(words[1])
        except NemotronError as exc:
            raise UsageError(f"%nemotron mcp remove: {exc.message}") from None
        print(f"nemotron: MCP server {words[1]!r} stopped")
        return None
    raise UsageError("%nemotron mcp: " + MCP_HELP.replace("\n", "; "))


__all__ = ["MCP_HELP", "mcp_command", "resolve_tools", "tools_table"]
