"""The live display for a page with our JupyterLab extension: one output, appends on a comm.

A real ipykernel runs ``%%nemotron`` cells; this test plays the page's side of the
``nemotron.live`` comm with the exact messages the extension sends (``labextension/src/index.ts``):
it answers the comm ``%load_ext`` opens, or opens its own as a reloaded page does. It then
rebuilds the answer from the appends alone, as the renderer does, and checks it against the
final bundle. A page that never answers (VS Code, Colab, the extension disabled) keeps the HTML.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conformance.server import ConformanceServer
from tests.kernels import Kernel, Message

pytestmark = pytest.mark.kernel

MIME = "application/vnd.nemotron.response+json"
TARGET = "nemotron.live"
HELLO = {"renderer": 1}  # what the extension answers (labextension/src/index.ts)
DISPLAY = ("display_data", "update_display_data")


class Page:
    """The extension's side of the comm, on a real kernel."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel

    def load(self, *, answer: bool = True) -> None:
        """``%load_ext``; the extension answers the comm the kernel opens to it."""
        msg_id = self.kernel.send("%load_ext nemotron_magics")
        opened = [
            m
            for m in self.kernel.messages(msg_id)
            if m["msg_type"] == "comm_open" and m["content"]["target_name"] == TARGET
        ]
        assert self.kernel.reply(msg_id)["content"]["status"] == "ok"
        assert len(opened) == 1, "loading the extension opens one comm to the page"
        if answer:
            self._send("comm_msg", {"comm_id": opened[0]["content"]["comm_id"], "data": HELLO})

    def reload(self) -> None:
        """A page loaded after ``%load_ext`` opens its own comm."""
        self._send("comm_open", {"comm_id": uuid.uuid4().hex, "target_name": TARGET, "data": HELLO})

    def _send(self, kind: str, content: dict[str, Any]) -> None:
        self.kernel.kc.shell_channel.send(self.kernel.kc.session.msg(kind, content))

    def run(self, code: str, timeout: float = 60) -> list[Message]:
        msg_id = self.kernel.send(code)
        messages = self.kernel.messages(msg_id, timeout)
        reply = self.kernel.reply(msg_id)
        assert reply["content"]["status"] == "ok", reply["content"]
        return messages


@pytest.fixture
def kernel() -> Iterator[Kernel]:
    k = Kernel()
    try:
        yield k
    finally:
        k.stop()


def appends(messages: list[Message]) -> list[dict[str, Any]]:
    return [m["content"]["data"] for m in messages if m["msg_type"] == "comm_msg"]


def displays(messages: list[Message]) -> list[Message]:
    return [m for m in messages if m["msg_type"] in DISPLAY]


def ask(url: str, flags: str = "--reasoning off", prompt: str = "Write.") -> str:
    # Reasoning off: a local server's answer without a reasoning field is otherwise taken for
    # thinking until it ends (Nemotron's template opens in thinking mode without a <think> tag).
    return f"%%nemotron -p local --base-url {url} -m m {flags}\n{prompt}"


def test_a_page_with_the_extension_gets_one_output_and_appends(
    kernel: Kernel, server: ConformanceServer
) -> None:
    page = Page(kernel)
    page.load()
    url = server.base_url("long", chars=20_000, rchars=2_000, chunk=4, rate=20_000)
    messages = page.run(ask(url, flags=""))
    shown = displays(messages)
    first, *updates = shown
    doc = first["content"]["data"][MIME]
    live = doc["live"]["id"]
    assert doc["done"] is False and "text/html" not in first["content"]["data"], "no HTML while streaming"
    head = first["content"]["transient"]["display_id"]
    assert [u["content"]["transient"]["display_id"] for u in updates] == [head], (
        "one output: the head, replaced once by the bundle"
    )
    final = updates[0]["content"]["data"]
    assert {MIME, "text/html", "text/markdown", "text/plain"} <= set(final)
    assert "live" not in final[MIME] and final[MIME]["done"] is True
    sent = appends(messages)
    assert sent and all(a["id"] == live for a in sent)
    # The renderer's view from the appends alone is the whole answer: nothing lost, nothing twice.
    assert "".join(a.get("content", "") for a in sent) == final[MIME]["content"]
    assert "".join(a.get("reasoning", "") for a in sent) == final[MIME]["reasoning"]
    assert len(final[MIME]["content"]) > 15_000
    # O(n): every answer byte travels about once (JSON escaping and ids aside).
    wire = sum(len(json.dumps(a)) for a in sent)
    assert wire < 2 * (len(final[MIME]["content"]) + len(final[MIME]["reasoning"])), wire
    statuses = [a["set"]["status"] for a in sent if "status" in a.get("set", {})]
    assert any("streaming" in s for s in statuses), statuses
    assert any("footer" in a.get("set", {}) for a in sent)


def test_a_page_without_the_extension_keeps_the_html_fallback(
    kernel: Kernel, server: ConformanceServer
) -> None:
    page = Page(kernel)
    page.load(answer=False)  # VS Code, Colab, a Lab with the extension disabled: nobody answers
    messages = page.run(ask(server.base_url("long", chars=8_000, chunk=4, rate=20_000)))
    assert appends(messages) == []
    html = [m for m in displays(messages) if "text/html" in m["content"]["data"]]
    assert len(html) > 3, "the HTML live display: head, segments, tail"
    # A page loaded later, with the extension, opens its own comm: the next cell streams to it.
    page.reload()
    messages = page.run(ask(server.base_url("long", chars=8_000, chunk=4, rate=20_000)))
    sent = appends(messages)
    final = displays(messages)[-1]["content"]["data"][MIME]
    assert "".join(a.get("content", "") for a in sent) == final["content"]


def test_schema_rows_arrive_as_rows(kernel: Kernel, server: ConformanceServer) -> None:
    page = Page(kernel)
    page.load()
    page.run("from tests.city_schema import City")
    messages = page.run(
        ask(
            server.base_url("table", rows=40, chunk=8, rate=20_000),
            "--reasoning off --schema 'list[City]' -o df",
        )
    )
    sent = appends(messages)
    rows = [row for a in sent if "rows" in a for row in a["rows"]["append"]]
    columns = {tuple(a["rows"]["columns"]) for a in sent if "rows" in a}
    assert len([a for a in sent if "rows" in a]) >= 2, "rows come in several appends while streaming"
    assert columns == {("city", "population", "area_km2", "capital", "continent")}
    final = displays(messages)[-1]["content"]["data"][MIME]
    table = final["structured"]["table"]
    assert len(rows) == table["total_rows"] == 40
    assert [r[0] for r in rows] == [r[0] for r in table["rows"]]
    assert not any("content" in a for a in sent), "a table streams as rows, not as JSON text"


def test_a_tool_loop_sends_each_finished_round(kernel: Kernel, server: ConformanceServer) -> None:
    page = Page(kernel)
    page.load()
    page.run(
        'def get_weather(city: str) -> str:\n    """Weather."""\n'
        '    return {"Paris": "18°C, sunny", "Oslo": "4°C, rain"}[city]'
    )
    url = server.base_url("tool_rounds")
    messages = page.run(ask(url, "--reasoning off --tools get_weather", "Weather?"))
    sent = appends(messages)
    rounds = [a["round"] for a in sent if "round" in a]
    assert len(rounds) == 1
    calls = rounds[0]["tool_calls"]
    assert [c["name"] for c in calls] == ["get_weather", "get_weather"]
    assert [c["result"] for c in calls] == ["18°C, sunny", "4°C, rain"]
    assert rounds[0]["thinking"]
    cards = [a["set"]["tool_calls"] for a in sent if "tool_calls" in a.get("set", {})]
    assert any(c and c[0]["status"] == "running" for c in cards) or any(
        c and c[0]["status"] == "done" for c in cards
    ), cards
    final = displays(messages)[-1]["content"]["data"][MIME]
    assert "Paris: 18°C, sunny; Oslo: 4°C, rain." in final["content"]
    assert len(final["rounds"]) == 1
    after = sent[next(i for i, a in enumerate(sent) if "round" in a) + 1 :]
    assert "".join(a.get("content", "") for a in after) == final["content"]
