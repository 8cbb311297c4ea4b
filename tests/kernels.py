"""A real Jupyter kernel driven the way a frontend drives it, for the kernel-level tests."""

from __future__ import annotations

import queue
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbformat
from jupyter_client.manager import KernelManager

ROOT = Path(__file__).resolve().parent.parent
Message = dict[str, Any]


def fold_outputs(messages: list[Message]) -> list[nbformat.NotebookNode]:
    """A cell's outputs as a frontend keeps and saves them: display updates applied by display id."""
    outputs: list[nbformat.NotebookNode] = []
    by_id: dict[str, list[nbformat.NotebookNode]] = {}
    for msg in messages:
        kind, content = msg["msg_type"], msg["content"]
        display_id = (content.get("transient") or {}).get("display_id")
        if kind == "display_data":
            out = nbformat.v4.new_output("display_data", data=content["data"], metadata=content["metadata"])
            outputs.append(out)
            by_id.setdefault(display_id, []).append(out)
        elif kind == "update_display_data":
            for out in by_id.get(display_id, []):
                out.data = nbformat.from_dict(content["data"])
        elif kind == "stream":
            outputs.append(nbformat.v4.new_output("stream", name=content["name"], text=content["text"]))
        elif kind == "error":
            outputs.append(
                nbformat.v4.new_output(
                    "error", ename=content["ename"], evalue=content["evalue"], traceback=content["traceback"]
                )
            )
        elif kind == "execute_result":
            outputs.append(
                nbformat.v4.new_output(
                    "execute_result", data=content["data"], execution_count=content["execution_count"]
                )
            )
        elif kind == "clear_output":
            outputs.clear()
    return outputs


class Kernel:
    """A kernel and its client; requests may carry a cell id, as JupyterLab's do."""

    def __init__(self) -> None:
        self.km = KernelManager(kernel_name="python3")
        self.km.start_kernel(cwd=str(ROOT))
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=60)

    def stop(self) -> None:
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=True)

    def send(self, code: str, cell_id: str | None = None, *, allow_stdin: bool = False) -> str:
        """Execute as a frontend does; ``allow_stdin`` as JupyterLab sends it (an input box can ask)."""
        content = {
            "code": code,
            "silent": False,
            "store_history": True,
            "user_expressions": {},
            "allow_stdin": allow_stdin,
            "stop_on_error": True,
        }
        msg = self.kc.session.msg("execute_request", content, metadata={"cellId": cell_id} if cell_id else {})
        self.kc.shell_channel.send(msg)
        return msg["header"]["msg_id"]

    def reply(self, msg_id: str, timeout: float = 30) -> Message:
        deadline = time.monotonic() + timeout
        while True:
            msg = self.kc.get_shell_msg(timeout=max(0.01, deadline - time.monotonic()))
            if msg["parent_header"].get("msg_id") == msg_id:
                return msg

    def messages(
        self, msg_id: str, timeout: float = 60, until: Callable[[list[Message]], bool] | None = None
    ) -> list[Message]:
        """IOPub messages of one request until it is idle (or until ``until(messages)`` is true)."""
        got: list[Message] = []
        deadline = time.monotonic() + timeout
        while True:
            try:
                msg = self.kc.get_iopub_msg(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no idle status for {msg_id} within {timeout}s") from None
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            msg["received"] = time.perf_counter()
            got.append(msg)
            if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                return got
            if until is not None and until(got):
                return got

    def outputs(self, msg_id: str, timeout: float = 30) -> list[nbformat.NotebookNode]:
        return fold_outputs(self.messages(msg_id, timeout))

    def run(self, code: str, cell_id: str | None = None, timeout: float = 30) -> tuple[Message, list[Any]]:
        msg_id = self.send(code, cell_id)
        outputs = self.outputs(msg_id, timeout)
        return self.reply(msg_id, timeout), outputs
