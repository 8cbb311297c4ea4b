"""The chat box's text input: a textarea where Enter sends and Shift+Enter starts a new line.

ipywidgets' ``Textarea`` reports no key events, and its ``Text`` (which has Enter) holds one
line; a few lines of JavaScript through ``anywidget`` give both, in every frontend that runs
ipywidgets 8 (JupyterLab, Notebook 7, VS Code, Colab). Enter sends a ``{"event": "submit",
"text": …}`` message and empties the box; the kernel reads the text from the message. Without anywidget
the box is a plain ``Textarea`` and the Send button sends.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import ipywidgets as w

Submit = Callable[[str], object]

_ESM = """
function render({ model, el }) {
  const box = document.createElement("textarea");
  box.className = "nm-chat-input";
  box.rows = 2;
  box.style.cssText = "width:100%;box-sizing:border-box;resize:vertical;font:inherit;padding:.35em .5em;"
    + "border:1px solid var(--jp-border-color1,#bbb);border-radius:4px;"
    + "background:var(--jp-layout-color0,#fff);color:var(--jp-ui-font-color0,#000)";
  el.setAttribute("data-lm-suppress-shortcuts", "true");  // Lab's Shift+Enter runs cells elsewhere
  const sync = () => {
    if (box.value !== model.get("value")) box.value = model.get("value");
    box.disabled = model.get("disabled");
    box.placeholder = model.get("placeholder");
  };
  sync();
  model.on("change:value", sync);
  model.on("change:disabled", sync);
  box.addEventListener("input", () => { model.set("value", box.value); model.save_changes(); });
  box.addEventListener("keydown", (event) => {
    event.stopPropagation();  // typing here is not a notebook shortcut
    if (event.key !== "Enter" || event.shiftKey || event.isComposing) return;
    event.preventDefault();
    if (box.disabled || !box.value.trim()) return;
    const text = box.value;
    model.send({ event: "submit", text });
    // Taken: cleared here at once (the kernel's own clearing can lose to the echo of a keystroke).
    box.value = "";
    model.set("value", "");
    model.save_changes();
  });
  el.appendChild(box);
}
export default { render };
"""


@functools.cache
def _input_class() -> type[Any] | None:
    """The anywidget class, made once (None without anywidget)."""
    try:
        import anywidget
        import traitlets
    except ImportError:
        return None

    class ChatInput(anywidget.AnyWidget):
        _esm = _ESM
        value = traitlets.Unicode("").tag(sync=True)
        placeholder = traitlets.Unicode("").tag(sync=True)
        disabled = traitlets.Bool(False).tag(sync=True)

    return ChatInput


def make_input(on_submit: Submit, placeholder: str) -> Any:
    """The input widget; ``on_submit(text)`` runs when Enter is pressed in it."""
    cls = _input_class()
    if cls is None:
        return w.Textarea(placeholder=placeholder, rows=2, layout=w.Layout(width="100%"))
    box = cls(placeholder=placeholder, layout=w.Layout(width="100%"))

    def on_msg(_widget: Any, content: Any, _buffers: Any) -> None:
        if isinstance(content, dict) and content.get("event") == "submit":
            text = content.get("text")
            on_submit(text if isinstance(text, str) else box.value)

    box.on_msg(on_msg)
    return box
