"""Where a request goes, and the clients that send it.

``Client`` holds one ``httpx.Client`` (one connection pool) for many requests;
``AsyncClient`` is its twin on ``httpx.AsyncClient`` for batches. Both share
everything but the I/O: :class:`_Resolver` decides where a request goes (and
checks the key before it reaches a header), :mod:`._stream` sends, retries,
reads and folds.

Keys and URL passwords are held so that no ``repr`` shows them (``Secret``,
:class:`_URL`): ``%xmode Verbose`` tracebacks print every local of every frame.
"""

from __future__ import annotations

import asyncio
import os
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, overload

import httpx

from . import _transport as transport
from ._config import settings
from ._dialects import PreparedRequest, as_messages, prepare
from ._errors import ConfigurationError, ConnectError, NemotronError
from ._fold import HTTPX_ERRORS
from ._params import SETTINGS, check_params
from ._process import served_models
from ._providers import Provider, choose_provider, fallback_notice, get_provider, require_key
from ._response import Response
from ._secrets import Secret, clean_key, register_secret, safe_url, url_credentials
from ._stream import AsyncStream, Limits, Stream, _detached

if TYPE_CHECKING:
    from ._cache import Replay
    from ._loop import ToolLoop
    from ._schema import Schema

Prompt = str | Sequence[Mapping[str, Any]]
#: Keywords of the tool loop, not of the request.
LOOP_OPTIONS = ("max_rounds", "tool_timeout", "confirm", "approve")


def _message_list(prompt: Prompt) -> list[dict[str, Any]]:
    return [{"role": "user", "content": prompt}] if isinstance(prompt, str) else [dict(m) for m in prompt]


#: Served when a local server's /models cannot tell (the FP8 checkpoint most people serve).
LOCAL_FALLBACK_MODEL = "nvidia/NVIDIA-Nemotron-3-Super-120B-A12B-FP8"
# What an HTTP header value may hold of a bearer token: visible ASCII, no spaces or line breaks.
_NOT_IN_HEADER = re.compile(r"[^\x21-\x7e]")


class _URL(str):
    """A base URL as a ``str`` whose ``repr`` hides ``user:password@``."""

    __slots__ = ()

    def __repr__(self) -> str:
        return repr(safe_url(str(self)))


@overload
def _url(value: str) -> _URL: ...
@overload
def _url(value: None) -> None: ...
def _url(value: str | None) -> _URL | None:
    return None if value is None else value if isinstance(value, _URL) else _URL(value)


def _secret(value: str | None) -> Secret | None:
    """A key as it is sent (stripped) and held (repr ``'***'``), registered for redaction."""
    key = clean_key(value)
    if key is None:
        return None
    register_secret(key)
    return key if isinstance(key, Secret) else Secret(key)


def _hidden(kw: dict[str, Any]) -> dict[str, Any]:
    """Call keywords with the key and URL wrapped, so the caller's frame shows neither."""
    if kw.get("api_key") is not None:
        kw["api_key"] = _secret(kw["api_key"])
    if kw.get("base_url") is not None:
        kw["base_url"] = _url(kw["base_url"])
    return kw


def _header_problem(key: str) -> str | None:
    found = _NOT_IN_HEADER.search(key)
    if found is None:
        return None
    ch = found.group()
    if ch in "\r\n":
        return "a line break"
    if ch in " \t":
        return "a space"
    return "a character outside printable ASCII" if ord(ch) > 0x7E else "a control character"


@dataclass(frozen=True)
class Call:
    """Everything resolved for one request (its repr shows neither the key nor a URL password)."""

    provider: Provider
    base_url: str
    model: str
    #: Carries the key in its headers: left out of the repr.
    request: PreparedRequest = field(repr=False)
    reasoning_mode: str | None
    #: Said to the reader with the answer (the embedded fallback when no key is set).
    notices: tuple[str, ...] = ()
    #: The structured-output schema the answer is validated against at the end.
    schema: Schema | None = None

    def new_response(self) -> Response:
        response = Response(
            provider=self.provider.name,
            model=self.model,
            request=self.request.body,
            reasoning_mode=self.reasoning_mode,
        )
        response.notices.extend(self.notices)
        response.schema = self.schema
        return response


MTP_NOTE = (
    "This server runs speculative decoding (MTP) with reasoning on: some vLLM builds return malformed "
    "structured output then; the answer is validated, but if it fails, try --reasoning off or a server "
    "without MTP."
)


def mtp_notes(base_url: str) -> list[str]:
    """The MTP warning when ``base_url`` is a server ``%nemotron serve`` started with MTP on."""
    try:
        from ._serve._server import servers

        for server in servers():
            url = server.url.rstrip("/").removesuffix("/v1")
            speculative = " ".join([*server.command, *server.env.values()]).lower()
            if base_url.rstrip("/").startswith(url) and "mtp" in speculative:
                return [MTP_NOTE]
    except Exception:
        return []
    return []


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
        self.provider, self.model = provider, model
        self.base_url = _url(base_url)
        url_credentials(base_url)
        self.api_key = _secret(api_key)
        self.defaults = check_params(defaults)  # Client("nvidia", temperature="warm") fails here
        self._models: dict[str, str] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<_Resolver provider={self.provider!r} model={self.model!r} base_url={self.base_url!r}>"

    def resolve(
        self,
        prompt: Prompt,
        provider: str | None,
        model: str | None,
        base_url: str | None,
        api_key: str | None,
        params: dict[str, Any],
    ) -> Call:
        """The call to make; an error leaves without the frames that hold the key."""
        try:
            return self._resolve(prompt, provider, model, _url(base_url), _secret(api_key), params)
        except NemotronError as exc:
            error = exc
        raise _detached(error)

    def _resolve(
        self,
        prompt: Prompt,
        provider: str | None,
        model: str | None,
        base_url: _URL | None,
        api_key: Secret | None,
        params: dict[str, Any],
    ) -> Call:
        base_url = _url(base_url or self.base_url or settings.base_url)
        p, why = choose_provider(provider or self.provider, settings.provider, base_url)
        notice = fallback_notice(p, why)
        key = self._key(p, api_key)
        # Checked before anything starts or is asked (the embedded engine, a server's /models).
        merged = check_params({**settings.params, **self.defaults, **params})
        if p.start is not None and not base_url:
            started, default_model = p.start()  # the embedded engine, started on demand
            base_url = _url(started)
        else:
            base_url = _url((base_url or p.resolve_base_url()).rstrip("/"))
            default_model = p.model
        url_credentials(base_url)
        name = model or self.model or settings.model or default_model or self._discover(base_url, key)
        messages = as_messages(prompt, merged.pop("system", None))
        request = prepare(p.dialect, base_url, name, key, messages, merged)
        notices = (*((notice,) if notice else ()), *p.dialect.notes(merged))
        if merged.get("schema") is not None and merged.get("reasoning") != "off":
            notices = (*notices, *mtp_notes(base_url))
        return Call(p, base_url, name, request, merged.get("reasoning"), notices, merged.get("schema"))

    def _key(self, p: Provider, api_key: Secret | None) -> Secret | None:
        """The key for this call, stripped, checked fit for a header, held as a Secret."""
        given = api_key or self.api_key
        source = "api_key"
        if given is None:
            source = next((v for v in p.key_env if clean_key(os.environ.get(v))), "the environment")
        key = _secret(require_key(p, given))
        if key is not None:
            problem = _header_problem(key)
            if problem:
                raise ConfigurationError(
                    f"The API key in {source} contains {problem}, which an HTTP header cannot carry; "
                    "copy the key again (one line of letters, digits and punctuation)"
                )
        return key

    def _discover(self, base_url: str, key: Secret | None) -> str:
        """Ask a local server which model it serves: vLLM, SGLang and llama.cpp each name it differently."""
        with self._lock:
            if base_url in self._models:
                return self._models[base_url]
            headers = {"Authorization": Secret(f"Bearer {key}")} if key else {}
            try:
                ids = served_models(base_url, headers=headers, timeout=settings.connect_timeout) or []
            except HTTPX_ERRORS as exc:
                error = transport.request_error(get_provider("local"), base_url, exc)
            else:
                found = next((i for i in ids if "nemotron" in i.lower()), ids[0] if ids else None)
                self._models[base_url] = found or LOCAL_FALLBACK_MODEL
                return self._models[base_url]
        raise _detached(error)


def _cache_option(params: dict[str, Any]) -> bool | str:
    """``cache=`` taken out of the request parameters (it is ours, not the API's)."""
    if "cache" not in params:
        return False
    from ._cache import cache_mode

    return cache_mode(params.pop("cache"))


def _cache_key(call: Call, cache: bool | str) -> str | None:
    if not cache:
        return None
    from ._cache import key_for

    return key_for(call)


#: The limits a client may set for itself (None: the process settings, read at each call).
_LIMITS = (
    "max_retries",
    "max_backoff",
    "read_timeout",
    "connect_timeout",
    "total_timeout",
    "max_event_bytes",
)


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
        total_timeout: float | None = None,
        max_event_bytes: int | None = None,
        **defaults: Any,
    ) -> None:
        api_key = _secret(api_key)  # this frame's locals show '***', should the checks below fail
        own = dict(
            max_retries=max_retries,
            max_backoff=max_backoff,
            read_timeout=read_timeout,
            connect_timeout=connect_timeout,
            total_timeout=total_timeout,
            max_event_bytes=max_event_bytes,
        )
        self._own = {k: SETTINGS[k].validate(v) for k, v in own.items() if v is not None}
        self._resolver = _Resolver(provider, model, base_url, api_key, defaults)

    def _limits(self) -> Limits:
        """This client's overrides, else the process settings, read at each call."""
        return Limits(**{name: self._own.get(name, getattr(settings, name)) for name in _LIMITS})

    def __repr__(self) -> str:  # never the key, nor a password in the URL
        r = self._resolver
        return f"<{type(self).__name__} provider={r.provider!r} model={r.model!r} base_url={r.base_url!r}>"


class Client(_Base):
    """A reusable client: one connection pool for many requests, on any provider.

    Constructor arguments are defaults for every call (``Client("openrouter",
    temperature=0.2)``); each call may override them. ``total_timeout`` bounds a
    whole request however steadily bytes trickle in; ``max_event_bytes`` bounds one
    server-sent event (both default to the process settings).
    """

    def __init__(
        self, provider: str | None = None, *, http_client: httpx.Client | None = None, **kw: Any
    ) -> None:
        super().__init__(provider, **_hidden(kw))
        self._http = http_client or httpx.Client(timeout=self._limits().timeout(), follow_redirects=True)

    def stream(
        self,
        prompt_or_messages: Prompt,
        *,
        provider: str | None = None,
        model: str | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        on_round: Callable[[Response], None] | None = None,
        **params: Any,
    ) -> Stream | ToolLoop | Replay:
        """Stream one answer; with Python functions among ``tools``, the whole tool loop.

        Tool-loop options: ``max_rounds`` (8), ``tool_timeout`` (seconds per call), ``confirm``
        (ask before every call), ``approve`` (``(tool, arguments) -> bool``: how to ask).
        """
        api_key, base_url = _secret(api_key), _url(base_url)  # shown as '***' in any traceback
        loop_options = {k: params.pop(k) for k in LOOP_OPTIONS if k in params}
        cache = _cache_option(params)
        tools = params.get("tools")
        if tools and any(not isinstance(t, Mapping) for t in tools):
            if cache:
                raise ConfigurationError("cache= does not go with a tool loop: its answers depend on tools")
            from ._loop import ToolLoop

            params.pop("tools")
            kw = {"provider": provider, "model": model, "base_url": base_url, "api_key": api_key, **params}
            return ToolLoop(
                self,
                _message_list(prompt_or_messages),
                tools,
                stream_kw=kw,
                on_round=on_round,
                **loop_options,
            )
        if loop_options:
            raise ConfigurationError(
                f"{', '.join(sorted(loop_options))} apply to a tool loop: pass Python functions in tools=[…]"
            )
        call = self._resolver.resolve(prompt_or_messages, provider, model, base_url, api_key, params)
        key = _cache_key(call, cache)
        if key is not None and cache is True:
            from ._cache import Replay, lookup

            hit = lookup(call, key)
            if hit is not None:
                return Replay(hit)  # nothing was asked: no round to count
        stream = Stream(self._http, call, self._limits())
        stream.response.cache_key = key  # the store fills the entry on a clean finish
        if on_round is not None:
            on_round(stream.response)
        return stream

    def chat(self, prompt_or_messages: Prompt, **kw: Any) -> Response:
        return self.stream(prompt_or_messages, **_hidden(kw)).until_done()

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncClient(_Base):
    """The async twin of :class:`Client`, for many concurrent streams (batches)."""

    #: Resolve on the event loop, not in a thread: only once a first resolution to the same place
    #: has started the engine and learnt the model (the batch engine sets it after its probe).
    resolve_inline = False

    def __init__(
        self, provider: str | None = None, *, http_client: httpx.AsyncClient | None = None, **kw: Any
    ) -> None:
        super().__init__(provider, **_hidden(kw))
        self._http = http_client or httpx.AsyncClient(timeout=self._limits().timeout(), follow_redirects=True)

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
        api_key, base_url = _secret(api_key), _url(base_url)
        cache = _cache_option(params)
        callables = [t for t in params.get("tools") or () if not isinstance(t, Mapping)]
        if callables or any(k in params for k in LOOP_OPTIONS):
            raise ConfigurationError(
                "The tool loop runs on Client and chat(); AsyncClient sends JSON-schema tool dicts only "
                "(run the loop with await asyncio.to_thread(nm.chat, …, tools=[f]))"
            )
        # Resolution may start the embedded engine or ask a server for its model: keep it off the loop,
        # unless the caller has resolved this destination once already (a batch's rows: nothing left
        # to start or ask, and a thread hop per row would cost more than the resolution itself).
        resolve = self._resolver.resolve
        args = (prompt_or_messages, provider, model, base_url, api_key, params)
        call = resolve(*args) if self.resolve_inline else await asyncio.to_thread(resolve, *args)
        key = _cache_key(call, cache)
        if key is not None and cache is True:
            from ._cache import AsyncReplay, lookup

            hit = lookup(call, key)
            if hit is not None:
                return AsyncReplay(hit)  # type: ignore[return-value]  # the same reading surface
        stream = AsyncStream(self._http, call, self._limits())
        stream.response.cache_key = key
        return stream

    async def chat(self, prompt_or_messages: Prompt, **kw: Any) -> Response:
        return await (await self.stream(prompt_or_messages, **_hidden(kw))).until_done()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


__all__ = ["AsyncClient", "AsyncStream", "Call", "Client", "ConnectError", "Limits", "Stream"]
