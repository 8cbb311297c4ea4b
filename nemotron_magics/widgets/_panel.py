"""The controls panel: one control per setting, two-way bound to :data:`nemotron_magics.settings`.

A change in the panel is a change of the settings (checked by the same rule as the flags,
refused with its words, shown in the panel); a change of the settings from anywhere
(``%config``, ``%nemotron config``, ``configure()``, another panel) is shown here at once,
through the settings' observers. Nothing is kept here that the settings do not hold, so
two panels, the traitlets configurable and the next cell cannot disagree.
"""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as w

from .._config import defaults, settings
from .._configurable import config_file_values
from .._errors import ConfigurationError
from .._params import PARAMS, SETTINGS, Bounds, Rule
from .._providers import PROVIDERS
from .._tables import chosen_provider_name
from ._hooks import after_each_cell
from ._shown import ShownAsWidget

#: The controls, in order: attribute name -> the setting or request parameter it shows.
BOUND: dict[str, str] = {
    "provider": "provider",
    "model": "model",
    "temperature": "temperature",
    "top_p": "top_p",
    "max_tokens": "max_tokens",
    "reasoning": "reasoning",
    "budget": "reasoning_budget",
    "seed": "seed",
    "system": "system",
}
#: Where a slider rests while its parameter is unset (Nemotron's recommended values).
RESTING = {"temperature": 1.0, "top_p": 0.95}
_UNSET_NOTE = "not set: the provider's default"
_STYLE = {"description_width": "7em"}
_WIDE = w.Layout(width="32em")


def _rule(setting: str) -> Rule:
    return SETTINGS.get(setting) or PARAMS[setting]


def key_status(name: str) -> str:
    """A provider's key status as the panel shows it: never the key."""
    p = PROVIDERS[name]
    if not p.needs_key:
        return "no key needed"
    return f"key set ({p.key_env[0]})" if p.key_from_env() else f"no key: set {p.key_env[0]}"


def provider_options(current: str | None) -> list[tuple[str, str]]:
    """The menu: automatic first, then the configured providers (and the current one, whatever it is)."""
    chosen, why = chosen_provider_name()
    options = [(f"automatic: {chosen} ({why})", "")]
    for name, p in PROVIDERS.items():
        configured = not p.needs_key or (
            bool(p.key_from_env()) and all(_env_set(v) for v in p.url_env.values())
        )
        if configured or name == current:
            options.append((f"{name} · {key_status(name)}", name))
    return options


def _env_set(var: str) -> bool:
    import os

    return bool(os.environ.get(var))


def _label(text: str) -> w.HTML:
    """A label placed and sized as ipywidgets' own descriptions are."""
    return w.HTML(
        f"<div style='text-align:right;padding-right:8px'>{html.escape(text)}</div>",
        layout=w.Layout(width=_STYLE["description_width"], flex="0 0 auto"),
    )


class Controls(ShownAsWidget):
    """The panel: ``provider``, ``model``, ``temperature``, ``top_p``, ``max_tokens``, ``reasoning``,
    ``budget``, ``seed``, ``system`` and ``reset`` are its ipywidgets; ``widget`` is the whole box."""

    def __init__(self) -> None:
        self._quiet = False  # True while the panel shows a settings value (no push back)
        self.provider = w.Dropdown(description="provider", style=_STYLE, layout=_WIDE)
        self.model = w.Text(
            description="model", placeholder="the provider's default", continuous_update=False, style=_STYLE
        )
        self.temperature = self._slider("temperature", step=0.05)
        self.top_p = self._slider("top_p", step=0.01)
        self.max_tokens = self._number("max_tokens", "the provider's default")
        self.reasoning = w.ToggleButtons(
            options=[("default", ""), ("on", "on"), ("low", "low"), ("off", "off")],
            tooltips=["the model's own", "think", "think briefly", "answer at once"],
            style={"button_width": "5.5em"},
        )
        self.budget = self._number("reasoning_budget", "no limit", description="budget")
        self.seed = self._number("seed", "random")
        self.system = w.Textarea(
            description="system",
            placeholder="system prompt for every cell without its own",
            continuous_update=False,
            rows=3,
            style=_STYLE,
            layout=_WIDE,
        )
        self.reset = w.Button(description="Reset", icon="undo", tooltip="back to the defaults")
        self.message = w.HTML()
        self._notes = {name: w.HTML(layout=w.Layout(margin="0 0 0 .6em")) for name in RESTING}
        title = w.HTML(
            "<b>Nemotron defaults</b> <span style='opacity:.7'>for the next cell or "
            "<code>nm.chat()</code> without its own value</span>"
        )
        rows: list[w.Widget] = [title]
        for attr in BOUND:
            control = getattr(self, attr)
            if attr in self._notes:
                rows.append(w.HBox([control, self._notes[attr]]))
            elif attr == "reasoning":  # ToggleButtons put their description above: a label of our own
                rows.append(w.HBox([_label("reasoning"), control]))
            else:
                rows.append(control)
        rows += [w.HBox([self.reset, self.message])]
        self.widget = w.VBox(rows, layout=w.Layout(padding=".4em", border="1px solid #d0d0d0"))
        self.widget.add_class("nemotron-controls")
        for attr in BOUND:
            getattr(self, attr).observe(self._pushed, names="value")
        self.reset.on_click(lambda _button: self.restore_defaults())
        for attr, setting in BOUND.items():
            self._show(attr, settings.get(setting))
        settings.observe(self._follow)
        after_each_cell(self)

    # -- building ------------------------------------------------------------------------------
    def _slider(self, setting: str, *, step: float) -> w.FloatSlider:
        bounds = _rule(setting).check
        assert isinstance(bounds, Bounds)
        low = bounds.low + step if bounds.low_open else bounds.low
        return w.FloatSlider(
            min=low,
            max=bounds.high,
            step=step,
            value=RESTING[setting],
            description=setting,
            continuous_update=False,
            readout_format=".2f",
            style=_STYLE,
        )

    @staticmethod
    def _number(setting: str, placeholder: str, *, description: str | None = None) -> w.Text:
        # Text, not IntText: "unset" is a state (the provider decides), and the rule reads the text.
        return w.Text(
            description=description or setting,
            placeholder=placeholder,
            continuous_update=False,
            style=_STYLE,
        )

    # -- panel -> settings -----------------------------------------------------------------------
    def _pushed(self, change: dict[str, Any]) -> None:
        if self._quiet:
            return
        attr = next(a for a in BOUND if getattr(self, a) is change["owner"])
        setting = BOUND[attr]
        value = change["new"]
        try:
            if isinstance(value, str):
                value = None if not value.strip() else _rule(setting).from_text(value, setting)
            settings.set(setting, value)
        except ConfigurationError as exc:
            self.say(exc.message, error=True)
            self._show(attr, settings.get(setting))  # back to what holds
            return
        self.say("")
        self._show(attr, settings.get(setting))  # normalised ("LOW" -> "low"), notes updated

    def restore_defaults(self) -> None:
        """Reset: the library's defaults, under those of ``ipython_config.py`` where it gives any."""
        base, file_values = defaults(), config_file_values()
        values = {s: file_values.get(s, base.get(s)) for s in BOUND.values()}
        settings.update(**values)
        self.say("back to the defaults" + (" of ipython_config.py" if file_values else ""))

    # -- settings -> panel -----------------------------------------------------------------------
    def _follow(self, name: str, old: Any, new: Any) -> None:
        for attr, setting in BOUND.items():
            if setting == name:
                self._show(attr, new)
        if name in ("provider", "base_url"):
            self._show("provider", settings.provider)  # "automatic: …" says what it picks now

    def catch_up(self) -> None:
        """After a cell: a key set with ``%env`` (or unset) changes which providers the menu offers."""
        options = provider_options(settings.provider)
        if tuple(options) != tuple(self.provider.options):
            self._show("provider", settings.provider)

    def _show(self, attr: str, value: Any) -> None:
        control = getattr(self, attr)
        self._quiet = True
        try:
            if attr == "provider":
                control.options = provider_options(value)
                control.value = value or ""
            elif attr in RESTING:
                control.value = RESTING[attr] if value is None else value
                self._notes[attr].value = (
                    f"<span style='opacity:.6'>{_UNSET_NOTE}</span>" if value is None else ""
                )
            elif isinstance(control, w.Text | w.Textarea):
                control.value = "" if value is None else str(value)
            else:
                control.value = value or ""
        finally:
            self._quiet = False

    def say(self, text: str, *, error: bool = False) -> None:
        """One line under the controls: a refused value in red, with the rule's words."""
        if not text:
            self.message.value = ""
            return
        colour = "var(--jp-error-color1,#c62828)" if error else "inherit"
        self.message.value = f"<span style='color:{colour}'>{html.escape(text)}</span>"

    # -- being shown ---------------------------------------------------------------------------
    def close(self) -> None:
        """Stop following the settings and take the widgets down."""
        settings.unobserve(self._follow)
        for child in self._all():
            child.close()

    def _all(self) -> list[w.Widget]:
        found: list[w.Widget] = []
        todo: list[w.Widget] = [self.widget]
        while todo:
            widget = todo.pop()
            found.append(widget)
            todo.extend(getattr(widget, "children", ()))
        return found

    def __repr__(self) -> str:
        set_ = ", ".join(f"{a}={settings.get(s)!r}" for a, s in BOUND.items() if settings.get(s) is not None)
        return f"<nemotron controls: {set_ or 'all defaults'}>"
