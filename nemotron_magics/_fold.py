"""What a stream does with the bytes of its answer: events out, or the one-line error that says why not.

:class:`_Fold` is shared by :class:`~._stream.Stream` and :class:`~._stream.AsyncStream`:
it reads the body as server-sent events (through the bounded :class:`~._sse.SSEReader`),
as one JSON document, or, when the content type does not say, by its first byte; it
names what is not an API answer at all (an HTML login page, a model list); and it
seals the :class:`Response` however the stream ends.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import time
from typing import TYPE_CHECKING

import httpx
import jiter

from . import _completion as completion
from . import _transport as transport
from ._errors import MalformedChunk, NemotronError, StreamCancelled, StreamError, StreamTimeout
from ._events import Event, Retrying
from ._normalise import Normaliser, is_completion
from ._secrets import safe_url, shorten
from ._sse import EventTooLarge, SSEReader

if TYPE_CHECKING:
    from ._client import Call
    from ._stream import Limits

#: Everything httpx raises for one request (InvalidURL and StreamError are not HTTPErrors).
HTTPX_ERRORS = (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError)
# How the body is read: server-sent events, one JSON document, an HTML page (to name it), or
# not known yet (no useful content type: the first bytes decide).
_SSE, _JSON, _HTML, _SNIFF = "sse", "json", "html", "sniff"
_TITLE = re.compile(rb"<title[^>]*>(.*?)</title", re.I | re.S)
_HTML_PEEK = 8192
#: What a shape nobody foresaw raises in the normaliser: still one line, never a raw traceback.
_UNFORESEEN = (AttributeError, TypeError, ValueError, KeyError, IndexError)


def total_timeout_error(name: str, seconds: float, kept: str | None) -> StreamTimeout:
    kept_text = f"; {kept}" if kept else ""
    return StreamTimeout(
        f"{name} did not finish within total_timeout ({seconds:g} s){kept_text}. "
        "Raise it with configure(total_timeout=…) or Client(total_timeout=…) for long answers"
    )


class _Fold:
    """Per-stream state common to the sync and async loops: bytes in, events out."""

    def __init__(self, call: Call, limits: Limits) -> None:
        self.call = call
        self.limits = limits
        self.response = call.new_response()
        implicit = call.provider.dialect.implicit_think and call.reasoning_mode != "off"
        self.norm = Normaliser(implicit_think=implicit)
        self.reader = SSEReader(limits.max_event_bytes)
        self.saw_done = False
        self.deadline = math.inf
        self._mode = _SSE
        self._ctype = ""
        self._body: list[bytes] = []
        self._body_size = 0

    # -- the first byte ------------------------------------------------------------
    def retrying(self, event: Retrying) -> Retrying:
        self.response.apply(event)
        return event

    def opened(self, resp: httpx.Response) -> None:
        """Note the first byte, and choose how to read the body from its content type."""
        r = self.response
        r.timings.first_byte = r.timings.now()
        r.retrying = None
        ctype = self._ctype = resp.headers.get("content-type", "").partition(";")[0].strip().lower()
        if "event-stream" in ctype:
            self._mode = _SSE
        elif "html" in ctype:
            self._mode = _HTML
        else:
            # JSON, text/plain or nothing: the first byte decides ("{" a document, "<" a page, else
            # events), because some servers label their streams application/json or text/plain.
            self._mode = _SNIFF

    # -- the body ----------------------------------------------------------------------
    def feed(self, raw: bytes) -> list[Event]:
        """The events one piece of the body completes (the hot path: one call per network read)."""
        if time.monotonic() > self.deadline:
            raise self._expired()
        if self._mode is not _SSE:
            return self._collect(raw)
        try:
            pairs = self.reader.feed(raw)
        except EventTooLarge:
            raise self._too_large() from None
        out: list[Event] = []
        norm, apply = self.norm, self.response.apply
        for event, data in pairs:
            if data == b"[DONE]":
                self.saw_done = True
                break
            if not data:
                continue
            try:
                # jiter parses a small chunk about 3x faster than json.loads: this is the hot path.
                chunk = jiter.from_json(data)
            except ValueError:
                raise self._malformed(f"a chunk that is not JSON ({self._quote(data)})") from None
            if event == b"error" and isinstance(chunk, dict) and "error" not in chunk:
                chunk = {"error": chunk}
            try:
                events = norm.feed(chunk)
            except MalformedChunk as exc:
                raise self._malformed(f"a chunk this client cannot read ({exc.message})") from None
            except _UNFORESEEN as exc:
                # A shape nobody foresaw: still one line, never a raw traceback.
                what = f"{type(exc).__name__}: {exc}"
                raise self._malformed(f"a chunk this client cannot read ({shorten(what, 120)})") from None
            for e in events:
                apply(e)
            out += events
        return out

    def _collect(self, raw: bytes) -> list[Event]:
        """A body that is not (yet) an event stream: hold it, bounded, until it ends or is named."""
        if self._mode is _SNIFF:
            raw = raw.lstrip()
            if not raw:
                return []  # nothing but blank space yet: the first real byte decides
            self._mode = _HTML if raw[:1] == b"<" else _JSON if raw[:1] in (b"{", b"[") else _SSE
            if self._mode is _SSE:
                return self.feed(raw)
        self._body.append(raw)
        self._body_size += len(raw)
        if self._mode is _HTML and self._body_size >= _HTML_PEEK:
            raise self._html()
        if self._body_size > self.limits.max_event_bytes:
            raise self._too_large()
        return []

    def on_end(self) -> list[Event]:
        """The body ended: the last events, or the error that says why the answer is incomplete."""
        if self._mode is _HTML:
            raise self._html()
        events: list[Event] = []
        if self._mode is _JSON:
            events = self._whole_body(b"".join(self._body))
        events += self._apply(self.norm.end())
        if not self.saw_done and self.response.finish_reason is None:
            r = self.response
            hint = self.call.provider.empty_stream_hint
            if hint and not (r.content or r.reasoning or r.tool_calls):
                # llama-cpp-python answers 200 and an empty stream when the prompt overflows its context.
                raise StreamError(hint)
            if not self.reader.events and not (r.content or r.reasoning or r.tool_calls):
                raise self._not_api("an empty body, or one with no server-sent events in it")
            raise StreamError(
                f"The stream from {self.call.provider.name} ended early, without [DONE]; {self._kept()}"
            )
        self.finish()
        return events

    def _whole_body(self, raw: bytes) -> list[Event]:
        try:
            chunk = json.loads(raw)
        except ValueError:
            raise self._malformed(f"a body that is not JSON ({self._quote(raw)})") from None
        if not is_completion(chunk):
            keys = ", ".join(map(str, list(chunk)[:6])) if isinstance(chunk, dict) else type(chunk).__name__
            raise self._not_api(f"JSON that is not a chat completion ({shorten(keys, 80)})")
        self.saw_done = True
        try:
            return self._apply(self.norm.feed(chunk))
        except MalformedChunk as exc:
            raise self._malformed(f"an answer this client cannot read ({exc.message})") from None
        except _UNFORESEEN as exc:
            what = f"{type(exc).__name__}: {exc}"
            raise self._malformed(f"an answer this client cannot read ({shorten(what, 120)})") from None

    def _apply(self, events: list[Event]) -> list[Event]:
        apply = self.response.apply
        for event in events:
            apply(event)
        return events

    # -- the end -------------------------------------------------------------------
    def finish(self, reason: str | None = None) -> None:
        was_done = self.response.done
        self.response.reasoning_details = self.norm.reasoning_details
        self.response.finish(self.call.provider, reason=reason)
        if not was_done:  # every response ends here, once: the ledger and the store hear of it
            completion.finished(self.response)

    def failed(self, exc: BaseException, expired: bool) -> BaseException:
        """The exception to raise for a failure; seals the partial response."""
        r = self.response
        if isinstance(exc, KeyboardInterrupt | asyncio.CancelledError):
            self.finish("cancelled")
            return exc if isinstance(exc, StreamCancelled | asyncio.CancelledError) else StreamCancelled(r)
        name = self.call.provider.name
        if isinstance(exc, StreamError):
            error: StreamError = exc
        elif isinstance(exc, NemotronError):
            self.finish("error")
            return exc
        elif isinstance(exc, httpx.TimeoutException):
            error = (
                self._expired()
                if expired
                else StreamTimeout(
                    f"{name} sent nothing for longer than the read timeout; {self._kept()}. "
                    "Raise it with configure(read_timeout=…) if the model thinks for long"
                )
            )
        elif isinstance(exc, HTTPX_ERRORS):
            error = StreamError(
                f"The connection to {name} broke mid-stream ({transport.describe(exc)}); {self._kept()}"
            )
        else:
            self.finish("error")
            return exc
        error.response = r
        r.error = error
        self.finish("error")
        return error

    # -- messages ------------------------------------------------------------------
    def _kept(self) -> str:
        r = self.response
        thought = f", and {len(r.reasoning)} of reasoning" if r.reasoning and not r.content else ""
        return f"the partial answer is kept ({len(r.content)} chars{thought})"

    @staticmethod
    def _quote(data: bytes) -> str:
        # Redact, then cut: a key straddling the cut is hidden whole, never left in part.
        return repr(shorten(data[:65536].decode("utf-8", "replace"), 80))

    def _malformed(self, what: str) -> MalformedChunk:
        return MalformedChunk(f"{self.call.provider.name} sent {what}; {self._kept()}")

    def _expired(self) -> StreamTimeout:
        return total_timeout_error(self.call.provider.name, self.limits.total_timeout, self._kept())

    def _too_large(self) -> MalformedChunk:
        return MalformedChunk(
            f"{self.call.provider.name} sent one event larger than max_event_bytes "
            f"({self.limits.max_event_bytes:,} bytes) without ending it; {self._kept()}. "
            "If an answer really is that large, raise it with configure(max_event_bytes=…)"
        )

    def _not_api(self, what: str) -> MalformedChunk:
        ctype = self._ctype or "none"
        return MalformedChunk(
            f"{self.call.provider.name} answered 200 OK with {what} "
            f"(content-type {ctype}): base_url {safe_url(self.call.base_url)} is probably not an "
            "OpenAI-compatible API (it usually ends in /v1); check base_url"
        )

    def _html(self) -> MalformedChunk:
        found = _TITLE.search(b"".join(self._body)[:_HTML_PEEK])
        title = " ".join(found.group(1).decode("utf-8", "replace").split()) if found else ""
        page = f"an HTML page ({shorten(title, 60)!r})" if title else "an HTML page"
        return MalformedChunk(
            f"{self.call.provider.name} answered 200 OK with {page}, not an event stream "
            f"(content-type {self._ctype or 'none'}): base_url {safe_url(self.call.base_url)} is "
            "probably wrong, or a login page or proxy is in the way; check base_url"
        )
