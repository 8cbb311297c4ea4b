"""Outside a notebook (terminal IPython, plain Python) a stream prints as it arrives.

The printing path needs nothing beyond the core dependencies: no IPython, markdown-it or nh3.
"""

from __future__ import annotations

import io
import json
import signal
import subprocess
import sys
import threading
import time
from contextlib import redirect_stdout
from typing import Any

import pytest

import nemotron_magics as nm
from nemotron_magics import ReasoningDelta, Response, StreamCancelled, StreamError, TextDelta, ToolCallDelta
from nemotron_magics._terminal_text import terminal_safe
from nemotron_magics.display import TerminalPrinter, footer, in_kernel, show, show_stream
from tests.conformance.server import ConformanceServer
from tests.conformance.streams import expected


class Screen:
    """sys.stdout stand-in that remembers when each piece was written."""

    def __init__(self) -> None:
        self.writes: list[tuple[float, str]] = []

    def write(self, text: str) -> int:
        if text:
            self.writes.append((time.perf_counter(), text))
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False

    @property
    def text(self) -> str:
        return "".join(t for _, t in self.writes)


@pytest.fixture
def screen() -> Screen:
    """Installed in the test itself: pytest re-installs its own capture between fixture and test."""
    return Screen()


def client(url: str) -> nm.Client:
    return nm.Client("local", base_url=url, model="m", reasoning="off", max_retries=0)


def test_not_a_kernel_here() -> None:
    assert in_kernel() is False


def test_deltas_print_as_they_arrive(server: ConformanceServer, screen: Screen) -> None:
    # ~2 s: 400 characters of reasoning, then 4,000 of answer, at 2,000 characters a second
    with redirect_stdout(screen):
        r = show_stream(client(server.base_url("slow")).stream("hi"))
    text = screen.text
    assert text.startswith("Thinking…\n" + r.reasoning)
    assert r.content in text and text.rstrip("\n").endswith(footer(r))
    answer_writes = [t for t, piece in screen.writes if piece in r.content]
    assert len(answer_writes) > 50
    assert answer_writes[-1] - answer_writes[0] > 1.0  # spread over the stream, not printed at the end


def test_reasoning_is_dimmed_on_a_colour_terminal() -> None:
    out = io.StringIO()
    printer = TerminalPrinter(out, color=True)
    r = Response(provider="nvidia", model="m")
    for event in (ReasoningDelta("hmm"), TextDelta("Answer."), ToolCallDelta(0, "c", "lookup", "{}")):
        r.apply(event)
        printer.feed(event)
    r.finish()
    printer.close(r)
    text = out.getvalue()
    assert text.startswith("\x1b[2mThinking…\nhmm\x1b[0m\n\nAnswer.")
    assert "lookup" in text and text.endswith(f"\x1b[2m{footer(r)}\x1b[0m\n")


def test_interrupt_prints_stopped_and_keeps_the_partial_answer(
    server: ConformanceServer, screen: Screen
) -> None:
    stream = client(server.base_url("long", chars=100_000, chunk=24, rate=20_000.0)).stream("hi")
    fired: list[float] = []

    def interrupt() -> None:
        time.sleep(0.4)  # (not polling the response: it is not thread-safe)
        fired.append(time.perf_counter())
        signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)

    threading.Thread(target=interrupt, daemon=True).start()
    with redirect_stdout(screen), pytest.raises(StreamCancelled) as caught:
        show_stream(stream)
    assert time.perf_counter() - fired[0] < 0.5
    r = caught.value.response
    assert r is stream.response and r.finish_reason == "cancelled"
    assert r.content in screen.text
    # The raised StreamCancelled says "stopped" in its own line: the printout does not repeat it.
    assert "[stopped by the user" not in screen.text
    assert screen.text.rstrip("\n").endswith("stopped")


def test_broken_stream_prints_what_arrived_and_the_error(server: ConformanceServer, screen: Screen) -> None:
    with redirect_stdout(screen), pytest.raises(StreamError) as caught:
        show_stream(client(server.base_url("long", chars=20_000, hangup=100)).stream("hi"))
    r = caught.value.response
    assert r is not None and r.content and r.content in screen.text
    assert str(caught.value) not in screen.text  # the raised error says it, once
    assert screen.text.rstrip("\n").endswith("error")


def test_show_prints_a_finished_response(server: ConformanceServer, screen: Screen) -> None:
    r = client(server.base_url("openrouter")).chat("hi")
    with redirect_stdout(screen):
        show(r)
    assert r.content in screen.text and screen.text.rstrip("\n").endswith(footer(r))


def test_printing_needs_neither_ipython_nor_the_html_stack(server: ConformanceServer) -> None:
    code = (
        "import sys, nemotron_magics as nm\n"
        "from nemotron_magics.display import show_stream\n"
        f"client = nm.Client('local', base_url={server.base_url('nvidia')!r}, model='m')\n"
        "r = show_stream(client.stream('hi'))\n"
        "print(); print(__import__('json').dumps([m for m in ('IPython', 'markdown_it', 'nh3', 'ipywidgets', "
        "'pandas', 'pydantic') if m in sys.modules]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    *printed, modules = done.stdout.rstrip("\n").split("\n")
    assert json.loads(modules) == []
    assert "The sky looks blue" in "\n".join(printed)


# -- untrusted text never drives the terminal ---------------------------------------------------

#: Every escape sequence the printer itself writes (its styling); anything else is the model's.
_OUR_STYLING = ("\x1b[2m", "\x1b[0m", "\x1b[36m", "\x1b[33m")
_HOSTILE_TERMINAL = (
    "clip \x1b]52;c;cm0gLXJmIH4=\x07 clear \x1b[2J\x1b[H up \x1b[1A c1 \x9b31m \x85 \x90q\x9c "
    "safe\rrm -rf ~ bs\x08\x08 bell \x07 nul \x00 del \x7f bidi \u202eevil\u202c \u2066iso\u2069 "
    "lrm-stays \u200f osc8 \x1b]8;;https://evil.example\x07link\x1b]8;;\x07 tab\tnewline\nend"
)


def _commands(text: str) -> str:
    """What a terminal would act on in ``text``: every control character outside our own styling."""
    for ours in _OUR_STYLING:
        text = text.replace(ours, "")
    return "".join(
        ch
        for ch in text
        if (ord(ch) < 0x20 and ch not in "\t\n") or 0x7F <= ord(ch) < 0xA0 or ch in BIDI_CONTROLS
    )


BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def test_terminal_safe_shows_controls_and_keeps_text() -> None:
    shown = terminal_safe(_HOSTILE_TERMINAL)
    assert _commands(shown) == ""
    assert "\\x1b]52;c;cm0gLXJmIH4=\\x07" in shown and "\\x1b[2J" in shown and "\\x9b31m" in shown
    assert "\\u202eevil\\u202c" in shown and "\\x08\\x08" in shown and "\\x00" in shown
    assert "saferm -rf ~" in shown  # a carriage return cannot hide the start of the line
    assert "tab\tnewline\nend" in shown and "\u200f" in shown  # layout and ordinary text stay
    assert terminal_safe("a\r\nb") == "a\nb"
    assert terminal_safe("lone \ud83d surrogate") == "lone \\ud83d surrogate"


@pytest.mark.parametrize("cut", range(len(_HOSTILE_TERMINAL) + 1))
def test_terminal_safe_is_the_same_however_the_text_is_cut(cut: int) -> None:
    text = _HOSTILE_TERMINAL
    assert terminal_safe(text[:cut]) + terminal_safe(text[cut:]) == terminal_safe(text)


def _print(events: list[Any], response: Response, *, color: bool, note: str | None = None) -> str:
    out = io.StringIO()
    printer = TerminalPrinter(out, color=color)
    for event in events:
        response.apply(event)
        printer.feed(event)
    response.finish()
    printer.close(response, note=note)
    return out.getvalue()


@pytest.mark.parametrize("color", [True, False])
@pytest.mark.parametrize("step", [1, 2, 3, 5, 11])
def test_printer_obeys_nothing_from_hostile_events(color: bool, step: int) -> None:
    """Reasoning, answer, tool name and arguments, the model in the footer and a provider's error
    in the note all carry escapes, the text cut into pieces of ``step`` characters."""
    text = _HOSTILE_TERMINAL
    pieces = [text[i : i + step] for i in range(0, len(text), step)]
    events: list[Any] = [ReasoningDelta(p) for p in pieces] + [TextDelta(p) for p in pieces]
    events.append(ToolCallDelta(0, "c1", "look\x1b[2Jup", '{"q": "\x1b]52;c;eA==\x07"}'))
    response = Response(provider="local", model="m\x1b]0;pwned title\x07")
    shown = _print(events, response, color=color, note=f"error: upstream said {text}")
    assert _commands(shown) == ""
    assert shown.count(terminal_safe(text)) == 3  # reasoning, answer, note: every piece shown
    assert "look\\x1b[2Jup" in shown and "\\x1b]52;c;eA==\\x07" in shown
    assert "m\\x1b]0;pwned title\\x07" in shown  # the model's name in the footer
    if color:  # our own styling still reaches the terminal
        assert shown.startswith("\x1b[2mThinking…\n") and "\x1b[33m[error: upstream said" in shown


def test_printer_shows_an_answer_it_was_not_fed_safely() -> None:
    """``close`` prints the whole answer when none streamed as answer (it came as reasoning)."""
    response = Response(provider="local", model="m")
    response.apply(TextDelta("promoted \x1b[2J answer"))
    response.finish()
    out = io.StringIO()
    TerminalPrinter(out, color=False).close(response)
    assert "promoted \\x1b[2J answer" in out.getvalue() and "\x1b" not in out.getvalue()


def _cli(base_url: str, *args: str) -> subprocess.CompletedProcess[bytes]:
    """``python -m nemotron_magics`` as a user runs it; its output as bytes, as the terminal gets them."""
    command = [sys.executable, "-m", "nemotron_magics", "-p", "local", "--base-url", base_url, *args, "hi"]
    return subprocess.run(command, capture_output=True, timeout=60)


@pytest.mark.parametrize("split", [None, 1, 7])
def test_cli_prints_hostile_answers_inert(server: ConformanceServer, split: int | None) -> None:
    """The transcript cuts its escape sequences across chunks; split=1 cuts every byte apart."""
    opts = {"split": split} if split else {}
    done = _cli(server.base_url("terminal_escapes", **opts), "-m", "m")
    assert done.returncode == 0, done.stderr
    shown = done.stdout.decode("utf-8")
    want = expected("terminal_escapes")
    assert _commands(shown) == ""
    assert terminal_safe(want["reasoning"]) in shown and terminal_safe(want["content"]) in shown


def test_cli_prints_provider_errors_inert(server: ConformanceServer) -> None:
    """The 404 body quotes the model it was sent: a provider's error text is untrusted too."""
    done = _cli(server.base_url("model_not_found"), "-m", "m\x1b]52;c;cm0=\x07\x1b[2J")
    assert done.returncode == 1
    said = done.stderr.decode("utf-8")
    assert said.startswith("nemotron: ") and "m\\x1b]52;c;cm0=\\x07\\x1b[2J" in said
    assert _commands(said) == ""


def test_cli_prints_a_broken_stream_inert(server: ConformanceServer) -> None:
    done = _cli(server.base_url("terminal_escapes", error_event=4), "-m", "m")
    assert done.returncode == 1 and done.stderr.startswith(b"nemotron: ")
    assert b"Done." in done.stdout  # what arrived before the break stays
    assert _commands((done.stdout + done.stderr).decode("utf-8")) == ""
