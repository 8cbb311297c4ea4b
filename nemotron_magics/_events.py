"""The typed events one stream is made of.

A dialect turns wire chunks into these; :class:`~nemotron_magics.Response`
folds them into state; displays render that state. Errors are exceptions,
never events. Frozen and slotted: a busy stream makes hundreds of thousands.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ReasoningDelta:
    """A piece of the model's thinking."""

    text: str


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A piece of the answer."""

    text: str


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    """A fragment of tool call ``index``: the first carries ``id`` and ``name``."""

    index: int
    id: str | None = None
    name: str | None = None
    arguments_fragment: str = ""


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts and cost of one response.

    ``cost`` is in USD: the provider's own figure when it reports one, else an
    estimate from the price table (then ``cost_is_estimate`` is true).
    """

    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    reasoning_tokens: int | None = None
    cached_tokens: int | None = None
    cost: float | None = None
    cost_is_estimate: bool = False

    @property
    def total_tokens(self) -> int | None:
        if self.prompt_tokens is None and self.completion_tokens is None:
            return None
        return (self.prompt_tokens or 0) + (self.completion_tokens or 0)


@dataclass(frozen=True, slots=True)
class Finish:
    """Why generation stopped: ``stop``, ``length``, ``tool_calls``, ``cancelled`` …"""

    reason: str


@dataclass(frozen=True, slots=True)
class Retrying:
    """The request failed before any answer arrived and is about to be tried again.

    Yielded just before the back-off sleep, so a display can say why it waits:
    ``reason`` is one line (``429 Too Many Requests``, ``ConnectError: …``), ``delay`` the
    seconds it will sleep, ``attempt`` the number of the attempt that follows (2 for the
    first retry) and ``of`` the number of attempts allowed in all.
    """

    reason: str
    delay: float
    attempt: int
    of: int


@dataclass(frozen=True, slots=True)
class ToolProgress:
    """A tool call of round ``round`` changed status (waiting for approval, running, done …).

    Yielded by the tool loop between rounds, while no bytes arrive, so a display redraws its
    cards; the call itself (``Response.rounds[round - 1].tool_calls[index]``) holds the state.
    """

    round: int
    index: int
    status: str


Event = ReasoningDelta | TextDelta | ToolCallDelta | Usage | Finish | Retrying | ToolProgress

__all__ = [
    "Event",
    "Finish",
    "ReasoningDelta",
    "Retrying",
    "TextDelta",
    "ToolCallDelta",
    "ToolProgress",
    "Usage",
]
