"""The live display when the page has our JupyterLab extension: one output, appends on a comm.

The extension renders ``application/vnd.nemotron.response+json`` itself (its own Markdown,
thinking panel, tool cards and table), so nothing needs rendering here while the cell
streams. The cell gets one output: the response as it stands at the start, marked
``live: {id}``. Then each tick sends one small message on the ``nemotron.live`` comm with
only what changed since the last one:

::

    {"id": …, "content": "new answer text", "reasoning": "new thinking",
     "rows": {"columns": [...], "append": [[...], ...]},           # a schema's new rows
     "set": {"status": …, "thinking": …, "footer": [...], "tool_calls": [...], "notes": [...]}}
    {"id": …, "round": {...}}                                      # a tool loop moved on

Every answer byte travels once, so the traffic stays O(n) however long the answer; the
message budget (``max_rate``) is :class:`LiveDisplay`'s. At the end the output is replaced
by the complete bundle (all four MIME types, no ``live`` key), exactly as without the
extension: a saved notebook renders from it alone, anywhere.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from .._frontend import Frontends, frontends
from .._response import Response
from ._bundle import MIME, mimebundle, round_payload, thinking_summary, tool_call_payload
from ._live import HEAD_REFRESH, LiveDisplay, Sink, live_status, row_cells, shown_content
from ._summary import footer_parts


class LabLiveDisplay(LiveDisplay):
    """:class:`LiveDisplay` for a page whose extension renders the response (see the module)."""

    def __init__(
        self,
        response: Response,
        *,
        format: str = "markdown",
        max_rate: float = 20.0,
        channel: Sink | None = None,
        comm: Frontends | None = None,
    ) -> None:
        self.comm = comm if comm is not None else frontends
        self.live_id = uuid.uuid4().hex[:16]  # names this cell run's appends on the comm
        super().__init__(response, format=format, max_rate=max_rate, channel=channel)

    def _begin(self, response: Response) -> None:
        super()._begin(response)
        self._reasoning_sent = 0
        self._set: dict[str, Any] = {}  # the small fields as last sent: only changes travel
        self._clock_at = -HEAD_REFRESH  # when counters in them were last sent
        self._calls_key: tuple[Any, ...] = ()

    def start(self) -> None:
        bundle = mimebundle(self.response, format=self.format)
        doc = bundle[MIME]
        doc["live"] = {"id": self.live_id}
        # The text fallback is for a second page without the extension on the same kernel.
        self.head = self.channel.new({MIME: doc, "text/plain": live_status(self.response)})

    def tick(self, now: float) -> int:
        r = self.response
        message: dict[str, Any] = {"id": self.live_id}
        if len(r.reasoning) > self._reasoning_sent:
            message["reasoning"] = r.reasoning[self._reasoning_sent :]
            self._reasoning_sent = len(r.reasoning)
        content = shown_content(r.content, self._consumed)
        if self.table:
            rows = self._new_rows(content)
            if rows and self._columns is not None:
                message["rows"] = {
                    "columns": self._columns,
                    "append": [row_cells(row, self._columns) for row in rows],
                }
        elif len(content) > self._consumed:
            message["content"] = content[self._consumed :]
            self._consumed = len(content)
        changed = self._changed_fields(now)
        if changed:
            message["set"] = changed
        if len(message) == 1:
            return 0
        self.comm.send(message)
        return 1

    def _changed_fields(self, now: float) -> dict[str, Any]:
        r = self.response
        answering = r.timings.first_answer is not None
        thinking = thinking_summary(r) if answering else thinking_summary(r, now=r.timings.now())
        status = f"{self._rows:,} rows so far…" if self.table and self._rows else live_status(r)
        fields: dict[str, Any] = {
            "status": status,
            "thinking": thinking if r.reasoning else None,
            "footer": footer_parts(r),
            "notes": [{"kind": "info", "text": text} for text in r.notices],
        }
        # Counters (tokens, tok/s, seconds) move on every tick: those changes go at most once a
        # second (HEAD_REFRESH), as the HTML display's head does; a change of words goes at once.
        clock_due = now - self._clock_at >= HEAD_REFRESH

        def due(key: str, value: Any) -> bool:
            old = self._set.get(key)
            return value is not None and old != value and (clock_due or _words(old) != _words(value))

        changed = {k: v for k, v in fields.items() if due(k, v)}
        if clock_due and changed:
            self._clock_at = now
        self._set.update(changed)
        calls = r.tool_calls
        key = tuple((c.index, c.name, len(c.arguments_text), c.status, len(c.result or "")) for c in calls)
        if key != self._calls_key:
            self._calls_key = key
            changed["tool_calls"] = [tool_call_payload(c, r.done) for c in calls]
        return changed

    def close(self, *, blank: bool = False, banners: bool = True) -> None:
        # The last appends first: the page has the whole answer before the bundle replaces it,
        # so the bundle's render only seals the last block.
        if not blank and self.head is not None:
            self.tick(0.0)
        super().close(blank=blank, banners=banners)

    def _next_round(self, response: Response) -> None:
        """The finished round goes over whole; the next one streams into the same output."""
        self.tick(0.0)  # the round's last appends first, so nothing of it is lost
        self.comm.send({"id": self.live_id, "round": round_payload(self.response)})
        head = self.head
        self._begin(response)
        self.head = head


_NUMBERS = re.compile(r"\d[\d.,]*")


def _words(value: Any) -> str:
    """A field with its numbers blanked: what changes when more than a counter moved."""
    return _NUMBERS.sub("#", json.dumps(value, ensure_ascii=False))


__all__ = ["LabLiveDisplay"]
