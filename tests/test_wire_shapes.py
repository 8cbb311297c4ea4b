"""Wire shapes a server should not send, through real HTTP (the conformance server's ``shape=``).

Each ends in one readable line (a ``MalformedChunk``, a ``StreamError`` keeping the partial answer)
or, where the shape can be read safely, in a correct Response: never a raw AttributeError/TypeError
from ``chat()``, and nothing that breaks the display or the usage ledger later. Every case runs
through ``nm.chat`` and ``nm.AsyncClient``, with the body cut at awkward places.
"""

from __future__ import annotations

import asyncio
import itertools
import math
from typing import Any

import pytest

import nemotron_magics as nm
from nemotron_magics._client import LOCAL_FALLBACK_MODEL
from nemotron_magics._events import Retrying
from nemotron_magics._sse import SSEReader
from nemotron_magics.session import Ledger
from tests.conformance.faults import NVFP4
from tests.conformance.server import ConformanceServer
from tests.conformance.streams import expected

NVIDIA = expected("nvidia")
RUNNERS = ("sync", "async")
SPLITS = (None, 1, 7)


def _run(
    server: ConformanceServer,
    runner: str,
    scenario: str = "nvidia",
    provider: str = "nvidia",
    suffix: str = "/v1",
    **opts: Any,
) -> nm.Response:
    url = server.base_url(scenario, suffix=suffix, **{k: v for k, v in opts.items() if v is not None})
    if runner == "sync":
        return nm.chat("q", provider=provider, base_url=url, api_key="test-key")

    async def go() -> nm.Response:
        async with nm.AsyncClient(provider, api_key="test-key") as client:
            return await client.chat("q", base_url=url)

    return asyncio.run(go())


def _still_usable(r: nm.Response) -> None:
    """What a user does next with an answer must not fail: display it, count it."""
    bundle = r._repr_mimebundle_()
    assert "text/plain" in bundle
    ledger = Ledger()
    ledger.track(r)
    row = ledger.total()
    assert row.requests == 1
    assert isinstance(row.prompt_tokens, int) and isinstance(row.cost, float)


# -- shapes that cannot be read: one MalformedChunk line, the partial answer kept ---------------

UNREADABLE = {
    "delta_string": "choices[0].delta is a string, not an object",
    "content_number": "choices[0].delta.content is a number, not a string",
    "choices_null": "choices[0] is null, not an object",
    "function_string": "tool_calls[0].function is a string, not an object",
    "tool_index_string": "tool_calls[0].index is a string, not a whole number",
    "details_strings": "reasoning_details[0] is a string, not an object",
    "response_object": "response is an object, not a string",
}


@pytest.mark.parametrize("split", SPLITS)
@pytest.mark.parametrize("runner", RUNNERS)
@pytest.mark.parametrize("shape", sorted(UNREADABLE))
def test_unreadable_chunk_is_one_line_and_keeps_the_partial_answer(
    server: ConformanceServer, shape: str, runner: str, split: int | None
) -> None:
    with pytest.raises(nm.MalformedChunk) as info:
        _run(server, runner, shape=shape, split=split)
    msg = str(info.value)
    assert UNREADABLE[shape] in msg and msg.startswith("nvidia sent a chunk this client cannot read")
    assert "\n" not in msg and "partial answer is kept" in msg
    r = info.value.response
    assert r is not None and r.error is info.value and r.finish_reason == "error" and r.done
    assert r.reasoning and NVIDIA["reasoning"].startswith(r.reasoning.strip())
    _still_usable(r)


# -- shapes that can be read safely: a correct Response -------------------------------------------


@pytest.mark.parametrize("split", SPLITS)
@pytest.mark.parametrize("runner", RUNNERS)
def test_numeric_finish_reason_is_read_as_text(
    server: ConformanceServer, runner: str, split: int | None
) -> None:
    r = _run(server, runner, shape="finish_number", split=split)
    assert r.finish_reason == "3" and r.content == NVIDIA["content"] and r.error is None
    _still_usable(r)


@pytest.mark.parametrize("split", SPLITS)
@pytest.mark.parametrize("runner", RUNNERS)
def test_numeric_cloudflare_response_is_its_text(
    server: ConformanceServer, runner: str, split: int | None
) -> None:
    r = _run(server, runner, shape="response_number", split=split)
    assert r.content.startswith("42") and r.content.endswith(NVIDIA["content"][-20:])
    _still_usable(r)


@pytest.mark.parametrize("split", SPLITS)
@pytest.mark.parametrize("runner", RUNNERS)
def test_cost_that_is_not_a_number_is_unknown_then_estimated(
    server: ConformanceServer, runner: str, split: int | None
) -> None:
    r = _run(server, runner, provider="openrouter", shape="cost_string", split=split)
    assert r.content == NVIDIA["content"]
    u = r.usage
    assert u is not None and (u.prompt_tokens, u.completion_tokens) == (24, 61)
    assert u.cost_is_estimate and u.cost == pytest.approx((24 * 0.09 + 61 * 0.45) / 1e6)
    _still_usable(r)


@pytest.mark.parametrize("split", SPLITS)
@pytest.mark.parametrize("runner", RUNNERS)
def test_token_counts_are_whole_numbers_or_unknown(
    server: ConformanceServer, runner: str, split: int | None
) -> None:
    r = _run(server, runner, shape="tokens_string", split=split)
    u = r.usage
    assert u is not None
    # "12" is a count in digits; "lots" and -5 are not counts at all: unknown, not 0 and not text.
    assert (u.prompt_tokens, u.completion_tokens, u.reasoning_tokens, u.cached_tokens) == (12, 61, None, None)
    assert u.total_tokens == 73
    _still_usable(r)


@pytest.mark.parametrize("split", SPLITS)
@pytest.mark.parametrize("runner", RUNNERS)
def test_usage_that_is_a_list_is_unknown(server: ConformanceServer, runner: str, split: int | None) -> None:
    r = _run(server, runner, shape="usage_list", split=split)
    assert r.content == NVIDIA["content"] and r.usage is None and r.error is None
    _still_usable(r)


@pytest.mark.parametrize("runner", RUNNERS)
@pytest.mark.parametrize("shape", ["sse_unlabelled", "sse_as_json"])
def test_stream_labelled_otherwise_is_read_as_events(
    server: ConformanceServer, runner: str, shape: str
) -> None:
    for split in SPLITS:
        r = _run(server, runner, shape=shape, split=split)
        assert (r.reasoning, r.content) == (NVIDIA["reasoning"], NVIDIA["content"])


# -- 200 OK answers that are not an API answer at all ---------------------------------------------


@pytest.mark.parametrize("split", SPLITS)
@pytest.mark.parametrize("runner", RUNNERS)
@pytest.mark.parametrize(
    ("shape", "needle"),
    [
        ("html_page", "an HTML page ('Sign in · Example SSO'), not an event stream (content-type text/html)"),
        (
            "html_unlabelled",
            "an HTML page ('502 Bad Gateway'), not an event stream (content-type text/plain)",
        ),
        ("not_completion", "JSON that is not a chat completion (object, data)"),
    ],
)
def test_a_200_that_is_not_an_api_answer_says_so(
    server: ConformanceServer, runner: str, split: int | None, shape: str, needle: str
) -> None:
    with pytest.raises(nm.MalformedChunk) as info:
        _run(server, runner, shape=shape, split=split)
    msg = str(info.value)
    assert needle in msg and "check base_url" in msg and "\n" not in msg
    assert "mid-stream" not in msg and "SSEError" not in msg
    assert len(server.requests) == 1  # a login page will not change: no retry


@pytest.mark.parametrize("runner", RUNNERS)
def test_envelope_errors_as_one_string(server: ConformanceServer, runner: str) -> None:
    with pytest.raises(nm.InStreamError) as info:
        _run(server, runner, "cloudflare_native", "cloudflare-native", "/ai", shape="envelope_errors_string")
    assert str(info.value) == "boom"  # not "b; o; o; m"


# -- retry hints that are not a time to wait, and /models ids that are not ids -------------------


@pytest.mark.parametrize("runner", RUNNERS)
@pytest.mark.parametrize(
    "hint", [{"retry_after": "60s"}, {"retry_after": "nan"}, {"retry_after": "inf"}, {"retry_after_ms": "-5"}]
)
def test_unusable_retry_after_falls_back_to_our_backoff(
    server: ConformanceServer, runner: str, hint: dict[str, str]
) -> None:
    nm.configure(max_retries=2, max_backoff=0.05)
    url = server.base_url("nvidia", fail=1, status=429, **hint)

    async def events() -> list[Any]:
        async with nm.AsyncClient("nvidia", api_key="k") as client:
            return [e async for e in await client.stream("q", base_url=url)]

    if runner == "sync":
        got = list(nm.stream("q", provider="nvidia", base_url=url, api_key="k"))
    else:
        got = asyncio.run(events())
    retries = [e for e in got if isinstance(e, Retrying)]
    assert len(retries) == 1
    assert math.isfinite(retries[0].delay) and 0 <= retries[0].delay <= 0.05
    assert "".join(e.text for e in got if isinstance(e, nm.TextDelta)) == NVIDIA["content"]


@pytest.mark.parametrize(("shape", "model"), [("model_ids", NVFP4), ("model_ids_none", LOCAL_FALLBACK_MODEL)])
def test_model_ids_that_are_not_strings_are_skipped(
    server: ConformanceServer, shape: str, model: str
) -> None:
    r = nm.chat("q", provider="local", base_url=server.base_url("vllm", shape=shape))
    assert r.model == model and server.last_request().body["model"] == model


# -- the bounded SSE reader itself, cut at every byte ---------------------------------------------

STREAM = (
    b"\xef\xbb\xbf: comment\r\n"
    b"event: message\r\n"
    b'data: {"a": 1}\r\n\r\n'
    b"data: two\rdata: lines\r\r"
    b"data:no-space\n"
    b"id: 7\n"
    b"retry: 10\n\n"
    b"data\n\n"
    b"event: error\ndata: {}\n\n"
    b"data: cut off"
)
EVENTS = [(b"message", b'{"a": 1}'), (b"", b"two\nlines"), (b"", b"no-space"), (b"", b""), (b"error", b"{}")]


def _read(pieces: list[bytes]) -> list[tuple[bytes, bytes]]:
    reader = SSEReader(1024)
    return [event for piece in pieces for event in reader.feed(piece)]


@pytest.mark.parametrize("cut", range(1, len(STREAM)))
def test_sse_reader_line_endings_and_fields_split_anywhere(cut: int) -> None:
    assert _read([STREAM[:cut], STREAM[cut:]]) == EVENTS


def test_sse_reader_two_cuts_and_byte_by_byte() -> None:
    for a, b in itertools.combinations(range(1, len(STREAM), 5), 2):
        assert _read([STREAM[:a], STREAM[a:b], STREAM[b:]]) == EVENTS
    assert _read([STREAM[i : i + 1] for i in range(len(STREAM))]) == EVENTS
