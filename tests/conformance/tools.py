"""Multi-round tool scenarios: the server checks the history a client sends back before it answers.

Stateless: the round is read from the request's ``messages`` (everything after the last ``user``
message), so any number of clients can run the same scenario at once, and a Session's earlier turns
do not count. Round ``n`` is ``1 +`` the number of assistant messages with ``tool_calls`` in that tail;
before answering round ``n`` the server replays rounds ``1 … n-1`` and checks, message by message,
that the tail is exactly: the assistant message of each round carrying its ``tool_calls`` as streamed
(ids, names, ``type: "function"``, arguments equal once parsed), in each dialect's shape, then one
``role: tool`` message per call, in call order, with the call's id and string ``content``. Anything off
is answered HTTP 400 ``{"error": {"message": "conformance: <what is wrong>", "code": 400}}``.

Scenarios (see ``transcripts/README.md`` for the table):

* ``tool_rounds``: round 1 reasons, then calls ``get_weather`` twice in one turn (``call_w1`` Paris,
  ``call_w2`` Oslo, fragments interleaved); round 2 answers ``Paris: <result 1>; Oslo: <result 2>.``
* ``tool_named``: one ``get_weather`` call (``call_n1``); its first request must say ``tool_choice:
  {"type": "function", "function": {"name": "get_weather"}}`` (and ``parallel_tool_calls`` as the
  ``parallel`` option says, when given); round 2 answers ``Paris: <result>.``
* ``tool_recover``: ``divide`` 1/0 (``call_d1``), whose result must mention ``ZeroDivisionError``; then
  ``divide`` 1/4 (``call_d2``), whose result must be ``0.25``; round 3 answers ``The result is 0.25.``
* ``tool_forever``: every round calls ``ping`` ``{}`` as ``call_p<N>``: a client ends only by its limit.
* ``raw_tool_call``: a server without a tool parser: Nemotron's raw ``<tool_call>`` text arrives in
  ``content`` (small deltas, or two cut at ``cut=K``), finish ``stop``; round 2 wants a tool message
  answering the id the client invented (any non-empty id, the same as the assistant's
  ``tool_calls[0].id``), and no raw ``<tool_call>`` text left in the assistant's content.

Option ``dialect`` (``openai`` default, ``openrouter``, ``vllm``) picks the stream's shape and the
history it requires: ``openai`` streams ``delta.reasoning_content`` and requires nothing more;
``openrouter`` streams ``delta.reasoning`` + ``reasoning_details`` (text pieces, then an encrypted
entry) and requires them back unchanged on the assistant message, merged as
:func:`.streams.merge_reasoning_details` merges them; ``vllm`` streams ``delta.reasoning`` and requires
the round's reasoning text in the assistant message's ``reasoning`` field.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .streams import DEFAULT_MODEL, DONE, merge_reasoning_details

DIALECTS = ("openai", "openrouter", "vllm")
NAMED_CHOICE = {"type": "function", "function": {"name": "get_weather"}}
#: Nemotron's raw tool-call text, as a server without a tool parser leaves it in ``content``.
RAW_TOOL_CALL = (
    "<tool_call>\n<function=get_weather>\n<parameter=city>\nParis\n</parameter>\n</function>\n</tool_call>"
)
RAW_PIECE = 5  # default size of the raw text's content deltas: cuts land inside the tags
ENCRYPTED = "gAAAAABpY29uZm9ybWFuY2UtcmVhc29uaW5nLWJsb2I="
_MISSING = object()


@dataclass(frozen=True)
class Call:
    """One tool call a round makes; ``id=None`` means the client invents it (raw text has none)."""

    id: str | None
    name: str
    arguments: dict[str, Any]
    #: Checks the tool message's content; returns what is wrong, or None.
    check: Callable[[str], str | None] = field(default=lambda content: None, compare=False)

    def fragments(self) -> list[str]:
        """The arguments as vLLM's qwen3_coder streams them: ``{``, one ``"param": value`` each, ``}``."""
        params = [
            (", " if i else "") + f"{json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}"
            for i, (k, v) in enumerate(self.arguments.items())
        ]
        return ["{", *params, "}"]


@dataclass(frozen=True)
class Round:
    """What the server streams for one round."""

    reasoning: str
    calls: tuple[Call, ...] = ()
    answer: str = ""
    raw: str | None = None  # raw tool-call text in content (raw_tool_call round 1)
    usage: tuple[int, int, int] = (100, 20, 5)  # prompt, completion, reasoning tokens

    @property
    def finish(self) -> str:
        return "tool_calls" if self.calls and self.raw is None else "stop"


def _contains(needle: str) -> Callable[[str], str | None]:
    return lambda content: None if needle in content else f"must contain {needle!r}"


def _equals(value: str) -> Callable[[str], str | None]:
    return lambda content: None if content.strip() == value else f"must be {value!r}"


def _weather(city: str, call_id: str | None) -> Call:
    return Call(call_id, "get_weather", {"city": city})


# scenario -> (tool names it calls, round n given the tool results so far -> Round)
def _tool_rounds(n: int, results: list[str]) -> Round:
    if n == 1:
        return Round(
            "The user wants the weather in two cities. I will call get_weather for Paris and Oslo at once.",
            (_weather("Paris", "call_w1"), _weather("Oslo", "call_w2")),
            usage=(300, 60, 20),
        )
    return Round(
        "Both results are in; quote them.",
        answer=f"Paris: {results[0]}; Oslo: {results[1]}.",
        usage=(420, 25, 8),
    )


def _tool_named(n: int, results: list[str]) -> Round:
    if n == 1:
        return Round(
            "I was told to use get_weather for Paris.", (_weather("Paris", "call_n1"),), usage=(200, 30, 10)
        )
    return Round("The result is in.", answer=f"Paris: {results[0]}.", usage=(260, 12, 4))


def _tool_recover(n: int, results: list[str]) -> Round:
    if n == 1:
        call = Call("call_d1", "divide", {"a": 1, "b": 0}, _contains("ZeroDivisionError"))
        return Round("Divide 1 by 0 as asked.", (call,), usage=(150, 20, 6))
    if n == 2:
        call = Call("call_d2", "divide", {"a": 1, "b": 4}, _equals("0.25"))
        return Round("That failed with a division by zero; try 1 / 4 instead.", (call,), usage=(190, 22, 9))
    return Round("1 / 4 worked.", answer="The result is 0.25.", usage=(230, 8, 3))


def _tool_forever(n: int, results: list[str]) -> Round:
    return Round(f"Ping again (round {n}).", (Call(f"call_p{n}", "ping", {}),), usage=(100 + 10 * n, 10, 2))


def _raw_tool_call(n: int, results: list[str]) -> Round:
    if n == 1:
        return Round(
            "The user wants the weather in Paris; call get_weather.",
            (_weather("Paris", None),),
            raw=RAW_TOOL_CALL,
            usage=(180, 40, 12),
        )
    return Round("The result is in.", answer=f"Paris: {results[0]}.", usage=(240, 12, 4))


SCENARIOS: dict[str, tuple[tuple[str, ...], Callable[[int, list[str]], Round]]] = {
    "tool_rounds": (("get_weather",), _tool_rounds),
    "tool_named": (("get_weather",), _tool_named),
    "tool_recover": (("divide",), _tool_recover),
    "tool_forever": (("ping",), _tool_forever),
    "raw_tool_call": (("get_weather",), _raw_tool_call),
}


def round_spec(scenario: str, n: int, results: list[str] | None = None) -> Round:
    """Round ``n`` of a scenario (its answer quotes ``results``, the tool contents received so far)."""
    return SCENARIOS[scenario][1](n, list(results or ["…"] * 4))


# --------------------------------------------------------------------------- what a client must send back


def expected_details(spec: Round) -> list[dict[str, Any]]:
    """The ``reasoning_details`` a client assembles from an openrouter round (what it must send back)."""
    merged: list[dict[str, Any]] = []
    for event in _details_events(spec.reasoning):
        merge_reasoning_details(merged, event)
    return merged


def _details_events(reasoning: str) -> list[list[dict[str, Any]]]:
    events = [
        [{"type": "reasoning.text", "text": piece, "format": "unknown", "index": 0}]
        for piece in _pieces(reasoning)
    ]
    events.append([{"type": "reasoning.encrypted", "data": ENCRYPTED, "format": "unknown", "index": 1}])
    return events


def _short(value: Any, limit: int = 160) -> str:
    text = "missing" if value is _MISSING else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


class Problem(Exception):
    """What is wrong with the request; its text goes into the 400 body after ``conformance: ``."""


@dataclass
class Verdict:
    round: int
    problem: str | None = None
    events: list[bytes] = field(default_factory=list)


def _check_assistant(msg: dict[str, Any], where: str, n: int, spec: Round, dialect: str) -> list[str]:
    """Check round n's assistant message; returns the call ids it carries (in order)."""
    calls = msg.get("tool_calls")
    if not isinstance(calls, list):
        raise Problem(f"{where} (assistant, round {n}): tool_calls must be a list, got {_short(calls)}")
    if len(calls) != len(spec.calls):
        raise Problem(
            f"{where} (assistant, round {n}): {len(calls)} tool_calls, expected {len(spec.calls)} "
            f"({', '.join(c.id or c.name for c in spec.calls)})"
        )
    ids: list[str] = []
    for i, (got, want) in enumerate(zip(calls, spec.calls, strict=True)):
        at = f"{where}.tool_calls[{i}]"
        if not isinstance(got, dict):
            raise Problem(f"{at} must be an object, got {_short(got)}")
        if want.id is None:
            if not isinstance(got.get("id"), str) or not got["id"]:
                raise Problem(
                    f"{at}.id must be a non-empty string (the id the client gave the call), got "
                    f"{_short(got.get('id', _MISSING))}"
                )
        elif got.get("id") != want.id:
            raise Problem(
                f"{at}.id is {_short(got.get('id', _MISSING))}, expected {_short(want.id)} (as streamed)"
            )
        ids.append(got["id"])
        if got.get("type") != "function":
            raise Problem(f'{at}.type is {_short(got.get("type", _MISSING))}, expected "function"')
        fn = got.get("function")
        if not isinstance(fn, dict):
            raise Problem(f"{at}.function must be an object, got {_short(fn)}")
        if fn.get("name") != want.name:
            raise Problem(
                f"{at}.function.name is {_short(fn.get('name', _MISSING))}, expected {_short(want.name)}"
            )
        args = fn.get("arguments", _MISSING)
        if not isinstance(args, str):
            raise Problem(f"{at}.function.arguments must be a JSON string, got {_short(args)}")
        try:
            parsed = json.loads(args)
        except ValueError:
            raise Problem(f"{at}.function.arguments is not JSON: {_short(args)}") from None
        if parsed != want.arguments:
            raise Problem(
                f"{at}.function.arguments is {_short(args)}, expected {_short(want.arguments)} (as streamed)"
            )
    content = msg.get("content")
    if content is not None and not isinstance(content, str):
        raise Problem(f"{where}.content must be a string or null, got {_short(content)}")
    if spec.raw is not None and content and "<tool_call>" in content:
        raise Problem(
            f"{where}.content still holds the raw <tool_call> text ({_short(content, 60)}): it became "
            "tool_calls, so sending both shows the model the call twice"
        )
    if dialect == "openrouter":
        want_details = expected_details(spec)
        got_details = msg.get("reasoning_details", _MISSING)
        if got_details != want_details:
            raise Problem(
                f"{where}.reasoning_details must be sent back unchanged (OpenRouter): expected "
                f"{_short(want_details, 400)}, got {_short(got_details, 400)}"
            )
    elif dialect == "vllm":
        got_reasoning = msg.get("reasoning", _MISSING)
        if not isinstance(got_reasoning, str) or got_reasoning.strip() != spec.reasoning:
            raise Problem(
                f"{where}.reasoning must hold round {n}'s reasoning (vLLM >= 0.16 reads it): expected "
                f"{_short(spec.reasoning)}, got {_short(got_reasoning)}"
            )
    return ids


def _check_tool(msg: Any, where: str, call: Call, call_id: str, position: int, ids: list[str]) -> str:
    if not isinstance(msg, dict) or msg.get("role") != "tool":
        role = msg.get("role", _MISSING) if isinstance(msg, dict) else msg
        raise Problem(
            f"{where} should be the tool message answering {call_id} (call {position + 1} of {len(ids)}), "
            f"got role {_short(role)}"
        )
    got = msg.get("tool_call_id", _MISSING)
    if got != call_id:
        hint = " (results must follow the order of the calls)" if got in ids else ""
        raise Problem(f"{where}.tool_call_id is {_short(got)}, expected {_short(call_id)}{hint}")
    content = msg.get("content", _MISSING)
    if not isinstance(content, str):
        raise Problem(f"{where}.content (result of {call_id}) must be a string, got {_short(content)}")
    wrong = call.check(content)
    if wrong:
        raise Problem(f"{where}.content (result of {call.name} {call_id}) {wrong}, got {_short(content)}")
    return content


def _replay(scenario: str, messages: list[Any], dialect: str) -> tuple[int, list[str]]:
    """Check the tail after the last user message; returns (the round to answer, tool results so far)."""
    start = 0
    for i, msg in enumerate(messages):
        if isinstance(msg, dict) and msg.get("role") == "user":
            start = i + 1
    results: list[str] = []
    n, p = 1, start
    while p < len(messages):
        spec = round_spec(scenario, n, results)
        msg, where = messages[p], f"messages[{p}]"
        if not isinstance(msg, dict):
            raise Problem(f"{where} must be an object, got {_short(msg)}")
        if not spec.calls:
            raise Problem(
                f"{where}: round {n} has no tool calls, so nothing may follow the results of round "
                f"{n - 1}, got role {_short(msg.get('role', _MISSING))}"
            )
        if msg.get("role") == "tool":
            raise Problem(f"{where} is a tool message with no assistant tool_calls message before it")
        if msg.get("role") != "assistant" or "tool_calls" not in msg:
            raise Problem(
                f"{where} (role {_short(msg.get('role', _MISSING))}) should be round {n}'s assistant message "
                f"carrying its tool_calls ({', '.join(c.id or c.name for c in spec.calls) or 'none'})"
            )
        ids = _check_assistant(msg, where, n, spec, dialect)
        p += 1
        for k, (call, call_id) in enumerate(zip(spec.calls, ids, strict=True)):
            if p >= len(messages):
                raise Problem(
                    f"the tool message answering {call_id} (call {k + 1} of {len(ids)} in round {n}) is "
                    f"missing: the request ends at messages[{p - 1}]"
                )
            results.append(_check_tool(messages[p], f"messages[{p}]", call, call_id, k, ids))
            p += 1
        n += 1
    return n, results


def check_request(scenario: str, opts: dict[str, Any], body: Any) -> tuple[int, list[str]]:
    """Raise :class:`Problem` if the request is off; else (round to answer, tool results so far)."""
    if not isinstance(body, dict):
        raise Problem("the request body is not a JSON object")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise Problem(f"messages must be a non-empty list, got {_short(body.get('messages', _MISSING))}")
    names, _ = SCENARIOS[scenario]
    tools = body.get("tools", _MISSING)
    declared = []
    for tool in tools if isinstance(tools, list) else []:
        fn = tool.get("function") if isinstance(tool, dict) else None
        if isinstance(fn, dict):
            declared.append(fn.get("name"))
    for name in names:
        if name not in declared:
            raise Problem(f"tools must declare a function named {name!r}, got {_short(declared or tools)}")
    n, results = _replay(scenario, messages, opts.get("dialect", "openai"))
    if n == 1 and scenario == "tool_named":
        choice = body.get("tool_choice", _MISSING)
        if choice != NAMED_CHOICE:
            raise Problem(f"tool_choice must be {_short(NAMED_CHOICE)} (a named tool), got {_short(choice)}")
    if n == 1 and "parallel" in opts:
        want = bool(opts["parallel"])
        got = body.get("parallel_tool_calls", _MISSING)
        if got is not want:
            raise Problem(f"parallel_tool_calls must be {json.dumps(want)}, got {_short(got)}")
    return n, results


def answer(scenario: str, opts: dict[str, Any], body: Any) -> Verdict:
    """Check the request, then render the round it asks for (or say what is wrong)."""
    try:
        n, results = check_request(scenario, opts, body)
    except Problem as exc:
        return Verdict(0, f"conformance: {exc}")
    spec = round_spec(scenario, n, results)
    return Verdict(n, None, render(scenario, n, spec, opts))


def problem_body(problem: str) -> bytes:
    return json.dumps({"error": {"message": problem, "code": 400}}, ensure_ascii=False).encode()


# --------------------------------------------------------------------------- rendering one round


def _pieces(text: str, words: int = 3) -> list[str]:
    """Text cut every few words (each piece keeps its leading space), so deltas look like tokens."""
    parts = text.split(" ")
    return [("" if i == 0 else " ") + " ".join(parts[i : i + words]) for i in range(0, len(parts), words)]


def _raw_pieces(raw: str, cut: int | None) -> list[str]:
    if cut is not None:
        return [raw[:cut], raw[cut:]]
    return [raw[i : i + RAW_PIECE] for i in range(0, len(raw), RAW_PIECE)]


def _tool_fragments(calls: tuple[Call, ...]) -> list[dict[str, Any]]:
    """Interleaved fragments: every header, then ``{`` each, params round-robin, ``}`` in reverse."""
    out: list[dict[str, Any]] = [
        {"index": i, "id": c.id, "type": "function", "function": {"name": c.name, "arguments": ""}}
        for i, c in enumerate(calls)
    ]
    frags = [c.fragments() for c in calls]
    body = [f[1:-1] for f in frags]
    out += [{"index": i, "function": {"arguments": "{"}} for i in range(len(calls))]
    for k in range(max((len(b) for b in body), default=0)):
        out += [{"index": i, "function": {"arguments": b[k]}} for i, b in enumerate(body) if k < len(b)]
    out += [{"index": i, "function": {"arguments": "}"}} for i in reversed(range(len(calls)))]
    return out


def render(scenario: str, n: int, spec: Round, opts: dict[str, Any]) -> list[bytes]:
    """Round ``n`` as SSE events in the chosen dialect."""
    dialect = opts.get("dialect", "openai")
    cid = f"gen-1773842000-{scenario}-{n}" if dialect == "openrouter" else f"chatcmpl-{scenario}-{n}"

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        choice: dict[str, Any] = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        if dialect == "vllm" and finish is not None:
            choice["stop_reason"] = None
        if dialect == "openrouter":
            choice["native_finish_reason"] = finish
            head: dict[str, Any] = {"id": cid, "provider": "Nebius", "model": DEFAULT_MODEL}
        else:
            head = {"id": cid, "model": DEFAULT_MODEL}
        obj = {**head, "object": "chat.completion.chunk", "created": 1773842000, "choices": [choice]}
        return _event(obj)

    lead = {"role": "assistant", "content": ""} if dialect == "openrouter" else {}
    events: list[bytes] = [b": OPENROUTER PROCESSING\n\n"] if dialect == "openrouter" else []
    events.append(chunk({"role": "assistant", "content": ""}))
    for piece, details in zip(_pieces(spec.reasoning), _details_events(spec.reasoning), strict=False):
        if dialect == "openrouter":
            events.append(chunk({**lead, "reasoning": piece, "reasoning_details": details}))
        elif dialect == "vllm":
            events.append(chunk({"reasoning": piece}))
        else:
            events.append(chunk({"reasoning_content": piece, "content": None}))
    if dialect == "openrouter":
        events.append(chunk({**lead, "reasoning_details": _details_events(spec.reasoning)[-1]}))
    if spec.raw is not None:
        cut = opts.get("cut")
        events += [chunk({**lead, "content": p}) for p in _raw_pieces(spec.raw, cut)]
    else:
        events += [chunk({**lead, "tool_calls": [f]}) for f in _tool_fragments(spec.calls)]
        events += [chunk({**lead, "content": p}) for p in _pieces(spec.answer, 2)] if spec.answer else []
    finish_delta = {"content": ""} if dialect == "vllm" else dict(lead)
    events.append(chunk(finish_delta, spec.finish))
    prompt, completion, reasoning = spec.usage
    usage: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
    if dialect == "vllm":
        usage["prompt_tokens_details"] = None
    else:
        usage["completion_tokens_details"] = {"reasoning_tokens": reasoning}
    if dialect == "openrouter":
        usage["cost"] = round((prompt * 0.09 + completion * 0.45) / 1e6, 9)
    head = {"id": cid, "model": DEFAULT_MODEL, "object": "chat.completion.chunk", "created": 1773842000}
    events.append(_event({**head, "choices": [], "usage": usage}))
    events.append(DONE)
    return events


def _event(obj: Any) -> bytes:
    return b"data: " + json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode() + b"\n\n"
