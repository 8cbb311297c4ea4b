"""Whether the page showing this kernel has our JupyterLab extension, and the comm to it.

The extension renders ``application/vnd.nemotron.response+json`` itself, so while a cell
streams the kernel sends it appends (a few characters each) on the ``nemotron.live`` comm
instead of re-sending rendered HTML. Frontends without it (VS Code, Colab, nbviewer, a
JupyterLab that has it disabled) never answer, and keep the HTML fallbacks.

The handshake goes both ways, because either side may come first:

- ``%load_ext`` opens a comm to the page; the extension answers ``{"renderer": 1}``;
- a page that loads later (a reload, a second tab) asks the kernel which ``nemotron.live``
  comms it has and, finding one it does not know, opens its own with ``{"renderer": 1}``.

Either message is handled between cells (the kernel reads its shell channel only then), so
the first cell of a fresh "Run All" streams through the fallback; its final bundle is
rendered by the extension all the same.
"""

from __future__ import annotations

import contextlib
from typing import Any

#: The comm's target name, as the extension registers it (labextension/src/types.ts).
TARGET = "nemotron.live"
#: The live protocol this kernel speaks: the version of response.schema.json.
PROTOCOL = 1


class Frontends:
    """The comms of the pages that answered; :meth:`send` reaches all of them."""

    def __init__(self) -> None:
        self._comms: dict[str, Any] = {}  # comm id -> comm, once its page said it renders
        self._registered: Any = None  # the comm manager our target is registered with

    def attached(self) -> bool:
        """Whether some page renders our MIME type live (then appends go over the comm)."""
        return bool(self._comms)

    def announce(self, shell: Any) -> None:
        """At ``%load_ext``: take comms that pages open, and open one to the page there is now."""
        kernel = getattr(shell, "kernel", None)
        if kernel is None:  # terminal IPython, plain Python: no page to talk to
            return
        import comm

        manager = comm.get_comm_manager()
        if self._registered is not manager:
            manager.register_target(TARGET, self._opened_by_page)
            self._registered = manager
        ours = comm.create_comm(target_name=TARGET, data={"kernel": PROTOCOL})
        ours.on_msg(lambda msg: self._take(ours, msg))

    def forget(self) -> None:
        """At unload: close our comms and stop answering pages (a reload starts afresh)."""
        for one in list(self._comms.values()):
            with contextlib.suppress(Exception):  # a kernel shutting down: nothing left to tell
                one.close()
        self._comms.clear()
        if self._registered is not None:
            self._registered.unregister_target(TARGET, self._opened_by_page)
            self._registered = None

    def send(self, data: dict[str, Any]) -> None:
        for one in list(self._comms.values()):
            one.send(data)

    # -- the handshake -------------------------------------------------------------------------
    def _opened_by_page(self, one: Any, msg: dict[str, Any]) -> None:
        self._take(one, msg)
        one.on_msg(lambda m: self._take(one, m))

    def _take(self, one: Any, msg: dict[str, Any]) -> None:
        data = msg.get("content", {}).get("data") or {}
        if isinstance(data, dict) and isinstance(data.get("renderer"), int):
            self._comms[one.comm_id] = one
            one.on_close(lambda _msg: self._comms.pop(one.comm_id, None))


#: One per kernel process: the kernel has one shell and one set of pages.
frontends = Frontends()

__all__ = ["PROTOCOL", "TARGET", "Frontends", "frontends"]
