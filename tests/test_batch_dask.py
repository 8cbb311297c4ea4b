"""nm.map over a Dask DataFrame on a real LocalCluster: lazy, per partition, resumable from the cache."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

import nemotron_magics as nm
from tests.conformance.server import ConformanceServer
from tests.kernels import ROOT
from tests.ticket_schema import Ticket

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("dask.distributed")


@pytest.fixture(scope="module")
def cluster() -> Iterator[object]:
    # The same API as a real cluster; threads in this process, so the workers share the loopback server.
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=2, processes=False, dashboard_address=None
        ) as c,
        distributed.Client(c) as client,
    ):
        yield client


@pytest.fixture(autouse=True)
def own_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEMOTRON_STORE", str(tmp_path / "store.sqlite3"))


def test_a_dask_frame_runs_per_partition_and_resumes_from_the_cache(
    cluster: object, server: ConformanceServer
) -> None:
    df = pd.DataFrame(
        # Each row its own prompt: a repeated one would be answered from the cache by another partition.
        {
            "text": [
                f"{t} (#{i})"
                for i, t in enumerate(["The app crashes", "Refund please", "Locked out", "Hi"] * 5)
            ]
        },
        index=pd.RangeIndex(100, 120, name="ticket"),
    )
    ddf = dd.from_pandas(df, npartitions=4)
    lazy = nm.map(ddf, "Classify:\n{text}", schema=Ticket, base_url=server.base_url("tickets"))
    assert isinstance(lazy, dd.DataFrame)
    assert server.requests == []  # lazy: nothing is sent until it is computed
    assert list(lazy.columns[:3]) == ["category", "priority", "urgent"]

    out = lazy.compute()
    assert list(out.index) == list(df.index) and out.index.name == "ticket"
    assert list(out["category"]) == ["bug", "billing", "account", "other"] * 5
    assert str(out["priority"].dtype) == "Int64" and not out["cached"].any()
    assert len(server.requests_for("tickets")) == 20

    again = nm.map(ddf, "Classify:\n{text}", schema=Ticket, base_url=server.base_url("tickets")).compute()
    assert len(server.requests_for("tickets")) == 20  # every row came from the cache: same keys
    assert again["cached"].all() and list(again["category"]) == list(out["category"])


def test_a_misspelt_column_fails_when_the_graph_is_built(server: ConformanceServer) -> None:
    ddf = dd.from_pandas(pd.DataFrame({"text": ["a", "b"]}), npartitions=1)
    with pytest.raises(nm.ConfigurationError, match=r"\{txt\}.*not a column"):
        nm.map(ddf, "{txt}", base_url=server.base_url("echo"))


def test_importing_the_package_never_imports_dask() -> None:
    code = (
        "import sys, nemotron_magics as nm\n"
        "nm.map, nm.amap, nm.history, nm.usage, nm.BatchCancelled\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))\n"
    )
    found = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert found.strip() == "[]"
