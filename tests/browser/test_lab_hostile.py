"""Hostile model output shows as text in JupyterLab and runs nothing, even when a person clicks its link."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

pytestmark = pytest.mark.browser

# Elements of the output carrying anything that could run: inline handlers, javascript: URLs, scripts.
_LIVE_BITS = """
(root) => {
  const found = [];
  for (const el of root.querySelectorAll('*')) {
    for (const attr of el.attributes) {
      const v = attr.value.replace(/[\\s\\u0000-\\u001f]/g, '').toLowerCase();
      if (attr.name.toLowerCase().startsWith('on')) found.push(el.tagName + '[' + attr.name + ']');
      if (['href', 'src', 'action', 'formaction', 'xlink:href'].includes(attr.name.toLowerCase())
          && v.startsWith('javascript:')) found.push(el.tagName + '[' + attr.name + '=' + attr.value + ']');
    }
    if (el.tagName === 'SCRIPT' || el.tagName === 'IFRAME' || el.tagName === 'OBJECT') found.push(el.tagName);
  }
  return found;
}
"""


def pwned(page: Any) -> Any:
    return page.evaluate("() => window.__pwned")


def test_hostile_answer_runs_nothing(page: Any, open_notebook: Callable, conformance_url: Callable) -> None:
    url = conformance_url("hostile")
    nb = open_notebook(["%load_ext nemotron_magics", f"%%nemotron -p local --base-url {url}\nShow me HTML."])
    nb.run_all()
    out = nb.output(1)
    text = out.inner_text()
    assert "Here is the snippet" in text, f"the answer should be shown; the output is:\n{text}"
    page.wait_for_timeout(1000)  # <img src=x onerror=…> fails to load within this
    assert pwned(page) is None, f"model output ran code: {pwned(page)}"
    assert page.record.dialogs == [], f"model output opened dialogs: {page.record.dialogs}"
    live = out.evaluate(_LIVE_BITS)
    assert live == [], f"the output's DOM carries live code: {live}"
    link = out.get_by_text("click", exact=True)
    if link.count():  # a person clicks the answer's link
        link.first.click(timeout=5_000)
        page.wait_for_timeout(500)
    assert pwned(page) is None, f"clicking the answer's link ran code: {pwned(page)}"
    assert page.record.dialogs == [], f"clicking the answer's link opened dialogs: {page.record.dialogs}"
