"""Process-wide defaults: the "configuration" step of provider resolution.

Plain Python so scripts use it without IPython; the magics' traitlets
``Nemotron`` configurable writes into it, so ``%config Nemotron.provider``
and ``ipython_config.py`` reach the library the same way. Every assignment is
checked by the rules in :mod:`._params`, so a bad value fails where it is set,
not later in a request.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from ._errors import ConfigurationError
from ._formats import FORMATS  # how an answer can be shown; what --format accepts
from ._params import PARAMS, SETTINGS, check_params


@dataclass
class Settings:
    provider: str | None = None
    model: str | None = None
    base_url: str | None = None
    #: Seconds to open a connection.
    connect_timeout: float = 10.0
    #: Seconds allowed between two chunks (long prefill of a big context needs more).
    read_timeout: float = 120.0
    #: Seconds one request may take in all, however steadily bytes trickle in.
    total_timeout: float = 1800.0
    #: Attempts after the first, before any byte of the answer arrived.
    max_retries: int = 3
    #: Upper bound of one backoff sleep, Retry-After included.
    max_backoff: float = 30.0
    #: Largest single server-sent event accepted (a runaway line fails here, not in memory).
    max_event_bytes: int = 8 * 1024 * 1024
    #: Default request parameters (temperature, max_tokens, reasoning …), overridden per call.
    params: dict[str, Any] = field(default_factory=dict)

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "params":
            value = check_params(value)
        elif name in SETTINGS:
            value = SETTINGS[name].validate(value)
        else:
            raise ConfigurationError(
                f"Unknown setting {name!r}: choose from {', '.join(sorted(f.name for f in fields(self)))}"
            )
        super().__setattr__(name, value)

    def update(self, **values: Any) -> None:
        """Set several values; nothing changes unless all of them are valid.

        Request parameters may be given by name (``temperature=0.2``): they go into
        :attr:`params`, and ``None`` removes one.
        """
        names = {f.name for f in fields(self)}
        checked: dict[str, Any] = {}
        params = dict(values.pop("params", self.params))
        for key, value in values.items():
            if key in PARAMS:
                params[key] = value
            elif key in names:
                checked[key] = SETTINGS[key].validate(value)
            else:
                raise ConfigurationError(
                    f"Unknown setting {key!r}: choose from {', '.join(sorted(names))}, "
                    "or a request parameter (temperature, max_tokens, reasoning …)"
                )
        checked["params"] = check_params(params)
        for key, value in checked.items():
            setattr(self, key, value)


settings = Settings()


def configure(**values: Any) -> Settings:
    """Change the defaults for this process, e.g. ``configure(provider="openrouter", read_timeout=300)``."""
    settings.update(**values)
    return settings


__all__ = ["FORMATS", "Settings", "configure", "settings"]
