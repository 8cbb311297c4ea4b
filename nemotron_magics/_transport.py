"""What the sync and async clients share about HTTP: retry policy and error mapping.

Retries happen only before the first byte of an answer: after that a user
has seen text, and a silent second answer would be a different one.
"""

from __future__ import annotations

import email.utils
import json
import math
import random
import re
import time
from datetime import timezone
from typing import Any

import httpx

from ._errors import (
    AuthenticationError,
    BadRequest,
    ConfigurationError,
    ConnectError,
    ContextTooLong,
    ModelNotFound,
    NemotronError,
    ProviderError,
    RateLimited,
    ServerError,
)
from ._providers import Provider
from ._secrets import safe_url, shorten

RETRY_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})
#: Transport failures before any response: safe to try again.
RETRY_EXCEPTIONS: tuple[type[Exception], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.RemoteProtocolError,  # closed or reset before the status line
    httpx.ReadError,
    httpx.WriteError,
    httpx.PoolTimeout,
)
#: Bytes of an error body worth reading: enough for any provider's message, not a runaway page.
ERROR_BODY_LIMIT = 64 * 1024
_CONTEXT = re.compile(
    r"context (length|window)|maximum context|too many tokens|prompt is too long|too long", re.I
)


def _seconds(text: str | None, scale: float = 1.0) -> float | None:
    """A number of seconds from a header: finite and ≥ 0, else None (``60s``, ``nan``, ``-5`` …)."""
    if not text:
        return None
    try:
        seconds = float(text.strip()) * scale
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def retry_after(response: httpx.Response | None) -> float | None:
    """Seconds the server asked us to wait (retry-after-ms, Retry-After: seconds or HTTP date).

    A value that is not a time we can wait (``60s``, ``nan``, ``inf``, negative) is ignored:
    our own backoff applies instead.
    """
    if response is None:
        return None
    headers = response.headers
    ms = _seconds(headers.get("retry-after-ms"), 0.001)
    if ms is not None:
        return ms
    value = headers.get("retry-after")
    seconds = _seconds(value)
    if seconds is not None or not value:
        return seconds
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)  # "-0000": UTC without a zone, says RFC 5322
    return max(when.timestamp() - time.time(), 0.0)


def backoff(attempt: int, hinted: float | None, cap: float) -> float:
    """Exponential backoff with full jitter; the server's hint wins when it gives one."""
    if hinted is not None:
        return min(hinted, cap)
    return min(cap, 0.5 * 2.0**attempt) * random.uniform(0.5, 1.0)


def provider_message(body: bytes) -> str:
    """The provider's own words from an error body, whatever its shape (redacted, then shortened)."""
    text = body[:ERROR_BODY_LIMIT].decode("utf-8", "replace").strip()
    try:
        data: Any = json.loads(text)
    except ValueError:
        return shorten(text, 300)
    for _ in range(3):
        if isinstance(data, list) and data:
            data = data[0]
        if not isinstance(data, dict):
            break
        for key in ("error", "errors", "detail", "message", "title"):
            value = data.get(key)
            if value:
                if isinstance(value, str):
                    code = data.get("code")
                    return shorten(f"{value} (code {code})" if code not in (None, "") else value, 500)
                data = value
                break
        else:
            break
    return shorten(data if isinstance(data, str) else json.dumps(data), 300)


def status_error(provider: Provider, model: str, status: int, body: bytes) -> ProviderError:
    """A one-line error for an HTTP status, with the provider's message and the remedy."""
    said = provider_message(body) or httpx.codes.get_reason_phrase(status)
    name = provider.name
    kw: dict[str, Any] = {"status_code": status, "provider": name}
    if status in (401, 403):
        where = " or ".join(provider.key_env) or "the server's key"
        return AuthenticationError(f"{name} rejected the API key ({status}: {said}); check {where}", **kw)
    if status == 404:
        return ModelNotFound(
            f"{name} does not serve model {model!r} or the URL is wrong (404: {said}); "
            "pick another with model=… / -m, or check base_url",
            **kw,
        )
    if status in (400, 413, 422):
        if _CONTEXT.search(said):
            return ContextTooLong(
                f"The prompt does not fit {name}'s context window ({status}: {said}); "
                "shorten the prompt or history, or lower max_tokens",
                **kw,
            )
        return BadRequest(f"{name} rejected the request ({status}): {said}", **kw)
    if status == 429:
        return RateLimited(
            f"{name} is rate limiting this key (429: {said}); wait and retry, or lower concurrency", **kw
        )
    if status >= 500:
        return ServerError(f"{name} failed on its side ({status}: {said}); try again shortly", **kw)
    return ProviderError(f"{name} answered HTTP {status}: {said}", **kw)


def describe(exc: BaseException) -> str:
    """``Type: what it said`` for a transport failure, one short redacted line."""
    what = type(exc).__name__
    detail = shorten(" ".join(str(exc).split()), 160)
    return f"{what}: {detail}" if detail and detail != what else what


def connect_error(provider: Provider, url: str, exc: BaseException) -> ConnectError:
    """The server could not be reached (after the retries); ``url`` is shown without credentials."""
    detail = shorten(" ".join(str(exc).split()), 200) or type(exc).__name__
    where = f"{provider.name} at {safe_url(url)}"
    return ConnectError(f"Cannot reach {where} ({detail}); {provider.unreachable_hint}")


def request_error(provider: Provider, url: str, exc: BaseException) -> NemotronError:
    """One of our errors for an httpx failure that is not worth a retry (nothing was answered)."""
    shown, name = safe_url(url), provider.name
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return ConfigurationError(
            f"Cannot send to {name}: {shown} is not a URL httpx can use ({describe(exc)}); "
            "give base_url as http://host:port/v1 or https://…"
        )
    if isinstance(exc, httpx.LocalProtocolError):
        return ConfigurationError(
            f"The request to {name} could not be sent ({describe(exc)}): a header or the URL holds "
            "a character HTTP does not allow; check the API key and base_url"
        )
    if isinstance(exc, httpx.TooManyRedirects):
        return ConnectError(f"{name} at {shown} redirected too many times ({describe(exc)}); check base_url")
    if isinstance(exc, httpx.ProxyError):
        return ConnectError(f"The proxy refused the request to {name} ({describe(exc)}); check HTTPS_PROXY")
    return ConnectError(f"Cannot reach {name} at {shown} ({describe(exc)}); {provider.unreachable_hint}")
