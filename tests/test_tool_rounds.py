"""Multi-round tool scenarios on the conformance server, which checks the history a client sends back.

Two halves:

* the server's own logic, proven with raw httpx and a small hand-rolled loop (right histories get the
  next round, wrong ones a 400 naming what is wrong): these pass without the library's tool loop;
* the library's loop (``nm.chat(..., tools=[f])``, ``Session``): every scenario x ``split`` x dialect,
  max_rounds, and the raw ``<tool_call>`` text cut at every position.
"""

from __future__ import annotations

import copy
import json
import re
import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

import nemotron_magics as nm
from tests.conformance import tools as conf_tools
from tests.conformance.server import ConformanceServer
from tests.conformance.streams import expected, fold_stream, sse_payloads

CHAT = "/chat/completions"
SPLITS = [None, 1, 7]
DIALECTS = ["openai", "openrouter", "vllm"]
USER = {"role": "user", "content": "Weather in Paris and Oslo?"}
WEATHER = {"Paris": "18°C, sunny", "Oslo": "4°C, rain"}
RAW = conf_tools.RAW_TOOL_CALL
NAMED = {"type": "function", "function": {"name": "get_weather"}}

HTTP = httpx.Client(timeout=10.0, headers={"Authorization": "Bearer sk-test-123"})


@pytest.fixture(scope="module", autouse=True)
def _close_http_client() -> Iterator[None]:
    yield
    HTTP.close()


# --------------------------------------------------------------------------- the tools


def get_weather(city: str) -> str:
    """Current weather.

    Args:
        city: the city name.
    """
    return WEATHER[city]


def divide(a: float, b: float) -> float:
    """Divide a by b.

    Args:
        a: the dividend.
        b: the divisor.
    """
    return a / b


def ping() -> str:
    """Answer pong."""
    return "pong"


FUNCS: dict[str, Callable[..., Any]] = {"get_weather": get_weather, "divide": divide, "ping": ping}


def decl(*names: str) -> list[dict[str, Any]]:
    """JSON-schema tool declarations, as a client sends them (the server wants the names declared)."""
    return [
        {"type": "function", "function": {"name": n, "parameters": {"type": "object", "properties": {}}}}
        for n in names
    ]


SCENARIO_TOOLS = {
    "tool_rounds": "get_weather",
    "tool_named": "get_weather",
    "tool_recover": "divide",
    "tool_forever": "ping",
    "raw_tool_call": "get_weather",
}


def opts_of(split: int | None = None, dialect: str = "openai", **more: Any) -> dict[str, Any]:
    opts: dict[str, Any] = {k: v for k, v in more.items() if v is not None}
    if split:
        opts["split"] = split
    if dialect != "openai":
        opts["dialect"] = dialect
    return opts


# --------------------------------------------------------------------------- a hand-rolled client


def post_round(
    server: ConformanceServer,
    scenario: str,
    messages: list[dict[str, Any]],
    *,
    extra: dict[str, Any] | None = None,
    **opts: Any,
) -> httpx.Response:
    body = {
        "model": "m",
        "stream": True,
        "messages": messages,
        "tools": decl(SCENARIO_TOOLS[scenario]),
        **(extra or {}),
    }
    return HTTP.post(server.base_url(scenario, **opts) + CHAT, json=body)


def folded(r: httpx.Response) -> dict[str, Any]:
    assert r.status_code == 200, r.text
    return fold_stream(r.content)


_RAW_CALL = re.compile(r"<tool_call>\s*<function=([^>\s]+)>(.*?)</function>\s*</tool_call>", re.S)
_RAW_PARAM = re.compile(r"<parameter=([^>\s]+)>\n?(.*?)\n?</parameter>", re.S)


def assistant_message(message: dict[str, Any], dialect: str) -> dict[str, Any]:
    """What a conforming client sends back for an assistant turn with tool calls."""
    content = message.get("content") or ""
    calls = copy.deepcopy(message.get("tool_calls") or [])
    if not calls and "<tool_call>" in content:  # a server without a tool parser: parse the raw text
        for i, m in enumerate(_RAW_CALL.finditer(content)):
            args = dict(_RAW_PARAM.findall(m.group(2)))
            calls.append(
                {
                    "id": f"call_raw_{i}",
                    "type": "function",
                    "function": {"name": m.group(1), "arguments": json.dumps(args)},
                }
            )
        content = _RAW_CALL.sub("", content).strip()
    out: dict[str, Any] = {"role": "assistant", "content": content, "tool_calls": calls}
    if dialect == "openrouter":
        out["reasoning_details"] = message["reasoning_details"]
    elif dialect == "vllm":
        out["reasoning"] = message.get("reasoning") or ""
    return out


def run_call(call: dict[str, Any]) -> str:
    fn = call["function"]
    try:
        return str(FUNCS[fn["name"]](**json.loads(fn["arguments"])))
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"


def hand_chat(
    server: ConformanceServer,
    scenario: str,
    *,
    dialect: str = "openai",
    max_rounds: int = 8,
    first_extra: dict[str, Any] | None = None,
    history: list[dict[str, Any]] | None = None,
    **opts: Any,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A minimal tool loop over raw httpx: (the messages sent last, every round's folded message).

    ``dialect`` is both the server option and the history shape this client sends back.
    """
    if dialect != "openai":
        opts["dialect"] = dialect
    messages = [*(history or []), USER]
    rounds: list[dict[str, Any]] = []
    for n in range(max_rounds):
        r = post_round(server, scenario, messages, extra=first_extra if n == 0 else None, **opts)
        message = folded(r)["choices"][0]["message"]
        rounds.append(message)
        back = assistant_message(message, dialect)
        if not back["tool_calls"]:
            messages.append({"role": "assistant", "content": message["content"]})
            break
        messages.append(back)
        messages += [
            {"role": "tool", "tool_call_id": c["id"], "content": run_call(c)} for c in back["tool_calls"]
        ]
    return messages, rounds


def round2_messages(dialect: str = "openai") -> list[dict[str, Any]]:
    """The right round-2 request of ``tool_rounds``, built from its round-1 spec."""
    spec = conf_tools.round_spec("tool_rounds", 1)
    calls = [
        {
            "id": c.id,
            "type": "function",
            "function": {"name": c.name, "arguments": json.dumps(c.arguments)},
        }
        for c in spec.calls
    ]
    assistant: dict[str, Any] = {"role": "assistant", "content": "", "tool_calls": calls}
    if dialect == "openrouter":
        assistant["reasoning_details"] = conf_tools.expected_details(spec)
    elif dialect == "vllm":
        assistant["reasoning"] = spec.reasoning
    return [
        USER,
        assistant,
        {"role": "tool", "tool_call_id": "call_w1", "content": WEATHER["Paris"]},
        {"role": "tool", "tool_call_id": "call_w2", "content": WEATHER["Oslo"]},
    ]


def refused(r: httpx.Response) -> str:
    assert r.status_code == 400, r.text[:300]
    body = r.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "code"}
    assert body["error"]["code"] == 400
    message: str = body["error"]["message"]
    assert message.startswith("conformance: ")
    assert "\n" not in message
    return message


def deltas(r: httpx.Response) -> list[dict[str, Any]]:
    out = []
    for payload in sse_payloads(r.content):
        if payload != "[DONE]":
            out += [c["delta"] for c in json.loads(payload).get("choices") or []]
    return out


# =========================================================================== server logic (raw httpx)


@pytest.mark.parametrize("split", SPLITS)
@pytest.mark.parametrize("dialect", DIALECTS)
def test_round1_streams_two_interleaved_calls(
    server: ConformanceServer, dialect: str, split: int | None
) -> None:
    r = post_round(server, "tool_rounds", [USER], **opts_of(split, dialect))
    body = folded(r)
    msg = body["choices"][0]["message"]
    assert body["choices"][0]["finish_reason"] == "tool_calls"
    assert [
        (c["id"], c["type"], c["function"]["name"], json.loads(c["function"]["arguments"]))
        for c in msg["tool_calls"]
    ] == [
        ("call_w1", "function", "get_weather", {"city": "Paris"}),
        ("call_w2", "function", "get_weather", {"city": "Oslo"}),
    ]
    spec = conf_tools.round_spec("tool_rounds", 1)
    field = {"openai": "reasoning_content", "openrouter": "reasoning", "vllm": "reasoning"}[dialect]
    assert msg[field] == spec.reasoning
    assert body["usage"]["prompt_tokens"] == 300
    indices = [d["tool_calls"][0]["index"] for d in deltas(r) if d.get("tool_calls")]
    assert indices[:4] == [0, 1, 0, 1]  # interleaved
    args = [d["tool_calls"][0]["function"]["arguments"] for d in deltas(r) if d.get("tool_calls")]
    assert args == ["", "", "{", "{", '"city": "Paris"', '"city": "Oslo"', "}", "}"]  # qwen3_coder style
    if dialect == "openrouter":
        assert msg["reasoning_details"] == conf_tools.expected_details(spec)
        assert [d["type"] for d in msg["reasoning_details"]] == ["reasoning.text", "reasoning.encrypted"]
        assert r.content.startswith(b": OPENROUTER PROCESSING\n\n")
    else:
        assert "reasoning_details" not in msg
    rec = server.last_request()
    assert (rec.round, rec.problem, rec.wait()) == (1, None, "complete")


@pytest.mark.parametrize("split", SPLITS)
@pytest.mark.parametrize("dialect", DIALECTS)
def test_right_round2_answers_quoting_the_results(
    server: ConformanceServer, dialect: str, split: int | None
) -> None:
    r = post_round(server, "tool_rounds", round2_messages(dialect), **opts_of(split, dialect))
    body = folded(r)
    assert body["choices"][0]["message"]["content"] == "Paris: 18°C, sunny; Oslo: 4°C, rain."
    assert body["choices"][0]["finish_reason"] == "stop"
    assert (server.last_request().round, server.last_request().problem) == (2, None)


def test_answer_quotes_whatever_content_arrived(server: ConformanceServer) -> None:
    messages = round2_messages()
    messages[2]["content"], messages[3]["content"] = "warm ☀️", '{"t": 4}'
    msg = folded(post_round(server, "tool_rounds", messages))["choices"][0]["message"]
    assert msg["content"] == 'Paris: warm ☀️; Oslo: {"t": 4}.'


def _swap_tools(m: list[dict[str, Any]]) -> None:
    m[2], m[3] = m[3], m[2]


def _set(path: str, value: Any) -> Callable[[list[dict[str, Any]]], None]:
    def apply(m: list[dict[str, Any]]) -> None:
        *keys, last = [int(k) if k.isdigit() else k for k in path.split(".")]
        target: Any = m
        for k in keys:
            target = target[k]
        if value is _DEL:
            del target[last]
        else:
            target[last] = value

    return apply


_DEL = object()

WRONG_HISTORIES: list[tuple[str, Callable[[list[dict[str, Any]]], None], str]] = [
    (
        "results swapped",
        _swap_tools,
        'messages[2].tool_call_id is "call_w2", expected "call_w1" '
        "(results must follow the order of the calls)",
    ),
    (
        "wrong call id",
        _set("1.tool_calls.1.id", "call_1"),
        'messages[1].tool_calls[1].id is "call_1", expected "call_w2" (as streamed)',
    ),
    (
        "tool message answers an unknown id",
        _set("3.tool_call_id", "call_zz"),
        'messages[3].tool_call_id is "call_zz", expected "call_w2"',
    ),
    (
        "assistant without tool_calls",
        _set("1.tool_calls", _DEL),
        'messages[1] (role "assistant") should be round 1\'s assistant message carrying its tool_calls',
    ),
    (
        "assistant message missing",
        lambda m: m.pop(1),
        "messages[1] is a tool message with no assistant tool_calls message before it",
    ),
    (
        "arguments changed",
        _set("1.tool_calls.1.function.arguments", '{"city": "Bergen"}'),
        'messages[1].tool_calls[1].function.arguments is "{\\"city\\": \\"Bergen\\"}", '
        'expected {"city": "Oslo"}',
    ),
    (
        "arguments as an object",
        _set("1.tool_calls.0.function.arguments", {"city": "Paris"}),
        "messages[1].tool_calls[0].function.arguments must be a JSON string",
    ),
    (
        "type missing",
        _set("1.tool_calls.0.type", _DEL),
        'messages[1].tool_calls[0].type is missing, expected "function"',
    ),
    (
        "name changed",
        _set("1.tool_calls.0.function.name", "weather"),
        'messages[1].tool_calls[0].function.name is "weather", expected "get_weather"',
    ),
    (
        "one call dropped",
        lambda m: (m[1]["tool_calls"].pop(), m.pop()),
        "messages[1] (assistant, round 1): 1 tool_calls, expected 2 (call_w1, call_w2)",
    ),
    (
        "second result missing",
        lambda m: m.pop(),
        "the tool message answering call_w2 (call 2 of 2 in round 1) is missing",
    ),
    (
        "content not a string",
        _set("2.content", {"temp": 18}),
        'messages[2].content (result of call_w1) must be a string, got {"temp": 18}',
    ),
    (
        "content missing",
        _set("3.content", _DEL),
        "messages[3].content (result of call_w2) must be a string, got missing",
    ),
    (
        "a result as a user message",
        _set("3.role", "user"),
        # the last user message starts the tail: round 1 again, so no complaint; see the next test
        "",
    ),
    (
        "something after the results",
        lambda m: m.append({"role": "assistant", "content": "hm"}),
        "messages[4]: round 2 has no tool calls, so nothing may follow the results of round 1, "
        'got role "assistant"',
    ),
]


@pytest.mark.parametrize(("what", "mutate", "needle"), WRONG_HISTORIES, ids=[w[0] for w in WRONG_HISTORIES])
def test_wrong_history_is_refused_naming_the_fault(
    server: ConformanceServer, what: str, mutate: Callable[[list[dict[str, Any]]], None], needle: str
) -> None:
    messages = round2_messages()
    mutate(messages)
    r = post_round(server, "tool_rounds", messages)
    if not needle:
        assert r.status_code == 200
        assert server.last_request().round == 1
        return
    message = refused(r)
    assert needle in message
    rec = server.last_request()
    assert (rec.problem, rec.round, rec.wait()) == (message, 0, "rejected")


def test_undeclared_tools_are_refused(server: ConformanceServer) -> None:
    body = {"model": "m", "stream": True, "messages": [USER]}
    r = HTTP.post(server.base_url("tool_rounds") + CHAT, json=body)
    assert "tools must declare a function named 'get_weather', got missing" in refused(r)
    r = HTTP.post(server.base_url("tool_rounds") + CHAT, json={**body, "tools": decl("ping")})
    assert "tools must declare a function named 'get_weather', got [\"ping\"]" in refused(r)
    r = HTTP.post(server.base_url("tool_rounds") + CHAT, content=b"not json")
    assert refused(r) == "conformance: the request body is not a JSON object"


@pytest.mark.parametrize(
    ("dialect", "mutate", "needle"),
    [
        (
            "openrouter",
            _set("1.reasoning_details", _DEL),
            "messages[1].reasoning_details must be sent back unchanged",
        ),
        (
            "openrouter",
            lambda m: m[1]["reasoning_details"].pop(),
            "reasoning_details must be sent back unchanged",
        ),
        (
            "openrouter",
            lambda m: m[1]["reasoning_details"][0].update(text="The user wants"),
            "reasoning_details must be sent back unchanged",
        ),
        ("openrouter", lambda m: m[1]["reasoning_details"][0].pop("format"), "sent back unchanged"),
        ("vllm", _set("1.reasoning", _DEL), "messages[1].reasoning must hold round 1's reasoning"),
        ("vllm", _set("1.reasoning", "something else"), 'got "something else"'),
    ],
)
def test_dialect_history_shapes_are_checked(
    server: ConformanceServer, dialect: str, mutate: Callable[[list[dict[str, Any]]], None], needle: str
) -> None:
    messages = round2_messages(dialect)
    mutate(messages)
    assert needle in refused(post_round(server, "tool_rounds", messages, dialect=dialect))


def test_openai_dialect_ignores_extra_reasoning_fields(server: ConformanceServer) -> None:
    messages = round2_messages("vllm")
    messages[1]["reasoning_details"] = [{"type": "reasoning.text", "text": "x"}]
    assert post_round(server, "tool_rounds", messages).status_code == 200


@pytest.mark.parametrize("split", SPLITS)
@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("scenario", ["tool_rounds", "tool_recover", "tool_named", "raw_tool_call"])
def test_hand_rolled_loop_completes(
    server: ConformanceServer, scenario: str, dialect: str, split: int | None
) -> None:
    extra = {"tool_choice": NAMED} if scenario == "tool_named" else None
    messages, rounds = hand_chat(server, scenario, dialect=dialect, first_extra=extra, **opts_of(split))
    want = {
        "tool_rounds": "Paris: 18°C, sunny; Oslo: 4°C, rain.",
        "tool_recover": "The result is 0.25.",
        "tool_named": "Paris: 18°C, sunny.",
        "raw_tool_call": "Paris: 18°C, sunny.",
    }[scenario]
    assert messages[-1] == {"role": "assistant", "content": want}
    recs = server.requests_for(scenario)
    assert [(r.round, r.problem) for r in recs] == [(n + 1, None) for n in range(len(rounds))]
    assert len(rounds) == (3 if scenario == "tool_recover" else 2)


def test_recover_checks_each_result(server: ConformanceServer) -> None:
    messages, _ = hand_chat(server, "tool_recover")
    assert "ZeroDivisionError: division by zero" in messages[2]["content"]
    assert messages[4]["content"] == "0.25"
    round2 = messages[:3]
    round2[2] = {**round2[2], "content": "it failed"}
    assert (
        "messages[2].content (result of divide call_d1) must contain 'ZeroDivisionError', got \"it failed\""
        in refused(post_round(server, "tool_recover", round2))
    )
    round3 = messages[:5]
    round3[4] = {**round3[4], "content": "0.5"}
    assert "messages[4].content (result of divide call_d2) must be '0.25'" in refused(
        post_round(server, "tool_recover", round3)
    )
    assert folded(post_round(server, "tool_recover", messages[:5]))["choices"][0]["message"]["content"] == (
        "The result is 0.25."
    )


@pytest.mark.parametrize("split", SPLITS)
def test_forever_calls_ping_with_fresh_ids(server: ConformanceServer, split: int | None) -> None:
    messages, rounds = hand_chat(server, "tool_forever", max_rounds=5, **opts_of(split))
    assert [m["tool_calls"][0]["id"] for m in rounds] == [f"call_p{n}" for n in range(1, 6)]
    assert all(json.loads(m["tool_calls"][0]["function"]["arguments"]) == {} for m in rounds)
    assert [r.round for r in server.requests_for("tool_forever")] == [1, 2, 3, 4, 5]
    assert messages[-1] == {"role": "tool", "tool_call_id": "call_p5", "content": "pong"}


def test_named_tool_choice_is_checked_on_the_first_request(server: ConformanceServer) -> None:
    r = post_round(server, "tool_named", [USER])
    assert refused(r) == (
        'conformance: tool_choice must be {"type": "function", "function": {"name": "get_weather"}} '
        "(a named tool), got missing"
    )
    assert 'got "auto"' in refused(post_round(server, "tool_named", [USER], extra={"tool_choice": "auto"}))
    msg = folded(post_round(server, "tool_named", [USER], extra={"tool_choice": NAMED}))["choices"][0][
        "message"
    ]
    assert [c["id"] for c in msg["tool_calls"]] == ["call_n1"]
    # round 2 does not repeat the check (a client may drop a forced choice after it was honoured)
    back = [
        USER,
        assistant_message(msg, "openai"),
        {"role": "tool", "tool_call_id": "call_n1", "content": "x"},
    ]
    assert folded(post_round(server, "tool_named", back))["choices"][0]["message"]["content"] == "Paris: x."


@pytest.mark.parametrize("parallel", [0, 1])
def test_parallel_tool_calls_is_checked_when_asked(server: ConformanceServer, parallel: int) -> None:
    want = bool(parallel)
    base = {"tool_choice": NAMED}
    assert refused(post_round(server, "tool_named", [USER], extra=base, parallel=parallel)).endswith(
        f"parallel_tool_calls must be {json.dumps(want)}, got missing"
    )
    wrong = {**base, "parallel_tool_calls": not want}
    assert f"got {json.dumps(not want)}" in refused(
        post_round(server, "tool_named", [USER], extra=wrong, parallel=parallel)
    )
    right = {**base, "parallel_tool_calls": want}
    assert post_round(server, "tool_named", [USER], extra=right, parallel=parallel).status_code == 200
    # without the option, anything goes; tool_rounds checks it too when asked
    assert post_round(server, "tool_named", [USER], extra=wrong).status_code == 200
    assert post_round(server, "tool_rounds", [USER], extra=right, parallel=parallel).status_code == 200


@pytest.mark.parametrize("split", SPLITS)
def test_raw_round1_leaves_the_text_in_content(server: ConformanceServer, split: int | None) -> None:
    r = post_round(server, "raw_tool_call", [USER], **opts_of(split))
    body = folded(r)
    msg = body["choices"][0]["message"]
    assert (msg["content"], body["choices"][0]["finish_reason"]) == (RAW, "stop")
    assert "tool_calls" not in msg
    assert msg["reasoning_content"] == conf_tools.round_spec("raw_tool_call", 1).reasoning
    pieces = [d["content"] for d in deltas(r) if d.get("content")]
    assert len(pieces) > 10
    assert "<tool_call>" not in pieces
    assert any(p.startswith("_call") for p in pieces)  # cut inside the tags


def test_raw_text_cut_at_every_position(server: ConformanceServer) -> None:
    for k in range(len(RAW) + 1):
        r = post_round(server, "raw_tool_call", [USER], cut=k)
        pieces = [d["content"] for d in deltas(r) if "content" in d and d.get("content") is not None]
        assert pieces[-2:] == [RAW[:k], RAW[k:]], (k, pieces)
        assert "".join(pieces) == RAW


def test_raw_round2_checks_the_invented_id(server: ConformanceServer) -> None:
    call = {
        "id": "call_0",
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
    }
    assistant = {"role": "assistant", "content": "", "tool_calls": [call]}
    good = [USER, assistant, {"role": "tool", "tool_call_id": "call_0", "content": "sunny"}]
    assert (
        folded(post_round(server, "raw_tool_call", good))["choices"][0]["message"]["content"]
        == "Paris: sunny."
    )
    other = copy.deepcopy(good)
    other[2]["tool_call_id"] = "call_1"
    assert 'messages[2].tool_call_id is "call_1", expected "call_0"' in refused(
        post_round(server, "raw_tool_call", other)
    )
    empty = copy.deepcopy(good)
    empty[1]["tool_calls"][0]["id"] = ""
    assert "messages[1].tool_calls[0].id must be a non-empty string" in refused(
        post_round(server, "raw_tool_call", empty)
    )
    kept = copy.deepcopy(good)
    kept[1]["content"] = RAW
    assert "messages[1].content still holds the raw <tool_call> text" in refused(
        post_round(server, "raw_tool_call", kept)
    )


def test_earlier_turns_before_the_last_user_message_do_not_count(server: ConformanceServer) -> None:
    """A Session's next turn starts at round 1 again, whatever came before its new user message."""
    first, _ = hand_chat(server, "tool_rounds")
    again = [*first, {"role": "user", "content": "And tomorrow?"}]
    r = post_round(server, "tool_rounds", again)
    assert [c["id"] for c in folded(r)["choices"][0]["message"]["tool_calls"]] == ["call_w1", "call_w2"]
    assert server.last_request().round == 1
    second, _ = hand_chat(server, "tool_rounds", history=first)
    assert second[-1]["content"] == "Paris: 18°C, sunny; Oslo: 4°C, rain."


def test_non_streamed_rounds_are_folded(server: ConformanceServer) -> None:
    body = {"model": "m", "messages": round2_messages(), "tools": decl("get_weather")}
    r = HTTP.post(server.base_url("tool_rounds") + CHAT, json=body)
    assert r.headers["content-type"] == "application/json"
    assert r.json()["choices"][0]["message"]["content"] == "Paris: 18°C, sunny; Oslo: 4°C, rain."
    body["messages"] = [USER]
    calls = HTTP.post(server.base_url("tool_rounds") + CHAT, json=body).json()["choices"][0]["message"][
        "tool_calls"
    ]
    assert [c["id"] for c in calls] == ["call_w1", "call_w2"]


def test_stateless_under_concurrent_clients(server: ConformanceServer) -> None:
    outcomes: list[str] = []
    lock = threading.Lock()

    def one(i: int) -> None:
        scenario = ("tool_rounds", "tool_recover", "raw_tool_call")[i % 3]
        messages, _ = hand_chat(server, scenario, split=7, delay=0.001)
        with lock:
            outcomes.append(messages[-1]["content"])

    threads = [threading.Thread(target=one, args=(i,)) for i in range(9)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(outcomes) == sorted(
        ["Paris: 18°C, sunny; Oslo: 4°C, rain.", "The result is 0.25.", "Paris: 18°C, sunny."] * 3
    )
    assert all(r.problem is None for r in server.requests)


def test_faults_apply_to_tool_rounds(server: ConformanceServer) -> None:
    r = post_round(server, "tool_rounds", round2_messages(), fail=1, status=503)
    assert r.status_code == 503
    assert post_round(server, "tool_rounds", round2_messages(), fail=1, status=503).status_code == 200
    r = post_round(server, "tool_rounds", [USER], truncate=6)
    assert b"[DONE]" not in r.content


def test_tool_options_are_validated(server: ConformanceServer) -> None:
    with pytest.raises(ValueError, match="dialect"):
        server.base_url("tool_rounds", dialect="anthropic")
    with pytest.raises(ValueError, match="cut"):
        server.base_url("raw_tool_call", cut=-1)
    for name in conf_tools.SCENARIOS:
        assert name in server.scenarios()


# =========================================================================== the library's tool loop


def _provider(dialect: str) -> dict[str, Any]:
    """How the library is pointed at each dialect (the URL alone means a local server)."""
    return {
        "openai": {},
        "openrouter": {"provider": "openrouter", "api_key": "sk-or-test"},
        "vllm": {"provider": "local"},
    }[dialect]


def _no_refusals(server: ConformanceServer, scenario: str) -> list[int]:
    recs = server.requests_for(scenario)
    problems = [r.problem for r in recs if r.problem]
    assert not problems, problems[0]
    return [r.round for r in recs]


@pytest.mark.parametrize("split", SPLITS)
@pytest.mark.parametrize("dialect", DIALECTS)
def test_chat_runs_two_parallel_calls_and_answers(
    server: ConformanceServer, dialect: str, split: int | None
) -> None:
    r = nm.chat(
        "Weather in Paris and Oslo?",
        base_url=server.base_url("tool_rounds", **opts_of(split, dialect)),
        model="m",
        tools=[get_weather],
        **_provider(dialect),
    )
    assert _no_refusals(server, "tool_rounds") == [1, 2]
    assert r.content == "Paris: 18°C, sunny; Oslo: 4°C, rain."
    assert len(r.rounds) == 2
    assert r is r.rounds[-1]
    calls = r.rounds[0].tool_calls
    assert [(c.id, c.name, c.arguments) for c in calls] == [
        ("call_w1", "get_weather", {"city": "Paris"}),
        ("call_w2", "get_weather", {"city": "Oslo"}),
    ]
    assert [(c.status, c.result, c.error) for c in calls] == [
        ("done", "18°C, sunny", None),
        ("done", "4°C, rain", None),
    ]
    assert all(c.duration is not None and c.duration >= 0 for c in calls)
    assert r.rounds[0].reasoning == conf_tools.round_spec("tool_rounds", 1).reasoning
    total = r.total_usage
    assert isinstance(total, nm.Usage)
    assert (total.prompt_tokens, total.completion_tokens) == (720, 85)
    if dialect != "vllm":
        assert total.reasoning_tokens == 28
    # what the client sent: tools every round, and the history the server accepted
    bodies = [rec.body for rec in server.requests_for("tool_rounds")]
    assert all("get_weather" in json.dumps(b["tools"]) for b in bodies)
    assert [m["role"] for m in bodies[1]["messages"]][-3:] == ["assistant", "tool", "tool"]


@pytest.mark.parametrize("split", SPLITS)
@pytest.mark.parametrize("dialect", DIALECTS)
def test_chat_recovers_from_a_tool_exception(
    server: ConformanceServer, dialect: str, split: int | None
) -> None:
    r = nm.chat(
        "What is 1 / 0?",
        base_url=server.base_url("tool_recover", **opts_of(split, dialect)),
        model="m",
        tools=[divide],
        **_provider(dialect),
    )
    assert _no_refusals(server, "tool_recover") == [1, 2, 3]
    assert r.content == "The result is 0.25."
    assert len(r.rounds) == 3
    failed, worked = r.rounds[0].tool_calls[0], r.rounds[1].tool_calls[0]
    assert failed.status == "error"
    assert "ZeroDivisionError" in (failed.error or "")
    assert "ZeroDivisionError" in (failed.result or "")  # type and message, no traceback
    assert "division by zero" in (failed.result or "")
    assert "Traceback" not in (failed.result or "")
    assert (worked.status, worked.result, worked.error) == ("done", "0.25", None)


@pytest.mark.parametrize("split", SPLITS)
def test_chat_stops_at_max_rounds(server: ConformanceServer, split: int | None) -> None:
    r = nm.chat(
        "Ping forever",
        base_url=server.base_url("tool_forever", **opts_of(split)),
        model="m",
        tools=[ping],
        max_rounds=3,
    )
    assert _no_refusals(server, "tool_forever") == [1, 2, 3]
    assert len(r.rounds) == 3
    assert r.finish_reason == "max_rounds"
    assert any("max_rounds" in n for n in r.notices), r.notices
    assert [rd.tool_calls[0].id for rd in r.rounds] == ["call_p1", "call_p2", "call_p3"]


@pytest.mark.parametrize("parallel", [None, 0, 1])
def test_chat_sends_a_named_tool_choice(server: ConformanceServer, parallel: int | None) -> None:
    extra = {} if parallel is None else {"parallel_tool_calls": bool(parallel)}
    r = nm.chat(
        "Weather in Paris?",
        base_url=server.base_url("tool_named", **opts_of(parallel=parallel)),
        model="m",
        tools=[get_weather],
        tool_choice=NAMED,
        **extra,
    )
    assert _no_refusals(server, "tool_named") == [1, 2]
    assert r.content == "Paris: 18°C, sunny."


@pytest.mark.parametrize("split", SPLITS)
@pytest.mark.parametrize("dialect", DIALECTS)
def test_chat_runs_a_raw_text_tool_call(server: ConformanceServer, dialect: str, split: int | None) -> None:
    r = nm.chat(
        "Weather in Paris?",
        base_url=server.base_url("raw_tool_call", **opts_of(split, dialect)),
        model="m",
        tools=[get_weather],
        **_provider(dialect),
    )
    assert _no_refusals(server, "raw_tool_call") == [1, 2]
    assert r.content == "Paris: 18°C, sunny."
    call = r.rounds[0].tool_calls[0]
    assert (call.name, call.arguments, call.status, call.result) == (
        "get_weather",
        {"city": "Paris"},
        "done",
        "18°C, sunny",
    )
    assert "<tool_call>" not in r.rounds[0].content


def test_raw_text_parsed_at_every_cut_without_a_loop(server: ConformanceServer) -> None:
    """No callables, so no loop: the raw text still becomes one tool call, wherever the stream cuts it."""
    for k in range(len(RAW) + 1):
        r = nm.chat(
            "Weather in Paris?",
            base_url=server.base_url("raw_tool_call", cut=k),
            model="m",
            tools=decl("get_weather"),
        )
        assert [(c.name, c.arguments) for c in r.tool_calls] == [("get_weather", {"city": "Paris"})], k
        assert r.content == "", (k, r.content)
        assert r.finish_reason == "tool_calls", k


def test_raw_text_loop_at_every_cut(server: ConformanceServer) -> None:
    for k in range(len(RAW) + 1):
        server.reset()
        r = nm.chat(
            "Weather in Paris?",
            base_url=server.base_url("raw_tool_call", cut=k),
            model="m",
            tools=[get_weather],
        )
        assert _no_refusals(server, "raw_tool_call") == [1, 2], k
        assert r.content == "Paris: 18°C, sunny.", k


@pytest.mark.parametrize("dialect", DIALECTS)
def test_session_keeps_the_whole_exchange(server: ConformanceServer, dialect: str) -> None:
    s = nm.Session(
        f"tool-rounds-{dialect}",
        base_url=server.base_url("tool_rounds", **opts_of(7, dialect)),
        model="m",
        **_provider(dialect),
    )
    r = s.chat("Weather in Paris and Oslo?", tools=[get_weather])
    assert r.content == "Paris: 18°C, sunny; Oslo: 4°C, rain."
    history = s.history()
    roles = [m["role"] for m in history]
    assert roles == ["user", "assistant", "tool", "tool", "assistant"]
    assert [c["id"] for c in history[1]["tool_calls"]] == ["call_w1", "call_w2"]
    assert [(m["tool_call_id"], m["content"]) for m in history[2:4]] == [
        ("call_w1", "18°C, sunny"),
        ("call_w2", "4°C, rain"),
    ]
    assert history[4]["content"] == r.content
    if dialect == "openrouter":
        assert history[1]["reasoning_details"] == conf_tools.expected_details(
            conf_tools.round_spec("tool_rounds", 1)
        )
    # the next turn carries it all; the server starts that turn at round 1 and accepts it
    s.chat("And again?", tools=[get_weather])
    assert _no_refusals(server, "tool_rounds") == [1, 2, 1, 2]
    sent = server.requests_for("tool_rounds")[2].body["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "tool", "tool", "assistant", "user"]


@pytest.mark.parametrize("scenario", list(conf_tools.SCENARIOS))
def test_expected_json_matches_the_rounds(server: ConformanceServer, scenario: str) -> None:
    want = expected(scenario)
    assert (want["file"], want["dialects"]) == (None, list(conf_tools.DIALECTS))
    holes = ["{0}", "{1}", "{2}", "{3}"]
    for row in want["rounds"]:
        spec = conf_tools.round_spec(scenario, row["round"], holes)
        assert row["reasoning"] == spec.reasoning
        assert row["content"] == (spec.raw if spec.raw is not None else spec.answer)
        assert row["tool_calls"] == [
            {"id": c.id, "name": c.name, "arguments": c.arguments} for c in spec.calls
        ]
        assert row["finish_reason"] == spec.finish
        assert list(row["usage"].values()) == list(spec.usage)
    first = want["rounds"][0]
    extra = {"tool_choice": NAMED} if scenario == "tool_named" else None
    body = folded(post_round(server, scenario, [USER], extra=extra))
    msg = body["choices"][0]["message"]
    assert msg["reasoning_content"] == first["reasoning"]
    assert (msg["content"] or "") == first["content"]
    calls = [
        {"id": c["id"], "name": c["function"]["name"], "arguments": json.loads(c["function"]["arguments"])}
        for c in msg.get("tool_calls") or []
    ]
    if scenario == "raw_tool_call":  # the call is in the text: no id until the client gives it one
        assert calls == []
        assert first["tool_calls"] == [{"id": None, "name": "get_weather", "arguments": {"city": "Paris"}}]
    else:
        assert calls == first["tool_calls"]
    assert body["choices"][0]["finish_reason"] == first["finish_reason"]
    assert body["usage"]["prompt_tokens"] == first["usage"]["prompt_tokens"]
