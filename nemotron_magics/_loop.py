"""The tool loop: model → tool calls → run them → results → model, until an answer.

A :class:`ToolLoop` is a stream over rounds. Iterating it yields every round's events, and
:class:`~nemotron_magics.ToolProgress` while the tools of a round run, so one display shows the
whole exchange as it happens. ``.response`` is the round streaming now; when the loop ends it is
the answer, whose ``.rounds`` holds every round in order (itself last).

Three choices shape it:

* The history of the next round is shaped by the dialect of the provider that answers (its
  assistant turn with the tool calls, then one tool message per call, in call order), so a
  conversation can move between providers.
* Calls of one turn run concurrently (threads for plain functions, the event loop for
  ``async def`` and MCP) in a worker thread with an event loop of its own: a notebook kernel's
  main thread already runs one. Approval is asked on the calling thread first, one call at a
  time, because a widget's buttons and a terminal prompt both live there.
* Failures reach the model, not the user's traceback: invalid arguments, an unknown tool, an
  exception, a timeout or a denial each become a tool result that says what went wrong.
  Only registered callables can ever run; the model's text is never executed.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import sys
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ._errors import ConfigurationError
from ._events import Event, ToolProgress
from ._response import Response, ToolCall
from ._stream import EventIterator, Stream

if TYPE_CHECKING:
    from ._client import Client
    from ._tools import Tool, ToolOutcome

#: A round limit that stops a model calling tools forever.
DEFAULT_MAX_ROUNDS = 8
#: Decides whether one call may run: ``(tool, arguments) -> True`` to run it.
Approver = Callable[["Tool", "dict[str, Any]"], bool]
_WAIT = 0.1  # seconds between checks for Ctrl-C while the tools run


def split_tools(tools: Sequence[Any]) -> tuple[list[Tool], list[dict[str, Any]]]:
    """(callable tools the loop runs, JSON-schema dicts sent as they are and never run)."""
    from ._tools import as_tool

    runnable: list[Tool] = []
    raw: list[dict[str, Any]] = []
    for item in tools:
        if isinstance(item, Mapping):
            raw.append(dict(item))
        else:
            runnable.extend(
                item.tools if hasattr(item, "tools") and hasattr(item, "target") else [as_tool(item)]
            )
    names = [t.name for t in runnable] + [str((d.get("function") or {}).get("name", "")) for d in raw]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ConfigurationError(
            f"Two tools are named {', '.join(map(repr, twice))}: give each a name of its own"
        )
    return runnable, raw


def terminal_approver(tool: Tool, arguments: dict[str, Any]) -> bool:
    """Ask on the terminal; where there is none, refuse (a denial the model is told about)."""
    import json

    from ._terminal_text import terminal_safe

    if not (sys.stdin is not None and sys.stdin.isatty()):
        raise PermissionError("approval was needed and there is no terminal or widget to ask on")
    shown = terminal_safe(json.dumps(arguments, ensure_ascii=False)[:500])
    answer = input(f"Run tool {terminal_safe(tool.name)}({shown})? [y/N] ")
    return answer.strip().lower() in ("y", "yes")


class ToolLoop(EventIterator):
    """Rounds of streaming and tool calls, iterated as one stream of events."""

    def __init__(
        self,
        client: Client,
        messages: list[dict[str, Any]],
        tools: Sequence[Any],
        *,
        max_rounds: int = DEFAULT_MAX_ROUNDS,
        tool_timeout: float | None = None,
        confirm: bool = False,
        approve: Approver | None = None,
        stream_kw: dict[str, Any],
        on_round: Callable[[Response], None] | None = None,
    ) -> None:
        from ._params import LOOP

        max_rounds = LOOP["max_rounds"].validate(max_rounds)
        tool_timeout = LOOP["tool_timeout"].validate(tool_timeout)
        confirm = LOOP["confirm"].validate(confirm)
        self.tools, raw = split_tools(tools)
        self._specs = [t.to_openai() for t in self.tools] + raw
        self._client, self._kw = client, stream_kw
        self._messages = list(messages)
        self.max_rounds, self.tool_timeout, self.confirm = max_rounds, tool_timeout, confirm
        self._approve = approve or terminal_approver
        self._on_round = on_round
        self.rounds: list[Response] = []
        self._stream: Stream | None = self._open()  # the first request is resolved at once (errors now)
        self.response: Response = self._stream.response
        self._events = self._run()

    def cancel(self) -> None:
        """Stop from another thread (a Stop button's): the round streaming now ends as cancelled."""
        if self._stream is not None:
            self._stream.cancel()

    def close(self) -> None:
        self._events.close()
        if self._stream is not None:
            self._stream.close()
        self._seal()

    # -- rounds --------------------------------------------------------------------------------
    def _open(self) -> Stream:
        kw = dict(self._kw)
        kw["tools"] = self._specs
        forced = isinstance(kw.get("tool_choice"), Mapping) or kw.get("tool_choice") == "required"
        if self.rounds and forced:
            # A forced tool_choice applies to the first round only: forcing it again would make
            # the model call the tool forever. Later rounds get the provider's default (call or answer).
            kw.pop("tool_choice")
        stream = self._client.stream(self._messages, **kw)
        assert isinstance(stream, Stream)  # the tools go as JSON schemas: one round, never cached
        self.rounds.append(stream.response)
        if self._on_round is not None:
            self._on_round(stream.response)
        return stream

    def _run(self) -> Generator[Event, None, None]:
        while True:
            stream = self._stream
            assert stream is not None
            self.response = stream.response
            try:
                yield from stream
            except BaseException:
                self._seal()
                raise
            r = stream.response
            calls = r.tool_calls
            if not calls or not self.tools or r.finish_reason in ("cancelled", "error", "length"):
                break  # an answer (or only JSON-schema tools, which the caller handles)
            yield from self._run_calls(len(self.rounds), calls)
            dialect = stream.provider.dialect
            self._messages.append(dialect.assistant_message(r))
            self._messages.extend(
                dialect.tool_message(c.id or f"call_{c.index}", c.name, c.result or "") for c in calls
            )
            if len(self.rounds) >= self.max_rounds:
                r.finish_reason = "max_rounds"
                r.notices.append(
                    f"Stopped after {self.max_rounds} rounds of tool calls (max_rounds) without a final "
                    "answer: raise --max-rounds (max_rounds=…), or ask for fewer steps."
                )
                break
            self._stream = self._open()
        self._stream = None
        self._seal()

    def _seal(self) -> None:
        """The answer carries every round; every round stays reachable from it."""
        final = self.rounds[-1] if self.rounds else self.response
        final.rounds = list(self.rounds)
        self.response = final

    def _run_calls(self, round_no: int, calls: list[ToolCall]) -> Iterator[Event]:
        """Approve (here, one by one), then run the approved calls together; results in call order."""
        from ._tools import ToolOutcome

        by_name = {t.name: t for t in self.tools}
        outcomes: dict[int, ToolOutcome] = {}
        jobs: list[tuple[int, Any]] = []
        for i, call in enumerate(calls):
            tool = by_name.get(call.name)
            call_id = call.id or f"call_{call.index}"
            if tool is not None and call.arguments is not None and (self.confirm or tool.confirm):
                call.status = "waiting for approval"
                yield ToolProgress(round_no, i, call.status)
                try:
                    allowed = bool(self._approve(tool, call.arguments))
                    why = "The user declined this tool call."
                except Exception as exc:  # no way to ask: a denial the model hears about
                    allowed, why = False, f"The call was not run: {exc}."
                if not allowed:
                    outcomes[i] = ToolOutcome(call_id, call.name, "denied", why, error=why)
                    continue
                call.status = "approved"  # the card stops asking; it runs with the others
                yield ToolProgress(round_no, i, call.status)
            jobs.append((i, (tool, call_id, call.name, call.arguments, call.error)))
        for i, _ in jobs:
            calls[i].status = "running"
            yield ToolProgress(round_no, i, "running")
        if jobs:
            for (i, _), outcome in zip(jobs, self._execute([job for _, job in jobs]), strict=True):
                outcomes[i] = outcome
        for i, call in enumerate(calls):
            o = outcomes[i]
            call.status, call.result, call.duration = o.status, o.result, o.duration
            call.error = o.error if o.status != "done" else None
            yield ToolProgress(round_no, i, o.status)

    def _execute(self, jobs: list[Any]) -> list[ToolOutcome]:
        from ._tools import run_calls

        names = [t.name for t in self.tools]

        def work() -> list[ToolOutcome]:
            return asyncio.run(run_calls(jobs, timeout=self.tool_timeout, approve=None, available=names))

        pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="nemotron-tools")
        future = pool.submit(work)
        try:
            while True:
                try:
                    return future.result(timeout=_WAIT)  # short waits: Ctrl-C is noticed between them
                except concurrent.futures.TimeoutError:
                    continue
        finally:
            pool.shutdown(wait=False)  # a tool still running after Ctrl-C cannot be killed; it is left


__all__ = ["DEFAULT_MAX_ROUNDS", "Approver", "ToolLoop", "split_tools", "terminal_approver"]
