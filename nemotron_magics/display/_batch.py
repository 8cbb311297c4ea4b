"""A batch while it runs: a progress bar, and in a notebook the output table growing row by row.

The bar is ``tqdm.auto``'s (a widget in a notebook, text on stderr in a terminal): rows done,
then errors, tokens and cost so far. The table follows the live display's traffic discipline
(:mod:`._live`): a status output and a few row segments, each its own display id; only the
segment still filling is re-sent, and every message counts against ``max_rate`` per second
however fast rows finish. Rows appear in the order they finish; at the end the first output
becomes the whole frame (in the input's order) and the others are emptied, so the saved
notebook holds the table once. Model output is untrusted: every cell is escaped, and the final
table goes through the package's sanitiser.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from . import _html
from ._live import Channel, Sink
from ._markdown import escape_text

if TYPE_CHECKING:
    import pandas

    from .._batch import Columns

#: Rows per segment: a segment is re-sent while it fills, then never again.
SEGMENT_ROWS = 50
#: Segments shown live (JupyterLab hides a cell's outputs past 50); later rows wait for the end.
MAX_SEGMENTS = 20
#: Characters of an answer shown in a live row (the final frame has it whole).
CELL_CHARS = 160
#: Rows of the final frame in the cell's HTML (the variable holds every row).
FINAL_ROWS = 60


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, float):
        return f"{value:.6f}".rstrip("0").rstrip(".")
    text = str(value)
    text = text if len(text) <= CELL_CHARS else text[: CELL_CHARS - 1] + "…"
    return escape_text(text)


def frame_bundle(frame: pandas.DataFrame, note: str = "") -> dict[str, Any]:
    """The finished (or stopped) batch as a cell output: sanitised HTML and plain text."""
    from ._markdown import sanitise_html

    head = frame.head(FINAL_ROWS)
    table = sanitise_html(head.to_html(border=0, classes="nm-table", na_rep=""))
    rows = len(frame)
    shape = f"{rows:,} rows × {frame.shape[1]} columns" + (
        f" (first {FINAL_ROWS} shown)" if rows > FINAL_ROWS else ""
    )
    parts = [_html.note("stopped", note)] if note else []
    parts += [table, _html.status(shape)]
    text = (note + "\n" if note else "") + frame.to_string(max_rows=FINAL_ROWS, max_colwidth=60)
    return {"text/html": _html.wrap("".join(parts)), "text/plain": text}


class LiveTable:
    """Finished rows as they come, in segments; the first output ends as the whole frame."""

    def __init__(self, channel: Sink | None = None, *, max_rate: float = 20.0) -> None:
        self.channel: Sink = channel if channel is not None else Channel()
        self.interval = 1.0 / max_rate
        self.next_at = 0.0
        self.head: str | None = None
        self.segments: list[str] = []
        self._rows: list[str] = []  # <tr>s of the segment still filling
        self._filling: str | None = None  # its display id
        self._columns: list[str] | None = None
        self._seen = 0
        self._unshown = 0
        self._status = ""

    def start(self, total: int) -> None:
        self._status = f"nemotron batch: 0 of {total:,} rows"
        self.head = self.channel.new({"text/html": _html.wrap(_html.status(self._status))})

    def tick(self, columns: Columns, total: int, *, force: bool = False) -> None:
        """Send what changed since the last tick, if the message budget allows (or ``force``)."""
        now = time.perf_counter()
        if self.head is None or (now < self.next_at and not force):
            return
        before = self.channel.sent
        order = columns.order
        new = order[self._seen : len(order)]
        self._seen += len(new)
        status = f"nemotron batch: {columns.totals.done:,} of {total:,} rows · {columns.totals.text()}"
        if new:
            self._add(columns, new)
        if self._unshown:
            status += f" · {self._unshown:,} more rows in the table at the end"
        if status != self._status:
            self._status = status
            self.channel.update(self.head, {"text/html": _html.wrap(_html.status(status))})
        self.next_at = time.perf_counter() + (self.channel.sent - before) * self.interval

    def _add(self, columns: Columns, positions: list[int]) -> None:
        dirty = False
        for i, position in enumerate(positions):
            if len(self.segments) >= MAX_SEGMENTS and self._filling is None:
                self._unshown += len(positions) - i  # the rest wait for the final table
                break
            record = columns.record(position)
            if self._columns is None:
                self._columns = ["row", *record]
            cells = [str(position), *(_cell(record.get(c)) for c in self._columns[1:])]
            self._rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
            dirty = True
            if len(self._rows) >= SEGMENT_ROWS:
                self._send_segment()
                self._filling, self._rows, dirty = None, [], False  # sealed: never sent again
        if dirty:
            self._send_segment()

    def _send_segment(self) -> None:
        header = "".join(f"<th>{escape_text(c)}</th>" for c in self._columns or [])
        body = "".join(self._rows)
        data = {
            "text/html": _html.wrap(
                f'<table class="nm-table nm-live-table"><thead><tr>{header}</tr></thead>{body}</table>'
            )
        }
        if self._filling is None:
            self._filling = self.channel.new(data)
            self.segments.append(self._filling)
        else:
            self.channel.update(self._filling, data)

    def close(self, bundle: dict[str, Any]) -> None:
        if self.head is None:
            return
        self.channel.update(self.head, bundle)
        for display_id in self.segments:
            self.channel.update(display_id, {})
        self.segments = []


class BatchView:
    """The progress bar and (in a notebook) the live table of one batch."""

    def __init__(
        self, total: int, *, progress: bool = True, live: bool | None = None, max_rate: float = 20.0
    ) -> None:
        from ._show import in_kernel

        self.total = total
        self.live = in_kernel() if live is None else live
        self.bar: Any = None
        if progress:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, desc="nemotron", unit="row", leave=True, dynamic_ncols=True)
        self.table = LiveTable(max_rate=max_rate) if self.live else None
        self._seen = 0
        self._postfix = ""

    def start(self) -> None:
        if self.table is not None:
            self.table.start(self.total)

    def update(self, columns: Columns, *, force: bool = False) -> None:
        done = columns.totals.done
        if self.bar is not None and done != self._seen:
            postfix = columns.totals.text()
            if postfix != self._postfix:
                self._postfix = postfix
                self.bar.set_postfix_str(postfix, refresh=False)
            self.bar.update(done - self._seen)
            self._seen = done
        if self.table is not None:
            self.table.tick(columns, self.total, force=force)

    def close(self, columns: Columns, frame: pandas.DataFrame | None, note: str = "") -> None:
        self.update(columns, force=True)
        if self.bar is not None:
            self.bar.close()
        if self.table is not None:
            self.table.close(frame_bundle(frame, note) if frame is not None else {})


__all__ = ["BatchView", "LiveTable", "frame_bundle"]
