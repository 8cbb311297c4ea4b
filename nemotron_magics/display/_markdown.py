"""Model Markdown made safe twice: rendered to sanitised HTML, and defused as Markdown source.

Model output is untrusted (a prompt-injected page can make the model write anything), and it
reaches two renderers we do not control:

- ``text/html``: Markdown is rendered here by markdown-it-py with raw HTML *off*, then cleaned
  by nh3 (ammonia) with a small allow-list. Images become links (a loaded image can leak data
  to its server), and only http/https/mailto URLs survive.
- ``text/markdown``: JupyterLab renders the outputs of cells the user ran as *trusted*, so raw
  HTML in a Markdown output would reach the page unsanitised. :func:`neutralise_markdown`
  rewrites the source so that no reading of it, by any renderer, yields a tag, an event
  handler or a script URL: every ``<`` outside code becomes ``&lt;``; code spans that contain
  ``<`` are re-emitted as our own escaped ``<code>`` HTML; top-level code blocks are re-fenced
  with a fence their content cannot close; a link destination that could resolve to a non-web
  URL (:mod:`._link_targets`) gets a ``#`` in front, which makes it a link to this page.
  A renderer that parses a piece differently from us sees escaped text either way.

Both views keep money as money and line ends as line ends (:mod:`._math`), and defuse the
MathJax commands that can carry URLs or CSS (``\\href``, ``\\style`` …): JupyterLab typesets TeX
in Markdown *and* HTML outputs.

Every pass is linear in the answer (an answer of 32,000 ``](`` once took 33 s): nothing rescans
the rest of the text from each opener. markdown-it-py and nh3 are imported on first use.
"""

from __future__ import annotations

import bisect
import functools
import html
import re
from typing import TYPE_CHECKING, Any

from ._link_targets import SAFE_SCHEMES, safe_destination, safe_url
from ._math import MATH_CLASS, MATH_CLOSERS, math_rule, typeset_prose

if TYPE_CHECKING:
    from markdown_it import MarkdownIt
    from markdown_it.token import Token

# -- TeX ------------------------------------------------------------------------------------------

# MathJax commands that set URLs, CSS, ids or load code; a zero-width space after the backslash
# turns each into an unknown control symbol while the text still reads the same.
_TEX_RISKY = re.compile(
    r"\\(?=(?:href|url|class|cssId|style|bbox|require|mmlToken|texttip|mathtip)"
    r"(?![A-Za-z]))"
)


def defuse_tex(text: str) -> str:
    """``\\href`` → ``\\\u200bhref``: inert for MathJax, unchanged to the eye."""
    return _TEX_RISKY.sub("\\\\\u200b", text) if "\\" in text else text


def escape_text(text: str) -> str:
    """Untrusted plain text for HTML: escaped, quotes too, with TeX commands defused."""
    return defuse_tex(html.escape(text, quote=True))


# -- Markdown → HTML ------------------------------------------------------------------------------

_LANG = re.compile(r"[^\w+#.-]")
_ALLOWED_TAGS = frozenset(
    {
        "a",
        "abbr",
        "b",
        "blockquote",
        "br",
        "code",
        "del",
        "div",
        "em",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "hr",
        "i",
        "kbd",
        "li",
        "ol",
        "p",
        "pre",
        "s",
        "span",
        "strong",
        "sub",
        "sup",
        "table",
        "tbody",
        "td",
        "th",
        "thead",
        "tr",
        "ul",
    }
)


def _render_text(self: Any, tokens: list[Token], idx: int, options: Any, env: Any) -> str:
    return escape_text(tokens[idx].content)


def _render_image(self: Any, tokens: list[Token], idx: int, options: Any, env: Any) -> str:
    # Not loaded: an <img> fetches its URL the moment the output is shown, a classic
    # prompt-injection exfiltration channel. A link costs the reader one click.
    token = tokens[idx]
    alt = self.renderInlineAsText(token.children or [], options, env) or "image"
    src = str(token.attrGet("src") or "")
    return f'<a href="{html.escape(src, quote=True)}">🖼 {escape_text(alt)}</a>'


def _render_math(self: Any, tokens: list[Token], idx: int, options: Any, env: Any) -> str:
    """Math as its source, delimiters kept, for MathJax to typeset (escaped, risky commands defused)."""
    token = tokens[idx]
    source = token.markup + token.content + MATH_CLOSERS[token.markup]
    return f'<span class="{MATH_CLASS}">{escape_text(source)}</span>'


@functools.cache
def parser() -> MarkdownIt:
    """CommonMark + tables + strikethrough + LaTeX math, raw HTML off, a newline a line break.

    ``breaks``: a model writes a poem or an address one line per line, and means it.
    One instance per process.
    """
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": False, "breaks": True}).enable(["table", "strikethrough"])
    md.validateLink = safe_url  # type: ignore[method-assign]  # one rule for every view
    md.inline.ruler.before("escape", "math_inline", math_rule)
    md.add_render_rule("text", _render_text)
    md.add_render_rule("image", _render_image)
    md.add_render_rule("math_inline", _render_math)
    return md


def _attribute_filter(tag: str, attr: str, value: str) -> str | None:
    if attr == "class":  # markdown-it marks code blocks "language-x", we mark math; nothing else
        if tag == "code" and re.fullmatch(r"language-[\w+#.-]{1,40}", value):
            return value
        return value if tag == "span" and value == MATH_CLASS else None
    return value


@functools.cache
def _cleaner() -> Any:
    import nh3

    return nh3.Cleaner(
        tags=set(_ALLOWED_TAGS),
        clean_content_tags={"script", "style"},
        attributes={
            "a": {"href", "title"},
            "ol": {"start"},
            "code": {"class"},
            "span": {"class"},
            "td": {"style"},
            "th": {"style"},
        },
        attribute_filter=_attribute_filter,
        filter_style_properties={"text-align"},
        url_schemes=set(SAFE_SCHEMES),
        link_rel="noopener noreferrer",
        strip_comments=True,
    )


def sanitise_html(fragment: str) -> str:
    """nh3 with our allow-list: the last word on any HTML derived from model output."""
    return str(_cleaner().clean(fragment))


def render_markdown(text: str) -> str:
    """Untrusted Markdown → sanitised HTML (raw HTML shown as text, never as markup)."""
    if not text:
        return ""
    return sanitise_html(parser().render(text))


# -- Markdown → defused Markdown ---------------------------------------------------------------------

_NEWLINES = re.compile(r"\r\n?")
_PARAGRAPH_BREAK = re.compile(r"(\n[ \t]*\n)")
_LINK_START = re.compile(r"\]\(|\]:")
_ASCII_PUNCT = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
# Backslash escapes outside code spans, and maximal backtick runs (the only possible closers).
_ESCAPE_OR_TICKS = re.compile(r"\\[!-/:-@\[-`{-~]|`+")
_TICKS = re.compile(r"`+")


@functools.cache
def _block_parser() -> MarkdownIt:
    """Block structure only (where code blocks are): inline parsing is neither needed nor paid for."""
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": False}).enable(["table"]).disable(["inline"])


def _code_spans(text: str) -> list[tuple[str, bool]]:
    """``text`` cut into (piece, is_code_span), code spans found the CommonMark way.

    Linear: every backtick run is listed once, by length, and the closer of an opener is the
    next run of its length (a binary search), instead of a scan to the end per opener.
    """
    runs: dict[int, list[int]] = {}
    for run in _TICKS.finditer(text):
        runs.setdefault(len(run.group()), []).append(run.start())
    pieces: list[tuple[str, bool]] = []
    prose_from = 0
    for token in _ESCAPE_OR_TICKS.finditer(text):
        start = token.start()
        if start < prose_from or token.group()[0] == "\\":
            continue  # inside a span already taken, or an escape ("\\`" opens nothing)
        length = len(token.group())
        # After an escaped backtick the opener is shorter than the raw run it sits in ("\\``"
        # opens with one tick): there may be no raw run of its length at all.
        starts = runs.get(length, [])
        k = bisect.bisect_left(starts, token.end())
        if k == len(starts):
            continue  # no closing run of the same length: the backticks are literal
        close = starts[k]
        pieces.append((text[prose_from:start], False))
        pieces.append((text[start : close + length], True))
        prose_from = close + length
    pieces.append((text[prose_from:], False))
    return [piece for piece in pieces if piece[0]]


def _code_span_html(span: str) -> str:
    """A code span as a renderer would show it (CommonMark: newlines → spaces, one space trimmed)."""
    ticks = len(span) - len(span.lstrip("`"))
    inner = span[ticks:-ticks].replace("\n", " ")
    if len(inner) > 2 and inner[0] == " " and inner[-1] == " " and inner.strip(" "):
        inner = inner[1:-1]
    # Our <code> tag is raw HTML, but a Markdown renderer still parses what is inside it: as
    # character references, punctuation can be neither markup nor Markdown syntax (links, images).
    return "<code>" + "".join(f"&#{ord(ch)};" if ch in _ASCII_PUNCT else ch for ch in inner) + "</code>"


def _defuse_code_span(span: str) -> str:
    """A span with '<' in it becomes our own escaped <code>: safe however a renderer reads it."""
    return _code_span_html(span) if "<" in span else span


def _defuse_inert(text: str) -> str:
    """No image, no tag, no risky TeX: what prose and code alike need when a renderer misreads them."""
    text = text.replace("![", "!\\[")  # an image loads its URL on sight; show the syntax instead
    return defuse_tex(text.replace("<", "&lt;"))


def _with_safe_links(pieces: list[tuple[str, bool]]) -> str:
    """Join defused pieces; every unsafe link destination in a prose piece becomes a fragment.

    A '#' goes in front of the destination, at the one place all renderers agree it starts
    (right after ``](`` or ``]:``): whatever else they make of it, the link stays on the page.
    Destinations are read in the text as a renderer gets it, code spans included.
    """
    text = "".join(piece for piece, _ in pieces)
    if "]" not in text:
        return text
    out: list[str] = []
    pos = offset = 0
    for piece, prose in pieces:
        if prose:
            for match in _LINK_START.finditer(text, offset, offset + len(piece)):
                if not safe_destination(text, match.end()):
                    out.append(text[pos : match.end()])
                    out.append("#")
                    pos = match.end()
        offset += len(piece)
    out.append(text[pos:])
    return "".join(out)


def _defuse_paragraph(text: str) -> str:
    """Prose between code spans: typeset, then defused; code spans kept (or re-emitted escaped)."""
    pieces = [
        (_defuse_code_span(piece), False) if code else (_defuse_inert(typeset_prose(piece)), True)
        for piece, code in _code_spans(text)
    ]
    return _with_safe_links(pieces)


def _defuse_lines(text: str) -> str:
    """Blocks between blank lines, each on its own: no inline construct crosses a blank line."""
    parts = _PARAGRAPH_BREAK.split(text)
    return "".join(part if i % 2 else _defuse_block(part) for i, part in enumerate(parts))


def _defuse_block(text: str) -> str:
    """A paragraph's worth of lines. Line ends before its first line or after its last (next to a
    code block) are not line breaks inside it: they stay as they are."""
    body = text.strip("\n")
    if not body:
        return text
    start = len(text) - len(text.lstrip("\n"))
    return text[:start] + _defuse_paragraph(body) + text[start + len(body) :]


def _canonical_fence(token: Token) -> str:
    """A top-level code block re-fenced so that nothing inside it can end it early."""
    body = token.content
    longest = max((len(run) for run in _TICKS.findall(body)), default=0)
    fence = "`" * max(3, longest + 1)
    words = token.info.split() if token.type == "fence" else []
    lang = _LANG.sub("", words[0])[:40] if words else ""
    if body and not body.endswith("\n"):
        body += "\n"
    return f"{fence}{lang}\n{body}{fence}"


def _nested_code(lines: list[str]) -> str:
    """A code block inside a list or quote: layout kept, defused as if it were prose (a renderer
    that nests it differently reads it as prose), but no math or line-break typesetting."""
    return _with_safe_links([("\n".join(_defuse_inert(line) for line in lines), True)])


def neutralise_markdown(text: str) -> str:
    """Untrusted Markdown → Markdown that renders the same but cannot inject HTML or scripts."""
    if not text:
        return ""
    src = _NEWLINES.sub("\n", text)
    lines = src.split("\n")
    out: list[str] = []
    line = 0
    for token in _block_parser().parse(src):
        if token.type not in ("fence", "code_block") or not token.map or token.map[0] < line:
            continue
        start, end = token.map
        if start > line:
            out.append(_defuse_lines("\n".join(lines[line:start])))
        out.append(_canonical_fence(token) if token.level == 0 else _nested_code(lines[start:end]))
        line = end
    if line < len(lines):
        out.append(_defuse_lines("\n".join(lines[line:])))
    return "\n".join(out)


def fence(text: str, lang: str = "") -> str:
    """Any text as a fenced code block its content cannot close (for text/code/json answers)."""
    longest = max((len(run) for run in _TICKS.findall(text)), default=0)
    marks = "`" * max(3, longest + 1)
    body = text if text.endswith("\n") or not text else text + "\n"
    return f"{marks}{_LANG.sub('', lang)[:40]}\n{body}{marks}"


__all__ = [
    "MATH_CLASS",
    "defuse_tex",
    "escape_text",
    "fence",
    "neutralise_markdown",
    "parser",
    "render_markdown",
    "sanitise_html",
]
