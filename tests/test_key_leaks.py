"""Keys and URL passwords never leave: not in a message, not cut in half, not in any repr of any frame.

Real HTTP against the loopback conformance server, whose 401 bodies and malformed events echo the
bearer key back (``pad=N`` puts it N characters in, so a test walks it across every cut).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

import nemotron_magics as nm
from tests.conformance.server import ConformanceServer

# No known key shape (nvapi-, sk-…): only the registry of keys in use can hide it. Built at run time.
KEY = "Zx" + "q7Lm" * 7 + "Wv"
PASSWORD = "pw" + "Hunter2Secret" * 2
GRAMS = [KEY[i : i + 8] for i in range(len(KEY) - 7)]


@pytest.fixture(autouse=True)
def quick() -> None:
    nm.configure(max_retries=1, max_backoff=0.01, connect_timeout=2.0, read_timeout=5.0)


def _assert_clean(text: str, *, password: bool = True) -> None:
    assert KEY not in text
    assert not [g for g in GRAMS if g in text], text
    if password:
        assert PASSWORD not in text and PASSWORD[:8] not in text


def _assert_clean_cut(message: str) -> None:
    """No piece of the key of any length: not after the filler before it, not just before the cut mark."""
    _assert_clean(message)
    assert "." + KEY[0] not in message, message  # the filler is dots: a dot then the key's start is a piece
    if "…" in message:
        before = message[: message.index("…")]
        assert not [k for k in range(1, len(KEY) + 1) if before.endswith(KEY[:k])], message


# -- 1. redact before cutting --------------------------------------------------------------------

# style -> (characters before the key in the provider's message, where provider_message cuts it)
CUTS = {"text": (0, 300), "nvidia": (45, 500), "openai": (28, 500), "openrouter": (34, 500)}


@pytest.mark.parametrize("style", sorted(CUTS))
def test_echoed_key_is_hidden_at_every_offset_around_the_cut(server: ConformanceServer, style: str) -> None:
    prefix, cut = CUTS[style]
    with nm.Client("nvidia", api_key=KEY) as client:
        for pad in range(max(cut - prefix - len(KEY) - 3, 0), cut - prefix + 3):
            with pytest.raises(nm.AuthenticationError) as info:
                client.chat("q", base_url=server.base_url("unauthorized", style=style, pad=pad))
            _assert_clean_cut(str(info.value))
            assert "\n" not in str(info.value)


def test_malformed_chunk_quoting_the_key_is_hidden_at_every_offset(server: ConformanceServer) -> None:
    with nm.Client("nvidia", api_key=KEY) as client:
        for pad in range(80 - len(KEY) - 3, 83):
            with pytest.raises(nm.MalformedChunk) as info:
                client.chat("q", base_url=server.base_url("nvidia", malformed=3, pad=pad))
            _assert_clean_cut(str(info.value))


def test_malformed_chunk_through_the_async_client(server: ConformanceServer) -> None:
    async def go() -> None:
        async with nm.AsyncClient("nvidia", api_key=KEY) as client:
            for pad in (40, 50, 60, 70):
                with pytest.raises(nm.MalformedChunk) as info:
                    await client.chat("q", base_url=server.base_url("nvidia", malformed=3, pad=pad))
                _assert_clean_cut(str(info.value))

    asyncio.run(go())


# -- 2. keys are stripped, and never reach h11 ----------------------------------------------------


@pytest.mark.parametrize("raw", [KEY + "\n", f"  {KEY}\r\n", f"\t{KEY} "])
def test_key_read_from_a_file_is_stripped(
    server: ConformanceServer, monkeypatch: pytest.MonkeyPatch, raw: str
) -> None:
    monkeypatch.setenv("NVIDIA_API_KEY", raw)
    nm.chat("q", provider="nvidia", base_url=server.base_url("nvidia"))
    assert server.last_request().bearer == KEY
    nm.chat("q", provider="nvidia", base_url=server.base_url("nvidia"), api_key=raw)
    assert server.last_request().bearer == KEY


@pytest.mark.parametrize(
    ("bad", "problem"),
    [
        (KEY[:10] + "\n" + KEY[10:], "a line break"),
        (KEY[:10] + " " + KEY[10:], "a space"),
        (KEY[:10] + "é" + KEY[10:], "a character outside printable ASCII"),
        (KEY[:10] + "\x07" + KEY[10:], "a control character"),
    ],
)
def test_key_that_cannot_go_in_a_header_is_one_line_naming_its_source(
    server: ConformanceServer, monkeypatch: pytest.MonkeyPatch, bad: str, problem: str
) -> None:
    monkeypatch.setenv("NVIDIA_API_KEY", bad)
    with pytest.raises(nm.ConfigurationError) as info:
        nm.chat("q", provider="nvidia", base_url=server.base_url("nvidia"))
    msg = str(info.value)
    assert f"The API key in NVIDIA_API_KEY contains {problem}" in msg and "\n" not in msg
    _assert_clean(msg)
    with pytest.raises(nm.ConfigurationError, match=f"API key in api_key contains {problem}") as info:
        nm.Client("nvidia", api_key=bad).chat("q", base_url=server.base_url("nvidia"))
    _assert_clean(str(info.value))
    assert server.requests == []  # refused before anything was sent


def test_an_httpx_protocol_error_becomes_one_redacted_line(server: ConformanceServer) -> None:
    # A header the caller's own httpx client adds, holding the key and a newline: h11 refuses it.
    http = httpx.Client(headers={"X-Api-Key": KEY + "\n"})
    with (
        nm.Client("nvidia", api_key=KEY, http_client=http) as client,
        pytest.raises(nm.ConfigurationError) as info,
    ):
        client.chat("q", base_url=server.base_url("nvidia"))
    msg = str(info.value)
    assert "LocalProtocolError" in msg and "could not be sent" in msg and "\n" not in msg
    _assert_clean(msg)


# -- 3. nothing that holds a key reprs it, in any frame of the traceback ---------------------------


def _reprs(value: Any) -> Iterator[str]:
    """repr of the value, and of what it holds one level down (dict, list, dataclass, object fields)."""
    yield repr(value)
    inner: list[Any] = []
    if isinstance(value, dict):
        inner = [*value.keys(), *value.values()]
    elif isinstance(value, list | tuple | set | frozenset):
        inner = list(value)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        inner = [getattr(value, f.name) for f in dataclasses.fields(value)]
    elif type(value).__module__.startswith("nemotron_magics") and hasattr(value, "__dict__"):
        inner = list(vars(value).values())
    for item in inner:
        yield repr(item)


def _everything_shown(exc: BaseException) -> Iterator[str]:
    """Every text a verbose traceback could print: messages, and the repr of every local of every frame."""
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        yield str(e)
        yield repr(e)
        yield from _reprs(getattr(e, "response", None))
        tb = e.__traceback__
        while tb is not None:
            frame = tb.tb_frame
            if frame.f_code.co_filename != __file__:  # this test's own locals hold the key, of course
                for value in frame.f_locals.values():
                    yield from _reprs(value)
            tb = tb.tb_next
        e = e.__cause__ or e.__context__


def _assert_frames_clean(exc: BaseException) -> None:
    texts = list(_everything_shown(exc))
    assert len(texts) > 5
    for text in texts:
        _assert_clean(text)


def _with_password(url: str) -> str:
    scheme, rest = url.split("://", 1)
    return f"{scheme}://gateway:{PASSWORD}@{rest}"


def test_401_echo_leaves_no_key_in_any_frame(
    server: ConformanceServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    with nm.Client("nvidia", api_key=KEY) as client, pytest.raises(nm.AuthenticationError) as info:
        client.chat("q", base_url=server.base_url("unauthorized"))
    _assert_frames_clean(info.value)
    monkeypatch.setenv("NVIDIA_API_KEY", KEY + "\n")
    with pytest.raises(nm.AuthenticationError) as info:
        nm.chat("q", provider="nvidia", base_url=server.base_url("unauthorized", style="openai"))
    _assert_frames_clean(info.value)


def test_401_echo_through_the_async_client(server: ConformanceServer) -> None:
    async def go() -> BaseException:
        async with nm.AsyncClient("nvidia", api_key=KEY) as client:
            try:
                await client.chat("q", base_url=server.base_url("unauthorized", style="openrouter"))
            except nm.AuthenticationError as exc:
                return exc
        raise AssertionError("no error")

    _assert_frames_clean(asyncio.run(go()))


def test_connect_refused_to_a_url_with_a_password(server: ConformanceServer) -> None:
    url = _with_password(server.closed_port_url())
    client = nm.Client("local", base_url=url, model="m", api_key=KEY)
    assert "gateway" not in repr(client)
    _assert_clean(repr(client))
    with pytest.raises(nm.ConnectError) as info:
        client.chat("q")
    assert "Cannot reach local at http://127.0.0.1:" in str(info.value)
    _assert_frames_clean(info.value)
    with pytest.raises(nm.ConnectError) as info:  # the same URL given per call
        nm.Client("local", model="m", api_key=KEY).chat("q", base_url=url, api_key=KEY)
    _assert_frames_clean(info.value)
    with pytest.raises(nm.ConnectError) as info:  # no model: the /models question fails first
        nm.Client("local", base_url=url, api_key=KEY).chat("q")
    _assert_frames_clean(info.value)


def test_key_with_a_line_break_leaves_nothing_in_any_frame(
    server: ConformanceServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NVIDIA_API_KEY", KEY[:12] + "\n" + KEY[12:])
    with pytest.raises(nm.ConfigurationError) as info:
        nm.chat("q", provider="nvidia", base_url=server.base_url("nvidia"))
    _assert_frames_clean(info.value)
    with pytest.raises(nm.ConfigurationError) as info:
        nm.Client("nvidia", api_key=KEY + "\nX").chat("q", base_url=server.base_url("nvidia"))
    _assert_frames_clean(info.value)


def test_nothing_that_holds_a_key_reprs_it(server: ConformanceServer) -> None:
    url = _with_password(server.base_url("nvidia"))
    client = nm.Client("nvidia", api_key=KEY, base_url=url)
    stream = client.stream("q")
    call = stream._fold.call
    for obj in (client, client._resolver, stream, call, stream.response):
        for text in _reprs(obj):
            _assert_clean(text)
    assert stream.until_done().content
    # httpx sends the URL's user:password as Basic auth, in place of the bearer key.
    assert server.last_request().headers["authorization"].startswith("Basic ")
    for text in _reprs(stream):
        _assert_clean(text)
