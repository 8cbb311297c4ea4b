"""``%nemotron serve`` and ``%nemotron gpus`` in IPython: parsing, help, dry runs and one-line mistakes.

The real server runs in tests/test_serve_lifecycle.py; here nothing is started, so every case is
what a user sees when a line is wrong, or asks only to look.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from IPython.core.interactiveshell import InteractiveShell

from tests.test_magic import assert_one_line_error, failure, run, shown
from tests.test_magic import ip as ip  # the shared shell fixture

pytestmark = pytest.mark.usefixtures("state")


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("NEMOTRON_SERVE_DIR", str(tmp_path))
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")  # no nvidia-smi, no engines
    return tmp_path


def test_help_lists_every_serve_command(ip: InteractiveShell) -> None:
    for line in ("%nemotron serve", "%nemotron serve help"):
        result, io = run(ip, line)
        assert failure(result) is None
        for word in (
            "vllm, sglang, trtllm, llamacpp, ollama or nim",
            "serve status",
            "logs [-n N]",
            "stop [NAME|all]",
        ):
            assert word in io.stdout
    result, io = run(ip, "%nemotron help")
    assert "%nemotron serve ENGINE" in io.stdout and "%nemotron gpus" in io.stdout


def test_a_dry_run_prints_the_command_line(ip: InteractiveShell) -> None:
    result, io = run(
        ip, "%nemotron serve vllm --model nano-fp8 --tp 2 --port 9001 --dry-run -- --max-num-seqs 8"
    )
    assert failure(result) is None
    line = io.stdout.splitlines()[0]
    assert line.startswith(
        "vllm serve nvidia/NVIDIA-Nemotron-3-Nano-30B-A3B-FP8 --host 127.0.0.1 --port 9001 "
    )
    assert "--tensor-parallel-size 2" in line and line.endswith("--max-num-seqs 8")
    assert ip.run_line_magic("config", "Nemotron.provider") is None  # a dry run registers nothing


@pytest.mark.parametrize(
    ("line", "needles"),
    [
        ("%nemotron serve tgi", ["Unknown engine 'tgi'", "vllm, sglang"]),
        ("%nemotron serve vllm --tp zero --dry-run", ["argument --tp: expected a whole number"]),
        ("%nemotron serve vllm --frobnicate", ["unrecognized arguments: --frobnicate"]),
        ("%nemotron serve llamacpp --model super-fp8 --dry-run", ["serves GGUF only", "super-gguf"]),
        ("%nemotron serve llamacpp --model /no/such.gguf", ["No GGUF file at /no/such.gguf"]),
        ("%nemotron serve ollama --mtp --dry-run", ["cannot run Nemotron's MTP"]),
        ("%nemotron serve vllm", ["vllm needs an NVIDIA GPU", "llama.cpp", "NVIDIA_API_KEY"]),
        ("%nemotron serve stop", ["No server is running"]),
        ("%nemotron serve logs -n 5", ["No server is running"]),
        ("%nemotron serve status now", ["takes no arguments"]),
        ("%nemotron gpus all", ["takes no arguments"]),
    ],
)
def test_mistakes_are_one_line(ip: InteractiveShell, line: str, needles: list[str]) -> None:
    result, io = run(ip, line)
    if failure(result) is not None and not (io.stdout + io.stderr).strip():
        # a NemotronError: IPython shows its one-line _render_traceback_
        message = str(failure(result))
        assert "\n" not in message
        for needle in needles:
            assert needle in message
        return
    assert_one_line_error(result, io, *needles)


def test_status_and_gpus_when_nothing_is_there(ip: InteractiveShell) -> None:
    result, io = run(ip, "%nemotron serve status")
    assert failure(result) is None
    assert "No server is running: start one with %nemotron serve ENGINE" in shown(io)
    result, io = run(ip, "%nemotron gpus")
    assert failure(result) is None
    text = shown(io)
    assert "NVIDIA GPUs" in text and "no NVIDIA GPU" in text and "llama.cpp" in text
