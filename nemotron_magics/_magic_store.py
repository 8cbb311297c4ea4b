"""``%nemotron history [N] [--search TEXT]`` and ``%nemotron usage [--since DATE]``: the store's twins
of ``nm.history()`` and ``nm.usage()``, with the flags checked into one-line usage errors."""

from __future__ import annotations

from typing import Any

from IPython.core.error import UsageError

from ._errors import ConfigurationError


def history_command(words: list[str]) -> Any:
    from ._history import history

    n: int | None = 20
    search: str | None = None
    rest = list(words)
    if "--search" in rest:
        at = rest.index("--search")
        search = " ".join(rest[at + 1 :])
        rest = rest[:at]
        if not search.strip():
            raise UsageError("%nemotron history --search needs words to look for")
    if len(rest) > 1:
        raise UsageError(f"%nemotron history takes [N] [--search TEXT], got {' '.join(words)!r}")
    if rest:
        if not rest[0].isdigit() or int(rest[0]) < 1:
            raise UsageError(f"%nemotron history N: N is how many calls to show (1 or more), got {rest[0]!r}")
        n = int(rest[0])
    try:
        return history(n, search=search)
    except ConfigurationError as exc:
        raise UsageError(f"%nemotron history: {exc.message}") from None


def usage_command(words: list[str]) -> Any:
    """Totals from the store per provider, model and day; without a store, this kernel's ledger."""
    from ._history import usage
    from ._store import store_path
    from ._tables import usage_table

    since: str | None = None
    if words:
        if words[0] != "--since" or len(words) != 2:
            raise UsageError(f"%nemotron usage takes [--since DATE], got {' '.join(words)!r}")
        since = words[1]
    if store_path() is None:
        if since is not None:
            raise UsageError("%nemotron usage --since reads the store, which is off (NEMOTRON_STORE=off)")
        return usage_table()
    try:
        frame = usage(since)
    except ConfigurationError as exc:
        raise UsageError(f"%nemotron usage: {exc.message}") from None
    return usage_store_table(frame, since)


def usage_store_table(frame: Any, since: str | None) -> Any:
    """The store's usage as a table every column of which reads in a notebook and a terminal."""
    import pandas as pd

    from ._tables import USAGE_HEADERS, Table

    def count(value: Any) -> str:
        return "unknown" if pd.isna(value) else f"{int(value):,}"

    rows = [
        [
            str(r.day),
            r.provider,
            r.model,
            f"{int(r.requests):,}",
            count(r.prompt_tokens),
            count(r.completion_tokens),
            count(r.reasoning_tokens),
            "unknown" if pd.isna(r.cost) else f"${r.cost:.6f}",
        ]
        for r in frame.itertuples(index=False)
    ]
    title = "Nemotron usage from the store (every kernel)" + (f" since {since}" if since else "")
    note = "" if rows else "No calls recorded yet."
    columns = ["day", *USAGE_HEADERS]
    return Table(title, columns, rows, note=note + " nm.usage() returns it as a DataFrame.")


__all__ = ["history_command", "usage_command"]
