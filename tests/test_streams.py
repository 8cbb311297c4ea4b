"""Every provider's wire dialect, replayed byte-exact over loopback HTTP, cut at awkward places.

The expected folds (reasoning, content, tool calls, usage, cost) are written down per transcript in
tests/conformance/transcripts/expected.json; the client must reach them whatever the byte split.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

import nemotron_magics as nm
from nemotron_magics import get_provider
from tests.conformance.server import ConformanceServer
from tests.conformance.streams import expected

# transcript -> (provider, extra call arguments, base_url suffix)
CASES: dict[str, tuple[str, dict[str, Any], str]] = {
    "nvidia": ("nvidia", {}, "/v1"),
    "openrouter": ("openrouter", {}, "/v1"),
    "deepinfra": ("deepinfra", {}, "/v1"),
    "cloudflare_openai": ("cloudflare", {}, "/v1"),
    "cloudflare_native": ("cloudflare-native", {}, "/ai"),
    "cloudflare_legacy": ("cloudflare-native", {}, "/ai"),
    "vllm": ("local", {}, "/v1"),
    "think_inline": ("local", {}, "/v1"),
    "think_close_only": ("local", {}, "/v1"),
    "answer_in_reasoning": ("nvidia", {"reasoning": "off"}, "/v1"),
    "answer_in_both": ("local", {"reasoning": "off"}, "/v1"),
    "tool_calls_parallel": ("local", {}, "/v1"),
    "tool_call_single": ("nvidia", {}, "/v1"),
    "json_answer": ("nvidia", {}, "/v1"),
    "unicode": ("nvidia", {}, "/v1"),
    "hostile": ("nvidia", {}, "/v1"),
    "length_cutoff": ("nvidia", {}, "/v1"),
}


def _call(server: ConformanceServer, name: str, **opts: Any) -> nm.Response:
    provider, extra, suffix = CASES[name]
    return nm.chat(
        "question",
        provider=provider,
        base_url=server.base_url(name, suffix=suffix, **opts),
        api_key="test-key",
        model="test-model",
        **extra,
    )


def _assert_matches(r: nm.Response, want: dict[str, Any]) -> None:
    assert r.reasoning == want["reasoning"]
    assert r.content == want["content"]
    assert r.finish_reason == want["finish_reason"]
    got_calls = [(c.index, c.id, c.name, c.arguments) for c in r.tool_calls]
    assert got_calls == [(c["index"], c["id"], c["name"], c["arguments"]) for c in want["tool_calls"]]
    u, wu = r.usage, want["usage"]
    if wu is None:
        assert u is None
        return
    assert u is not None
    assert (u.prompt_tokens, u.completion_tokens, u.reasoning_tokens, u.cached_tokens) == (
        wu["prompt_tokens"],
        wu["completion_tokens"],
        wu["reasoning_tokens"],
        wu["cached_tokens"],
    )
    if wu["cost"] is None:
        assert u.cost is None
    else:
        assert u.cost == pytest.approx(wu["cost"])
        assert u.cost_is_estimate == (wu["cost_source"] == "estimate")


@pytest.mark.parametrize("split", [None, 1, 2, 3, 7, 64])
@pytest.mark.parametrize("name", sorted(CASES))
def test_transcript_folds_identically_whatever_the_split(
    server: ConformanceServer, name: str, split: int | None
) -> None:
    opts = {"split": split} if split else {}
    r = _call(server, name, **opts)
    _assert_matches(r, expected(name))
    assert r.done and r.error is None


def test_stream_yields_typed_events_in_order(server: ConformanceServer) -> None:
    s = nm.stream("q", provider="nvidia", base_url=server.base_url("nvidia", split=5), api_key="k")
    kinds = [type(e).__name__ for e in s]
    first_text = kinds.index("TextDelta")
    assert "ReasoningDelta" in kinds[:first_text]  # reasoning streams before the answer
    assert kinds[-2:] == ["Finish", "Usage"]  # the finish chunk, then the usage chunk (choices: [])
    assert kinds.count("Usage") == 1 and kinds.count("Finish") == 1
    assert s.response.content == expected("nvidia")["content"]
    t = s.response.timings
    assert t.first_byte is not None and t.first_reasoning is not None and t.first_answer is not None
    assert t.first_byte <= t.first_reasoning <= t.first_answer <= t.done


def test_async_client_streams_concurrently(server: ConformanceServer) -> None:
    async def run() -> list[nm.Response]:
        async with nm.AsyncClient("openrouter", api_key="k") as client:
            jobs = [client.chat("q", base_url=server.base_url("openrouter", split=9)) for _ in range(8)]
            return await asyncio.gather(*jobs)

    for r in asyncio.run(run()):
        _assert_matches(r, expected("openrouter"))


def test_async_stream_yields_events(server: ConformanceServer) -> None:
    async def run() -> tuple[list[str], nm.Response]:
        async with nm.AsyncClient("local", model="m") as client:
            s = await client.stream("q", base_url=server.base_url("tool_calls_parallel", split=3))
            return [type(e).__name__ async for e in s], s.response

    kinds, r = asyncio.run(run())
    assert kinds.count("ToolCallDelta") > 4
    assert [c.name for c in r.tool_calls] == ["get_weather", "get_time"]


# -- what each provider receives ---------------------------------------------------------------


def _body(server: ConformanceServer, provider: str, suffix: str = "/v1", **params: Any) -> dict[str, Any]:
    nm.chat(
        "hello",
        provider=provider,
        base_url=server.base_url("nvidia", suffix=suffix),
        api_key="sekret-key",
        **params,
    )
    return server.last_request().body


def test_nvidia_request_uses_template_kwargs_and_top_level_budget(server: ConformanceServer) -> None:
    body = _body(server, "nvidia", reasoning="low", reasoning_budget=512, max_tokens=4096, temperature=1.0)
    assert body["chat_template_kwargs"] == {"enable_thinking": True, "low_effort": True}
    assert body["reasoning_budget"] == 512
    assert body["model"] == "nvidia/nemotron-3-super-120b-a12b"
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["max_tokens"] == 4096 and body["temperature"] == 1.0
    assert "reasoning" not in body and "guided_json" not in body
    assert server.last_request().bearer == "sekret-key"


def test_openrouter_request_uses_reasoning_object(server: ConformanceServer) -> None:
    body = _body(server, "openrouter", reasoning="off")
    assert body["reasoning"] == {"enabled": False}
    assert "chat_template_kwargs" not in body
    body = _body(server, "openrouter", reasoning="low", reasoning_budget=2000)
    assert body["reasoning"] == {"enabled": True, "effort": "low", "max_tokens": 2000}
    assert server.last_request().headers.get("x-title") == "nemotron-magics"


@pytest.mark.parametrize("provider", ["deepinfra", "cloudflare", "local"])
def test_template_kwargs_providers(server: ConformanceServer, provider: str) -> None:
    body = _body(server, provider, reasoning="off", reasoning_budget=100, model="m")
    assert body["chat_template_kwargs"] == {"enable_thinking": False, "reasoning_budget": 100}
    assert "reasoning" not in body and "reasoning_budget" not in body
    assert body["stream_options"] == {"include_usage": True}


def test_cloudflare_native_puts_model_in_url(server: ConformanceServer) -> None:
    nm.chat(
        "hi",
        provider="cloudflare-native",
        base_url=server.base_url("cloudflare_native", suffix="/ai"),
        api_key="k",
    )
    req = server.last_request()
    assert req.path.endswith("/ai/run/@cf/nvidia/nemotron-3-120b-a12b")
    assert "model" not in req.body


def test_structured_output_and_passthrough(server: ConformanceServer) -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    fmt = {"type": "json_schema", "json_schema": {"name": "city", "schema": schema, "strict": True}}
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    body = _body(
        server,
        "nvidia",
        response_format=fmt,
        tools=tools,
        tool_choice="auto",
        seed=7,
        stop=["END"],
        system="Be brief.",
        extra_body={"top_k": 20, "chat_template_kwargs": {"force_nonempty_content": True}},
        reasoning="on",
    )
    assert body["response_format"] == fmt
    assert body["tools"] == tools and body["tool_choice"] == "auto"
    assert body["seed"] == 7 and body["stop"] == ["END"] and body["top_k"] == 20
    assert body["messages"][0] == {"role": "system", "content": "Be brief."}
    # extra_body merges into nested objects instead of replacing them
    assert body["chat_template_kwargs"] == {"enable_thinking": True, "force_nonempty_content": True}


def test_guided_json_is_refused_with_the_remedy(server: ConformanceServer) -> None:
    with pytest.raises(nm.ConfigurationError, match="response_format"):
        nm.chat(
            "hi",
            provider="local",
            base_url=server.base_url("vllm"),
            model="m",
            extra_body={"guided_json": {"type": "object"}},
        )
    assert server.requests == []


def test_local_provider_asks_the_server_for_its_model(server: ConformanceServer) -> None:
    base = server.base_url("vllm", model="nvidia/NVIDIA-Nemotron-3-Super-120B-A12B-NVFP4")
    client = nm.Client("local")
    r = client.chat("hi", base_url=base)
    assert r.model == "nvidia/NVIDIA-Nemotron-3-Super-120B-A12B-NVFP4"
    assert server.last_request().body["model"] == "nvidia/NVIDIA-Nemotron-3-Super-120B-A12B-NVFP4"


def test_history_keeps_what_each_provider_needs(server: ConformanceServer) -> None:
    r = _call(server, "openrouter")
    message = r.to_message(get_provider("openrouter").dialect)
    assert message["reasoning_details"][0]["type"] == "reasoning.text"
    assert message["reasoning_details"][0]["text"] == expected("openrouter")["reasoning"]
    r = _call(server, "vllm")
    assert r.to_message(get_provider("local").dialect)["reasoning"] == expected("vllm")["reasoning"]
    assert "reasoning" not in r.to_message(get_provider("nvidia").dialect)
    # By default the answer is shaped for the provider that gave it (here: local).
    assert r.to_message()["reasoning"] == expected("vllm")["reasoning"]


def test_request_body_is_json_serialisable_in_response(server: ConformanceServer) -> None:
    r = _call(server, "nvidia")
    assert json.loads(json.dumps(r.request))["messages"][-1]["content"] == "question"


def test_local_provider_reads_nemotron_base_url(
    server: ConformanceServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEMOTRON_BASE_URL", server.base_url("vllm"))
    r = nm.chat("hi", provider="local", model="m")
    assert r.content == expected("vllm")["content"]
