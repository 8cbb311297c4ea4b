"""The command line each engine gets, for every checkpoint and option, against PROVIDERS.md.

Table-driven: ``BASE`` is the whole command per engine x checkpoint (or the one-line refusal),
``OPTIONS`` what each option adds, replaces or refuses per engine; every combination of the two
is checked. Flags are compared as groups (``--tp 2``), so an option is checked for exactly what it
changes and nothing else. No engine is installed here: this is the argv the user would run.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from nemotron_magics._errors import ConfigurationError
from nemotron_magics._serve._llamacpp import SERVER_SCRIPT, cpu_threads
from nemotron_magics._serve._recipes import get_recipe
from nemotron_magics._serve._spec import Request, Version, parse_checkpoint

CHECKPOINTS = (
    "super-bf16",
    "super-fp8",
    "super-nvfp4",
    "super-gguf",
    "nano-bf16",
    "nano-fp8",
    "nano-nvfp4",
    "nano-gguf",
)
SUPER = "nvidia/NVIDIA-Nemotron-3-Super-120B-A12B-"
NANO = "nvidia/NVIDIA-Nemotron-3-Nano-30B-A3B-"
PORT = 8000

# --------------------------------------------------------------------------- the whole command, per engine

_VLLM_TAIL = (
    "--mamba-ssm-cache-dtype float32 --enable-prefix-caching --mamba-cache-mode align "
    "--enable-auto-tool-choice --tool-call-parser qwen3_xml --reasoning-parser nemotron_v3"
)
_FP8_KV = "--kv-cache-dtype fp8 --attention-backend TRITON_ATTN"


def _vllm(model: str, tp: int, quantised: bool) -> str:
    kv = f" {_FP8_KV}" if quantised else ""
    return (
        f"vllm serve {model} --host 127.0.0.1 --port 8000 --trust-remote-code --tensor-parallel-size {tp}"
        f"{kv} {_VLLM_TAIL}"
    )


def _sglang(model: str, tp: int, quantised: bool) -> str:
    kv = " --kv-cache-dtype fp8_e4m3" if quantised else ""
    return (
        f"PYTHON -m sglang.launch_server --model-path {model} --host 127.0.0.1 --port 8000 "
        f"--trust-remote-code --tp {tp} --tool-call-parser qwen3_coder --reasoning-parser nemotron_3 "
        f"--mamba-ssm-dtype float32{kv}"
    )


def _trtllm(model: str, tp: int) -> str:
    return (
        f"trtllm-serve {model} --host 127.0.0.1 --port 8000 --tp_size {tp} --trust_remote_code "
        "--reasoning_parser nano-v3 --tool_parser qwen3_coder "
        "--extra_llm_api_options STATE/trtllm-options.yaml"
    )


def _llama_python(repo: str, alias: str) -> str:
    return (
        f"PYTHON SCRIPT --model '*Q4_K_M*.gguf' --hf_model_repo_id {repo} --model_alias {alias} "
        "--host 127.0.0.1 --port 8000 --n_ctx 32768 --n_threads THREADS --n_threads_batch THREADS "
        "--interrupt_requests False"
    )


def _nim(image: str) -> str:
    return (
        "docker run --rm --name nemotron-8000 --gpus all --shm-size 16GB -p 127.0.0.1:8000:8000 "
        f"-v HOME/.cache/nim:/opt/nim/.cache {image}"
    )


_NO_GGUF = "does not serve GGUF"
_GGUF_ONLY = "serves GGUF only"
_SUPER_GGUF = "unsloth/NVIDIA-Nemotron-3-Super-120B-A12B-GGUF"
_NANO_GGUF = "unsloth/Nemotron-3-Nano-30B-A3B-GGUF"
_SUPER_NIM = "nvcr.io/nim/nvidia/nemotron-3-super-120b-a12b:3.0.0"
_NANO_NIM = "nvcr.io/nim/nvidia/nemotron-3-nano-30b-a3b:latest"

#: engine -> checkpoint -> the command (PYTHON, SCRIPT, THREADS, STATE, HOME filled in) or the refusal.
BASE: dict[str, dict[str, str | tuple[str, str]]] = {
    "vllm": {
        "super-bf16": _vllm(SUPER + "BF16", 4, False),
        "super-fp8": _vllm(SUPER + "FP8", 2, True),
        "super-nvfp4": _vllm(SUPER + "NVFP4", 1, True),
        "super-gguf": ("refuse", _NO_GGUF),
        "nano-bf16": _vllm(NANO + "BF16", 1, False),
        "nano-fp8": _vllm(NANO + "FP8", 1, True),
        "nano-nvfp4": _vllm(NANO + "NVFP4", 1, True),
        "nano-gguf": ("refuse", _NO_GGUF),
    },
    "sglang": {
        "super-bf16": _sglang(SUPER + "BF16", 4, False),
        "super-fp8": _sglang(SUPER + "FP8", 2, True),
        "super-nvfp4": _sglang(SUPER + "NVFP4", 1, True),
        "super-gguf": ("refuse", _NO_GGUF),
        "nano-bf16": _sglang(NANO + "BF16", 1, False),
        "nano-fp8": _sglang(NANO + "FP8", 1, True),
        "nano-nvfp4": _sglang(NANO + "NVFP4", 1, True),
        "nano-gguf": ("refuse", _NO_GGUF),
    },
    "trtllm": {
        "super-bf16": _trtllm(SUPER + "BF16", 4),
        "super-fp8": _trtllm(SUPER + "FP8", 2),
        "super-nvfp4": _trtllm(SUPER + "NVFP4", 1),
        "super-gguf": ("refuse", _NO_GGUF),
        "nano-bf16": _trtllm(NANO + "BF16", 1),
        "nano-fp8": _trtllm(NANO + "FP8", 1),
        "nano-nvfp4": _trtllm(NANO + "NVFP4", 1),
        "nano-gguf": ("refuse", _NO_GGUF),
    },
    "llamacpp": {
        **{cp: ("refuse", _GGUF_ONLY) for cp in CHECKPOINTS if not cp.endswith("gguf")},
        "super-gguf": _llama_python(_SUPER_GGUF, "NVIDIA-Nemotron-3-Super-120B-A12B-GGUF"),
        "nano-gguf": _llama_python(_NANO_GGUF, "Nemotron-3-Nano-30B-A3B-GGUF"),
    },
    "ollama": {
        **{cp: "OLLAMA_HOST=127.0.0.1:8000 ollama serve" for cp in CHECKPOINTS},
    },
    "nim": {
        **{cp: _nim(_SUPER_NIM) for cp in ("super-bf16", "super-fp8", "super-nvfp4")},
        **{cp: _nim(_NANO_NIM) for cp in ("nano-bf16", "nano-fp8", "nano-nvfp4")},
        "super-gguf": ("refuse", _NO_GGUF),
        "nano-gguf": ("refuse", _NO_GGUF),
    },
}

#: What Ollama pulls once it answers, per checkpoint.
OLLAMA_PULLS = {
    **dict.fromkeys(("super-bf16", "super-fp8", "super-nvfp4"), "nemotron-3-super"),
    **dict.fromkeys(("nano-bf16", "nano-fp8", "nano-nvfp4"), "nemotron-3-nano"),
    "super-gguf": f"hf.co/{_SUPER_GGUF}",
    "nano-gguf": f"hf.co/{_NANO_GGUF}",
}

# --------------------------------------------------------------------------- what each option changes

_MTP_VLLM = json.dumps({"method": "mtp", "num_speculative_tokens": 3})
_NO_TP = "no tensor parallelism"
_NO_MTP = "cannot run Nemotron's MTP"

#: option -> engine -> {"add": groups, "drop": flags, "env": additions, "yaml": text} or ("refuse", text).
OPTIONS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "tp=8": (
        {"tp": 8},
        {
            "vllm": {"add": ["--tensor-parallel-size 8"], "drop": ["--tensor-parallel-size"]},
            "sglang": {"add": ["--tp 8"], "drop": ["--tp"]},
            "trtllm": {"add": ["--tp_size 8"], "drop": ["--tp_size"]},
            "llamacpp": ("refuse", _NO_TP),
            "ollama": ("refuse", _NO_TP),
            "nim": {"add": ["-e NIM_TENSOR_PARALLEL_SIZE=8"]},
        },
    ),
    "context=131072": (
        {"context": 131_072},
        {
            "vllm": {"add": ["--max-model-len 131072"]},
            "sglang": {"add": ["--context-length 131072"]},
            "trtllm": {"add": ["--max_seq_len 131072"]},
            "llamacpp": {"add": ["--n_ctx 131072"], "drop": ["--n_ctx"]},
            "ollama": {"env": {"OLLAMA_CONTEXT_LENGTH": "131072"}},
            "nim": {"add": ["-e NIM_MAX_MODEL_LEN=131072"]},
        },
    ),
    "context=1M": (
        {"context": 1_000_000},
        {
            "vllm": {"add": ["--max-model-len 1000000"], "env": {"VLLM_ALLOW_LONG_MAX_MODEL_LEN": "1"}},
            "sglang": {
                "add": ["--context-length 1000000"],
                "env": {"SGLANG_ALLOW_OVERWRITE_LONGER_CONTEXT_LEN": "1"},
            },
            "trtllm": {"add": ["--max_seq_len 1000000"]},
            "llamacpp": {"add": ["--n_ctx 1000000"], "drop": ["--n_ctx"]},
            "ollama": {"env": {"OLLAMA_CONTEXT_LENGTH": "1000000"}},
            "nim": {"add": ["-e NIM_MAX_MODEL_LEN=1000000"]},
        },
    ),
    "mtp": (
        {"mtp": True},
        {
            "vllm": {"add": [f"--speculative-config {shlex.quote(_MTP_VLLM)}"]},
            "sglang": {
                "add": [
                    "--speculative-algorithm EAGLE",
                    "--speculative-num-steps 3",
                    "--speculative-eagle-topk 1",
                    "--speculative-num-draft-tokens 4",
                ]
            },
            "trtllm": {
                "yaml": 'speculative_config:\n  decoding_type: "MTP"\n  num_nextn_predict_layers: 3\n'
            },
            "llamacpp": ("refuse", _NO_MTP),
            "ollama": ("refuse", _NO_MTP),
            "nim": {"add": ["-e " + shlex.quote(f"NIM_PASSTHROUGH_ARGS=--speculative-config '{_MTP_VLLM}'")]},
        },
    ),
    "extra args": (
        {"extra_args": ("--tool-call-parser", "qwen3_coder", "--max-num-seqs", "64")},
        {
            **{
                engine: {
                    "add": ["--tool-call-parser qwen3_coder", "--max-num-seqs 64"],
                    "drop": ["--tool-call-parser"],
                }
                for engine in ("vllm", "sglang", "trtllm", "llamacpp")
            },
            "ollama": ("refuse", "ollama serve takes no engine flags"),
            # NIM: engine flags go to the vLLM inside the container, not to docker
            "nim": {
                "add": [
                    "-e "
                    + shlex.quote("NIM_PASSTHROUGH_ARGS=--tool-call-parser qwen3_coder --max-num-seqs 64")
                ]
            },
        },
    ),
}


# --------------------------------------------------------------------------- helpers


@pytest.fixture(autouse=True)
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("NEMOTRON_SERVE_DIR", str(tmp_path))
    monkeypatch.delenv("NGC_API_KEY", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))  # no engine installed: bare names in the argv
    return tmp_path


def _plan(engine: str, checkpoint: str, version: Version | None = None, **options: Any) -> Any:
    req = Request(parse_checkpoint(checkpoint), PORT, **options)
    return get_recipe(engine).plan(req, version)


def _expected(text: str, state: Path) -> list[str]:
    words = shlex.split(text)
    fill = {
        "PYTHON": sys.executable,
        "SCRIPT": str(SERVER_SCRIPT),
        "STATE": str(state),
        "HOME": os.path.expanduser("~"),
        "THREADS": str(cpu_threads()),
    }
    out = []
    for word in words:
        for key, value in fill.items():
            word = word.replace(key, value) if key in ("STATE", "HOME") else (value if word == key else word)
        out.append(word)
    return out


def _split_env(words: list[str]) -> tuple[dict[str, str], list[str]]:
    env = {}
    while words and "=" in words[0] and not words[0].startswith("-"):
        key, _, value = words.pop(0).partition("=")
        env[key] = value
    return env, words


def _is_flag(word: str) -> bool:
    return word.startswith("-") and not word.lstrip("-").replace(".", "").isdigit()


def _groups(argv: list[str]) -> tuple[list[str], Counter[tuple[str, ...]]]:
    """The positional head, and the flags with their values as groups (order-free)."""
    head: list[str] = []
    groups: Counter[tuple[str, ...]] = Counter()
    current: list[str] | None = None
    for word in argv:
        if _is_flag(word):
            if current is not None:
                groups[tuple(current)] += 1
            current = [word]
        elif current is None:
            head.append(word)
        else:
            current.append(word)
    if current is not None:
        groups[tuple(current)] += 1
    return head, groups


# --------------------------------------------------------------------------- the tests


@pytest.mark.parametrize("checkpoint", CHECKPOINTS)
@pytest.mark.parametrize("engine", list(BASE))
def test_the_command_for_each_engine_and_checkpoint(engine: str, checkpoint: str, state: Path) -> None:
    want = BASE[engine][checkpoint]
    if isinstance(want, tuple):
        with pytest.raises(ConfigurationError, match=want[1]) as refused:
            _plan(engine, checkpoint)
        assert "\n" not in refused.value.message
        return
    env, argv = _split_env(_expected(want, state))
    plan = _plan(engine, checkpoint)
    assert plan.argv == argv
    assert dict(plan.env) == env
    if engine == "ollama":
        assert plan.after_ready == (("ollama", "pull", OLLAMA_PULLS[checkpoint]),)
    if engine == "trtllm":
        quantised = checkpoint.endswith(("fp8", "nvfp4"))
        kv = '  dtype: "fp8"\n' if quantised else ""
        assert plan.files == {
            f"{state}/trtllm-options.yaml": f'kv_cache_config:\n{kv}  mamba_ssm_cache_dtype: "float32"\n'
        }
    assert "--swap-space" not in plan.argv  # vLLM's V1 engine rejects it


#: Every engine x checkpoint the engine serves (the refused ones are checked above), x every option.
SERVED = [(e, cp, o) for o in OPTIONS for e in BASE for cp in CHECKPOINTS if isinstance(BASE[e][cp], str)]


@pytest.mark.parametrize(("engine", "checkpoint", "option"), SERVED)
def test_each_option_changes_exactly_its_flags(
    engine: str, checkpoint: str, option: str, state: Path
) -> None:
    base = BASE[engine][checkpoint]
    assert isinstance(base, str)
    kwargs, per_engine = OPTIONS[option]
    want = per_engine[engine]
    if isinstance(want, tuple):
        with pytest.raises(ConfigurationError, match=want[1]):
            _plan(engine, checkpoint, **kwargs)
        return
    base_env, base_argv = _split_env(_expected(base, state))
    plan = _plan(engine, checkpoint, **kwargs)
    head, groups = _groups(plan.argv)
    base_head, expected = _groups(base_argv)
    for flag in want.get("drop", []):
        expected = Counter({g: n for g, n in expected.items() if g[0] != flag})
    for text in want.get("add", []):
        expected[tuple(shlex.split(text))] += 1
    assert head == base_head
    assert groups == expected or (engine == "nim" and _nim_ok(plan.argv, base_argv, want))
    assert dict(plan.env) == {**base_env, **want.get("env", {})}
    if "yaml" in want:
        assert want["yaml"] in next(iter(plan.files.values()))


def _nim_ok(argv: list[str], base: list[str], want: dict[str, Any]) -> bool:
    """docker's image is positional and last: the added flags go in before it, the rest is unchanged."""
    added = [w for text in want.get("add", []) for w in shlex.split(text)]
    return argv == base[:-1] + added + base[-1:]


# --------------------------------------------------------------------------- versions and overrides


@pytest.mark.parametrize(
    ("version", "present", "absent"),
    [
        (
            None,
            ["--tool-call-parser qwen3_xml", "--reasoning-parser nemotron_v3", "--mamba-cache-mode align"],
            [],
        ),
        (
            (0, 17, 1),
            ["--tool-call-parser qwen3_xml", "--reasoning-parser nemotron_v3"],
            ["--reasoning-parser-plugin"],
        ),
        (
            (0, 15, 0),
            [
                "--tool-call-parser qwen3_coder",
                "--reasoning-parser-plugin super_v3_reasoning_parser.py",
                "--reasoning-parser super_v3",
                "--mamba-cache-mode align",
                "--attention-backend TRITON_ATTN",
            ],
            ["--reasoning-parser nemotron_v3"],
        ),
        (
            (0, 12, 0),
            ["--tool-call-parser qwen3_coder", "--attention-backend TRITON_ATTN"],
            ["--mamba-cache-mode"],
        ),
        (
            (0, 10, 2),
            ["--kv-cache-dtype fp8"],
            ["--attention-backend", "--mamba-cache-mode", "--enable-prefix-caching"],
        ),
    ],
)
def test_vllm_flags_follow_the_installed_version(
    version: Version | None, present: list[str], absent: list[str]
) -> None:
    plan = _plan("vllm", "super-fp8", version, mtp=True)
    line = shlex.join(plan.argv)
    for text in present:
        assert text in line
    for text in absent:
        assert text not in line
    assert "--swap-space" not in line
    spec = json.loads(plan.argv[plan.argv.index("--speculative-config") + 1])
    current = version is None or version >= (0, 17)
    assert spec == (
        {"method": "mtp", "num_speculative_tokens": 3}
        if current
        else {"method": "nemotron_h_mtp", "num_speculative_tokens": 5}
    )
    assert (version is not None and version < (0, 11)) == (
        plan.env.get("VLLM_ATTENTION_BACKEND") == "TRITON_ATTN"
    )
    if not current:
        assert any("super_v3_reasoning_parser.py" in note for note in plan.notes)


def test_old_vllm_serves_nano_with_its_own_parser_plugin() -> None:
    line = shlex.join(_plan("vllm", "nano-bf16", (0, 13)).argv)
    assert "--reasoning-parser-plugin nano_v3_reasoning_parser.py --reasoning-parser nano_v3" in line


def test_a_users_reasoning_parser_replaces_the_plugin_pair_too() -> None:
    plan = _plan("vllm", "super-fp8", (0, 13), extra_args=("--reasoning-parser", "nemotron_v3"))
    assert "--reasoning-parser-plugin" not in plan.argv
    assert plan.argv.count("--reasoning-parser") == 1
    assert plan.argv[-2:] == ["--reasoning-parser", "nemotron_v3"]


@pytest.mark.parametrize(
    ("version", "parser"), [(None, "nemotron_3"), ((0, 5, 10), "nemotron_3"), ((0, 5, 6), "nano_v3")]
)
def test_sglang_reasoning_parser_follows_its_version(version: Version | None, parser: str) -> None:
    argv = _plan("sglang", "super-fp8", version).argv
    assert argv[argv.index("--reasoning-parser") + 1] == parser


def test_mtp_warns_about_structured_output() -> None:
    for engine in ("vllm", "sglang", "trtllm"):
        assert any("response_format" in note for note in _plan(engine, "super-fp8", mtp=True).notes)


def test_llama_server_on_path_gets_jinja_and_deepseek_reasoning(
    state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    binary = state / "bin" / "llama-server"
    binary.parent.mkdir()
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    plan = _plan("llamacpp", "/models/Nemotron-3-Super-UD-Q4_K_XL.gguf")
    assert plan.argv == [
        str(binary), "-m", "/models/Nemotron-3-Super-UD-Q4_K_XL.gguf",
        "--alias", "Nemotron-3-Super-UD-Q4_K_XL",
        "--host", "127.0.0.1", "--port", "8000", "--jinja", "--reasoning-format", "deepseek", "-c", "32768",
        "-t", str(cpu_threads()),
    ]  # fmt: skip
    repo = _plan("llamacpp", f"{_SUPER_GGUF}:UD-Q4_K_XL", context=65536, gpus=(_h100(),))
    assert repo.argv[1:3] == ["-hf", f"{_SUPER_GGUF}:UD-Q4_K_XL"]
    assert "-ngl" in repo.argv and "-t" not in repo.argv
    assert repo.argv[repo.argv.index("-c") + 1] == "65536"


def test_llama_cpp_python_serves_a_local_file_and_offloads_to_a_gpu() -> None:
    plan = _plan("llamacpp", "/models/small.gguf", gpus=(_h100(),))
    assert plan.argv[:4] == [sys.executable, str(SERVER_SCRIPT), "--model", "/models/small.gguf"]
    assert "--hf_model_repo_id" not in plan.argv
    assert plan.argv[plan.argv.index("--n_ctx") + 1] == "4096"  # not a Nemotron: a small context
    assert plan.argv[-2:] == ["--n_gpu_layers", "-1"]
    assert plan.served_model == "small"


def test_nim_passes_the_ngc_key_by_name_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NGC_API_KEY", "nvapi-" + "not-a-real-key-0123")
    plan = _plan("nim", "super-fp8")
    assert plan.argv[plan.argv.index("NGC_API_KEY") - 1 : plan.argv.index("NGC_API_KEY") + 1] == [
        "-e",
        "NGC_API_KEY",
    ]
    assert not any("not-a-real-key" in word for word in plan.argv)
    assert plan.stop_argv == ("docker", "stop", "nemotron-8000")
    custom = _plan("nim", "nvcr.io/nim/nvidia/nemotron-3.5-super:1.0")
    assert custom.argv[-1] == "nvcr.io/nim/nvidia/nemotron-3.5-super:1.0"


@pytest.mark.parametrize(
    ("name", "family", "precision"),
    [
        ("super", "super", "FP8"),
        ("NANO-NVFP4", "nano", "NVFP4"),
        ("nvidia/NVIDIA-Nemotron-3-Super-120B-A12B-BF16", "super", "BF16"),
        ("nvidia/Nemotron-3.5-Super-VL-120B-A12B-FP8", "super", "FP8"),
        ("unsloth/NVIDIA-Nemotron-3-Super-120B-A12B-GGUF:Q4_K_M", "super", "GGUF"),
        ("/models/SmolLM2-135M-Instruct.Q4_1.gguf", "other", "GGUF"),
        ("nvidia/Some-New-Model", "other", "BF16"),
    ],
)
def test_checkpoint_names(name: str, family: str, precision: str) -> None:
    cp = parse_checkpoint(name)
    assert (cp.family, cp.precision) == (family, precision)


def test_unknown_engine_and_bad_context_are_one_line_errors() -> None:
    with pytest.raises(ConfigurationError, match="choose one of vllm, sglang, trtllm, llamacpp, ollama, nim"):
        get_recipe("tgi")
    with pytest.raises(ConfigurationError, match="--context must be between 1 and 1,000,000"):
        _plan("vllm", "super-fp8", context=2_000_000)


def _h100() -> Any:
    from nemotron_magics._serve._gpus import GPU

    return GPU(0, "NVIDIA H100 80GB HBM3", 81559, "9.0")
