"""Process-wide defaults: the "configuration" step of provider resolution.

Plain Python so scripts use it without IPython. It is the one source of the
configuration: the magics' traitlets ``Nemotron`` configurable and the controls
panel are derived from its rules and observe it (:meth:`Settings.observe`), so
``%config Nemotron.provider``, ``ipython_config.py``, ``configure()`` and the panel
cannot disagree. Every assignment is checked by the rules in :mod:`._params`, so a
bad value fails where it is set, not later in a request.
"""

from __future__ import annotations

import sys
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

from ._errors import ConfigurationError
from ._formats import FORMATS  # how an answer can be shown; what --format accepts
from ._params import PARAMS, SETTINGS, check_params

#: Called as ``callback(name, old, new)`` after a change; ``name`` is a setting or a request parameter.
Observer = Callable[[str, Any, Any], None]
# Kept beside the instances, not in them: copying or comparing settings never copies a panel.
_OBSERVERS: dict[int, list[Callable[[], Observer | None]]] = {}


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
    #: History, cache and usage: a SQLite file path, or "off" (None: NEMOTRON_STORE, else the default).
    store: str | None = None
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
        had, old = name in self.__dict__, self.__dict__.get(name)
        super().__setattr__(name, value)
        if not had:  # the dataclass's own __init__: nothing changed for anyone
            return
        if name == "params":
            old = old or {}
            for key in [*old, *(k for k in value if k not in old)]:
                if old.get(key) != value.get(key):
                    self._notify(key, old.get(key), value.get(key))
        elif old != value:
            self._notify(name, old, value)

    # -- observers ---------------------------------------------------------------------------
    def observe(self, callback: Observer) -> None:
        """Call ``callback(name, old, new)`` after every change (a request parameter by its name).

        A bound method is held weakly: a panel that is gone stops listening by itself.
        """
        ref: Callable[[], Observer | None]
        if hasattr(callback, "__self__") and hasattr(callback, "__func__"):
            ref = weakref.WeakMethod(callback)
        else:
            ref = lambda: callback  # noqa: E731
        _OBSERVERS.setdefault(id(self), []).append(ref)

    def unobserve(self, callback: Observer) -> None:
        refs = _OBSERVERS.get(id(self), [])
        refs[:] = [r for r in refs if r() not in (None, callback)]

    def _notify(self, name: str, old: Any, new: Any) -> None:
        for ref in list(_OBSERVERS.get(id(self), [])):
            callback = ref()
            if callback is None:
                self.unobserve(callback)  # type: ignore[arg-type]  # drops the dead ones
                continue
            try:
                callback(name, old, new)
            except Exception as exc:  # one broken listener must not undo or block the change
                print(f"nemotron: a settings observer failed on {name}: {exc}", file=sys.stderr)

    # -- one value by name ---------------------------------------------------------------------
    def get(self, name: str) -> Any:
        """A setting (``provider``) or a default request parameter (``temperature``; None when unset)."""
        if name in PARAMS:
            return self.params.get(name)
        if name in SETTINGS:
            return getattr(self, name)
        raise ConfigurationError(f"Unknown setting {name!r}: choose from {', '.join(sorted(SETTINGS))}")

    def set(self, name: str, value: Any) -> None:
        """Set one setting or default request parameter (``None`` removes a parameter)."""
        if name in PARAMS:
            params = {k: v for k, v in self.params.items() if k != name}
            if value is not None:
                params[name] = value
            self.params = params  # a new dict: never mutate one another holder shares
        else:
            setattr(self, name, value)

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


def defaults() -> Settings:
    """The library's own defaults (what a fresh process starts with)."""
    return Settings()


settings = Settings()


def configure(**values: Any) -> Settings:
    """Change the defaults for this process, e.g. ``configure(provider="openrouter", read_timeout=300)``."""
    settings.update(**values)
    return settings


__all__ = ["FORMATS", "Settings", "configure", "settings"]
