"""Rows per second of ``nm.map``, against a raw httpx async driver on the same server in the same run.

The loopback conformance server plays a provider that serves at most K requests at once, each
taking a fixed latency (``echo`` with ``slots=K, queue=1, latency=L``: beyond K a request waits
for a slot). Both drivers keep K requests in flight:

- baseline: ``httpx.AsyncClient`` posting streaming requests under a semaphore, reading each
  event-stream line and ``json.loads``-ing it, nothing else;
- nm.map: a DataFrame of N rows through the template, the async client, the shared 429 gate,
  validation, the store (history and cache writes) and the progress bar.

Memory: ``tracemalloc``'s peak while the batch runs, less what its result holds once it is done
(the output frame's values), at N and at 10×N rows against a server with no latency: the working
memory of the engine, which must not grow with the rows.

Bars (issue #12): rows/s ratio ≥ 0.9; working memory at 10×N ≤ 1.5× that at N.

    python benchmarks/batch_throughput.py [--rows 1000] [--slots 8] [--latency 0.1] [--repeat 2]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the conformance server lives in tests/
import httpx
import pandas as pd

import nemotron_magics as nm
from nemotron_magics._map import drive, plan
from tests.conformance.server import ConformanceServer


def rows(n: int, tag: str) -> pd.DataFrame:
    return pd.DataFrame({"text": [f"{tag} row {i}" for i in range(n)]})


async def raw_driver(url: str, n: int, concurrency: int, tag: str) -> int:
    """The floor: K streaming posts at a time, every line read and parsed, nothing kept."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    gate = asyncio.Semaphore(concurrency)
    done = 0
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:

        async def one(i: int) -> None:
            nonlocal done
            body = {
                "model": "m",
                "messages": [{"role": "user", "content": f"{tag} row {i}"}],
                "stream": True,
            }
            async with gate, client.stream("POST", f"{url}/chat/completions", json=body) as resp:
                async for line in resp.aiter_lines():
                    if line.startswith("data: ") and line != "data: [DONE]":
                        json.loads(line[6:])
            done += 1

        await asyncio.gather(*(one(i) for i in range(n)))
    return done


def throughput(
    server: ConformanceServer, n: int, slots: int, latency: float, repeat: int
) -> tuple[float, float]:
    """Best rows/s of each driver over ``repeat`` interleaved runs (a shared machine's noise hits both)."""
    url = server.base_url("echo", slots=slots, queue=1, latency=latency)
    raw = ours = 0.0
    for attempt in range(repeat):
        started = time.perf_counter()
        assert asyncio.run(raw_driver(url, n, slots, f"raw{attempt}")) == n
        raw = max(raw, n / (time.perf_counter() - started))
        frame = rows(n, f"map{attempt}")  # new prompts each time: nothing comes from the cache
        started = time.perf_counter()
        out = nm.map(frame, "{text}", base_url=url, provider="local", model="m", concurrency=slots)
        ours = max(ours, n / (time.perf_counter() - started))
        assert out["error"].isna().all() and not out["cached"].any(), out["error"].dropna().head()
    return raw, ours


def working_memory(server: ConformanceServer, n: int, slots: int, tag: str) -> float:
    """MB: the peak while ``n`` rows run, less what the finished result still holds."""
    url = server.base_url("echo", slots=slots, queue=1)
    frame = rows(n, tag)
    p = plan(
        frame,
        "{text}",
        schema=None,
        concurrency=slots,
        cache=True,
        max_cost=None,
        namespace=None,
        params={"base_url": url, "provider": "local", "model": "m"},
    )
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    columns = p.columns()
    asyncio.run(drive(p, columns))
    gc.collect()
    kept, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert columns.totals.done == n and columns.totals.errors == 0
    del columns
    return (peak - max(kept, base)) / 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--slots", type=int, default=8, help="K: requests the server serves at once")
    parser.add_argument("--latency", type=float, default=0.1, help="seconds per request")
    parser.add_argument("--repeat", type=int, default=2, help="interleaved runs of each driver (best counts)")
    args = parser.parse_args()
    os.environ["NEMOTRON_STORE"] = str(Path(tempfile.mkdtemp(prefix="nm-bench-")) / "store.sqlite3")
    with ConformanceServer() as server:
        raw, ours = throughput(server, args.rows, args.slots, args.latency, args.repeat)
        ratio = ours / raw
        print(
            f"{args.rows:,} rows, K={args.slots}, {args.latency * 1000:.0f} ms per request: "
            f"raw httpx {raw:.1f} rows/s, nm.map {ours:.1f} rows/s, ratio {ratio:.3f} (bar >= 0.9): "
            f"{'PASS' if ratio >= 0.9 else 'FAIL'}"
        )
        small = working_memory(server, args.rows, args.slots, "m1")
        large = working_memory(server, args.rows * 10, args.slots, "m10")
        growth = large / small
        print(
            f"working memory: {small:.2f} MB at {args.rows:,} rows, "
            f"{large:.2f} MB at {args.rows * 10:,} rows, "
            f"{growth:.3f}x (bar <= 1.5x): {'PASS' if growth <= 1.5 else 'FAIL'}"
        )
    return 0 if ratio >= 0.9 and growth <= 1.5 else 1


if __name__ == "__main__":
    sys.exit(main())
