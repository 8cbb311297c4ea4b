"""nemotron-magics: NVIDIA Nemotron 3 Super from Python and Jupyter.

The Python API is the product (``chat``, ``stream``, ``Client``,
``AsyncClient``); ``%load_ext nemotron_magics`` adds the ``%%nemotron`` magic
on top. Importing this package imports neither IPython, ipywidgets, pandas
nor pydantic: those load where they are used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__

# Public name -> the private module that defines it. Loaded on first use (PEP 562), so
# `%load_ext nemotron_magics` costs almost nothing and httpx loads with the first request.
_LAZY: dict[str, str] = {
    **dict.fromkeys(("chat", "stream", "default_client"), "._api"),
    **dict.fromkeys(("AsyncClient", "AsyncStream", "Client", "Stream"), "._client"),
    **dict.fromkeys(("Settings", "configure", "settings"), "._config"),
    **dict.fromkeys(
        (
            "AuthenticationError",
            "BadRequest",
            "ConfigurationError",
            "ConnectError",
            "ContextTooLong",
            "EngineUnavailable",
            "InStreamError",
            "MalformedChunk",
            "MissingAPIKey",
            "ModelNotFound",
            "NemotronError",
            "ProviderError",
            "RateLimited",
            "ServerError",
            "StreamCancelled",
            "StreamError",
            "StreamTimeout",
        ),
        "._errors",
    ),
    **dict.fromkeys(
        (
            "Event",
            "Finish",
            "ReasoningDelta",
            "Retrying",
            "TextDelta",
            "ToolCallDelta",
            "ToolProgress",
            "Usage",
        ),
        "._events",
    ),
    **dict.fromkeys(("PROVIDERS", "Provider", "get_provider", "resolve_provider"), "._providers"),
    **dict.fromkeys(("Response", "Timings", "ToolCall"), "._response"),
    "StructuredOutputError": "._errors",
    "Session": ".session",
    **dict.fromkeys(("Tool", "ToolArgumentError", "tool"), "._tools"),
    **dict.fromkeys(("MCPConnection", "MCPError", "mcp"), "._mcp"),
    "ToolLoop": "._loop",
    **dict.fromkeys(("Server", "serve", "servers"), "._serve._server"),
    **dict.fromkeys(("GPU", "Recommendation", "gpus", "recommend"), "._serve._gpus"),
    **dict.fromkeys(("chat_widget", "controls"), ".widgets"),
    **dict.fromkeys(("amap", "map"), "._map"),
    "BatchCancelled": "._batch",
    **dict.fromkeys(("history", "usage"), "._history"),
}

if TYPE_CHECKING:
    from ._api import chat, default_client, stream
    from ._batch import BatchCancelled
    from ._client import AsyncClient, AsyncStream, Client, Stream
    from ._config import Settings, configure, settings
    from ._errors import (
        AuthenticationError,
        BadRequest,
        ConfigurationError,
        ConnectError,
        ContextTooLong,
        EngineUnavailable,
        InStreamError,
        MalformedChunk,
        MissingAPIKey,
        ModelNotFound,
        NemotronError,
        ProviderError,
        RateLimited,
        ServerError,
        StreamCancelled,
        StreamError,
        StreamTimeout,
        StructuredOutputError,
    )
    from ._events import (
        Event,
        Finish,
        ReasoningDelta,
        Retrying,
        TextDelta,
        ToolCallDelta,
        ToolProgress,
        Usage,
    )
    from ._history import history, usage
    from ._loop import ToolLoop
    from ._map import amap, map
    from ._mcp import MCPConnection, MCPError, mcp
    from ._providers import PROVIDERS, Provider, get_provider, resolve_provider
    from ._response import Response, Timings, ToolCall
    from ._serve._gpus import GPU, Recommendation, gpus, recommend
    from ._serve._server import Server, serve, servers
    from ._tools import Tool, ToolArgumentError, tool
    from .session import Session
    from .widgets import chat_widget, controls


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'nemotron_magics' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value  # next lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    """Where the prebuilt JupyterLab extension lies (the wheel installs it there too)."""
    return [{"src": "labextension", "dest": "nemotron-magics"}]


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext nemotron_magics``: register ``%%nemotron`` and ``%nemotron``."""
    from .magics import load_ipython_extension as load

    load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    from .magics import unload_ipython_extension as unload

    unload(ipython)


__all__ = [
    "GPU",
    "PROVIDERS",
    "AsyncClient",
    "AsyncStream",
    "AuthenticationError",
    "BadRequest",
    "BatchCancelled",
    "Client",
    "ConfigurationError",
    "ConnectError",
    "ContextTooLong",
    "EngineUnavailable",
    "Event",
    "Finish",
    "InStreamError",
    "MCPConnection",
    "MCPError",
    "MalformedChunk",
    "MissingAPIKey",
    "ModelNotFound",
    "NemotronError",
    "Provider",
    "ProviderError",
    "RateLimited",
    "ReasoningDelta",
    "Recommendation",
    "Response",
    "Retrying",
    "Server",
    "ServerError",
    "Session",
    "Settings",
    "Stream",
    "StreamCancelled",
    "StreamError",
    "StreamTimeout",
    "StructuredOutputError",
    "TextDelta",
    "Timings",
    "Tool",
    "ToolArgumentError",
    "ToolCall",
    "ToolCallDelta",
    "ToolLoop",
    "ToolProgress",
    "Usage",
    "__version__",
    "amap",
    "chat",
    "chat_widget",
    "configure",
    "controls",
    "default_client",
    "get_provider",
    "gpus",
    "history",
    "map",
    "mcp",
    "recommend",
    "resolve_provider",
    "serve",
    "servers",
    "settings",
    "stream",
    "tool",
    "usage",
]
