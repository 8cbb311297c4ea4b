"""Every error this package raises, each one line with the remedy.

A notebook shows ``_render_traceback_()`` instead of a 60-line traceback: the
user needs to know what went wrong and what to do, not where in httpx it broke.
Messages pass through :func:`~._secrets.redact` and fold onto one line, so a key
echoed back by a provider never reaches an output, a saved notebook or a log.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._secrets import one_line, redact, register_secret

if TYPE_CHECKING:
    from ._response import Response


class NemotronError(Exception):
    """Base class: one line in a notebook, the remedy included."""

    def __init__(self, message: str) -> None:
        # One line, keys hidden: a notebook shows exactly this, and so does a saved notebook.
        super().__init__(one_line(message))

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""

    def _render_traceback_(self) -> list[str]:
        # IPython calls this instead of formatting the stack.
        return [f"\x1b[31m{type(self).__name__}\x1b[0m: {self.message}"]


class ConfigurationError(NemotronError, ValueError):
    """A bad argument, flag, provider name or setting: fix the call."""


class MissingAPIKey(ConfigurationError):
    """The chosen provider needs a key that is not set."""


class EngineUnavailable(NemotronError):
    """The embedded llama.cpp engine cannot be installed, found or started."""


class ConnectError(NemotronError):
    """The server could not be reached (after the allowed retries)."""


class ProviderError(NemotronError):
    """The provider answered with an HTTP error."""

    def __init__(self, message: str, *, status_code: int | None = None, provider: str | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.provider = provider


class AuthenticationError(ProviderError):
    """401/403: the key is wrong, expired, or lacks access to the model."""


class ModelNotFound(ProviderError):
    """404: the provider does not serve that model id (or the URL is wrong)."""


class BadRequest(ProviderError):
    """400/422: the provider rejected a parameter; its own message is shown."""


class ContextTooLong(BadRequest):
    """The prompt and max_tokens do not fit the model's context window."""


class RateLimited(ProviderError):
    """429 after every retry."""


class ServerError(ProviderError):
    """5xx after every retry."""


class StructuredOutputError(NemotronError, ValueError):
    """The answer is not the JSON that was asked for (or does not match its schema)."""


class StreamError(NemotronError):
    """The stream broke after it started; ``.response`` keeps what arrived."""

    def __init__(self, message: str, response: Response | None = None) -> None:
        super().__init__(message)
        self.response = response


class StreamTimeout(StreamError):
    """No bytes arrived within the read timeout."""


class MalformedChunk(StreamError):
    """A chunk was not the JSON the protocol promises."""


class InStreamError(StreamError):
    """The provider sent an error object inside the stream."""


class StreamCancelled(KeyboardInterrupt):
    """The user interrupted (or closed) a stream; ``.response`` holds the partial answer.

    A KeyboardInterrupt, not an Exception, so ``except Exception`` in user code
    never swallows Ctrl-C or the notebook's stop button.
    """

    def __init__(self, response: Response | None = None) -> None:
        super().__init__("stream cancelled")
        self.response = response

    def _render_traceback_(self) -> list[str]:
        kept = len(self.response.content) if self.response is not None else 0
        return [
            f"\x1b[33mStreamCancelled\x1b[0m: stopped by the user; the partial answer ({kept} chars) is kept."
        ]


__all__ = [
    "AuthenticationError",
    "BadRequest",
    "ConfigurationError",
    "ConnectError",
    "ContextTooLong",
    "EngineUnavailable",
    "InStreamError",
    "MalformedChunk",
    "MissingAPIKey",
    "ModelNotFound",
    "NemotronError",
    "ProviderError",
    "RateLimited",
    "ServerError",
    "StreamCancelled",
    "StreamError",
    "StreamTimeout",
    "StructuredOutputError",
    "redact",
    "register_secret",
]
