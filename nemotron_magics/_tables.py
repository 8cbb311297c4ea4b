"""The tables the line magic shows: providers, usage, conversations (HTML in a notebook, text elsewhere)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from . import session as _session
from ._config import settings
from ._secrets import redact, safe_url


class Table:
    """A small table that renders as HTML in a notebook and as aligned text elsewhere."""

    def __init__(
        self, title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], note: str = ""
    ) -> None:
        # Redacted once, here: a setting's value or a URL may carry a key or a password.
        self.title, self.columns, self.note = redact(title), list(columns), redact(note)
        self.rows = [["" if cell is None else redact(str(cell)) for cell in row] for row in rows]

    def _repr_html_(self) -> str:
        import html

        from .display._html import NO_MATH  # the display package loads with the first table, not %load_ext

        head = "".join(f"<th style='text-align:left'>{html.escape(c)}</th>" for c in self.columns)
        body = "".join(
            "<tr>"
            + "".join(f"<td style='text-align:left'>{html.escape(cell)}</td>" for cell in row)
            + "</tr>"
            for row in self.rows
        )
        note = f"<p><small>{html.escape(self.note)}</small></p>" if self.note else ""
        # tex2jax_ignore: "$0.09 / $0.45" is money, not math (pandas marks its tables the same way).
        return (
            f"<div class='nemotron-table {NO_MATH}'><strong>{html.escape(self.title)}</strong>"
            f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{note}</div>"
        )

    def __str__(self) -> str:
        widths = [
            max(len(c), *(len(r[i]) for r in self.rows)) if self.rows else len(c)
            for i, c in enumerate(self.columns)
        ]
        lines = [
            self.title,
            "  ".join(c.ljust(w) for c, w in zip(self.columns, widths, strict=True)).rstrip(),
            "  ".join("-" * w for w in widths),
        ]
        lines += [
            "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
            for row in self.rows
        ]
        if self.note:
            lines.append(self.note)
        return "\n".join(lines)

    def __repr__(self) -> str:
        return str(self)

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(str(self))


def chosen_provider_name() -> tuple[str, str]:
    """Which provider a cell without -p would use now, and why; no side effects, no key read out."""
    from ._providers import choose_provider

    provider, why = choose_provider(None, settings.provider, settings.base_url)
    return provider.name, why


def _price(p: Any) -> str:
    if p.price_in is None or p.price_out is None:
        return "—"
    text = f"${p.price_in:.2f} / ${p.price_out:.2f}"
    if p.price_cached is not None:
        text += f" (cached ${p.price_cached:.2f})"
    return text


def providers_table() -> Table:
    """Every provider: whether its key is set (never the key), where it goes, what it costs."""
    from ._errors import NemotronError
    from ._providers import PROVIDERS

    chosen, why = chosen_provider_name()
    rows = []
    for p in PROVIDERS.values():
        if not p.needs_key:
            key = "not needed"
        else:
            key = ("yes" if p.key_from_env() else "no") + f" ({' or '.join(p.key_env)})"
        if p.start is not None:
            url = os.environ.get("NEMOTRON_EMBEDDED_URL") or "started on demand (llama.cpp)"
        elif p.name == chosen and settings.base_url:
            url = settings.base_url
        else:
            try:
                url = p.resolve_base_url()
            except NemotronError:
                url = f"{p.base_url} (needs {', '.join(p.url_env.values())})"
        model = p.model or "asked of the server (/models)"
        if p.name == chosen and settings.model:
            model = settings.model
        context = f"{p.context_window:,}" if p.context_window else "—"
        rows.append(
            [p.name, key, safe_url(url), model, _price(p), context, "← now" if p.name == chosen else ""]
        )
    return Table(
        "Nemotron providers",
        ["provider", "key set", "base URL", "model", "USD per M tokens in / out", "context", "chosen"],
        rows,
        note=f"Chosen now: {chosen} ({why}). Change with %config Nemotron.provider = '…' or -p per cell.",
    )


def _usage_cells(provider: str, model: str, r: _session.UsageRow) -> list[Any]:
    """One row of the usage table; a count nobody reported reads "unknown", never 0."""
    tokens = [r.tokens_text(name) for name in ("prompt", "completion", "reasoning")]
    return [provider, model, r.requests, *tokens, r.cost_text]


#: The usage tables' columns (this kernel's ledger; the store's adds the day first).
USAGE_HEADERS = (
    "provider",
    "model",
    "requests",
    "prompt tokens",
    "completion tokens",
    "of which reasoning",
    "cost (USD)",
)


def usage_table(ledger: _session.Ledger | None = None) -> Table:
    ledger = ledger or _session.LEDGER
    rows = ledger.rows()
    body = [_usage_cells(r.provider, r.model, r) for r in rows]
    if len(rows) > 1:
        body.append(_usage_cells("total", "", ledger.total()))
    notes = []
    if any(r.cost_is_estimate for r in rows):
        notes.append("~ marks an estimate from list prices (the provider reported no cost).")
    if any(r.usage_unknown for r in rows):
        notes.append("Some requests reported no token counts (stopped early, or the server does not say).")
    if not rows:
        notes.append("No requests yet.")
    return Table("Nemotron usage in this kernel", list(USAGE_HEADERS), body, note=" ".join(notes))


def _preview(text: str, width: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def chats_table() -> Table:
    rows = []
    for name, s in _session.sessions().items():
        turns = s.turns
        last = turns[-1] if turns else None
        where = f"{last.response.provider}/{last.response.model}" if last else ""
        prompt = last.user.get("content", "") if last else ""
        total = s.usage.total()
        known = min(total.prompt_known, total.completion_known)
        tokens = "unknown" if known == 0 else f"{total.prompt_tokens + total.completion_tokens:,}"
        if 0 < known < total.requests:
            tokens += f" ({known} of {total.requests} reported)"
        rows.append(
            [
                name,
                len(turns),
                where,
                _preview(prompt if isinstance(prompt, str) else str(prompt)),
                tokens,
            ]
        )
    return Table(
        "Nemotron conversations",
        ["chat", "turns", "last answered by", "last prompt", "tokens"],
        rows,
        note="" if rows else "No conversations yet: start one with %%nemotron --chat NAME.",
    )
