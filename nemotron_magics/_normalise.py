"""One tolerant reader for every OpenAI-compatible stream (and Cloudflare's).

It turns one decoded chunk into events. It accepts every shape PROVIDERS.md
lists, because servers disagree: reasoning in ``reasoning_content``,
``reasoning`` or ``reasoning_details`` (never counted twice when a server sends
several), inline ``<think>…</think>`` split anywhere, tool calls by index,
usage on the last chunk, ``{"error": …}`` inside the stream, Cloudflare's
v4 envelope and its legacy ``{"response": …}`` chunks.

It is also where the wire is validated: whatever reaches an event has the type
the event promises. A chunk whose text or structure has the wrong type raises
:class:`~._errors.MalformedChunk` naming the field (the caller adds who sent it
and what is kept); metadata that cannot be read (a token count ``"n/a"``, a
``usage`` that is a list) becomes unknown instead, because it is no reason to
throw an answer away. A scalar ``finish_reason`` or Cloudflare ``response`` that
is a number is read as its text.

This is the hot path of a stream: keep the common chunk (one content delta)
to a handful of dict lookups and type checks.
"""

from __future__ import annotations

import json
import math
from typing import Any

from ._errors import InStreamError, MalformedChunk
from ._events import Event, Finish, ReasoningDelta, TextDelta, ToolCallDelta, Usage

_OPEN, _CLOSE = "<think>", "</think>"

# Where the content stream stands with respect to inline think tags.
_START, _THINKING, _ANSWER = 0, 1, 2

_KINDS = {
    str: "a string",
    int: "a number",
    float: "a number",
    bool: "a boolean",
    list: "a list",
    dict: "an object",
    type(None): "null",
}


def _bad(where: str, value: Any, want: str) -> MalformedChunk:
    return MalformedChunk(f"{where} is {_KINDS.get(type(value), type(value).__name__)}, not {want}")


def _partial_suffix(text: str, tag: str) -> int:
    """Length of the longest end of ``text`` that could begin ``tag``."""
    tail = text[-(len(tag) - 1) :]
    i = tail.find("<")
    if i == -1:
        return 0
    while i != -1:
        if tag.startswith(tail[i:]):
            return len(tail) - i
        i = tail.find("<", i + 1)
    return 0


def _count(value: Any) -> int | None:
    """A token count: a whole number ≥ 0 (a JSON number or digit string), else unknown."""
    if type(value) is int:
        return value if value >= 0 else None
    if type(value) is float and value.is_integer() and value >= 0:
        return int(value)
    if type(value) is str and value.strip().isdigit():
        return int(value)
    return None


def _money(value: Any) -> float | None:
    """A cost in USD: a finite number ≥ 0 (or its text), else unknown."""
    if type(value) is str:
        try:
            value = float(value)
        except ValueError:
            return None
    if type(value) not in (int, float):
        return None
    number = float(value)
    return number if math.isfinite(number) and number >= 0 else None


def _details(raw: dict[str, Any], key: str) -> dict[str, Any]:
    value = raw.get(key)
    return value if type(value) is dict else {}


def _usage(raw: Any) -> Usage | None:
    """Usage from a chunk's ``usage``, every field checked; None when it is not an object."""
    if type(raw) is not dict:
        return None
    prompt = raw.get("prompt_tokens")
    completion = raw.get("completion_tokens")
    cost = raw.get("cost")
    return Usage(
        prompt_tokens=_count(raw.get("input_tokens") if prompt is None else prompt),
        completion_tokens=_count(raw.get("output_tokens") if completion is None else completion),
        reasoning_tokens=_count(_details(raw, "completion_tokens_details").get("reasoning_tokens")),
        cached_tokens=_count(_details(raw, "prompt_tokens_details").get("cached_tokens")),
        cost=_money(raw.get("estimated_cost") if cost is None else cost),  # estimated_cost: DeepInfra
    )


def _error_message(error: Any) -> str:
    if isinstance(error, dict):
        message = error.get("message") or error.get("detail") or json.dumps(error)
        code = error.get("code")
        return f"{message} (code {code})" if code not in (None, "") else str(message)
    if isinstance(error, list):
        return "; ".join(_error_message(e) for e in error) or "unknown error"
    return str(error)


def _reason(value: Any) -> str:
    """A finish_reason that is not a string: a scalar reads as its text, anything else is malformed."""
    if type(value) in (int, float, bool):
        return str(value)
    raise _bad("finish_reason", value, "a string")


def is_completion(chunk: Any) -> bool:
    """Whether a whole JSON body is something this reader answers from (not, say, a model list)."""
    if not isinstance(chunk, dict):
        return False
    if "choices" in chunk or "response" in chunk or chunk.get("error"):
        return True
    if "result" in chunk and ("success" in chunk or "errors" in chunk):
        return not chunk.get("success", True) or bool(chunk.get("errors")) or is_completion(chunk["result"])
    return False


class Normaliser:
    """Chunk dicts in, events out; holds the little state streams need.

    ``implicit_think``: the request asked for thinking from a server that may
    have no reasoning parser, so the opening ``<think>`` was in the prompt and
    content before a ``</think>`` is reasoning. If no ``</think>`` ever comes,
    :meth:`Response.finish` moves it back to the answer.
    """

    __slots__ = ("_answer_started", "_implicit", "_pending", "_state", "reasoning_details")

    def __init__(self, *, implicit_think: bool = False) -> None:
        self._implicit = implicit_think
        self._state = _START
        self._pending = ""
        self._answer_started = False
        self.reasoning_details: list[dict[str, Any]] = []

    def feed(self, chunk: Any) -> list[Event]:
        if type(chunk) is not dict:
            raise _bad("the chunk", chunk, "an object")
        out: list[Event] = []
        choices = chunk.get("choices")
        if choices:
            if type(choices) is not list:
                raise _bad("choices", choices, "a list")
            choice = choices[0]
            if type(choice) is not dict:
                raise _bad("choices[0]", choice, "an object")
            delta = choice.get("delta")
            if delta is None:
                delta = choice.get("message")  # a whole non-streamed completion
            if delta:
                if type(delta) is not dict:
                    raise _bad("choices[0].delta", delta, "an object")
                self._delta(delta, out)
            reason = choice.get("finish_reason")
            if reason:
                if type(reason) is not str:
                    reason = _reason(reason)
                if reason == "error" and "error" in chunk:
                    raise InStreamError(_error_message(chunk["error"]))
                self._flush(out)
                out.append(Finish(reason))
        elif chunk.get("error"):
            raise InStreamError(_error_message(chunk["error"]))
        elif "result" in chunk and ("success" in chunk or "errors" in chunk):
            return self._envelope(chunk)
        elif "response" in chunk:
            self._legacy(chunk["response"], out)
        usage = chunk.get("usage")
        if usage:
            found = _usage(usage)
            if found is not None:
                out.append(found)
        return out

    def end(self) -> list[Event]:
        """The stream is over: release text held back as a possible partial tag."""
        out: list[Event] = []
        self._flush(out)
        return out

    # -- pieces ----------------------------------------------------------------
    def _envelope(self, chunk: dict[str, Any]) -> list[Event]:
        errors = chunk.get("errors")
        if not chunk.get("success", True) or errors:
            if not errors:
                errors = [{"message": "success: false"}]
            elif not isinstance(errors, list):
                errors = [errors]  # "errors": "boom" is one error, not four
            raise InStreamError(_error_message(errors))
        result = chunk.get("result")
        if isinstance(result, dict):
            out = self.feed(result)
            if "choices" in result and not any(isinstance(e, Finish) for e in out):
                out.append(Finish("stop"))
            return out
        return []

    def _legacy(self, text: Any, out: list[Event]) -> None:
        """Cloudflare's legacy stream: ``{"response": "…"}`` pieces."""
        if text is None:
            return
        if type(text) is not str:
            if type(text) not in (int, float):
                raise _bad("response", text, "a string")
            text = str(text)
        if text:
            self._content(text, out)

    def _delta(self, delta: dict[str, Any], out: list[Event]) -> None:
        # reasoning_content first: a vLLM in transition sends both it and reasoning, same text.
        reasoning = delta.get("reasoning_content")
        if reasoning is None:
            reasoning = delta.get("reasoning")
        details = delta.get("reasoning_details")
        if details:
            joined = self._merge_details(details)
            if reasoning is None:
                reasoning = joined
        if reasoning:
            if type(reasoning) is not str:
                raise _bad("choices[0].delta.reasoning", reasoning, "a string")
            self._implicit = False  # the server parses reasoning: content is the answer
            out.append(ReasoningDelta(reasoning))
        content = delta.get("content")
        if content:
            if type(content) is not str:
                raise _bad("choices[0].delta.content", content, "a string")
            if self._answer_started and not self._pending:
                out.append(TextDelta(content))  # the common case, kept short
            else:
                self._content(content, out)
        calls = delta.get("tool_calls")
        if calls:
            self._tools(calls, out)

    def _tools(self, calls: Any, out: list[Event]) -> None:
        if type(calls) is not list:
            raise _bad("choices[0].delta.tool_calls", calls, "a list")
        self._flush(out)
        for position, call in enumerate(calls):
            where = f"tool_calls[{position}]"
            if type(call) is not dict:
                raise _bad(where, call, "an object")
            fn = call.get("function")
            if fn is None:
                fn = {}
            elif type(fn) is not dict:
                raise _bad(f"{where}.function", fn, "an object")
            name = fn.get("name")
            if name is not None and type(name) is not str:
                raise _bad(f"{where}.function.name", name, "a string")
            args = fn.get("arguments")
            if args is not None and type(args) is not str:
                args = json.dumps(args)  # some servers send an object, not a string
            index = call.get("index")
            if index is None:
                index = position
            elif type(index) is not int or index < 0:
                raise _bad(f"{where}.index", index, "a whole number")
            call_id = call.get("id")
            if call_id is not None and type(call_id) is not str:
                if type(call_id) is not int:
                    raise _bad(f"{where}.id", call_id, "a string")
                call_id = str(call_id)
            out.append(ToolCallDelta(index=index, id=call_id, name=name, arguments_fragment=args or ""))

    def _merge_details(self, details: Any) -> str:
        """Merge OpenRouter's reasoning_details by index; returns their text in this chunk."""
        if type(details) is not list:
            raise _bad("choices[0].delta.reasoning_details", details, "a list")
        text: list[str] = []
        for position, detail in enumerate(details):
            where = f"reasoning_details[{position}]"
            if type(detail) is not dict:
                raise _bad(where, detail, "an object")
            for key in ("text", "summary", "data"):
                value = detail.get(key)
                if value is not None and type(value) is not str:
                    raise _bad(f"{where}.{key}", value, "a string")
            index = detail.get("index", len(self.reasoning_details))
            if type(index) is not int or index < 0:
                raise _bad(f"{where}.index", index, "a whole number")
            text.append(detail.get("text") or detail.get("summary") or "")
            if index < len(self.reasoning_details):
                merged = self.reasoning_details[index]
                for key, value in detail.items():
                    if key in ("text", "summary", "data") and isinstance(value, str):
                        merged[key] = (merged.get(key) or "") + value
                    elif value is not None:
                        merged[key] = value
            else:
                self.reasoning_details.append(dict(detail))
        return "".join(text)

    def _content(self, text: str, out: list[Event]) -> None:
        text = self._pending + text
        self._pending = ""
        while text:
            if self._state == _ANSWER:
                self._answer(text, out)
                return
            if self._state == _START:
                stripped = text.lstrip()
                if stripped.startswith(_OPEN):
                    self._state = _THINKING
                    text = stripped[len(_OPEN) :]
                    continue
                if not stripped or _OPEN.startswith(stripped):
                    self._pending = text  # maybe the start of "<think>"
                    return
                self._state = _THINKING if self._implicit else _ANSWER
                continue
            # _THINKING
            end = text.find(_CLOSE)
            if end == -1:
                hold = _partial_suffix(text, _CLOSE)
                if hold:
                    text, self._pending = text[:-hold], text[-hold:]
                if text:
                    out.append(ReasoningDelta(text))
                return
            if end:
                out.append(ReasoningDelta(text[:end]))
            self._state = _ANSWER
            text = text[end + len(_CLOSE) :]

    def _answer(self, text: str, out: list[Event]) -> None:
        if not self._answer_started:
            text = text.lstrip()  # the blank lines models put after </think>
            if not text:
                return
            self._answer_started = True
        out.append(TextDelta(text))

    def _flush(self, out: list[Event]) -> None:
        if self._pending:
            pending, self._pending = self._pending, ""
            if self._state == _THINKING:
                out.append(ReasoningDelta(pending))
            else:
                self._state = _ANSWER
                self._answer(pending, out)
