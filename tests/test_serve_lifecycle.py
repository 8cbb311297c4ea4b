"""``%nemotron serve llamacpp`` for real: llama-cpp-python on CPU serving the SmolLM2 GGUF.

No mocks: the server a user gets is started, waited for, registered as ``local``, asked through
the magic in a real kernel, listed, read, found again after the kernel restarts, and stopped.
An engine that exits at start fails in one line with its log's tail. Every test runs with its
own state directory (``NEMOTRON_SERVE_DIR``), which kernels inherit.
"""

from __future__ import annotations

import json
import os
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nemotron_magics import ConfigurationError, EngineUnavailable, settings
from nemotron_magics._embedded import gguf_path
from nemotron_magics._process import free_port, pid_alive, records
from nemotron_magics._serve._magic import status_table
from nemotron_magics._serve._server import find, serve, servers
from tests.kernels import ROOT, Kernel

pytestmark = [pytest.mark.embedded, pytest.mark.kernel]


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A state dir of this test's own; whatever a test leaves running is stopped afterwards."""
    monkeypatch.setenv("NEMOTRON_SERVE_DIR", str(tmp_path))
    yield tmp_path
    for record in records(include_exited=True):
        record.supervised().stop(grace=5)
        record.forget()


def _text(outputs: list[Any]) -> str:
    parts = []
    for out in outputs:
        if out.get("output_type") == "stream":
            parts.append(out["text"])
        parts.extend(str(value) for value in (out.get("data") or {}).values())
        if out.get("output_type") == "error":
            parts.extend(out.get("traceback") or [])
    return "\n".join(parts)


def _ok(kernel: Kernel, code: str, timeout: float = 60) -> str:
    reply, outputs = kernel.run(code, timeout=timeout)
    text = _text(outputs)
    assert reply["content"]["status"] == "ok", text
    return text


def _wait_gone(pid: int, seconds: float = 15) -> bool:
    deadline = time.monotonic() + seconds
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not pid_alive(pid)


def test_serve_answer_status_logs_restart_find_again_stop(state: Path) -> None:
    gguf = gguf_path()
    kernel = Kernel()
    try:
        where = _ok(
            kernel, "%load_ext nemotron_magics\nimport nemotron_magics\nprint(nemotron_magics.__file__)"
        )
        assert where.strip().startswith(str(ROOT)), "the kernel must import this checkout"

        started = time.monotonic()
        shown = _ok(kernel, f"%nemotron serve llamacpp --model {gguf}", timeout=180)
        assert re.search(r"✓ llamacpp-\d+ ready in [\d.]+ s", shown), shown  # the live line's last state
        assert "%%nemotron cells now go to it (provider local, model SmolLM2-135M-Instruct.Q4_1)" in shown
        print(f"serve llamacpp: ready in {time.monotonic() - started:.1f}s")
        (record,) = records()
        assert record.engine == "llamacpp" and record.model == str(gguf)
        assert Path(record.log).parent == state
        assert json.loads((state / f"{record.name}.json").read_text())["pid"] == record.pid

        registered = _ok(
            kernel, "import nemotron_magics as nm\nprint(nm.settings.provider, nm.settings.base_url)"
        )
        assert registered.split() == ["local", record.url]

        _ok(
            kernel,
            "%%nemotron --reasoning off -t 0 --max-tokens 24 -o answer\nSay hello to Ada.",
            timeout=120,
        )
        seen = _ok(
            kernel, "print(answer.provider, answer.model, answer.finish_reason, bool(answer.content.strip()))"
        )
        provider, model, _finish, answered = seen.split()
        assert (provider, model, answered) == ("local", "SmolLM2-135M-Instruct.Q4_1", "True")
        streamed = _ok(
            kernel, "t = answer.timings\nprint(t.first_answer is not None and t.first_answer < t.done)"
        )
        assert streamed.strip() == "True", "the answer arrived in pieces"

        status = _ok(kernel, "%nemotron serve status")
        assert record.name in status and "ready" in status and "← local" in status
        logs = _ok(kernel, "%nemotron serve logs -n 30")
        assert f"# {record.name}: the last 30 lines of {record.log}" in logs
        assert "/v1/chat/completions" in logs or "llama_perf" in logs

        kernel.km.restart_kernel(now=True)
        kernel.kc.wait_for_ready(timeout=60)
        assert pid_alive(record.pid), "the server survives a kernel restart"

        again = _ok(kernel, "%load_ext nemotron_magics\n%nemotron serve status")
        assert record.name in again and "ready" in again and "← local" not in again  # found, not yet used
        reused = _ok(kernel, f"%nemotron serve llamacpp --model {gguf}", timeout=60)
        assert f"{record.name} already running at {record.url}" in reused
        assert len(records()) == 1, "the same line in a new kernel attaches instead of starting a second"
        _ok(kernel, "%%nemotron --reasoning off -t 0 --max-tokens 8 -o again\nHello?", timeout=120)
        assert _ok(kernel, "print(again.provider, bool(again.content))").split() == ["local", "True"]

        stopped = _ok(kernel, "%nemotron serve stop")
        assert f"stopped {record.name} (it was the local provider)" in stopped
        after = _ok(kernel, "import nemotron_magics as nm\nprint(nm.settings.provider, nm.servers())")
        assert after.split() == ["None", "[]"]
        assert _wait_gone(record.pid), "stop ends the server"
        assert not Path(record.log).exists() and not list(state.glob("*.json"))
    finally:
        kernel.stop()


def test_an_engine_that_exits_at_start_fails_in_one_line_with_its_log(state: Path) -> None:
    broken = state / "broken.gguf"
    broken.write_bytes(b"this is not a GGUF file\n" * 64)
    with pytest.raises(EngineUnavailable) as failed:
        serve("llamacpp", model=str(broken), timeout=60, progress=False)
    message = failed.value.message
    assert message.startswith("llamacpp exited at startup with code ")
    assert "\n" not in message
    log = re.search(r"\(log (\S+)\)", message)
    assert log is not None and Path(log[1]).exists(), "a failed start keeps the log its error names"
    assert re.search(r"error|failed|exception", message.split("):", 1)[1], re.IGNORECASE), message
    assert "--dry-run shows the command line" in message
    assert records() == [] and settings.provider is None

    kernel = Kernel()
    try:
        reply, outputs = kernel.run(
            f"%load_ext nemotron_magics\n%nemotron serve llamacpp --model {broken}", timeout=90
        )
        assert reply["content"]["status"] == "error"
        (error,) = [out for out in outputs if out["output_type"] == "error"]
        assert error["ename"] == "EngineUnavailable"
        assert len(error["traceback"]) == 1 and "exited at startup" in error["traceback"][0]
        assert "Traceback" not in _text(outputs)
    finally:
        kernel.stop()


def test_a_missing_file_is_refused_before_anything_starts(state: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"No GGUF file at /no/such/model\.gguf"):
        serve("llamacpp", model="/no/such/model.gguf")
    assert records() == []


def test_the_python_handle_two_servers_at_once(state: Path) -> None:
    gguf = str(gguf_path())
    first = serve("llamacpp", model=gguf, wait=False)
    assert first.command[first.command.index("--port") + 1] == str(first.port)
    assert first.wait(timeout=90, progress=False) is first
    assert first.ready()
    first.register()
    ticks: list[tuple[float, str]] = []
    second = serve(
        "llamacpp",
        model=gguf,
        port=free_port(),
        progress=lambda s, line: ticks.append((s, line)),
        register=False,
    )
    try:
        assert second.port != first.port and second.ready()
        assert ticks and all(
            isinstance(s, float) and isinstance(line, str) for s, line in ticks
        )  # while loading
        assert {s.name for s in servers()} == {first.name, second.name}
        assert settings.base_url == first.url  # register=False left the first one as local
        with pytest.raises(ConfigurationError, match="2 servers run: name one of"):
            find()
        assert "Uvicorn running on" in first.logs(200) or "uvicorn" in first.logs(200).lower()
        same = serve("llamacpp", model=gguf, port=second.port)
        assert same.reused and same.pid == second.pid
        with pytest.raises(ConfigurationError, match=r"already serves .* with other flags: stop it first"):
            serve("llamacpp", model=gguf, context=2048)  # the same model, other flags: never silently reused
    finally:
        second.stop()
        first.stop()
    assert settings.base_url is None and settings.provider is None
    assert not first.ready() and not second.ready()
    assert _wait_gone(first.pid or 0) and _wait_gone(second.pid or 0)
    assert servers() == []


def test_a_server_that_dies_on_its_own_keeps_its_log_until_looked_at(state: Path) -> None:
    server = serve("llamacpp", model=str(gguf_path()), progress=False)
    assert server.pid is not None
    os.kill(server.pid, signal.SIGKILL)
    assert _wait_gone(server.pid)
    assert servers() == []  # not running: never handed out to a new serve() or a cell
    table = str(status_table())
    assert f"{server.name}" in table and "exited" in table and "Exited on their own" in table
    gone = find(server.name)
    assert "llama" in gone.logs(200).lower()  # what it printed before it died
    gone.stop()
    assert records(include_exited=True) == [] and settings.provider is None
