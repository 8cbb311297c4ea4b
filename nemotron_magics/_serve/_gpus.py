"""Which NVIDIA GPUs are here, and which Nemotron checkpoint fits them.

``nvidia-smi --query-gpu=name,memory.total,compute_cap --format=csv,noheader,nounits`` gives
one line per GPU; no ``nvidia-smi`` (or a failing one) means no GPU. The recommendation follows
NVIDIA's stated memory floors (PROVIDERS.md) in decimal GB, as NVIDIA states them: two 80 GB
H100s (2 x 81,559 MiB = 171 GB) clear Super FP8's 160 GB.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass

from ._spec import Checkpoint, hf_checkpoint

_QUERY = ["--query-gpu=name,memory.total,compute_cap", "--format=csv,noheader,nounits"]
#: Memory each checkpoint needs in all, in GB (NVIDIA's floors).
FLOORS_GB: dict[tuple[str, str], float] = {
    ("super", "BF16"): 264,
    ("super", "FP8"): 160,
    ("super", "NVFP4"): 80,
    ("nano", "BF16"): 64,
    ("nano", "FP8"): 32,
    ("nano", "NVFP4"): 20,
}
#: Compute capability by name, for drivers too old to report ``compute_cap``.
_KNOWN_CC = (("B200", "10.0"), ("B300", "10.3"), ("H200", "9.0"), ("H100", "9.0"), ("H800", "9.0"),
             ("L40", "8.9"), ("L4", "8.9"), ("4090", "8.9"), ("A100", "8.0"), ("A800", "8.0"))  # fmt: skip
_HOSTED = "a hosted provider: set NVIDIA_API_KEY (build.nvidia.com) and use %%nemotron -p nvidia"
_GGUF = (
    "a GGUF through llama.cpp: %nemotron serve llamacpp --model nano-gguf (layers beyond the GPU run on CPU)"
)


@dataclass(frozen=True)
class GPU:
    index: int
    name: str
    memory_mib: int
    compute_capability: str  # "9.0"; "" when unknown

    @property
    def memory_gb(self) -> float:
        return self.memory_mib * 1.048576 / 1000

    @property
    def major(self) -> int:
        head = self.compute_capability.split(".", 1)[0]
        return int(head) if head.isdigit() else 0

    @property
    def blackwell(self) -> bool:
        """Data-centre Blackwell (compute capability 10.x): NVFP4's hardware."""
        return self.major == 10

    @property
    def fp8(self) -> bool:
        """FP8 tensor cores: Ada (8.9), Hopper (9.0) and later."""
        try:
            return float(self.compute_capability) >= 8.9
        except ValueError:
            return False


def parse_nvidia_smi(text: str) -> list[GPU]:
    """GPUs from ``nvidia-smi --query-gpu=name,memory.total[,compute_cap]`` CSV; odd lines are skipped."""
    found: list[GPU] = []
    for line in text.splitlines():
        parts = [part.strip() for part in line.split(",")]
        if len(parts) < 2 or not parts[1].isdigit():
            continue  # a header, a warning, "[N/A]" memory (a MIG instance)
        cc = parts[2] if len(parts) > 2 and parts[2].replace(".", "").isdigit() else _cc_from_name(parts[0])
        found.append(GPU(len(found), parts[0], int(parts[1]), cc))
    return found


def _cc_from_name(name: str) -> str:
    upper = name.upper()
    return next((cc for key, cc in _KNOWN_CC if key in upper), "")


def gpus(nvidia_smi: str | None = None) -> list[GPU]:
    """The NVIDIA GPUs ``nvidia-smi`` lists here (an empty list without it, or when it fails)."""
    exe = nvidia_smi or shutil.which("nvidia-smi")
    if exe is None:
        return []
    for query in (_QUERY, ["--query-gpu=name,memory.total", _QUERY[1]]):  # old drivers lack compute_cap
        try:
            done = subprocess.run([exe, *query], capture_output=True, text=True, timeout=15, check=False)
        except (OSError, subprocess.TimeoutExpired):
            return []
        if done.returncode == 0:
            return parse_nvidia_smi(done.stdout)
    return []


@dataclass(frozen=True)
class Recommendation:
    """What fits these GPUs (``checkpoint`` and ``tp``), or why nothing does; ``alternatives`` either way."""

    gpus: tuple[GPU, ...]
    checkpoint: Checkpoint | None
    tp: int | None
    reason: str
    alternatives: tuple[str, ...] = ()
    engine: str = "vllm"

    @property
    def fits(self) -> bool:
        return self.checkpoint is not None

    @property
    def args(self) -> list[str]:
        """The engine's command line for the recommendation (port 8000); empty when nothing fits."""
        if self.checkpoint is None:
            return []
        from ._recipes import RECIPES
        from ._spec import Request

        recipe = RECIPES[self.engine]
        return recipe.plan(Request(self.checkpoint, 8000, tp=self.tp, gpus=self.gpus), recipe.version()).argv

    def message(self) -> str:
        others = f" Alternatives: {'; '.join(self.alternatives)}." if self.alternatives else ""
        return self.reason + others

    def __str__(self) -> str:
        return self.message()


def describe(found: Sequence[GPU]) -> str:
    """``2x NVIDIA H100 80GB HBM3 (171 GB in all, compute 9.0)``."""
    if not found:
        return "no NVIDIA GPU (nvidia-smi not found, or it lists none)"
    names = sorted({g.name for g in found})
    total = sum(g.memory_gb for g in found)
    ccs = "/".join(sorted({g.compute_capability or "?" for g in found}))
    return f"{len(found)}x {' + '.join(names)} ({total:.0f} GB in all, compute {ccs})"


def _order(found: Sequence[GPU]) -> tuple[str, ...]:
    """Precisions in the order NVIDIA's recipes lead with on this architecture."""
    if all(g.blackwell for g in found):
        return ("NVFP4", "FP8", "BF16")
    if all(g.fp8 for g in found):
        return ("FP8", "BF16")
    return ("BF16",)


def _fit(found: Sequence[GPU], family: str, precision: str) -> int | None:
    """The smallest power-of-two TP whose GPUs together hold the checkpoint, if any."""
    smallest = min(g.memory_gb for g in found)
    tp = 1
    while tp <= len(found):
        if tp * smallest >= FLOORS_GB[(family, precision)]:
            return tp
        tp *= 2
    return None


def recommend(found: Sequence[GPU]) -> Recommendation:
    """Super if it fits, else Nano, at the precision and smallest TP that fit; else why not, and what to do.

    Precisions are tried in the order NVIDIA's recipes lead with on the architecture (Blackwell:
    NVFP4, FP8, BF16; Ada and Hopper: FP8, BF16; older: BF16), TP in powers of two.
    """
    found = tuple(found)
    if not found:
        return Recommendation(
            found, None, None, f"Nothing to serve Nemotron on: {describe(found)}.", (_GGUF, _HOSTED)
        )
    order = _order(found)
    misses: list[str] = []
    for family in ("super", "nano"):
        for precision in order:
            tp = _fit(found, family, precision)
            if tp is not None:
                cp = hf_checkpoint(family, precision)
                floor = FLOORS_GB[(family, precision)]
                why = f"{describe(found)}: {cp.label} on TP {tp} (NVIDIA's floor: {floor:.0f} GB)"
                if misses:
                    why += f"; Super does not fit ({', '.join(misses)})"
                others = (_GGUF, _HOSTED) if family == "nano" else ()
                return Recommendation(found, cp, tp, why + ".", others)
            if family == "super":
                misses.append(f"{precision} needs {FLOORS_GB[(family, precision)]:.0f} GB")
        if family == "super" and "NVFP4" not in order:
            misses.append("NVFP4 needs Blackwell")
    nano_floor = min(FLOORS_GB[("nano", p)] for p in order)
    reason = (
        f"No Nemotron checkpoint fits {describe(found)}: Super {', '.join(misses)}; Nano needs "
        f"at least {nano_floor:.0f} GB here."
    )
    return Recommendation(found, None, None, reason, (_GGUF, _HOSTED))
