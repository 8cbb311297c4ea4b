"""The live display, in a real IPython shell, fed by real HTTP streams from the loopback server.

Display messages are recorded by IPython's own capturing publisher (the one behind
``%%capture``): every ``display``/``update_display`` the live display sends, with its display
id, in order. :func:`frontend` replays them the way a notebook applies them, so a test can
read what the saved notebook would hold.
"""

from __future__ import annotations

import signal
import threading
import time
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.testing import globalipapp
from IPython.utils.capture import capture_output

import nemotron_magics as nm
from nemotron_magics import StreamCancelled, StreamError
from nemotron_magics.display import MIME, mimebundle, show, show_stream
from tests.conformance.server import ConformanceServer
from tests.test_display_sanitise import assert_inert


@pytest.fixture(scope="module", autouse=True)
def shell() -> InteractiveShell:
    """IPython's test shell, shared with the other tests (a process has one shell)."""
    globalipapp.start_ipython()
    return globalipapp.get_ipython()


def client(url: str) -> nm.Client:
    return nm.Client("local", base_url=url, model="m", reasoning="off", max_retries=0)


def frontend(outputs: list[Any]) -> list[dict[str, Any]]:
    """Apply display messages as a notebook does: new outputs append, updates replace by id."""
    cells: list[dict[str, Any]] = []
    for out in outputs:
        display_id = (out.transient or {}).get("display_id")
        if out.update:
            for cell in cells:
                if cell["id"] == display_id:
                    cell["data"] = out.data
        else:
            cells.append({"id": display_id, "data": out.data})
    return cells


def saved(outputs: list[Any]) -> list[dict[str, Any]]:
    """The outputs a saved notebook shows (empty ones render as nothing)."""
    return [cell["data"] for cell in frontend(outputs) if cell["data"]]


def busiest_second(times: list[float]) -> int:
    best = start = 0
    for end, t in enumerate(times):
        while t - times[start] > 1.0:
            start += 1
        best = max(best, end - start + 1)
    return best


class Recorder:
    """Runs show_stream under capture and timestamps each display message as it is sent."""

    def __init__(self) -> None:
        self.times: list[float] = []

    def run(self, url: str, **kw: Any) -> tuple[nm.Response, list[Any], float]:
        with capture_output() as cap:
            pub = InteractiveShell.instance().display_pub
            publish = pub.publish

            def timed(*args: Any, **kwargs: Any) -> None:  # the real publisher, plus a clock
                self.times.append(time.perf_counter())
                publish(*args, **kwargs)

            pub.publish = timed
            t0 = time.perf_counter()
            response = show_stream(client(url).stream("hi"), rich=True, **kw)
            seconds = time.perf_counter() - t0
        return response, cap.outputs, seconds


def _final_index(outputs: list[Any]) -> int:
    return next(i for i, out in enumerate(outputs) if MIME in out.data)


@pytest.mark.parametrize(("rate", "max_rate"), [(0.0, 20.0), (40_000.0, 10.0)], ids=["flat-out", "paced"])
def test_100kB_answer_rate_bound_and_one_complete_bundle(
    server: ConformanceServer, rate: float, max_rate: float
) -> None:
    rec = Recorder()
    r, outputs, seconds = rec.run(
        server.base_url("long", chars=100_000, chunk=24, rate=rate), max_rate=max_rate
    )
    assert len(r.content) == 100_000 and r.finish_reason == "stop"

    end = _final_index(outputs)
    streaming = outputs[:end]
    # However fast chunks come (~4,000 events here), messages stay within the rate (+ the first display
    # and one tick's worth of messages).
    assert len(streaming) <= max_rate * seconds + 4, (len(streaming), seconds)
    assert busiest_second(rec.times[:end]) <= max_rate + 3
    assert len(streaming) >= 2  # it did update while streaming

    # The end: the first output gets the complete bundle, every other output of ours is emptied.
    final = outputs[end]
    first_id = outputs[0].transient["display_id"]
    assert final.update and final.transient["display_id"] == first_id
    assert set(final.data) == {MIME, "text/html", "text/markdown", "text/plain"}
    assert all(out.update and out.data == {} for out in outputs[end + 1 :])
    ours = {out.transient["display_id"] for out in outputs if not out.update}
    assert {out.transient["display_id"] for out in outputs[end + 1 :]} == ours - {first_id}

    kept = saved(outputs)
    assert len(kept) == 1 and kept[0] is final.data
    assert kept[0][MIME]["content"] == r.content
    assert kept[0]["text/plain"].startswith(r.content.rstrip("\n"))
    assert kept[0]["text/plain"].endswith(" · ".join(kept[0][MIME]["footer"]))
    assert len(ours) <= 40  # JupyterLab shows at most 50 outputs per cell by default


def test_live_outputs_show_the_answer_while_it_streams(server: ConformanceServer) -> None:
    rec = Recorder()
    _, outputs, _ = rec.run(server.base_url("long", chars=30_000, chunk=24, rate=30_000.0))
    end = _final_index(outputs)
    # Mid-stream, the visible outputs (head, segments, tail) together hold the answer so far, in order.
    middle = frontend(outputs[: end // 2])
    html = "".join(cell["data"].get("text/html", "") for cell in middle)
    assert "<h1>A long answer about hybrid models</h1>" in html
    assert html.index("<h1>") < html.rindex("<h2>")
    # Live updates carry HTML only; the four MIME types come once, at the end.
    assert all(set(out.data) <= {"text/html"} for out in outputs[:end])


def test_thinking_panel_fills_then_collapses(server: ConformanceServer) -> None:
    rec = Recorder()
    r, outputs, _ = rec.run(server.base_url("long", chars=3000, rchars=3000, chunk=24, rate=20_000.0))
    head = outputs[0].transient["display_id"]
    heads = [out.data.get("text/html", "") for out in outputs if out.transient["display_id"] == head]
    live = [h for h in heads if '<details class="nm-thinking" open' in h]
    collapsed = [h for h in heads if '<details class="nm-thinking" style' in h]
    assert live and collapsed, "the panel must fill open, then collapse when the answer starts"
    assert "Thinking…" in live[0]
    final = outputs[_final_index(outputs)].data
    assert "Thought for" in final["text/html"] and "750 reasoning tokens" in final["text/html"]
    assert final[MIME]["reasoning"] == r.reasoning and len(r.reasoning) == 3000


def test_tool_call_cards_stream_their_arguments(server: ConformanceServer) -> None:
    rec = Recorder()
    r, outputs, _ = rec.run(server.base_url("tool_calls_parallel", delay=0.06))
    assert len(r.tool_calls) >= 2
    end = _final_index(outputs)
    live = "".join(out.data.get("text/html", "") for out in outputs[:end])
    assert "nm-tool" in live and "receiving arguments" in live
    final = outputs[end].data
    for call, doc in zip(r.tool_calls, final[MIME]["tool_calls"], strict=True):
        assert doc["name"] == call.name and doc["arguments"] == call.arguments
        assert call.name in final["text/html"] and call.name in final["text/plain"]


def test_interrupt_keeps_the_partial_answer_and_closes_the_connection(server: ConformanceServer) -> None:
    url = server.base_url("long", chars=100_000, chunk=24, rate=20_000.0)
    stream = client(url).stream("hi")
    fired: list[float] = []

    def interrupt() -> None:  # the notebook's stop button is a SIGINT to the kernel's main thread
        time.sleep(0.4)  # (not polling the response: it is not thread-safe)
        fired.append(time.perf_counter())
        signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)

    threading.Thread(target=interrupt, daemon=True).start()
    with capture_output() as cap, pytest.raises(StreamCancelled) as caught:
        show_stream(stream, rich=True)
    took = time.perf_counter() - fired[0]

    r = caught.value.response
    assert r is stream.response and r.finish_reason == "cancelled"
    assert took < 0.5, f"the stream took {took:.2f}s to end after the interrupt"
    assert 1_000 <= len(r.content) < 100_000
    assert server.last_request().wait(timeout=2.0) == "client_disconnected"
    kept = saved(cap.outputs)
    assert len(kept) == 1
    assert kept[0][MIME]["content"] == r.content and kept[0][MIME]["finish_reason"] == "cancelled"
    # Said once: the raised StreamCancelled's line says it, so the display carries no banner too;
    # the footer still marks the answer as stopped.
    assert "Stopped by the user" not in kept[0]["text/html"] and "stopped" in kept[0]["text/plain"]


def test_broken_stream_shows_partial_answer_and_one_line_error(server: ConformanceServer) -> None:
    with capture_output() as cap, pytest.raises(StreamError) as caught:
        show_stream(client(server.base_url("long", chars=20_000, hangup=200)).stream("hi"), rich=True)
    r = caught.value.response
    assert r is not None and r.content and r.finish_reason == "error"
    kept = saved(cap.outputs)
    assert len(kept) == 1
    assert kept[0][MIME]["content"] == r.content and kept[0][MIME]["error"]
    # Said once: the raised StreamError's red line says what broke; no banner repeats it.
    assert "nm-error" not in kept[0]["text/html"]
    assert str(caught.value) not in kept[0]["text/plain"]
    assert kept[0]["text/plain"].rstrip().endswith("error")


def test_failure_before_any_answer_leaves_no_output(server: ConformanceServer) -> None:
    with capture_output() as cap, pytest.raises(nm.NemotronError):
        show_stream(client(server.closed_port_url()).stream("hi"), rich=True)
    assert cap.outputs, "the waiting indicator was shown"
    assert saved(cap.outputs) == []  # the error's own one line is the whole story


def test_hostile_stream_every_live_message_is_inert(server: ConformanceServer) -> None:
    with capture_output() as cap:
        r = show_stream(
            client(server.base_url("hostile", split=5, delay=0.002)).stream("hi"), rich=True, max_rate=200.0
        )
    assert "<script>" in r.content  # the model did say it …
    assert len(cap.outputs) > 4
    for out in cap.outputs:  # … and no message, live or final, carries it as markup
        assert_inert(out.data.get("text/html", ""))


@pytest.mark.parametrize("fmt", ["json", "code", "text"])
def test_formats(server: ConformanceServer, fmt: str) -> None:
    scenario = {"json": "json_answer", "code": "nvidia", "text": "unicode"}[fmt]
    with capture_output() as cap:
        r = show_stream(client(server.base_url(scenario)).stream("hi"), format=fmt, rich=True)
    (final,) = saved(cap.outputs)
    assert final[MIME]["format"] == fmt
    if fmt == "json":
        assert final[MIME]["data"] == r.data
        assert '<pre class="nm-json"' in final["text/html"] and "```json" in final["text/markdown"]
    elif fmt == "text":
        assert '<pre class="nm-text"' in final["text/html"]
        assert final["text/plain"].startswith(r.content.rstrip("\n"))
    else:
        assert final[MIME]["answer"]["text"] in final["text/plain"]


def test_show_displays_one_complete_bundle(server: ConformanceServer) -> None:
    r = client(server.base_url("openrouter")).chat("hi")
    with capture_output() as cap:
        show(r, rich=True)
    assert len(cap.outputs) == 1 and not cap.outputs[0].update
    assert cap.outputs[0].data == mimebundle(r)


def test_arguments_are_checked(server: ConformanceServer) -> None:
    stream = client(server.base_url("nvidia")).stream("hi")
    with pytest.raises(ValueError, match="format must be one of"):
        show_stream(stream, format="html", rich=True)
    with pytest.raises(ValueError, match="max_rate"):
        show_stream(stream, max_rate=0, rich=True)
    stream.close()
