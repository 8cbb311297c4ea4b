"""The magics in a real Jupyter kernel, as a notebook runs them.

nbclient executes notebooks built with nbformat (what ``jupyter execute`` and nbval do);
jupyter_client drives a kernel directly where a test must act mid-cell (the stop button) or
send what JupyterLab sends (``metadata.cellId``). The kernel inherits this process's
environment, so the loopback server's URLs reach notebook code through variables.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

from tests.conformance.server import ConformanceServer
from tests.conformance.streams import expected, long_markdown
from tests.kernels import ROOT, Kernel

pytestmark = pytest.mark.kernel

SECRET = "nvapi-" + "TESTSECRET-kernel-0123456789"  # split: no key-shaped literal in the repo


def _notebook(*sources: str, tags: dict[int, list[str]] | None = None) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in sources]
    for index, cell_tags in (tags or {}).items():
        nb.cells[index].metadata["tags"] = cell_tags
    return nb


def _execute(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    client = NotebookClient(
        nb, timeout=60, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}
    )
    client.execute()
    return nb


def _text(outputs: list[Any]) -> str:
    parts = []
    for out in outputs:
        if out.get("output_type") == "stream":
            parts.append(out["text"])
        for value in (out.get("data") or {}).values():
            parts.append(value if isinstance(value, str) else repr(value))
        if out.get("output_type") == "error":
            parts.extend(out.get("traceback") or [])
    return "\n".join(parts)


@pytest.fixture
def kernel_env(conformance: ConformanceServer, monkeypatch: pytest.MonkeyPatch) -> ConformanceServer:
    """Environment a launched kernel inherits: the default endpoint and per-test URLs."""
    conformance.reset()
    monkeypatch.setenv("NEMOTRON_PROVIDER", "local")
    monkeypatch.setenv("NEMOTRON_BASE_URL", conformance.base_url("nvidia"))
    monkeypatch.setenv("NM_UNAUTHORIZED_URL", conformance.base_url("unauthorized", style="openai"))
    monkeypatch.setenv("NM_JSON_URL", conformance.base_url("json_answer"))
    monkeypatch.setenv("NM_CODE_URL", conformance.base_url("long", chars=1200))
    monkeypatch.setenv("NVIDIA_API_KEY", SECRET)
    # A slow stream: a 20-character chunk every 50 ms for about a minute.
    monkeypatch.setenv(
        "NM_SLOW_URL", conformance.base_url("long", chars=60_000, rchars=200, chunk=20, rate=400)
    )
    return conformance


def test_a_notebook_streams_chats_reruns_and_fails_cleanly(kernel_env: ConformanceServer) -> None:
    nb = _notebook(
        "import os\n%load_ext nemotron_magics\n%config Nemotron.max_retries = 0",
        # 1: a streamed answer, kept in a variable, shown once
        "%%nemotron -o first\nWhy is the sky blue?",
        "assert first.content.startswith('The sky looks blue'), first\nprint(first.finish_reason)",
        # 3, 4: a named chat across two cells; 4 is then run again below (same text, no cell id)
        "%%nemotron --chat c -s 'Be brief.'\nFirst question",
        "%%nemotron --chat c\nSecond question",
        "%%nemotron --chat c\nSecond question",
        "from nemotron_magics.session import get_session\n"
        "print([t.user['content'] for t in get_session('c').turns])",
        # 7: a failing cell (401 from a gateway that echoes the key) fails, in one line, without the key
        "url = os.environ['NM_UNAUTHORIZED_URL']\n%nemotron config provider=nvidia",
        # The flag line is taken literally (no $name expansion): the URL is written into the cell.
        f"%%nemotron --base-url {os.environ['NM_UNAUTHORIZED_URL']}\nhello",
        # 9: --format json stores the parsed value
        "%nemotron config provider=local\njson_url = os.environ['NM_JSON_URL']",
        f"%%nemotron --base-url {os.environ['NM_JSON_URL']} --format json -o models\nList them",
        "print(type(models).__name__, models[0]['name'])",
        "%nemotron usage",
        tags={8: ["raises-exception"]},
    )
    _execute(nb)
    cells = nb.cells

    answer = expected("nvidia")["content"]
    assert answer in _text(cells[1].outputs)
    assert not any(o["output_type"] == "execute_result" for o in cells[1].outputs)  # shown once
    assert cells[2].outputs[0]["text"].strip() == "stop"

    assert _text(cells[6].outputs).strip() == "['First question', 'Second question']"
    messages = [r.body["messages"] for r in kernel_env.requests_for("nvidia") if r.body]
    assert [m["role"] for m in messages[-1]] == ["system", "user", "assistant", "user"]

    errors = [o for o in cells[8].outputs if o["output_type"] == "error"]
    assert len(errors) == 1 and errors[0]["ename"] == "AuthenticationError"
    assert len(errors[0]["traceback"]) == 1  # _render_traceback_: one line, not a stack
    assert "401" in errors[0]["traceback"][0] or "key" in errors[0]["traceback"][0].lower()
    assert kernel_env.requests_for("unauthorized")[-1].bearer == SECRET
    for cell in cells:
        assert "TESTSECRET" not in _text(cell.outputs)

    assert _text(cells[11].outputs).strip() == "list Nemotron 3 Nano"
    usage = _text(cells[12].outputs)
    assert "local" in usage and "nvidia" in usage


# --------------------------------------------------------------------------- driving a kernel directly


@pytest.fixture
def kernel(kernel_env: ConformanceServer) -> Iterator[Kernel]:
    k = Kernel()
    try:
        reply, outputs = k.run(
            "import os\n%load_ext nemotron_magics\n%config Nemotron.max_retries = 0\n"
            "slow = os.environ['NM_SLOW_URL']"
        )
        assert reply["content"]["status"] == "ok", outputs
        yield k
    finally:
        k.stop()


def test_stop_button_ends_the_stream_keeps_the_answer_and_the_kernel(
    kernel: Kernel, kernel_env: ConformanceServer
) -> None:
    slow = os.environ["NM_SLOW_URL"]
    msg_id = kernel.send(f"%%nemotron --chat story -o partial --base-url {slow}\nTell me a long story")
    time.sleep(1.5)  # streaming for about a second
    interrupted = time.monotonic()
    kernel.km.interrupt_kernel()
    outputs = kernel.outputs(msg_id, timeout=10)
    reply = kernel.reply(msg_id, timeout=10)
    stopped_after = time.monotonic() - interrupted

    assert reply["content"]["status"] == "error" and reply["content"]["ename"] == "StreamCancelled"
    # The bar is 0.5 s and it takes tens of milliseconds here; 2 s keeps a loaded CI box from flaking
    # while still failing if the stream ran on (it had about a minute left).
    assert stopped_after < 2.0, f"the cell ended {stopped_after:.2f}s after the interrupt"
    request = kernel_env.requests_for("long")[-1]
    assert request.wait(2) == "client_disconnected"  # the connection was closed, not left streaming

    shown = _text([o for o in outputs if o["output_type"] != "error"])
    assert long_markdown(60_000)[:30] in shown  # the partial answer stays on screen
    errors = [o for o in outputs if o["output_type"] == "error"]
    assert len(errors) == 1 and len(errors[0]["traceback"]) == 1  # one line
    assert "stopped" in errors[0]["traceback"][0]

    started = time.monotonic()
    reply, outputs = kernel.run(
        "from nemotron_magics.session import get_session\n"
        "t = get_session('story').turns\n"
        "print(len(t), t[0].response.finish_reason, t[0].response is partial, "
        "0 < len(partial.content) < 60000)",
        timeout=10,
    )
    assert time.monotonic() - started < 2.0  # the kernel answers promptly
    assert reply["content"]["status"] == "ok"
    assert _text(outputs).strip() == "1 cancelled True True"

    # The partial answer is part of the conversation: the next turn carries it.
    reply, _ = kernel.run(f"%%nemotron --chat story --base-url {os.environ['NEMOTRON_BASE_URL']}\nGo on")
    assert reply["content"]["status"] == "ok"
    sent = kernel_env.requests_for("nvidia")[-1].body["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "user"]
    assert sent[1]["content"].startswith("# A long answer")


def test_rerunning_a_cell_replaces_its_turn_by_cell_id(kernel: Kernel, kernel_env: ConformanceServer) -> None:
    """JupyterLab sends metadata.cellId: an edited and re-run cell still replaces its own turn."""
    code = "%%nemotron --chat ids\n{}"
    for cell_id, text in (("cell-A", "first draft"), ("cell-B", "follow-up"), ("cell-A", "second draft")):
        reply, outputs = kernel.run(code.format(text), cell_id=cell_id)
        assert reply["content"]["status"] == "ok", _text(outputs)
    reply, outputs = kernel.run(
        "from nemotron_magics.session import get_session\n"
        "print([t.user['content'] for t in get_session('ids').turns])"
    )
    assert _text(outputs).strip() == "['second draft', 'follow-up']"
    # The re-run of cell A was sent without the turn that came after it.
    sent = kernel_env.requests_for("nvidia")[-1].body["messages"]
    assert sent == [{"role": "user", "content": "second draft"}]


def test_format_code_asks_the_frontend_for_a_new_cell(kernel: Kernel, kernel_env: ConformanceServer) -> None:
    """The code arrives as the execute_reply's set_next_input payload (replace=False: a new cell below)."""
    reply, outputs = kernel.run(
        f"%%nemotron --base-url {os.environ['NM_CODE_URL']} --reasoning off --format code\nWrite code"
    )
    assert reply["content"]["status"] == "ok", _text(outputs)
    payloads = [p for p in reply["content"]["payload"] if p["source"] == "set_next_input"]
    assert len(payloads) == 1 and payloads[0]["replace"] is False
    assert payloads[0]["text"].startswith("def step_1(x: int) -> int:")
    assert "def step_1" in _text(outputs)  # and it is shown
