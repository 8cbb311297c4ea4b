"""A live status line while a server loads: an updating display in a notebook, one stderr line elsewhere."""

from __future__ import annotations

import sys
import time
from typing import Any


def _kernel_display() -> Any | None:
    """``IPython.display`` when running in a Jupyter kernel (a frontend that can update a display)."""
    if "IPython" not in sys.modules:
        return None
    from IPython import get_ipython

    shell = get_ipython()
    if shell is None or getattr(shell, "kernel", None) is None:
        return None
    import IPython.display

    return IPython.display


class LiveStatus:
    """``status(elapsed, last_log_line)`` while waiting; :meth:`finish` leaves the final line."""

    def __init__(self, title: str, *, interval: float = 10.0) -> None:
        self.title = title
        self._display = _kernel_display()
        self._handle: Any = None
        self._tty = sys.stderr.isatty()
        self._interval = interval
        self._last_print = 0.0

    def __call__(self, elapsed: float, line: str) -> None:
        text = f"⏳ {self.title} · {elapsed:.0f} s" + (f" · {line}" if line else "")
        if self._display is not None:
            self._show(text)
        elif self._tty:
            sys.stderr.write("\r" + text[:150].ljust(150))
            sys.stderr.flush()
        elif time.monotonic() - self._last_print >= self._interval:
            self._last_print = time.monotonic()
            print(text, file=sys.stderr)

    def finish(self, text: str) -> None:
        if self._display is not None:
            self._show(text)
        else:
            if self._tty:
                sys.stderr.write("\r" + " " * 150 + "\r")
            print(text, file=sys.stderr)

    def _show(self, text: str) -> None:
        shown = self._display.Pretty(text)  # type: ignore[union-attr]
        if self._handle is None:
            self._handle = self._display.display(shown, display_id=True)  # type: ignore[union-attr]
        else:
            self._handle.update(shown)
