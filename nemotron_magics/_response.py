"""``Response``: the state a stream of events folds into.

Everything a display or a user reads comes from here, so the corrections for
known server quirks happen once, in :meth:`Response.finish`: an answer that a
thinking-off server put in the reasoning field, an answer sent in both fields,
and raw ``<tool_call>`` text from a server without a tool parser.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ._errors import StructuredOutputError
from ._events import Event, Finish, ReasoningDelta, Retrying, TextDelta, ToolCallDelta, Usage

if TYPE_CHECKING:
    import pandas

    from ._dialects import Dialect
    from ._errors import StreamError
    from ._providers import Provider
    from ._schema import Outcome, Schema


@dataclass
class Timings:
    """Seconds since the request was sent; ``None`` until that moment has come."""

    sent_at: float = field(default_factory=time.time)  # wall clock, for display
    first_byte: float | None = None
    first_reasoning: float | None = None
    first_answer: float | None = None
    done: float | None = None
    _t0: float = field(default_factory=time.perf_counter, repr=False)

    def now(self) -> float:
        return time.perf_counter() - self._t0

    @property
    def first_token(self) -> float | None:
        """Time to the first token of any kind (reasoning counts: the user sees it)."""
        marks = [t for t in (self.first_reasoning, self.first_answer) if t is not None]
        return min(marks) if marks else None


#: Tool-call statuses of a call that has not finished: no result, no duration yet.
PENDING_STATUSES = frozenset({"waiting for approval", "approved", "running"})


@dataclass
class ToolCall:
    """One tool call, assembled from its fragments by index."""

    index: int
    id: str | None = None
    name: str = ""
    arguments_text: str = ""
    #: The parsed arguments once the call is complete (``None`` before, or if they are not JSON).
    arguments: dict[str, Any] | None = None
    #: Why the call failed, as the user's card says it: arguments that are not JSON or not valid,
    #: an unknown tool, the tool's exception, a timeout, a denial.
    error: str | None = None
    #: Where the call stands: ``requested`` (the model asked; nothing ran it), then with a tool
    #: loop ``waiting for approval``, ``approved`` (to run with the round's other calls),
    #: ``running``, ``done``, ``error``, ``invalid``, ``unknown``, ``timeout`` or ``denied``.
    status: str = "requested"
    #: What went back to the model as the tool message (the loop sets it).
    result: str | None = None
    #: Seconds the tool ran.
    duration: float | None = None

    def partial_arguments(self) -> Any:
        """Best-effort parse of arguments still streaming (for live displays)."""
        if self.arguments is not None:
            return self.arguments
        if not self.arguments_text:
            return {}
        import jiter

        try:
            return jiter.from_json(self.arguments_text.encode(), partial_mode="trailing-strings")
        except ValueError:
            return None

    def _complete(self) -> None:
        text = self.arguments_text.strip()
        try:
            value = json.loads(text) if text else {}
        except json.JSONDecodeError as exc:
            self.error = f"arguments are not valid JSON ({exc.msg} at char {exc.pos})"
            return
        if isinstance(value, dict):
            self.arguments = value
        else:
            self.error = f"arguments are JSON {type(value).__name__}, not an object"

    def to_openai(self) -> dict[str, Any]:
        return {
            "id": self.id or f"call_{self.index}",
            "type": "function",
            "function": {"name": self.name, "arguments": self.arguments_text or "{}"},
        }


_FENCE_OPEN = r"(`{3,}|~{3,})[ \t]*([\w+#.-]*)[^\n]*\n"
# The whole text is one fenced block (models wrap JSON and code this way even when told not to).
_ONE_FENCED = re.compile(r"\s*" + _FENCE_OPEN + r"(.*?)\n?[ \t]*\1\s*", re.S)
# Every fenced block in a longer answer; a closing fence stands at the start of its line.
_FENCED = re.compile(r"^[ \t]*" + _FENCE_OPEN + r"(.*?)^[ \t]*\1[ \t]*$", re.S | re.M)
# What a server without a tool-call parser leaves in content (qwen3_coder format, PROVIDERS.md).
_RAW_TOOL_CALL = re.compile(r"<tool_call>\s*<function=([^>\s]+)>(.*?)</function>\s*</tool_call>", re.S)
_RAW_PARAM = re.compile(r"<parameter=([^>\s]+)>\n?(.*?)\n?</parameter>", re.S)


def split_fence(text: str) -> tuple[str, str] | None:
    """``(inside, language)`` when the whole text is one fenced block, else None."""
    match = _ONE_FENCED.fullmatch(text)
    return (match.group(3), match.group(2)) if match else None


def strip_fences(text: str) -> str:
    """The JSON or code inside a single fenced block, or the text itself."""
    found = split_fence(text)
    return found[0] if found else text.strip()


def fenced_blocks(text: str) -> list[str]:
    """The contents of every fenced block in ``text``, in order."""
    return [m.group(3).rstrip("\n") for m in _FENCED.finditer(text)]


def _raw_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _total(values: Iterable[int | float | None]) -> Any:
    known = [v for v in values if v is not None]
    return sum(known) if known else None


def sum_usage(usages: Iterable[Usage | None]) -> Usage | None:
    """Several responses' usage as one: a count nobody reported stays unknown (``None``)."""
    known = [u for u in usages if u is not None]
    if not known:
        return None
    return Usage(
        prompt_tokens=_total(u.prompt_tokens for u in known),
        completion_tokens=_total(u.completion_tokens for u in known),
        reasoning_tokens=_total(u.reasoning_tokens for u in known),
        cached_tokens=_total(u.cached_tokens for u in known),
        cost=_total(u.cost for u in known),
        cost_is_estimate=any(u.cost_is_estimate for u in known),
    )


def _joined(parts: list[str]) -> str:
    """Join the pieces once and keep the result, so reading a long answer often stays cheap.

    Only the first ``n`` pieces are replaced: a piece another thread appends meanwhile
    (a display reading while the stream writes) lands after them and is kept.
    """
    n = len(parts)
    if n > 1:
        parts[:n] = ["".join(parts[:n])]
    return parts[0] if parts else ""


class Response:
    """A model's answer: reasoning, content, tool calls, usage and timings.

    Live while streaming (every attribute reflects what has arrived), final
    after :meth:`finish`. ``finish_reason`` is ``"cancelled"`` when the user
    stopped it and ``"error"`` when the stream broke; what arrived is kept.
    """

    def __init__(
        self,
        *,
        provider: str = "",
        model: str = "",
        request: dict[str, Any] | None = None,
        reasoning_mode: str | None = None,
    ) -> None:
        self.provider = provider
        self.model = model
        self.request = request
        self.reasoning_mode = reasoning_mode
        self._content: list[str] = []
        self._reasoning: list[str] = []
        self._tool_calls: dict[int, ToolCall] = {}
        self.usage: Usage | None = None
        self.finish_reason: str | None = None
        self.timings = Timings()
        self.error: StreamError | None = None
        #: OpenRouter's reasoning_details, merged by index, to send back unchanged in later turns.
        self.reasoning_details: list[dict[str, Any]] = []
        #: Things the reader should know that are not part of the answer (no key set …).
        self.notices: list[str] = []
        #: The retry being waited for before the first byte (None once bytes arrive): why, how long.
        self.retrying: Retrying | None = None
        self.done = False
        #: With a tool loop: every round's Response in order, this one (the answer) last.
        self.rounds: list[Response] = []
        #: The structured-output schema asked for (``schema=…``, ``--schema``), or None.
        self.schema: Schema | None = None
        #: With a schema: why the answer does not validate (empty when it does, or before the end).
        self.validation_errors: list[str] = []
        #: With a schema: what was repaired before validating (fences, trailing text, a cut row).
        self.repairs: list[str] = []
        #: Served from the response cache (``cache=True``, ``--cache``, a batch): no request was made.
        self.cached = False
        #: The cache entry a clean finish of this response fills (set by a client asked to cache).
        self.cache_key: str | None = None
        self._parsed: tuple[str, Any, str | None] | None = None  # (content, value, error)
        self._outcome: Outcome | None = None

    # -- folding ---------------------------------------------------------------
    def apply(self, event: Event) -> None:
        kind = type(event)
        if kind is TextDelta:
            if self.timings.first_answer is None:
                self.timings.first_answer = self.timings.now()
            self._content.append(event.text)  # type: ignore[union-attr]
        elif kind is ReasoningDelta:
            if self.timings.first_reasoning is None:
                self.timings.first_reasoning = self.timings.now()
            self._reasoning.append(event.text)  # type: ignore[union-attr]
        elif kind is ToolCallDelta:
            self._apply_tool(event)  # type: ignore[arg-type]
        elif kind is Usage:
            self.usage = event  # type: ignore[assignment]
        elif kind is Finish:
            self.finish_reason = event.reason  # type: ignore[union-attr]
        elif kind is Retrying:
            self.retrying = event  # type: ignore[assignment]

    def _apply_tool(self, event: ToolCallDelta) -> None:
        call = self._tool_calls.get(event.index)
        if call is None:
            call = self._tool_calls[event.index] = ToolCall(index=event.index)
            if self.timings.first_answer is None:
                self.timings.first_answer = self.timings.now()
        if event.id:
            call.id = event.id
        if event.name:
            call.name = event.name
        if event.arguments_fragment:
            call.arguments_text += event.arguments_fragment

    def finish(self, provider: Provider | None = None, *, reason: str | None = None) -> None:
        """Seal the response; correct known server quirks; estimate cost if needed."""
        if self.done:
            return
        self.done = True
        self.timings.done = self.timings.now()
        if reason is not None:
            self.finish_reason = reason
        content, reasoning = self.content, self.reasoning.strip()
        self._reasoning = [reasoning] if reasoning else []  # the newlines around </think>
        if not self._tool_calls and "<tool_call>" in content:
            self._extract_raw_tool_calls(content)
            content = self.content
        if reasoning and not self._tool_calls and self.finish_reason not in ("cancelled", "error"):
            if not content.strip() and (self.reasoning_mode == "off" or self.finish_reason in ("stop", None)):
                # Thinking-off server bug (SGLang, TensorRT-LLM): the answer came in the reasoning field.
                self._content, self._reasoning = [reasoning.strip()], []
            elif reasoning.strip() == content.strip():
                self._reasoning = []  # a vLLM build sends it in both fields: show it once
        for call in self._tool_calls.values():
            call._complete()
        if self.schema is not None and not self._tool_calls:
            self.validated()
        if provider is not None and self.usage is not None and self.usage.cost is None:
            cost = provider.estimate_cost(
                self.usage.prompt_tokens, self.usage.completion_tokens, self.usage.cached_tokens
            )
            if cost is not None:
                u = self.usage
                self.usage = Usage(
                    u.prompt_tokens, u.completion_tokens, u.reasoning_tokens, u.cached_tokens, cost, True
                )

    def _extract_raw_tool_calls(self, content: str) -> None:
        for index, match in enumerate(_RAW_TOOL_CALL.finditer(content)):
            args = {name: _raw_value(value) for name, value in _RAW_PARAM.findall(match.group(2))}
            self._tool_calls[index] = ToolCall(
                index=index, id=f"call_{index}", name=match.group(1), arguments_text=json.dumps(args)
            )
        if self._tool_calls:
            self._content = [_RAW_TOOL_CALL.sub("", content).strip()]
            if self.finish_reason in (None, "stop"):
                self.finish_reason = "tool_calls"

    # -- reading ---------------------------------------------------------------
    @property
    def content(self) -> str:
        return _joined(self._content)

    @property
    def reasoning(self) -> str:
        return _joined(self._reasoning)

    @property
    def tool_calls(self) -> list[ToolCall]:
        return [self._tool_calls[i] for i in sorted(self._tool_calls)]

    @property
    def total_usage(self) -> Usage | None:
        """Tokens and cost of every round of a tool loop together (``usage`` is this round's)."""
        if not self.rounds:
            return self.usage
        return sum_usage(r.usage for r in self.rounds)

    @property
    def tokens_per_second(self) -> float | None:
        """Completion tokens over the time from first token to done."""
        t = self.timings
        start = t.first_token
        if self.usage is None or not self.usage.completion_tokens or start is None or t.done is None:
            return None
        span = t.done - start
        return self.usage.completion_tokens / span if span > 0 else None

    def validated(self) -> Outcome | None:
        """With a schema: the answer repaired (safely) and validated, once per content."""
        if self.schema is None:
            return None
        if self._outcome is None or not self.done:
            outcome = self.schema.validate(self.content)
            if not self.done:
                return outcome
            self._outcome = outcome
            self.validation_errors, self.repairs = outcome.errors, outcome.repairs
        return self._outcome

    def parsed(self) -> tuple[Any, str | None]:
        """``(value, None)`` or ``(None, why)``: the answer as JSON, parsed once per content."""
        outcome = self.validated()
        if outcome is not None:
            if outcome.ok:
                return outcome.plain, None
            return None, "; ".join(outcome.errors) or "not valid"
        content = self.content
        if self._parsed is None or self._parsed[0] != content:
            text = strip_fences(content)
            try:
                self._parsed = (content, json.loads(text), None)
            except json.JSONDecodeError as exc:
                why = f"not valid JSON ({exc.msg}, line {exc.lineno} column {exc.colno})"
                self._parsed = (content, None, why)
        return self._parsed[1], self._parsed[2]

    @property
    def data(self) -> Any:
        """The answer parsed as JSON (code fences stripped); with a schema, the validated value.

        A pydantic model schema gives model instances, a dataclass schema dataclass instances,
        anything else plain JSON. Raises :class:`StructuredOutputError` saying why when the
        answer is not JSON, or does not match its schema (:attr:`validation_errors`).
        """
        outcome = self.validated()
        if outcome is not None:
            if outcome.ok:
                return outcome.value
            raise StructuredOutputError(
                f"The answer does not match the schema {self.schema.name if self.schema else ''}: "
                + "; ".join(outcome.errors[:5])
            )
        value, error = self.parsed()
        if error is not None:
            raise StructuredOutputError(
                f"The answer is {error}; "
                "ask for it with schema=… or response_format=… (or --json) and enough max_tokens"
            )
        return value

    def to_dataframe(self) -> pandas.DataFrame:
        """Structured output as a DataFrame: a list of records, ``{"rows": [...]}``, or one record.

        With a schema, the dtypes come from it (ints, floats, bools, datetimes, categoricals).
        """
        from ._schema import to_frame

        self.data  # noqa: B018 - raises StructuredOutputError when there is nothing valid
        value, _ = self.parsed()
        if self.schema is None and isinstance(value, dict):
            lists = [v for v in value.values() if isinstance(v, list)]
            if len(value) > 1 and lists and len(lists) == len(value):
                import pandas as pd

                columns: pandas.DataFrame = pd.DataFrame(value)  # a dict of columns
                return columns
        if not isinstance(value, dict | list):
            raise StructuredOutputError(
                f"The answer is a JSON {type(value).__name__}, which is not a table: "
                "ask for a list of objects"
            )
        return to_frame(value, self.schema)

    def to_message(self, dialect: Dialect | None = None) -> dict[str, Any]:
        """This answer as an assistant message for the next turn, shaped by ``dialect``.

        By default the dialect of the provider that answered: it keeps what that family needs
        from earlier turns (OpenRouter's ``reasoning_details`` unchanged; vLLM's ``reasoning``).
        """
        if dialect is None:
            from ._providers import dialect_of

            dialect = dialect_of(self.provider)
        return dialect.assistant_message(self)

    # -- a plain dict ------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """This response as JSON types (the store and the cache keep this); see :meth:`from_dict`."""
        from ._response_dict import to_dict

        return to_dict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, schema: Any = None) -> Response:
        """The response a :meth:`to_dict` dict describes; ``schema`` re-attaches the caller's schema."""
        from ._response_dict import from_dict
        from ._schema import as_schema

        return from_dict(data, schema=as_schema(schema) if schema is not None else None)

    # -- display ---------------------------------------------------------------
    def __str__(self) -> str:
        return self.content

    def __repr__(self) -> str:
        text = self.content
        preview = text[:60] + ("…" if len(text) > 60 else "")
        return (
            f"<Response {self.provider}/{self.model} finish={self.finish_reason!r} "
            f"reasoning={len(self.reasoning)} chars tool_calls={len(self._tool_calls)} content={preview!r}>"
        )

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        from .display import mimebundle

        return mimebundle(self)
