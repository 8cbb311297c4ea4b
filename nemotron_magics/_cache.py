"""The response cache: the same request, answered once.

The key is a SHA-256 over everything that decides the answer: the provider, its base URL (not for
the embedded engine, whose port changes every start), the model and the request body without its
streaming fields — so the messages, every sampling parameter, the schema and the seed all count.
Only a clean finish is kept (:func:`._store.clean_finish`); the entry is written by the store when
the response finishes (the completion hook), so an answer cut short never lands in the cache.

``cache=True`` looks up first and fills on a miss; ``cache="refresh"`` skips the lookup and
overwrites; ``cache=False`` (the default for single calls) neither reads nor writes.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import sys
from collections.abc import AsyncGenerator, Generator
from typing import TYPE_CHECKING, Any

from ._errors import ConfigurationError
from ._events import Event, ReasoningDelta, TextDelta
from ._stream import EventIterator

if TYPE_CHECKING:
    from ._client import Call
    from ._response import Response

#: Fields of the body that change how the answer travels, not what it is.
_TRANSPORT_FIELDS = ("stream", "stream_options")
_warned: set[str] = set()


def cache_mode(value: Any) -> bool | str:
    """``cache=`` as given: True, False or ``"refresh"``; anything else is one clear line."""
    if value is None or value is False:
        return False
    if value is True:
        return True
    if value == "refresh":
        return "refresh"
    raise ConfigurationError(f"cache must be True, False or 'refresh', got {value!r}")


def key_for(call: Call) -> str:
    """The cache key of a resolved call (hex SHA-256)."""
    body = {k: v for k, v in call.request.body.items() if k not in _TRANSPORT_FIELDS}
    parts = {
        "provider": call.provider.name,
        "base_url": None if call.provider.start is not None else str(call.base_url).rstrip("/"),
        "model": call.model,
        "body": body,
    }
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _warn(what: str) -> None:
    if what not in _warned:
        _warned.add(what)
        print(f"nemotron: {what}", file=sys.stderr)


def lookup(call: Call, key: str) -> Response | None:
    """The cached answer for ``key`` (marked ``cached``), or None."""
    from ._response import Response
    from ._store import get_store

    try:
        store = get_store()
        if store is None:
            _warn("the store is off (NEMOTRON_STORE=off), so nothing is cached")
            return None
        data = store.cached(key)
        if data is None:
            return None
        hit = Response.from_dict(data, schema=call.schema)
    except (sqlite3.Error, ConfigurationError, ValueError, KeyError, TypeError) as exc:
        _warn(f"the response cache could not be read ({exc}); asking the model instead")
        return None
    hit.cached = True
    hit.cache_key = key
    return hit


class Replay(EventIterator):
    """A cached answer as a stream: its reasoning and text as two events, then done."""

    def __init__(self, response: Response) -> None:
        self.response = response
        self._events = self._run()

    def _run(self) -> Generator[Event, None, None]:
        if self.response.reasoning:
            yield ReasoningDelta(self.response.reasoning)
        if self.response.content:
            yield TextDelta(self.response.content)

    def close(self) -> None:
        self._events.close()

    def cancel(self) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Replay {self.response.provider}/{self.response.model} cached>"


class AsyncReplay:
    """The async twin of :class:`Replay`."""

    def __init__(self, response: Response) -> None:
        self.response = response
        self._events = self._run()

    async def _run(self) -> AsyncGenerator[Event, None]:
        for event in Replay(self.response):
            yield event

    def __aiter__(self) -> AsyncReplay:
        return self

    async def __anext__(self) -> Event:
        return await self._events.__anext__()

    async def aclose(self) -> None:
        await self._events.aclose()

    async def until_done(self) -> Response:
        return self.response


__all__ = ["AsyncReplay", "Replay", "cache_mode", "key_for", "lookup"]
