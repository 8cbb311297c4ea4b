"""The tool loop as a user meets it: parallel calls, approval, timeouts, the cards, the magic.

Every request goes to the loopback conformance server, whose multi-round scenarios check what
the client sends back (ids, call order, the assistant's tool calls) before they answer.
"""

from __future__ import annotations

import re
import threading
import time

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

import nemotron_magics as nm
from nemotron_magics.display import MIME, mimebundle, show_stream
from tests.conformance.server import ConformanceServer
from tests.test_magic import assert_one_line_error, run, shown
from tests.test_magic import ip as ip  # the shell fixture

WEATHER = {"Paris": "18°C, sunny", "Oslo": "4°C, rain"}


def get_weather(city: str) -> str:
    """Current weather in a city.

    Args:
        city: the city's name.
    """
    return WEATHER[city]


def test_calls_of_one_turn_run_at_the_same_time(server: ConformanceServer) -> None:
    # Each call waits for the other: the loop finishes only if both run at once.
    meet = threading.Barrier(2, timeout=10)

    def get_weather(city: str) -> str:  # the name the scenario calls
        meet.wait()
        return WEATHER[city]

    r = nm.chat("Weather?", base_url=server.base_url("tool_rounds"), model="m", tools=[get_weather])
    calls = r.rounds[0].tool_calls
    assert [c.status for c in calls] == ["done", "done"], [c.error for c in calls]
    assert r.content == "Paris: 18°C, sunny; Oslo: 4°C, rain."


def test_async_tools_run_at_the_same_time_too(server: ConformanceServer) -> None:
    import asyncio

    arrived: list[str] = []
    both = asyncio.Event()

    async def get_weather(city: str) -> str:
        arrived.append(city)
        if len(arrived) == 2:
            both.set()
        await asyncio.wait_for(both.wait(), 10)
        return WEATHER[city]

    r = nm.chat("Weather?", base_url=server.base_url("tool_rounds"), model="m", tools=[get_weather])
    assert [c.status for c in r.rounds[0].tool_calls] == ["done", "done"]


def test_a_denied_call_is_told_to_the_model_and_the_rest_go_on(server: ConformanceServer) -> None:
    asked: list[dict] = []

    def approve(tool: nm.Tool, arguments: dict) -> bool:
        asked.append(arguments)
        return arguments["city"] == "Paris"

    r = nm.chat(
        "Weather?",
        base_url=server.base_url("tool_rounds"),
        model="m",
        tools=[get_weather],
        confirm=True,
        approve=approve,
    )
    assert asked == [{"city": "Paris"}, {"city": "Oslo"}]  # one at a time, in call order
    paris, oslo = r.rounds[0].tool_calls
    assert (paris.status, oslo.status) == ("done", "denied")
    assert "declined" in r.content  # the model heard it (the scenario quotes what it got)


def test_a_tool_marked_confirm_asks_and_no_terminal_means_denied(server: ConformanceServer) -> None:
    careful = nm.tool(get_weather, confirm=True)
    r = nm.chat("Weather?", base_url=server.base_url("tool_rounds"), model="m", tools=[careful])
    assert [c.status for c in r.rounds[0].tool_calls] == ["denied", "denied"]
    assert "no terminal" in (r.rounds[0].tool_calls[0].error or "")


def test_a_slow_tool_times_out_and_the_model_hears_it(server: ConformanceServer) -> None:
    def get_weather(city: str) -> str:
        if city == "Oslo":
            time.sleep(5)
        return WEATHER[city]

    started = time.perf_counter()
    r = nm.chat(
        "Weather?", base_url=server.base_url("tool_rounds"), model="m", tools=[get_weather], tool_timeout=0.3
    )
    assert time.perf_counter() - started < 4
    assert [c.status for c in r.rounds[0].tool_calls] == ["done", "timeout"]
    assert "Paris: 18°C, sunny" in r.content


def test_bad_loop_options_are_one_line(server: ConformanceServer) -> None:
    with pytest.raises(
        nm.ConfigurationError, match="max_rounds must be a whole number of rounds from 1 to 100"
    ):
        nm.chat("x", base_url=server.base_url("tool_rounds"), model="m", tools=[get_weather], max_rounds=0)
    with pytest.raises(nm.ConfigurationError, match="apply to a tool loop"):
        nm.chat("x", base_url=server.base_url("nvidia"), model="m", max_rounds=3)
    import asyncio

    async def via_async() -> None:
        async with nm.AsyncClient(base_url=server.base_url("tool_rounds"), model="m") as client:
            await client.chat("x", tools=[get_weather])

    with pytest.raises(nm.ConfigurationError, match="The tool loop runs on Client and chat"):
        asyncio.run(via_async())
    with pytest.raises(nm.ConfigurationError, match="Cannot use int"):
        nm.chat("x", base_url=server.base_url("nvidia"), model="m", tools=[3])
    assert server.requests == []


def test_the_bundle_shows_every_round_with_its_cards(server: ConformanceServer) -> None:
    r = nm.chat("Weather?", base_url=server.base_url("tool_rounds"), model="m", tools=[get_weather])
    bundle = mimebundle(r)
    html = bundle["text/html"]
    assert html.count('class="nm-tool ') == 2 and html.count("nm-tool-result") == 2
    assert "18°C, sunny" in html and "4°C, rain" in html and "done · " in html
    assert html.index("nm-round") < html.index("Paris: 18°C, sunny; Oslo")
    doc = bundle[MIME]
    assert len(doc["rounds"]) == 1 and doc["rounds"][0]["tool_calls"][1]["result"] == "4°C, rain"
    assert doc["usage"]["prompt_tokens"] == r.total_usage.prompt_tokens  # summed over rounds
    assert "2 rounds" in bundle["text/plain"] and "→ tool call get_weather" in bundle["text/plain"]
    assert "4°C, rain" in bundle["text/markdown"]


def test_a_failed_call_is_a_red_card(server: ConformanceServer) -> None:
    def divide(a: float, b: float) -> float:
        return a / b

    r = nm.chat("1/0?", base_url=server.base_url("tool_recover"), model="m", tools=[divide])
    html = mimebundle(r)["text/html"]
    assert html.count("nm-tool-error") == 1 and "ZeroDivisionError" in html
    assert r.content == "The result is 0.25." and len(r.rounds) == 3


def test_the_live_display_shows_rounds_and_leaves_one_bundle(
    ip: InteractiveShell, server: ConformanceServer
) -> None:
    stream = nm.Client("local", base_url=server.base_url("tool_rounds", delay=0.01), model="m").stream(
        "Weather?", tools=[get_weather]
    )
    with capture_output() as cap:
        r = show_stream(stream, rich=True)
    sent = [o.data.get("text/html", "") for o in cap.outputs]
    assert any("running…" in h for h in sent), "the cards said the tools were running"
    assert any("nm-round" in h for h in sent), "the first round was drawn whole when the second began"
    # What a frontend keeps: outputs folded by display id, empty ones dropped.
    kept: dict[str, dict] = {}
    for out in cap.outputs:
        display_id = (out.transient or {}).get("display_id")
        kept[display_id] = out.data
    final = [d for d in kept.values() if d]
    assert len(final) == 1 and final[0][MIME]["content"] == r.content
    assert len(final[0][MIME]["rounds"]) == 1


def test_the_magic_runs_named_tools(ip: InteractiveShell, server: ConformanceServer) -> None:
    ip.user_ns["get_weather"] = get_weather
    url = server.base_url("tool_rounds")
    result, io = run(ip, f"%%nemotron -p local --base-url {url} -m m --tools get_weather -o r\nWeather?")
    assert result.success, result.error_in_exec
    r = ip.user_ns["r"]
    assert r.content == "Paris: 18°C, sunny; Oslo: 4°C, rain." and len(r.rounds) == 2
    assert "4°C, rain" in shown(io)


@pytest.mark.parametrize(
    ("flags", "needle"),
    [
        ("--tools nowhere", "--tools nowhere: nothing is called 'nowhere' in the notebook"),
        ("--tools mcp:none", "No MCP server named 'none'"),
        ("--max-rounds 3", "--max-rounds go with --tools NAMES"),
        ("--tools get_weather --max-rounds 0", "--max-rounds must be a whole number of rounds from 1 to 100"),
        ("--tools get_weather --tool-timeout -1", "--tool-timeout must be a positive number of seconds"),
    ],
)
def test_tool_flags_are_one_line(
    ip: InteractiveShell, server: ConformanceServer, flags: str, needle: str
) -> None:
    ip.user_ns["get_weather"] = get_weather
    result, io = run(ip, f"%%nemotron -p local --base-url {server.base_url('tool_rounds')} {flags}\nWeather?")
    assert_one_line_error(result, io, needle)
    assert server.requests == []


def test_tools_line_command_lists_schemas(ip: InteractiveShell) -> None:
    ip.user_ns["weather"] = nm.tool(get_weather)
    _, io = run(ip, "%nemotron tools")
    text = shown(io)
    assert "get_weather" in text and '"city"' in text and "the city's name" in text
    _, io = run(ip, "%nemotron mcp list")
    assert "MCP servers" in shown(io)
    result, io = run(ip, "%nemotron mcp remove nothing")
    assert_one_line_error(result, io, "No MCP server named 'nothing'")


def test_footer_counts_rounds_and_tokens_of_all_of_them(server: ConformanceServer) -> None:
    r = nm.chat("Weather?", base_url=server.base_url("tool_rounds"), model="m", tools=[get_weather])
    footer = mimebundle(r)["text/plain"].splitlines()[-1]
    total = r.total_usage
    assert total is not None and total.prompt_tokens == sum(x.usage.prompt_tokens for x in r.rounds)
    assert re.search(rf"\b{total.prompt_tokens:,} in\b", footer), footer
