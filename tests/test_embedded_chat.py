"""The client against the real llama.cpp engine (SmolLM2-135M): the offline path, end to end."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

import nemotron_magics as nm

pytestmark = pytest.mark.embedded


@pytest.fixture
def embedded(embedded_engine: Any) -> nm.Client:
    return nm.Client("embedded", max_retries=0)


def test_streams_text_in_pieces(embedded: nm.Client) -> None:
    s = embedded.stream("Name three colours.", max_tokens=40, temperature=0, seed=1)
    deltas = [e.text for e in s if isinstance(e, nm.TextDelta)]
    r = s.response
    assert len(deltas) > 5  # streamed, not one blob
    assert "".join(deltas) == r.content and r.content.strip()
    assert r.provider == "embedded" and r.model == "SmolLM2-135M-Instruct"
    assert r.finish_reason in ("stop", "length")
    assert r.timings.first_answer is not None and r.timings.first_answer <= r.timings.done


def test_stop_sequence(embedded: nm.Client) -> None:
    r = embedded.chat("Count from 1 to 10, one number per line.", stop=["5"], max_tokens=60, temperature=0)
    assert "5" not in r.content and "4" in r.content
    assert r.finish_reason == "stop"


def test_same_seed_same_answer(embedded: nm.Client) -> None:
    ask = {"max_tokens": 40, "temperature": 0, "seed": 42}
    first = embedded.chat("Write one sentence about the sea.", **ask)
    second = embedded.chat("Write one sentence about the sea.", **ask)
    assert first.content and first.content == second.content


def test_structured_output_follows_the_schema(embedded: nm.Client) -> None:
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "population": {"type": "integer"}},
        "required": ["city", "population"],
    }
    fmt = {"type": "json_schema", "json_schema": {"name": "city", "schema": schema, "strict": True}}
    r = embedded.chat(
        "Give a city and its population as JSON.", response_format=fmt, max_tokens=60, temperature=0
    )
    data = r.data
    assert isinstance(data["city"], str) and isinstance(data["population"], int)
    df = r.to_dataframe()
    assert list(df.columns) == ["city", "population"]


def test_forced_tool_call(embedded: nm.Client) -> None:
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Weather for a city",
                "parameters": {
                    "type": "object",
                    "properties": {"city": {"type": "string"}},
                    "required": ["city"],
                },
            },
        }
    ]
    choice = {"type": "function", "function": {"name": "get_weather"}}
    s = embedded.stream(
        "What is the weather in Paris?", tools=tools, tool_choice=choice, max_tokens=60, temperature=0
    )
    fragments = [e for e in s if isinstance(e, nm.ToolCallDelta)]
    r = s.response
    assert len(fragments) > 2  # the arguments streamed in pieces
    assert [c.name for c in r.tool_calls] == ["get_weather"]  # repeated names are not joined
    call = r.tool_calls[0]
    assert (
        call.error is None
        and isinstance(call.arguments, dict)
        and isinstance(call.arguments.get("city"), str)
    )
    assert r.finish_reason == "tool_calls"


def test_tool_result_round_trip(embedded: nm.Client) -> None:
    """The assistant turn with a tool call goes back to the server as history without being rejected."""
    tools = [
        {
            "type": "function",
            "function": {
                "name": "add",
                "parameters": {
                    "type": "object",
                    "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
                    "required": ["a", "b"],
                },
            },
        }
    ]
    first = embedded.chat(
        "Add 2 and 3.",
        tools=tools,
        tool_choice={"type": "function", "function": {"name": "add"}},
        max_tokens=40,
        temperature=0,
    )
    call = first.tool_calls[0]
    history = [
        {"role": "user", "content": "Add 2 and 3."},
        first.to_message(),
        {"role": "tool", "tool_call_id": call.id, "content": "5"},
    ]
    second = embedded.chat(history, max_tokens=30, temperature=0)
    assert second.content


def test_context_too_long_is_a_clear_error(embedded: nm.Client) -> None:
    # llama-cpp-python streams nothing at all for an oversized prompt: the error must still say why.
    with pytest.raises(nm.StreamError, match="context"):
        embedded.chat("word " * 6000, max_tokens=10)


def test_command_line_main_job(embedded_engine: Any) -> None:
    """`python -m nemotron_magics "question"`: the README's quick look, on the embedded default."""
    out = subprocess.run(
        [sys.executable, "-m", "nemotron_magics", "--max-tokens", "20", "-t", "0", "Say hello."],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert out.stdout.strip()
    assert "SmolLM2" in out.stdout and "not Nemotron" in out.stdout
