"""Tokens and cost so far: :class:`UsageRow` totals per (provider, model), in a :class:`Ledger`.

:data:`LEDGER` is the process's: the completion hook (:mod:`._completion`) counts every finished
response into it, so ``%nemotron usage`` without a store sees ``nm.chat()`` as well as the magic.
A :class:`~nemotron_magics.Session` keeps a ledger of its own for its conversation.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._response import Response

_COUNTS = ("prompt", "completion", "reasoning", "cached")


def _count(value: Any) -> int | None:
    """A token count the ledger can add: a whole number ≥ 0, else unknown."""
    return value if type(value) is int and value >= 0 else None


def _money(value: Any) -> float | None:
    if type(value) not in (int, float):
        return None
    number = float(value)
    return number if math.isfinite(number) and number >= 0 else None


@dataclass
class UsageRow:
    """Totals for one (provider, model) pair.

    A token total is only as good as the requests that reported it: ``prompt_known``,
    ``completion_known``, ``reasoning_known`` and ``cached_known`` count them, so a table
    shows ``unknown`` (none reported) or a partial total instead of a 0 nobody measured
    (:meth:`tokens_text` says it in words).
    """

    provider: str
    model: str
    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    reasoning_tokens: int = 0
    cached_tokens: int = 0
    #: USD: the providers' own figures plus estimates from the price table.
    cost: float = 0.0
    #: True when any part of ``cost`` is an estimate from list prices.
    cost_is_estimate: bool = False
    #: Requests whose cost nobody knows (no reported cost, no price in the table).
    cost_unknown: int = 0
    #: Requests that reported no token counts (stopped early, or the server does not say).
    usage_unknown: int = 0
    #: Requests that reported each count (the others are unknown, not 0).
    prompt_known: int = 0
    completion_known: int = 0
    reasoning_known: int = 0
    cached_known: int = 0

    def add(self, response: Response) -> None:
        """Count one finished response. Every value is checked before any is added, so a
        malformed usage can neither raise here nor leave the row half-updated."""
        usage = getattr(response, "usage", None)
        counts = {name: _count(getattr(usage, f"{name}_tokens", None)) for name in _COUNTS}
        cost = _money(getattr(usage, "cost", None))
        estimate = getattr(usage, "cost_is_estimate", False) is True
        self.requests += 1
        if all(value is None for value in counts.values()):
            self.usage_unknown += 1
        for name, value in counts.items():
            if value is not None:
                setattr(self, f"{name}_tokens", getattr(self, f"{name}_tokens") + value)
                setattr(self, f"{name}_known", getattr(self, f"{name}_known") + 1)
        if cost is None:
            self.cost_unknown += 1
        else:
            self.cost += cost
            self.cost_is_estimate = self.cost_is_estimate or estimate

    def add_unknown(self) -> None:
        """Count a response whose usage could not be read at all."""
        self.requests += 1
        self.usage_unknown += 1
        self.cost_unknown += 1

    def merge(self, other: UsageRow) -> None:
        for name in (
            "requests",
            "prompt_tokens",
            "completion_tokens",
            "reasoning_tokens",
            "cached_tokens",
            "cost",
            "cost_unknown",
            "usage_unknown",
            *(f"{name}_known" for name in _COUNTS),
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.cost_is_estimate = self.cost_is_estimate or other.cost_is_estimate

    def tokens_text(self, name: str) -> str:
        """``1,234``, ``unknown``, or ``1,234 (2 of 3 reported)`` for ``prompt``, ``completion`` …"""
        known = getattr(self, f"{name}_known")
        if known == 0:
            return "unknown"
        text = f"{getattr(self, f'{name}_tokens'):,}"
        return text if known >= self.requests else f"{text} ({known} of {self.requests} reported)"

    @property
    def cost_text(self) -> str:
        """``$0.001234``, ``~$0.001234 (estimate)``, ``unknown``, or partly known."""
        known = self.requests - self.cost_unknown
        if known == 0:
            return "unknown"
        text = f"{'~' if self.cost_is_estimate else ''}${self.cost:.6f}"
        if self.cost_is_estimate:
            text += " (estimate)"
        if self.cost_unknown:
            text += f" + {self.cost_unknown} unpriced"
        return text


class Ledger:
    """Tokens and cost so far, per (provider, model).

    Responses are tracked when their stream starts and folded in once they are
    done, so a ledger never has to be told when a stream ends, and holds no
    reference to an answer after it has been counted.
    """

    def __init__(self) -> None:
        self._rows: dict[tuple[str, str], UsageRow] = {}
        self._pending: list[Response] = []
        self._lock = threading.Lock()

    def track(self, response: Response) -> None:
        with self._lock:
            self._fold()  # count what has finished, so only streams still running are held
            self._pending.append(response)

    def _fold(self) -> None:
        still: list[Response] = []
        pending, self._pending = self._pending, still  # a response is looked at once, whatever happens
        for response in pending:
            if not response.done:
                still.append(response)
                continue
            key = (str(response.provider or "?"), str(response.model or "?"))
            row = self._rows.get(key)
            if row is None:
                row = self._rows[key] = UsageRow(*key)
            try:
                row.add(response)
            except Exception:  # one odd response must never break every later table
                row.add_unknown()

    def rows(self) -> list[UsageRow]:
        """One row per (provider, model), in order of first use; responses still streaming are left out."""
        with self._lock:
            self._fold()
            return [UsageRow(**vars(r)) for r in self._rows.values()]

    def total(self) -> UsageRow:
        total = UsageRow("all", "")
        for row in self.rows():
            total.merge(row)
        return total

    def in_flight(self) -> int:
        with self._lock:
            self._fold()
            return len(self._pending)

    def reset(self) -> None:
        with self._lock:
            self._rows.clear()
            self._pending.clear()


#: Every response finished in this process, whichever surface made it (``nm.chat()``, a Session, a
#: widget, a batch): counted by the completion hook (:mod:`._completion`), not by each surface.
LEDGER = Ledger()


def count(response: Response) -> None:
    """The completion hook's subscriber: one finished response into the process ledger."""
    LEDGER.track(response)


__all__ = ["LEDGER", "Ledger", "UsageRow", "count"]
