"""A bounded reader of server-sent events: bytes in, ``(event, data)`` pairs out.

httpx-sse reads whole lines with no limit, so one line that never ends (a broken
proxy, a runaway server) grows memory until something else fails. This reader
holds at most ``limit`` bytes of one event and says so past it. It works on bytes
because the JSON parser takes bytes: nothing is decoded twice on the hot path.

It follows the WHATWG rules that matter to a one-shot stream: lines end in
``\\r\\n``, ``\\n`` or ``\\r``; the ``data:`` lines of one event join with ``\\n``; a
blank line dispatches; ``:`` starts a comment; a leading byte-order mark is
dropped; an event cut off by the end of the stream is dropped; ``id`` and
``retry`` are ignored (a stream is never resumed).
"""

from __future__ import annotations

_BOM = b"\xef\xbb\xbf"
_COLON = 0x3A


class EventTooLarge(Exception):
    """One event (or one unfinished line) grew past the limit."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"event of {size} bytes exceeds the limit of {limit}")
        self.size, self.limit = size, limit


class SSEReader:
    """Feed it the body's bytes as they arrive; it returns the events they complete."""

    __slots__ = ("_cr", "_data", "_event", "_limit", "_parts", "_pending", "_size", "_started", "events")

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._parts: list[bytes] = []  # an unfinished line, in the pieces it came in
        self._pending = 0  # bytes in _parts
        self._cr = False  # the last piece ended with \r: a \n that follows is the same line end
        self._data: list[bytes] = []
        self._size = 0  # data bytes of the event so far
        self._event = b""
        self._started = False
        #: Events dispatched so far (a body that never made one was probably not an event stream).
        self.events = 0

    def feed(self, chunk: bytes) -> list[tuple[bytes, bytes]]:
        if not self._started:
            if len(chunk) < len(_BOM) and _BOM.startswith(chunk):
                return []  # wait: it may be the start of a byte-order mark
            self._started = True
            if chunk.startswith(_BOM):
                chunk = chunk[len(_BOM) :]
        if self._cr:
            self._cr = False
            if chunk[:1] == b"\n":
                chunk = chunk[1:]
        if b"\r" in chunk:
            self._cr = chunk.endswith(b"\r")
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        if b"\n" not in chunk:
            if chunk:
                self._hold(chunk)
            return []
        lines = chunk.split(b"\n")
        if self._parts:
            self._parts.append(lines[0])
            lines[0] = b"".join(self._parts)
            self._parts, self._pending = [], 0
        tail = lines.pop()
        out: list[tuple[bytes, bytes]] = []
        data = self._data
        for line in lines:
            if not line:
                if data:
                    out.append((self._event, data[0] if len(data) == 1 else b"\n".join(data)))
                    data = self._data = []
                    self._size = 0
                self._event = b""
            elif line.startswith(b"data:"):
                value = line[6:] if line[5:6] == b" " else line[5:]
                self._size += len(value)
                if self._size > self._limit:
                    raise EventTooLarge(self._size, self._limit)
                data.append(value)
            elif line[0] != _COLON:
                self._field(line)
        self.events += len(out)
        if tail:
            self._hold(tail)
        return out

    def _field(self, line: bytes) -> None:
        name, _, value = line.partition(b":")
        if value[:1] == b" ":
            value = value[1:]
        if name == b"event":
            self._event = value
        elif name == b"data":  # "data" with no colon: an empty data line
            self._data.append(value)

    def _hold(self, piece: bytes) -> None:
        self._parts.append(piece)
        self._pending += len(piece)
        if self._pending + self._size > self._limit:
            raise EventTooLarge(self._pending + self._size, self._limit)
