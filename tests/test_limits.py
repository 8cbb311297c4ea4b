"""Limits a user can count on, against the real loopback server: an overall deadline, a bounded event,
retries you can see, and cancellation that keeps the partial answer, sync and async alike."""

from __future__ import annotations

import _thread
import asyncio
import subprocess
import sys
import textwrap
import threading
import time
from typing import Any

import pytest

import nemotron_magics as nm
from nemotron_magics._events import Retrying
from tests.conformance.server import ConformanceServer
from tests.conformance.streams import expected

NVIDIA = expected("nvidia")


def _chat(runner: str, url: str, **client_kw: Any) -> nm.Response:
    """One chat through a client with these limits, sync or async."""
    if runner == "sync":
        with nm.Client("nvidia", api_key="k", **client_kw) as client:
            return client.chat("q", base_url=url)

    async def go() -> nm.Response:
        async with nm.AsyncClient("nvidia", api_key="k", **client_kw) as client:
            return await client.chat("q", base_url=url)

    return asyncio.run(go())


# -- 6. total_timeout ------------------------------------------------------------------------------


def test_a_trickle_of_a_byte_a_second_ends_at_the_total_timeout(server: ConformanceServer) -> None:
    nm.configure(total_timeout=1.5, read_timeout=30)
    t0 = time.monotonic()
    with pytest.raises(nm.StreamTimeout) as info:
        nm.chat("q", provider="nvidia", base_url=server.base_url("trickle"), api_key="k")
    assert 1.4 < time.monotonic() - t0 < 3.5  # the deadline, plus at most the byte that was on its way
    msg = str(info.value)
    assert "did not finish within total_timeout (1.5 s)" in msg and "configure(total_timeout=" in msg
    r = info.value.response
    assert r is not None and r.finish_reason == "error" and r.done and r.error is info.value
    assert len(server.requests) == 1  # bytes had arrived: no retry


@pytest.mark.parametrize("runner", ["sync", "async"])
def test_client_total_timeout_keeps_the_partial_answer(server: ConformanceServer, runner: str) -> None:
    url = server.base_url("nvidia", split=64, delay=0.1)  # ~640 bytes/s: about 11 s for the whole answer
    t0 = time.monotonic()
    with pytest.raises(nm.StreamTimeout) as info:
        _chat(runner, url, total_timeout=1.0)
    assert time.monotonic() - t0 < 2.5  # the settings say 1800 s; the client's 1 s wins
    r = info.value.response
    assert r is not None and r.reasoning and NVIDIA["reasoning"].startswith(r.reasoning)
    assert "partial answer is kept" in str(info.value)


def test_total_timeout_cuts_a_read_timeout_short(server: ConformanceServer) -> None:
    client = nm.Client("nvidia", api_key="k", read_timeout=30, total_timeout=0.8, max_retries=0)
    t0 = time.monotonic()
    with pytest.raises(nm.StreamTimeout, match="total_timeout"):
        client.chat("q", base_url=server.base_url("nvidia", stall=10, after=2))
    assert time.monotonic() - t0 < 2


def test_retries_stop_when_the_deadline_would_pass(server: ConformanceServer) -> None:
    client = nm.Client("nvidia", api_key="k", max_retries=5, max_backoff=5, total_timeout=1.5)
    t0 = time.monotonic()
    with pytest.raises(nm.ServerError, match="503"):
        client.chat("q", base_url=server.base_url("nvidia", fail=5, status=503, retry_after="1"))
    assert time.monotonic() - t0 < 2.0  # one sleep of 1 s fits; the second would not
    assert len(server.requests) == 2


def test_limits_are_checked_where_they_are_set() -> None:
    with pytest.raises(nm.ConfigurationError, match="total_timeout"):
        nm.Client(total_timeout=-1)
    with pytest.raises(nm.ConfigurationError, match="max_event_bytes"):
        nm.AsyncClient(max_event_bytes=10)


# -- 7. one event is bounded -----------------------------------------------------------------------

_RSS_PROBE = textwrap.dedent(
    """
    import sys
    import nemotron_magics as nm

    def peak_kib() -> int:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))

    client = nm.Client("nvidia", api_key="k")
    before = peak_kib()
    try:
        client.chat("q", base_url=sys.argv[1])
    except nm.MalformedChunk as exc:
        print("ERROR", exc, "|", exc.response.content)
    print("GROWTH_MIB", (peak_kib() - before) / 1024)
    """
)


def test_a_300_mb_line_fails_early_with_bounded_memory(server: ConformanceServer) -> None:
    out = subprocess.run(
        [sys.executable, "-c", _RSS_PROBE, server.base_url("giant", mb=300)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    error = next(line for line in out.splitlines() if line.startswith("ERROR"))
    assert "larger than max_event_bytes (8,388,608 bytes)" in error and "configure(max_event_bytes=" in error
    assert error.endswith("| Hello")  # what arrived before the runaway line is kept
    growth = float(out.split("GROWTH_MIB")[1])
    assert growth < 200, out


@pytest.mark.parametrize("runner", ["sync", "async"])
def test_client_max_event_bytes(server: ConformanceServer, runner: str) -> None:
    url = server.base_url("giant", mb=2)
    with pytest.raises(nm.MalformedChunk, match=r"max_event_bytes \(65,536 bytes\)") as info:
        _chat(runner, url, max_event_bytes=65536)
    assert info.value.response is not None and info.value.response.content == "Hello"
    nm.configure(max_event_bytes=1 << 20)  # the setting, where the client sets nothing
    r = nm.chat("q", provider="nvidia", base_url=server.base_url("nvidia"), api_key="k")
    assert r.content == NVIDIA["content"]


# -- 9. retries are visible --------------------------------------------------------------------------


async def _aevents(url: str, provider: str = "nvidia") -> tuple[list[Any], nm.Response]:
    async with nm.AsyncClient(provider, api_key="k", model="m") as client:
        s = await client.stream("q", base_url=url)
        return [e async for e in s], s.response


@pytest.mark.parametrize("runner", ["sync", "async"])
def test_each_retry_is_announced_before_its_sleep(server: ConformanceServer, runner: str) -> None:
    nm.configure(max_retries=3, max_backoff=5)
    url = server.base_url("nvidia", fail=2, status=429, retry_after="0.2")
    seen: list[tuple[Retrying | None, float]] = []
    if runner == "sync":
        s = nm.stream("q", provider="nvidia", base_url=url, api_key="k")
        events = []
        for event in s:
            events.append(event)
            if isinstance(event, Retrying):
                seen.append((s.response.retrying, time.monotonic()))
        r = s.response
    else:
        events, r = asyncio.run(_aevents(url))
    retries = [e for e in events if isinstance(e, Retrying)]
    assert retries == [
        Retrying("429 Too Many Requests", 0.2, 2, 4),
        Retrying("429 Too Many Requests", 0.2, 3, 4),
    ]
    assert events[:2] == retries  # before anything else
    if runner == "sync":
        assert [latest for latest, _ in seen] == retries  # folded into the response as they come
        assert seen[1][1] - seen[0][1] >= 0.2  # announced before the sleep, not after
    assert r.retrying is None and r.content == NVIDIA["content"]  # cleared once bytes arrived


def test_server_errors_and_refused_connections_are_announced(server: ConformanceServer) -> None:
    nm.configure(max_retries=2, max_backoff=0.05)
    events = list(nm.stream("q", provider="nvidia", base_url=server.base_url("nvidia", fail=1), api_key="k"))
    assert isinstance(events[0], Retrying) and events[0].reason == "503 Service Unavailable"
    s = nm.stream("q", provider="local", model="m", base_url=server.closed_port_url())
    got: list[Any] = []
    with pytest.raises(nm.ConnectError):
        got.extend(s)
    assert [(e.reason.split(":")[0], e.attempt, e.of) for e in got] == [
        ("ConnectError", 2, 3),
        ("ConnectError", 3, 3),
    ]
    assert s.response.retrying == got[-1] and s.response.finish_reason == "error"
    events, _ = asyncio.run(_aevents(server.base_url("vllm", fail=1, status=502), "local"))
    assert isinstance(events[0], Retrying) and events[0].reason == "502 Bad Gateway"


# -- 10. cancelling an async stream keeps what arrived ------------------------------------------------


def test_cancelling_the_task_keeps_the_partial_answer(server: ConformanceServer) -> None:
    async def go() -> nm.AsyncStream:
        async with nm.AsyncClient("nvidia", api_key="k") as client:
            s = await client.stream("q", base_url=server.base_url("slow", delay=0.05))
            task = asyncio.create_task(s.until_done())
            await asyncio.sleep(0.6)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            return s

    s = asyncio.run(go())
    r = s.response
    assert r.done and r.finish_reason == "cancelled" and (r.content or r.reasoning)
    assert server.last_request().wait(timeout=2) == "client_disconnected"


def test_ctrl_c_under_asyncio_run_keeps_the_partial_answer(server: ConformanceServer) -> None:
    holder: list[nm.AsyncStream] = []

    async def go() -> None:
        async with nm.AsyncClient("nvidia", api_key="k") as client:
            holder.append(await client.stream("q", base_url=server.base_url("slow", delay=0.2)))
            await holder[0].until_done()

    timer = threading.Timer(0.8, _thread.interrupt_main)
    timer.start()
    t0 = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        asyncio.run(go())
    assert time.monotonic() - t0 < 2
    r = holder[0].response
    assert r.done and r.finish_reason == "cancelled" and (r.content or r.reasoning)
    assert server.last_request().wait(timeout=2) == "client_disconnected"
