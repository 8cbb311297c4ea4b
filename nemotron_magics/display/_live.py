"""The live display in a Jupyter kernel: few messages, small messages, one complete bundle at the end.

A 100 kB answer at 2,000 characters a second re-sent whole at 20 Hz would push over a
thousand bytes to the browser per byte of answer. Instead the cell holds a few outputs,
each with its own display id, and only the growing end is re-sent:

::

    head      status line and "Thinking…" panel (a window of the latest reasoning while
              thinking; collapsed, with the whole reasoning, once the answer starts)
    segment…  finished Markdown, rendered once; the last one grows a few times, then is sealed
    tail      finished-but-unsettled blocks + the open block + tool-call cards (≤ max_rate Hz)

A structured answer (a schema) streams as a table instead: the JSON is parsed partially, and
each row complete so far becomes one ``<tr>`` piece that flows through the same tail and
segments, so only new rows travel (each segment is its own ``<table>``).

Finished blocks (see :mod:`._segments`) gather in the tail until there are ``settle_chars``
of them; then they move into the current segment (one re-send of that segment) or, when it
is full, the tail display itself becomes the next segment and a new tail is appended below
it. Segments grow with the answer so a long one stays within a few dozen outputs
(JupyterLab hides a cell's outputs past 50 by default).

Every message counts against ``max_rate`` per second, however many events arrive; the
only time check is one ``perf_counter`` per event. At the end the head is replaced by the
complete bundle (all four MIME types) and every other output of ours is emptied, so the
saved notebook holds the whole answer exactly once. ``clear_output`` would do it in one
message but would also wipe what anything else printed in the cell (an earlier answer,
a warning); updating our own display ids touches nothing else.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from .._events import Retrying, ToolProgress
from .._formats import get_format
from .._response import Response
from .._schema import complete_rows, flat_row
from . import _html
from ._bundle import mimebundle, thinking_summary
from ._markdown import escape_text
from ._segments import Splitter
from ._summary import footer_parts

#: Finished text (characters) that gathers in the tail before it moves into a segment.
SETTLE_CHARS = 700
#: A segment is sealed past this size, or past 1/SEGMENT_FRACTION of what came before it.
SEGMENT_CHARS = 4000
SEGMENT_FRACTION = 10
#: Past this many segments, finished text leaves the live view (the final bundle has it all):
#: more outputs would be hidden by JupyterLab, one ever-growing segment would be re-sent whole.
MAX_SEGMENTS = 32
#: The open block is cut (at a line end) past this many characters.
MAX_OPEN = 2000
#: While the answer streams, reasoning that still arrives refreshes the head at most this often (s).
HEAD_REFRESH = 1.0


class Sink(Protocol):
    """Where the live display's outputs go: new ones, and updates of one by its id; counted."""

    sent: int

    def new(self, data: dict[str, Any]) -> str: ...

    def update(self, display_id: str, data: dict[str, Any]) -> None: ...


class Channel:
    """Sends display messages through IPython (so ipykernel's publisher); counts them.

    Another :class:`Sink` (the chat widget's, which renders into ``ipywidgets.HTML`` values)
    gets the same few, small messages.
    """

    def __init__(self) -> None:
        from IPython.display import display

        self._display: Callable[..., Any] = display
        self.sent = 0

    def new(self, data: dict[str, Any]) -> str:
        display_id = uuid.uuid4().hex[:16]  # sent with every update: 64 random bits are plenty
        self._display(data, raw=True, display_id=display_id)
        self.sent += 1
        return display_id

    def update(self, display_id: str, data: dict[str, Any]) -> None:
        self._display(data, raw=True, display_id=display_id, update=True)
        self.sent += 1


def _html_data(html: str) -> dict[str, Any]:
    # Every output of ours sits in the container that keeps MathJax off prose.
    return {"text/html": _html.wrap(html)}


#: Events that are shown at once, whatever the message budget (they come before a wait).
_AT_ONCE = (Retrying, ToolProgress)


class LiveDisplay:
    """Renders one :class:`Response` while its stream is consumed; :meth:`close` leaves the bundle."""

    def __init__(
        self,
        response: Response,
        *,
        format: str = "markdown",
        max_rate: float = 20.0,
        channel: Sink | None = None,
    ) -> None:
        self.format = format
        self.interval = 1.0 / max_rate
        self.channel: Sink = channel if channel is not None else Channel()
        self.next_at = 0.0
        #: Outputs of earlier rounds of a tool loop: the first becomes the bundle, the rest empty.
        self._spent: list[str] = []
        self._begin(response)

    def _begin(self, response: Response) -> None:
        """The state one round's rendering needs (a tool loop starts it again per round)."""
        self.response = response
        form = get_format(self.format, response)  # how this format renders live
        self.splitter = Splitter(markdown=form.markdown, max_open=MAX_OPEN)
        self.head: str | None = None
        self._head_html = ""
        self._head_at = 0.0
        self._answering = False
        self._retry: Retrying | None = None
        self._reasoning_chars = 0
        self.segments: list[str] = []  # display ids, oldest first; the last one may still grow
        self._segment_html = ""
        self._segment_chars = 0
        self._frozen_chars = 0
        self._unshown = 0
        self.tail: str | None = None
        self._tail_html = ""
        self._pending: list[str] = []  # rendered finished pieces shown in the tail
        self._pending_chars = 0
        self._consumed = 0
        self._tools: tuple[tuple[int, str, int, str], ...] = ()
        #: A structured answer streams as table rows: how many are shown, under which columns.
        self.table = form.name == "schema"
        self._rows = 0
        self._columns: list[str] | None = None

    # -- the loop ------------------------------------------------------------------------------
    def start(self) -> None:
        self._head_html = self._render_head(time.perf_counter())
        self.head = self.channel.new(_html_data(self._head_html))

    def consume(self, events: Iterable[Any]) -> None:
        """Drain ``events``; update the display whenever the message budget allows.

        ``events`` may be a tool loop, whose ``.response`` moves on to each new round: the
        finished round is then drawn once, whole, and the new one streams below it.
        """
        clock = time.perf_counter
        for event in events:
            now = clock()
            current = getattr(events, "response", None)
            if isinstance(current, Response) and current is not self.response:
                self._next_round(current)
            # A retry is about to sleep, a tool changed status: show it now, whatever the budget says.
            if now >= self.next_at or type(event) in _AT_ONCE:
                sent = self.tick(now)
                # Counted from the end of the tick: a slow render never starves the stream.
                self.next_at = clock() + sent * self.interval

    def tick(self, now: float) -> int:
        """Send what changed since the last tick; returns the number of messages sent."""
        before = self.channel.sent
        self._tick_head(now)
        r = self.response
        content = shown_content(r.content, self._consumed)
        changed = False
        if self.table:
            changed = self._feed_rows(content)
        elif len(content) > self._consumed:  # (shorter only after finish() corrected it: see the bundle)
            self.splitter.feed(content[self._consumed :])
            self._consumed = len(content)
            changed = True
        for piece in self.splitter.take():
            self._pending.append(_html.segment(piece.render, self.format))
            self._pending_chars += len(piece.raw)
        calls = r.tool_calls
        if calls:
            tools = tuple((c.index, c.name, len(c.arguments_text), c.status) for c in calls)
            if tools != self._tools:
                self._tools = tools
                changed = True
        if self._pending_chars >= SETTLE_CHARS:
            self._settle()
        elif changed:
            self._send_tail()
        return self.channel.sent - before

    # -- table rows ----------------------------------------------------------------------------
    def _new_rows(self, content: str) -> list[Any] | None:
        """Rows of a streaming JSON answer complete now and not shown yet (None: no new text).

        The first row names the columns (``self._columns``); ``self._rows`` counts those shown.
        """
        if len(content) <= self._consumed:
            return None
        self._consumed = len(content)
        rows, _ = complete_rows(content)
        new = rows[self._rows :]
        if new and self._columns is None:
            self._columns = row_columns(new[0])
        self._rows = len(rows)
        return new

    def _feed_rows(self, content: str) -> bool:
        """New complete rows of a streaming JSON answer become ``<tr>`` pieces in the tail."""
        first = self._columns is None
        new = self._new_rows(content)
        if new is None:
            return False
        if not new:
            return not self._rows  # before the first row the tail shows the JSON itself
        assert self._columns is not None  # named by the first row
        if first:
            header = "".join(f"<th>{escape_text(c)}</th>" for c in self._columns)
            self._pending.append(f"<thead><tr>{header}</tr></thead>")
        for row in new:
            cells = "".join(f"<td>{escape_text(c)}</td>" for c in row_cells(row, self._columns))
            piece = f"<tr>{cells}</tr>"
            self._pending.append(piece)
            self._pending_chars += len(piece)
        return True

    def _framed(self, html: str) -> str:
        """Rows as a table of their own (each segment and the tail is one)."""
        if not self.table or not html:
            return html
        return f'<table class="nm-table nm-live-table">{html}</table>'

    # -- head ----------------------------------------------------------------------------------
    def _render_head(self, now: float) -> str:
        r = self.response
        status = live_status(r)
        thinking = ""
        if r.reasoning:
            if self._answering:
                thinking = _html.thinking(r.reasoning, thinking_summary(r), live=False)
            else:
                thinking = _html.thinking(r.reasoning, thinking_summary(r, now=r.timings.now()), live=True)
        notices = "".join(_html.note("info", text) for text in r.notices)
        return _html.status(status) + notices + thinking

    def _tick_head(self, now: float) -> None:
        r = self.response
        dirty = r.retrying is not self._retry  # a back-off began (or the answer came): say so
        self._retry = r.retrying
        if not self._answering and (r.timings.first_answer is not None):
            self._answering = dirty = True  # collapse the thinking panel, whole reasoning inside
        reasoning = len(r.reasoning)
        if reasoning != self._reasoning_chars:
            self._reasoning_chars = reasoning
            dirty = dirty or not self._answering or now - self._head_at >= HEAD_REFRESH
        if dirty and self.head is not None:
            html = self._render_head(now)
            if html != self._head_html:
                self._head_html, self._head_at = html, now
                self.channel.update(self.head, _html_data(html))

    # -- answer --------------------------------------------------------------------------------
    def _segment_limit(self) -> int:
        return max(SEGMENT_CHARS, self._frozen_chars // SEGMENT_FRACTION)

    def _settle(self) -> None:
        """Move the finished pieces out of the tail: into the current segment, or a new one."""
        html, chars = "".join(self._pending), self._pending_chars
        self._pending, self._pending_chars = [], 0
        full = self._segment_chars + chars > self._segment_limit()
        if full and len(self.segments) >= MAX_SEGMENTS:
            self._unshown += chars  # a huge answer: the middle waits for the final bundle
        elif self.segments and not full:
            self._segment_html += html
            self._segment_chars += chars
            self.channel.update(self.segments[-1], _html_data(self._framed(self._segment_html)))
        else:
            # Seal the current segment as it is; the tail display, just above where the new
            # tail will go, becomes the next segment.
            if self.tail is not None:
                self.channel.update(self.tail, _html_data(self._framed(html)))
                self.segments.append(self.tail)
                self.tail, self._tail_html = None, ""
            else:
                self.segments.append(self.channel.new(_html_data(self._framed(html))))
            self._segment_html, self._segment_chars = html, chars
        self._frozen_chars += chars
        self._send_tail()

    def _send_tail(self) -> None:
        if self.table:
            parts = [self._framed("".join(self._pending))]
            if self._rows:
                parts.append(_html.status(f"{self._rows:,} rows so far…"))
            elif self.response.content:  # one object, or before the first row: the JSON as it comes
                parts.append(_html.segment(self.response.content[-MAX_OPEN:], "json"))
        else:
            parts = [*self._pending, _html.segment(self.splitter.open_text, self.format)]
        if self._unshown:
            parts.insert(
                0, _html.status(f"… {self._unshown:,} more characters, shown when the answer is complete")
            )
        calls = self.response.tool_calls
        if calls:
            parts.append(_html.tool_cards(calls, live=True))
        html = "".join(parts)
        if html == self._tail_html:
            return
        self._tail_html = html
        if self.tail is None:
            self.tail = self.channel.new(_html_data(html))
        else:
            self.channel.update(self.tail, _html_data(html))

    # -- rounds of a tool loop ----------------------------------------------------------------
    def _next_round(self, response: Response) -> None:
        """Draw the finished round whole in its head, drop its live pieces, start the next below."""
        done = self.response
        if self.head is not None:
            self.channel.update(self.head, _html_data(_html.round_html(done, thinking_summary(done))))
            self._spent.append(self.head)
        for display_id in [*self.segments, *([self.tail] if self.tail else [])]:
            self.channel.update(display_id, {})
        self._begin(response)
        self.start()

    # -- the end -------------------------------------------------------------------------------
    def close(self, *, blank: bool = False, banners: bool = True) -> None:
        """Replace the first output with the complete bundle (or nothing) and empty every other one.

        ``banners=False``: the caller raises the stop or the error next, and its line says it.
        """
        if self.head is None:
            return
        final = self.response
        if final.rounds and final.rounds[-1] is not final:
            final = final.rounds[-1]  # stopped between rounds: the loop's answer is its last round
        bundle = {} if blank else mimebundle(final, format=self.format, banners=banners)
        first, *others = [*self._spent, self.head]
        self.channel.update(first, bundle)
        for display_id in [*others, *self.segments, *([self.tail] if self.tail else [])]:
            self.channel.update(display_id, {})
        self.segments, self.tail, self._spent = [], None, []


def live_status(r: Response) -> str:
    """The status line while a response streams: where it is, and a back-off if one is on."""
    status = " · ".join(footer_parts(r))
    retry = r.retrying
    if retry is not None and r.timings.first_byte is None:
        return status + (
            f" · {retry.reason}: retrying in {retry.delay:.1f} s (attempt {retry.attempt} of {retry.of})"
        )
    if r.timings.first_token is None:
        return status + " · waiting for the first token…"
    return status + " · streaming…"


def shown_content(content: str, consumed: int) -> str:
    """The answer text to show so far (``consumed`` characters of it were shown already).

    Raw ``<tool_call>`` text from a server without a tool parser becomes tool calls at the
    end: it is not shown as answer text meanwhile.
    """
    raw_call = content.find("<tool_call>", max(0, consumed - 10))
    return content[:raw_call] if raw_call >= 0 else content


def row_columns(first: Any) -> list[str]:
    """The live table's columns, from its first row (nested objects as dotted names)."""
    return list(flat_row(first) if isinstance(first, dict) else {"value": first})


def row_cells(row: Any, columns: list[str]) -> list[str]:
    """One row of a streaming table as the text of its cells, under ``columns``."""
    flat = flat_row(row) if isinstance(row, dict) else {"value": row}
    return [_cell(flat.get(c)) for c in columns]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "True" if value else "False"
    return str(value)


__all__ = ["Channel", "LiveDisplay", "Sink", "live_status", "row_cells", "row_columns", "shown_content"]
