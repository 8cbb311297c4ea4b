"""The widgets as a person uses them in JupyterLab: the panel renders, its temperature slider changes
what the next cell sends, and the chat box answers when Send is clicked (and when Enter is pressed)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.browser.conftest import Notebook
from tests.browser.test_lab_text import LOAD, ask
from tests.conformance.server import ConformanceServer

pytestmark = pytest.mark.browser
Url = Callable[..., str]

_RUN_CELL = """
async (index) => {
  const w = window.jupyterapp.shell.currentWidget;
  w.content.activeCellIndex = index;
  await window.jupyterapp.commands.execute('notebook:run-cell');
}
"""
_IDLE = """
() => {
  const w = window.jupyterapp.shell.currentWidget;
  const kernel = w && w.sessionContext.session && w.sessionContext.session.kernel;
  return !!kernel && kernel.status === 'idle';
}
"""


def run_cell(nb: Notebook, index: int, timeout: float = 60) -> None:
    """Run one cell (as Shift+Enter would) and wait until the kernel is idle again."""
    nb.page.evaluate(_RUN_CELL, index)
    nb.page.wait_for_timeout(200)
    nb.page.wait_for_function(_IDLE, timeout=timeout * 1000)


def drag_slider(page: Any, slider: Any, fraction: float) -> None:
    """Take the slider's handle with the mouse and drop it at ``fraction`` of its track."""
    track = slider.locator(".noUi-target, .slider").first
    handle = slider.locator(".noUi-handle").first
    box, grip = track.bounding_box(), handle.bounding_box()
    assert box and grip, "the slider has no size: it did not render"
    page.mouse.move(grip["x"] + grip["width"] / 2, grip["y"] + grip["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * fraction, grip["y"] + grip["height"] / 2, steps=8)
    page.mouse.up()


def test_panel_renders_and_its_slider_sets_the_next_cells_temperature(
    open_notebook: Callable, conformance_url: Url, conformance: ConformanceServer
) -> None:
    nb = open_notebook([LOAD, "%nemotron controls", ask(conformance_url("nvidia"), "Why is the sky blue?")])
    run_cell(nb, 0)
    run_cell(nb, 1)
    panel = nb.output(1).locator(".nemotron-controls")
    panel.wait_for(state="visible", timeout=30_000)
    text = panel.inner_text()
    for label in ("provider", "model", "temperature", "top_p", "max_tokens", "reasoning", "budget", "seed"):
        assert label in text, f"the panel should show {label}; it shows:\n{text}"
    assert "not set: the provider's default" in text

    slider = panel.locator(".widget-slider", has_text="temperature").first
    drag_slider(nb.page, slider, 0.25)  # 0..2: about 0.5
    readout = slider.locator(".widget-readout")
    nb.page.wait_for_function(
        "(el) => el.textContent.trim() !== '1.00'", arg=readout.element_handle(), timeout=10_000
    )
    shown = float(readout.inner_text().strip())
    assert 0.2 < shown < 0.8, f"the handle should sit near a quarter of the track; it reads {shown}"
    nb.page.wait_for_timeout(300)  # the value's comm message reaches the kernel

    conformance.reset()
    run_cell(nb, 2)
    body = conformance.last_request().body
    assert body["temperature"] == pytest.approx(shown), f"the cell should send the slider's {shown}: {body}"
    assert "Rayleigh" in nb.output(2).inner_text()


def test_chat_widget_answers_when_send_is_clicked(
    open_notebook: Callable, conformance_url: Url, conformance: ConformanceServer
) -> None:
    url = conformance_url("nvidia")
    setup = f"import nemotron_magics as nm\nnm.configure(provider='local', base_url={url!r})"
    nb = open_notebook([LOAD, setup, "%nemotron chat demo"])
    nb.run_all()
    chat = nb.output(2).locator(".nemotron-chat")
    chat.wait_for(state="visible", timeout=30_000)
    box = chat.locator("textarea.nm-chat-input")
    box.fill("Why is the sky blue?")
    chat.locator("button", has_text="Send").click()
    conversation = chat.locator(".nm-chat-conversation")
    conversation.locator(".nm-footer").first.wait_for(state="visible", timeout=30_000)
    text = conversation.inner_text()
    assert "Why is the sky blue?" in text and "Rayleigh scattering" in text, text
    assert conversation.locator("details.nm-thinking").count() == 1  # the magic's thinking panel
    nb.page.wait_for_function("(el) => !el.disabled", arg=box.element_handle(), timeout=10_000)

    # Shift+Enter is a new line in the box; Enter sends it
    box.click()
    box.type("And at sunset?")
    box.press("Shift+Enter")
    box.type("Briefly.")
    assert box.input_value() == "And at sunset?\nBriefly."
    box.press("Enter")
    conversation.locator(".nm-footer").nth(1).wait_for(state="visible", timeout=30_000)
    assert box.input_value() == "", "the question should leave the box once it is sent"
    sent = conformance.last_request().body["messages"]
    assert sent[-1] == {"role": "user", "content": "And at sunset?\nBriefly."}
    assert [m["role"] for m in sent] == ["user", "assistant", "user"]  # the first turn went along
    nb.page.wait_for_timeout(300)


def test_chat_widget_streams_and_stop_keeps_the_partial_answer(
    open_notebook: Callable, conformance_url: Url
) -> None:
    # 40,000 characters at 2,000 a second: twenty seconds of answer, stopped after a few.
    url = conformance_url("long", chars=40_000, chunk=20, rate=2000)
    setup = f"import nemotron_magics as nm\nnm.configure(provider='local', base_url={url!r}, reasoning='off')"
    nb = open_notebook([LOAD, setup, "%nemotron chat long"])
    nb.run_all()
    chat = nb.output(2).locator(".nemotron-chat")
    chat.wait_for(state="visible", timeout=30_000)
    box = chat.locator("textarea.nm-chat-input")
    box.fill("Write at length about hybrid models.")
    chat.locator("button", has_text="Send").click()
    conversation = chat.locator(".nm-chat-conversation")
    nb.page.wait_for_function(
        "(el) => el.innerText.length > 2500", arg=conversation.element_handle(), timeout=20_000
    )
    assert box.is_disabled(), "the box should be disabled while the answer streams"
    nb.shoot("chat-mid-stream")
    chat.locator("button", has_text="Stop").click()
    nb.page.wait_for_function("(el) => !el.disabled", arg=box.element_handle(), timeout=5_000)
    conversation.locator(".nm-footer").first.wait_for(state="visible", timeout=5_000)
    text = conversation.inner_text()
    assert "stopped" in text.lower(), text[-800:]
    assert "A long answer about hybrid models" in text and len(text) < 40_000
    nb.page.wait_for_timeout(300)
