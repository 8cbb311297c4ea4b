"""One streaming request, sync or async: resolve, send, retry, read, fold.

``Client`` holds one ``httpx.Client`` (one connection pool) for many requests;
``AsyncClient`` is its twin on ``httpx.AsyncClient`` for batches. Both share
everything but the I/O: :class:`_Resolver` decides where a request goes,
:class:`_Attempts` decides about retries, :class:`_Fold` turns server-sent
events into typed events and a :class:`Response`.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import jiter
from httpx_sse import EventSource, SSEError

from . import _transport as transport
from ._config import settings
from ._dialects import PreparedRequest, as_messages, prepare
from ._errors import (
    ConnectError,
    MalformedChunk,
    NemotronError,
    StreamCancelled,
    StreamError,
    StreamTimeout,
    register_secret,
)
from ._events import Event
from ._normalise import Normaliser
from ._process import served_models
from ._providers import Provider, get_provider, require_key, resolve_provider
from ._response import Response

Prompt = str | Sequence[Mapping[str, Any]]
#: Served when a local server's /models cannot tell (the FP8 checkpoint most people serve).
LOCAL_FALLBACK_MODEL = "nvidia/NVIDIA-Nemotron-3-Super-120B-A12B-FP8"


@dataclass(frozen=True)
class Call:
    """Everything resolved for one request."""

    provider: Provider
    base_url: str
    model: str
    request: PreparedRequest
    reasoning_mode: str | None

    def new_response(self) -> Response:
        return Response(
            provider=self.provider.name,
            model=self.model,
            request=self.request.body,
            reasoning_mode=self.reasoning_mode,
        )


class _Resolver:
    """explicit argument > client defaults > settings > environment, for one call."""

    def __init__(
        self,
        provider: str | None,
        model: str | None,
        base_url: str | None,
        api_key: str | None,
        defaults: dict[str, Any],
    ) -> None:
        self.provider, self.model, self.base_url, self.api_key = provider, model, base_url, api_key
        self.defaults = defaults
        register_secret(api_key)
        self._models: dict[str, str] = {}
        self._lock = threading.Lock()

    def resolve(
        self,
        prompt: Prompt,
        provider: str | None,
        model: str | None,
        base_url: str | None,
        api_key: str | None,
        params: dict[str, Any],
    ) -> Call:
        register_secret(api_key)
        base_url = base_url or self.base_url or settings.base_url
        p = resolve_provider(provider or self.provider, settings.provider, base_url)
        key = require_key(p, api_key or self.api_key)
        register_secret(key)
        merged = {**settings.params, **self.defaults, **{k: v for k, v in params.items() if v is not None}}
        if p.name == "embedded" and not base_url:
            from ._embedded import ensure_engine

            engine = ensure_engine()
            base_url, default_model = engine.base_url, engine.model
        else:
            base_url = (base_url or p.resolve_base_url()).rstrip("/")
            default_model = p.model
        name = model or self.model or settings.model or default_model or self._discover(base_url, key)
        messages = as_messages(prompt, merged.pop("system", None))
        request = prepare(p, base_url, name, key, messages, merged)
        return Call(p, base_url, name, request, merged.get("reasoning"))

    def _discover(self, base_url: str, key: str | None) -> str:
        """Ask a local server which model it serves: vLLM, SGLang and llama.cpp each name it differently."""
        with self._lock:
            if base_url in self._models:
                return self._models[base_url]
            headers = {"Authorization": f"Bearer {key}"} if key else {}
            try:
                ids = served_models(base_url, headers=headers, timeout=settings.connect_timeout) or []
            except httpx.TransportError as exc:
                raise transport.connect_error(get_provider("local"), base_url, exc) from None
            found = next((i for i in ids if "nemotron" in i.lower()), ids[0] if ids else LOCAL_FALLBACK_MODEL)
            self._models[base_url] = found
            return found


class _Attempts:
    """Retry bookkeeping for one request: connect errors, 408/409/429/5xx, Retry-After."""

    def __init__(self, call: Call, max_retries: int, max_backoff: float) -> None:
        self.call, self.max_retries, self.max_backoff = call, max_retries, max_backoff
        self.attempt = 0

    def after_exception(self, exc: Exception) -> float:
        if self.attempt >= self.max_retries:
            if isinstance(exc, httpx.TimeoutException) and not isinstance(exc, httpx.ConnectTimeout):
                raise StreamTimeout(
                    f"{self.call.provider.name} sent nothing within the read timeout; "
                    "raise it with configure(read_timeout=…) if the model is busy or the prompt is long"
                ) from None
            raise transport.connect_error(self.call.provider, self.call.request.url, exc) from None
        return self._next(None)

    def after_status(self, response: httpx.Response, body: bytes) -> float:
        status = response.status_code
        if status not in transport.RETRY_STATUS or self.attempt >= self.max_retries:
            raise transport.status_error(self.call.provider, self.call.model, status, body)
        return self._next(transport.retry_after(response))

    def _next(self, hinted: float | None) -> float:
        delay = transport.backoff(self.attempt, hinted, self.max_backoff)
        self.attempt += 1
        return delay


_RETRYABLE = (*transport.RETRY_EXCEPTIONS, httpx.ReadTimeout)


class _Fold:
    """Per-stream state common to the sync and async loops: SSE data in, events out."""

    def __init__(self, call: Call) -> None:
        self.call = call
        self.response = call.new_response()
        local_thinking = call.provider.dialect == "local" and call.reasoning_mode != "off"
        self.norm = Normaliser(implicit_think=local_thinking)
        self.saw_done = False

    def opened(self, resp: httpx.Response) -> bool:
        """Note the first byte; True when the body is one JSON document, not an event stream."""
        self.response.timings.first_byte = self.response.timings.now()
        ctype = resp.headers.get("content-type", "")
        return "json" in ctype and "event-stream" not in ctype

    def on_sse(self, event: str, data: str) -> list[Event]:
        if data == "[DONE]":
            self.saw_done = True
            return []
        if not data:
            return []
        try:
            # jiter parses a small chunk about 3x faster than json.loads: this is the hot path.
            chunk = jiter.from_json(data.encode())
        except ValueError:
            raise MalformedChunk(
                f"{self.call.provider.name} sent a chunk that is not JSON ({data[:80]!r}); "
                f"the partial answer is kept ({len(self.response.content)} chars)"
            ) from None
        if event == "error" and isinstance(chunk, dict) and "error" not in chunk:
            chunk = {"error": chunk}
        return self._apply(self.norm.feed(chunk))

    def on_body(self, raw: bytes) -> list[Event]:
        try:
            chunk = json.loads(raw)
        except ValueError:
            raise MalformedChunk(f"{self.call.provider.name} answered with a body that is not JSON") from None
        self.saw_done = True
        return self._apply(self.norm.feed(chunk))

    def _apply(self, events: list[Event]) -> list[Event]:
        apply = self.response.apply
        for event in events:
            apply(event)
        return events

    def on_end(self) -> list[Event]:
        events = self._apply(self.norm.end())
        if not self.saw_done and self.response.finish_reason is None:
            r = self.response
            if self.call.provider.name == "embedded" and not (r.content or r.reasoning or r.tool_calls):
                # llama-cpp-python answers 200 and an empty stream when the prompt overflows its context.
                raise StreamError(
                    "The embedded engine ended the stream before answering: the prompt is probably longer "
                    "than its 4,096-token context; shorten it"
                )
            raise StreamError(
                f"The stream from {self.call.provider.name} ended early, without [DONE]; "
                f"the partial answer is kept ({len(r.content)} chars)"
            )
        self.finish()
        return events

    def finish(self, reason: str | None = None) -> None:
        self.response.reasoning_details = self.norm.reasoning_details
        self.response.finish(self.call.provider, reason=reason)

    def failed(self, exc: BaseException) -> BaseException:
        """The exception to raise for a failure mid-stream; seals the partial response."""
        r = self.response
        if isinstance(exc, KeyboardInterrupt | asyncio.CancelledError):
            self.finish("cancelled")
            return exc if isinstance(exc, StreamCancelled | asyncio.CancelledError) else StreamCancelled(r)
        kept = f"the partial answer is kept ({len(r.content)} chars)"
        name = self.call.provider.name
        if isinstance(exc, StreamError):
            error: NemotronError = exc
        elif isinstance(exc, httpx.ReadTimeout):
            error = StreamTimeout(
                f"{name} sent nothing for longer than the read timeout; {kept}. "
                "Raise it with configure(read_timeout=…) if the model thinks for long"
            )
        elif isinstance(exc, httpx.TransportError | SSEError):
            error = StreamError(f"The connection to {name} broke mid-stream ({type(exc).__name__}); {kept}")
        else:
            if isinstance(exc, NemotronError):
                self.finish("error")
            return exc
        if isinstance(error, StreamError):
            error.response = r
            r.error = error
        self.finish("error")
        return error


@dataclass(frozen=True)
class Limits:
    """How long to wait and how often to retry, fixed when a stream starts."""

    max_retries: int
    max_backoff: float
    timeout: httpx.Timeout


class _StreamBase:
    """The state a sync or async stream carries; only the I/O loops differ."""

    def __init__(self, call: Call, limits: Limits) -> None:
        self._fold = _Fold(call)
        self._limits = limits
        self._attempts = _Attempts(call, limits.max_retries, limits.max_backoff)
        self.response = self._fold.response

    def _request(self, http: httpx.Client | httpx.AsyncClient) -> httpx.Request:
        req = self._fold.call.request
        return http.build_request(
            "POST", req.url, json=req.body, headers=req.headers, timeout=self._limits.timeout
        )


class Stream(_StreamBase):
    """Iterate for events as they arrive; ``.response`` holds the state, complete at the end.

    Closing it (or leaving a ``with`` block) closes the connection at once and
    marks the partial response ``finish_reason == "cancelled"``.
    """

    def __init__(self, http: httpx.Client, call: Call, limits: Limits) -> None:
        super().__init__(call, limits)
        self._http = http
        self._events = self._run()

    def __iter__(self) -> Iterator[Event]:
        return self

    def __next__(self) -> Event:
        return next(self._events)

    def __enter__(self) -> Stream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._events.close()
        if not self.response.done:
            self._fold.finish("cancelled")

    def until_done(self) -> Response:
        """Drain the stream; Ctrl-C keeps the partial response (on the raised StreamCancelled)."""
        try:
            for _ in self:
                pass
        except KeyboardInterrupt as exc:
            self.close()
            raise exc if isinstance(exc, StreamCancelled) else StreamCancelled(self.response) from None
        return self.response

    def _open(self) -> httpx.Response:
        while True:
            try:
                resp = self._http.send(self._request(self._http), stream=True)
            except _RETRYABLE as exc:
                time.sleep(self._attempts.after_exception(exc))
                continue
            if resp.status_code < 400:
                return resp
            body = resp.read()
            resp.close()
            time.sleep(self._attempts.after_status(resp, body))

    def _run(self) -> Iterator[Event]:
        fold = self._fold
        resp: httpx.Response | None = None
        try:
            resp = self._open()
            if fold.opened(resp):
                yield from fold.on_body(resp.read())
            else:
                for sse in EventSource(resp).iter_sse():
                    yield from fold.on_sse(sse.event, sse.data)
                    if fold.saw_done:
                        break
            yield from fold.on_end()
        except GeneratorExit:
            fold.finish("cancelled")
            raise
        except BaseException as exc:
            raise fold.failed(exc) from None
        finally:
            if resp is not None:
                resp.close()


class AsyncStream(_StreamBase):
    """The async twin of :class:`Stream`: ``async for event in stream``."""

    def __init__(self, http: httpx.AsyncClient, call: Call, limits: Limits) -> None:
        super().__init__(call, limits)
        self._http = http
        self._events = self._run()

    def __aiter__(self) -> AsyncIterator[Event]:
        return self

    async def __anext__(self) -> Event:
        return await self._events.__anext__()

    async def __aenter__(self) -> AsyncStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._events.aclose()
        if not self.response.done:
            self._fold.finish("cancelled")

    async def until_done(self) -> Response:
        async for _ in self:
            pass
        return self.response

    async def _open(self) -> httpx.Response:
        while True:
            try:
                resp = await self._http.send(self._request(self._http), stream=True)
            except _RETRYABLE as exc:
                await asyncio.sleep(self._attempts.after_exception(exc))
                continue
            if resp.status_code < 400:
                return resp
            body = await resp.aread()
            await resp.aclose()
            await asyncio.sleep(self._attempts.after_status(resp, body))

    async def _run(self) -> AsyncIterator[Event]:
        fold = self._fold
        resp: httpx.Response | None = None
        try:
            resp = await self._open()
            if fold.opened(resp):
                for event in fold.on_body(await resp.aread()):
                    yield event
            else:
                async for sse in EventSource(resp).aiter_sse():
                    for event in fold.on_sse(sse.event, sse.data):
                        yield event
                    if fold.saw_done:
                        break
            for event in fold.on_end():
                yield event
        except GeneratorExit:
            fold.finish("cancelled")
            raise
        except BaseException as exc:
            raise fold.failed(exc) from None
        finally:
            if resp is not None:
                await resp.aclose()


class _Base:
    def __init__(
        self,
        provider: str | None = None,
        *,
        model: str | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        max_retries: int | None = None,
        max_backoff: float | None = None,
        read_timeout: float | None = None,
        connect_timeout: float | None = None,
        **defaults: Any,
    ) -> None:
        self._resolver = _Resolver(provider, model, base_url, api_key, defaults)
        self._max_retries = max_retries
        self._max_backoff = max_backoff
        self._read_timeout = read_timeout
        self._connect_timeout = connect_timeout

    def _limits(self) -> Limits:
        """This client's overrides, else the process settings, read at each call."""

        def pick(own: Any, default: Any) -> Any:
            return default if own is None else own

        read = pick(self._read_timeout, settings.read_timeout)
        return Limits(
            max_retries=pick(self._max_retries, settings.max_retries),
            max_backoff=pick(self._max_backoff, settings.max_backoff),
            timeout=httpx.Timeout(read, connect=pick(self._connect_timeout, settings.connect_timeout)),
        )

    def __repr__(self) -> str:  # never the key
        r = self._resolver
        return f"<{type(self).__name__} provider={r.provider!r} model={r.model!r} base_url={r.base_url!r}>"


class Client(_Base):
    """A reusable client: one connection pool for many requests, on any provider.

    Constructor arguments are defaults for every call (``Client("openrouter",
    temperature=0.2)``); each call may override them.
    """

    def __init__(
        self, provider: str | None = None, *, http_client: httpx.Client | None = None, **kw: Any
    ) -> None:
        super().__init__(provider, **kw)
        self._http = http_client or httpx.Client(timeout=self._limits().timeout, follow_redirects=True)

    def stream(
        self,
        prompt_or_messages: Prompt,
        *,
        provider: str | None = None,
        model: str | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        **params: Any,
    ) -> Stream:
        call = self._resolver.resolve(prompt_or_messages, provider, model, base_url, api_key, params)
        return Stream(self._http, call, self._limits())

    def chat(self, prompt_or_messages: Prompt, **kw: Any) -> Response:
        return self.stream(prompt_or_messages, **kw).until_done()

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncClient(_Base):
    """The async twin of :class:`Client`, for many concurrent streams (batches)."""

    def __init__(
        self, provider: str | None = None, *, http_client: httpx.AsyncClient | None = None, **kw: Any
    ) -> None:
        super().__init__(provider, **kw)
        self._http = http_client or httpx.AsyncClient(timeout=self._limits().timeout, follow_redirects=True)

    async def stream(
        self,
        prompt_or_messages: Prompt,
        *,
        provider: str | None = None,
        model: str | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        **params: Any,
    ) -> AsyncStream:
        # Resolution may start the embedded engine or ask a server for its model: keep it off the loop.
        call = await asyncio.to_thread(
            self._resolver.resolve, prompt_or_messages, provider, model, base_url, api_key, params
        )
        return AsyncStream(self._http, call, self._limits())

    async def chat(self, prompt_or_messages: Prompt, **kw: Any) -> Response:
        return await (await self.stream(prompt_or_messages, **kw)).until_done()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


__all__ = ["AsyncClient", "AsyncStream", "Call", "Client", "ConnectError", "Stream"]
