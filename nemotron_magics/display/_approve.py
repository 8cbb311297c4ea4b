"""Approve / Deny before a tool with side effects runs: in a notebook, in a terminal.

A cell that waits for a click blocks the kernel's main thread, and ipywidgets deliver clicks as
messages the kernel only reads between cells. ``jupyter-ui-poll`` reads just those messages
while the cell waits, through ``Kernel.do_one_iteration``, so Approve / Deny buttons work
mid-cell. ipykernel 7 removed that method (it reads the shell channel in a thread of its own)
and the buttons would never hear a click; there the question is asked through the frontend's
input box instead (the stdin channel, which JupyterLab and Notebook 7 answer mid-cell). Once
decided, a line of text says what was decided, so a saved notebook reads right without widgets.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from ._markdown import escape_text

if TYPE_CHECKING:
    from .._tools import Tool

_POLL_SECONDS = 0.05


def ask_with_buttons(tool: Tool, arguments: dict[str, Any]) -> bool:
    """Show Approve / Deny for one call and wait for the click (Ctrl-C or the stop button aborts)."""
    import ipywidgets as widgets
    from IPython.display import HTML, display
    from jupyter_ui_poll import ui_events

    shown = escape_text(json.dumps(arguments, indent=2, ensure_ascii=False)[:4000])
    question = widgets.HTML(
        f"<div class='nm-approval'>Run tool <code>{escape_text(tool.name)}</code> with these arguments?"
        f"<pre style='margin:.3em 0'>{shown}</pre></div>"
    )
    approve = widgets.Button(description="Approve", button_style="success", icon="check")
    deny = widgets.Button(description="Deny", button_style="danger", icon="times")
    decided: list[bool] = []
    approve.on_click(lambda _: decided.append(True))
    deny.on_click(lambda _: decided.append(False))
    panel = widgets.VBox([question, widgets.HBox([approve, deny])])
    handle = display(panel, display_id=True)
    try:
        with ui_events() as poll:
            while not decided:
                poll(10)
                time.sleep(_POLL_SECONDS)
    finally:
        word = "Approved" if decided and decided[0] else "Denied" if decided else "Not decided"
        if handle is not None:
            handle.update(
                HTML(f"<div class='nm-approval'>{word}: <code>{escape_text(tool.name)}</code></div>")
            )
        panel.close()
    return decided[0]


def ask_in_the_input_box(tool: Tool, arguments: dict[str, Any]) -> bool:
    """Ask through the frontend's input box (``input()`` in a kernel goes over the stdin channel)."""
    from IPython.core.error import StdinNotImplementedError
    from IPython.display import HTML, display

    shown = json.dumps(arguments, ensure_ascii=False)
    shown = shown if len(shown) <= 300 else shown[:300] + "…"
    try:
        answer = input(f"Run tool {tool.name}({shown})? Type y to approve, anything else to deny: ")
    except StdinNotImplementedError:
        raise PermissionError(
            "approval was needed and this frontend takes no input (a notebook run headless): "
            "pass approve=… or drop confirm"
        ) from None
    allowed = answer.strip().lower() in ("y", "yes")
    word = "Approved" if allowed else "Denied"
    display(HTML(f"<div class='nm-approval'>{word}: <code>{escape_text(tool.name)}</code></div>"))
    return allowed


def _can_poll_widgets() -> bool:
    """Whether clicks can reach this kernel while a cell runs (see the module's docstring)."""
    from IPython import get_ipython

    kernel = getattr(get_ipython(), "kernel", None)
    if not hasattr(kernel, "do_one_iteration"):
        return False
    try:
        import ipywidgets  # noqa: F401
        import jupyter_ui_poll  # noqa: F401
    except ModuleNotFoundError:
        return False
    return True


def default_approver() -> Any:
    """Buttons where a running cell can hear them, else the input box; the terminal's prompt outside."""
    from .._loop import terminal_approver
    from ._show import in_kernel

    if not in_kernel():
        return terminal_approver
    return ask_with_buttons if _can_poll_widgets() else ask_in_the_input_box


__all__ = ["ask_in_the_input_box", "ask_with_buttons", "default_approver"]
