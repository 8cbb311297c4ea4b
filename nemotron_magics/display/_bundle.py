"""The complete mimebundle of a response: one JSON document for our renderer, three fallbacks.

``application/vnd.nemotron.response+json`` carries everything needed to render the response
(so the JupyterLab extension never re-parses text); ``text/html``, ``text/markdown`` and
``text/plain`` let VS Code, Colab, Notebook 7, nbviewer and GitHub show the same thing. The
JSON document's shape is ``response.schema.json`` next to this file; bump
:data:`SCHEMA_VERSION` when it changes incompatibly.
"""

from __future__ import annotations

import dataclasses
import html
import json
import re
from typing import Any

from .._formats import FORMATS, TABLE_ROWS, Shaped, get_format
from .._response import Response, ToolCall
from . import _html
from ._markdown import defuse_tex, fence, neutralise_markdown
from ._summary import footer_parts

MIME = "application/vnd.nemotron.response+json"
SCHEMA_VERSION = 1
_MD_PUNCT = re.compile(r"([\\`*_\[\]#$|~!>{}()+\-.])")


def check_format(fmt: str) -> str:
    """The format's name, or a ValueError naming the choices (the one check, in :mod:`._formats`)."""
    return get_format(fmt).name


def shape(content: str, fmt: str) -> Shaped:
    """``content`` shaped as format ``fmt`` shows it (the formats do the work)."""
    r = Response()
    r._content = [content]
    return get_format(fmt).shape(r)


def thinking_summary(r: Response, *, now: float | None = None) -> str:
    """ "Thinking… 3.2 s" while it lasts; "Thought for 3.2 s · 812 reasoning tokens" after.

    No emoji: a stock Linux machine has no emoji font, and they render as empty boxes.
    """
    t = r.timings
    start = t.first_reasoning
    if now is not None:
        return "Thinking…" + (f" {now - start:.1f} s" if start is not None else "")
    end = t.first_answer if t.first_answer is not None else t.done
    text = f"Thought for {end - start:.1f} s" if start is not None and end is not None else "Thinking"
    tokens = r.usage.reasoning_tokens if r.usage is not None else None
    if tokens:
        text += f" · {tokens:,} reasoning tokens"
    return text


#: Note kinds: ``info`` (quiet), ``cutoff`` (in the answer's place), and the two a raised error
#: repeats — ``stopped`` and ``error`` — which a display that raises right after leaves out.
BANNERS = frozenset({"stopped", "error"})


def cutoff_note(r: Response) -> str | None:
    """What to say when the token limit ended the answer: plainly, with the remedy."""
    if r.finish_reason != "length":
        return None
    if not r.content.strip() and not r.tool_calls:
        return (
            "No answer: the token limit (max_tokens) ran out while the model was still thinking. "
            "Raise --max-tokens (give thousands) or lower --reasoning (low or off)."
        )
    return "The answer was cut off by the token limit (max_tokens); raise --max-tokens for the rest."


def notes(r: Response, *, banners: bool = True) -> list[tuple[str, str]]:
    """The notes a finished response needs, in reading order.

    ``banners=False`` leaves out "stopped" and "error": the cell's own error line says them,
    and saying a thing twice reads as two problems.
    """
    out: list[tuple[str, str]] = [("info", text) for text in r.notices]
    cut = cutoff_note(r)
    if cut:
        out.append(("cutoff", cut))
    if banners and r.finish_reason == "cancelled":
        kept = (
            "the partial answer above is kept" if (r.content or r.tool_calls) else "before any answer arrived"
        )
        out.append(("stopped", f"Stopped by the user; {kept}."))
    if banners and r.error is not None:
        out.append(("error", str(r.error).strip() or "stream error"))
    return out


def tool_call_payload(call: ToolCall, done: bool) -> dict[str, Any]:
    arguments = call.arguments
    if arguments is None and not done:
        partial = call.partial_arguments()
        arguments = partial if isinstance(partial, dict) else None
    return {
        "index": call.index,
        "id": call.id,
        "name": call.name,
        "arguments_text": call.arguments_text,
        "arguments": arguments,
        "error": call.error,
        "status": call.status,
        "result": call.result,
        "duration": call.duration,
    }


def round_payload(r: Response) -> dict[str, Any]:
    """An earlier round of a tool loop, for the renderer: what it thought, said and called."""
    return {
        "reasoning": r.reasoning,
        "thinking": thinking_summary(r),
        "content": r.content,
        "tool_calls": [tool_call_payload(c, r.done) for c in r.tool_calls],
        "usage": dataclasses.asdict(r.usage) if r.usage is not None else None,
    }


def earlier_rounds(r: Response) -> list[Response]:
    """The rounds before the answer (none without a tool loop)."""
    return r.rounds[:-1] if len(r.rounds) > 1 else []


def payload(r: Response, fmt: str, shaped: Shaped, said: list[tuple[str, str]]) -> dict[str, Any]:
    """The ``application/vnd.nemotron.response+json`` document (see response.schema.json)."""
    t = r.timings
    doc: dict[str, Any] = {
        "version": SCHEMA_VERSION,
        "format": fmt,
        "provider": r.provider,
        "model": r.model,
        "content": r.content,
        "reasoning": r.reasoning,
        # The thinking panel's summary line ("Thought for 3.2 s · 812 reasoning tokens").
        "thinking": thinking_summary(r),
        "tool_calls": [tool_call_payload(c, r.done) for c in r.tool_calls],
        "usage": dataclasses.asdict(r.total_usage) if r.total_usage is not None else None,
        "rounds": [round_payload(x) for x in earlier_rounds(r)],
        "timings": {
            "sent_at": t.sent_at,
            "first_byte": t.first_byte,
            "first_reasoning": t.first_reasoning,
            "first_answer": t.first_answer,
            "first_token": t.first_token,
            "done": t.done,
        },
        "tokens_per_second": r.tokens_per_second,
        "finish_reason": r.finish_reason,
        "done": r.done,
        "error": str(r.error) if r.error is not None else None,
        "footer": footer_parts(r),
        "notes": [{"kind": kind, "text": text} for kind, text in said],
    }
    if fmt in ("json", "code", "schema"):
        doc["answer"] = {"text": shaped.text, "language": shaped.language or None}
        if shaped.has_data:
            doc["data"] = shaped.data
        if shaped.data_error:
            doc["data_error"] = shaped.data_error
    if fmt == "schema":
        schema = r.schema
        doc["structured"] = {
            "schema": schema.name if schema is not None else None,
            "valid": shaped.has_data,
            "validation_errors": shaped.validation_errors,
            "repairs": shaped.repairs,
            "table": shaped.table,
            "shape": shaped.table_shape or None,
        }
    return doc


def html_text(r: Response, fmt: str, shaped: Shaped, said: list[tuple[str, str]]) -> str:
    parts = [
        *(_html.round_html(x, thinking_summary(x)) for x in earlier_rounds(r)),
        _html.thinking(r.reasoning, thinking_summary(r), live=False),
        _html.structured(shaped) if fmt == "schema" else _html.answer(shaped.text, fmt, shaped.language),
        _html.tool_cards(r.tool_calls, live=False),
        *(_html.note(kind, text) for kind, text in said),
        _html.footer(" · ".join(footer_parts(r))),
    ]
    return _html.wrap("".join(parts))


def md_escape(text: str) -> str:
    """Our own short strings (footer, notes) as literal Markdown text."""
    return defuse_tex(_MD_PUNCT.sub(r"\\\1", text).replace("&", "&amp;").replace("<", "&lt;"))


def _md_thinking(r: Response) -> list[str]:
    if not r.reasoning:
        return []
    summary = html.escape(thinking_summary(r))  # inside <summary>: HTML, not Markdown
    return [f"<details><summary>{summary}</summary>\n\n{neutralise_markdown(r.reasoning)}\n\n</details>"]


def _md_calls(calls: list[ToolCall]) -> list[str]:
    blocks = []
    for call in calls:
        args = (
            json.dumps(call.arguments, indent=2, ensure_ascii=False)
            if call.arguments is not None
            else call.arguments_text
        )
        status = "" if call.status == "requested" else f" · {md_escape(call.status)}"
        if call.error:
            status += f" · {md_escape(call.error)}"
        block = f"**Tool call** {md_escape(call.name or '?')}{status}\n\n{fence(args, 'json')}"
        if call.result and call.status not in _html.FAILED:
            block += f"\n\n{fence(call.result)}"
        blocks.append(block)
    return blocks


def markdown_text(r: Response, fmt: str, shaped: Shaped, said: list[tuple[str, str]]) -> str:
    blocks: list[str] = []
    for earlier in earlier_rounds(r):
        blocks += _md_thinking(earlier)
        if earlier.content.strip():
            blocks.append(neutralise_markdown(earlier.content))
        blocks += _md_calls(earlier.tool_calls)
    blocks += _md_thinking(r)
    if fmt == "schema":
        blocks += _md_structured(shaped)
    elif shaped.text:
        if fmt == "markdown":
            blocks.append(neutralise_markdown(shaped.text))
        else:
            blocks.append(fence(shaped.text, shaped.language))
    blocks += _md_calls(r.tool_calls)
    for kind, text in said:
        label = _html.NOTE_LABELS.get(kind, "")
        blocks.append(f"{'**' + label + '** ' if label else ''}*{md_escape(text)}*")
    blocks.append(f"<sub>{md_escape(' · '.join(footer_parts(r)))}</sub>")
    return "\n\n".join(blocks) + "\n"


def _md_structured(shaped: Shaped) -> list[str]:
    blocks = []
    if shaped.table_html:
        blocks.append(shaped.table_html)  # sanitised: Markdown renderers show HTML tables
        if shaped.table_shape:
            blocks.append(f"*{md_escape(shaped.table_shape)}*")
    elif shaped.text:
        blocks.append(fence(shaped.text, "json"))
    if shaped.validation_errors:
        blocks.append("**Not valid against the schema:**")
        blocks.append(fence("\n".join(shaped.validation_errors)))
    return blocks


def _plain_call(c: ToolCall) -> str:
    line = f"→ tool call {c.name}({c.arguments_text})"
    if c.status != "requested":
        line += f" · {c.status}: {c.error or c.result or ''}"
    return line


def plain_text(r: Response, fmt: str, shaped: Shaped, said: list[tuple[str, str]]) -> str:
    """The answer as it is (what ``print`` and a terminal show), then tool calls, notes, footer."""
    earlier = [_plain_call(c) for x in earlier_rounds(r) for c in x.tool_calls]
    lines = [_plain_call(c) for c in r.tool_calls]
    lines += [f"[{text}]" for _, text in said]
    lines.append(" · ".join(footer_parts(r)))
    head = shaped.text.rstrip("\n")
    if fmt == "schema":
        head = _plain_structured(r, shaped)
    before = "\n".join(earlier) + "\n\n" if earlier else ""
    return before + (head + "\n\n" if head else "") + "\n".join(lines)


def _plain_structured(r: Response, shaped: Shaped) -> str:
    if shaped.has_data:
        try:
            frame = r.to_dataframe()
        except Exception:
            return shaped.text
        out = str(frame.head(TABLE_ROWS).to_string(index=False))
        return out + (f"\n[{shaped.table_shape}]" if shaped.table_shape else "")
    errors = "\n".join(f"  {e}" for e in shaped.validation_errors)
    return f"{shaped.text.rstrip()}\n\nNot valid against the schema:\n{errors}"


def mimebundle(response: Response, *, format: str = "markdown", banners: bool = True) -> dict[str, Any]:
    """The complete display of a response, for ``display(..., raw=True)`` and ``_repr_mimebundle_``.

    ``banners=False`` when the caller raises the stop or the error right after (see :func:`notes`).
    """
    form = get_format(format, response)  # a response with a schema is shown as its table
    fmt = form.name
    shaped = form.shape(response)  # once: JSON is parsed once, and Response.data reuses it
    said = notes(response, banners=banners)
    return {
        MIME: payload(response, fmt, shaped, said),
        "text/html": html_text(response, fmt, shaped, said),
        "text/markdown": markdown_text(response, fmt, shaped, said),
        "text/plain": plain_text(response, fmt, shaped, said),
    }


__all__ = [
    "BANNERS",
    "FORMATS",
    "MIME",
    "SCHEMA_VERSION",
    "Shaped",
    "check_format",
    "cutoff_note",
    "html_text",
    "markdown_text",
    "mimebundle",
    "notes",
    "payload",
    "plain_text",
    "round_payload",
    "shape",
    "thinking_summary",
    "tool_call_payload",
]
