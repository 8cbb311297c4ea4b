"""A tool loop as a person sees it in JupyterLab: every round, a card per call with its result, the answer."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.browser.test_lab_text import LOAD

pytestmark = pytest.mark.browser

TOOL = '''def get_weather(city: str) -> str:
    """Current weather in a city."""
    return {"Paris": "18°C, sunny", "Oslo": "4°C, rain"}[city]'''


def test_tool_cards_and_rounds(open_notebook: Callable, conformance_url: Callable[..., str]) -> None:
    url = conformance_url("tool_rounds", delay=0.02)
    ask = f"%%nemotron -p local --base-url {url} -m m --tools get_weather\nWeather?"
    nb = open_notebook([LOAD, TOOL, ask])
    nb.run_all()
    out = nb.output(2)
    cards = out.locator(".nm-tool")
    assert cards.count() == 2
    texts = [cards.nth(i).inner_text() for i in range(2)]
    assert "18°C, sunny" in texts[0] and "done" in texts[0]
    assert "4°C, rain" in texts[1] and '"Oslo"' in texts[1]
    text = out.inner_text()
    assert text.index("get_weather") < text.index("Paris: 18°C, sunny; Oslo: 4°C, rain.")
    assert "2 rounds" in text
