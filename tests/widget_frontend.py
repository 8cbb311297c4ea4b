"""A widget frontend in miniature, on a real kernel: it keeps every widget's state from the comm
messages, and changes values or clicks buttons by sending the comm messages JupyterLab sends.

ipywidgets' protocol (version 2): a widget is a ``comm_open`` on iopub with ``data.state``; the
kernel sends ``comm_msg`` ``{"method": "update", "state": {...}}`` when a value changes; a
frontend sends ``{"method": "update", "state": {...}}`` for a new value and ``{"method":
"custom", "content": {...}}`` for a click (``{"event": "click"}``) or a widget's own message.
"""

from __future__ import annotations

import json
import queue
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.kernels import Kernel, Message


@dataclass
class Traffic:
    """Widget messages the kernel sent, with their sizes on the wire (JSON of the content)."""

    opens: int = 0
    updates: int = 0
    closes: int = 0
    bytes: int = 0
    times: list[float] = field(default_factory=list)


class Frontend:
    """Every widget's state by model id, kept from iopub like a browser keeps it."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel
        self.models: dict[str, dict[str, Any]] = {}
        self.closed: set[str] = set()
        self.traffic = Traffic()
        self.outputs: list[Message] = []  # every non-widget iopub message, any parent
        #: Every value each (model, key) took, in order: a state that came and went within one
        #: read (a quick answer disables and re-enables the input) is still seen.
        self.history: dict[tuple[str, str], list[Any]] = {}

    # -- reading -----------------------------------------------------------------------------------
    def _take(self, msg: Message) -> None:
        kind, content = msg["msg_type"], msg["content"]
        if kind in ("comm_open", "comm_msg", "comm_close"):
            size = len(json.dumps(content, separators=(",", ":")))
            self.traffic.bytes += size
            self.traffic.times.append(time.perf_counter())
        if kind == "comm_open":
            self.traffic.opens += 1
            self.models[content["comm_id"]] = dict(content["data"].get("state", {}))
        elif kind == "comm_msg":
            data = content["data"]
            if data.get("method") in ("update", "echo_update"):
                self.traffic.updates += 1
                state = data.get("state", {})
                self.models.setdefault(content["comm_id"], {}).update(state)
                for key, value in state.items():
                    self.history.setdefault((content["comm_id"], key), []).append(value)
        elif kind == "comm_close":
            self.traffic.closes += 1
            self.closed.add(content["comm_id"])
        else:
            self.outputs.append(msg)

    def pump(self, seconds: float = 0.05) -> None:
        """Read what iopub has now, for at most ``seconds``."""
        deadline = time.monotonic() + seconds
        while True:
            try:
                msg = self.kernel.kc.get_iopub_msg(timeout=max(0.005, deadline - time.monotonic()))
            except queue.Empty:
                return
            self._take(msg)
            if time.monotonic() > deadline:
                return

    def until(self, check: Callable[[], bool], timeout: float = 20.0, what: str = "") -> float:
        """Pump until ``check()``; returns when it became true (perf_counter)."""
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                raise AssertionError(f"not within {timeout}s: {what or check}")
            self.pump(0.02)
        return time.perf_counter()

    def run(self, code: str, timeout: float = 60.0) -> tuple[dict[str, Any], str]:
        """Execute a cell; returns its reply and the text it printed, widget messages taken in."""
        msg_id = self.kernel.send(code)
        text: list[str] = []
        idle = False
        deadline = time.monotonic() + timeout
        while not idle:
            try:
                msg = self.kernel.kc.get_iopub_msg(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no idle status within {timeout}s for:\n{code}") from None
            self._take(msg)
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "stream":
                text.append(msg["content"]["text"])
            elif msg["msg_type"] == "error":
                text.append("\n".join(msg["content"]["traceback"]))
            elif msg["msg_type"] == "execute_result":
                text.append(msg["content"]["data"].get("text/plain", ""))
            idle = msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle"
        return self.kernel.reply(msg_id, timeout)["content"], "".join(text)

    def ok(self, code: str, timeout: float = 60.0) -> str:
        reply, text = self.run(code, timeout)
        assert reply["status"] == "ok", f"cell failed:\n{code}\n{text}"
        return text

    def value(self, code: str) -> Any:
        """A Python value from the kernel (printed as JSON there)."""
        out = self.ok(f"import json as _json\nprint(_json.dumps({code}))")
        return json.loads(out.strip().splitlines()[-1])

    def state(self, model_id: str) -> dict[str, Any]:
        return self.models[model_id]

    def ever(self, model_id: str, key: str, value: Any) -> bool:
        """Whether the model's ``key`` was ``value`` at some point (not only now)."""
        return value in self.history.get((model_id, key), [])

    # -- acting ------------------------------------------------------------------------------------
    def _send(self, model_id: str, data: dict[str, Any]) -> None:
        msg = self.kernel.kc.session.msg("comm_msg", {"comm_id": model_id, "data": data})
        self.kernel.kc.shell_channel.send(msg)

    def set(self, model_id: str, **state: Any) -> None:
        """A person changed a control: the frontend's state update, as ipywidgets sends it."""
        self.models[model_id].update(state)
        self._send(model_id, {"method": "update", "state": state, "buffer_paths": []})

    def click(self, model_id: str) -> None:
        self._send(model_id, {"method": "custom", "content": {"event": "click"}})

    def custom(self, model_id: str, content: dict[str, Any]) -> None:
        self._send(model_id, {"method": "custom", "content": content})

    def html_under(self, model_id: str) -> str:
        """All HTML values of the widget tree under ``model_id`` (what the box shows), in order."""
        parts: list[str] = []
        state = self.models.get(model_id, {})
        if model_id in self.closed:
            return ""
        if isinstance(state.get("value"), str) and state.get("_model_name") == "HTMLModel":
            parts.append(state["value"])
        for child in state.get("children", []) or []:
            parts.append(self.html_under(child.removeprefix("IPY_MODEL_")))
        return "".join(parts)
