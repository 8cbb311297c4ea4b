"""vLLM, SGLang and TensorRT-LLM: the flags ``shared/PROVIDERS.md`` gives for Nemotron 3 Super and Nano.

Version-dependent choices are data (``_VLLM_*`` below): each names the first release that takes
the newer flag, and an engine whose version cannot be read gets today's flags. Every flag can be
replaced by naming it again in the extra arguments.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar

from ._spec import (
    DEFAULT_CONTEXT,
    Group,
    Plan,
    Recipe,
    Request,
    Version,
    at_least,
    default_tp,
    merge,
    package_version,
)

# vLLM releases that changed what Nemotron needs (older builds reject the newer flag or value).
#: In-tree ``nemotron_v3`` reasoning parser and the ``qwen3_xml`` tool parser in Super's recipes;
#: older builds load the parser plugin shipped with the checkpoint and use ``qwen3_coder``.
_VLLM_NEMOTRON_V3: Version = (0, 17)
#: ``--speculative-config {"method": "mtp", "num_speculative_tokens": 3}``; before: ``nemotron_h_mtp``, 5.
_VLLM_GENERIC_MTP: Version = (0, 17)
#: Prefix caching for hybrid Mamba models (``--mamba-cache-mode align``, vllm-project/vllm#30877).
_VLLM_MAMBA_ALIGN: Version = (0, 14)
#: ``--attention-backend`` as a flag; before it, the ``VLLM_ATTENTION_BACKEND`` variable.
_VLLM_ATTENTION_FLAG: Version = (0, 11)
#: SGLang renamed its Nemotron reasoning parser ``nano_v3`` -> ``nemotron_3`` (sgl-project/sglang#19865).
_SGLANG_NEMOTRON_3: Version = (0, 5, 10)

_TOOLS_NOTE = (
    "MTP with response_format: some builds return malformed structured output; check --format json answers"
)


def _executable(name: str) -> str | None:
    """An engine's console script: beside this interpreter first (a kernel's PATH may lack its venv)."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.is_file() else shutil.which(name)


class VLLM(Recipe):
    name = "vllm"
    install_hint = "pip install vllm (CUDA 12.8+; see docs.vllm.ai)"
    linked: ClassVar[Mapping[str, tuple[str, ...]]] = {"--reasoning-parser": ("--reasoning-parser-plugin",)}

    def installed(self) -> bool:
        return _executable("vllm") is not None

    def version(self) -> Version | None:
        return package_version("vllm")

    def build(self, req: Request, version: Version | None) -> Plan:
        cp, env, notes = req.checkpoint, {}, []
        tp = req.tp or default_tp(cp)
        recent = at_least(version, _VLLM_NEMOTRON_V3)
        groups: list[Group] = [
            ("--host", req.host),
            ("--port", str(req.port)),
            ("--trust-remote-code",),
            ("--tensor-parallel-size", str(tp)),
        ]
        if cp.quantised_kv:
            groups.append(("--kv-cache-dtype", "fp8"))
            if at_least(version, _VLLM_ATTENTION_FLAG):
                groups.append(("--attention-backend", "TRITON_ATTN"))
            else:
                env["VLLM_ATTENTION_BACKEND"] = "TRITON_ATTN"
        groups.append(("--mamba-ssm-cache-dtype", "float32"))
        if at_least(version, _VLLM_MAMBA_ALIGN):
            groups += [("--enable-prefix-caching",), ("--mamba-cache-mode", "align")]
        groups += [
            ("--enable-auto-tool-choice",),
            ("--tool-call-parser", "qwen3_xml" if recent else "qwen3_coder"),
        ]
        if recent:
            groups.append(("--reasoning-parser", "nemotron_v3"))
        else:
            parser = "super_v3" if cp.family == "super" else "nano_v3"
            groups += [
                ("--reasoning-parser-plugin", f"{parser}_reasoning_parser.py"),
                ("--reasoning-parser", parser),
            ]
            notes.append(
                f"vLLM {_dotted(version)} predates the nemotron_v3 parser: download "
                f"{parser}_reasoning_parser.py from the checkpoint into the working directory "
                "(or upgrade vLLM)"
            )
        if req.context is not None:
            groups.append(("--max-model-len", str(req.context)))
            if req.context > DEFAULT_CONTEXT:
                env["VLLM_ALLOW_LONG_MAX_MODEL_LEN"] = "1"
        if req.mtp:
            spec = (
                {"method": "mtp", "num_speculative_tokens": 3}
                if at_least(version, _VLLM_GENERIC_MTP)
                else {
                    "method": "nemotron_h_mtp",
                    "num_speculative_tokens": 5,
                }
            )
            groups.append(("--speculative-config", json.dumps(spec)))
            notes.append(_TOOLS_NOTE)
        exe = _executable("vllm") or "vllm"
        argv = merge([exe, "serve", cp.name], groups, req.extra_args, self.linked)
        return Plan(self.name, argv, env=env, notes=tuple(notes), served_model=cp.name)


class SGLang(Recipe):
    name = "sglang"
    install_hint = "pip install 'sglang[all]' (see docs.sglang.io)"

    def installed(self) -> bool:
        return importlib.util.find_spec("sglang") is not None

    def version(self) -> Version | None:
        return package_version("sglang")

    def build(self, req: Request, version: Version | None) -> Plan:
        cp, env, notes = req.checkpoint, {}, []
        groups: list[Group] = [
            ("--host", req.host),
            ("--port", str(req.port)),
            ("--trust-remote-code",),
            ("--tp", str(req.tp or default_tp(cp))),
            ("--tool-call-parser", "qwen3_coder"),
            ("--reasoning-parser", "nemotron_3" if at_least(version, _SGLANG_NEMOTRON_3) else "nano_v3"),
            ("--mamba-ssm-dtype", "float32"),
        ]
        if cp.quantised_kv:
            groups.append(("--kv-cache-dtype", "fp8_e4m3"))
        if req.context is not None:
            groups.append(("--context-length", str(req.context)))
            if req.context > DEFAULT_CONTEXT:
                env["SGLANG_ALLOW_OVERWRITE_LONGER_CONTEXT_LEN"] = "1"
        if req.mtp:
            groups += [
                ("--speculative-algorithm", "EAGLE"),
                ("--speculative-num-steps", "3"),
                ("--speculative-eagle-topk", "1"),
                ("--speculative-num-draft-tokens", "4"),
            ]
            notes.append(_TOOLS_NOTE)
        argv = merge(
            [sys.executable, "-m", "sglang.launch_server", "--model-path", cp.name], groups, req.extra_args
        )
        return Plan(self.name, argv, env=env, notes=tuple(notes), served_model=cp.name)


class TensorRTLLM(Recipe):
    name = "trtllm"
    install_hint = (
        "pip install tensorrt-llm (or NVIDIA's TensorRT-LLM container; see nvidia.github.io/TensorRT-LLM)"
    )

    def installed(self) -> bool:
        return _executable("trtllm-serve") is not None

    def version(self) -> Version | None:
        return package_version("tensorrt_llm") or package_version("tensorrt-llm")

    def build(self, req: Request, version: Version | None) -> Plan:
        from .._process import state_dir

        cp, notes = req.checkpoint, []
        options: dict[str, object] = {
            "kv_cache_config": {
                **({"dtype": "fp8"} if cp.quantised_kv else {}),
                "mamba_ssm_cache_dtype": "float32",
            }
        }
        if req.mtp:
            options["speculative_config"] = {"decoding_type": "MTP", "num_nextn_predict_layers": 3}
            notes.append(_TOOLS_NOTE)
        options_file = str(state_dir() / f"{req.name or 'trtllm'}-options.yaml")
        groups: list[Group] = [
            ("--host", req.host),
            ("--port", str(req.port)),
            ("--tp_size", str(req.tp or default_tp(cp))),
            ("--trust_remote_code",),
            ("--reasoning_parser", "nano-v3"),
            ("--tool_parser", "qwen3_coder"),
            ("--extra_llm_api_options", options_file),
        ]
        if req.context is not None:
            groups.append(("--max_seq_len", str(req.context)))
        exe = _executable("trtllm-serve") or "trtllm-serve"
        argv = merge([exe, cp.name], groups, req.extra_args)
        return Plan(
            self.name, argv, files={options_file: _yaml(options)}, notes=tuple(notes), served_model=cp.name
        )


def _yaml(data: Mapping[str, object], indent: int = 0) -> str:
    """The little YAML TensorRT-LLM's options file needs (nested mappings of scalars), without PyYAML."""
    lines = []
    for key, value in data.items():
        if isinstance(value, Mapping):
            lines.append(f"{' ' * indent}{key}:")
            lines.append(_yaml(value, indent + 2).rstrip("\n"))
        else:
            lines.append(f"{' ' * indent}{key}: {json.dumps(value)}")
    return "\n".join(line for line in lines if line) + "\n"


def _dotted(version: Version | None) -> str:
    return ".".join(map(str, version)) if version else "(unknown)"
