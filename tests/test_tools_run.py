"""run_calls: concurrency proven by behaviour, and every failure path reported to the model."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from nemotron_magics._tools import Tool, as_tool, run_calls, serialise_result, tool


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_two_sync_tools_run_at_the_same_time() -> None:
    barrier = threading.Barrier(2, timeout=5)

    @tool
    def left() -> str:
        barrier.wait()  # raises BrokenBarrierError unless the other one is waiting too
        return "left"

    @tool
    def right() -> str:
        barrier.wait()
        return "right"

    out = run(
        run_calls([(left, "1", "left", {}, None), (right, "2", "right", {}, None)], timeout=10, approve=None)
    )
    assert [(o.call_id, o.status, o.result) for o in out] == [("1", "done", "left"), ("2", "done", "right")]


def test_two_async_tools_run_at_the_same_time() -> None:
    a_in, b_in = asyncio.Event(), asyncio.Event()

    @tool
    async def a() -> str:
        a_in.set()
        await asyncio.wait_for(b_in.wait(), 5)
        return "a"

    @tool
    async def b() -> str:
        b_in.set()
        await asyncio.wait_for(a_in.wait(), 5)
        return "b"

    out = run(run_calls([(a, "1", "a", {}, None), (b, "2", "b", {}, None)], timeout=10, approve=None))
    assert [o.status for o in out] == ["done", "done"]


def test_every_failure_is_reported_and_the_rest_goes_on() -> None:
    release = threading.Event()

    @tool
    def ok(x: int) -> dict[str, int]:
        return {"x": x}

    @tool
    def boom() -> None:
        raise ValueError("no such file")

    @tool(timeout=0.2)
    def slow() -> str:
        release.wait(10)
        return "late"

    @tool(confirm=True)
    def delete(path: str) -> str:
        return "deleted"

    asked: list[tuple[str, dict[str, Any]]] = []

    async def approve(t: Tool, args: dict[str, Any]) -> bool:
        asked.append((t.name, args))
        return False

    calls = [
        (ok, "1", "ok", {"x": "2"}, None),
        (None, "2", "nope", {}, None),
        (ok, "3", "ok", None, "Expecting value: line 1 column 1"),
        (ok, "4", "ok", {"x": "two"}, None),
        (boom, "5", "boom", {}, None),
        (slow, "6", "slow", {}, None),
        (delete, "7", "delete", {"path": "/tmp/x"}, None),
    ]
    try:
        out = run(run_calls(calls, timeout=30, approve=approve, available=["ok", "boom", "slow", "delete"]))
    finally:
        release.set()
    status = {o.call_id: o for o in out}
    assert [o.call_id for o in out] == ["1", "2", "3", "4", "5", "6", "7"]
    assert status["1"].status == "done" and status["1"].result == '{"x": 2}' and status["1"].value == {"x": 2}
    assert status["2"].status == "unknown" and "Available tools: boom, delete, ok, slow" in status["2"].result
    assert status["3"].status == "invalid" and "not valid JSON" in status["3"].result
    assert status["4"].status == "invalid" and "x:" in status["4"].result and "'two'" in status["4"].result
    assert status["5"].status == "error" and status["5"].result == "ValueError: no such file"
    assert status["5"].error == "ValueError: no such file" and "Traceback" not in status["5"].result
    assert status["6"].status == "timeout" and "0.2 s" in status["6"].result
    assert status["7"].status == "denied" and "did not approve" in status["7"].result
    assert asked == [("delete", {"path": "/tmp/x"})]


def test_approval_yes_and_global_confirm_and_a_broken_approver() -> None:
    @tool
    def plain() -> str:
        return "ran"

    out = run(
        run_calls([(plain, "1", "plain", {}, None)], timeout=5, approve=lambda t, a: True, confirm=True)
    )
    assert out[0].status == "done"

    def broken(t: Tool, a: dict[str, Any]) -> bool:
        raise OSError("no terminal")

    out = run(run_calls([(plain, "1", "plain", {}, None)], timeout=5, approve=broken, confirm=True))
    assert out[0].status == "denied" and "no terminal" in out[0].result
    out = run(run_calls([(plain, "1", "plain", {}, None)], timeout=5, approve=None, confirm=True))
    assert out[0].status == "done"  # no approver: the lead decides whether that may happen


def test_async_timeout_and_positional_only() -> None:
    @tool
    async def forever() -> None:
        await asyncio.sleep(60)

    def pos(a: int, /, b: int) -> int:
        return a - b

    out = run(
        run_calls(
            [(forever, "1", "forever", {}, None), (as_tool(pos), "2", "pos", {"a": 5, "b": 2}, None)],
            timeout=0.2,
            approve=None,
        )
    )
    assert out[0].status == "timeout" and out[1].result == "3"


def test_serialise_result() -> None:
    import dataclasses

    import pandas as pd
    import pydantic

    class M(pydantic.BaseModel):
        a: int

    @dataclasses.dataclass
    class D:
        b: str

    assert serialise_result("text") == "text"
    assert (
        serialise_result(None) == "null"
        and serialise_result(1.5) == "1.5"
        and serialise_result(True) == "true"
    )
    assert serialise_result([1, {"k": "é"}]) == '[1, {"k": "é"}]'
    assert serialise_result(M(a=1)) == '{"a":1}' and serialise_result(D("x")) == '{"b":"x"}'
    assert serialise_result({"m": M(a=2)}) == '{"m":{"a":2}}'
    frame = pd.DataFrame({"n": range(120)})
    text = serialise_result(frame)
    assert text.startswith("DataFrame: 120 rows × 1 columns (first 50 shown; 70 rows left out)")
    assert len(text.splitlines()) == 52
    big = serialise_result(object.__new__(type("Big", (), {"__repr__": lambda self: "x" * 30_000})))
    assert big.endswith("[10000 more characters left out]") and len(big) < 20_100
