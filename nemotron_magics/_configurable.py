"""``Nemotron``: the notebook's defaults as a traitlets configurable.

``%config Nemotron.provider = "openrouter"``, ``%nemotron config provider=openrouter`` and
``c.Nemotron.provider = "openrouter"`` in ``ipython_config.py`` all land here; values the
library also uses are pushed into :data:`nemotron_magics.settings`, so ``chat()`` in the
same kernel follows them too. Cell flags override them for one cell.
"""

from __future__ import annotations

from typing import Any

from traitlets import Bool, CaselessStrEnum, Float, Int, TraitError, Unicode, default, observe, validate
from traitlets.config import Configurable

from ._config import FORMATS, settings
from ._errors import ConfigurationError
from ._interpolate import DEFAULT_MAX_CHARS
from ._params import PARAMS, SETTINGS

# Trait -> where it lives in the library's settings: an attribute, or a request parameter.
_SETTING_ATTRS = (
    "provider",
    "model",
    "base_url",
    "read_timeout",
    "connect_timeout",
    "total_timeout",
    "max_retries",
    "max_backoff",
)
_SETTING_PARAMS = ("reasoning", "temperature", "top_p", "max_tokens", "system")


class Nemotron(Configurable):
    """Notebook defaults for ``%%nemotron``; every cell flag overrides them for that cell.

    Set with ``%config Nemotron.provider = "openrouter"``, ``%nemotron config
    provider=openrouter`` or ``c.Nemotron.provider = "openrouter"`` in
    ``ipython_config.py``. Values that the library also uses are pushed into
    ``nemotron_magics.settings`` (the configuration step of provider
    resolution), so ``chat()`` in the same kernel follows them too.
    """

    provider = Unicode(None, allow_none=True, help="Provider to use (see %nemotron providers).").tag(
        config=True
    )
    model = Unicode(None, allow_none=True, help="Model id (default: the provider's Nemotron 3 Super).").tag(
        config=True
    )
    base_url = Unicode(
        None, allow_none=True, help="An OpenAI-compatible endpoint (implies provider local)."
    ).tag(config=True)
    reasoning = CaselessStrEnum(
        ("on", "low", "off"), None, allow_none=True, help="Thinking: on, low or off (default: the model's)."
    ).tag(config=True)
    temperature = Float(None, allow_none=True, help="Sampling temperature, 0 to 2.").tag(config=True)
    top_p = Float(None, allow_none=True, help="Nucleus sampling, above 0 and at most 1.").tag(config=True)
    max_tokens = Int(None, allow_none=True, help="Longest answer in tokens (reasoning counts).").tag(
        config=True
    )
    system = Unicode(None, allow_none=True, help="System prompt for every cell without its own.").tag(
        config=True
    )
    read_timeout = Float(help="Seconds allowed between two chunks of a stream.").tag(config=True)
    connect_timeout = Float(help="Seconds to open a connection.").tag(config=True)
    total_timeout = Float(help="Seconds one request may take in all.").tag(config=True)
    max_retries = Int(help="Retries before the first byte (429, 5xx, connect errors).").tag(config=True)
    max_backoff = Float(help="Longest wait between two retries, Retry-After included.").tag(config=True)
    format = CaselessStrEnum(FORMATS, "markdown", help="Default --format: markdown, text, json or code.").tag(
        config=True
    )
    interpolate = Bool(True, help="Replace {name} in cells with values from the namespace.").tag(config=True)
    interpolate_max_chars = Int(
        DEFAULT_MAX_CHARS, help="Longest text one {name} may put into a prompt; longer values are cut."
    ).tag(config=True)
    max_rate = Float(20.0, help="Most display updates per second while streaming.").tag(config=True)

    # Defaults come from the library settings, so configure() before %load_ext is respected.
    @default("provider")
    def _default_provider(self) -> str | None:
        return settings.provider

    @default("model")
    def _default_model(self) -> str | None:
        return settings.model

    @default("base_url")
    def _default_base_url(self) -> str | None:
        return settings.base_url

    @default("read_timeout")
    def _default_read_timeout(self) -> float:
        return settings.read_timeout

    @default("connect_timeout")
    def _default_connect_timeout(self) -> float:
        return settings.connect_timeout

    @default("total_timeout")
    def _default_total_timeout(self) -> float:
        return settings.total_timeout

    @default("max_retries")
    def _default_max_retries(self) -> int:
        return settings.max_retries

    @default("max_backoff")
    def _default_max_backoff(self) -> float:
        return settings.max_backoff

    @default("reasoning")
    def _default_reasoning(self) -> str | None:
        return settings.params.get("reasoning")

    @default("temperature")
    def _default_temperature(self) -> float | None:
        return settings.params.get("temperature")

    @default("top_p")
    def _default_top_p(self) -> float | None:
        return settings.params.get("top_p")

    @default("max_tokens")
    def _default_max_tokens(self) -> int | None:
        return settings.params.get("max_tokens")

    @default("system")
    def _default_system(self) -> str | None:
        return settings.params.get("system")

    # The library's rules (the same as the cell flags'), named after the setting.
    @validate(*_SETTING_ATTRS, *_SETTING_PARAMS)
    def _check_rule(self, proposal: Any) -> Any:
        name, value = proposal["trait"].name, proposal["value"]
        rule = SETTINGS.get(name) or PARAMS[name]
        if value == "" and rule.optional:
            value = None
        try:
            return rule.validate(value, f"Nemotron.{name}")
        except ConfigurationError as exc:
            raise TraitError(exc.message) from None

    @validate("interpolate_max_chars")
    def _check_count(self, proposal: Any) -> int:
        value = proposal["value"]
        if value < 1:
            raise TraitError(
                f"Nemotron.interpolate_max_chars must be a whole number of at least 1, got {value!r}"
            )
        return int(value)

    @validate("max_rate")
    def _check_positive(self, proposal: Any) -> float:
        value, name = proposal["value"], proposal["trait"].name
        if not value > 0:
            raise TraitError(f"Nemotron.{name} must be a positive number, got {value!r}")
        return float(value)

    @observe(*_SETTING_ATTRS, *_SETTING_PARAMS)
    def _push(self, change: Any) -> None:
        """Carry a change into the library settings (a new params dict: never mutate a shared one)."""
        name, value = change["name"], change["new"]
        if name in _SETTING_ATTRS:
            setattr(settings, name, value)
            return
        params = {k: v for k, v in settings.params.items() if k != name}
        if value is not None:
            params[name] = value
        settings.params = params

    def values(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in sorted(self.class_trait_names(config=True))}
