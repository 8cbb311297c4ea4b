"""One request in flight, sync or async: send, retry, read.

:class:`Stream` and :class:`AsyncStream` differ only in their I/O loops. What
they share lives once: :class:`_Attempts` (here) decides about retries and the
overall deadline; :class:`~._fold._Fold` turns the body's bytes into typed events
and a :class:`Response`, and maps every failure to one of our one-line errors.

Errors leave with their traceback cut at the stream (``_detached``): the frames
below it hold the request, whose headers carry the key and whose URL may carry a
password, and ``%xmode Verbose`` would print their locals.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import socket
import time
from collections.abc import AsyncGenerator, AsyncIterator, Generator, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

import httpx

from . import _transport as transport
from ._errors import NemotronError, StreamCancelled, StreamTimeout
from ._events import Event, Retrying
from ._fold import HTTPX_ERRORS, _Fold, total_timeout_error
from ._response import Response

if TYPE_CHECKING:
    from ._client import Call
    from ._providers import Provider

#: Failures before any response byte that are safe to try again.
_RETRYABLE = (*transport.RETRY_EXCEPTIONS, httpx.ReadTimeout)


@dataclass(frozen=True)
class Limits:
    """How long to wait, how often to retry and how much to hold, fixed when a stream starts."""

    max_retries: int
    max_backoff: float
    read_timeout: float
    connect_timeout: float
    total_timeout: float
    max_event_bytes: int

    def timeout(self, left: float = math.inf) -> httpx.Timeout:
        """httpx's timeouts, none longer than the ``left`` seconds of the overall deadline."""
        left = max(left, 0.001)
        return httpx.Timeout(min(self.read_timeout, left), connect=min(self.connect_timeout, left))


def _detached(error: BaseException) -> BaseException:
    """Our error without the frames and exceptions beneath it (they hold the request)."""
    if isinstance(error, NemotronError | StreamCancelled):
        error.__cause__ = error.__context__ = None
        error.__suppress_context__ = True
        error = error.with_traceback(None)
    return error


class _Attempts:
    """Retry bookkeeping for one request: connect errors, 408/409/429/5xx, Retry-After, the deadline.

    ``after_*`` return the :class:`Retrying` to announce before sleeping, or the error to raise.
    """

    def __init__(self, call: Call, limits: Limits) -> None:
        self.call, self.limits = call, limits
        self.attempt = 0
        self.deadline = math.inf

    def start(self) -> float:
        self.deadline = time.monotonic() + self.limits.total_timeout
        return self.deadline

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def expired(self) -> bool:
        return self.left() <= 0.01  # a read timeout cut to the deadline ends a hair early

    def after_status(self, response: httpx.Response, body: bytes) -> Retrying | NemotronError:
        status = response.status_code
        error = transport.status_error(self.call.provider, self.call.model, status, body)
        if status not in transport.RETRY_STATUS:
            return error
        reason = f"{status} {httpx.codes.get_reason_phrase(status)}".strip()
        return self._next(transport.retry_after(response), reason, error)

    def after_exception(self, exc: BaseException) -> Retrying | NemotronError:
        provider, url = self.call.provider, self.call.request.url
        if not isinstance(exc, _RETRYABLE):
            return transport.request_error(provider, url, exc)
        error: NemotronError
        if self.expired():
            error = total_timeout_error(provider.name, self.limits.total_timeout, None)
        elif isinstance(exc, httpx.TimeoutException) and not isinstance(exc, httpx.ConnectTimeout):
            error = StreamTimeout(
                f"{provider.name} sent nothing within the read timeout; "
                "raise it with configure(read_timeout=…) if the model is busy or the prompt is long"
            )
        else:
            error = transport.connect_error(provider, url, exc)
        return self._next(None, transport.describe(exc), error)

    def _next(self, hinted: float | None, reason: str, error: NemotronError) -> Retrying | NemotronError:
        if self.attempt >= self.limits.max_retries:
            return error
        delay = transport.backoff(self.attempt, hinted, self.limits.max_backoff)
        if delay >= self.left():
            return error  # the deadline would pass while we sleep: say what went wrong now
        self.attempt += 1
        return Retrying(reason, delay, self.attempt + 1, self.limits.max_retries + 1)


def _error_body(resp: httpx.Response) -> bytes:
    """At most ERROR_BODY_LIMIT bytes of an error answer, then the connection is closed."""
    parts: list[bytes] = []
    size = 0
    try:
        for raw in resp.iter_bytes():
            parts.append(raw)
            size += len(raw)
            if size >= transport.ERROR_BODY_LIMIT:
                break
    finally:
        resp.close()
    return b"".join(parts)


async def _aerror_body(resp: httpx.Response) -> bytes:
    parts: list[bytes] = []
    size = 0
    try:
        async for raw in resp.aiter_bytes():
            parts.append(raw)
            size += len(raw)
            if size >= transport.ERROR_BODY_LIMIT:
                break
    finally:
        await resp.aclose()
    return b"".join(parts)


#: How long to wait for what follows ``[DONE]`` (the chunked end, normally already in the buffer).
DRAIN_WAIT = 0.1
_DRAIN_LIMIT = 65536


async def _rest_of_body(chunks: AsyncIterator[bytes]) -> None:
    """Read the end of the body after ``[DONE]``, so the connection goes back to the pool.

    A batch sends thousands of requests: closing a connection with its last bytes unread makes
    httpx drop it, and every row would pay a new TCP connection. A server that keeps the stream
    open after ``[DONE]`` costs at most :data:`DRAIN_WAIT`, then the connection is closed as before.
    """

    async def drain() -> None:
        size = 0
        async for raw in chunks:
            size += len(raw)
            if size > _DRAIN_LIMIT:
                return

    try:
        await asyncio.wait_for(drain(), DRAIN_WAIT)
    except (asyncio.TimeoutError, *HTTPX_ERRORS):
        pass  # the connection is closed below instead of reused: nothing of the answer is lost


class _StreamBase:
    """The state a sync or async stream carries; only the I/O loops differ."""

    def __init__(self, call: Call, limits: Limits) -> None:
        self._fold = _Fold(call, limits)
        self._limits = limits
        self._attempts = _Attempts(call, limits)
        self.response = self._fold.response

    @property
    def provider(self) -> Provider:
        """Who answers: its dialect shapes what a conversation sends back next."""
        return self._fold.call.provider

    def _start(self) -> None:
        self._fold.deadline = self._attempts.start()

    def _request(self, http: httpx.Client | httpx.AsyncClient) -> httpx.Request:
        prepared = self._fold.call.request
        return http.build_request(
            "POST",
            prepared.url,
            json=prepared.body,
            headers=prepared.headers,
            timeout=self._limits.timeout(self._attempts.left()),
        )

    def _failed(self, exc: BaseException) -> BaseException:
        return self._fold.failed(exc, self._attempts.expired())

    def __repr__(self) -> str:  # never the key, nor a password in the URL
        r = self.response
        state = r.finish_reason or ("done" if r.done else "streaming")
        return f"<{type(self).__name__} {r.provider}/{r.model} {state}, {len(r.content)} chars>"


_It = TypeVar("_It", bound="EventIterator")


class EventIterator:
    """Iterate for events; ``with`` closes; :meth:`until_done` drains (a stream, or a tool loop)."""

    response: Response
    _events: Generator[Event, None, None]

    def __iter__(self) -> Iterator[Event]:
        return self

    def __next__(self) -> Event:
        return next(self._events)

    def __enter__(self: _It) -> _It:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        raise NotImplementedError

    def until_done(self) -> Response:
        """Drain it; Ctrl-C keeps the partial response (on the raised StreamCancelled)."""
        try:
            for _ in self:
                pass
        except KeyboardInterrupt as exc:
            self.close()
            raise exc if isinstance(exc, StreamCancelled) else StreamCancelled(self.response) from None
        return self.response


class Stream(_StreamBase, EventIterator):
    """Iterate for events as they arrive; ``.response`` holds the state, complete at the end.

    Closing it (or leaving a ``with`` block) closes the connection at once and
    marks the partial response ``finish_reason == "cancelled"``.
    """

    def __init__(self, http: httpx.Client, call: Call, limits: Limits) -> None:
        super().__init__(call, limits)
        self._http = http
        self._events = self._run()
        self._resp: httpx.Response | None = None
        self._cancelled = False

    def close(self) -> None:
        self._events.close()
        if not self.response.done:
            self._fold.finish("cancelled")

    def cancel(self) -> None:
        """End the stream from another thread (a Stop button's): the connection is shut at once.

        :meth:`close` cannot stop a generator another thread is running; this wakes that
        thread's blocked read instead, and the stream ends there as cancelled, keeping what
        arrived (``finish_reason == "cancelled"``), however long the server would have stalled.
        """
        self._cancelled = True
        resp = self._resp
        network = resp.extensions.get("network_stream") if resp is not None else None
        sock = network.get_extra_info("socket") if network is not None else None
        if isinstance(sock, socket.socket):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def _run(self) -> Generator[Event, None, None]:
        fold, attempts = self._fold, self._attempts
        resp: httpx.Response | None = None
        error: BaseException | None = None
        try:
            self._start()
            while True:
                try:
                    resp = self._http.send(self._request(self._http), stream=True)
                    if resp.status_code < 400:
                        break
                    outcome = attempts.after_status(resp, _error_body(resp))
                except HTTPX_ERRORS as exc:
                    outcome = attempts.after_exception(exc)
                if not isinstance(outcome, Retrying):
                    raise outcome
                yield fold.retrying(outcome)
                time.sleep(outcome.delay)
                if self._cancelled:
                    break
            if self._cancelled or resp is None:
                fold.finish("cancelled")
                return
            self._resp = resp
            fold.opened(resp)
            for events in map(fold.feed, resp.iter_bytes()):
                yield from events
                if fold.saw_done or self._cancelled:
                    break
            if self._cancelled:
                fold.finish("cancelled")
            else:
                yield from fold.on_end()
        except GeneratorExit:
            fold.finish("cancelled")
            raise
        except BaseException as exc:
            if self._cancelled:  # the read that cancel() woke: a stop, not a failure
                fold.finish("cancelled")
            else:
                error = self._failed(exc)
        finally:
            if resp is not None:
                resp.close()
        if error is not None:
            raise _detached(error)


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
        """Drain the stream; cancelling the task (or Ctrl-C) keeps the partial response, "cancelled".

        A cancelled task re-raises ``CancelledError`` (asyncio needs it); a KeyboardInterrupt
        becomes :class:`StreamCancelled` carrying the response, as in :meth:`Stream.until_done`.
        """
        try:
            async for _ in self:
                pass
        except (KeyboardInterrupt, asyncio.CancelledError) as exc:
            await self.aclose()
            if isinstance(exc, KeyboardInterrupt) and not isinstance(exc, StreamCancelled):
                raise StreamCancelled(self.response) from None
            raise
        return self.response

    async def _run(self) -> AsyncGenerator[Event, None]:
        fold, attempts = self._fold, self._attempts
        resp: httpx.Response | None = None
        error: BaseException | None = None
        try:
            self._start()
            while True:
                try:
                    resp = await self._http.send(self._request(self._http), stream=True)
                    if resp.status_code < 400:
                        break
                    outcome = attempts.after_status(resp, await _aerror_body(resp))
                except HTTPX_ERRORS as exc:
                    outcome = attempts.after_exception(exc)
                if not isinstance(outcome, Retrying):
                    raise outcome
                yield fold.retrying(outcome)
                await asyncio.sleep(outcome.delay)
            fold.opened(resp)
            chunks = resp.aiter_bytes()
            async for raw in chunks:
                for event in fold.feed(raw):
                    yield event
                if fold.saw_done:
                    break
            if fold.saw_done:
                await _rest_of_body(chunks)
            for event in fold.on_end():
                yield event
        except GeneratorExit:
            fold.finish("cancelled")
            raise
        except BaseException as exc:
            error = self._failed(exc)
        finally:
            if resp is not None:
                await resp.aclose()
        if error is not None:
            raise _detached(error)


__all__ = ["AsyncStream", "Limits", "Stream"]
