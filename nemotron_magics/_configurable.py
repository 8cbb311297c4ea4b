"""``Nemotron``: the notebook's defaults as a traitlets configurable, derived from the settings table.

``%config Nemotron.provider = "openrouter"``, ``%nemotron config provider=openrouter`` and
``c.Nemotron.provider = "openrouter"`` in ``ipython_config.py`` all land here. The traits
for library settings are not written out one by one: each is made from its rule in
:mod:`._params` (type, help, check and message), reads its default from
:data:`nemotron_magics.settings`, pushes every change into it, and follows it when
``configure()`` or the controls panel changes it. Only the magic's own options (format,
interpolation, display rate) are plain traits here.
"""

from __future__ import annotations

from typing import Any

from traitlets import Bool, CaselessStrEnum, Float, Int, TraitError, TraitType, validate
from traitlets.config import Configurable
from traitlets.traitlets import MetaHasTraits

from ._config import FORMATS, settings
from ._errors import ConfigurationError
from ._interpolate import DEFAULT_MAX_CHARS
from ._params import DEFAULT_PARAMS, PARAMS, SETTINGS, Rule, read_json

#: Every library value that is also a trait: the settings, then the default request parameters.
LIBRARY_TRAITS: tuple[str, ...] = (*SETTINGS, *DEFAULT_PARAMS)


class RuleTrait(TraitType[Any, Any]):
    """A trait checked by one library rule: the same words as the flags, ``TraitError`` for traitlets."""

    def __init__(self, rule: Rule) -> None:
        super().__init__(allow_none=rule.optional, help=rule.help[:1].upper() + rule.help[1:] + ".")
        self.rule = rule
        self.info_text = rule.what
        self.tag(config=True)

    def make_dynamic_default(self) -> Any:
        """The value the library settings hold now (``configure()`` before ``%load_ext`` counts)."""
        return settings.get(self.rule.name)

    def default_value_repr(self) -> str:
        return "the library setting"

    def validate(self, obj: Any, value: Any) -> Any:
        if value == "" and self.rule.optional:
            value = None
        try:
            return self.rule.validate(value, f"Nemotron.{self.rule.name}")
        except ConfigurationError as exc:
            raise TraitError(exc.message) from None

    def from_string(self, s: str) -> Any:
        """``--Nemotron.temperature=0.5`` on a command line: read as the flags read it."""
        if s in ("None", ""):
            return None
        return self.rule.read(s) if self.rule.read is not read_json else read_json(s)


def _rule(name: str) -> Rule:
    return SETTINGS.get(name) or PARAMS[name]


# One trait per rule, made where the class is made (traitlets sets traits up at class creation).
_LibrarySettings: Any = MetaHasTraits(
    "LibrarySettings",
    (Configurable,),
    {"__module__": __name__, **{name: RuleTrait(_rule(name)) for name in LIBRARY_TRAITS}},
)


class Nemotron(_LibrarySettings):  # type: ignore[misc]
    """Notebook defaults for ``%%nemotron``; every cell flag overrides them for that cell.

    Set with ``%config Nemotron.provider = "openrouter"``, ``%nemotron config
    provider=openrouter`` or ``c.Nemotron.provider = "openrouter"`` in
    ``ipython_config.py``. The library settings among them are
    ``nemotron_magics.settings`` itself, seen through traitlets: ``chat()`` in
    the same kernel follows them, and ``configure()`` shows up here.
    """

    format = CaselessStrEnum(FORMATS, "markdown", help="Default --format: markdown, text, json or code.").tag(
        config=True
    )
    interpolate = Bool(True, help="Replace {name} in cells with values from the namespace.").tag(config=True)
    interpolate_max_chars = Int(
        DEFAULT_MAX_CHARS, help="Longest text one {name} may put into a prompt; longer values are cut."
    ).tag(config=True)
    max_rate = Float(20.0, help="Most display updates per second while streaming.").tag(config=True)

    def __init__(self, **kwargs: Any) -> None:
        self._following = False
        super().__init__(**kwargs)
        self.observe(self._push, names=list(LIBRARY_TRAITS))
        settings.observe(self._follow)

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

    def _push(self, change: Any) -> None:
        """A trait changed (``%config``, ``ipython_config.py``): carry it into the library settings."""
        if self._following:
            return
        name, value = change["name"], change["new"]
        if settings.get(name) != value:
            settings.set(name, value)

    def _follow(self, name: str, old: Any, new: Any) -> None:
        """The library settings changed (``configure()``, the panel): the trait shows it, no echo."""
        if name not in LIBRARY_TRAITS:
            return
        self._following = True
        try:
            setattr(self, name, new)
        finally:
            self._following = False

    def push_all(self) -> None:
        """Values that came from ``ipython_config.py`` and are not in the settings yet: push them once."""
        for name in LIBRARY_TRAITS:
            self._push({"name": name, "new": getattr(self, name)})

    def values(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in sorted(self.class_trait_names(config=True))}


#: What ``ipython_config.py`` gave, read when the extension loads (``%config`` later merges into the
#: shell's config too, so the file's values cannot be read back from there afterwards).
_file_values: dict[str, Any] | None = None


def read_config_file_values(config: Any) -> dict[str, Any]:
    """The library values a config (the shell's, at load) gives ``Nemotron``, checked."""
    section = config.get("Nemotron", {}) if config is not None else {}
    values: dict[str, Any] = {}
    for name in LIBRARY_TRAITS:
        if name in section:
            try:
                values[name] = _rule(name).validate(section[name])
            except ConfigurationError:
                continue  # refused at load already, with its message
    return values


def remember_config_file_values(config: Any) -> None:
    global _file_values
    _file_values = read_config_file_values(config)


def config_file_values() -> dict[str, Any]:
    """What the panel's reset returns to, over the library's defaults: ``ipython_config.py``'s values."""
    if _file_values is not None:
        return dict(_file_values)
    try:
        from IPython import get_ipython
    except ImportError:
        return {}
    shell = get_ipython()
    return read_config_file_values(shell.config if shell is not None else None)
