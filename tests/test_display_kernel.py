"""The live display in a real ipykernel: the messages a notebook receives, and what it saves.

jupyter_client drives the kernel directly, so the test sees every iopub message with the
kernel's own timestamps, can press the stop button mid-stream, and can build the notebook a
frontend would save from those messages (validated by nbformat).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import nbformat
import pytest

from tests.conformance.server import ConformanceServer
from tests.conformance.streams import long_markdown
from tests.kernels import Kernel, fold_outputs
from tests.test_display_sanitise import assert_inert

pytestmark = pytest.mark.kernel

MIME = "application/vnd.nemotron.response+json"
DISPLAY = ("display_data", "update_display_data", "clear_output")


def saved_notebook(code: str, messages: list[dict[str, Any]]) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell(code)
    cell.outputs = fold_outputs(messages)
    nb.cells = [cell]
    nbformat.validate(nb)
    return nbformat.reads(nbformat.writes(nb), as_version=4)  # what a save and a reopen give


@pytest.fixture(scope="module")
def kernel() -> Iterator[Kernel]:
    k = Kernel()
    msg_id = k.kc.execute("import nemotron_magics as nm\nfrom nemotron_magics.display import show_stream")
    assert k.reply(msg_id, timeout=60)["content"]["status"] == "ok"
    try:
        yield k
    finally:
        k.stop()


def stream_code(url: str) -> str:
    return (
        f"r = show_stream(nm.Client('local', base_url={url!r}, model='m', reasoning='off', max_retries=0)"
        ".stream('hi'))\nlen(r.content)"
    )


def test_100kB_answer_in_a_kernel(kernel: Kernel, server: ConformanceServer) -> None:
    code = stream_code(server.base_url("long", chars=100_000, chunk=24))
    msg_id = kernel.kc.execute(code)
    messages = kernel.messages(msg_id)
    assert kernel.reply(msg_id)["content"]["status"] == "ok"

    shown = [m for m in messages if m["msg_type"] in DISPLAY]
    end = next(i for i, m in enumerate(shown) if MIME in m["content"].get("data", {}))
    # ~4,000 stream events; display messages bounded by 20/s on the kernel's own clock.
    span = (shown[end]["header"]["date"] - shown[0]["header"]["date"]).total_seconds()
    assert 2 <= end <= 20 * span + 4, (end, span)
    assert not any(m["msg_type"] == "clear_output" for m in shown)  # nothing else in the cell is wiped

    nb = saved_notebook(code, messages)
    visible = [o for o in nb.cells[0].outputs if o.output_type == "display_data" and o.data]
    assert len(visible) == 1
    bundle = visible[0].data
    answer = long_markdown(100_000)
    assert bundle[MIME]["content"] == answer and bundle[MIME]["done"] is True
    assert bundle["text/plain"].startswith(answer.rstrip("\n"))
    assert "<h1>A long answer about hybrid models</h1>" in bundle["text/html"]
    assert bundle["text/markdown"].count("```python") == answer.count("```python")
    assert_inert(bundle["text/html"])
    results = [o for o in nb.cells[0].outputs if o.output_type == "execute_result"]
    assert results[0].data["text/plain"] == "100000"


def test_stop_button_mid_stream(kernel: Kernel, server: ConformanceServer) -> None:
    code = stream_code(server.base_url("long", chars=100_000, chunk=24, rate=20_000.0))
    msg_id = kernel.kc.execute(code)
    first = kernel.messages(
        msg_id, until=lambda got: sum(m["msg_type"] == "update_display_data" for m in got) >= 8
    )
    pressed = time.perf_counter()
    kernel.km.interrupt_kernel()
    rest = kernel.messages(msg_id)
    idle = rest[-1]["received"]
    reply = kernel.reply(msg_id)["content"]

    # The bar is 0.5 s and it takes about 35 ms here; 2 s keeps a loaded CI box from flaking
    # while still failing if the stream ran on (it had seconds left).
    assert idle - pressed < 2.0, f"the kernel was busy {idle - pressed:.2f}s after the stop button"
    assert reply["status"] == "error" and reply["ename"] == "StreamCancelled"
    assert server.last_request().wait(timeout=2.0) == "client_disconnected"

    nb = saved_notebook(code, first + rest)
    outputs = nb.cells[0].outputs
    visible = [o for o in outputs if o.output_type == "display_data" and o.data]
    assert len(visible) == 1
    doc = visible[0].data[MIME]
    assert doc["finish_reason"] == "cancelled" and 0 < len(doc["content"]) < 100_000
    assert long_markdown(100_000).startswith(doc["content"])
    # Said once, by the error line; the display's footer marks the answer as stopped.
    assert "Stopped by the user" not in visible[0].data["text/html"]
    assert visible[0].data["text/plain"].rstrip().endswith("stopped")
    errors = [o for o in outputs if o.output_type == "error"]
    assert len(errors) == 1 and len(errors[0].traceback) == 1  # one line, not a stack
    assert "stopped by the user" in errors[0].traceback[0]

    # The kernel is responsive at once.
    again = kernel.kc.execute("1 + 1")
    assert kernel.reply(again, timeout=5)["content"]["status"] == "ok"
