"""The batch engine: many prompts on the async client, a few at a time, every row kept.

- ``concurrency`` workers pull rows from one iterator, so memory stays flat however many rows
  there are (no task per row), and a row's prompt is made only when a worker takes it.
- A 429 with Retry-After pauses the whole batch (:class:`Gate`), not just the row that met it:
  a provider that says "slow down" means every request, and the rows not yet sent would only
  meet the same 429.
- Each finished row is folded at once into :class:`Columns` (the output frame's storage) and its
  :class:`Response` is let go; the store has already logged it (the completion hook) and cached a
  clean answer, so a crash loses no finished row.
- A failed row fills its ``error`` and the batch goes on; ``max_cost`` stops taking rows once
  the cost so far reaches it (rows already running finish; their cost counts).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ._errors import NemotronError, StreamError
from ._events import Retrying
from ._schema import flat_row

if TYPE_CHECKING:
    import pandas

    from ._client import AsyncClient
    from ._response import Response
    from ._schema import Schema

#: The columns every output frame ends with, in order.
META_COLUMNS = (
    "error",
    "prompt_tokens",
    "completion_tokens",
    "reasoning_tokens",
    "cost",
    "latency_s",
    "cached",
)


class BatchCancelled(KeyboardInterrupt):
    """The batch was stopped (Ctrl-C, the stop button); ``.frame`` holds every finished row.

    A KeyboardInterrupt, like :class:`~nemotron_magics.StreamCancelled`, so ``except Exception``
    never swallows a stop.
    """

    def __init__(self, frame: pandas.DataFrame | None = None, total: int = 0) -> None:
        super().__init__("batch cancelled")
        self.frame = frame
        self.total = total

    def _render_traceback_(self) -> list[str]:
        kept = 0 if self.frame is None else len(self.frame)
        return [
            f"\x1b[33mBatchCancelled\x1b[0m: stopped by the user; {kept} of {self.total} rows finished "
            "and are kept (.frame; -o VAR in a cell); run it again to finish the rest from the cache."
        ]


class RowError(Exception):
    """A row that cannot be sent (its prompt could not be made): the row's error, not the batch's."""


class Gate:
    """One pause for every row: a 429's Retry-After holds back each request not yet sent."""

    def __init__(self) -> None:
        self.until = 0.0

    def pause(self, seconds: float) -> None:
        self.until = max(self.until, time.monotonic() + seconds)

    async def wait(self) -> None:
        while (left := self.until - time.monotonic()) > 0:
            await asyncio.sleep(left)


@dataclass
class Totals:
    """What the progress bar says: rows done, errors, tokens, cost paid in this run."""

    done: int = 0
    errors: int = 0
    cached: int = 0
    tokens: int = 0
    cost: float = 0.0
    cost_known: bool = False

    def text(self) -> str:
        cost = f"${self.cost:.4f}" if self.cost_known else "cost unknown"
        cached = f" · {self.cached:,} cached" if self.cached else ""
        return f"{self.errors:,} errors{cached} · {self.tokens:,} tokens · {cost}"


class Columns:
    """The output frame's values, one slot per input row, filled as rows finish (any order)."""

    def __init__(self, n: int, schema: Schema | None, reasoning: bool) -> None:
        self.n, self.schema, self.reasoning = n, schema, reasoning
        self.done = [False] * n
        self.values: list[Any] = [None] * n  # the answer text, or the schema's plain dict
        self.reasonings: list[str | None] = [None] * n if reasoning else []
        self.meta: dict[str, list[Any]] = {name: [None] * n for name in META_COLUMNS}
        self.order: list[int] = []  # positions in the order they finished (the live table's order)
        self.totals = Totals()

    def add(self, position: int, response: Response | None, error: str | None) -> None:
        """Fold one finished row in; ``response`` is not kept."""
        value: Any = None
        tokens: tuple[Any, Any, Any] = (None, None, None)
        cost = latency = None
        cached = False
        if response is not None:
            cached = response.cached
            if self.schema is not None:
                outcome = response.validated()
                if outcome is not None and outcome.ok:
                    value = outcome.plain
                elif error is None:
                    why = "; ".join(outcome.errors[:3]) if outcome is not None else "no answer"
                    error = f"not valid against the schema {self.schema.name}: {why}"
            else:
                value = response.content
            if self.reasoning:
                self.reasonings[position] = response.reasoning
            u = response.usage
            if u is not None:
                tokens = (u.prompt_tokens, u.completion_tokens, u.reasoning_tokens)
                if cached:
                    cost = 0.0  # served from the cache: nothing paid this time
                elif u.cost is not None and math.isfinite(u.cost):
                    cost = float(u.cost)
            latency = 0.0 if cached else response.timings.done
        self.values[position] = value
        meta = self.meta
        meta["error"][position] = error
        meta["prompt_tokens"][position], meta["completion_tokens"][position] = tokens[0], tokens[1]
        meta["reasoning_tokens"][position] = tokens[2]
        meta["cost"][position] = cost
        meta["latency_s"][position] = latency
        meta["cached"][position] = cached
        self.done[position] = True
        self.order.append(position)
        t = self.totals
        t.done += 1
        t.errors += error is not None
        t.cached += cached
        t.tokens += sum(x for x in tokens[:2] if type(x) is int)
        if cost is not None:
            t.cost += cost
            t.cost_known = True

    def not_run(self, why: str) -> None:
        """Mark every row that never ran (``max_cost`` reached)."""
        for position in range(self.n):
            if not self.done[position]:
                self.meta["error"][position] = why
                self.meta["cached"][position] = False

    def record(self, position: int) -> dict[str, Any]:
        """One row as the live table shows it (flat: nested fields dotted)."""
        value = self.values[position]
        row: dict[str, Any] = {}
        if self.schema is not None:
            row.update(flat_row(value) if isinstance(value, dict) else {})
        else:
            row["answer"] = value
        row["error"] = self.meta["error"][position]
        row["cost"] = self.meta["cost"][position]
        row["cached"] = self.meta["cached"][position]
        return row

    def frame(self, index: Any, *, finished_only: bool = False) -> pandas.DataFrame:
        """The output frame: the input's index, the answer (or the schema's columns), then the meta."""
        import pandas as pd

        keep = [i for i in range(self.n) if self.done[i]] if finished_only else list(range(self.n))
        out_index = index[keep] if finished_only else index
        if self.schema is not None:
            from ._schema import to_frame

            records = [self.values[i] if isinstance(self.values[i], dict) else {} for i in keep]
            fields = _field_names(self.schema)
            body: pandas.DataFrame = to_frame(records, self.schema) if records else pd.DataFrame()
            for name in fields:
                if name not in body.columns:
                    body[name] = pd.Series([None] * len(keep), dtype="object")
            body = body[[*fields, *(c for c in body.columns if c not in fields)]]
            if body.empty and len(keep):
                body = pd.DataFrame(index=range(len(keep)), columns=fields)
            body.index = out_index
        else:
            body = pd.DataFrame({"answer": pd.Series([self.values[i] for i in keep], dtype="object")})
            body.index = out_index
        if self.reasoning:
            body["reasoning"] = pd.Series([self.reasonings[i] for i in keep], index=out_index, dtype="object")
        meta = self.meta
        body["error"] = pd.Series([meta["error"][i] for i in keep], index=out_index, dtype="object")
        for name in ("prompt_tokens", "completion_tokens", "reasoning_tokens"):
            body[name] = pd.array([meta[name][i] for i in keep], dtype="Int64")
        body["cost"] = pd.array([meta["cost"][i] for i in keep], dtype="float64")
        body["latency_s"] = pd.array([meta["latency_s"][i] for i in keep], dtype="float64")
        body["cached"] = pd.array([bool(meta["cached"][i]) for i in keep], dtype="bool")
        return body


def _field_names(schema: Schema) -> list[str]:
    """The schema's columns, nested objects dotted (as the frame names them)."""
    from ._schema import _column_kinds

    item = schema.item_schema()
    names: list[str] = []
    for name, prop in (item.get("properties") or {}).items():
        if isinstance(prop, dict) and (prop.get("type") == "object" or "properties" in prop):
            names.extend(k for k in _column_kinds(prop, schema.json_schema, f"{name}."))
        else:
            names.append(name)
    return names


# --------------------------------------------------------------------------- the engine


async def _ask(
    client: AsyncClient, gate: Gate, prompt: str, cache: bool | str, params: dict[str, Any]
) -> tuple[Response | None, str | None]:
    """One row's request: the finished response and its error (either may be None)."""
    await gate.wait()
    try:
        stream = await client.stream(prompt, cache=cache, **params)
    except NemotronError as exc:
        return None, exc.message
    try:
        async for event in stream:
            if type(event) is Retrying and event.reason.startswith("429"):
                gate.pause(event.delay)  # every row waits, not only this one
    except StreamError as exc:
        return exc.response or stream.response, exc.message
    except NemotronError as exc:
        return None, exc.message
    return stream.response, None


async def run(
    rows: Iterator[tuple[int, Callable[[], str]]],
    columns: Columns,
    client: AsyncClient,
    *,
    concurrency: int,
    cache: bool | str,
    max_cost: float | None,
    params: dict[str, Any],
    on_row: Callable[[int], None] | None = None,
) -> str | None:
    """Run every row; returns why it stopped early (``max_cost``), or None when all rows ran.

    ``rows`` yields ``(position, make_prompt)``; ``make_prompt`` raises :class:`RowError` for a
    row that cannot be sent. Cancelling the task stops it; finished rows stay in ``columns``.
    """
    gate = Gate()
    stopped: list[str] = []

    async def worker() -> None:
        for position, make_prompt in rows:  # one iterator shared by every worker
            if stopped:
                return
            try:
                prompt = make_prompt()
            except RowError as exc:
                columns.add(position, None, str(exc))
            else:
                response, error = await _ask(client, gate, prompt, cache, params)
                columns.add(position, response, error)
            if on_row is not None:
                on_row(position)
            if max_cost is not None and columns.totals.cost >= max_cost and not stopped:
                stopped.append(
                    f"not run: the batch stopped at max_cost=${max_cost:g} (${columns.totals.cost:.4f} spent)"
                )

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    if stopped:
        columns.not_run(stopped[0])
        return stopped[0]
    return None


__all__ = ["META_COLUMNS", "BatchCancelled", "Columns", "Gate", "RowError", "Totals", "run"]
