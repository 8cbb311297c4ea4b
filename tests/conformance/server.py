"""Loopback conformance server: replays each provider's exact stream bytes, and the network's faults.

The client under test only lets a test choose a ``base_url``, so everything (which transcript, how to
cut it, which fault) is chosen through the URL path.  The server uses only the standard library and
writes raw bytes to the socket, so a test controls framing, timing and where a UTF-8 sequence is cut.

URL scheme
----------
::

    http://127.0.0.1:PORT/s/<scenario>/<options>/<any/path>/<endpoint>

* ``<scenario>``: a transcript name (``nvidia``, ``openrouter`` … see ``transcripts/README.md``), a
  generator (``big``, ``long``), a multi-round tool scenario (``tool_rounds`` …), or an alias
  (``reset``, ``stall``, ``unauthorized`` … see ``ALIASES``).
* ``<options>``: ``-`` for none, else ``key=value`` pairs joined by ``,`` (sorted by key when built by
  :meth:`ConformanceServer.base_url`).  Keys and values are percent-encoded (``urllib.parse.quote`` with
  ``safe=""``), so a value may hold ``,``, ``=`` or ``/``.  A bare ``key`` means ``key=1``.
* The endpoint is chosen by the path's ending, whatever comes between: ``POST …/chat/completions`` (or
  ``…/completions``), ``POST …/run/<model…>`` (Cloudflare native ``/ai/run/@cf/…``), ``GET …/models``.
* A path without the ``/s/…`` prefix (``http://127.0.0.1:PORT/v1/chat/completions``) plays ``nvidia``.

Examples::

    server.base_url("nvidia")                               # …/s/nvidia/-/v1
    server.base_url("openrouter", split=1, delay=0.001)     # …/s/openrouter/delay=0.001,split=1/v1
    server.base_url("vllm", fail=2, status=429, retry_after=1)
    server.base_url("unicode", truncate=5)                  # 5 events, half of the 6th, clean end
    server.base_url("big", n=200000)

Options (all scenarios)
-----------------------
``split=B``          write the body in pieces of B bytes (each its own HTTP chunk / TCP push).
``delay=S``          sleep S seconds between pieces (or between events when not split).
``framing=F``        ``chunked`` (default for streams), ``length`` (default for JSON) or ``close``.
``fail=N``           the first N generation requests to this scenario+options answer an HTTP error,
                     later ones the real response; without ``fail``, ``status``/``error`` fail every time.
``status=C``         HTTP status of those errors (default 503, or the ``error`` kind's own).
``error=K``          error body kind: one of ``ERROR_KINDS`` (``rate_limited``, ``context_length`` …).
``retry_after=V``    send ``Retry-After: V`` with the error (verbatim: ``1``, ``0.2``).
``style=S``          401 body style: ``nvidia`` (default), ``openai``, ``openrouter``.
``reset=1``          read the request, then RST (SO_LINGER 0) before any response byte
                     (httpx: ``ReadError``, "connection reset by peer").
``drop=1``           read the request, then close with a FIN and no response (httpx:
                     ``RemoteProtocolError``, "Server disconnected without sending a response").
``reset_after=N``    headers and N events, then RST.
``stall=S``          headers and ``after`` events (default 2), then silence for S s, then close (FIN).
``truncate=N``       N events, then ``partial`` bytes of the next (default: half), then a clean HTTP end.
``hangup=N``         like truncate, but close the socket without the HTTP end (incomplete body).
``malformed=N``      after N events, insert an event whose data is not JSON; the stream goes on.
``error_event=N``    after N events, an in-stream error; ``error_style`` = ``plain`` (default:
                     ``{"error": {"message", "code": 500}}`` then ``[DONE]``), ``vllm`` or ``openrouter``.
``model=M``          model id answered by ``GET …/models``.
``shape=S``          one bad wire shape from ``faults.SHAPES``: a chunk of the wrong type inserted after 3
                     events (``delta_string``, ``content_number``, ``choices_null`` …), a bad usage chunk, a
                     numeric ``finish_reason``, a whole 200 body that is no completion (``html_page``,
                     ``not_completion``, ``envelope_errors_string``), the stream mislabelled ``text/plain``
                     (``sse_unlabelled``), or ``GET …/models`` ids that are not strings (``model_ids``).
``pad=P``            the 401 body (``style=text``: a plain-text one) and the ``malformed`` event echo the
                     bearer key after P filler characters, so a test can walk the key across every cut.
``retry_after_ms=V`` send ``retry-after-ms: V`` with the error (verbatim: ``-5``, ``250``).
``mb=M``             size of the ``giant`` line in MiB (default 300).
``dialect=D``        tool scenarios: ``openai`` (default: ``delta.reasoning_content``), ``openrouter``
                     (``reasoning`` + ``reasoning_details``, required back unchanged) or ``vllm``
                     (``delta.reasoning``, required back in the assistant message's ``reasoning``).
``parallel=0|1``     tool scenarios: the first request must say ``parallel_tool_calls: false|true``.
``cut=K``            ``raw_tool_call``: the raw ``<tool_call>`` text in two content deltas cut at K.
``latency=S``        wait S seconds before answering a generation request (a model's time per request).
``slots=K``          at most K generation requests to this scenario+options at once; one more is answered
                     ``429`` with ``Retry-After: retry_after`` (default ``1``), or waits for a slot with
                     ``queue=1``.  With ``window=S``, K requests may *start* per S seconds (a rate limit).
``hold=N``           requests after the N-th to this scenario+options wait until :meth:`release` (or the
                     server stops): a test can stop a batch at a known row.
``fail_on=TEXT``     batch scenarios: a prompt containing TEXT is answered 400 (a failing row).

Batch scenarios (``batch.py``): ``echo`` answers with the prompt itself; ``tickets`` answers a support
ticket's classification as JSON (``{"category", "priority", "urgent"}``).  :meth:`prompts` lists the
prompts a scenario was asked, and :meth:`peak_active` the most requests it served at once.

Generators: ``big`` (``n`` content chunks, ``r`` reasoning chunks first; pre-rendered, sent in 1 MiB
writes); ``long`` (``chars`` of Markdown answer, ``rchars`` of reasoning, ``chunk`` chars per delta,
``rate`` chars per second, 0 = unpaced); ``table`` (a structured answer: ``rows`` rows of
``{"items": [...]}`` JSON in ``chunk``-char deltas, paced by ``rate``).  ``slow`` is ``long``
with a small paced default.
``giant``: a role chunk, ``Hello``, then one ``data:`` line of ``mb`` MiB that never ends (a bounded
client fails early; the server writes it lazily). ``trickle`` plays ``nvidia`` one byte a second
(``split=1,delay=1``).

Multi-round tool scenarios (``tools.py``): ``tool_rounds`` (two parallel ``get_weather`` calls, then an
answer quoting both results), ``tool_named`` (a forced named tool), ``tool_recover`` (a ``divide`` by zero,
then a retry), ``tool_forever`` (``ping`` every round, for max_rounds), ``raw_tool_call`` (the call as raw
text in ``content``).  Stateless: the round is read from the request's ``messages`` after the last user
message; before answering, the server checks that history (the assistant ``tool_calls`` as streamed, the
``role: tool`` messages in call order with matching ids, each dialect's reasoning fields) and answers a
wrong one with HTTP 400 ``{"error": {"message": "conformance: <what is wrong>", "code": 400}}``.  The
request's record says which round it asked for (``round``) and why it was refused (``problem``).

A POST whose JSON body does not say ``"stream": true`` gets the transcript folded into one
``chat.completion`` (wrapped in Cloudflare's v4 envelope on ``…/run/…``), as a real server would.
``fail``/``status``/``error`` count only generation requests (POST); ``GET …/models`` always answers.

Layout: ``options.py`` (this URL segment), ``streams.py`` (transcripts, folding, ``big``/``long``),
``faults.py`` (error bodies, stream damage), ``tools.py`` (multi-round tool scenarios and their history
checks), this file (sockets, records, command line).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from . import batch, tools
from .faults import JSON_TYPE, SHAPES, apply_faults, error_response, giant_line_events
from .options import ALIASES, GENERATORS, TOOL_SCENARIOS, decode_options, encode_options
from .streams import (
    DEFAULT_MODEL,
    all_expected,
    big_body,
    fold_stream,
    long_events,
    split_events,
    table_events,
    transcript_names,
    transcript_path,
)

ENV_VAR = "NEMOTRON_CONFORMANCE_URL"
SSE_TYPE = "text/event-stream; charset=utf-8"
_BIG_WRITE = 1 << 20


# --------------------------------------------------------------------------- records


@dataclass
class RecordedRequest:
    """One request as the server saw it; ``outcome`` and ``done`` say how the answer went."""

    method: str
    path: str
    api_path: str
    scenario: str
    options: dict[str, Any]
    headers: dict[str, str]
    body: Any
    raw_body: bytes
    attempt: int = 0
    outcome: str = "pending"
    #: ``time.monotonic()`` when the request arrived (for tests of pacing and back-off).
    received: float = field(default_factory=time.monotonic)
    #: Tool scenarios: the round this request asked for (1, 2 …; 0 when its history was refused).
    round: int = 0
    #: Tool scenarios: why the history was refused (the 400's message, ``conformance: …``), else None.
    problem: str | None = None
    done: threading.Event = field(default_factory=threading.Event, repr=False, compare=False)

    @property
    def bearer(self) -> str | None:
        """The API key the client sent, from ``Authorization: Bearer`` (or ``x-api-key``)."""
        auth = self.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            return auth[7:].strip()
        return self.headers.get("x-api-key")

    def wait(self, timeout: float = 5.0) -> str:
        """Block until the server has finished answering; returns the outcome.

        Outcomes: ``complete``, ``error_status``, ``rejected`` (a tool scenario refused the history: 400),
        ``truncated``, ``hangup``, ``stalled``, ``reset``,
        ``dropped``, ``server_stopped``, ``client_disconnected`` (the client went away first: what an
        interrupt test wants to see; the server notices at its next write, so give the stream a ``delay``).
        """
        self.done.wait(timeout)
        return self.outcome


class _ClientGone(Exception):
    """The peer closed the connection while we were writing."""


class _Stopping(Exception):
    """The server is shutting down; abandon the response."""


# --------------------------------------------------------------------------- wire writer


class _Writer:
    """Writes one response: framing, splitting into pieces, and the sleeps between them."""

    def __init__(self, sock: socket.socket, stop: threading.Event, framing: str, split: int, delay: float):
        self.sock, self.stop, self.framing = sock, stop, framing
        self.split, self.delay = split, delay
        self.wrote_body = False

    def _send(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError) as exc:
            raise _ClientGone from exc

    def sleep(self, seconds: float) -> None:
        if seconds > 0 and self.stop.wait(seconds):
            raise _Stopping

    def head(self, status: int, ctype: str, extra: dict[str, str], length: int | None) -> None:
        phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Status"
        lines = [
            f"HTTP/1.1 {status} {phrase}",
            f"content-type: {ctype}",
            "server: nemotron-conformance",
            f"date: {time.strftime('%a, %d %b %Y %H:%M:%S GMT', time.gmtime())}",
        ]
        if self.framing == "chunked":
            lines.append("transfer-encoding: chunked")
        elif self.framing == "length":
            lines.append(f"content-length: {length or 0}")
        else:
            lines.append("connection: close")
        if ctype.startswith("text/event-stream"):
            lines.append("cache-control: no-cache")
        lines += [f"{k}: {v}" for k, v in extra.items()]
        self._send(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))

    def body(self, data: bytes) -> None:
        step = self.split or _BIG_WRITE
        for i in range(0, len(data), step):
            if self.wrote_body:
                self.sleep(self.delay)
            piece = data[i : i + step]
            if self.framing == "chunked":
                self._send(b"%x\r\n%s\r\n" % (len(piece), piece))
            else:
                self._send(piece)
            self.wrote_body = True

    def end(self) -> None:
        if self.framing == "chunked":
            self._send(b"0\r\n\r\n")

    def rst(self) -> None:
        """Abort with a TCP RST: linger 0, then close the descriptor itself, not just our reference."""
        with contextlib.suppress(OSError):
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            os.close(self.sock.detach())


# --------------------------------------------------------------------------- HTTP handling


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128
    owner: ConformanceServer

    def __init__(self, addr: tuple[str, int], owner: ConformanceServer):
        self.owner = owner
        self.connections: set[socket.socket] = set()
        self.conn_lock = threading.Lock()
        super().__init__(addr, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Connection errors are the point of this server; keep test output quiet."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.server.conn_lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        with self.server.conn_lock:
            self.server.connections.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        """Silence per-request logging."""

    def do_GET(self) -> None:
        self.server.owner._handle(self)

    def do_POST(self) -> None:
        self.server.owner._handle(self)

    def read_body(self) -> bytes:
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            out = b""
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                out += self.rfile.read(size)
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass
            return out
        length = int(self.headers.get("content-length") or 0)
        return self.rfile.read(length) if length else b""


# --------------------------------------------------------------------------- the server


class ConformanceServer:
    """A threaded loopback HTTP server replaying provider transcripts and faults, recording requests.

    Use as ``with ConformanceServer() as srv: client(base_url=srv.base_url("nvidia", split=1))``.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host, self._port = host, port
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._hits: dict[tuple[str, str], int] = {}
        self._refuser: socket.socket | None = None
        self._seq = 0
        # Admission control (slots, window, queue, hold): per scenario+options key.
        self._admit = threading.Condition()
        self._active: dict[tuple[str, str], int] = {}
        self._peak: dict[tuple[str, str], int] = {}
        self._starts: dict[tuple[str, str], list[float]] = {}
        self._release = threading.Event()

    # lifecycle -------------------------------------------------------------

    def start(self) -> ConformanceServer:
        """Bind and serve in a daemon thread; returns self."""
        if self._httpd is not None:
            return self
        self._stop.clear()
        self._httpd = _HTTPServer((self.host, self._port), self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="conformance-server",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, wake sleeping streams and close every open connection."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._stop.set()
        httpd.shutdown()
        with httpd.conn_lock:
            conns = list(httpd.connections)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._refuser is not None:
            self._refuser.close()
            self._refuser = None

    def __enter__(self) -> ConformanceServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # addresses -------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("ConformanceServer is not started")
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (no trailing slash)."""
        return f"http://{self.host}:{self.port}"

    def base_url(self, scenario: str = "nvidia", suffix: str = "/v1", **opts: Any) -> str:
        """The base_url to give the client: ``{url}/s/{scenario}/{options}{suffix}``."""
        self._resolve(scenario, {})  # fail in the test, not on the wire, for a misspelt scenario
        return f"{self.url}/s/{scenario}/{encode_options(opts)}{suffix}"

    def closed_port_url(self) -> str:
        """A base_url whose port is bound but never listens: connecting is refused at once."""
        if self._refuser is None:
            self._refuser = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self._refuser.bind((self.host, 0))
        return f"http://{self.host}:{self._refuser.getsockname()[1]}/v1"

    # records ---------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of every request received since start or :meth:`reset`, oldest first."""
        with self._lock:
            return list(self._requests)

    def last_request(self) -> RecordedRequest:
        with self._lock:
            if not self._requests:
                raise LookupError("the conformance server has received no request")
            return self._requests[-1]

    def requests_for(self, scenario: str, method: str | None = "POST") -> list[RecordedRequest]:
        """Requests to one scenario (POSTs by default: the generation attempts a retry test counts)."""
        return [r for r in self.requests if r.scenario == scenario and (method is None or r.method == method)]

    def hits(self, scenario: str, **opts: Any) -> int:
        """How many generation requests reached this exact scenario+options key (the fail counter)."""
        with self._lock:
            return self._hits.get((scenario, encode_options(opts)), 0)

    def wait_for_requests(self, count: int, timeout: float = 5.0) -> list[RecordedRequest]:
        """Wait until at least ``count`` requests were recorded (for tests that fire from threads)."""
        deadline = time.monotonic() + timeout
        while len(self.requests) < count and time.monotonic() < deadline:
            time.sleep(0.005)
        return self.requests

    def reset(self) -> None:
        """Forget recorded requests and fail counters, so one server can serve a whole test session."""
        with self._lock:
            self._requests.clear()
            self._hits.clear()
        with self._admit:
            self._peak.clear()
            self._starts.clear()
        self._release.clear()

    def release(self) -> None:
        """Let every request held by ``hold=N`` go on (and every later one)."""
        self._release.set()

    def prompts(self, scenario: str) -> list[str]:
        """The last user message of every generation request to ``scenario``, in arrival order."""
        return [batch.prompt_of(r.body) for r in self.requests_for(scenario)]

    def peak_active(self, scenario: str, **opts: Any) -> int:
        """The most generation requests this scenario+options served at once."""
        with self._admit:
            return self._peak.get((scenario, encode_options(opts)), 0)

    @staticmethod
    def scenarios() -> list[str]:
        """Every scenario name the server answers."""
        return sorted({*transcript_names(), *GENERATORS, *ALIASES, *TOOL_SCENARIOS})

    # dispatch --------------------------------------------------------------

    @staticmethod
    def _resolve(scenario: str, opts: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        if scenario in ALIASES:
            base, defaults = ALIASES[scenario]
            return base, {**defaults, **opts}
        if scenario in GENERATORS or scenario in TOOL_SCENARIOS:
            return scenario, opts
        try:
            transcript_path(scenario)
        except KeyError:
            raise ValueError(
                f"unknown conformance scenario {scenario!r}; known: {ConformanceServer.scenarios()}"
            ) from None
        return scenario, opts

    def _handle(self, h: _Handler) -> None:
        raw = h.read_body()
        path = urlsplit(h.path).path
        scenario, segment, api_path = "nvidia", "-", path
        if path.startswith("/s/"):
            parts = path.split("/", 4)
            scenario = unquote(parts[2]) if len(parts) > 2 else ""
            segment = parts[3] if len(parts) > 3 else "-"
            api_path = "/" + (parts[4] if len(parts) > 4 else "")
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = None
        rec = RecordedRequest(
            method=h.command,
            path=h.path,
            api_path=api_path,
            scenario=scenario,
            options={},
            headers={k.lower(): v for k, v in h.headers.items()},
            body=body,
            raw_body=raw,
        )
        generate = h.command == "POST" and (api_path.endswith("/completions") or "/run/" in api_path)
        with self._lock:
            self._seq += 1
            seq = self._seq
            if generate:
                rec.attempt = self._hits[(scenario, segment)] = self._hits.get((scenario, segment), 0) + 1
            self._requests.append(rec)
        writer = _Writer(h.connection, self._stop, "length", 0, 0.0)
        try:
            try:
                opts = decode_options(segment)
                rec.options = opts
                base, opts = self._resolve(scenario, opts)
            except ValueError as exc:
                self._simple(
                    writer, 404, {"error": {"message": str(exc), "type": "conformance_error", "code": 404}}
                )
                rec.outcome = "complete"
                return
            if generate:
                self._generate(h, rec, base, opts, seq, api_path)
            elif h.command == "GET" and api_path.endswith("/models"):
                model = opts.get("model") or self._model_of(base)
                data: list[Any] = [{"id": model, "object": "model", "created": 1773842000}]
                shape = SHAPES.get(opts.get("shape", ""), ("",))
                if shape[0] == "models":
                    data = [m if isinstance(m, dict) else {"id": m, "object": "model"} for m in shape[1]]
                self._simple(writer, 200, {"object": "list", "data": data})
                rec.outcome = "complete"
            elif h.command == "GET" and api_path in ("/", "/health", "/v1/health"):
                self._simple(writer, 200, {"status": "ok", "scenarios": self.scenarios()})
                rec.outcome = "complete"
            else:
                self._simple(
                    writer,
                    404,
                    {
                        "error": {
                            "message": f"no route for {h.command} {api_path}",
                            "type": "not_found",
                            "code": 404,
                        }
                    },
                )
                rec.outcome = "complete"
        except _ClientGone:
            rec.outcome = "client_disconnected"
            h.close_connection = True
        except (_Stopping, OSError):
            rec.outcome = "server_stopped" if self._stop.is_set() else "client_disconnected"
            h.close_connection = True
        finally:
            rec.done.set()

    @staticmethod
    def _simple(writer: _Writer, status: int, obj: Any) -> None:
        data = json.dumps(obj).encode()
        writer.head(status, JSON_TYPE, {}, len(data))
        writer.body(data)

    @staticmethod
    def _model_of(base: str) -> str:
        """The model id a transcript streams, so ``GET …/models`` agrees with the stream."""
        if base in GENERATORS:
            return DEFAULT_MODEL
        return all_expected().get(base, {}).get("model") or DEFAULT_MODEL

    def _generate(
        self, h: _Handler, rec: RecordedRequest, base: str, opts: dict[str, Any], seq: int, api_path: str
    ) -> None:
        """Admission (hold, slots, window, queue) and latency, then the answer itself."""
        key = (rec.scenario, encode_options(rec.options))
        if "hold" in opts and rec.attempt > opts["hold"]:
            while not self._release.wait(0.05):
                if self._stop.is_set():
                    raise _Stopping
        if not self._enter(key, opts):
            body = rec.body if isinstance(rec.body, dict) else {}
            ctx = {"key": rec.bearer or "(none)", "model": body.get("model") or DEFAULT_MODEL}
            status, ctype, data = error_response(429, "rate_limited", ctx)
            extra = {"x-request-id": f"req-{seq:06d}", "retry-after": str(opts.get("retry_after", "1"))}
            writer = _Writer(h.connection, self._stop, "length", 0, 0.0)
            writer.head(status, ctype, extra, len(data))
            writer.body(data)
            rec.outcome = "error_status"
            return
        try:
            if opts.get("latency") and self._stop.wait(float(opts["latency"])):
                raise _Stopping
            self._answer(h, rec, base, opts, seq, api_path)
        finally:
            self._leave(key, opts)

    def _enter(self, key: tuple[str, str], opts: dict[str, Any]) -> bool:
        """Take a slot: True, or False when none is free (and ``queue`` is not set: a 429)."""
        slots, window = opts.get("slots"), opts.get("window")
        with self._admit:
            while True:
                now = time.monotonic()
                if window:
                    starts = [t for t in self._starts.get(key, []) if now - t < float(window)]
                    self._starts[key] = starts
                    busy = len(starts)
                else:
                    busy = self._active.get(key, 0)
                if not slots or busy < int(slots):
                    if window:
                        self._starts[key].append(now)
                    active = self._active[key] = self._active.get(key, 0) + 1
                    self._peak[key] = max(self._peak.get(key, 0), active)
                    return True
                if not opts.get("queue"):
                    return False
                self._admit.wait(0.01)
                if self._stop.is_set():
                    raise _Stopping

    def _leave(self, key: tuple[str, str], opts: dict[str, Any]) -> None:
        with self._admit:
            self._active[key] = self._active.get(key, 1) - 1
            self._admit.notify_all()

    def _answer(
        self, h: _Handler, rec: RecordedRequest, base: str, opts: dict[str, Any], seq: int, api_path: str
    ) -> None:
        """Answer one generation request: connection faults first, then HTTP errors, then the body."""
        split, delay = int(opts.get("split", 0)), float(opts.get("delay", 0.0))
        extra = {"x-request-id": f"req-{seq:06d}"}
        if opts.get("reset"):
            rec.outcome = "reset"
            _Writer(h.connection, self._stop, "close", 0, 0.0).rst()
            h.close_connection = True
            return
        if opts.get("drop"):
            rec.outcome = "dropped"  # socketserver then closes politely: a FIN, no response
            h.close_connection = True
            return

        failing = "fail" in opts or "status" in opts or "error" in opts
        if "fail_on" in opts and opts["fail_on"] in batch.prompt_of(rec.body):
            failing, opts = True, {**opts, "error": opts.get("error", "bad_request")}
        if failing and rec.attempt <= opts.get("fail", 1 << 30):
            body = rec.body if isinstance(rec.body, dict) else {}
            ctx = {
                "key": rec.bearer or "(none)",
                "model": body.get("model") or DEFAULT_MODEL,
                "style": opts.get("style"),
                "pad": opts.get("pad"),
            }
            status, ctype, data = error_response(opts.get("status"), opts.get("error"), ctx)
            if "retry_after" in opts:
                extra["retry-after"] = str(opts["retry_after"])
            if "retry_after_ms" in opts:
                extra["retry-after-ms"] = str(opts["retry_after_ms"])
            writer = _Writer(h.connection, self._stop, opts.get("framing", "length"), split, delay)
            writer.head(status, ctype, extra, len(data))
            writer.body(data)
            writer.end()
            rec.outcome = "error_status"
            h.close_connection = writer.framing == "close"
            return

        if base == "giant":
            self._giant(h, rec, opts, extra, split, delay)
            return
        tool_events: list[bytes] | None = None
        if base in TOOL_SCENARIOS:
            verdict = tools.answer(base, opts, rec.body)
            rec.round, rec.problem = verdict.round, verdict.problem
            if verdict.problem is not None:
                data = tools.problem_body(verdict.problem)
                writer = _Writer(h.connection, self._stop, "length", 0, 0.0)
                writer.head(400, JSON_TYPE, extra, len(data))
                writer.body(data)
                rec.outcome = "rejected"
                return
            tool_events = verdict.events
        full, weights, ctype = self._events(base, opts, rec, api_path, tool_events)
        streaming = (
            ctype.startswith("text/event-stream") or SHAPES.get(opts.get("shape", ""), ("",))[0] == "ctype"
        )
        writer = _Writer(
            h.connection, self._stop, opts.get("framing", "chunked" if streaming else "length"), split, delay
        )
        events, weights, cut = apply_faults(full, weights, opts, {"key": rec.bearer or "(none)"})
        # An aborted body announces its full length, so a length-framed client sees it incomplete.
        declared = sum(map(len, full if cut in ("hangup", "stall", "reset_after") else events))
        if cut is not None and writer.framing != "close":
            # We close after a fault: say so, or a keep-alive client may reuse the dead connection.
            extra["connection"] = "close"
        writer.head(200, ctype, extra, declared)
        rate = float(opts.get("rate", 0.0))
        start, sent_chars = time.monotonic(), 0
        for event, weight in zip(events, weights, strict=True):
            if rate > 0:
                writer.sleep(start + sent_chars / rate - time.monotonic())
                sent_chars += weight
            writer.body(event)
        if cut == "stall":
            writer.sleep(float(opts["stall"]))
        if cut == "reset_after":
            writer.rst()
        elif cut not in ("hangup", "stall"):
            writer.end()
        rec.outcome = {
            None: "complete",
            "truncate": "truncated",
            "hangup": "hangup",
            "stall": "stalled",
            "reset_after": "reset",
        }[cut]
        h.close_connection = cut is not None or writer.framing == "close"

    def _giant(
        self,
        h: _Handler,
        rec: RecordedRequest,
        opts: dict[str, Any],
        extra: dict[str, str],
        split: int,
        delay: float,
    ) -> None:
        """A good start, then one line of ``mb`` MiB (default 300) with no newline, written lazily."""
        extra["connection"] = "close"
        writer = _Writer(h.connection, self._stop, opts.get("framing", "chunked"), split, delay)
        writer.head(200, SSE_TYPE, extra, None)
        for piece in giant_line_events(int(opts.get("mb", 300))):
            writer.body(piece)
        writer.end()
        rec.outcome = "complete"
        h.close_connection = True

    def _events(
        self,
        base: str,
        opts: dict[str, Any],
        rec: RecordedRequest,
        api_path: str,
        tool_events: list[bytes] | None = None,
    ) -> tuple[list[bytes], list[int], str]:
        """The response as a list of events (for faults), their pacing weights, and its content type."""
        shape = SHAPES.get(opts.get("shape", ""), ("",))
        if shape[0] == "body":
            return [shape[2]], [0], shape[1]
        if tool_events is not None:
            events, weights, ctype = tool_events, [0] * len(tool_events), SSE_TYPE
        elif base in batch.BATCH_SCENARIOS:
            events = batch.answer_events(base, rec.body)
            weights, ctype = [0] * len(events), SSE_TYPE
        elif base == "big":
            body = big_body(int(opts.get("n", 200_000)), int(opts.get("r", 0)))
            events, weights, ctype = [body], [0], SSE_TYPE
        elif base == "table":
            pairs = table_events(int(opts.get("rows", 2000)), max(1, int(opts.get("chunk", 4))))
            events, weights, ctype = [e for e, _ in pairs], [w for _, w in pairs], SSE_TYPE
        elif base == "long":
            pairs = long_events(
                int(opts.get("chars", 100_000)),
                int(opts.get("rchars", 0)),
                max(1, int(opts.get("chunk", 24))),
            )
            events, weights, ctype = [e for e, _ in pairs], [w for _, w in pairs], SSE_TYPE
        else:
            path = transcript_path(base)
            data = path.read_bytes()
            if path.suffix == ".json":
                return [data], [0], JSON_TYPE
            events, ctype = split_events(data), SSE_TYPE
            weights = [0] * len(events)
        wants_stream = isinstance(rec.body, dict) and rec.body.get("stream") is True
        if not wants_stream:
            folded = fold_stream(b"".join(events))
            if "/run/" in api_path:
                folded = {"result": folded, "success": True, "errors": [], "messages": []}
            return [json.dumps(folded, ensure_ascii=False).encode()], [0], JSON_TYPE
        if shape[0] == "ctype":
            ctype = shape[1]
        return events, weights, ctype


# --------------------------------------------------------------------------- command line


def main(argv: Iterable[str] | None = None) -> int:
    """Run the server for a person or a notebook kernel; optionally run a command with the URL exported."""
    summary = (__doc__ or "").split("\n")[0]
    parser = argparse.ArgumentParser(prog="python -m tests.conformance.server", description=summary)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--url-file", help="also write the URL to this file")
    parser.add_argument(
        "command",
        nargs=argparse.REMAINDER,
        help="after --: a command to run with NEMOTRON_CONFORMANCE_URL set; the server stops when it exits",
    )
    args = parser.parse_args(list(argv) if argv is not None else None)
    server = ConformanceServer(args.host, args.port).start()
    os.environ[ENV_VAR] = server.url
    print(f"{ENV_VAR}={server.url}", flush=True)
    print(f"try: curl -N {server.base_url('nvidia')}/chat/completions -d '{{\"stream\": true}}'", flush=True)
    if args.url_file:
        Path(args.url_file).write_text(server.url + "\n", encoding="utf-8")
    command = [c for c in args.command if c != "--"] if args.command else []
    try:
        if command:
            return subprocess.call(command, env=os.environ.copy())
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        return 0
    finally:
        server.stop()


if __name__ == "__main__":
    sys.exit(main())
