"""``nm.history()`` and ``nm.usage()``: the store read back as DataFrames.

History is every finished call, newest first, from every kernel that shared the store; a search
uses SQLite's FTS5 over the prompt, the answer and the reasoning (each word must appear). Usage
sums history per provider, model and day (local time), so it spans sessions; an answer served
from the cache made no call and is not in either.
"""

from __future__ import annotations

import datetime as _dt
import json
from typing import TYPE_CHECKING, Any

from ._errors import ConfigurationError

if TYPE_CHECKING:
    import pandas

HISTORY_COLUMNS = (
    "time",
    "provider",
    "model",
    "prompt",
    "answer",
    "reasoning",
    "error",
    "finish_reason",
    "prompt_tokens",
    "completion_tokens",
    "reasoning_tokens",
    "cost",
    "latency_s",
    "params",
    "messages",
    "tool_calls",
)
USAGE_COLUMNS = (
    "day",
    "provider",
    "model",
    "requests",
    "prompt_tokens",
    "completion_tokens",
    "reasoning_tokens",
    "cost",
)


def _pandas() -> Any:
    try:
        import pandas as pd
    except ModuleNotFoundError:
        raise ConfigurationError(
            "history and usage are DataFrames: pip install pandas (or nemotron-magics[notebook])"
        ) from None
    return pd


def _store() -> Any:
    from ._store import get_store

    store = get_store()
    if store is None:
        raise ConfigurationError(
            "The store is off (NEMOTRON_STORE=off or store=off), so there is no history: "
            "unset it, or set NEMOTRON_STORE to a file path"
        )
    return store


def fts_query(text: str) -> str:
    """Words as FTS5 phrases: punctuation, quotes and FTS operators in the text are searched for,
    never interpreted."""
    words = text.split()
    return " ".join('"' + w.replace('"', '""') + '"' for w in words)


def history(n: int | None = 20, search: str | None = None) -> pandas.DataFrame:
    """The last ``n`` finished calls (all with ``n=None``), newest first; ``search`` filters by words."""
    pd = _pandas()
    if n is not None and (type(n) is not int or n < 1):
        raise ConfigurationError(f"history's n must be a whole number of at least 1, got {n!r}")
    where, args = "", []
    if search is not None and search.strip():
        where = "WHERE h.id IN (SELECT rowid FROM history_text WHERE history_text MATCH ?)"
        args.append(fts_query(search))
    limit = "" if n is None else f"LIMIT {n}"
    rows = _store().read(
        "SELECT h.time, h.provider, h.model, h.prompt, h.answer, h.reasoning, h.error, h.finish_reason, "
        "h.prompt_tokens, h.completion_tokens, h.reasoning_tokens, h.cost, h.latency, h.params, "
        f"h.messages, h.tool_calls FROM history h {where} ORDER BY h.time DESC, h.id DESC {limit}",
        args,
    )
    frame: pandas.DataFrame = pd.DataFrame.from_records(rows, columns=list(HISTORY_COLUMNS))
    frame["time"] = pd.to_datetime(frame["time"], unit="s", utc=True).dt.tz_convert(None)
    for name in ("params", "messages", "tool_calls"):
        frame[name] = [json.loads(v) if v else None for v in frame[name]]
    for name in ("prompt_tokens", "completion_tokens", "reasoning_tokens"):
        frame[name] = frame[name].astype("Int64")
    frame["cost"] = frame["cost"].astype("float64")
    frame["latency_s"] = frame["latency_s"].astype("float64")
    return frame


def _since(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, _dt.datetime):
        return value.timestamp()
    if isinstance(value, _dt.date):
        return _dt.datetime(value.year, value.month, value.day).timestamp()
    if isinstance(value, str):
        try:
            return _since(_dt.datetime.fromisoformat(value.strip()))
        except ValueError:
            pass
    raise ConfigurationError(f"since must be a date such as 2026-01-31 (or a datetime), got {value!r}")


def usage(since: Any = None) -> pandas.DataFrame:
    """Tokens and cost per day, provider and model, from every session that wrote the store."""
    pd = _pandas()
    start = _since(since)
    where, args = "", []
    if start is not None:
        where, args = "WHERE time >= ?", [start]
    rows = _store().read(
        "SELECT date(time, 'unixepoch', 'localtime') AS day, provider, model, count(*), "
        "sum(prompt_tokens), sum(completion_tokens), sum(reasoning_tokens), sum(cost) "
        f"FROM history {where} GROUP BY day, provider, model ORDER BY day, provider, model",
        args,
    )
    frame: pandas.DataFrame = pd.DataFrame.from_records(rows, columns=list(USAGE_COLUMNS))
    frame["day"] = pd.to_datetime(frame["day"]).dt.date
    for name in ("requests", "prompt_tokens", "completion_tokens", "reasoning_tokens"):
        frame[name] = frame[name].astype("Int64")
    frame["cost"] = frame["cost"].astype("float64")
    return frame


__all__ = ["history", "usage"]
