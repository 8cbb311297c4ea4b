"""``nm.map`` over a Dask DataFrame: each partition is one pandas batch, run where Dask runs it.

The result is lazy (``map_partitions``): nothing is sent until it is computed. Each partition
runs :func:`._map.map` with the same template and parameters, so its rows get the same cache
keys as a pandas batch would: a job that stopped half way, computed again, asks only for the
rows not yet in the store. The store must then be one every worker can reach (the default file
on one machine, or ``NEMOTRON_STORE`` on a shared disk); each worker writes it safely (WAL).
``concurrency`` and ``max_cost`` apply to each partition (each is its own batch); no progress bar
or live table is drawn on a worker. Imported only when a Dask DataFrame is given: ``import
nemotron_magics`` never imports dask.
"""

from __future__ import annotations

from typing import Any

from ._errors import ConfigurationError


def _partition(frame: Any, template: str, options: dict[str, Any]) -> Any:
    from ._map import map as run_map

    if len(frame) == 0:
        return _meta(frame, template, options)
    return run_map(frame, template, progress=False, live=False, **options)


def _meta(frame: Any, template: str, options: dict[str, Any]) -> Any:
    """The output's empty frame (columns and dtypes), made without sending anything."""
    from ._map import plan

    p = plan(
        frame.iloc[:0],
        template,
        schema=options.get("schema"),
        concurrency=1,
        cache=False,
        max_cost=None,
        namespace=None,
        params={k: v for k, v in options.items() if k not in ("schema", "concurrency", "cache", "max_cost")},
    )
    return p.columns().frame(frame.index[:0])


def map_dask(frame: Any, template: str, **options: Any) -> Any:
    """A lazy Dask DataFrame of the answers, one pandas batch per partition."""
    try:
        import dask.dataframe  # noqa: F401 - the extra's presence, said in one line if absent
    except ModuleNotFoundError:
        raise ConfigurationError(
            "map() over a Dask DataFrame needs dask: pip install 'nemotron-magics[dask]'"
        ) from None
    meta = _meta(frame._meta, template, options)  # checks the template against the columns now
    return frame.map_partitions(_partition, template, options, meta=meta)


__all__ = ["map_dask"]
