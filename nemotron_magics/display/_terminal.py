"""Plain-text streaming for terminals: deltas print as they arrive, reasoning dimmed.

Everything from outside (model text, tool names and arguments, the model's name in the footer,
a provider's error in a note) passes :func:`~.._terminal_text.terminal_safe` on its way out, so
only the escape sequences written here, our own styling, reach the terminal as commands.
"""

from __future__ import annotations

import sys
from typing import TextIO

from .._events import Event, ReasoningDelta, TextDelta, ToolCallDelta
from .._response import Response, ToolCall
from .._terminal_text import terminal_safe
from ._summary import footer

_DIM, _RESET, _CYAN, _YELLOW = "\x1b[2m", "\x1b[0m", "\x1b[36m", "\x1b[33m"


class TerminalPrinter:
    """Feed it events; it writes them to ``out`` without buffering a whole answer."""

    def __init__(self, out: TextIO | None = None, *, color: bool | None = None) -> None:
        self.out = out or sys.stdout
        isatty = getattr(self.out, "isatty", lambda: False)
        self.color = isatty() if color is None else color
        self._section: str | None = None
        self._answered = False

    def _enter(self, section: str) -> None:
        if section == self._section:
            return
        if self._section is not None:
            self.out.write(_RESET if self.color and self._section == "reasoning" else "")
            self.out.write("\n\n")
        if section == "reasoning":
            self.out.write(f"{_DIM}Thinking…\n" if self.color else "Thinking…\n")
        self._section = section

    def feed(self, event: Event) -> None:
        if type(event) is TextDelta:
            self._enter("answer")
            self._answered = True
            self.out.write(terminal_safe(event.text))
        elif type(event) is ReasoningDelta:
            self._enter("reasoning")
            self.out.write(terminal_safe(event.text))
        elif type(event) is ToolCallDelta and event.name:
            self._enter("tool")
            label = f"→ tool call {terminal_safe(event.name)}"
            self.out.write(f"{_CYAN}{label}{_RESET}\n" if self.color else label + "\n")
        else:
            return
        self.out.flush()

    def tool_result(self, call: ToolCall) -> None:
        """A tool call of the loop finished: its status and what went back to the model."""
        said = call.error or call.result or ""
        said = said if len(said) <= 300 else said[:300] + f"… ({len(said) - 300:,} more)"
        line = terminal_safe(f"  {call.name}({call.arguments_text}) · {call.status}: {said}")
        colour = _YELLOW if call.status != "done" else _DIM
        self.out.write(f"{colour}{line}{_RESET}\n" if self.color else line + "\n")
        self.out.flush()
        self._section = None  # the next round's thinking starts a new section

    def close(self, response: Response, *, note: str | None = None) -> None:
        """Finish the answer: tool arguments, a note (stopped, error) if any, then the footer line."""
        if not self._answered and response.content:
            self._enter("answer")  # nothing streamed as answer: the server put it in the reasoning field
            self.out.write(terminal_safe(response.content))
        self._enter("footer")
        for call in response.tool_calls:
            self.out.write(terminal_safe(f"{call.name}({call.arguments_text})") + "\n")
        if note:
            note = terminal_safe(note)
            self.out.write(f"{_YELLOW}[{note}]{_RESET}\n" if self.color else f"[{note}]\n")
        line = terminal_safe(footer(response))
        self.out.write(f"{_DIM}{line}{_RESET}\n" if self.color else line + "\n")
        self.out.flush()
