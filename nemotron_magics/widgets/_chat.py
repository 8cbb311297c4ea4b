"""The chat widget: a conversation rendered by the live display, a text box, Send and Stop.

Each answer is drawn by :class:`~nemotron_magics.display._live.LiveDisplay`, the magic's
own display (thinking panel, Markdown answer, tool cards, usage footer), through a sink
that renders into ``ipywidgets.HTML`` values instead of display messages: the same few,
small updates, so the traffic bar holds here too. The stream runs in a background thread,
so the kernel stays free to receive the Stop button's message; Stop is seen at the next
event (a paced stream sends one every few tens of milliseconds), the connection is closed
and the partial answer stays, marked as stopped.

The conversation is :func:`~nemotron_magics.session.get_session` ``(NAME)``, the one
``%%nemotron --chat NAME`` cells continue: turns asked here are in the next cell's history,
and turns asked in cells show up here when that cell finishes.
"""

from __future__ import annotations

import html
import threading
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from .._errors import NemotronError, StreamError
from .._response import Response
from ..display import _html
from ..display._bundle import mimebundle
from ..display._live import LiveDisplay
from ..session import Session, get_session
from ._hooks import after_each_cell
from ._input import make_input
from ._shown import ShownAsWidget

if TYPE_CHECKING:
    from .._cache import Replay
    from .._loop import ToolLoop
    from .._stream import Stream

_USER_STYLE = (
    "margin:.6em 0 .2em auto;max-width:80%;width:fit-content;padding:.35em .7em;border-radius:8px;"
    "background:var(--jp-layout-color2,#eef1f5);white-space:pre-wrap;word-break:break-word;line-height:1.4"
)
#: ipywidgets' HTML sets a one-control line height (28 px): prose in the conversation wants its own.
_CSS = (
    "<style>.nemotron-chat .nm-chat-conversation .widget-html-content{line-height:1.45}"
    ".nemotron-chat .nm-chat-conversation .widget-html{margin:0}</style>"
)


class WidgetSink:
    """A :class:`~nemotron_magics.display._live.Sink` whose outputs are ``HTML`` widgets in a box."""

    def __init__(self, box: w.Box) -> None:
        self.box = box
        self.sent = 0
        self._outputs: dict[str, w.HTML] = {}

    def new(self, data: dict[str, Any]) -> str:
        key = uuid.uuid4().hex[:16]
        out = self._outputs[key] = w.HTML(value=data.get("text/html", ""))
        self.box.children = (*self.box.children, out)
        self.sent += 1
        return key

    def update(self, display_id: str, data: dict[str, Any]) -> None:
        out = self._outputs[display_id]
        value = data.get("text/html", "")
        if value:
            out.value = value
        else:  # emptied at the end (the first output holds the whole answer): out of the tree
            self.box.children = tuple(c for c in self.box.children if c is not out)
            out.close()
            del self._outputs[display_id]
        self.sent += 1


def user_html(text: str) -> str:
    return f'<div class="nm-user" style="{_USER_STYLE}">{html.escape(text)}</div>'


def error_html(text: str) -> str:
    return _html.wrap(_html.note("error", text))


def one_line(exc: BaseException) -> str:
    if isinstance(exc, NemotronError):
        return exc.message
    first = (str(exc).splitlines() or [""])[0]
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def _prompt_text(turn_user: dict[str, Any]) -> str:
    content = turn_user.get("content")
    return content if isinstance(content, str) else str(content)


class ChatWidget(ShownAsWidget):
    """A chat box for one named conversation; ``widget`` is the whole box.

    ``send(text)`` asks (what Enter and the Send button do); ``stop()`` ends the answer that
    streams (the Stop button). ``input``, ``send_button``, ``stop_button`` and
    ``conversation`` are its ipywidgets.
    """

    def __init__(self, name: str = "default", *, max_rate: float = 20.0, format: str = "markdown") -> None:
        self.name = name
        self.session: Session = get_session(name)
        self.max_rate = max_rate
        self.format = format
        self.conversation = w.VBox(layout=w.Layout(flex="0 0 auto", overflow="visible"))
        self.conversation.add_class("nm-chat-conversation")
        # JupyterLab's styles for rendered Markdown (tables, code, headings), as a cell's output has them.
        self.conversation.add_class("jp-RenderedHTMLCommon")
        # Scrolled from the bottom: a column-reversed scroll box keeps the newest text in view as it
        # grows, with no script (ipywidgets has no scroll API), and lets the reader scroll back up.
        scroll = w.Box(
            [self.conversation],
            layout=w.Layout(max_height="32em", overflow="auto", flex_flow="column-reverse"),
        )
        scroll.add_class("nm-chat-scroll")
        self.input = make_input(self.send, "Ask Nemotron… (Enter sends, Shift+Enter: new line)")
        self.send_button = w.Button(description="Send", button_style="primary", icon="paper-plane")
        self.stop_button = w.Button(description="Stop", icon="stop", disabled=True)
        self.send_button.on_click(lambda _b: self.send(self.input.value))
        self.stop_button.on_click(lambda _b: self.stop())
        header = w.HTML(f"{_CSS}<b>Nemotron chat</b> <code>{html.escape(name)}</code>")
        buttons = w.VBox([self.send_button, self.stop_button], layout=w.Layout(width="auto"))
        row = w.HBox([self.input, buttons], layout=w.Layout(align_items="flex-start", margin=".5em 0 0 0"))
        self.widget = w.VBox([header, scroll, row], layout=w.Layout(padding=".4em"))
        self.widget.add_class("nemotron-chat")
        self._shown: list[int] = []  # ids of the responses on screen, in the session's order
        self._busy = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._stream: Stream | ToolLoop | Replay | None = None
        self.refresh()
        after_each_cell(self)

    # -- the conversation ------------------------------------------------------------------------
    def refresh(self) -> None:
        """Show the turns the session has and the screen does not (asked in cells, say)."""
        if self._busy:
            return  # the answer streaming here ends with a refresh of its own
        turns = self.session.turns
        ids = [id(t.response) for t in turns]
        if ids[: len(self._shown)] != self._shown:  # a cell replaced or reset turns: draw anew
            self.conversation.children, self._shown = (), []
        for turn in turns[len(self._shown) :]:
            answer = w.HTML(value=self._finished_html(turn.response))
            self._add_turn(_prompt_text(turn.user), [answer])
            self._shown.append(id(turn.response))

    def _finished_html(self, response: Response) -> str:
        return str(mimebundle(response, format=self.format).get("text/html", ""))

    def _add_turn(self, prompt: str, answer: list[w.Widget]) -> w.VBox:
        box = w.VBox(answer)
        self.conversation.children = (*self.conversation.children, w.HTML(user_html(prompt)), box)
        return box

    # -- asking ------------------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        """Whether an answer is streaming now."""
        return self._busy

    def send(self, text: str) -> bool:
        """Ask ``text`` in this conversation; False when it was empty or an answer still streams."""
        text = (text or "").strip()
        if not text or self._busy:
            return False
        self.refresh()
        self._busy = True
        self._stop.clear()
        self.input.value = ""
        self._set_streaming(True)
        answer = self._add_turn(text, [])
        self._thread = threading.Thread(
            target=self._answer, args=(text, answer), name=f"nemotron-chat-{self.name}", daemon=True
        )
        self._thread.start()
        return True

    def stop(self) -> None:
        """End the answer that streams; what arrived stays, marked as stopped."""
        if self._busy:
            self._stop.set()
            self.stop_button.disabled = True
            stream = self._stream
            if stream is not None:
                stream.cancel()  # wakes a read the server keeps waiting

    def wait(self, timeout: float | None = None) -> bool:
        """Until the answer streaming now is done (for scripts and tests); False on timeout."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
            return not thread.is_alive()
        return True

    def _set_streaming(self, streaming: bool) -> None:
        self.input.disabled = streaming
        self.send_button.disabled = streaming
        self.stop_button.disabled = not streaming

    def _events(self, stream: Any) -> Iterator[Any]:
        for event in stream:
            yield event
            if self._stop.is_set():
                return

    def _answer(self, text: str, box: w.VBox) -> None:
        live: LiveDisplay | None = None
        try:
            stream = self._stream = self.session.stream(text)  # resolved here: a missing key fails here
            self._shown.append(id(stream.response))
            if self._stop.is_set():  # Stop came while the request was being prepared
                stream.cancel()
            live = LiveDisplay(
                stream.response, format=self.format, max_rate=self.max_rate, channel=WidgetSink(box)
            )
            live.start()
            live.consume(self._events(stream))
            if self._stop.is_set():
                stream.close()  # the connection ends; the response is marked cancelled
            live.close()
        except StreamError as exc:  # broke mid-answer: what arrived stays, and the one line says why
            if live is not None:
                live.close(banners=False)
            box.children = (*box.children, w.HTML(error_html(one_line(exc))))
        except Exception as exc:  # refused before any answer (no key, no server …): one line
            if live is not None:
                r = live.response
                live.close(blank=not (r.content or r.reasoning or r.tool_calls), banners=False)
            box.children = (*box.children, w.HTML(error_html(one_line(exc))))
        finally:
            self._stream = None
            self._busy = False
            self._set_streaming(False)

    def catch_up(self) -> None:
        """After a cell: its ``--chat NAME`` turn shows here."""
        self.refresh()

    # -- being shown -------------------------------------------------------------------------------
    def __repr__(self) -> str:
        state = "streaming" if self._busy else "idle"
        return f"<nemotron chat {self.name!r}: {len(self.session)} turns, {state}>"


__all__ = ["ChatWidget", "WidgetSink"]
