"""Every engine ``serve()`` knows, by the name ``%nemotron serve ENGINE`` takes."""

from __future__ import annotations

from .._errors import ConfigurationError
from ._daemons import NIM, Ollama
from ._gpu_engines import VLLM, SGLang, TensorRTLLM
from ._llamacpp import LlamaCpp
from ._spec import Recipe

RECIPES: dict[str, Recipe] = {
    r.name: r for r in (VLLM(), SGLang(), TensorRTLLM(), LlamaCpp(), Ollama(), NIM())
}


def get_recipe(engine: str) -> Recipe:
    try:
        return RECIPES[engine.strip().lower()]
    except KeyError:
        raise ConfigurationError(f"Unknown engine {engine!r}: choose one of {', '.join(RECIPES)}") from None
