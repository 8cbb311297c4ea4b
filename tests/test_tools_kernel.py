"""Approval in a real kernel, answered the way a frontend answers, while the cell runs.

ipykernel 7 reads the shell channel in a thread of its own and has no ``do_one_iteration``, so
widget clicks cannot reach a running cell there; the question goes through the frontend's input
box (the stdin channel: JupyterLab and Notebook 7 show it under the cell). The saved notebook
keeps the cards and a line saying what was decided.
"""

from __future__ import annotations

import json
import queue
import time
from collections.abc import Iterator

import pytest

from tests.conformance.server import ConformanceServer
from tests.kernels import Kernel, fold_outputs

pytestmark = pytest.mark.kernel
MIME = "application/vnd.nemotron.response+json"


@pytest.fixture(scope="module")
def kernel() -> Iterator[Kernel]:
    k = Kernel()
    code = (
        "%load_ext nemotron_magics\n"
        "def get_weather(city: str) -> str:\n"
        "    return {'Paris': '18°C, sunny', 'Oslo': '4°C, rain'}[city]\n"
    )
    assert k.reply(k.send(code), timeout=60)["content"]["status"] == "ok"
    try:
        yield k
    finally:
        k.stop()


def _answer_prompts(kernel: Kernel, answers: list[str], timeout: float = 30) -> list[str]:
    """Reply to the kernel's input requests in order, as the frontend's input box would."""
    prompts = []
    deadline = time.monotonic() + timeout
    for answer in answers:
        while True:
            try:
                msg = kernel.kc.get_stdin_msg(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no input request after {prompts}") from None
            if msg["msg_type"] == "input_request":
                break
        prompts.append(msg["content"]["prompt"])
        kernel.kc.input(answer)
    return prompts


def test_approval_is_asked_mid_cell_and_a_denial_reaches_the_model(
    kernel: Kernel, server: ConformanceServer
) -> None:
    url = server.base_url("tool_rounds")
    code = f"%%nemotron -p local --base-url {url} -m m --tools get_weather --confirm -o r\nWeather?"
    msg_id = kernel.send(code, allow_stdin=True)
    prompts = _answer_prompts(kernel, ["y", "n"])  # Paris, then Oslo: one at a time, in call order
    assert prompts[0].startswith('Run tool get_weather({"city": "Paris"})?')
    assert prompts[1].startswith('Run tool get_weather({"city": "Oslo"})?')
    messages = kernel.messages(msg_id, timeout=30)
    assert kernel.reply(msg_id)["content"]["status"] == "ok"

    check = kernel.send(
        "import json; print(json.dumps([c.status for c in r.rounds[0].tool_calls])); print(r.content)"
    )
    out = "".join(o.get("text", "") for o in kernel.outputs(check)).splitlines()
    assert json.loads(out[0]) == ["done", "denied"]
    assert out[1].startswith("Paris: 18°C, sunny; Oslo: The user declined")

    saved = [o for o in fold_outputs(messages) if o.output_type == "display_data" and o.data]
    texts = [o.data.get("text/html", "") for o in saved]
    assert any("Approved: <code>get_weather</code>" in t for t in texts)
    assert any("Denied: <code>get_weather</code>" in t for t in texts)
    (bundle,) = [o.data for o in saved if MIME in o.data]
    cards = bundle[MIME]["rounds"][0]["tool_calls"]
    assert [c["status"] for c in cards] == ["done", "denied"]
    assert "nm-tool-denied" in bundle["text/html"] and "4°C" not in bundle["text/html"]


def test_without_a_way_to_ask_the_call_is_refused_clearly(kernel: Kernel, server: ConformanceServer) -> None:
    url = server.base_url("tool_rounds")
    code = f"%%nemotron -p local --base-url {url} -m m --tools get_weather --confirm -o r2\nWeather?"
    msg_id = kernel.send(code)  # allow_stdin False: nbclient, a headless run
    kernel.messages(msg_id, timeout=30)
    assert kernel.reply(msg_id)["content"]["status"] == "ok"
    check = kernel.send("print(r2.rounds[0].tool_calls[0].status, '|', r2.rounds[0].tool_calls[0].error)")
    out = "".join(o.get("text", "") for o in kernel.outputs(check))
    assert out.startswith(
        "denied | The call was not run: approval was needed and this frontend takes no input"
    )


def test_this_kernel_cannot_hear_widget_clicks_mid_cell(kernel: Kernel) -> None:
    """Why the input box: on this ipykernel a running cell never sees a click (see the docstring)."""
    out = kernel.outputs(
        kernel.send(
            "import ipykernel\nfrom nemotron_magics.display._approve import _can_poll_widgets\n"
            "print(ipykernel.__version__.split('.')[0], _can_poll_widgets())"
        )
    )
    major, can = "".join(o.get("text", "") for o in out).split()
    assert can == ("True" if int(major) < 7 else "False")
