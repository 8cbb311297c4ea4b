"""Ollama and NVIDIA NIM: servers that manage their own weights.

Ollama serves its own quantised tags (``nemotron-3-super``, ``nemotron-3-nano``) and pulls
one after it answers. NIM is NVIDIA's container: ``docker run --gpus all`` with the image for
the model; it picks a deployment profile for the GPUs it finds, and ``NIM_PASSTHROUGH_ARGS``
carries raw vLLM flags (MTP here). Both are stopped by their own means as well as by signal.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil

from .._errors import ConfigurationError
from ._spec import Checkpoint, Plan, Recipe, Request, Version

_OLLAMA_TAGS = {"super": "nemotron-3-super", "nano": "nemotron-3-nano"}
#: PROVIDERS.md's image for Super; the Nano image follows NIM's naming.
NIM_IMAGES = {
    "super": "nvcr.io/nim/nvidia/nemotron-3-super-120b-a12b:3.0.0",
    "nano": "nvcr.io/nim/nvidia/nemotron-3-nano-30b-a3b:latest",
}
_NIM_SERVED = {"super": "nvidia/nemotron-3-super-120b-a12b", "nano": "nvidia/nemotron-3-nano-30b-a3b"}


class Ollama(Recipe):
    name = "ollama"
    install_hint = "install Ollama (curl -fsSL https://ollama.com/install.sh | sh, or ollama.com/download)"
    needs_gpu = False
    precisions = ("BF16", "FP8", "NVFP4", "GGUF")
    supports_tp = False
    supports_mtp = False

    def installed(self) -> bool:
        return shutil.which("ollama") is not None

    def version(self) -> Version | None:
        return None  # nothing version-dependent is built

    def default_checkpoint(self) -> Checkpoint:
        return Checkpoint(_OLLAMA_TAGS["super"], "super", "GGUF")

    @staticmethod
    def tag(cp: Checkpoint) -> tuple[str, tuple[str, ...]]:
        """The Ollama tag for a checkpoint, and a note when it is not the one named.

        A name without a slash is a tag as written (``nemotron-3-nano:30b``); a GGUF repo is pulled
        from Hugging Face (``hf.co/owner/repo:QUANT``); a safetensors checkpoint of a known family
        becomes Ollama's own quantisation of that family.
        """
        if "/" not in cp.name:
            return cp.name, ()
        if cp.precision == "GGUF" and not cp.name.lower().endswith(".gguf"):
            return cp.name if cp.name.startswith("hf.co/") else f"hf.co/{cp.name}", ()
        if cp.family in _OLLAMA_TAGS:
            tag = _OLLAMA_TAGS[cp.family]
            return tag, (f"Ollama serves its own quantisation: {tag} instead of {cp.name}",)
        raise ConfigurationError(
            f"Ollama serves its own tags, not {cp.name}: pass --model nemotron-3-super or nemotron-3-nano "
            "(or any tag from ollama.com/library)"
        )

    def build(self, req: Request, version: Version | None) -> Plan:
        if req.extra_args:
            raise ConfigurationError(
                "ollama serve takes no engine flags: set its OLLAMA_* variables with %env before serving"
            )
        tag, notes = self.tag(req.checkpoint)
        env = {"OLLAMA_HOST": f"{req.host}:{req.port}"}
        if req.context is not None:
            env["OLLAMA_CONTEXT_LENGTH"] = str(req.context)
        argv = [shutil.which("ollama") or "ollama", "serve"]
        return Plan(
            self.name,
            argv,
            env=env,
            after_ready=((argv[0], "pull", tag),),
            notes=(*notes, f"pulls {tag} once the server answers (Ollama keeps it for the next start)"),
            served_model=tag,
        )


class NIM(Recipe):
    name = "nim"
    install_hint = (
        "install Docker and the NVIDIA Container Toolkit; docker run then pulls the image "
        "(nvcr.io/nim/nvidia/nemotron-3-super-120b-a12b:3.0.0, public, no login)"
    )

    def installed(self) -> bool:
        return shutil.which("docker") is not None

    def version(self) -> Version | None:
        return None

    def build(self, req: Request, version: Version | None) -> Plan:
        cp = req.checkpoint
        image = cp.name if cp.name.startswith("nvcr.io/") else NIM_IMAGES.get(cp.family)
        if image is None:
            raise ConfigurationError(f"No NIM image for {cp.name}: pass --model nvcr.io/nim/…:TAG")
        container = f"nemotron-{req.name or req.port}"
        env_flags: list[str] = []
        if req.tp:
            env_flags += ["-e", f"NIM_TENSOR_PARALLEL_SIZE={req.tp}"]
        if req.context is not None:
            env_flags += ["-e", f"NIM_MAX_MODEL_LEN={req.context}"]
        # Engine flags (MTP, the user's extra args) reach the vLLM inside the container through one variable.
        passthrough = list(req.extra_args)
        if req.mtp:
            passthrough = [
                "--speculative-config",
                json.dumps({"method": "mtp", "num_speculative_tokens": 3}),
                *passthrough,
            ]
        if passthrough:
            env_flags += ["-e", f"NIM_PASSTHROUGH_ARGS={shlex.join(passthrough)}"]
        if os.environ.get("NGC_API_KEY"):
            env_flags += ["-e", "NGC_API_KEY"]  # passed by name: the key stays off the command line
        cache = os.path.expanduser("~/.cache/nim")
        argv = [
            shutil.which("docker") or "docker", "run", "--rm", "--name", container,
            "--gpus", "all", "--shm-size", "16GB",
            "-p", f"{req.host}:{req.port}:8000",
            "-v", f"{cache}:/opt/nim/.cache",
            *env_flags, image,
        ]  # fmt: skip
        served = _NIM_SERVED.get(cp.family, "")
        return Plan(self.name, argv, stop_argv=(argv[0], "stop", container), served_model=served)
