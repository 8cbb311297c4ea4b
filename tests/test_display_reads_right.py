"""The answer reads right: what a new user sees in JupyterLab, asserted on the HTML that produces it.

(The same things are checked in a real JupyterLab in Chromium by ``tests/browser``; these
tests pin the exact markup, so a regression names its cause.)
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from IPython.core.interactiveshell import InteractiveShell

import nemotron_magics as nm
from nemotron_magics import Finish, ReasoningDelta, Response, StreamError, TextDelta, Usage
from nemotron_magics._tables import Table, providers_table
from nemotron_magics.display import MIME, mimebundle
from tests.conformance.server import ConformanceServer
from tests.test_magic import ip as ip  # the shell fixture
from tests.test_magic import run, shown

# Emoji and symbols a stock Linux machine (no emoji font) shows as empty boxes.
_TOFU = re.compile("[\U0001f000-\U0001faff\u23e9-\u23fa\u2b50\u2b55\ufe0f]")


def _response(*events: object, provider: str = "nvidia") -> Response:
    r = Response(provider=provider, model="m")
    for event in events:
        r.apply(event)  # type: ignore[arg-type]
    return r


def test_our_html_keeps_mathjax_off_prose() -> None:
    r = _response(TextDelta("It costs $5 and $10."), Finish("stop"))
    r.finish()
    html = mimebundle(r)["text/html"]
    assert html.startswith('<div class="nemotron-response tex2jax_ignore mathjax_ignore">')
    assert "$5 and $10" in html


def test_tables_keep_mathjax_off_prices() -> None:
    html = providers_table()._repr_html_()
    assert "mathjax_ignore" in html and "$0.09 / $0.45" in html


def test_a_table_never_shows_a_password_or_key() -> None:
    table = Table("t", ["a"], [["http://bob:hunter2secret@example.com/v1"]], note="nvapi-" + "x" * 30)
    assert "hunter2secret" not in str(table) and "hunter2secret" not in table._repr_html_()
    assert "xxxxxxxxxxxx" not in str(table)


def test_a_cut_off_answer_says_so_in_the_answers_place() -> None:
    r = _response(ReasoningDelta("thinking " * 50), Finish("length"))
    r.usage = Usage(prompt_tokens=10, completion_tokens=64)
    r.finish()
    bundle = mimebundle(r)
    for kind in ("text/html", "text/markdown", "text/plain"):
        text = bundle[kind].replace("\\", "")
        assert "No answer: the token limit (max_tokens) ran out while the model was still thinking" in text
        assert "--max-tokens" in text and "--reasoning" in text
    html = bundle["text/html"]
    assert html.index("nm-thinking") < html.index("nm-cutoff") < html.index("nm-footer")
    assert {"kind": "cutoff", "text": bundle[MIME]["notes"][0]["text"]} in bundle[MIME]["notes"]


def test_a_partial_answer_cut_off_says_so_too() -> None:
    r = _response(TextDelta("The first half"), Finish("length"))
    r.finish()
    assert "cut off by the token limit" in mimebundle(r)["text/html"]


def test_a_stop_or_error_is_said_once_when_the_cell_raises_it() -> None:
    r = _response(TextDelta("partial"))
    r.error = StreamError("The connection to nvidia broke mid-stream (ReadError)")
    r.finish(reason="error")
    assert "nm-error" in mimebundle(r)["text/html"]  # shown later, the banner is the only place
    quiet = mimebundle(r, banners=False)
    assert "nm-error" not in quiet["text/html"] and "broke mid-stream" not in quiet["text/markdown"]
    assert quiet[MIME]["error"]  # the data still says what happened


def test_the_no_key_notice_is_a_quiet_note() -> None:
    r = _response(TextDelta("hi"), Finish("stop"), provider="embedded")
    r.notices.append("No API key is set (NVIDIA_API_KEY …), so the embedded SmolLM2-135M answers.")
    r.finish()
    html = mimebundle(r)["text/html"]
    note = re.search(r'<div class="nm-note nm-info" style="([^"]*)"', html)
    assert note is not None and "opacity" in note.group(1) and "color" not in note.group(1)


def test_no_emoji_that_render_as_boxes() -> None:
    r = _response(ReasoningDelta("hmm"), TextDelta("ok"), Finish("stop"))
    r.apply(nm.ToolCallDelta(index=0, id="c", name="f", arguments_fragment="{}"))
    r.finish(reason="cancelled")
    for text in mimebundle(r).values():
        found = _TOFU.findall(str(text))
        assert not found, found


def test_unknown_token_counts_read_unknown_not_zero(
    ip: InteractiveShell, server: ConformanceServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # %nemotron usage reads the store, which spans sessions: this test's own, so only its request is in it.
    monkeypatch.setenv("NEMOTRON_STORE", str(tmp_path / "store.sqlite3"))
    # Stopped before the usage chunk: the tokens of that request are not known.
    base = server.base_url("nvidia", truncate=2)
    run(ip, f"%%nemotron --base-url {base} --chat c\nhi")
    _, io = run(ip, "%nemotron usage")
    usage = shown(io)
    assert "unknown" in usage
    assert not re.search(r"\b0\b", usage.split("requests")[-1].split("\n", 2)[-1]), usage
    _, io = run(ip, "%nemotron chats")
    assert "unknown" in shown(io)


def test_help_has_no_rest_leftovers(ip: InteractiveShell) -> None:
    _, io = run(ip, "%%nemotron?\n")
    text = io.stdout
    assert "--temperature" in text
    assert "::" not in text, text[:400]


@pytest.mark.parametrize("answer", ["Silicon rivers\nten thousand threads\nwarm light"])
def test_single_newlines_are_line_breaks(answer: str) -> None:
    r = _response(TextDelta(answer), Finish("stop"))
    r.finish()
    bundle = mimebundle(r)
    assert bundle["text/html"].count("<br") == 2
    assert bundle["text/markdown"].count("  \n") >= 2


def test_a_key_in_the_namespace_is_never_sent(
    ip: InteractiveShell, server: ConformanceServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = "nvapi-" + "K" * 12 + "never-send-me"
    monkeypatch.setenv("NVIDIA_API_KEY", key)
    ip.run_cell("import os")
    base = server.base_url("nvidia")
    result, io = run(
        ip, f'%%nemotron -p local --base-url {base}\nMy key is {{os.environ["NVIDIA_API_KEY"]}}.'
    )
    assert result.success
    sent = server.last_request().body["messages"][-1]["content"]
    assert key not in sent and '{os.environ["NVIDIA_API_KEY"]}' in sent
    notice = [line for line in io.stderr.splitlines() if "API key" in line]
    assert len(notice) == 1 and key not in notice[0]


def test_a_rate_limit_back_off_is_shown_while_it_waits(
    ip: InteractiveShell, server: ConformanceServer
) -> None:
    from IPython.utils.capture import capture_output

    from nemotron_magics.display import show_stream

    client = nm.Client(
        "local",
        base_url=server.base_url("nvidia", fail=1, status=429, retry_after="1"),
        model="m",
        max_retries=3,
    )
    with capture_output() as cap:
        show_stream(client.stream("hi"), rich=True)
    shown_html = [o.data.get("text/html", "") for o in cap.outputs]
    assert any("429 Too Many Requests: retrying in 1.0 s (attempt 2 of 4)" in h for h in shown_html), (
        shown_html
    )
    assert "waiting for the first token" in shown_html[0]  # before the 429 came back
