"""``%%nemotron --over`` in a real kernel: the live table and progress, -o, the stop button, the store's
line commands, and the flags' one-line errors."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.conformance.server import ConformanceServer
from tests.kernels import Kernel, fold_outputs

pytestmark = pytest.mark.kernel

SETUP = """\
%load_ext nemotron_magics
import pandas as pd
import nemotron_magics as nm
from tests.ticket_schema import Ticket
texts = ["The app crashes on start", "Please refund my invoice", "I forgot my password", "Hello"]
rows = [f"{t} (#{i})" for i, t in enumerate(texts * 15)]  # each row its own prompt (and cache key)
tickets = pd.DataFrame({"text": rows}, index=pd.RangeIndex(1000, 1060, name="ticket"))
"""
WIDGET = "application/vnd.jupyter.widget-view+json"


@pytest.fixture(scope="module")
def kernel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kernel]:
    k = Kernel()
    store = tmp_path_factory.mktemp("kernel-store") / "store.sqlite3"
    reply = k.reply(k.send(SETUP + f"nm.configure(store={str(store)!r})\n"), timeout=60)
    assert reply["content"]["status"] == "ok", reply["content"]
    try:
        yield k
    finally:
        k.stop()


def test_a_batch_cell_shows_progress_a_growing_table_and_leaves_the_frame(
    kernel: Kernel, server: ConformanceServer
) -> None:
    url = server.base_url("tickets", latency=0.02)
    flags = f"-p local --base-url {url} -m m --over tickets --schema Ticket -o labels"
    cell = f"%%nemotron {flags}\nClassify:\n{{text}}"
    started = time.monotonic()
    msg_id = kernel.send(cell)
    messages = kernel.messages(msg_id, timeout=60)
    elapsed = time.monotonic() - started
    reply = kernel.reply(msg_id)
    assert reply["content"]["status"] == "ok", reply["content"]
    assert len(server.requests_for("tickets")) == 60

    shown = [m for m in messages if m["msg_type"] == "display_data"]
    assert any(WIDGET in m["content"]["data"] for m in shown)  # tqdm.auto: a progress widget
    live = [m for m in messages if m["msg_type"] == "update_display_data"]
    rows_seen = [m for m in live if "nm-live-table" in m["content"]["data"].get("text/html", "")]
    assert rows_seen, "no live rows were sent while the batch ran"
    assert len(live) <= 20 * elapsed + 5  # the display's budget: at most 20 messages a second

    saved = [o for o in fold_outputs(messages) if o.get("output_type") == "display_data" and o.get("data")]
    tables = [o for o in saved if "text/html" in o["data"]]
    assert len(tables) == 1  # the live pieces are emptied: the saved notebook holds the frame once
    html = tables[0]["data"]["text/html"]
    assert "<table" in html and "billing" in html and "60 rows × 10 columns" in html
    check = (
        "assert labels.shape == (60, 10), labels.shape\n"
        "assert list(labels.index[:2]) == [1000, 1001] and labels.index.name == 'ticket'\n"
        "assert list(labels['category'][:4]) == ['bug', 'billing', 'account', 'other']\n"
        "assert str(labels['priority'].dtype) == 'Int64' and labels['error'].isna().all()\n"
    )
    reply, _ = kernel.run(check)
    assert reply["content"]["status"] == "ok", reply["content"]

    # The same cell again: every row from the cache, nothing asked, marked in the frame.
    reply, _ = kernel.run(cell, timeout=60)
    assert reply["content"]["status"] == "ok" and len(server.requests_for("tickets")) == 60
    reply, _ = kernel.run("assert labels['cached'].all() and labels['cost'].eq(0).all()")
    assert reply["content"]["status"] == "ok", reply["content"]


def test_the_stop_button_keeps_every_finished_row(kernel: Kernel, server: ConformanceServer) -> None:
    url = server.base_url("echo", hold=6)
    cell = f"%%nemotron -p local --base-url {url} -m m --over tickets --concurrency 2 -o partial\n{{text}}"
    msg_id = kernel.send(cell)
    deadline = time.monotonic() + 30
    while len([r for r in server.requests_for("echo") if r.outcome == "complete"]) < 6:
        assert time.monotonic() < deadline, "the batch never answered six rows"
        time.sleep(0.02)
    time.sleep(0.3)
    kernel.km.interrupt_kernel()
    messages = kernel.messages(msg_id, timeout=30)
    server.release()
    reply = kernel.reply(msg_id)
    assert reply["content"]["status"] == "error" and reply["content"]["ename"] == "BatchCancelled"
    saved = fold_outputs(messages)
    errors = [o for o in saved if o["output_type"] == "error"]
    assert len(errors) == 1 and len(errors[0]["traceback"]) == 1
    assert "6 of 60 rows finished" in errors[0]["traceback"][0]
    html = " ".join(o["data"].get("text/html", "") for o in saved if o["output_type"] == "display_data")
    assert "Stopped: 6 of 60 rows finished" in html
    reply, _ = kernel.run("assert len(partial) == 6 and partial['answer'].notna().all(), partial")
    assert reply["content"]["status"] == "ok", reply["content"]


def test_history_usage_and_a_single_cached_cell(kernel: Kernel, server: ConformanceServer) -> None:
    url = server.base_url("echo")
    for _ in range(2):
        reply, outputs = kernel.run(f"%%nemotron -p local --base-url {url} -m m --cache\nremember the walrus")
        assert reply["content"]["status"] == "ok", reply["content"]
    assert len(server.requests_for("echo")) == 1
    assert "cached" in outputs[0]["data"]["text/html"]
    reply, outputs = kernel.run("%nemotron history 5 --search walrus")
    assert reply["content"]["status"] == "ok", reply["content"]
    text = outputs[0]["data"]["text/plain"]
    assert "remember the walrus" in text and "1 rows" not in text  # one call: the cached one made none
    reply, _ = kernel.run("h = _\nassert list(h['prompt']) == ['remember the walrus'], h")
    assert reply["content"]["status"] == "ok", reply["content"]
    reply, outputs = kernel.run("%nemotron usage --since 2000-01-01")
    assert reply["content"]["status"] == "ok", reply["content"]
    assert "usage from the store" in outputs[0]["data"]["text/plain"]


@pytest.mark.parametrize(
    ("line", "needle"),
    [
        ("--over tickets --chat c", "--over runs the cell once per row: it does not go with --chat"),
        ("--concurrency 3", "--concurrency goes with --over DF"),
        ("--over nowhere", "'nowhere' is not defined in the notebook"),
        ("--over texts", "a DataFrame is needed, and texts is a list"),
        ("--over tickets --concurrency lots", "--concurrency must be a whole number from 1 to 1000"),
        ("--cache --refresh", "--cache and --refresh contradict each other"),
    ],
)
def test_batch_flags_fail_in_one_line(kernel: Kernel, line: str, needle: str) -> None:
    reply, outputs = kernel.run(f"%%nemotron {line}\n{{text}}")
    assert reply["content"]["status"] == "error" and reply["content"]["ename"] == "UsageError"
    said = "".join(o.get("text", "") for o in outputs if o["output_type"] == "stream")
    assert needle in reply["content"]["evalue"] and needle in said, said
    assert said.strip().count("\n") == 0  # one line


def test_a_misspelt_column_in_the_cell_is_one_line(kernel: Kernel, server: ConformanceServer) -> None:
    url = server.base_url("echo")
    reply, _ = kernel.run(f"%%nemotron -p local --base-url {url} -m m --over tickets\nSay {{txet}}")
    assert reply["content"]["ename"] == "UsageError"
    evalue = reply["content"]["evalue"]
    assert "{txet}" in evalue and "columns: text" in evalue
    assert server.requests == []
