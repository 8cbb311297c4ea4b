"""Entry points: show a stream while it arrives, or a finished response once.

In a Jupyter kernel (any ``ZMQInteractiveShell``: JupyterLab, Notebook, VS Code, Colab) the
display is rich and live; anywhere else (terminal IPython, plain Python) deltas are printed
as they arrive. Either way Ctrl-C (the notebook's stop button) closes the connection at once,
leaves the partial answer on screen marked as stopped, and raises
:class:`~nemotron_magics.StreamCancelled` carrying it; a broken stream shows what arrived and
the error, then raises.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from .._errors import StreamCancelled, StreamError
from .._events import ReasoningDelta, TextDelta, ToolProgress
from .._response import PENDING_STATUSES
from ._bundle import check_format
from ._terminal import TerminalPrinter

if TYPE_CHECKING:
    from .._cache import Replay
    from .._client import Stream
    from .._loop import ToolLoop
    from .._response import Response


def in_kernel() -> bool:
    """Whether we run inside a Jupyter kernel, where outputs are rich and can be updated."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return shell is not None and any(k.__name__ == "ZMQInteractiveShell" for k in type(shell).__mro__)


def _cancelled(exc: KeyboardInterrupt, response: Response) -> StreamCancelled:
    if isinstance(exc, StreamCancelled) and exc.response is response:
        return exc
    return StreamCancelled(response)


def show_stream(
    stream: Stream | ToolLoop | Replay,
    *,
    format: str = "markdown",
    max_rate: float = 20.0,
    rich: bool | None = None,
) -> Response:
    """Consume ``stream`` (or a tool loop, round after round) while rendering it; return the answer.

    ``max_rate`` bounds display messages per second however fast chunks arrive. ``rich``
    forces the kernel display (True) or terminal printing (False); by default the running
    shell decides.
    """
    check_format(format)
    if not max_rate > 0:
        raise ValueError(f"max_rate must be a positive number of updates per second, not {max_rate!r}")
    if rich is None:
        rich = in_kernel()
    if not rich:
        return _print_stream(stream)

    from .._frontend import frontends
    from ._live import LiveDisplay

    if frontends.attached():  # the page renders our MIME type itself: send it appends
        from ._lab_live import LabLiveDisplay

        live: LiveDisplay = LabLiveDisplay(stream.response, format=format, max_rate=max_rate)
    else:
        live = LiveDisplay(stream.response, format=format, max_rate=max_rate)
    try:
        live.start()
        live.consume(stream)
    except KeyboardInterrupt as exc:
        stream.close()  # first: the connection ends now, whatever rendering costs after
        live.close(banners=False)  # the raised StreamCancelled's line says it, once
        raise _cancelled(exc, stream.response) from None
    except StreamError:
        live.close(banners=False)
        raise
    except BaseException:
        stream.close()
        # Nothing arrived (refused, unauthorised …): the error's one line says it all.
        r = stream.response
        live.close(blank=not (r.content or r.reasoning or r.tool_calls or r.rounds))
        raise
    live.close()
    return stream.response  # a tool loop's answer is its last round


def _quiet_notes(response: Response) -> str | None:
    """The notes a raised error does not already say (the stop and the error it says itself)."""
    from ._bundle import notes

    return "; ".join(text for _, text in notes(response, banners=False)) or None


def _print_stream(stream: Stream | ToolLoop | Replay) -> Response:
    printer = TerminalPrinter()
    try:
        for event in stream:
            if type(event) is ToolProgress and event.status not in PENDING_STATUSES:
                printer.tool_result(stream.response.tool_calls[event.index])
            else:
                printer.feed(event)
    except KeyboardInterrupt as exc:
        stream.close()
        printer.close(stream.response, note=_quiet_notes(stream.response))
        raise _cancelled(exc, stream.response) from None
    except StreamError:
        printer.close(stream.response, note=_quiet_notes(stream.response))
        raise
    except BaseException:
        stream.close()
        if stream.response.content or stream.response.reasoning:
            printer.out.write("\n")
        raise
    response = stream.response  # a tool loop's answer is its last round
    printer.close(response, note=_quiet_notes(response))
    return response


def show(
    response: Response, *, format: str = "markdown", rich: bool | None = None, banners: bool = True
) -> None:
    """Display a finished response once (``--no-stream``, or a response kept from earlier).

    ``banners=False`` when the caller raises the stop or the error next (it is said once).
    """
    from ._bundle import mimebundle, notes

    check_format(format)
    if rich is None:
        rich = in_kernel()
    if rich:
        from IPython.display import display

        display(mimebundle(response, format=format, banners=banners), raw=True)
        return
    printer = TerminalPrinter()
    if response.reasoning:
        printer.feed(ReasoningDelta(response.reasoning))
    if response.content:
        printer.feed(TextDelta(response.content))
    note = "; ".join(text for _, text in notes(response, banners=banners)) or None
    printer.close(response, note=note)


__all__ = ["in_kernel", "show", "show_stream"]
