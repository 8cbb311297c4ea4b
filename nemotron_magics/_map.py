"""``nm.map(df, template)`` and ``await nm.amap(...)``: one prompt per row, one frame back.

The template is filled per row with the interpolation rules of the magic (:mod:`._interpolate`):
``{column}`` (and ``{row["a column"]}`` for a name that is not an identifier) is the row's value,
``{{column}}`` sends the braces as written, braces that name nothing (JSON, code) pass through.
Everything that can be checked is checked before the first request: a reference to a column the
frame does not have, a bad parameter, a missing key — one clear line, nothing sent.

``map`` runs the batch on its own event loop in a worker thread (a notebook's kernel already runs
one in the main thread) and draws progress from the main thread, where Ctrl-C lands: the batch is
cancelled, the finished rows are kept, and :class:`BatchCancelled` carries them (``.frame``).
A Dask DataFrame goes to :mod:`._dask` (partition by partition; dask is imported only then).
"""

from __future__ import annotations

import asyncio
import keyword
import threading
from collections import ChainMap
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ._batch import BatchCancelled, Columns, RowError, run
from ._errors import ConfigurationError
from ._interpolate import DEFAULT_MAX_CHARS, interpolate, references, root_name
from ._params import BATCH, check_params

if TYPE_CHECKING:
    import pandas

    from ._client import AsyncClient
    from ._schema import Schema
    from .display._batch import BatchView

#: Keywords that choose where the rows go (the client's), not what each request asks.
CLIENT_KEYS = (
    "provider",
    "model",
    "base_url",
    "api_key",
    "max_retries",
    "max_backoff",
    "read_timeout",
    "connect_timeout",
    "total_timeout",
)


@dataclass
class Plan:
    """A batch checked and ready: nothing has been sent yet."""

    frame: Any
    template: str
    namespace: Mapping[str, Any]
    schema: Schema | None
    reasoning: bool
    concurrency: int
    cache: bool | str
    max_cost: float | None
    client_kw: dict[str, Any] = field(repr=False)
    params: dict[str, Any] = field(repr=False)
    max_chars: int = DEFAULT_MAX_CHARS

    @property
    def n(self) -> int:
        return len(self.frame)

    def columns(self) -> Columns:
        return Columns(self.n, self.schema, self.reasoning)

    def rows(self) -> Iterator[tuple[int, Callable[[], str]]]:
        """``(position, make_prompt)`` per row, made lazily (memory stays flat)."""
        frame = self.frame
        names = [str(c) for c in frame.columns]
        usable = [(i, n) for i, n in enumerate(names) if n.isidentifier() and not keyword.iskeyword(n)]
        for position, values in enumerate(frame.itertuples(index=False, name=None)):
            yield position, self._maker(names, usable, values)

    def _maker(
        self, names: list[str], usable: list[tuple[int, str]], values: tuple[Any, ...]
    ) -> Callable[[], str]:
        def make() -> str:
            row = dict(zip(names, values, strict=True))
            local = {name: values[i] for i, name in usable}
            local["row"] = row
            result = interpolate(
                self.template, ChainMap(local, dict(self.namespace)), max_chars=self.max_chars
            )
            if result.withheld:
                raise RowError(
                    f"not sent: {{{result.withheld[0]}}} holds an API key, which never goes into a prompt"
                )
            return result.text

        return make


def _is_dask(frame: Any) -> bool:
    return type(frame).__module__.split(".")[0] in ("dask", "dask_expr")


def check_template(template: str, columns: list[str], namespace: Mapping[str, Any]) -> None:
    """Every reference names a column (or, in a notebook, a variable): else one line, nothing sent."""
    if not isinstance(template, str) or not template.strip():
        raise ConfigurationError(
            "The template is empty: write the prompt, with {column} where a row's value goes"
        )
    refs = references(template)
    known = {*columns, "row", *namespace}
    missing = [r for r in refs if root_name(r) not in known and not keyword.iskeyword(root_name(r))]
    if missing:
        shown = ", ".join(f"{{{m}}}" for m in dict.fromkeys(missing))
        have = ", ".join(columns[:20]) + (" …" if len(columns) > 20 else "")
        first = missing[0]
        raise ConfigurationError(
            f"The template names {shown}, which is not a column of the DataFrame (columns: {have}); "
            f"fix the name, or write {{{{{first}}}}} to send the braces as written"
        )
    if not any(root_name(r) in (*columns, "row") for r in refs):
        raise ConfigurationError(
            "The template names no column, so every row would send the same prompt: "
            f"put {{{columns[0] if columns else 'column'}}} where a row's value goes"
        )


def plan(
    frame: Any,
    template: str,
    *,
    schema: Any,
    concurrency: int,
    cache: bool | str,
    max_cost: float | None,
    namespace: Mapping[str, Any] | None,
    params: dict[str, Any],
) -> Plan:
    """Check everything that can be checked before a request is sent."""
    if not (hasattr(frame, "columns") and hasattr(frame, "itertuples") and hasattr(frame, "index")):
        raise ConfigurationError(
            f"map() takes a pandas DataFrame (or a Dask one), not {type(frame).__name__}"
        )
    concurrency = BATCH["concurrency"].validate(concurrency) if concurrency is not None else 8
    from ._cache import cache_mode

    cache = cache_mode(cache)
    max_cost = BATCH["max_cost"].validate(max_cost)
    namespace = namespace or {}
    columns = [str(c) for c in frame.columns]
    check_template(template, columns, namespace)
    client_kw = {k: params.pop(k) for k in CLIENT_KEYS if k in params}
    checked_schema: Schema | None = None
    if schema is not None:
        from ._schema import as_schema

        checked_schema = as_schema(schema)
        if checked_schema.is_list:
            raise ConfigurationError(
                f"A batch asks one object per row: give schema={checked_schema.name}, "
                f"not list[{checked_schema.name}]"
            )
        from ._batch import META_COLUMNS, _field_names

        clash = [f for f in _field_names(checked_schema) if f in META_COLUMNS]
        if clash:
            raise ConfigurationError(
                f"The schema's field {clash[0]!r} is also a column the batch adds; rename the field"
            )
        params["schema"] = checked_schema
    for name in ("stream", "messages", "tools"):
        if name in params:
            raise ConfigurationError(f"map() does not take {name}=: each row is one streamed prompt")
    params = check_params(params)
    reasoning = params.get("reasoning") in ("on", "low")
    return Plan(
        frame,
        template,
        namespace,
        checked_schema,
        reasoning,
        concurrency,
        cache,
        None if max_cost is None else float(max_cost),
        client_kw,
        params,
    )


def _client(p: Plan) -> AsyncClient:
    import httpx

    from ._client import AsyncClient

    pool = httpx.Limits(max_connections=max(p.concurrency, 10), max_keepalive_connections=p.concurrency)
    http = httpx.AsyncClient(limits=pool, follow_redirects=True)
    return AsyncClient(http_client=http, **p.client_kw)


async def drive(p: Plan, columns: Columns, on_row: Callable[[int], None] | None = None) -> str | None:
    """Run the plan on the running loop; returns why it stopped early, or None."""
    client = _client(p)
    try:
        # One resolution first: a missing key or a bad model fails here, before any row is sent.
        await asyncio.to_thread(client._resolver.resolve, "", None, None, None, None, dict(p.params))
        client.resolve_inline = True  # every row goes where the probe went: nothing left to start
        return await run(
            p.rows(),
            columns,
            client,
            concurrency=p.concurrency,
            cache=p.cache,
            max_cost=p.max_cost,
            params=p.params,
            on_row=on_row,
        )
    finally:
        await client.aclose()


class _Runner(threading.Thread):
    """The batch's own event loop, in a thread; cancellable from the main thread."""

    def __init__(self, p: Plan, columns: Columns) -> None:
        super().__init__(name="nemotron-batch", daemon=True)
        self.plan, self.columns = p, columns
        self.loop: asyncio.AbstractEventLoop | None = None
        self.task: asyncio.Task[str | None] | None = None
        self.ready = threading.Event()
        self.stopped_why: str | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        async def main() -> str | None:
            self.loop = asyncio.get_running_loop()
            self.task = asyncio.current_task()
            self.ready.set()
            return await drive(self.plan, self.columns)

        try:
            self.stopped_why = asyncio.run(main())
        except asyncio.CancelledError:
            pass
        except BaseException as exc:  # raised again in the caller's thread
            self.error = exc
        finally:
            self.ready.set()

    def cancel(self) -> None:
        self.ready.wait(5)
        loop, task = self.loop, self.task
        if loop is not None and task is not None and not loop.is_closed():
            loop.call_soon_threadsafe(task.cancel)


def _view(p: Plan, progress: bool, live: bool | None) -> tuple[Columns, BatchView]:
    """The batch's columns and its live view (progress bar, growing table), started."""
    from .display._batch import BatchView

    columns = p.columns()
    view = BatchView(p.n, progress=progress, live=live)
    view.start()
    return columns, view


def _stopped(p: Plan, columns: Columns, view: BatchView) -> pandas.DataFrame:
    """The finished rows of a stopped batch, shown as the frame the user keeps."""
    kept = columns.frame(p.frame.index, finished_only=True)
    view.close(columns, kept, f"Stopped: {len(kept):,} of {p.n:,} rows finished and are kept")
    return kept


def _finished(p: Plan, columns: Columns, view: BatchView, why: str | None) -> pandas.DataFrame:
    """The whole frame, shown with why rows were not run (``max_cost``), if any were not."""
    result = columns.frame(p.frame.index)
    view.close(columns, result, why.replace("not run: ", "", 1) if why else "")
    return result


def map(
    frame: Any,
    template: str,
    *,
    schema: Any = None,
    concurrency: int = 8,
    cache: bool | str = True,
    max_cost: float | None = None,
    progress: bool = True,
    live: bool | None = None,
    namespace: Mapping[str, Any] | None = None,
    **params: Any,
) -> Any:
    """Ask once per row of ``frame``; return a frame with the input's index and the answers.

    ``template``'s ``{column}`` is filled from each row. With ``schema`` (one object per row) each
    field becomes a typed column, else there is an ``answer`` column (and ``reasoning`` with
    ``reasoning="on"`` or ``"low"``); then ``error``, ``prompt_tokens``, ``completion_tokens``,
    ``reasoning_tokens``, ``cost`` (paid in this run: 0 for a cached row), ``latency_s``, ``cached``.
    ``cache=True`` (the default) answers a row asked before from the store and fills it otherwise;
    ``"refresh"`` asks again and overwrites; ``False`` neither reads nor writes. ``max_cost`` (USD)
    stops taking rows once the cost so far reaches it. Other keywords: ``provider``, ``model``,
    ``base_url``, ``api_key`` and any request parameter (``temperature``, ``max_tokens`` …).
    A Dask DataFrame gives a lazy Dask DataFrame, run per partition.
    """
    if _is_dask(frame):
        from ._dask import map_dask

        return map_dask(
            frame, template, schema=schema, concurrency=concurrency, cache=cache, max_cost=max_cost, **params
        )
    p = plan(
        frame,
        template,
        schema=schema,
        concurrency=concurrency,
        cache=cache,
        max_cost=max_cost,
        namespace=namespace,
        params=params,
    )
    columns, view = _view(p, progress, live)
    runner = _Runner(p, columns)
    runner.start()
    try:
        while runner.is_alive():
            runner.join(0.05)
            view.update(columns)
    except KeyboardInterrupt:
        runner.cancel()
        runner.join()
        raise BatchCancelled(_stopped(p, columns, view), p.n) from None
    if runner.error is not None:
        view.close(columns, None)
        raise runner.error
    return _finished(p, columns, view, runner.stopped_why)


async def amap(
    frame: Any,
    template: str,
    *,
    schema: Any = None,
    concurrency: int = 8,
    cache: bool | str = True,
    max_cost: float | None = None,
    progress: bool = True,
    live: bool | None = None,
    namespace: Mapping[str, Any] | None = None,
    **params: Any,
) -> pandas.DataFrame:
    """The async twin of :func:`map` (pandas frames), on the running event loop.

    Cancelling the task stops the batch; the finished rows are displayed, and ``CancelledError``
    goes on (asyncio needs it); a KeyboardInterrupt becomes :class:`BatchCancelled` with them.
    """
    p = plan(
        frame,
        template,
        schema=schema,
        concurrency=concurrency,
        cache=cache,
        max_cost=max_cost,
        namespace=namespace,
        params=params,
    )
    columns, view = _view(p, progress, live)
    try:
        why = await drive(p, columns, on_row=lambda _: view.update(columns))
    except (KeyboardInterrupt, asyncio.CancelledError) as exc:
        kept = _stopped(p, columns, view)
        if isinstance(exc, KeyboardInterrupt):
            raise BatchCancelled(kept, p.n) from None
        raise
    except BaseException:
        view.close(columns, None)
        raise
    return _finished(p, columns, view, why)


__all__ = ["BatchCancelled", "amap", "check_template", "map", "plan"]
