"""A structured answer's table grows row by row in the live display; only new rows travel."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.testing import globalipapp
from IPython.utils.capture import capture_output

import nemotron_magics as nm
from nemotron_magics.display import MIME, show_stream
from tests.city_schema import City
from tests.conformance.server import ConformanceServer
from tests.conformance.streams import table_rows
from tests.test_display_live import busiest_second, saved


@pytest.fixture(scope="module", autouse=True)
def shell() -> InteractiveShell:
    globalipapp.start_ipython()
    return globalipapp.get_ipython()


def _run(url: str, max_rate: float = 20.0) -> tuple[nm.Response, list[Any], list[float], float]:
    times: list[float] = []
    with capture_output() as cap:
        pub = InteractiveShell.instance().display_pub
        publish = pub.publish

        def timed(*args: Any, **kwargs: Any) -> None:
            times.append(time.perf_counter())
            publish(*args, **kwargs)

        pub.publish = timed
        client = nm.Client("local", base_url=url, model="m", reasoning="off", max_retries=0)
        t0 = time.perf_counter()
        r = show_stream(client.stream("rows", schema=list[City]), rich=True, max_rate=max_rate)
        seconds = time.perf_counter() - t0
        pub.publish = publish
    return r, cap.outputs, times, seconds


def _size(out: Any) -> int:
    return len(json.dumps(out.data))


def test_2000_row_table_grows_live_within_the_traffic_bar(server: ConformanceServer) -> None:
    rows = 2000
    r, outputs, times, _ = _run(server.base_url("table", rows=rows, chunk=24, rate=400_000.0))
    answer = len(r.content)
    assert r.to_dataframe().shape == (rows, 5)
    end = next(i for i, out in enumerate(outputs) if MIME in out.data)
    streaming = outputs[:end]
    assert len(streaming) >= 3  # it grew while streaming
    assert busiest_second(times[:end]) <= 23
    total = sum(_size(o) for o in outputs)
    assert total / answer <= 25, total / answer
    # rows travel once or a few times, never the whole table each tick
    biggest = max(_size(o) for o in streaming)
    assert biggest < answer / 3
    html = "".join(o.data.get("text/html", "") for o in streaming)
    assert "<table" in html and "<tr><td>City 0" in html
    kept = saved(outputs)
    assert len(kept) == 1 and kept[0][MIME]["structured"]["table"]["total_rows"] == rows
    assert "2,000 rows × 5 columns" in kept[0]["text/html"]


def test_live_rows_arrive_in_order_and_only_complete(server: ConformanceServer) -> None:
    r, outputs, _, _ = _run(server.base_url("table", rows=60, chunk=7, rate=20_000.0), max_rate=50.0)
    want = [row["city"] for row in table_rows(60)]
    end = next(i for i, out in enumerate(outputs) if MIME in out.data)
    seen: list[str] = []
    for out in outputs[:end]:
        html = out.data.get("text/html", "")
        for city in want:
            if f"<td>{city}</td>" in html and city not in seen:
                seen.append(city)
    assert seen == want[: len(seen)] and len(seen) >= 30
    assert len(r.data) == 60
