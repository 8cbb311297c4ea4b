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
from typing import Any

from .._response import PENDING_STATUSES, Response, ToolCall
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


def structured(shaped: Any) -> str:
    """A validated answer as its table (and the JSON tree), or the raw text with what is wrong."""
    parts = []
    if shaped.table_html:
        parts.append(f'<div class="nm-table-wrap" style="overflow-x:auto">{shaped.table_html}</div>')
        if shaped.table_shape:
            parts.append(f'<div class="nm-shape">{escape_text(shaped.table_shape)}</div>')
        if shaped.text and isinstance(shaped.data, dict) and shaped.table_shape.startswith("1 row "):
            # one object: the one-row frame, and the object itself as a collapsible JSON tree
            parts.append(
                f"<details><summary>JSON</summary>{pre(shaped.text, 'nm-json', 'json')}</details>"
            )
    elif shaped.text:
        parts.append(pre(shaped.text, "nm-json", "json"))
    if shaped.validation_errors:
        items = "".join(f"<li>{escape_text(e)}</li>" for e in shaped.validation_errors)
        parts.append(
            '<div class="nm-note nm-note-error"><strong>Not valid against the schema:</strong>'
            f"<ul>{items}</ul></div>"
        )
    for repair in shaped.repairs:
        parts.append(f'<div class="nm-note nm-note-info">Repaired: {escape_text(repair)}</div>')
    return f'<div class="nm-answer nm-structured">{"".join(parts)}</div>'


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


#: Statuses that mean the call did not give the model what it asked for: a red card.
FAILED = frozenset({"error", "invalid", "unknown", "timeout", "denied"})
#: A result longer than this is folded: its start shows, the rest opens on a click.
RESULT_PREVIEW = 400


def _arguments(call: ToolCall, live: bool) -> str:
    """The arguments as the card shows them: pretty JSON, filling in while they stream."""
    if call.arguments is not None:
        return json.dumps(call.arguments, indent=2, ensure_ascii=False)
    if live:
        partial = call.partial_arguments()
        text = (
            json.dumps(partial, indent=2, ensure_ascii=False) if partial is not None else call.arguments_text
        )
        shown, skipped = _tail(text, LIVE_WINDOW)
        return (f"… {skipped:,} characters above\n" if skipped else "") + shown
    return call.arguments_text


def _status(call: ToolCall, live: bool) -> str:
    if call.status == "requested":
        if live and call.arguments is None:
            return "receiving arguments…"
        if call.arguments is None:
            return call.error or "arguments incomplete"
        return "requested"
    text = {"running": "running…", "waiting for approval": "waiting for approval"}.get(
        call.status, call.status
    )
    if call.duration is not None and call.status not in PENDING_STATUSES:
        text += f" · {call.duration:.2f} s" if call.duration >= 0.01 else " · < 0.01 s"
    return text


def _result(call: ToolCall) -> str:
    """What went back to the model, folded when long; a failure's own words in red."""
    shown = call.error if call.status in FAILED and call.error else call.result
    if not shown:
        return ""
    style = f"{_WRAP};margin:.3em 0 0;font-size:.92em;border-top:1px dashed {_BORDER};padding-top:.3em"
    if len(shown) <= RESULT_PREVIEW:
        return f'<pre class="nm-tool-result" style="{style}">{escape_text(shown)}</pre>'
    head, rest = shown[:RESULT_PREVIEW], len(shown) - RESULT_PREVIEW
    return (
        f'<details class="nm-tool-result"><summary style="cursor:pointer;opacity:.75">'
        f"result: {len(shown):,} characters (show all)</summary>"
        f'<pre style="{style}">{escape_text(shown)}</pre></details>'
        f'<pre style="{style};opacity:.8">{escape_text(head)}… ({rest:,} more)</pre>'
    )


def tool_cards(calls: Iterable[ToolCall], *, live: bool) -> str:
    """One card per call: name, arguments, status (and time), the result or what went wrong."""
    cards = []
    for call in calls:
        failed = call.status in FAILED or (not live and call.status == "requested" and call.arguments is None)
        color = "var(--jp-error-color1,#d32f2f)" if failed else "inherit"
        border = "var(--jp-error-color1,#d32f2f)" if failed else _BORDER
        status, args = escape_text(_status(call, live)), escape_text(_arguments(call, live))
        cards.append(
            f'<div class="nm-tool nm-tool-{escape_text(call.status.split()[0])}" '
            f'style="border:1px solid {border};border-radius:6px;padding:.35em .6em;margin:.4em 0">'
            f'<div><span style="{_BADGE}">tool</span> <code>{escape_text(call.name or "?")}</code> '
            f'<span class="nm-tool-status" style="opacity:.75;color:{color}">· {status}'
            "</span></div>"
            f'<pre style="{_WRAP};margin:.3em 0 0;font-size:.92em">{args}</pre>'
            f"{_result(call)}</div>"
        )
    return "".join(cards)


def round_html(r: Response, summary: str) -> str:
    """A finished round of a tool loop: its thinking, what it said, its calls and their results."""
    parts = [
        thinking(r.reasoning, summary, live=False),
        f'<div class="nm-answer">{render_markdown(r.content)}</div>' if r.content.strip() else "",
        tool_cards(r.tool_calls, live=False),
    ]
    return f'<div class="nm-round">{"".join(parts)}</div>'


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
    "FAILED",
    "LIVE_WINDOW",
    "NOTE_LABELS",
    "NO_MATH",
    "answer",
    "footer",
    "note",
    "pre",
    "round_html",
    "segment",
    "status",
    "thinking",
    "tool_cards",
    "wrap",
]
