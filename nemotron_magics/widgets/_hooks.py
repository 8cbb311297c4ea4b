"""After every cell, the widgets on screen catch up with what the cell changed outside the settings.

A ``--chat NAME`` cell adds a turn to a conversation a chat box shows; ``%env NVIDIA_API_KEY=…`` makes
a provider usable that the panel's menu should now offer. Neither passes through the settings'
observers, so each live widget gets one call after each cell (IPython's ``post_run_cell``), held
weakly: a widget that is gone is forgotten.
"""

from __future__ import annotations

import weakref
from typing import Any, Protocol


class CatchesUp(Protocol):
    def catch_up(self) -> None: ...


_LIVE: weakref.WeakSet[Any] = weakref.WeakSet()
_hooked: set[int] = set()


def _after_cell(*_args: Any) -> None:
    for widget in list(_LIVE):
        try:
            widget.catch_up()
        except Exception:  # a widget that cannot redraw must never fail the user's next cell
            continue


def after_each_cell(widget: CatchesUp) -> None:
    """Call ``widget.catch_up()`` after every cell of this shell, for as long as the widget lives."""
    _LIVE.add(widget)
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is not None and id(shell) not in _hooked:
        shell.events.register("post_run_cell", _after_cell)
        _hooked.add(id(shell))
