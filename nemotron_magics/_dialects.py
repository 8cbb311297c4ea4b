"""How each provider family wants a request phrased, and its history shaped: one object per family.

A provider's data names its :class:`Dialect`; nothing else asks which family it is. A dialect
builds the body, the URL and the headers, and shapes what a conversation sends back (the
assistant's turns with their tool calls and reasoning, the tool results). Every response is read
by the one tolerant normaliser in :mod:`._normalise`. The facts are in PROVIDERS.md:

- OpenAI-compatible servers take the chat template's ``chat_template_kwargs``;
- NVIDIA also a top-level ``reasoning_budget``;
- OpenRouter a ``reasoning`` object, and wants ``reasoning_details`` back unchanged;
- local servers (vLLM ≥ 0.16) read ``reasoning`` on assistant turns, and one without a reasoning
  parser leaves ``<think>`` inline (so content before ``</think>`` is reasoning);
- Cloudflare's native route has the model in its URL;
- llama-cpp-python wants ``json_object`` + ``schema``, has no thinking switch, and honours only a
  forced, named ``tool_choice``;
- nobody gets ``guided_json`` (vLLM ≥ 0.12 silently ignores it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ._errors import ConfigurationError
from ._secrets import safe_url

if TYPE_CHECKING:
    from ._response import Response

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


def _merge(body: dict[str, Any], extra: Mapping[str, Any]) -> None:
    """extra_body wins, but nested dicts (chat_template_kwargs, reasoning) merge one level deep."""
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(body.get(key), dict):
            body[key] = {**body[key], **value}
        else:
            body[key] = value


class Dialect:
    """The OpenAI-compatible family: what every other dialect refines."""

    name = "openai"
    #: A server that may have no reasoning parser: with thinking on, content before ``</think>``
    #: is reasoning (the opening tag was in the prompt).
    implicit_think = False

    # -- the request -----------------------------------------------------------------------
    def body(self, model: str, messages: list[dict[str, Any]], params: Mapping[str, Any]) -> dict[str, Any]:
        """The request body; ``params`` are validated here, whoever calls."""
        from ._params import check_params  # _params reads the providers, which name their dialects

        params = check_params(params)
        body: dict[str, Any] = {"model": model, "messages": messages, "stream": True}
        for name in PASSTHROUGH:
            value = params.get(name)
            if value is not None:
                body[name] = value
        body["stream_options"] = {"include_usage": True}
        self.reasoning(body, params.get("reasoning"), params.get("reasoning_budget"))
        fmt = params.get("response_format")
        schema = params.get("schema")
        if schema is not None:
            fmt = schema.response_format()  # json_schema, strict; an array travels wrapped
        if fmt is not None:
            body["response_format"] = self.response_format(fmt)
        extra = params.get("extra_body")
        if extra:
            _merge(body, extra)
        return body

    def reasoning(self, body: dict[str, Any], mode: str | None, budget: int | None) -> None:
        """The thinking switch, in the chat template's words."""
        kwargs: dict[str, Any] = {}
        if mode is not None:
            kwargs["enable_thinking"] = mode != "off"
            if mode == "low":
                kwargs["low_effort"] = True
        if budget is not None:
            kwargs["reasoning_budget"] = budget
        if kwargs:
            body["chat_template_kwargs"] = kwargs

    def response_format(self, fmt: Mapping[str, Any]) -> dict[str, Any]:
        return dict(fmt)

    def notes(self, params: Mapping[str, Any]) -> list[str]:
        """What the reader should know about how this family takes these parameters."""
        return []

    def url(self, base_url: str, model: str) -> str:
        return f"{base_url}/chat/completions"

    def headers(self, api_key: str | None) -> dict[str, str]:
        headers = {"Accept": "text/event-stream", "Content-Type": "application/json"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        return headers

    # -- the history -----------------------------------------------------------------------
    #: The Response attribute this family wants back on assistant turns to keep its reasoning chain
    #: (OpenRouter's ``reasoning_details``, vLLM's ``reasoning``); None: nothing.
    reasoning_back: str | None = None

    def assistant_message(self, response: Response) -> dict[str, Any]:
        """An answer as the assistant turn this family wants to see again."""
        message: dict[str, Any] = {"role": "assistant", "content": response.content}
        if response.tool_calls:
            message["tool_calls"] = [c.to_openai() for c in response.tool_calls]
        field = self.reasoning_back
        if field and getattr(response, field):
            message[field] = getattr(response, field)
        return message

    def tool_message(self, call_id: str, name: str, content: str) -> dict[str, Any]:
        """A tool's result, answering the call with that id."""
        return {"role": "tool", "tool_call_id": call_id, "name": name, "content": content}

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


class NvidiaDialect(Dialect):
    """NVIDIA's API: the budget is a top-level field, not a template switch."""

    name = "nvidia"

    def reasoning(self, body: dict[str, Any], mode: str | None, budget: int | None) -> None:
        super().reasoning(body, mode, None)
        if budget is not None:
            body["reasoning_budget"] = budget


class OpenRouterDialect(Dialect):
    """OpenRouter: a ``reasoning`` object; ``reasoning_details`` go back unchanged."""

    name = "openrouter"

    def reasoning(self, body: dict[str, Any], mode: str | None, budget: int | None) -> None:
        if mode is None and budget is None:
            return
        if mode == "off":
            body["reasoning"] = {"enabled": False}
            return
        out: dict[str, Any] = {"enabled": True}
        if mode == "low":
            out["effort"] = "low"
        if budget is not None and budget >= 0:
            out["max_tokens"] = budget
        body["reasoning"] = out

    reasoning_back = "reasoning_details"

    def headers(self, api_key: str | None) -> dict[str, str]:
        # OpenRouter's app attribution; harmless elsewhere, so only sent there.
        return {**super().headers(api_key), "X-Title": "nemotron-magics"}


class LocalDialect(Dialect):
    """vLLM, SGLang, TensorRT-LLM, llama.cpp, Ollama: reasoning goes back as ``reasoning``."""

    name = "local"
    implicit_think = True
    reasoning_back = "reasoning"


class CloudflareNativeDialect(Dialect):
    """Workers AI's ``/ai/run/{model}``: the model is in the URL, not the body."""

    name = "cloudflare-native"

    def body(self, model: str, messages: list[dict[str, Any]], params: Mapping[str, Any]) -> dict[str, Any]:
        body = super().body(model, messages, params)
        body.pop("model", None)
        return body

    def url(self, base_url: str, model: str) -> str:
        return f"{base_url}/run/{model}"


class LlamaCppPythonDialect(Dialect):
    """llama-cpp-python's server (the embedded engine): no thinking switch, its own JSON mode."""

    name = "llama-cpp-python"

    def reasoning(self, body: dict[str, Any], mode: str | None, budget: int | None) -> None:
        """SmolLM2 has no thinking switch: nothing to send."""

    def response_format(self, fmt: Mapping[str, Any]) -> dict[str, Any]:
        # Its server only knows {"type": "json_object", "schema": …}.
        if fmt.get("type") == "json_schema":
            schema = (fmt.get("json_schema") or {}).get("schema")
            return {"type": "json_object", **({"schema": schema} if schema else {})}
        return dict(fmt)

    def notes(self, params: Mapping[str, Any]) -> list[str]:
        choice = params.get("tool_choice")
        if params.get("tools") and choice is not None and not isinstance(choice, Mapping):
            return [
                "llama-cpp-python honours only a forced, named tool_choice "
                '({"type": "function", "function": {"name": …}}); with '
                f"{choice or 'auto'!r} the model may answer without calling a tool."
            ]
        return []


OPENAI = Dialect()
NVIDIA = NvidiaDialect()
OPENROUTER = OpenRouterDialect()
LOCAL = LocalDialect()
CLOUDFLARE_NATIVE = CloudflareNativeDialect()
LLAMA_CPP_PYTHON = LlamaCppPythonDialect()


def prepare(
    dialect: Dialect,
    base_url: str,
    model: str,
    api_key: str | None,
    messages: list[dict[str, Any]],
    params: Mapping[str, Any],
) -> PreparedRequest:
    return PreparedRequest(
        url=dialect.url(base_url, model),
        body=dialect.body(model, messages, params),
        headers=dialect.headers(api_key),
    )


__all__ = [
    "CLOUDFLARE_NATIVE",
    "LLAMA_CPP_PYTHON",
    "LOCAL",
    "NVIDIA",
    "OPENAI",
    "OPENROUTER",
    "PASSTHROUGH",
    "Dialect",
    "PreparedRequest",
    "as_messages",
    "prepare",
]
