"""Whether a Markdown link destination is safe, judged by what it can turn into in a browser.

A list of bad characters always misses one: JupyterLab's renderer (marked) skips any Unicode
space before a destination (NBSP, U+2000–U+200A, U+3000, U+FEFF …), CommonMark skips only ASCII
ones; renderers decode backslash escapes and character references, and some emit ``&`` raw so
the browser decodes a second time; the browser's URL parser then drops C0 controls and spaces
at the ends and tab/newline anywhere. So a destination is judged by the *widest* reading: every
decoding applied until nothing changes, everything any of them may strip stripped. It is safe
only if that reading is relative or has an http, https or mailto scheme.

Where renderers disagree is the end of a destination (which spaces end it, which parentheses
balance); where they all agree is its start. A scheme is decided by the first characters after
that start, so the check reads from the start up to the first character that settles it (one
that no decoding removes and no scheme contains) and never needs the end. That also keeps it
linear: such a character ends every reading, so two checks never read the same text twice.
"""

from __future__ import annotations

import html
import re
import unicodedata
from urllib.parse import unquote

SAFE_SCHEMES = frozenset({"http", "https", "mailto"})

# ASCII punctuation that can be neither in a scheme nor part of something a decoding turns into
# one (character references are & # ; and alphanumerics, percent escapes % and hex digits,
# backslash escapes \ and the punctuation itself, kept): the first of these settles the scheme.
_SETTLES = re.compile(r"[!\"$'()*,/=>?@\[\]^_`{|}~]")
_BACKSLASH_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")
_SCHEME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-.")
# Renderer backslash escapes, renderer and browser character references, percent escapes, and
# one round to see nothing changes; text still changing after that is nested on purpose.
_MAX_DECODINGS = 5


def _decoded(url: str) -> str | None:
    """``url`` after every decoding a renderer or a browser may apply, or None if it never settles."""
    for _ in range(_MAX_DECODINGS):
        decoded = unquote(html.unescape(_BACKSLASH_ESCAPE.sub(r"\1", url)))
        if decoded == url:
            return url
        url = decoded
    return None


def _invisible(ch: str) -> bool:
    """Controls and format characters: some renderer or browser may drop them (more than any does)."""
    return unicodedata.category(ch) in ("Cc", "Cf")


def _leading_junk(ch: str) -> bool:
    """What may be skipped before a destination: any space, control, format character, or '<'."""
    return ch.isspace() or ch == "<" or _invisible(ch)


def resolved_scheme(url: str) -> str | None:
    """The scheme a browser would give ``url`` once decoded and stripped ('' if it never settles).

    None means relative (or a fragment, or protocol-relative): no scheme of its own.
    """
    decoded = _decoded(url)
    if decoded is None:
        return ""
    i, n = 0, len(decoded)
    while i < n and _leading_junk(decoded[i]):
        i += 1
    scheme: list[str] = []
    for ch in decoded[i:]:
        if ch == ":":
            return "".join(scheme).lower() if scheme and scheme[0].isalpha() else None
        if ch in _SCHEME_CHARS:
            scheme.append(ch)
        elif not _invisible(ch):
            return None  # a character no scheme has: relative
    return None


def safe_url(url: str) -> bool:
    """Relative, or http/https/mailto, however a renderer and a browser read it."""
    scheme = resolved_scheme(url)
    return scheme is None or scheme in SAFE_SCHEMES


def safe_destination(text: str, start: int) -> bool:
    """Whether the link destination that begins at ``text[start]`` (after ``](`` or ``]:``) is safe.

    Reads up to and including the first character that settles the scheme; anything after it
    cannot change the verdict, wherever a renderer ends the destination.
    """
    settles = _SETTLES.search(text, start)
    end = len(text) if settles is None else settles.end()
    return safe_url(text[start:end])


__all__ = ["SAFE_SCHEMES", "resolved_scheme", "safe_destination", "safe_url"]
