"""How each provider family wants a request phrased.

Only the request differs per dialect; every response is read by the one
tolerant normaliser in :mod:`._normalise`. The facts are in PROVIDERS.md:
OpenRouter takes a ``reasoning`` object, the rest take the chat template's
``chat_template_kwargs``, NVIDIA also a top-level ``reasoning_budget``;
llama-cpp-python's server wants ``json_object`` + ``schema``; nobody gets
``guided_json`` (vLLM ≥ 0.12 silently ignores it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ._errors import ConfigurationError
from ._params import PARAMS, check_params
from ._providers import Provider
from ._secrets import safe_url

#: OpenAI chat-completions parameters passed through as they are.
PASSTHROUGH = (
    "temperature",
    "top_p",
    "max_tokens",
    "seed",
    "stop",
    "presence_penalty",
    "frequency_penalty",
    "logprobs",
    "top_logprobs",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
)
#: Everything :func:`build_body` understands (the rules are in :mod:`._params`).
KNOWN_PARAMS = frozenset(PARAMS)


@dataclass(frozen=True, slots=True)
class PreparedRequest:
    url: str
    body: dict[str, Any]
    #: Carries the Authorization header: never in a repr (tracebacks in %xmode Verbose show reprs).
    headers: dict[str, str] = field(repr=False)

    def __repr__(self) -> str:
        return f"PreparedRequest(url={safe_url(self.url)!r}, headers=[{', '.join(self.headers)}])"


def as_messages(
    prompt_or_messages: str | Sequence[Mapping[str, Any]], system: str | None
) -> list[dict[str, Any]]:
    if isinstance(prompt_or_messages, str):
        messages: list[dict[str, Any]] = [{"role": "user", "content": prompt_or_messages}]
    else:
        messages = [dict(m) for m in prompt_or_messages]
        if not messages:
            raise ConfigurationError(
                "No messages to send: pass a prompt string or a non-empty list of messages"
            )
    if system is not None and not (messages and messages[0].get("role") == "system"):
        messages.insert(0, {"role": "system", "content": system})
    return messages


def _reasoning_openrouter(mode: str | None, budget: int | None) -> dict[str, Any] | None:
    if mode is None and budget is None:
        return None
    if mode == "off":
        return {"enabled": False}
    out: dict[str, Any] = {"enabled": True}
    if mode == "low":
        out["effort"] = "low"
    if budget is not None and budget >= 0:
        out["max_tokens"] = budget
    return out


def _template_kwargs(mode: str | None, budget: int | None, *, budget_in_kwargs: bool) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    if mode is not None:
        kwargs["enable_thinking"] = mode != "off"
        if mode == "low":
            kwargs["low_effort"] = True
    if budget is not None and budget_in_kwargs:
        kwargs["reasoning_budget"] = budget
    return kwargs


def _llamacpp_response_format(fmt: Mapping[str, Any]) -> dict[str, Any]:
    # llama-cpp-python's server only knows {"type": "json_object", "schema": …}.
    if fmt.get("type") == "json_schema":
        schema = (fmt.get("json_schema") or {}).get("schema")
        return {"type": "json_object", **({"schema": schema} if schema else {})}
    return dict(fmt)


def _merge(body: dict[str, Any], extra: Mapping[str, Any]) -> None:
    """extra_body wins, but nested dicts (chat_template_kwargs, reasoning) merge one level deep."""
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(body.get(key), dict):
            body[key] = {**body[key], **value}
        else:
            body[key] = value


def build_body(
    provider: Provider,
    model: str,
    messages: list[dict[str, Any]],
    params: Mapping[str, Any],
) -> dict[str, Any]:
    params = check_params(params)
    dialect = provider.dialect
    body: dict[str, Any] = {"model": model, "messages": messages, "stream": True}
    for name in PASSTHROUGH:
        value = params.get(name)
        if value is not None:
            body[name] = value
    body["stream_options"] = {"include_usage": True}

    mode = params.get("reasoning")
    budget = params.get("reasoning_budget")
    if dialect == "openrouter":
        reasoning = _reasoning_openrouter(mode, budget)
        if reasoning is not None:
            body["reasoning"] = reasoning
    elif dialect != "llama-cpp-python":  # SmolLM2 has no thinking switch
        kwargs = _template_kwargs(mode, budget, budget_in_kwargs=dialect != "nvidia")
        if kwargs:
            body["chat_template_kwargs"] = kwargs
        if dialect == "nvidia" and budget is not None:
            body["reasoning_budget"] = budget

    fmt = params.get("response_format")
    if fmt is not None:
        body["response_format"] = (
            _llamacpp_response_format(fmt) if dialect == "llama-cpp-python" else dict(fmt)
        )

    extra = params.get("extra_body")
    if extra:
        _merge(body, extra)
    if dialect == "cloudflare-native":
        body.pop("model", None)  # the model is in the URL
    return body


def prepare(
    provider: Provider,
    base_url: str,
    model: str,
    api_key: str | None,
    messages: list[dict[str, Any]],
    params: Mapping[str, Any],
) -> PreparedRequest:
    body = build_body(provider, model, messages, params)
    if provider.dialect == "cloudflare-native":
        url = f"{base_url}/run/{model}"
    else:
        url = f"{base_url}/chat/completions"
    headers = {"Accept": "text/event-stream", "Content-Type": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    if provider.dialect == "openrouter":
        # OpenRouter's app attribution; harmless elsewhere, so only sent there.
        headers["X-Title"] = "nemotron-magics"
    return PreparedRequest(url=url, body=body, headers=headers)
