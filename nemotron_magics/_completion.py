"""The one place every finished response passes: the usage ledger and the store listen here.

A response finishes in :meth:`._fold._Fold.finish`, whichever surface asked for it (the magic,
``nm.chat()``, a :class:`~nemotron_magics.Session`, a widget, a batch), so counting there counts
everything once. Subscribers run in the thread that finished the stream; one that fails says so
on stderr, once per kind of failure, and never breaks the answer that was being delivered.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._response import Response

Subscriber = Callable[["Response"], None]

_subscribers: list[Subscriber] = []
_lock = threading.Lock()
_warned: set[str] = set()


def _ledger(response: Response) -> None:
    from ._usage import count

    count(response)


def _store(response: Response) -> None:
    # Imported on the first finished response, not with the package: sqlite3 costs an import.
    from ._store import record_finished

    record_finished(response)


#: Always subscribed, in this order: the process ledger, then the store (history and cache).
_BUILTIN: tuple[Subscriber, ...] = (_ledger, _store)


def subscribe(callback: Subscriber) -> None:
    """Call ``callback(response)`` for every response that finishes from now on."""
    with _lock:
        _subscribers.append(callback)


def unsubscribe(callback: Subscriber) -> None:
    with _lock:
        if callback in _subscribers:
            _subscribers.remove(callback)


def finished(response: Response) -> None:
    """Tell every subscriber that ``response`` is done (called once per response)."""
    with _lock:
        listeners = (*_BUILTIN, *_subscribers)
    for callback in listeners:
        try:
            callback(response)
        except Exception as exc:  # a listener's failure is never the answer's failure
            kind = f"{getattr(callback, '__qualname__', callback)}:{type(exc).__name__}"
            if kind not in _warned:
                _warned.add(kind)
                from ._secrets import one_line

                print(one_line(f"nemotron: could not record a finished answer ({exc})", 300), file=sys.stderr)


__all__ = ["Subscriber", "finished", "subscribe", "unsubscribe"]
