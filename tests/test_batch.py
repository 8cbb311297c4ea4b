"""nm.map / amap against the loopback server: templates, typed columns, failures, stops, back-off, cost."""

from __future__ import annotations

import _thread
import asyncio
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

import nemotron_magics as nm
from nemotron_magics import ConfigurationError
from tests.conformance.server import ConformanceServer
from tests.ticket_schema import Ticket


@pytest.fixture(autouse=True)
def own_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test its own store: a cache filled by one test must not answer another's rows."""
    path = tmp_path / "store.sqlite3"
    monkeypatch.setenv("NEMOTRON_STORE", str(path))
    return path


def frame(n: int, fmt: str = "row {i}") -> pd.DataFrame:
    return pd.DataFrame({"text": [fmt.format(i=i) for i in range(n)]}, index=[f"t{i}" for i in range(n)])


def run(df: pd.DataFrame, template: str, url: str, **kw: object) -> pd.DataFrame:
    out: pd.DataFrame = nm.map(df, template, base_url=url, progress=False, **kw)
    return out


# --------------------------------------------------------------------------- templates


def test_each_row_fills_the_template_with_the_interpolation_rules(server: ConformanceServer) -> None:
    df = pd.DataFrame(
        {"text": ["a {brace} inside", "plain"], "ticket id": [7, 8]}, index=pd.Index(["x", "y"], name="key")
    )
    template = 'Row {row["ticket id"]}: {text} | {{text}} stays | {"json": 1} | ${HOME} | {undefined_thing}'
    with pytest.raises(ConfigurationError, match=r"\{undefined_thing\}.*not a column"):
        run(df, template, server.base_url("echo"))
    assert server.requests == []  # refused before anything was sent

    template = template.replace(" | {undefined_thing}", "")
    out = run(df, template, server.base_url("echo"))
    expected = [
        'Row 7: a {brace} inside | {text} stays | {"json": 1} | ${HOME}',
        'Row 8: plain | {text} stays | {"json": 1} | ${HOME}',
    ]
    assert sorted(server.prompts("echo")) == sorted(expected)
    assert out.index.equals(df.index) and out.index.name == "key"
    assert list(out["answer"]) == expected  # the echo answers each row with its own prompt, in order
    assert list(out.columns) == [
        "answer",
        "error",
        "prompt_tokens",
        "completion_tokens",
        "reasoning_tokens",
        "cost",
        "latency_s",
        "cached",
    ]
    assert out["error"].isna().all() and not out["cached"].any()
    assert str(out["prompt_tokens"].dtype) == "Int64" and out["latency_s"].gt(0).all()


def test_a_misspelt_column_is_one_line_naming_the_columns(server: ConformanceServer) -> None:
    with pytest.raises(ConfigurationError) as info:
        run(frame(3), "Classify {txet}", server.base_url("echo"))
    message = info.value.message
    assert "{txet}" in message and "columns: text" in message and "{{txet}}" in message
    assert "\n" not in message
    with pytest.raises(ConfigurationError, match="names no column"):
        run(frame(3), "The same prompt for every row", server.base_url("echo"))
    assert server.requests == []


@pytest.mark.parametrize(
    ("kw", "needle"),
    [
        ({"concurrency": 0}, "concurrency must be a whole number from 1 to 1000"),
        ({"max_cost": -1}, "max_cost must be a number of US dollars"),
        ({"cache": "yes"}, "cache must be True, False or 'refresh'"),
        ({"schema": list[Ticket]}, "one object per row: give schema=Ticket"),
        ({"temperature": 9}, "temperature must be a number between 0 and 2"),
    ],
)
def test_bad_arguments_fail_before_anything_is_sent(
    server: ConformanceServer, kw: dict[str, object], needle: str
) -> None:
    with pytest.raises(ConfigurationError, match=needle):
        run(frame(2), "{text}", server.base_url("echo"), **kw)
    assert server.requests == []


# --------------------------------------------------------------------------- schema columns


def test_a_schema_gives_one_typed_column_per_field(server: ConformanceServer) -> None:
    df = pd.DataFrame(
        {"text": ["The app crashes on start", "Please refund my invoice", "I forgot my password", "Hello"]}
    )
    out = run(df, "Classify this support ticket.\n{text}", server.base_url("tickets"), schema=Ticket)
    assert list(out.columns[:3]) == ["category", "priority", "urgent"]
    assert list(out["category"]) == ["bug", "billing", "account", "other"]
    assert list(out["priority"]) == [1, 2, 2, 3] and list(out["urgent"]) == [True, False, False, False]
    assert isinstance(out["category"].dtype, pd.CategoricalDtype)
    assert list(out["category"].cat.categories) == ["billing", "bug", "account", "other"]
    assert str(out["priority"].dtype) == "Int64" and str(out["urgent"].dtype) == "boolean"
    assert out["error"].isna().all()
    sent = server.requests_for("tickets")[0].body
    assert sent["response_format"]["type"] == "json_schema"  # each row asked for the schema


def test_an_answer_that_breaks_the_schema_is_that_rows_error(server: ConformanceServer) -> None:
    # The echo answers text, not a Ticket: every row is invalid, and says why, with the columns kept.
    out = run(frame(2), "{text}", server.base_url("echo"), schema=Ticket)
    assert list(out.columns[:3]) == ["category", "priority", "urgent"]
    assert out["category"].isna().all()
    assert all(e.startswith("not valid against the schema Ticket") for e in out["error"])


# --------------------------------------------------------------------------- failures


def test_a_failed_row_fills_its_error_and_the_batch_goes_on(server: ConformanceServer) -> None:
    out = run(frame(12), "{text}", server.base_url("echo", fail_on="row 5"), concurrency=4)
    failed = out[out["error"].notna()]
    assert list(failed.index) == ["t5"]
    assert "400" in failed.loc["t5", "error"] or "Invalid" in failed.loc["t5", "error"]
    assert pd.isna(failed.loc["t5", "answer"]) or failed.loc["t5", "answer"] is None
    ok = out.drop(index="t5")
    assert list(ok["answer"]) == [f"row {i}" for i in range(12) if i != 5]


def test_stopping_keeps_every_finished_row(server: ConformanceServer) -> None:
    url = server.base_url("echo", hold=5)  # the first 5 requests are answered, the rest wait

    def stop_after_five() -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            done = [r for r in server.requests_for("echo") if r.outcome == "complete"]
            if len(done) >= 5:
                time.sleep(0.3)  # let the client fold those five in
                _thread.interrupt_main()  # what Ctrl-C and the notebook's stop button do
                return
            time.sleep(0.01)

    threading.Thread(target=stop_after_five, daemon=True).start()
    try:
        with pytest.raises(nm.BatchCancelled) as info:
            run(frame(20), "{text}", url, concurrency=3)
    finally:
        server.release()
    kept = info.value.frame
    assert kept is not None and len(kept) == 5 and info.value.total == 20
    answered = {
        r.body["messages"][-1]["content"] for r in server.requests_for("echo") if r.outcome == "complete"
    }
    assert set(kept["answer"]) == answered and set(kept.index) == {"t" + a.split()[1] for a in answered}
    assert kept["error"].isna().all()
    assert "5 of 20 rows finished" in info.value._render_traceback_()[0]


# --------------------------------------------------------------------------- the provider's limits


def test_a_429_pauses_the_whole_batch(server: ConformanceServer) -> None:
    # Two slots, 0.1 s per answer: of four rows sent at once two are refused with Retry-After 0.5.
    url = server.base_url("echo", slots=2, latency=0.1, retry_after="0.5")
    out = run(frame(8), "{text}", url, concurrency=4, max_retries=20)
    assert out["error"].isna().all() and list(out["answer"]) == [f"row {i}" for i in range(8)]
    requests = server.requests_for("echo")
    refused = [r.received for r in requests if r.outcome == "error_status"]
    assert refused, "the server never refused: the test did not exercise a 429"
    first = min(refused)
    # The two rows that finish at 0.1 s do not start new ones into the pause: nothing is sent
    # until Retry-After has passed.
    quiet = [r.received - first for r in requests if 0.05 < r.received - first < 0.45]
    assert quiet == [], f"requests sent during the pause, at {quiet} s after the first 429"
    assert server.peak_active("echo", slots=2, latency=0.1, retry_after="0.5") <= 2


def test_max_cost_stops_taking_rows(server: ConformanceServer) -> None:
    one_row = nm.get_provider("deepinfra").estimate_cost(
        2, 2, None
    )  # the echo of "item N": 2 tokens in, 2 out
    assert one_row is not None and one_row > 0
    df = pd.DataFrame({"text": [f"item {i}" for i in range(10)]})
    out = nm.map(
        df,
        "{text}",
        provider="deepinfra",
        api_key="di-test-max-cost-000000",
        base_url=server.base_url("echo"),
        concurrency=1,
        max_cost=2.5 * one_row,
        progress=False,
    )
    assert len(server.requests_for("echo")) == 3  # 1, 2, 3: the third reaches the cap
    assert out.loc[:2, "error"].isna().all() and out.loc[:2, "cost"].sum() == pytest.approx(3 * one_row)
    assert all(e.startswith("not run: the batch stopped at max_cost") for e in out.loc[3:, "error"])
    assert out.loc[3:, "answer"].isna().all() and len(out) == 10


def test_concurrency_is_the_most_rows_in_flight(server: ConformanceServer) -> None:
    run(frame(24), "{text}", server.base_url("echo", latency=0.05), concurrency=3)
    assert server.peak_active("echo", latency=0.05) == 3


def test_amap_is_the_async_twin(server: ConformanceServer) -> None:
    async def main() -> pd.DataFrame:
        return await nm.amap(frame(6), "{text}", base_url=server.base_url("echo"), progress=False)

    out = asyncio.run(main())
    assert list(out["answer"]) == [f"row {i}" for i in range(6)] and list(out.index) == list(frame(6).index)
