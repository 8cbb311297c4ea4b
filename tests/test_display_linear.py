"""Every pass over an answer is linear: an answer four times longer takes about four times as long.

A 32,000-character answer of ``](`` once kept a kernel busy for 33 s building the Markdown
fallback. Each shape below is one a model (or a prompt injection) can produce and one that made
some pass rescan the rest of the text from every occurrence. Measured as a ratio in one run.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from nemotron_magics.display._markdown import neutralise_markdown, render_markdown
from tests.timing import LINEAR, growth, repeat_to


def _backtick_runs_longest_first(n: int) -> str:
    """Runs of k, k-1, … 1 backticks: each opener has no closer of its length after it."""
    runs: list[str] = []
    k = 1
    while sum(len(r) + 1 for r in runs) < n:
        runs.append("`" * k)
        k += 1
    return " ".join(reversed(runs))[:n]


SHAPES: dict[str, Callable[[int], str]] = {
    "link openers": repeat_to("]("),
    "links": repeat_to("[a]("),
    "reference colons": repeat_to("]:"),
    "links with long targets": repeat_to("](" + "a" * 40),
    "links with spaces": repeat_to("](\u00a0 \u3000"),
    "links with entities": repeat_to("](&amp;"),
    "links with escapes": repeat_to("](\\\\"),
    "backticks longest first": _backtick_runs_longest_first,
    "single backticks": repeat_to("`"),
    "escaped backticks": repeat_to("\\`"),
    "blank-ish lines": repeat_to("\n \t"),
    "newlines": repeat_to("a\n"),
    "dollars": repeat_to("$"),
    "double dollars": repeat_to("$$ "),
    "escaped dollars": repeat_to("\\$"),
    "backslashes then a dollar": lambda n: "\\" * n + "$",
    "math openers": repeat_to("\\("),
    "display math openers": repeat_to("\\["),
    "angle brackets": repeat_to("<"),
    "brackets": repeat_to("["),
    "images": repeat_to("!["),
    "tex commands": repeat_to("\\href"),
    "fences": repeat_to("```\n"),
    "mixed": repeat_to("[a](b) `c` $d \\(e "),
}


@pytest.mark.parametrize("make", list(SHAPES.values()), ids=list(SHAPES))
def test_the_markdown_fallback_is_linear(make: Callable[[int], str]) -> None:
    assert growth(neutralise_markdown, make, 6_000) < LINEAR


@pytest.mark.parametrize("make", list(SHAPES.values()), ids=list(SHAPES))
def test_the_html_view_is_linear(make: Callable[[int], str]) -> None:
    assert growth(render_markdown, make, 2_000, repeats=3) < LINEAR
