"""Faults from a real loopback server: each ends in a clear error or an allowed retry, never a hang,
and a stream that broke keeps what arrived."""

from __future__ import annotations

import _thread
import threading
import time
from typing import Any

import pytest

import nemotron_magics as nm
from tests.conformance.server import ConformanceServer
from tests.conformance.streams import expected

NVIDIA = expected("nvidia")
FAKE_KEY = "nvapi-" + "SECRETSECRETSECRET123"  # built at run time: no key-shaped literal in the repo


@pytest.fixture(autouse=True)
def quick_retries() -> None:
    nm.configure(max_retries=2, max_backoff=0.05, read_timeout=5.0, connect_timeout=2.0)


def _posts(server: ConformanceServer) -> int:
    return sum(1 for r in server.requests if r.method == "POST")


def _chat(url: str, **kw: Any) -> nm.Response:
    return nm.chat("q", provider="nvidia", base_url=url, api_key=FAKE_KEY, **kw)


def test_connection_refused_is_retried_then_one_line(server: ConformanceServer) -> None:
    t0 = time.monotonic()
    with pytest.raises(nm.ConnectError) as info:
        _chat(server.closed_port_url())
    assert time.monotonic() - t0 < 5
    msg = str(info.value)
    assert "Cannot reach nvidia" in msg and "\n" not in msg


def test_reset_before_headers_is_retried(server: ConformanceServer) -> None:
    with pytest.raises(nm.ConnectError):
        _chat(server.base_url("reset"))
    assert _posts(server) == 3  # the first try and max_retries=2 more


@pytest.mark.parametrize("status", [429, 500, 502, 503, 408, 409])
def test_retryable_status_then_success(server: ConformanceServer, status: int) -> None:
    r = _chat(server.base_url("nvidia", fail=2, status=status))
    assert r.content == NVIDIA["content"]
    assert _posts(server) == 3


def test_retry_after_is_honoured(server: ConformanceServer) -> None:
    nm.configure(max_backoff=5.0)
    t0 = time.monotonic()
    r = _chat(server.base_url("nvidia", fail=1, status=429, retry_after="0.6"))
    assert r.content == NVIDIA["content"]
    assert time.monotonic() - t0 >= 0.6  # waited as told, not the 50 ms of its own backoff


def test_rate_limit_after_all_retries(server: ConformanceServer) -> None:
    with pytest.raises(nm.RateLimited, match="429"):
        _chat(server.base_url("nvidia", status=429, retry_after="0"))
    assert _posts(server) == 3


@pytest.mark.parametrize(
    ("scenario", "error", "needle"),
    [
        ("bad_request", nm.BadRequest, "temperature"),
        ("context_length", nm.ContextTooLong, "context"),
        ("unauthorized", nm.AuthenticationError, "NVIDIA_API_KEY"),
        ("forbidden", nm.AuthenticationError, "403"),
        ("model_not_found", nm.ModelNotFound, "model"),
    ],
)
def test_client_errors_are_clear_and_not_retried(
    server: ConformanceServer, scenario: str, error: type[Exception], needle: str
) -> None:
    with pytest.raises(error) as info:
        _chat(server.base_url(scenario))
    msg = str(info.value)
    assert needle in msg and "\n" not in msg
    assert "SECRETSECRET" not in msg  # the 401 body echoes the key back: it must not reach the user
    assert len(server.requests) == 1


@pytest.mark.parametrize("style", ["nvidia", "openai", "openrouter"])
def test_echoed_key_is_redacted_everywhere(server: ConformanceServer, style: str) -> None:
    with pytest.raises(nm.AuthenticationError) as info:
        _chat(server.base_url("unauthorized", style=style))
    rendered = "".join(info.value._render_traceback_())
    assert "SECRETSECRET" not in rendered and "SECRETSECRET" not in repr(info.value)


def test_cloudflare_error_envelope(server: ConformanceServer) -> None:
    with pytest.raises(nm.BadRequest, match="5006"):
        nm.chat(
            "q",
            provider="cloudflare-native",
            base_url=server.base_url("cloudflare_error", suffix="/ai"),
            api_key="k",
        )
    assert _posts(server) == 1


def _partial(exc: nm.StreamError) -> nm.Response:
    assert exc.response is not None
    assert exc.response.finish_reason == "error" and exc.response.error is exc
    return exc.response


def test_stall_past_read_timeout_keeps_partial(server: ConformanceServer) -> None:
    nm.configure(read_timeout=0.5)
    t0 = time.monotonic()
    with pytest.raises(nm.StreamTimeout) as info:
        _chat(server.base_url("nvidia", stall=5, after=3))
    assert time.monotonic() - t0 < 3
    r = _partial(info.value)
    assert r.reasoning and NVIDIA["reasoning"].startswith(r.reasoning)
    assert "partial answer is kept" in str(info.value)
    assert _posts(server) == 1  # bytes had arrived: no silent second answer


@pytest.mark.parametrize("fault", [{"truncate": 12}, {"hangup": 12}, {"reset_after": 12}])
def test_broken_stream_keeps_what_arrived(server: ConformanceServer, fault: dict[str, int]) -> None:
    with pytest.raises(nm.StreamError) as info:
        _chat(server.base_url("nvidia", **fault))
    r = _partial(info.value)
    assert r.content and NVIDIA["content"].startswith(r.content)
    assert _posts(server) == 1


def test_malformed_chunk(server: ConformanceServer) -> None:
    with pytest.raises(nm.MalformedChunk, match="not JSON") as info:
        _chat(server.base_url("malformed"))
    assert _partial(info.value).reasoning


@pytest.mark.parametrize("style", ["plain", "vllm", "openrouter"])
def test_in_stream_error_event(server: ConformanceServer, style: str) -> None:
    with pytest.raises(nm.InStreamError) as info:
        _chat(server.base_url("nvidia", error_event=12, error_style=style))
    assert _partial(info.value).content
    assert "\n" not in str(info.value)


def test_closing_a_stream_closes_the_connection(server: ConformanceServer) -> None:
    s = nm.stream("q", provider="nvidia", base_url=server.base_url("slow", delay=0.05), api_key="k")
    for n, _event in enumerate(s):
        if n == 5:
            break
    t0 = time.monotonic()
    s.close()
    outcome = server.last_request().wait(timeout=2)
    assert outcome == "client_disconnected" and time.monotonic() - t0 < 0.5
    assert s.response.finish_reason == "cancelled" and s.response.done


def test_keyboard_interrupt_cancels_within_half_a_second(server: ConformanceServer) -> None:
    s = nm.stream("q", provider="nvidia", base_url=server.base_url("slow", delay=0.2), api_key="k")
    fired: list[float] = []

    def interrupt() -> None:
        fired.append(time.monotonic())
        _thread.interrupt_main()

    timer = threading.Timer(0.8, interrupt)
    timer.start()
    with pytest.raises(nm.StreamCancelled) as info:
        s.until_done()
    caught = time.monotonic()
    assert caught - fired[0] < 0.5
    r = info.value.response
    assert r is s.response and r.finish_reason == "cancelled"
    assert r.content or r.reasoning  # the partial answer is kept
    assert server.last_request().wait(timeout=2) == "client_disconnected"


def test_missing_key_names_the_variable_and_alternatives() -> None:
    with pytest.raises(nm.MissingAPIKey) as info:
        nm.chat("q", provider="openrouter")
    msg = str(info.value)
    assert "OPENROUTER_API_KEY" in msg and "embedded" in msg and "\n" not in msg


def test_unknown_provider_and_parameter() -> None:
    with pytest.raises(nm.ConfigurationError, match="choose one of"):
        nm.chat("q", provider="nvidai")
    with pytest.raises(nm.ConfigurationError, match="extra_body"):
        nm.chat("q", provider="local", base_url="http://127.0.0.1:9/v1", model="m", temprature=0.3)
    with pytest.raises(nm.ConfigurationError, match="reasoning must be one of"):
        nm.chat("q", provider="local", base_url="http://127.0.0.1:9/v1", model="m", reasoning="high")


def test_key_never_in_repr(server: ConformanceServer) -> None:
    client = nm.Client("nvidia", api_key="nvapi-DONOTSHOWTHISKEY000")
    r = client.chat("q", base_url=server.base_url("nvidia"))
    for text in (repr(client), repr(r), str(r.request)):
        assert "DONOTSHOW" not in text


def test_client_timeout_overrides_settings(server: ConformanceServer) -> None:
    client = nm.Client("nvidia", api_key="k", read_timeout=0.3, max_retries=0)
    t0 = time.monotonic()
    with pytest.raises(nm.StreamTimeout):
        client.chat("q", base_url=server.base_url("nvidia", stall=5, after=1))
    assert time.monotonic() - t0 < 2  # settings say 5 s; the client's 0.3 s wins
