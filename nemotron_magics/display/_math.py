"""Which text is TeX: ``$$…$$``, ``\\(…\\)`` and ``\\[…\\]`` are; a single ``$`` never is.

A chat answer says "$0.09 / $0.45" far more often than it writes inline math with single
dollars, and JupyterLab typesets both alike: prices turn into garbled italics. So the HTML view
marks only real LaTeX for MathJax (a ``mathjax_process`` span inside a container marked
``mathjax_ignore``; each with its MathJax 2 ``tex2jax_`` twin), and the Markdown fallback
escapes every other ``$`` as ``\\$`` (honoured by
JupyterLab's math detection and by marked). The fallback also turns each line end of a
paragraph into a hard break: a model writes a poem or an address one line per line.

Both passes are linear in the answer: no opener rescans the rest of the text.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from markdown_it.rules_inline import StateInline

#: The classes that make MathJax typeset inside our container (``_html.NO_MATH``): MathJax 3
#: (JupyterLab 4, Notebook 7) reads ``mathjax_process``, MathJax 2 ``tex2jax_process``.
MATH_CLASS = "tex2jax_process mathjax_process"
# Real LaTeX delimiters, opener → closer. A single '$' is never one: "$5 and $10" is money.
MATH_CLOSERS = {"$$": "$$", "\\(": "\\)", "\\[": "\\]"}


def _closer_last(state: StateInline, closer: str) -> int:
    """Where ``closer`` last occurs in this inline run: one scan per run, however many openers."""
    cache: dict[str, int] | None = getattr(state, "_nm_math_last", None)
    if cache is None:
        cache = {}
        state._nm_math_last = cache  # type: ignore[attr-defined]
    if closer not in cache:
        cache[closer] = state.src.rfind(closer)
    return cache[closer]


def math_rule(state: StateInline, silent: bool) -> bool:
    """``$$…$$``, ``\\(…\\)``, ``\\[…\\]`` as one math token; tried before backslash escapes.

    A code span that starts first wins (markdown-it tries rules at each position, left to right),
    so code never gets math. Linear: an opener whose closer is past the last one fails at once,
    and a found closer is consumed with everything before it.
    """
    src, pos = state.src, state.pos
    opener = src[pos : pos + 2]
    closer = MATH_CLOSERS.get(opener)
    if closer is None:
        return False
    begin = pos + 2
    if _closer_last(state, closer) < begin:
        return False
    end = src.find(closer, begin, state.posMax)
    if end < 0 or not src[begin:end].strip():
        return False
    if not silent:
        token = state.push("math_inline", "math", 0)
        token.content = src[begin:end]
        token.markup = opener
    state.pos = end + len(closer)
    return True


# In prose: an escaped character (kept), '$$' (math when paired), a lone '$' (money).
_DOLLARS = re.compile(r"\\[\s\S]|\$\$|\$")
# A line end inside a paragraph that is not a hard break yet: no backslash or two spaces before
# it, and the next line starts no block of its own (list item, heading, setext underline, table
# row), where a break would only leave trailing spaces in the block before. ('>' may continue a
# quoted paragraph, so a line before one gets its break.)
_SOFT_BREAK = re.compile(
    r"(?<!\\)(?<!  )\n(?![ \t]{0,3}(?:[-+*][ \t]|\d{1,9}[.)][ \t]|#{1,6}(?:[ \t]|$)|[=\-]+[ \t]*$|\|))",
    re.MULTILINE,
)


def _math_ranges(text: str) -> tuple[list[tuple[int, int]], list[int]]:
    """Paired ``$$…$$`` spans in ``text``, and the positions of every other unescaped '$'."""
    doubles: list[int] = []
    singles: list[int] = []
    for token in _DOLLARS.finditer(text):
        if token.group() == "$$":
            doubles.append(token.start())
        elif token.group() == "$":
            singles.append(token.start())
    pairs: list[tuple[int, int]] = []
    for open_at, close_at in zip(doubles[::2], doubles[1::2], strict=False):
        if text[open_at + 2 : close_at].strip():
            pairs.append((open_at, close_at + 2))
        else:
            singles += [open_at, open_at + 1, close_at, close_at + 1]
    if len(doubles) % 2:
        singles += [doubles[-1], doubles[-1] + 1]
    return pairs, singles


def typeset_prose(text: str) -> str:
    """Money stays money, a line end stays a line end: the two ways a renderer misreads a chat answer.

    Every '$' outside ``$$…$$`` becomes ``\\$`` (JupyterLab's math detection and marked both
    honour it), and each line end outside math becomes a hard break (two spaces before it).
    """
    if "$" not in text and "\n" not in text:
        return text
    pairs, singles = _math_ranges(text) if "$" in text else ([], [])
    # (start, end, is_math): a lone '$' to escape, or a math span to keep exactly as written.
    cuts = sorted([(at, at + 1, False) for at in singles] + [(a, b, True) for a, b in pairs])
    out: list[str] = []
    pos = 0
    for start, end, is_math in cuts:
        if start < pos:
            continue  # a '$' inside a math pair: part of the math
        out.append(_SOFT_BREAK.sub("  \n", text[pos:start]))
        out.append(text[start:end] if is_math else "\\$")
        pos = end
    out.append(_SOFT_BREAK.sub("  \n", text[pos:]))
    return "".join(out)


__all__ = ["MATH_CLASS", "MATH_CLOSERS", "math_rule", "typeset_prose"]
