"""The answer reads right in JupyterLab: prices keep their dollar signs, lines stay lines, maths is maths."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.conformance.streams import expected

pytestmark = pytest.mark.browser
Url = Callable[..., str]  # the conformance_url fixture

LOAD = "%load_ext nemotron_magics"
# A control cell: real maths on the same page. Once it is typeset, MathJax has run, so "no mjx-container"
# in the cell under test means MathJax left that text alone, not that it had not got there yet.
CONTROL = 'from IPython.display import Latex\nLatex(r"$x^2$")'


def ask(url: str, prompt: str) -> str:
    """A %%nemotron cell whose --base-url is written out literally (the magic line is not interpolated)."""
    return f"%%nemotron -p local --base-url {url}\n{prompt}"


def lines(text: str) -> list[str]:
    return [ln.strip() for ln in text.splitlines() if ln.strip()]


def assert_no_maths(output: Any) -> None:
    typeset = output.locator("mjx-container")
    assert typeset.count() == 0, f"MathJax typeset part of this output as TeX:\n{output.inner_html()[:2000]}"


def test_providers_table_shows_prices_with_both_dollar_signs(open_notebook: Callable) -> None:
    nb = open_notebook([LOAD, "%nemotron providers", CONTROL])
    nb.run_all()
    nb.typeset_settled(2)
    table = nb.output(1)
    text = table.inner_text()
    assert "$0.09 / $0.45" in text, f"the providers table should show '$0.09 / $0.45'; it shows:\n{text}"
    assert_no_maths(table)


def test_answer_with_prices_keeps_its_dollar_signs(open_notebook: Callable, conformance_url: Url) -> None:
    nb = open_notebook([LOAD, ask(conformance_url("dollars"), "How much are the plans?"), CONTROL])
    nb.run_all()
    nb.typeset_settled(2)
    out = nb.output(1)
    text = out.inner_text()
    want = expected("dollars")["content"]
    assert "$5 and $10" in text, f"the answer should read {want!r}; it shows:\n{text}"
    assert_no_maths(out)


def test_haiku_keeps_its_three_lines(open_notebook: Callable, conformance_url: Url) -> None:
    nb = open_notebook([LOAD, ask(conformance_url("openrouter"), "Write a haiku about GPUs.")])
    nb.run_all()
    out = nb.output(1)
    want = expected("openrouter")["content"].split("\n")
    assert want == ["Silicon rivers", "ten thousand threads hum as one", "warm light, cold answers"]
    shown = lines(out.inner_text())
    assert any(shown[i : i + 3] == want for i in range(len(shown))), (
        f"the haiku should show as the three lines {want}; the output's lines are:\n{shown}"
    )


def test_display_maths_in_an_answer_is_typeset(open_notebook: Callable, conformance_url: Url) -> None:
    nb = open_notebook([LOAD, ask(conformance_url("latex"), "Give Einstein's relation.")])
    nb.run_all()
    out = nb.output(1)
    assert "mass-energy relation" in out.inner_text()
    try:
        out.locator("mjx-container").first.wait_for(state="attached", timeout=15_000)
    except Exception:
        html = out.inner_html()[:2000]
        pytest.fail(f"$$E = mc^2$$ should be typeset (an mjx-container); the output is:\n{html}")
    assert "$$" not in out.inner_text(), "the TeX delimiters should not show once typeset"
