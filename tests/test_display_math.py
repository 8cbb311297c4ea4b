"""Money is not math and a line end is a line end, in the HTML view and in the Markdown fallback.

JupyterLab typesets ``$0.09 / $0.45`` as TeX and joins a haiku onto one line unless told
otherwise. Real LaTeX (``$$…$$``, ``\\(…\\)``, ``\\[…\\]``) is still typeset: our HTML wraps it in
``tex2jax_process`` inside a container marked ``tex2jax_ignore``.
"""

from __future__ import annotations

import pytest
from markdown_it import MarkdownIt

from nemotron_magics import ReasoningDelta, Response, TextDelta
from nemotron_magics.display import mimebundle
from nemotron_magics.display._markdown import neutralise_markdown, render_markdown


def _math(source: str) -> str:
    return f'<span class="tex2jax_process mathjax_process">{source}</span>'


@pytest.mark.parametrize(
    ("text", "html"),
    [
        ("It costs $5 and $10.", "<p>It costs $5 and $10.</p>\n"),
        ("$0.09 / $0.45 per million", "<p>$0.09 / $0.45 per million</p>\n"),
        (
            "Silicon rivers\nten thousand threads\nwarm light",
            "<p>Silicon rivers<br>\nten thousand threads<br>\nwarm light</p>\n",
        ),
        ("$$E = mc^2$$", "<p>" + _math("$$E = mc^2$$") + "</p>\n"),
        ("so \\(a<b\\) holds", "<p>so " + _math("\\(a&lt;b\\)") + " holds</p>\n"),
        ("see \\[x^2\\] here", "<p>see " + _math("\\[x^2\\]") + " here</p>\n"),
        ("$$\nE = mc^2\n$$", "<p>" + _math("$$\nE = mc^2\n$$") + "</p>\n"),
        ("cost $5, area $$\\pi r^2$$", "<p>cost $5, area " + _math("$$\\pi r^2$$") + "</p>\n"),
        ("`$$x$$` and `\\(y\\)`", "<p><code>$$x$$</code> and <code>\\(y\\)</code></p>\n"),
        ("```\n$$x$$\n```", "<pre><code>$$x$$\n</code></pre>\n"),
        ("$$ $$ and \\( unclosed", "<p>$$ $$ and ( unclosed</p>\n"),
        ("$$\\href{javascript:x}{y}$$", "<p>" + _math("$$\\\u200bhref{javascript:x}{y}$$") + "</p>\n"),
    ],
)
def test_html_math_and_line_breaks(text: str, html: str) -> None:
    assert render_markdown(text) == html


def test_only_our_math_span_keeps_its_class() -> None:
    assert "&lt;span" in render_markdown('<span class="tex2jax_process">$x$</span>')
    assert 'class="tex2jax_process mathjax_process"' not in render_markdown("`x` *y*")


@pytest.mark.parametrize(
    ("text", "markdown"),
    [
        ("It costs $5 and $10.", "It costs \\$5 and \\$10."),
        ("already \\$5, or \\\\$6", "already \\$5, or \\\\\\$6"),
        ("$$E = mc^2$$ costs $1", "$$E = mc^2$$ costs \\$1"),
        ("$$a$b$$", "$$a$b$$"),  # a '$' inside math is part of the math
        ("$$ unpaired", "\\$\\$ unpaired"),
        ("$$ $$ blank", "\\$\\$ \\$\\$ blank"),
        ("`$5` and $6", "`$5` and \\$6"),
        ("```\nprice = $5\nline two\n```", "```\nprice = $5\nline two\n```"),
        ("one\ntwo\nthree", "one  \ntwo  \nthree"),
        ("ends with two  \nspaces", "ends with two  \nspaces"),
        ("a backslash\\\nbreak", "a backslash\\\nbreak"),
        ("code `a\nb` span", "code `a\nb` span"),
        ("$$\nx\n$$", "$$\nx\n$$"),
        ("para\n- item\n- item", "para\n- item\n- item"),
        ("| a |\n|---|\n| 1 |", "| a |\n|---|\n| 1 |"),
        ("Title\n===\ntext", "Title\n===  \ntext"),  # spaces after an underline: still one
        ("# H\ntext\n> quote\n> on", "# H  \ntext  \n> quote  \n> on"),
    ],
)
def test_markdown_dollars_and_line_breaks(text: str, markdown: str) -> None:
    assert neutralise_markdown(text) == markdown


@pytest.mark.parametrize(
    "text",
    [
        "Silicon rivers\nten thousand threads\nwarm light",
        "- a\n- b\n  continued\n- c\n\n1. one\n2. two",
        "| a | b |\n|---|---|\n| $1 | 2 |\n| 3 | $4 |",
        "# Title\ntext under\n\nSetext\n===\nmore",
        "> quote one\n> quote two",
        "It costs $5 and $10.\nNext line.",
        "Use `x = $1`\nthen\n\n```python\nprint('$2')\nprint(3)\n```",
    ],
)
def test_the_fallback_renders_like_our_html(text: str) -> None:
    """A renderer without ``breaks`` (marked, JupyterLab) shows the fallback as we show the HTML."""
    plain = MarkdownIt("commonmark").enable("table")
    with_breaks = MarkdownIt("commonmark", {"breaks": True}).enable("table")
    assert plain.render(neutralise_markdown(text)) == with_breaks.render(text)


def test_prices_keep_both_dollar_signs_in_every_view() -> None:
    r = Response(provider="nvidia", model="m")
    r.apply(ReasoningDelta("Two plans: $5 and $10 a month."))
    r.apply(TextDelta("The basic plan costs $5 and $10 buys the pro plan."))
    r.finish()
    bundle = mimebundle(r)
    assert "$5 and $10 buys" in bundle["text/html"] and "$5 and $10 a month" in bundle["text/html"]
    assert "tex2jax_process" not in bundle["text/html"]
    assert "\\$5 and \\$10 buys" in bundle["text/markdown"]
    assert "\\$5 and \\$10 a month" in bundle["text/markdown"]
