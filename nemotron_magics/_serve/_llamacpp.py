"""llama.cpp: the C++ ``llama-server`` when it is on PATH, else llama-cpp-python's server.

Both serve GGUF files with an OpenAI-compatible API. ``llama-server`` gets PROVIDERS.md's
``--jinja --reasoning-format deepseek`` (reasoning in ``reasoning_content``); llama-cpp-python's
server has no reasoning parser, so reasoning arrives inline as ``<think>…</think>`` and the
client's normaliser splits it. The embedded engine is this recipe's Python server, for SmolLM2.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from pathlib import Path

from .._errors import ConfigurationError
from ._spec import Checkpoint, Group, Plan, Recipe, Request, Version, hf_checkpoint, merge, package_version

#: What llama-cpp-python's server needs: llama_cpp itself and its [server] extra.
SERVER_MODULES = (
    "llama_cpp",
    "uvicorn",
    "fastapi",
    "sse_starlette",
    "starlette_context",
    "pydantic_settings",
)
#: Context when none is asked: enough for reasoning, small enough for a laptop's KV cache.
_NEMOTRON_CTX = 32_768
_SMALL_CTX = 4096
_ALL_LAYERS = "999"

#: llama-cpp-python's server behind a small launcher that turns weight repacking off (see the file).
SERVER_SCRIPT = Path(__file__).with_name("_llama_server.py")


def cpu_threads(override: str = "") -> int:
    """Threads for CPU decoding: all cores but one, at most 4; a positive ``override`` wins.

    llama.cpp's OpenMP threads spin at barriers, so when any thread shares a core with other work,
    decoding collapses. Measured on a 2-core machine with SmolLM2: 2 threads give ~55 tok/s idle but
    ~2 tok/s with one core busy; 1 thread gives ~28 idle, ~20 busy. A kernel, a Jupyter server and a
    browser are that other work. Capped at 4: a 135M model is memory-bound beyond that.
    """
    override = override.strip()
    if override.isdigit() and int(override) > 0:
        return int(override)
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(1, min(cores - 1, 4))


def python_server_command(
    model: Path | str,
    port: int,
    *,
    alias: str,
    n_ctx: int,
    threads: int,
    host: str = "127.0.0.1",
    hf_repo: str | None = None,
    offload: bool = False,
) -> list[str]:
    """llama-cpp-python's server command line (flag names from ``python -m llama_cpp.server -h``)."""
    groups = _python_groups(
        model, port, alias=alias, n_ctx=n_ctx, threads=threads, host=host, hf_repo=hf_repo, offload=offload
    )
    return merge(_python_prefix(), groups, ())


def _python_prefix() -> list[str]:
    return [sys.executable, str(SERVER_SCRIPT)]


def _python_groups(
    model: Path | str,
    port: int,
    *,
    alias: str,
    n_ctx: int,
    threads: int,
    host: str,
    hf_repo: str | None,
    offload: bool,
) -> list[Group]:
    groups: list[Group] = [
        ("--model", str(model)),
        *([("--hf_model_repo_id", hf_repo)] if hf_repo else []),
        ("--model_alias", alias),
        ("--host", host),
        ("--port", str(port)),
        ("--n_ctx", str(n_ctx)),
        ("--n_threads", str(threads)),
        ("--n_threads_batch", str(threads)),
        # The default (True) makes a new request cut off the stream in flight: the first client sees
        # the connection close mid-answer. Queued requests are what a batch of cells expects.
        ("--interrupt_requests", "False"),
    ]
    if offload:
        groups.append(("--n_gpu_layers", "-1"))  # every layer on the GPUs
    return groups


class LlamaCpp(Recipe):
    name = "llamacpp"
    install_hint = "pip install 'llama-cpp-python[server]' (or put llama.cpp's llama-server on PATH)"
    needs_gpu = False
    precisions = ("GGUF",)
    supports_tp = False
    supports_mtp = False

    def installed(self) -> bool:
        return self.server_binary() is not None or all(importlib.util.find_spec(m) for m in SERVER_MODULES)

    @staticmethod
    def server_binary() -> str | None:
        return shutil.which("llama-server")

    def version(self) -> Version | None:
        return None if self.server_binary() else package_version("llama_cpp_python")

    def default_checkpoint(self) -> Checkpoint:
        return hf_checkpoint("super", "GGUF")

    def build(self, req: Request, version: Version | None) -> Plan:
        cp = req.checkpoint
        local = _is_file_name(cp.name)
        repo, _, quant = cp.name.partition(":")
        alias = Path(cp.name).stem if local else repo.rsplit("/", 1)[-1]
        n_ctx = req.context or (_NEMOTRON_CTX if cp.family != "other" else _SMALL_CTX)
        offload = bool(req.gpus)
        binary = self.server_binary()
        if binary is not None:
            groups: list[Group] = [
                ("-m", cp.name) if local else ("-hf", cp.name),
                ("--alias", alias),
                ("--host", req.host),
                ("--port", str(req.port)),
                ("--jinja",),
                ("--reasoning-format", "deepseek"),
                ("-c", str(n_ctx)),
            ]
            if offload:
                groups.append(("-ngl", _ALL_LAYERS))
            else:
                groups.append(("-t", str(cpu_threads())))
            return Plan(self.name, merge([binary], groups, req.extra_args), served_model=alias)
        notes: tuple[str, ...] = ()
        if local:
            model, hf_repo = cp.name, None
        else:
            model, hf_repo = f"*{quant or 'Q4_K_M'}*.gguf", repo
            notes = (
                "llama-cpp-python downloads one GGUF file from the repo; a split GGUF needs llama-server",
            )
        groups = _python_groups(
            model, req.port, alias=alias, n_ctx=n_ctx, threads=cpu_threads(), host=req.host,
            hf_repo=hf_repo, offload=offload,
        )  # fmt: skip
        return Plan(
            self.name, merge(_python_prefix(), groups, req.extra_args), notes=notes, served_model=alias
        )

    def check(self, req: Request) -> None:
        """A local file that is not there fails here, in one line, instead of in the server's log."""
        name = req.checkpoint.name
        if _is_file_name(name) and not Path(name).expanduser().is_file():
            raise ConfigurationError(
                f"No GGUF file at {name}: give the path of a .gguf file, or a Hugging Face repo "
                "(owner/name-GGUF[:QUANT])"
            )


def _is_file_name(name: str) -> bool:
    """A ``.gguf`` name is a file; anything else (``owner/repo-GGUF[:Q4_K_M]``) is a Hugging Face repo."""
    return name.lower().endswith(".gguf")
