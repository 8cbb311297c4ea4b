"""Our JupyterLab renderer as a person sees it: every part inside it, live while the cell streams."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.browser.test_lab_hostile import _LIVE_BITS
from tests.browser.test_lab_tables import SCHEMA
from tests.browser.test_lab_tools import TOOL

from .conftest import ExtNotebook

pytestmark = pytest.mark.browser

LOAD = "%load_ext nemotron_magics"

_STATE = """
(root) => {
  const r = root.querySelector('.jp-RenderedNemotron');
  if (!r) return null;
  const thinking = r.querySelector('details.nm-thinking');
  const h = r.querySelector('.nm-answer h1, .nm-answer h2');
  if (h && !h.dataset.seen) h.dataset.seen = String(Date.now());  // the same element, or a new one?
  return {
    done: r.dataset.done,
    answer: (r.querySelector('.nm-answer') || {innerText: ''}).innerText.length,
    thinking: thinking ? {open: thinking.open, text: thinking.innerText.length} : null,
    heading: h ? h.dataset.seen : null,
    outputs: root.querySelectorAll('.jp-OutputArea-output').length,
  };
}
"""


def state(nb: ExtNotebook, index: int) -> Any:
    return nb.output(index).evaluate(_STATE)


def test_live_answer_grows_inside_our_renderer(open_ext: Callable, conformance_url: Callable) -> None:
    # `slow`: about 400 characters of reasoning then 4,000 of Markdown at 2,000 characters a second.
    url = conformance_url("slow")
    nb = open_ext([LOAD, f"%%nemotron -p local --base-url {url}\nWrite at length."])
    nb.start_after_load()
    samples: list[Any] = []
    start, shot = time.monotonic(), False
    while nb.running() and time.monotonic() - start < 30:
        now = state(nb, 1)
        if now is not None:
            samples.append(now)
            if not shot and now["answer"] > 1000:
                nb.shoot("mid-stream")
                shot = True
        time.sleep(0.08)
    nb.wait_run_all()
    final = state(nb, 1)
    seen = f"states while streaming: {samples}; at the end: {final}"
    live = [s for s in samples if s["done"] == "false"]
    assert len({s["answer"] for s in live}) >= 3, f"the answer should grow inside our renderer; {seen}"
    assert all(s["outputs"] == 1 for s in samples), (
        f"one output while streaming (appends, not outputs); {seen}"
    )
    assert any(s["thinking"] and s["thinking"]["open"] for s in live), (
        f"thinking shows open while thinking; {seen}"
    )
    assert final["done"] == "true" and final["answer"] > 3000, seen
    assert final["thinking"] and not final["thinking"]["open"], f"thinking collapses after; {seen}"
    headings = {s["heading"] for s in samples if s["heading"]}
    assert len(headings) == 1 and final["heading"] in headings, (
        f"the heading is drawn once, not redrawn; {seen}"
    )
    footer = nb.rendered(1).locator(".nm-footer").inner_text()
    assert "local" in footer and "tok/s" in footer, footer
    summary = nb.rendered(1).locator(".nm-thinking summary").inner_text()
    assert summary.startswith("Thought for"), summary
    assert nb.rendered(1).locator(".nm-copy").count() >= 2, "copy buttons for the answer and each code block"


def test_tool_cards_rounds_and_footer(open_ext: Callable, conformance_url: Callable) -> None:
    url = conformance_url("tool_rounds", delay=0.02)
    nb = open_ext([LOAD, TOOL, f"%%nemotron -p local --base-url {url} -m m --tools get_weather\nWeather?"])
    nb.run_after_load()
    r = nb.rendered(2)
    cards = r.locator(".nm-tool")
    assert cards.count() == 2
    texts = [cards.nth(i).inner_text() for i in range(2)]
    assert "get_weather" in texts[0] and "18°C, sunny" in texts[0] and "done" in texts[0], texts
    assert '"Oslo"' in texts[1] and "4°C, rain" in texts[1], texts
    text = r.inner_text()
    assert text.index("get_weather") < text.index("Paris: 18°C, sunny; Oslo: 4°C, rain.")
    assert "2 rounds" in r.locator(".nm-footer").inner_text()


def test_schema_table_grows_and_sorts(open_ext: Callable, conformance_url: Callable) -> None:
    url = conformance_url("table", rows=60, chunk=8, rate=3000)
    ask = f"%%nemotron -p local --base-url {url} -m m --reasoning off --schema list[City] -o df\nCities."
    nb = open_ext([LOAD, SCHEMA, ask])
    nb.start_after_load()
    counts: list[int] = []
    start = time.monotonic()
    while nb.running() and time.monotonic() - start < 30:
        counts.append(nb.rendered(2).locator("tbody tr").count() if nb.rendered(2).count() else 0)
        time.sleep(0.1)
    nb.wait_run_all()
    table = nb.rendered(2).locator("table.nm-table")
    # The saved bundle keeps the first 50 rows (the DataFrame in `df` has them all) and says so.
    assert table.locator("tbody tr").count() == 50
    assert "60 rows × 5 columns (first 50 shown)" in nb.rendered(2).inner_text()
    growing = sorted({c for c in counts if 0 < c < 50})
    assert len(growing) >= 2, f"rows should appear while the answer streams; row counts seen: {counts}"
    header = table.locator("th", has_text="population")
    header.locator("button").click()
    pops = [int(t.replace(",", "")) for t in table.locator("tbody tr td:nth-child(2)").all_inner_texts()]
    header.locator("button").click()
    again = [int(t.replace(",", "")) for t in table.locator("tbody tr td:nth-child(2)").all_inner_texts()]
    assert pops in (sorted(pops), sorted(pops, reverse=True)) and again == pops[::-1], (pops, again)
    assert pops != sorted(pops) or again != sorted(again), "a second click reverses the order"


@pytest.mark.parametrize("scenario", ["hostile", "hostile_invisible"])
def test_hostile_answer_runs_nothing(
    open_ext: Callable, conformance_url: Callable, page: Any, scenario: str
) -> None:
    nb = open_ext([LOAD, f"%%nemotron -p local --base-url {conformance_url(scenario, split=7)}\nLinks."])
    nb.run_after_load()
    r = nb.rendered(1)
    assert r.count() == 1, "our renderer shows the answer"
    page.wait_for_timeout(1000)  # an <img onerror> fails to load within this
    assert page.evaluate("() => window.__pwned") is None
    assert r.evaluate(_LIVE_BITS) == [], "no handlers, javascript: URLs or scripts in the DOM"
    hrefs = r.locator(".nm-answer a[href]").evaluate_all("els => els.map(a => a.getAttribute('href'))")
    assert all(h.startswith(("http://", "https://", "mailto:", "#")) for h in hrefs), hrefs
    for link in r.locator(".nm-answer a").all():  # a person clicks every link
        link.click(timeout=5_000, modifiers=[])
        page.wait_for_timeout(200)
    assert page.evaluate("() => window.__pwned") is None, "clicking the answer's links ran nothing"
    assert page.record.dialogs == []
    if scenario == "hostile_invisible":
        text = r.locator(".nm-answer").inner_text()
        assert "It costs $5 and $10." in text, text


def test_dollar_amounts_stay_dollar_amounts(open_ext: Callable, conformance_url: Callable) -> None:
    nb = open_ext([LOAD, f"%%nemotron -p local --base-url {conformance_url('dollars')}\nPrices?"])
    nb.run_after_load()
    r = nb.rendered(1)
    text = r.locator(".nm-answer").inner_text()
    assert "costs $5 and $10 buys" in text, text
    assert r.locator("mjx-container, .MathJax").count() == 0, "prices are not typeset as maths"


def test_approve_and_deny_on_the_tool_cards(open_ext: Callable, conformance_url: Callable) -> None:
    url = conformance_url("tool_rounds")
    ask = f"%%nemotron -p local --base-url {url} -m m --reasoning off --tools get_weather --confirm\nWeather?"
    nb = open_ext([LOAD, TOOL, ask])
    nb.start_after_load()
    r = nb.rendered(2)
    for button in ("Approve", "Deny"):  # Paris, then Oslo: one call at a time, in order
        waiting = r.locator(".nm-tool", has=nb.page.locator(".nm-approve:not([disabled])"))
        waiting.first.wait_for(timeout=20_000)
        waiting.first.get_by_role("button", name=button).click()
    nb.wait_run_all()
    cards = r.locator(".nm-rounds .nm-tool")
    assert cards.count() == 2
    first, second = cards.nth(0).inner_text(), cards.nth(1).inner_text()
    assert "done" in first and "18°C, sunny" in first, first
    assert "denied" in second and "4°C" not in second, second
    assert "The user declined" in r.locator(".nm-answer").last.inner_text() or "declined" in r.inner_text()
