"""The panel and the chat widget in a real kernel, driven through the comm messages a frontend sends.

A small frontend (``tests/widget_frontend.py``) keeps every widget's state from iopub and acts
as JupyterLab does: a new slider value is a comm ``update``, a click a ``custom`` message. The
requests the cells and the chat box make reach the loopback conformance server, whose record of
each request body says what was really sent.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from tests.conformance.server import ConformanceServer
from tests.conformance.streams import expected, long_markdown
from tests.kernels import ROOT, Kernel
from tests.widget_frontend import Frontend

pytestmark = pytest.mark.kernel

IDS = (
    "{name: getattr(p, name).model_id for name in ('provider', 'model', 'temperature', 'top_p', "
    "'max_tokens', 'reasoning', 'budget', 'seed', 'system', 'reset', 'message')}"
)


@pytest.fixture
def frontend(conformance: ConformanceServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Frontend]:
    conformance.reset()
    monkeypatch.setenv("NEMOTRON_PROVIDER", "local")
    monkeypatch.setenv("NEMOTRON_BASE_URL", conformance.base_url("nvidia"))
    kernel = Kernel()
    try:
        front = Frontend(kernel)
        path = front.ok(
            "import nemotron_magics as nm\n%load_ext nemotron_magics\n%config Nemotron.max_retries = 0\n"
            "print(nm.__file__)"
        )
        assert path.strip().startswith(str(ROOT)), path  # this checkout, not another install
        yield front
    finally:
        kernel.stop()


# --------------------------------------------------------------------------- the panel


def selected(state: dict[str, object]) -> object:
    """A selection widget's choice as its frontend shows it (ipywidgets syncs the index and labels)."""
    labels, index = state["_options_labels"], state["index"]
    assert isinstance(labels, list | tuple) and isinstance(index, int)
    return labels[index]


def test_panel_and_configuration_follow_each_other(
    frontend: Frontend, conformance: ConformanceServer
) -> None:
    f = frontend
    f.ok("p = nm.controls()\nq = nm.controls()\ndisplay(p.widget, q.widget)")
    p, q = f.value(IDS), f.value(IDS.replace("(p, name)", "(q, name)"))
    assert f.state(p["temperature"])["value"] == 1.0  # resting: unset, the provider decides
    assert f.value("nm.settings.params") == {}

    # configuration -> panel (both panels), from each of the three ways in
    f.ok("%config Nemotron.temperature = 0.3")
    f.ok("%nemotron config reasoning=low")
    f.ok("nm.configure(max_tokens=512, seed=7)")
    for ids in (p, q):
        f.until(lambda ids=ids: f.state(ids["temperature"])["value"] == 0.3, what="temperature shown")
        f.until(lambda ids=ids: selected(f.state(ids["reasoning"])) == "low", what="reasoning shown")
        f.until(lambda ids=ids: f.state(ids["max_tokens"])["value"] == "512", what="max_tokens shown")
        assert f.state(ids["seed"])["value"] == "7"

    # panel -> configuration: a person moves the slider and types a budget in panel p
    f.set(p["temperature"], value=0.7)
    f.set(p["budget"], value="256")
    f.until(lambda: f.state(q["temperature"])["value"] == 0.7, what="the other panel follows")
    f.until(lambda: f.state(q["budget"])["value"] == "256", what="the other panel follows")
    assert f.value("nm.settings.params") == {
        "temperature": 0.7,
        "reasoning": "low",
        "max_tokens": 512,
        "seed": 7,
        "reasoning_budget": 256,
    }
    assert f.value(
        "[c.temperature for c in get_ipython().configurables if type(c).__name__ == 'Nemotron']"
    ) == [0.7]

    # a refused value: the rule's words in the panel, the setting and the field unchanged
    f.set(p["max_tokens"], value="lots")
    f.until(lambda: "must be" in f.state(p["message"])["value"], what="the refusal shown")
    assert (
        "max_tokens must be a whole number of tokens from 1 to 1000000, got &#x27;lots&#x27;"
        in (f.state(p["message"])["value"])
    )
    f.until(lambda: f.state(p["max_tokens"])["value"] == "512", what="the field back to what holds")
    assert f.value("nm.settings.params['max_tokens']") == 512

    # the next cell without flags sends what the panel says; a flag still wins
    url = conformance.base_url("nvidia")
    f.ok(f"%%nemotron --base-url {url}\nWhy is the sky blue?")
    body = conformance.last_request().body
    assert body["temperature"] == 0.7 and body["max_tokens"] == 512 and body["seed"] == 7
    kwargs = body["chat_template_kwargs"]  # the local dialect: reasoning low, budget 256
    assert kwargs == {"enable_thinking": True, "low_effort": True, "reasoning_budget": 256}, body
    f.ok(f"%%nemotron --base-url {url} -t 0.1\nAgain")
    assert conformance.last_request().body["temperature"] == 0.1
    f.ok("r = nm.chat('hi')")
    assert conformance.last_request().body["temperature"] == 0.7  # nm.chat() too


def test_reset_restores_the_defaults_of_the_config_file(frontend: Frontend) -> None:
    f = frontend
    # What ipython_config.py would have given (the shell's config: %config does not change it).
    # ipython_config.py's c.Nemotron.temperature = 0.2, as the shell has it when the extension loads
    f.ok("get_ipython().config.Nemotron.temperature = 0.2\n%reload_ext nemotron_magics")
    f.ok("%config Nemotron.temperature = 0.9")
    f.ok("p = nm.controls()\ndisplay(p.widget)\nnm.configure(top_p=0.5, model='m1', system='Be brief.')")
    p = f.value(IDS)
    f.until(lambda: f.state(p["model"])["value"] == "m1", what="model shown")
    f.click(p["reset"])
    f.until(lambda: f.state(p["temperature"])["value"] == 0.2, what="reset to the file's temperature")
    f.until(lambda: f.state(p["model"])["value"] == "", what="model back to the provider's")
    assert f.state(p["top_p"])["value"] == 0.95 and f.state(p["system"])["value"] == ""
    assert f.value("nm.settings.params") == {"temperature": 0.2}
    assert f.value("nm.settings.model") is None


def test_a_key_set_in_a_cell_puts_its_provider_in_the_menu(frontend: Frontend) -> None:
    f = frontend
    f.ok("p = nm.controls()\ndisplay(p.widget)")
    p = f.value(IDS)
    assert not any(label.startswith("openrouter") for label in f.state(p["provider"])["_options_labels"])
    f.ok("import os\nos.environ['OPENROUTER_API_KEY'] = 'sk-or-' + 'TESTSECRET-menu'")
    f.until(
        lambda: "openrouter · key set (OPENROUTER_API_KEY)" in f.state(p["provider"])["_options_labels"],
        what="the provider offered once its key is set",
    )
    assert not any("TESTSECRET" in label for label in f.state(p["provider"])["_options_labels"])
    f.set(
        p["provider"],
        index=f.state(p["provider"])["_options_labels"].index("openrouter · key set (OPENROUTER_API_KEY)"),
    )
    f.until(lambda: f.value("nm.settings.provider") == "openrouter", what="chosen in the menu")


# --------------------------------------------------------------------------- the chat widget

CHAT_IDS = (
    "{name: getattr(c, name).model_id for name in ('input', 'send_button', 'stop_button', 'conversation')}"
)


def _ask(f: Frontend, ids: dict[str, str], text: str, *, click: bool = False) -> None:
    """Type and press Enter (the input's submit message), or type and click Send."""
    f.history.pop((ids["input"], "disabled"), None)  # this question's disabling, not an earlier one's
    f.set(ids["input"], value=text)
    if click:
        f.click(ids["send_button"])
    else:
        f.custom(ids["input"], {"event": "submit", "text": text})
    f.until(lambda: f.ever(ids["input"], "disabled", True), what="the input disabled while it streams")


def _answered(f: Frontend, ids: dict[str, str], timeout: float = 30) -> float:
    return f.until(
        lambda: f.state(ids["input"]).get("disabled") is False, timeout, what="the input enabled again"
    )


def test_chat_widget_streams_and_shares_its_history_with_cells(
    frontend: Frontend, conformance: ConformanceServer
) -> None:
    f = frontend
    f.ok("c = nm.chat_widget('t')\ndisplay(c.widget)")
    ids = f.value(CHAT_IDS)
    _ask(f, ids, "Why is the sky blue?")
    _answered(f, ids)
    shown = f.html_under(ids["conversation"])
    answer = expected("nvidia")["content"]
    assert "Why is the sky blue?" in shown
    assert "Rayleigh scattering" in shown and answer.split("**")[0] in shown
    assert "nm-thinking" in shown and "nm-footer" in shown  # the magic's display: thinking, footer
    assert f.state(ids["input"])["value"] == ""  # taken, and cleared

    # widget -> cell: the next --chat cell carries the widget's turn
    url = conformance.base_url("nvidia")
    f.ok(f"%%nemotron --chat t --base-url {url}\nAnd at sunset?")
    roles = [(m["role"], m["content"][:20]) for m in conformance.last_request().body["messages"]]
    assert roles[0] == ("user", "Why is the sky blue?") and roles[1][0] == "assistant"
    assert roles[2] == ("user", "And at sunset?")
    # cell -> widget: the cell's turn shows in the box once the cell is done
    f.until(lambda: "And at sunset?" in f.html_under(ids["conversation"]), 5, "the cell's turn in the box")

    # and the widget's next question is sent with both turns before it (Send button this time)
    _ask(f, ids, "Thanks!", click=True)
    _answered(f, ids)
    contents = [m["content"] for m in conformance.last_request().body["messages"] if m["role"] == "user"]
    assert contents == ["Why is the sky blue?", "And at sunset?", "Thanks!"]
    assert f.value("[t.user['content'] for t in nm.session.get_session('t').turns]") == contents


def test_stop_ends_the_stream_within_half_a_second_and_keeps_the_partial_answer(
    frontend: Frontend, conformance: ConformanceServer
) -> None:
    f = frontend
    # 60,000 characters at 2,000 a second: half a minute left when Stop is pressed.
    url = conformance.base_url("long", chars=60_000, chunk=20, rate=2000)
    f.ok(f"nm.configure(base_url={url!r}, reasoning='off')\nc = nm.chat_widget('s')\ndisplay(c.widget)")
    ids = f.value(CHAT_IDS)
    _ask(f, ids, "Write at length.")
    f.until(lambda: len(f.html_under(ids["conversation"])) > 3000, 20, "part of the answer on screen")
    pressed = time.perf_counter()
    f.click(ids["stop_button"])
    done = _answered(f, ids, timeout=5)
    assert done - pressed < 0.5, f"the input came back {done - pressed:.2f}s after Stop"
    print(f"Stop -> input enabled again: {done - pressed:.3f} s")
    assert conformance.last_request().wait(timeout=2.0) == "client_disconnected"

    r = f.value(
        "{'reason': c.session.turns[-1].response.finish_reason, "
        "'content': c.session.turns[-1].response.content}"
    )
    assert r["reason"] == "cancelled" and 0 < len(r["content"]) < 60_000
    assert long_markdown(60_000).startswith(r["content"])
    shown = f.html_under(ids["conversation"])
    assert "stopped" in shown.lower()
    assert "A long answer about hybrid models" in shown  # the partial answer stays on screen


def test_stop_ends_a_stalled_stream_at_once(frontend: Frontend, conformance: ConformanceServer) -> None:
    """A server that stops sending (30 s of silence after two events): Stop still ends it now."""
    f = frontend
    url = conformance.base_url("stall")
    f.ok(f"nm.configure(base_url={url!r})\nc = nm.chat_widget('stalled')\ndisplay(c.widget)")
    ids = f.value(CHAT_IDS)
    _ask(f, ids, "Why is the sky blue?")
    f.until(lambda: conformance.requests_for("stall") != [], 10, "the request reached the server")
    f.pump(1.0)  # the two events came; the server is silent now
    pressed = time.perf_counter()
    f.click(ids["stop_button"])
    done = _answered(f, ids, timeout=5)
    assert done - pressed < 0.5, f"the input came back {done - pressed:.2f}s after Stop"
    # The stream's thread was blocked reading a silent socket (for 30 s more): it is done now, so
    # the read was woken by closing the connection. (The server itself notices only when it next writes.)
    assert f.value("c._thread.is_alive()") is False
    reason = f.value("c.session.turns[-1].response.finish_reason")
    assert reason == "cancelled"
    assert "nm-error" not in f.html_under(ids["conversation"])  # a stop, not a failure


def test_an_error_shows_in_the_conversation_as_one_line(
    frontend: Frontend, conformance: ConformanceServer
) -> None:
    f = frontend
    url = conformance.base_url("unauthorized", style="openai")
    f.ok(f"nm.configure(base_url={url!r})\nc = nm.chat_widget('e')\ndisplay(c.widget)")
    ids = f.value(CHAT_IDS)
    _ask(f, ids, "hello")
    _answered(f, ids)
    shown = f.html_under(ids["conversation"])
    assert shown.count("nm-error") == 1, shown
    assert "Traceback" not in shown and "401" in shown


def test_chat_widget_traffic_stays_within_the_display_bar(
    frontend: Frontend, conformance: ConformanceServer
) -> None:
    """The bar of the live display (≤ 25 bytes of messages per byte of answer) holds in the widget."""
    f = frontend
    chars = 40_000
    url = conformance.base_url("long", chars=chars, chunk=4, rate=8000)
    f.ok(f"nm.configure(base_url={url!r}, reasoning='off')\nc = nm.chat_widget('big')\ndisplay(c.widget)")
    ids = f.value(CHAT_IDS)
    f.pump(0.3)
    before = f.traffic.bytes
    _ask(f, ids, "Write at length.")
    _answered(f, ids, timeout=60)
    f.pump(0.3)
    ratio = (f.traffic.bytes - before) / chars
    print(
        f"chat widget: {f.traffic.bytes - before:,} bytes of widget messages for {chars:,} chars: "
        f"{ratio:.1f} per byte"
    )
    assert ratio <= 25, ratio
    assert f.value("len(c.session.turns[-1].response.content)") == chars


# --------------------------------------------------------------------------- no widget frontend


@pytest.mark.parametrize("line", ["%nemotron controls", "%nemotron chat t"])
def test_terminal_ipython_says_one_line(line: str) -> None:
    code = f"%load_ext nemotron_magics\n{line}\n"
    done = subprocess.run(
        [sys.executable, "-m", "IPython", "--no-banner", "--colors=NoColor", "--quick", "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    lines = [ln for ln in (done.stdout + done.stderr).splitlines() if ln.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith("nemotron: the ") and "needs a notebook frontend" in lines[0]
    assert "%nemotron config" in lines[0] or "--chat" in lines[0]
    assert "Traceback" not in lines[0] and "VBox" not in lines[0]
