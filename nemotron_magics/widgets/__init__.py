"""Notebook widgets: the controls panel bound to the settings, and a streaming chat box.

``controls()`` and ``chat_widget(NAME)`` return the objects; ``%nemotron controls`` and
``%nemotron chat [NAME]`` show them. Importing this package imports no ipywidgets: that
happens when a widget is made. Where widgets cannot render (terminal IPython, plain
Python, ipywidgets missing) the magics say so in one line instead.
"""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING

from .._errors import ConfigurationError

if TYPE_CHECKING:
    from ._chat import ChatWidget
    from ._panel import Controls

_INSTALL = "pip install 'nemotron-magics[notebook]' (ipywidgets) into the kernel's environment"


def unavailable(what: str, instead: str) -> str | None:
    """Why ``what`` cannot render here, in one line with the remedy; None where it can."""
    if importlib.util.find_spec("ipywidgets") is None:
        return f"nemotron: {what} needs ipywidgets: {_INSTALL}; {instead}"
    from ..display import in_kernel

    if not in_kernel():
        return (
            f"nemotron: {what} needs a notebook frontend (JupyterLab, Notebook 7, VS Code, Colab) and "
            f"this is a terminal; {instead}"
        )
    return None


def _require_ipywidgets(what: str) -> None:
    if importlib.util.find_spec("ipywidgets") is None:
        raise ConfigurationError(f"{what} needs ipywidgets: {_INSTALL}")


def controls() -> Controls:
    """The panel of defaults (provider, model, temperature …), two-way bound to ``settings``."""
    _require_ipywidgets("The controls panel")
    from ._panel import Controls

    return Controls()


def chat_widget(name: str = "default", **options: object) -> ChatWidget:
    """A chat box for the named conversation (the one ``%%nemotron --chat NAME`` continues)."""
    _require_ipywidgets("The chat widget")
    from ._chat import ChatWidget

    return ChatWidget(name, **options)  # type: ignore[arg-type]


CONTROLS_INSTEAD = "use %nemotron config NAME=VALUE here"
CHAT_INSTEAD = "use %%nemotron --chat NAME cells here"


def show_controls() -> None:
    """``%nemotron controls``: display the panel, or say in one line why it cannot show here."""
    reason = unavailable("the controls panel", CONTROLS_INSTEAD)
    if reason:
        print(reason)
        return
    from IPython.display import display

    display(controls())


def show_chat(name: str) -> None:
    """``%nemotron chat [NAME]``: display the chat box, or say in one line why it cannot show here."""
    from ..session import valid_name

    if not valid_name(name):
        raise ConfigurationError(
            f"chat name {name!r} must be letters, digits, '_', '.' or '-' (up to 64 characters)"
        )
    reason = unavailable("the chat widget", CHAT_INSTEAD)
    if reason:
        print(reason)
        return
    from IPython.display import display

    display(chat_widget(name))


__all__ = ["chat_widget", "controls", "show_chat", "show_controls", "unavailable"]
