"""Link targets in the Markdown fallback are judged by what they resolve to, not by a list of characters.

The fallback is rendered by two CommonMark renderers set up as permissively as the worst one
JupyterLab might use (raw HTML on, no scheme filter, markdown-it without percent-encoding its
hrefs), and every href they produce is read the way a browser would, widened to what marked
(JupyterLab's renderer) does too: it skips any Unicode space before a destination. Each must be
relative, a fragment, or http/https/mailto. The corpus: a hypothesis-generated mix of spaces,
controls, character references, percent and backslash escapes around script schemes, in inline
links, reference definitions, autolinks, images, lists, quotes and tables, and in the reasoning.
"""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser
from urllib.parse import unquote

import mistune
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from nemotron_magics.display import mimebundle
from nemotron_magics.display._link_targets import resolved_scheme, safe_url
from nemotron_magics.display._markdown import neutralise_markdown, render_markdown
from tests.test_display_sanitise import hostile_response

_WEB = ("", "http", "https", "mailto")


class _Urls(HTMLParser):
    """Every URL-carrying attribute value, character references decoded (as the browser does)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [value or "" for name, value in attrs if name in ("href", "src", "action")]

    handle_startendtag = handle_starttag


def _urls(markup: str) -> list[str]:
    parser = _Urls()
    parser.feed(markup)
    parser.close()
    return parser.urls


# What marked skips before a destination (JS \s), what the URL parser strips at the ends (C0 and
# space), invisible format characters, and an angle bracket: wider than any one of them.
_LEADING = re.compile(r"^[\s\x00-\x20\x7f-\x9f\u180e\u200b-\u200f\u2060-\u2064\ufeff<]+")


def browser_scheme(url: str) -> str:
    """The scheme an href may get: decoded again (a renderer that emits '&' raw), percent-decoded,
    tab and newline removed anywhere (URL parser), leading spaces and controls stripped."""
    for _ in range(3):
        url = unquote(html.unescape(url))
    url = _LEADING.sub("", re.sub(r"[\t\n\r]", "", url))
    match = re.match(r"([A-Za-z][A-Za-z0-9+.\-]*):", url)
    return match.group(1).lower() if match else ""


def _markdown_it(text: str) -> str:
    md = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
    md.validateLink = lambda url: True  # marked does not filter schemes
    md.normalizeLink = lambda url: url  # nor percent-encode what it finds
    return md.render(text)


class _Permissive(mistune.HTMLRenderer):
    def sanitize_url(self, url: str) -> str:
        return url


_MISTUNE = mistune.create_markdown(
    escape=False, renderer=_Permissive(escape=False), plugins=["table", "strikethrough"]
)
RENDERERS = {"markdown-it": _markdown_it, "mistune": lambda text: str(_MISTUNE(text))}


def assert_links_web_only(markdown: str) -> None:
    for name, render in RENDERERS.items():
        for url in _urls(render(markdown)):
            assert browser_scheme(url) in _WEB, f"{name} made href {url!r} of {markdown!r}"


def assert_every_view_web_only(text: str) -> None:
    """The fallback alone, the whole bundle (answer and reasoning), and our own HTML."""
    assert_links_web_only(neutralise_markdown(text))
    bundle = mimebundle(hostile_response(text))
    assert_links_web_only(bundle["text/markdown"])
    for url in _urls(render_markdown(text)) + _urls(bundle["text/html"]):
        assert browser_scheme(url) in _WEB, f"our HTML has href {url!r} for {text!r}"


# -- the explicit list ---------------------------------------------------------------------------

#: Everything some renderer or browser may skip in front of a scheme.
INVISIBLE = [
    "\u00a0",
    *(chr(c) for c in range(0x2000, 0x200B)),
    "\u3000",
    "\ufeff",
    "\f",
    "\v",
    "\u1680",
    "\u202f",
    "\u205f",
    "\u2028",
    "\u2029",
    "\u180e",
    "\u200b",
    "\x85",
    "\x1c",
    "\x1f",
    "\x00",
    "\x01",
    "\t",
    "&nbsp;",
    "&#160;",
    "&#x3000;",
    "&#9;",
    "&Tab;",
    "&NewLine;",
    "%20",
    "%C2%A0",
    "&#xFEFF;",
]
FORMS = {
    "inline": "[click]({})",
    "inline with title": '[click]({} "t")',
    "angle": "[click](<{}>)",
    "reference": "[r]: {}\n\n[click][r]",
    "reference, next line": "[r]:\n{}\n\n[click][r]",
    "image": "![pic]({})",
    "autolink": "<{}>",
    "in a list": "- [click]({})",
    "in a quote": "> [click]({})",
    "in a table": "| a |\n|---|\n| [click]({}) |",
    "after a code span": "`x` [click]({})",
    "code in the text": "[`x`]({})",
}


@pytest.mark.parametrize("space", INVISIBLE, ids=lambda s: ascii(s))
@pytest.mark.parametrize("form", list(FORMS.values()), ids=list(FORMS))
def test_invisible_and_unicode_spaces_before_a_script_url(space: str, form: str) -> None:
    assert_every_view_web_only(form.format(space + "javascript:alert(1)"))


def test_the_jupyterlab_case_is_defused_in_the_source() -> None:
    """marked made ``[x](\\u00a0javascript:…)`` clickable: the source itself must not say so."""
    for space in ("\u00a0", "\u2003", "\u3000", "\ufeff", "\f", "\v"):
        defused = neutralise_markdown(f"[x]({space}javascript:alert(1)) [r]:{space}vbscript:x")
        assert f"[x](#{space}javascript:alert(1))" in defused and f"[r]:#{space}vbscript:x" in defused


@pytest.mark.parametrize(
    "target",
    [
        "https://docs.nvidia.com/nim?x=1#y",
        "http://127.0.0.1:8000/v1",
        "mailto:someone@example.com",
        "docs/guide.md",
        "../up/one.md",
        "#section",
        "/absolute/path",
        "//cdn.example/x.js",
        "?q=1",
        "naïve/ünïcode.md",
    ],
)
def test_web_and_relative_links_are_kept(target: str) -> None:
    for form in ("[a]({})", "[r]: {}\n\n[a][r]"):
        assert neutralise_markdown(form.format(target)) == form.format(target)
    assert safe_url(target)


@pytest.mark.parametrize(
    ("url", "scheme"),
    [
        ("javascript:alert(1)", "javascript"),
        ("\u00a0JaVaScRiPt:x", "javascript"),
        ("java\tscr\nipt:x", "javascript"),
        ("&#106;avascript:x", "javascript"),
        ("&amp;#106;avascript:x", "javascript"),
        ("%6Aavascript&colon;x", "javascript"),
        ("java\\script:x", None),  # a backslash before a letter stays: no scheme has one
        ("jav\\&#97;script:x", "javascript"),
        ("java%0Ascript:x", "javascript"),
        ("<javascript:x>", "javascript"),
        ("java\u200bscript:x", "javascript"),
        ("C:\\data\\x.csv", "c"),
        ("1javascript:x", None),
        ("ｊavascript:x", None),  # a full-width letter is no scheme to a browser
        ("java script:x", None),
        ("docs/a:b", None),
        ("&amp;amp;amp;amp;amp;#106;avascript:x", ""),  # nested past any renderer: unsettled
    ],
)
def test_resolved_scheme(url: str, scheme: str | None) -> None:
    assert resolved_scheme(url) == scheme


# -- the generated corpus ------------------------------------------------------------------------

_junk = st.lists(st.sampled_from([*INVISIBLE, " ", "\n", "<", "\\", "&amp;#9;", "%09"]), max_size=3).map(
    "".join
)
_scheme = st.sampled_from(
    [
        "javascript",
        "JaVaScRiPt",
        "vbscript",
        "data",
        "file",
        "ms-settings",
        "jav&#97;script",
        "jav&#x61;script",
        "java&Tab;script",
        "java\tscript",
        "java\nscript",
        "java%09script",
        "&#106;avascript",
        "&amp;#106;avascript",
        "%6Aavascript",
        "jav\\ascript",
        "java\u200bscript",
        "javascript\u00a0",
        "https",
        "x",
    ]
)
_colon = st.sampled_from([":", "&colon;", "&#58;", "&#x3A;", "%3A", "\\:", "&amp;colon;", "&#x3a"])
_payload = st.sampled_from(["alert(1)", "alert(1)//", "", "text/html,<script>alert(1)</script>", "x y"])
_target = st.tuples(_junk, _scheme, _colon, _payload).map("".join)
_around = st.sampled_from(["", "see ", "**", "`c` ", "$5 and ", "a\n", "1. ", "\\", "[", "]"])
_hostile_links = st.tuples(_around, st.sampled_from(list(FORMS.values())), _target, _around).map(
    lambda parts: parts[0] + parts[1].format(parts[2]) + parts[3]
)


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.lists(_hostile_links, min_size=1, max_size=3).map("\n".join))
@example(text="[x](\u00a0javascript:alert(1))")
@example(text="[r]: \u3000javascript:alert(1)\n\n[x][r]")
@example(text="<javascript:alert(1)>")
def test_generated_hostile_targets_resolve_to_web_urls_only(text: str) -> None:
    assert_every_view_web_only(text)
