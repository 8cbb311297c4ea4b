"""Providers are data: where to send, which model id, which key, what it costs, how it starts.

The facts come from ``shared/PROVIDERS.md`` (the providers' own pages). How a
request is phrased for each family lives in :mod:`._dialects`; a provider names
its dialect object, and its particulars (an engine that starts on demand, what
to say when it cannot be reached, a note on every answer) are fields here, so
nothing else asks a provider's name.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from . import _dialects as dialects
from ._errors import ConfigurationError, MissingAPIKey
from ._secrets import clean_key


def _start_embedded() -> tuple[str, str]:
    """Start (or find) the embedded llama.cpp engine: its base URL and model."""
    from ._embedded import ensure_engine

    engine = ensure_engine()
    return engine.base_url, engine.model


@dataclass(frozen=True)
class Provider:
    name: str
    base_url: str
    model: str
    dialect: dialects.Dialect
    key_env: tuple[str, ...] = ()
    #: Other variables the URL needs (Cloudflare's account id).
    url_env: Mapping[str, str] = field(default_factory=dict)
    #: A variable that, when set, replaces ``base_url`` (where your own server runs).
    base_url_env: str | None = None
    #: USD per million tokens; None where unknown or free.
    price_in: float | None = None
    price_out: float | None = None
    price_cached: float | None = None
    context_window: int | None = None
    hosted: bool = True
    description: str = ""
    #: Starts the engine on demand when no base_url is given: returns (base_url, model).
    start: Callable[[], tuple[str, str]] | None = None
    #: The remedy when it cannot be reached.
    unreachable_hint: str = "check the network, proxy settings (HTTPS_PROXY) or base_url"
    #: Said on every answer instead of the model id (so nobody takes a stand-in for Nemotron).
    answer_note: str | None = None
    #: Why a stream that ended with nothing at all, without [DONE], probably did.
    empty_stream_hint: str | None = None

    @property
    def needs_key(self) -> bool:
        return bool(self.key_env)

    def key_from_env(self, env: Mapping[str, str] | None = None) -> str | None:
        """The key as it must be sent: a key read from a file often ends with a newline."""
        env = os.environ if env is None else env
        for var in self.key_env:
            key = clean_key(env.get(var))
            if key:
                return key
        return None

    def resolve_base_url(self, env: Mapping[str, str] | None = None) -> str:
        env = os.environ if env is None else env
        url = (env.get(self.base_url_env) if self.base_url_env else None) or self.base_url
        for placeholder, var in self.url_env.items():
            value = env.get(var)
            if not value:
                raise MissingAPIKey(
                    f"Provider {self.name!r} needs {var} (its URL contains the {placeholder}): set it, "
                    "or pass base_url=…"
                )
            url = url.replace("{" + placeholder + "}", value)
        return url.rstrip("/")

    def estimate_cost(
        self, prompt_tokens: int | None, completion_tokens: int | None, cached_tokens: int | None
    ) -> float | None:
        if self.price_in is None or self.price_out is None:
            return None
        cached = cached_tokens or 0
        fresh = max((prompt_tokens or 0) - cached, 0)
        cached_price = self.price_cached if self.price_cached is not None else self.price_in
        return (
            fresh * self.price_in + cached * cached_price + (completion_tokens or 0) * self.price_out
        ) / 1e6


_CF_URL = "https://api.cloudflare.com/client/v4/accounts/{account}/ai"
_CLOUDFLARE = Provider(
    "cloudflare",
    _CF_URL + "/v1",
    "@cf/nvidia/nemotron-3-120b-a12b",
    dialect=dialects.OPENAI,
    key_env=("CLOUDFLARE_API_TOKEN", "CLOUDFLARE_AUTH_TOKEN"),
    url_env={"account": "CLOUDFLARE_ACCOUNT_ID"},
    price_in=0.50,
    price_out=1.50,
    context_window=256_000,
    description="Cloudflare Workers AI, OpenAI-compatible endpoint",
)

PROVIDERS: dict[str, Provider] = {
    p.name: p
    for p in (
        Provider(
            "nvidia",
            "https://integrate.api.nvidia.com/v1",
            "nvidia/nemotron-3-super-120b-a12b",
            dialect=dialects.NVIDIA,
            key_env=("NVIDIA_API_KEY",),
            context_window=1_000_000,
            description="NVIDIA API catalog (build.nvidia.com)",
        ),
        Provider(
            "openrouter",
            "https://openrouter.ai/api/v1",
            "nvidia/nemotron-3-super-120b-a12b",
            dialect=dialects.OPENROUTER,
            key_env=("OPENROUTER_API_KEY",),
            price_in=0.09,
            price_out=0.45,
            context_window=1_000_000,
            description="OpenRouter",
        ),
        Provider(
            "deepinfra",
            "https://api.deepinfra.com/v1/openai",
            "nvidia/NVIDIA-Nemotron-3-Super-120B-A12B",
            dialect=dialects.OPENAI,
            key_env=("DEEPINFRA_TOKEN", "DEEPINFRA_API_KEY"),
            price_in=0.10,
            price_out=0.50,
            price_cached=0.04,
            context_window=262_144,
            description="DeepInfra",
        ),
        _CLOUDFLARE,
        replace(
            _CLOUDFLARE,
            name="cloudflare-native",
            base_url=_CF_URL,
            dialect=dialects.CLOUDFLARE_NATIVE,
            description="Cloudflare Workers AI, native /ai/run endpoint",
        ),
        Provider(
            "local",
            "http://127.0.0.1:8000/v1",
            # Empty: asked of the server's /models, since each server names the checkpoint differently.
            "",
            dialect=dialects.LOCAL,
            base_url_env="NEMOTRON_BASE_URL",
            hosted=False,
            context_window=262_144,
            description="your vLLM / SGLang / TensorRT-LLM / llama.cpp / Ollama server (NEMOTRON_BASE_URL)",
            unreachable_hint=(
                "start your server (e.g. `vllm serve …` or %nemotron serve) or set NEMOTRON_BASE_URL"
            ),
        ),
        Provider(
            "embedded",
            "",
            "SmolLM2-135M-Instruct",
            dialect=dialects.LLAMA_CPP_PYTHON,
            hosted=False,
            context_window=4096,
            description="SmolLM2-135M on llama.cpp, offline; a stand-in, not Nemotron",
            start=_start_embedded,
            unreachable_hint="the embedded engine stopped; run again to restart it",
            answer_note="SmolLM2-135M, an offline stand-in, not Nemotron",
            empty_stream_hint=(
                "The embedded engine ended the stream before answering: the prompt is probably longer "
                "than its 4,096-token context; shorten it"
            ),
        ),
    )
}

#: Hosted providers in the order a key in the environment selects them.
HOSTED_ORDER = ("nvidia", "openrouter", "deepinfra", "cloudflare")


def dialect_of(name: str | None) -> dialects.Dialect:
    """The dialect of the provider called ``name`` (OpenAI-compatible for one we do not know)."""
    provider = PROVIDERS.get(name or "")
    return provider.dialect if provider is not None else dialects.OPENAI


def get_provider(name: str) -> Provider:
    try:
        return PROVIDERS[name.strip().lower()]
    except KeyError:
        raise ConfigurationError(f"Unknown provider {name!r}: choose one of {', '.join(PROVIDERS)}") from None


def choose_provider(
    explicit: str | None = None,
    configured: str | None = None,
    base_url: str | None = None,
    env: Mapping[str, str] | None = None,
) -> tuple[Provider, str]:
    """Which provider answers, and why (the README's order; first match wins).

    explicit argument > configuration > NEMOTRON_PROVIDER > a bare base_url (local)
    > the first hosted provider whose key is set > embedded.
    """
    env = os.environ if env is None else env
    for choice, why in (
        (explicit, "chosen for this call"),
        (configured, "configured"),
        (env.get("NEMOTRON_PROVIDER"), "NEMOTRON_PROVIDER"),
    ):
        if choice:
            return get_provider(choice), why
    if base_url:
        return PROVIDERS["local"], "a base_url was given"
    for name in HOSTED_ORDER:
        provider = PROVIDERS[name]
        if provider.key_from_env(env) and all(env.get(v) for v in provider.url_env.values()):
            return provider, f"{provider.key_env[0]} is set"
    return PROVIDERS["embedded"], "no API key set"


#: Said once per process, where the answer is shown (the display's quiet note, or stderr).
NO_KEY_NOTICE = (
    "No API key is set ({keys}), so the embedded SmolLM2-135M answers: a small offline stand-in, "
    "not Nemotron. Set a key, or choose a provider with -p."
)
_fallback_noticed = False


def fallback_notice(provider: Provider, why: str) -> str | None:
    """The no-key notice, the first time the embedded engine answers because no key is set."""
    global _fallback_noticed
    if provider.name != "embedded" or why != "no API key set" or _fallback_noticed:
        return None
    _fallback_noticed = True
    return NO_KEY_NOTICE.format(keys=", ".join(PROVIDERS[n].key_env[0] for n in HOSTED_ORDER))


def resolve_provider(
    explicit: str | None = None,
    configured: str | None = None,
    base_url: str | None = None,
    env: Mapping[str, str] | None = None,
) -> Provider:
    """:func:`choose_provider` without the reason."""
    return choose_provider(explicit, configured, base_url, env)[0]


def require_key(provider: Provider, api_key: str | None, env: Mapping[str, str] | None = None) -> str | None:
    key = clean_key(api_key) or provider.key_from_env(env)
    if provider.needs_key and not key:
        others = ", ".join(n for n in HOSTED_ORDER if n != provider.name)
        raise MissingAPIKey(
            f"No API key for provider {provider.name!r}: set {' or '.join(provider.key_env)}, "
            f"or choose another provider ({others}, local, or embedded for offline use)"
        )
    return key
