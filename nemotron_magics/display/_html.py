"""The HTML pieces of a response: thinking panel, answer, tool cards, notes, footer.

Everything model-made passes through :mod:`._markdown` (rendered and sanitised) or
:func:`escape_text` (escaped) before it lands in a template here; the templates themselves
are ours. Styles are inline, with JupyterLab's CSS variables and plain fallbacks, so the
output looks right in Lab, Notebook 7, VS Code and Colab without a stylesheet; the ``nm-*``
classes are hooks for the lab extension.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from .._response import ToolCall
from ._markdown import escape_text, render_markdown

_BORDER = "var(--jp-border-color2,#d0d0d0)"
_WRAP = "white-space:pre-wrap;word-break:break-word"
_PRE = _WRAP + ";margin:0"
_BADGE = (
    "font-size:.8em;padding:0 .4em;border-radius:3px;border:1px solid var(--jp-border-color2,#d0d0d0);"
    "opacity:.8"
)
#: Characters of reasoning, or of a tool call's arguments, re-sent per live update: bounded so
#: a long think costs the same per update as a short one (the whole text comes at the end).
LIVE_WINDOW = 1500


#: Keep MathJax off our prose ("$5 and $10" is money), as pandas does for its tables: MathJax 3
#: (JupyterLab 4, Notebook 7) reads ``mathjax_ignore``, MathJax 2 (classic frontends) ``tex2jax_ignore``.
#: Real math inside carries the matching ``*_process`` class (see ``_math``).
NO_MATH = "tex2jax_ignore mathjax_ignore"


def wrap(inner: str) -> str:
    """Our container, with MathJax kept off everything but marked math."""
    return f'<div class="nemotron-response {NO_MATH}">{inner}</div>'


def pre(text: str, cls: str = "nm-text", lang: str = "") -> str:
    """Escaped preformatted text; consecutive live pieces join seamlessly (no margins)."""
    code_cls = f' class="language-{escape_text(lang)}"' if lang else ""
    return f'<pre class="{cls}" style="{_PRE}"><code{code_cls}>{escape_text(text)}</code></pre>'


def segment(text: str, fmt: str) -> str:
    """One piece of an answer while it streams: Markdown rendered, anything else verbatim."""
    if not text:
        return ""
    return render_markdown(text) if fmt == "markdown" else pre(text)


def answer(text: str, fmt: str, lang: str = "") -> str:
    """The finished answer, already shaped for its format by the bundle."""
    if not text:
        return ""
    if fmt == "markdown":
        return f'<div class="nm-answer">{render_markdown(text)}</div>'
    return f'<div class="nm-answer">{pre(text, "nm-" + fmt, lang)}</div>'


def _tail(text: str, limit: int) -> tuple[str, int]:
    if len(text) <= limit:
        return text, 0
    cut = text.find("\n", len(text) - limit)
    cut = cut + 1 if 0 <= cut < len(text) - 1 else len(text) - limit
    return text[cut:], cut


def thinking(reasoning: str, summary: str, *, live: bool) -> str:
    """The collapsible panel: open and showing the latest lines while thinking, closed after."""
    if not reasoning:
        return ""
    body = reasoning
    earlier = ""
    if live:
        body, skipped = _tail(reasoning, LIVE_WINDOW)
        if skipped:
            earlier = f'<div style="opacity:.6">… {skipped:,} characters above</div>'
    return (
        f'<details class="nm-thinking"{" open" if live else ""} style="margin:0 0 .5em">'
        f'<summary style="cursor:pointer;opacity:.75">{escape_text(summary)}</summary>'
        f'<div style="{_WRAP};opacity:.72;font-size:.92em;border-left:3px solid {_BORDER};'
        f'padding:.2em 0 .2em .7em;margin:.3em 0">{earlier}{escape_text(body)}</div></details>'
    )


def _arguments(call: ToolCall, live: bool) -> tuple[str, str]:
    """(shown arguments, status) for one call."""
    if live:
        partial = call.partial_arguments()
        text = (
            json.dumps(partial, indent=2, ensure_ascii=False) if partial is not None else call.arguments_text
        )
        shown, skipped = _tail(text, LIVE_WINDOW)
        return (f"… {skipped:,} characters above\n" if skipped else "") + shown, "receiving arguments…"
    if call.arguments is not None:
        return json.dumps(call.arguments, indent=2, ensure_ascii=False), "requested"
    return call.arguments_text, call.error or "arguments incomplete"


def tool_cards(calls: Iterable[ToolCall], *, live: bool) -> str:
    cards = []
    for call in calls:
        args, status = _arguments(call, live)
        bad = not live and call.arguments is None
        color = "var(--jp-error-color1,#d32f2f)" if bad else "inherit"
        cards.append(
            f'<div class="nm-tool" style="border:1px solid {_BORDER};border-radius:6px;'
            f'padding:.35em .6em;margin:.4em 0">'
            f'<div><span style="{_BADGE}">tool</span> <code>{escape_text(call.name or "?")}</code> '
            f'<span style="opacity:.7;color:{color}">· {escape_text(status)}</span></div>'
            f'<pre style="{_WRAP};margin:.3em 0 0;font-size:.92em">{escape_text(args)}</pre></div>'
        )
    return "".join(cards)


#: The word a note starts with; words, not emoji, so every machine's fonts can show them.
NOTE_LABELS = {"cutoff": "Cut off:", "stopped": "Stopped:", "error": "Error:"}
_NOTE_STYLE = {
    "info": "opacity:.7;font-size:.9em",
    "cutoff": "color:var(--jp-warn-color1,#b26a00)",
    "stopped": "color:var(--jp-warn-color1,#b26a00)",
    "error": "color:var(--jp-error-color1,#d32f2f)",
}


def note(kind: str, text: str) -> str:
    """One note: ``info`` quiet and dim; ``cutoff``, ``stopped`` and ``error`` in colour, labelled."""
    label = NOTE_LABELS.get(kind)
    head = f"<strong>{label}</strong> " if label else ""
    style = _NOTE_STYLE.get(kind, _NOTE_STYLE["info"])
    return f'<div class="nm-note nm-{kind}" style="{style};margin-top:.4em">{head}{escape_text(text)}</div>'


def footer(text: str) -> str:
    return (
        f'<div class="nm-footer" style="opacity:.6;font-size:.85em;margin-top:.4em">{escape_text(text)}</div>'
    )


def status(text: str) -> str:
    """The live status line (provider · model · first token …) shown while streaming."""
    return f'<div class="nm-status" style="opacity:.6;font-size:.85em">{escape_text(text)}</div>'


__all__ = [
    "LIVE_WINDOW",
    "NOTE_LABELS",
    "NO_MATH",
    "answer",
    "footer",
    "note",
    "pre",
    "segment",
    "status",
    "thinking",
    "tool_cards",
    "wrap",
]
