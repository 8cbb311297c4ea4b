"""GPU detection from recorded ``nvidia-smi`` output, the recommendation for each machine, and refusals.

The recordings are what ``nvidia-smi --query-gpu=name,memory.total,compute_cap --format=csv,noheader,nounits``
prints on each machine. The subprocess path is tested with a stand-in ``nvidia-smi`` on PATH that
prints the same recording, so ``gpus()``, ``serve()`` and ``%nemotron gpus`` read it as they would
the real one.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from nemotron_magics import EngineUnavailable
from nemotron_magics._serve._gpus import GPU, gpus, parse_nvidia_smi, recommend
from nemotron_magics._serve._server import serve

H100 = "NVIDIA H100 80GB HBM3, 81559, 9.0"
H200 = "NVIDIA H200, 143771, 9.0"
A100 = "NVIDIA A100-SXM4-80GB, 81920, 8.0"
B200 = "NVIDIA B200, 183359, 10.0"
RTX4090 = "NVIDIA GeForce RTX 4090, 24564, 8.9"

MACHINES = {
    "1xH100": "\n".join([H100]),
    "2xH100": "\n".join([H100] * 2),
    "1xH200": H200,
    "8xA100": "\n".join([A100] * 8),
    "1xB200": B200,
    "1xRTX4090": RTX4090,
    "none": "",
}

#: machine -> (GPU count, total GB, checkpoint recommended or None, TP, words the reason must contain)
EXPECTED = {
    "1xH100": (
        1,
        85.5,
        "nvidia/NVIDIA-Nemotron-3-Nano-30B-A3B-FP8",
        1,
        ["Super does not fit", "FP8 needs 160 GB"],
    ),
    "2xH100": (2, 171.0, "nvidia/NVIDIA-Nemotron-3-Super-120B-A12B-FP8", 2, ["Super FP8 on TP 2", "160 GB"]),
    "1xH200": (1, 150.8, "nvidia/NVIDIA-Nemotron-3-Nano-30B-A3B-FP8", 1, ["NVFP4 needs Blackwell"]),
    "8xA100": (
        8,
        687.2,
        "nvidia/NVIDIA-Nemotron-3-Super-120B-A12B-BF16",
        4,
        ["Super BF16 on TP 4", "264 GB"],
    ),
    "1xB200": (
        1,
        192.3,
        "nvidia/NVIDIA-Nemotron-3-Super-120B-A12B-NVFP4",
        1,
        ["Super NVFP4 on TP 1", "80 GB"],
    ),
    "1xRTX4090": (1, 25.8, None, None, ["No Nemotron checkpoint fits", "Nano needs at least 32 GB"]),
    "none": (0, 0.0, None, None, ["no NVIDIA GPU"]),
}


@pytest.mark.parametrize("machine", list(MACHINES))
def test_recorded_nvidia_smi_and_the_recommendation(machine: str) -> None:
    count, total, checkpoint, tp, words = EXPECTED[machine]
    found = parse_nvidia_smi(MACHINES[machine])
    assert len(found) == count
    assert sum(g.memory_gb for g in found) == pytest.approx(total, abs=0.1)
    rec = recommend(found)
    assert rec.fits == (checkpoint is not None)
    assert (rec.checkpoint.name if rec.checkpoint else None) == checkpoint
    assert rec.tp == tp
    for word in words:
        assert word in rec.message()
    assert "\n" not in rec.message()
    if checkpoint is None or "Nano" in checkpoint:
        # nothing (or only Nano) fits: say what else works
        assert any("llama.cpp" in alt for alt in rec.alternatives)
        assert any("NVIDIA_API_KEY" in alt for alt in rec.alternatives)
    if checkpoint is not None:
        argv = rec.args
        assert argv[1:3] == ["serve", checkpoint]
        assert argv[argv.index("--tensor-parallel-size") + 1] == str(tp)
    else:
        assert rec.args == []


def test_parsing_survives_old_drivers_mig_and_warnings() -> None:
    text = "NVIDIA H100 80GB HBM3, 81559\nNVIDIA A100-SXM4-40GB, [N/A], 8.0\nWARNING: infoROM is corrupted\n"
    found = parse_nvidia_smi(text)
    assert found == [GPU(0, "NVIDIA H100 80GB HBM3", 81559, "9.0")]  # capability from the name
    assert found[0].fp8 and not found[0].blackwell


def _fake_nvidia_smi(bin_dir: Path, output: str, *, old_driver: bool = False) -> Path:
    """An ``nvidia-smi`` that prints a recording (and, as an old driver, rejects ``compute_cap``)."""
    bin_dir.mkdir(exist_ok=True)
    record = bin_dir / "recording.csv"
    record.write_text(output + "\n")
    reject = (
        'case "$1" in *compute_cap*) echo "Field \\"compute_cap\\" is not a valid field"; exit 2;; esac\n'
    )
    script = bin_dir / "nvidia-smi"
    script.write_text(
        "#!/bin/sh\n" + (reject if old_driver else "") + f'cut -d, -f1-{2 if old_driver else 3} "{record}"\n'
    )
    script.chmod(0o755)
    return script


@pytest.fixture
def bin_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A PATH holding only what a test puts there (no engine, no nvidia-smi until faked)."""
    path = tmp_path / "bin"
    path.mkdir()
    monkeypatch.setenv("PATH", f"{path}:/usr/bin:/bin")
    monkeypatch.setenv("NEMOTRON_SERVE_DIR", str(tmp_path / "state"))
    return path


def test_gpus_runs_nvidia_smi_and_falls_back_for_old_drivers(bin_dir: Path) -> None:
    assert gpus() == []  # no nvidia-smi: no GPU, no error
    _fake_nvidia_smi(bin_dir, MACHINES["2xH100"])
    assert [g.name for g in gpus()] == ["NVIDIA H100 80GB HBM3"] * 2
    _fake_nvidia_smi(bin_dir, B200, old_driver=True)
    assert gpus() == [GPU(0, "NVIDIA B200", 183359, "10.0")]


def test_serve_picks_what_fits_the_gpus_found(bin_dir: Path) -> None:
    _fake_nvidia_smi(bin_dir, MACHINES["8xA100"])
    server = serve("vllm", dry_run=True)
    assert server.command[2] == "nvidia/NVIDIA-Nemotron-3-Super-120B-A12B-BF16"
    assert server.command[server.command.index("--tensor-parallel-size") + 1] == "4"
    assert "--kv-cache-dtype" not in server.command  # Ampere: no FP8 KV cache for BF16 weights
    assert any("8x NVIDIA A100" in note for note in server.notes)


@pytest.mark.parametrize(
    ("machine", "model", "words"),
    [
        ("none", None, ["vllm needs an NVIDIA GPU", "no NVIDIA GPU", "llama.cpp", "NVIDIA_API_KEY"]),
        ("1xRTX4090", None, ["Nothing for vllm to serve here", "No Nemotron checkpoint fits", "llama.cpp"]),
        ("1xRTX4090", "nano-fp8", ["Nano FP8 needs 32 GB of GPU memory; TP 1 here gives 26 GB"]),
        ("2xH100", "super-nvfp4", ["Super NVFP4 needs Blackwell GPUs", "2x NVIDIA H100"]),
        ("1xH100", "super-bf16", ["TP 4 for Super BF16 needs 4 GPUs", "Nano FP8 on TP 1"]),
        ("2xH100", "super-bf16:--tp=2", ["Super BF16 needs 264 GB of GPU memory; TP 2 here gives 171 GB"]),
    ],
)
def test_serve_refuses_what_does_not_fit_with_an_alternative(
    bin_dir: Path, machine: str, model: str | None, words: list[str]
) -> None:
    if MACHINES[machine]:
        _fake_nvidia_smi(bin_dir, MACHINES[machine])
    model, _, tp = (model or "").partition(":--tp=")
    with pytest.raises(EngineUnavailable) as refused:
        serve("vllm", model=model or None, tp=int(tp) if tp else None)
    for word in words:
        assert word in refused.value.message
    assert "\n" not in refused.value.message


def test_an_engine_that_is_not_installed_names_its_package(bin_dir: Path) -> None:
    _fake_nvidia_smi(bin_dir, MACHINES["2xH100"])
    for engine, hint in (
        ("vllm", "pip install vllm"),
        ("sglang", "pip install 'sglang[all]'"),
        ("trtllm", "pip install tensorrt-llm"),
        ("ollama", "ollama.com"),
        ("nim", "install Docker and the NVIDIA Container Toolkit"),
    ):
        with pytest.raises(EngineUnavailable, match="is not installed") as missing:
            serve(engine)
        assert hint in missing.value.message, engine
    assert serve("vllm", dry_run=True).command[0] == "vllm"  # a dry run needs nothing installed
