"""A Python function described as a tool: its JSON Schema, its descriptions and its argument validator.

The model sees a JSON Schema and answers with JSON arguments; the function wants Python values. One
pydantic model, built once from the signature, does both jobs, so what the schema promises is exactly
what validation accepts: a dataclass or pydantic parameter arrives as an instance, an ``Enum`` as its
member. pydantic and docstring-parser are imported here, on the first tool made, never by
``import nemotron_magics``.
"""

from __future__ import annotations

import inspect
import re
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ._errors import ConfigurationError, NemotronError
from ._secrets import one_line

#: What OpenAI-style APIs accept as a function name (and every provider we speak to with them).
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

#: The most of a rejected value an error message quotes back to the model.
_QUOTE_LIMIT = 80


class ToolArgumentError(NemotronError, ValueError):
    """The model's arguments do not fit the tool's schema; the message says what to fix."""


@dataclass(frozen=True)
class FunctionSpec:
    """What :func:`describe_function` learns from a function, once, when it becomes a tool."""

    description: str
    parameters: dict[str, Any]
    validate: Callable[[Mapping[str, Any]], dict[str, Any]]
    #: Parameters that cannot be passed by keyword: they go positionally, in this order.
    positional_only: tuple[str, ...]


def check_name(name: str) -> str:
    """A tool name the providers accept, or a one-line ConfigurationError saying how to give one."""
    if not NAME_PATTERN.match(name):
        raise ConfigurationError(
            f"Tool name {name!r} is not allowed: use 1-64 letters, digits, '_' or '-' "
            "(pass name=... to @tool to choose one)."
        )
    return name


def describe_function(fn: Callable[..., Any], *, name: str) -> FunctionSpec:
    """Schema, descriptions and validator for ``fn``; a ConfigurationError names what cannot be described."""
    import pydantic

    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(f"Tool {name!r}: its signature cannot be read ({exc}).") from exc
    hints = _type_hints(fn, name)
    summary, param_docs = _docstring(inspect.getdoc(fn))

    fields: dict[str, Any] = {}
    internal: dict[str, str] = {}  # field name inside the model -> parameter name
    positional_only: list[str] = []
    for index, (pname, param) in enumerate(signature.parameters.items()):
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            star = "*" if param.kind is param.VAR_POSITIONAL else "**"
            raise ConfigurationError(
                f"Tool {name!r} takes {star}{pname}: a tool needs named parameters the model can fill "
                "in; list them explicitly."
            )
        if param.kind is param.POSITIONAL_ONLY:
            positional_only.append(pname)
        annotation = hints.get(pname, Any)
        default = ... if param.default is param.empty else param.default
        # Field names inside the model are neutral (p0, p1, ...) and the parameter name is the alias:
        # a parameter called `json`, `schema` or `model_x` would otherwise clash with BaseModel's own.
        key = f"p{index}"
        internal[key] = pname
        fields[key] = (annotation, pydantic.Field(default, alias=pname, description=param_docs.get(pname)))

    try:
        model = pydantic.create_model(
            f"{name}_arguments",
            __config__=pydantic.ConfigDict(extra="forbid", arbitrary_types_allowed=False),
            **fields,
        )
        raw_schema: dict[str, Any] = model.model_json_schema()
    except (pydantic.PydanticSchemaGenerationError, pydantic.PydanticUserError, TypeError) as exc:
        raise ConfigurationError(
            f"Tool {name!r}: a parameter's type cannot be described as JSON Schema "
            f"({one_line(str(exc), 200)}); use str, int, float, bool, Literal, Enum, list, dict, "
            "a dataclass or a pydantic model."
        ) from exc

    def validate(arguments: Mapping[str, Any]) -> dict[str, Any]:
        if not isinstance(arguments, Mapping):
            raise ToolArgumentError(
                f"Invalid arguments for tool {name!r}: expected a JSON object, "
                f"got {type(arguments).__name__}."
            )
        try:
            instance = model.model_validate(dict(arguments))
        except pydantic.ValidationError as exc:
            raise ToolArgumentError(f"Invalid arguments for tool {name!r}: {_explain(exc)}.") from None
        # Only what the model sent: the function's own defaults apply to the rest (a sentinel stays itself).
        return {internal[key]: getattr(instance, key) for key in internal if key in instance.model_fields_set}

    return FunctionSpec(
        description=summary,
        parameters=clean_schema(raw_schema),
        validate=validate,
        positional_only=tuple(positional_only),
    )


def _type_hints(fn: Callable[..., Any], name: str) -> dict[str, Any]:
    """Resolved annotations (``from __future__ import annotations`` makes them strings)."""
    target = inspect.unwrap(fn)
    target = getattr(target, "__func__", target)  # a bound method's function
    try:
        return typing.get_type_hints(target, include_extras=True)
    except Exception as exc:  # NameError for a class defined where the function cannot see it, and kin
        raise ConfigurationError(
            f"Tool {name!r}: its type hints cannot be resolved ({type(exc).__name__}: {exc}); define the "
            "types they name at module level, or import them where the function is defined."
        ) from exc


def _docstring(doc: str | None) -> tuple[str, dict[str, str]]:
    """The summary (short and long description) and per-parameter text, in any common style."""
    if not doc:
        return "", {}
    import docstring_parser

    try:
        parsed = docstring_parser.parse(doc)  # AUTO: Google, NumPy, Sphinx/reST, Epydoc
    except docstring_parser.ParseError:
        return doc.strip(), {}
    parts = [p.strip() for p in (parsed.short_description, parsed.long_description) if p and p.strip()]
    params = {p.arg_name: " ".join(p.description.split()) for p in parsed.params if p.description}
    return "\n\n".join(parts), params


def _explain(exc: Any) -> str:
    """pydantic's errors as one line a model can act on: where, what, and the value it sent."""
    problems: list[str] = []
    for err in exc.errors(include_url=False):
        where = ".".join(str(part) for part in err["loc"]) or "arguments"
        kind = err["type"]
        if kind == "missing":
            problems.append(f"missing required argument {where!r}")
        elif kind == "extra_forbidden":
            problems.append(f"unexpected argument {where!r} (not a parameter of this tool)")
        else:
            got = repr(err.get("input"))
            if len(got) > _QUOTE_LIMIT:
                got = got[: _QUOTE_LIMIT - 1] + "…"
            problems.append(f"{where}: {err['msg']} (got {got})")
    return "; ".join(problems)


# --- schema cleaning -------------------------------------------------------------------------------

#: Keywords whose value is one subschema, or a list of them.
_SUB_SCHEMA = ("items", "additionalProperties", "not", "contains", "propertyNames", "if", "then", "else")
_SUB_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
#: Keywords whose value maps names to subschemas (the name is what a title would repeat).
_SUB_MAPS = ("properties", "$defs", "definitions", "patternProperties")


def _squash(text: str) -> str:
    return re.sub(r"[\s_\-]", "", text).lower()


def clean_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """pydantic's schema without the ``title`` noise that only repeats a name; ``$defs`` and ``$ref`` stay.

    Titles cost tokens on every request and tell the model nothing the property name does not. A title
    that says something else (set on purpose with ``Field(title=...)``) is kept. ``$defs`` + ``$ref``
    are valid JSON Schema that OpenAI-style tools accept; :func:`inline_refs` exists for a dialect that
    wants them gone.
    """
    cleaned: dict[str, Any] = _clean(schema, key=None)
    cleaned.pop("title", None)  # the generated model's own name: `{tool}_arguments`
    return cleaned


def _clean(node: Any, key: str | None) -> Any:
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for word, value in node.items():
        if word == "title" and isinstance(value, str) and key is not None and _squash(value) == _squash(key):
            continue
        if word in _SUB_MAPS and isinstance(value, dict):
            out[word] = {name: _clean(sub, name) for name, sub in value.items()}
        elif word in _SUB_LISTS and isinstance(value, list):
            out[word] = [_clean(sub, None) for sub in value]
        elif word in _SUB_SCHEMA:
            out[word] = [_clean(s, None) for s in value] if isinstance(value, list) else _clean(value, None)
        else:
            out[word] = value
    return out


def inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema with every local ``$ref`` replaced by its definition and ``$defs`` dropped.

    For providers whose schema reader does not follow references. A recursive model cannot be
    inlined: that raises a ConfigurationError rather than looping.
    """
    defs: dict[str, Any] = {**schema.get("definitions", {}), **schema.get("$defs", {})}

    def resolve(node: Any, seen: tuple[str, ...]) -> Any:
        if isinstance(node, list):
            return [resolve(item, seen) for item in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(("#/$defs/", "#/definitions/")):
            target = ref.rsplit("/", 1)[1]
            if target in seen:
                raise ConfigurationError(
                    f"Schema type {target!r} refers to itself and cannot be inlined; keep $defs for it."
                )
            merged = {**defs.get(target, {}), **{k: v for k, v in node.items() if k != "$ref"}}
            return resolve(merged, (*seen, target))
        return {k: resolve(v, seen) for k, v in node.items() if k not in ("$defs", "definitions")}

    result: dict[str, Any] = resolve(schema, ())
    return result


__all__ = [
    "FunctionSpec",
    "ToolArgumentError",
    "check_name",
    "clean_schema",
    "describe_function",
    "inline_refs",
]
