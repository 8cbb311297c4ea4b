"""What a recipe is given and what it builds: checkpoints, a request, a plan.

A recipe is an object per engine (:class:`Recipe`); it turns a :class:`Request` into a
:class:`Plan` (argv, environment, files to write, notes) for the engine's installed version.
Flags are kept as groups (``("--tensor-parallel-size", "2")``) so the user's extra arguments
can replace any of them by naming the same flag: ``-- --tool-call-parser qwen3_coder`` wins over
the recipe's choice.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, ClassVar

from .._errors import ConfigurationError

if TYPE_CHECKING:
    from ._gpus import GPU

Version = tuple[int, ...]
Group = tuple[str, ...]

PRECISIONS = ("BF16", "FP8", "NVFP4", "GGUF")
FAMILIES = ("super", "nano")
_HF = {
    "super": "nvidia/NVIDIA-Nemotron-3-Super-120B-A12B-{}",
    "nano": "nvidia/NVIDIA-Nemotron-3-Nano-30B-A3B-{}",
}
#: GGUF quantisations (PROVIDERS.md names unsloth's Super repo; the Nano one follows unsloth's naming).
GGUF_REPOS = {
    "super": "unsloth/NVIDIA-Nemotron-3-Super-120B-A12B-GGUF",
    "nano": "unsloth/Nemotron-3-Nano-30B-A3B-GGUF",
}
#: vLLM's default context for Super; the model itself reaches 1M.
DEFAULT_CONTEXT = 262_144
MAX_CONTEXT = 1_000_000


@dataclass(frozen=True)
class Checkpoint:
    """What to serve: the name the engine is given, and what kind of weights it is."""

    name: str  # an HF id, a local .gguf path, an Ollama tag or a NIM image
    family: str  # "super", "nano", or "other" (a newer family member, a small test model)
    precision: str  # BF16, FP8, NVFP4 or GGUF

    @property
    def label(self) -> str:
        return f"{self.family.capitalize()} {self.precision}" if self.family != "other" else self.name

    @property
    def quantised_kv(self) -> bool:
        """FP8 and NVFP4 checkpoints serve with an FP8 KV cache (NVIDIA's recipes)."""
        return self.precision in ("FP8", "NVFP4")


def hf_checkpoint(family: str, precision: str) -> Checkpoint:
    name = GGUF_REPOS[family] if precision == "GGUF" else _HF[family].format(precision)
    return Checkpoint(name, family, precision)


_ALIAS = re.compile(r"^(super|nano)(?:[-_:](bf16|fp8|nvfp4|gguf))?$", re.IGNORECASE)


def parse_checkpoint(name: str) -> Checkpoint:
    """``super-fp8``, ``nano``, an HF id, a ``.gguf`` path or repo, a tag: what it is.

    A bare family (``super``) means its FP8 checkpoint; anything else is passed through as
    written, with the family and precision read from the name where it says them.
    """
    text = name.strip()
    if not text:
        raise ConfigurationError("--model is empty: name a checkpoint, e.g. super-fp8 or nano-bf16")
    alias = _ALIAS.match(text)
    if alias:
        return hf_checkpoint(alias[1].lower(), (alias[2] or "FP8").upper())
    lowered = text.lower()
    family = next((f for f in FAMILIES if f in lowered), "other")
    if lowered.endswith(".gguf") or "gguf" in lowered:
        precision = "GGUF"
    else:
        upper = re.split(r"[^A-Z0-9]+", text.upper())
        precision = next((p for p in ("NVFP4", "FP8", "BF16") if p in upper), "BF16")
    return Checkpoint(text, family, precision)


@dataclass(frozen=True)
class Request:
    """One ``serve()`` call, resolved: the engine gets exactly this."""

    checkpoint: Checkpoint
    port: int
    tp: int | None = None
    context: int | None = None
    mtp: bool = False
    extra_args: tuple[str, ...] = ()
    gpus: tuple[GPU, ...] = ()
    name: str = ""  # the server's name (containers are named after it)
    host: str = "127.0.0.1"


@dataclass(frozen=True)
class Plan:
    """What a recipe builds: the command, its environment additions, files it reads, and notes."""

    engine: str
    argv: list[str]
    env: Mapping[str, str] = field(default_factory=dict)
    files: Mapping[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    #: Commands to run once the server answers (Ollama pulls its model).
    after_ready: tuple[tuple[str, ...], ...] = ()
    #: How to stop it besides signalling the process (a container).
    stop_argv: tuple[str, ...] = ()
    #: The model id a client should send, when the recipe knows it (else asked of /v1/models).
    served_model: str = ""


class Recipe:
    """One engine: whether it is installed, its version, and the plan for a request.

    Subclasses set the class attributes and implement :meth:`build`; :meth:`plan` checks the
    request against what the engine can do and lets the user's extra arguments win.
    """

    name: str = ""
    install_hint: str = ""
    needs_gpu: bool = True
    #: Checkpoint precisions this engine serves.
    precisions: tuple[str, ...] = ("BF16", "FP8", "NVFP4")
    supports_tp: bool = True
    supports_mtp: bool = True
    #: Flags whose replacement by the user drops others with it (a parser and its plugin file).
    linked: ClassVar[Mapping[str, tuple[str, ...]]] = MappingProxyType({})

    def installed(self) -> bool:
        raise NotImplementedError

    def version(self) -> Version | None:
        return None

    def build(self, req: Request, version: Version | None) -> Plan:
        raise NotImplementedError

    def default_checkpoint(self) -> Checkpoint:
        return hf_checkpoint("super", "FP8")

    def check(self, req: Request) -> None:
        """What can be refused before starting (a missing local file); nothing by default."""

    def plan(self, req: Request, version: Version | None = None) -> Plan:
        cp = req.checkpoint
        if cp.precision not in self.precisions:
            raise ConfigurationError(self.refuse_precision(cp))
        if req.tp is not None and req.tp != 1 and not self.supports_tp:
            raise ConfigurationError(
                f"{self.name} has no tensor parallelism (--tp): {self.tp_hint()}; drop --tp"
            )
        if req.mtp and not self.supports_mtp:
            raise ConfigurationError(
                f"{self.name} cannot run Nemotron's MTP speculative decoding: drop --mtp, or serve "
                "with vllm, sglang or trtllm"
            )
        if req.context is not None and not 0 < req.context <= MAX_CONTEXT:
            raise ConfigurationError(
                f"--context must be between 1 and {MAX_CONTEXT:,} tokens, got {req.context}"
            )
        return self.build(req, version)

    def refuse_precision(self, cp: Checkpoint) -> str:
        if cp.precision == "GGUF":
            return (
                f"{self.name} does not serve GGUF files ({cp.name}): serve it with llamacpp or ollama, "
                "or name a safetensors checkpoint (super-fp8, nano-bf16, ...)"
            )
        return (
            f"{self.name} serves GGUF only, not {cp.name}: pass --model super-gguf, nano-gguf or a .gguf path"
        )

    def tp_hint(self) -> str:
        return "it spreads layers over the visible GPUs itself (set CUDA_VISIBLE_DEVICES)"


def default_tp(cp: Checkpoint) -> int:
    """NVIDIA's recipes: Super BF16 on TP 4, FP8 on TP 2, NVFP4 on one Blackwell GPU; Nano on one GPU."""
    if cp.family == "super":
        return {"BF16": 4, "FP8": 2}.get(cp.precision, 1)
    return 1


def merge(
    prefix: Sequence[str],
    groups: Sequence[Group],
    extra: Sequence[str],
    linked: Mapping[str, tuple[str, ...]] = MappingProxyType({}),
) -> list[str]:
    """``prefix + groups + extra``, without the groups whose flag ``extra`` names again."""
    named = {word.split("=", 1)[0] for word in extra if word.startswith("-")}
    for flag in list(named):
        named.update(linked.get(flag, ()))
    argv = list(prefix)
    for group in groups:
        if group and group[0] not in named:
            argv.extend(group)
    return argv + list(extra)


def parse_version(text: str | None) -> Version | None:
    """``0.17.1rc1.dev35+g968ed02`` -> (0, 17, 1); None when there is no number."""
    if not text:
        return None
    match = re.match(r"\s*v?(\d+(?:\.\d+)*)", text)
    return tuple(int(part) for part in match[1].split(".")) if match else None


def at_least(version: Version | None, minimum: Version) -> bool:
    """An unknown version is taken to be current: the flags of today's recipes."""
    return version is None or version >= minimum


def package_version(dist: str) -> Version | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return parse_version(version(dist))
    except PackageNotFoundError:
        return None
