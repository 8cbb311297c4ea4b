"""``%%nemotron --over DF``: the cell as a template over a DataFrame's rows (a thin skin on nm.map).

The magic finds the frame and the schema in the notebook, hands the rest to :func:`._map.map`
(which draws the progress bar and the live table, and leaves the whole frame as the cell's
output), and keeps the result in ``-o VAR``. Stopping the cell keeps every finished row there too.
Library errors about the call become one-line usage errors naming the flag's words.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from IPython.core.error import UsageError

from ._batch import BatchCancelled
from ._errors import ConfigurationError, MissingAPIKey
from ._magic_args import CellOptions


def _lookup(name: str, namespace: dict[str, Any]) -> Any:
    value: Any = namespace
    for i, part in enumerate(name.split(".")):
        try:
            value = value[part] if i == 0 else getattr(value, part)
        except (KeyError, AttributeError):
            raise UsageError(f"--over {name}: {name!r} is not defined in the notebook") from None
    if not (hasattr(value, "columns") and hasattr(value, "index")):
        raise UsageError(f"--over {name}: a DataFrame is needed, and {name} is a {type(value).__name__}")
    return value


def run_over(
    template: str, opts: CellOptions, namespace: dict[str, Any], schema_of: Callable[[str], Any]
) -> Any:
    """Run the batch; returns the frame for a plain terminal (a notebook shows it already)."""
    from ._map import map as run_map
    from .display import in_kernel

    assert opts.over is not None
    frame = _lookup(opts.over, namespace)
    schema = schema_of(opts.schema) if opts.schema is not None else None
    params = opts.request_params()
    if opts.system is not None:
        params["system"] = opts.system
    try:
        result = run_map(
            frame,
            template,
            schema=schema,
            concurrency=opts.concurrency or 8,
            cache=True if opts.cache is None else opts.cache,
            max_cost=opts.max_cost,
            namespace=namespace,
            provider=opts.provider,
            model=opts.model,
            base_url=opts.base_url,
            **params,
        )
    except BatchCancelled as exc:
        if opts.out:
            namespace[opts.out] = exc.frame
        raise
    except MissingAPIKey:
        raise
    except ConfigurationError as exc:
        raise UsageError(f"%%nemotron --over {opts.over}: {exc.message}") from None
    namespace[opts.out or "_nemotron_batch"] = result
    return None if in_kernel() else result


__all__ = ["run_over"]
