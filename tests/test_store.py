"""The store: real SQLite files, real processes writing at once, a real SIGKILL mid-batch."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

import nemotron_magics as nm
from nemotron_magics import ConfigurationError
from nemotron_magics.display import footer
from nemotron_magics.session import LEDGER
from tests.conformance.server import ConformanceServer
from tests.kernels import ROOT

KEY = "nvapi-" + "PLANTEDKEY" + "0123456789abcdefXYZ"  # split: no key-shaped literal in the source


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "store.sqlite3"
    monkeypatch.setenv("NEMOTRON_STORE", str(path))
    return path


def rows(path: Path, sql: str) -> list[tuple[object, ...]]:
    """Read the file as another process would (its own connection)."""
    conn = sqlite3.connect(path, timeout=30)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def worker(url: str, n: int, out: Path, store: Path, prefix: str = "p") -> subprocess.Popen[bytes]:
    env = {**os.environ, "NEMOTRON_STORE": str(store), "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "tests.batch_worker", url, str(n), str(out), prefix],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


# --------------------------------------------------------------------------- every call, once


def test_every_finished_call_is_history_whichever_surface(server: ConformanceServer, store: Path) -> None:
    before = LEDGER.total().requests
    nm.chat("from chat()", base_url=server.base_url("echo"))
    nm.Session(None, base_url=server.base_url("echo")).chat("from a session")
    with nm.Client(base_url=server.base_url("echo")) as client:
        client.chat("from a client")
    assert LEDGER.total().requests == before + 3  # nm.chat() counts too, not only sessions
    frame = nm.history()
    assert list(frame["prompt"]) == ["from a client", "from a session", "from chat()"]  # newest first
    assert list(frame["answer"]) == list(frame["prompt"])
    first = frame.iloc[-1]
    assert first["provider"] == "local" and first["finish_reason"] == "stop"
    assert first["messages"] == [{"role": "user", "content": "from chat()"}]
    assert first["prompt_tokens"] == 2 and first["latency_s"] > 0 and pd.isna(first["error"])
    assert "messages" not in first["params"] and "stream" not in first["params"]


def test_history_search_and_the_usage_frames(server: ConformanceServer, store: Path) -> None:
    for text in ("the zebra crossing", "a zebra and a lion", "nothing striped here", 'quote " AND ( OR'):
        nm.chat(text, base_url=server.base_url("echo"))
    nm.chat("priced", provider="deepinfra", api_key="di-test-usage-0000000", base_url=server.base_url("echo"))
    found = nm.history(search="zebra")
    assert sorted(found["prompt"]) == ["a zebra and a lion", "the zebra crossing"]
    assert list(nm.history(search="zebra lion")["prompt"]) == ["a zebra and a lion"]  # every word
    # Quotes, brackets and FTS5 operators are searched for as words, never parsed as a query.
    assert list(nm.history(search="lion)")["prompt"]) == ["a zebra and a lion"]
    assert list(nm.history(search='"quote OR')["prompt"]) == ['quote " AND ( OR']
    assert len(nm.history(2)) == 2 and len(nm.history(None)) == 5
    with pytest.raises(ConfigurationError, match="at least 1"):
        nm.history(0)

    usage = nm.usage()
    assert list(usage.columns) == [
        "day",
        "provider",
        "model",
        "requests",
        "prompt_tokens",
        "completion_tokens",
        "reasoning_tokens",
        "cost",
    ]
    by = {r.provider: r for r in usage.itertuples()}
    assert by["local"].requests == 4 and by["deepinfra"].requests == 1
    assert by["local"].prompt_tokens == 3 + 5 + 3 + 5 and pd.isna(by["local"].cost)
    assert by["deepinfra"].cost == pytest.approx(nm.get_provider("deepinfra").estimate_cost(1, 1, None))
    assert str(by["local"].day) == time.strftime("%Y-%m-%d")
    assert nm.usage(since="2999-01-01").empty and len(nm.usage(since="2000-01-01")) == 2
    with pytest.raises(ConfigurationError, match="since must be a date"):
        nm.usage(since="last tuesday")


def test_two_processes_writing_at_once_lose_nothing(
    server: ConformanceServer, store: Path, tmp_path: Path
) -> None:
    url = server.base_url("echo")
    procs = [worker(url, 150, tmp_path / f"out{k}.json", store, prefix=f"w{k}") for k in range(2)]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()[-2000:]
    prompts = [p for (p,) in rows(store, "SELECT prompt FROM history")]
    assert len(prompts) == 300 and len(set(prompts)) == 300
    assert {p.split()[0] for p in prompts} == {"w0", "w1"}
    assert rows(store, "SELECT count(*) FROM cache") == [(300,)]
    assert rows(store, "PRAGMA journal_mode") == [("wal",)]


def test_a_killed_batch_resumes_without_asking_for_finished_rows(
    server: ConformanceServer, store: Path, tmp_path: Path
) -> None:
    url = server.base_url("echo", hold=10)  # ten rows are answered, then the server holds the rest
    proc = worker(url, 30, tmp_path / "first.json", store)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if rows(store, "SELECT count(*) FROM cache") == [(10,)]:
                break
        except sqlite3.OperationalError:  # not created yet
            pass
        time.sleep(0.05)
    else:
        proc.kill()
        raise AssertionError(f"the first run never cached ten rows: {proc.communicate()[1].decode()[-2000:]}")
    proc.send_signal(signal.SIGKILL)  # a crash: no cleanup, no flush, nothing
    proc.wait(timeout=10)
    first_run = {
        r.body["messages"][-1]["content"] for r in server.requests_for("echo") if r.outcome == "complete"
    }
    assert len(first_run) == 10
    asked_before = len(server.requests_for("echo"))

    server.release()
    again = worker(url, 30, tmp_path / "second.json", store)
    _, err = again.communicate(timeout=120)
    assert again.returncode == 0, err.decode()[-2000:]
    second_run = [r.body["messages"][-1]["content"] for r in server.requests_for("echo")[asked_before:]]
    assert len(second_run) == 20 and not first_run & set(second_run)  # no finished row asked again
    out = pd.read_json(tmp_path / "second.json", orient="index")
    assert len(out) == 30 and out["error"].isna().all()
    assert set(out.loc[out["cached"], "answer"]) == first_run  # the finished rows came from the store
    assert out.loc[out["cached"], "cost"].eq(0).all()


# --------------------------------------------------------------------------- the cache, one call at a time


def test_a_single_call_opts_in_and_is_marked_cached(server: ConformanceServer, store: Path) -> None:
    url = server.base_url("echo")
    first = nm.chat("cache me", base_url=url, cache=True, seed=3)
    again = nm.chat("cache me", base_url=url, cache=True, seed=3)
    assert len(server.requests_for("echo")) == 1
    assert again.cached and not first.cached and again.content == "cache me"
    assert "cached" in footer(again) and "cached" not in footer(first)
    assert "cached" in again._repr_mimebundle_()["text/html"]  # what the cell shows
    nm.chat("cache me", base_url=url, cache=True, seed=4)  # another seed is another request
    nm.chat("cache me", base_url=url, seed=3)  # no cache= : asks
    fresh = nm.chat("cache me", base_url=url, cache="refresh", seed=3)
    assert not fresh.cached and len(server.requests_for("echo")) == 4
    assert len(nm.history(None)) == 4  # a cached answer made no call: it is not history


def test_only_clean_finishes_are_cached(server: ConformanceServer, store: Path) -> None:
    url = server.base_url("length_cutoff")
    nm.chat("q", base_url=url, cache=True)
    nm.chat("q", base_url=url, cache=True)
    assert len(server.requests_for("length_cutoff")) == 2
    assert rows(store, "SELECT count(*) FROM cache") == [(0,)]


def test_a_response_round_trips_through_its_dict(server: ConformanceServer, store: Path) -> None:
    for scenario in ("openrouter", "tool_call_single", "think_inline"):
        r = nm.chat("q", base_url=server.base_url(scenario))
        data = r.to_dict()
        assert json.loads(json.dumps(data)) == data
        back = nm.Response.from_dict(data)
        assert back.to_dict() == data
        assert (back.content, back.reasoning, back.usage) == (r.content, r.reasoning, r.usage)
        assert [c.arguments for c in back.tool_calls] == [c.arguments for c in r.tool_calls]
    with pytest.raises(nm.StreamError) as info:
        nm.chat("q", base_url=server.base_url("truncate"))
    broken = info.value.response
    assert broken is not None
    back = nm.Response.from_dict(broken.to_dict())
    assert type(back.error) is type(broken.error) and back.error.message == broken.error.message


# --------------------------------------------------------------------------- never a key; off


def test_no_key_in_the_database_file(server: ConformanceServer, store: Path) -> None:
    url = server.base_url("echo")
    nm.chat(f"my key is {KEY}, keep it", provider="nvidia", api_key=KEY, base_url=url, cache=True)
    with pytest.raises(nm.AuthenticationError):
        nm.chat("q", provider="nvidia", api_key=KEY, base_url=server.base_url("unauthorized", pad=3))
    df = pd.DataFrame({"text": [f"row with {KEY}", "clean row"]})
    nm.map(df, "{text}", provider="nvidia", api_key=KEY, base_url=url, progress=False)
    assert len(nm.history(None)) >= 3
    files = [p for p in store.parent.iterdir() if p.name.startswith(store.name)]
    assert any(p.name.endswith("-wal") for p in files)  # the WAL is checked too, before a checkpoint
    for path in files:
        data = path.read_bytes()
        for needle in (KEY, KEY[6:20], KEY[-14:]):
            assert needle.encode() not in data, f"{needle!r} found in {path.name}"
    assert "***" in " ".join(nm.history(None)["prompt"])


def test_the_store_off(server: ConformanceServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEMOTRON_STORE", "off")
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "jupyter"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    url = server.base_url("echo")
    assert nm.chat("q", base_url=url, cache=True).content == "q"
    assert not nm.chat("q", base_url=url, cache=True).cached  # nothing is cached with the store off
    out = nm.map(pd.DataFrame({"t": ["a", "b"]}), "{t}", base_url=url, progress=False)
    assert list(out["answer"]) == ["a", "b"]
    assert len(server.requests_for("echo")) == 4
    assert not (tmp_path / "jupyter").exists() and not (tmp_path / "home").exists()
    with pytest.raises(ConfigurationError, match="The store is off"):
        nm.history()
    nm.configure(store=str(tmp_path / "moved.sqlite3"))  # the setting wins over the environment
    nm.chat("moved", base_url=url)
    assert rows(tmp_path / "moved.sqlite3", "SELECT prompt FROM history") == [("moved",)]
