"""``chat()`` and ``stream()``: the one-call API over a shared default client."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from ._client import Client, Prompt, Stream, _secret, _url
from ._response import Response

if TYPE_CHECKING:
    from ._cache import Replay
    from ._loop import ToolLoop

_default: Client | None = None
_lock = threading.Lock()


def default_client() -> Client:
    """The process-wide client: one connection pool reused by every ``chat()`` call."""
    global _default
    with _lock:
        if _default is None:
            _default = Client()
        return _default


def stream(
    prompt_or_messages: Prompt,
    *,
    provider: str | None = None,
    model: str | None = None,
    base_url: str | None = None,
    api_key: str | None = None,
    **params: Any,
) -> Stream | ToolLoop | Replay:
    """Yield typed events as they arrive; the finished Response is ``.response``.

    >>> s = stream("Why is the sky blue?", reasoning="low")
    >>> for event in s: ...
    >>> s.response.content
    """
    # Held at once so that no frame of this call shows the key or a URL password in a repr.
    api_key, base_url = _secret(api_key), _url(base_url)
    return default_client().stream(
        prompt_or_messages, provider=provider, model=model, base_url=base_url, api_key=api_key, **params
    )


def chat(
    prompt_or_messages: Prompt,
    *,
    provider: str | None = None,
    model: str | None = None,
    base_url: str | None = None,
    api_key: str | None = None,
    **params: Any,
) -> Response:
    """Send a prompt (or a list of messages), stream it to the end, return the Response."""
    api_key, base_url = _secret(api_key), _url(base_url)
    return stream(
        prompt_or_messages, provider=provider, model=model, base_url=base_url, api_key=api_key, **params
    ).until_done()
