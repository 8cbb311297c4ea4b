"""The footer line every display shows: who answered, tokens, speed, cost."""

from __future__ import annotations

from .._providers import PROVIDERS
from .._response import Response

#: Said on every answer from the embedded engine, so nobody mistakes it for Nemotron.
EMBEDDED_NOTE: str = PROVIDERS["embedded"].answer_note or ""


def _tokens(n: int | None) -> str:
    return "?" if n is None else f"{n:,}"


def footer_parts(r: Response) -> list[str]:
    """Short facts in reading order; a display joins them with ' · '."""
    parts = [r.provider or "?", r.model or "?"]
    provider = PROVIDERS.get(r.provider)
    if provider is not None and provider.answer_note:
        # The note names the provider's own model; another model keeps its id beside the note.
        own = r.model == provider.model
        parts[1:] = [provider.answer_note] if own else [r.model, provider.answer_note]
    if len(r.rounds) > 1:
        parts.append(f"{len(r.rounds)} rounds")
    u = r.total_usage  # a tool loop's footer counts every round
    if u is not None:
        tokens = f"{_tokens(u.prompt_tokens)} in / {_tokens(u.completion_tokens)} out"
        if u.reasoning_tokens:
            tokens += f" ({u.reasoning_tokens:,} reasoning)"
        if u.cached_tokens:
            tokens += f" / {u.cached_tokens:,} cached"
        parts.append(tokens)
    t = r.timings
    if t.first_token is not None:
        parts.append(f"first token {t.first_token:.2f}s")
    tps = r.tokens_per_second
    if tps is not None:
        parts.append(f"{tps:,.0f} tok/s")
    if u is not None and u.cost is not None:
        parts.append(
            f"{'~' if u.cost_is_estimate else ''}${u.cost:.6f}{' (estimate)' if u.cost_is_estimate else ''}"
        )
    if r.cached:
        parts.append("cached")  # from the response cache: no request was made, nothing was paid
    if r.finish_reason not in (None, "stop", "tool_calls"):
        parts.append(
            {"cancelled": "stopped", "length": "cut off (max_tokens)"}.get(r.finish_reason, r.finish_reason)
        )
    return parts


def footer(r: Response) -> str:
    return " · ".join(footer_parts(r))
