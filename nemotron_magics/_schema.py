"""Schemas for structured output: what to ask for, how to check it, how to make a table of it.

A :class:`Schema` wraps what the user names — a pydantic model, a dataclass, a TypedDict, a
JSON-schema dict, or ``list[...]`` of one of these — and answers four questions:

- the ``response_format`` to send (json_schema, strict; a top-level array travels inside a
  wrapper object ``{"items": [...]}``, since providers want an object, and is unwrapped again);
- the value the finished answer validates into (:meth:`Schema.validate`), after repairing only
  what is safe to repair: code fences, trailing text, a truncated last row (dropped, and said);
- the rows complete so far in a still-streaming answer (:func:`complete_rows`, for live tables);
- the DataFrame, with dtypes read from the schema (:func:`to_frame`).
"""

from __future__ import annotations

import dataclasses
import json
import sys
import typing
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ._errors import ConfigurationError

if TYPE_CHECKING:
    import pandas

#: The wrapper object's one field when the schema's top level is an array.
WRAPPER = "items"


def _is_typeddict(target: Any) -> bool:
    return isinstance(target, type) and issubclass(target, dict) and hasattr(target, "__total__")


def _is_model(target: Any) -> bool:
    try:
        from pydantic import BaseModel
    except ModuleNotFoundError:  # pragma: no cover - pydantic is a dependency of schemas
        return False
    return isinstance(target, type) and issubclass(target, BaseModel)


def _portable(target: Any) -> Any:
    """A ``typing.TypedDict`` as ``typing_extensions.TypedDict`` (what pydantic takes before 3.12)."""
    if not _is_typeddict(target) or sys.version_info >= (3, 12) or target.__module__ == "typing_extensions":
        return target
    import typing_extensions

    hints = typing.get_type_hints(target)
    make: Any = typing_extensions.TypedDict
    made: Any = make(target.__name__, hints, total=target.__total__)
    return made


def _typed(target: Any) -> bool:
    return _is_model(target) or dataclasses.is_dataclass(target) or _is_typeddict(target)


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    """Follow ``$ref`` (local ``#/$defs/…``) and a lone ``allOf``/``anyOf`` with null."""
    seen = 0
    while "$ref" in schema and seen < 32:
        ref = str(schema["$ref"])
        node: Any = root
        for part in ref.removeprefix("#/").split("/"):
            node = node.get(part, {}) if isinstance(node, dict) else {}
        schema, seen = node if isinstance(node, dict) else {}, seen + 1
    for key in ("anyOf", "oneOf", "allOf"):
        options = [o for o in schema.get(key, ()) if isinstance(o, dict) and o.get("type") != "null"]
        if len(options) == 1:
            return _resolve(options[0], root)
    return schema


@dataclass
class Outcome:
    """What validating a finished answer gave."""

    #: The validated value (pydantic/dataclass instances where the schema is typed), or None.
    value: Any = None
    #: The same as plain JSON (what the table and the custom MIME are made of).
    plain: Any = None
    ok: bool = False
    errors: list[str] = field(default_factory=list)
    #: What was repaired, in the reader's words ("code fences removed", …).
    repairs: list[str] = field(default_factory=list)


class Schema:
    """A structured-output schema, in every form the package needs it."""

    def __init__(self, target: Any, *, name: str | None = None) -> None:
        self.target = target
        self.is_list = False
        item = target
        if typing.get_origin(target) is list:
            (item,) = typing.get_args(target) or (Any,)
            self.is_list = True
        elif isinstance(target, dict) and target.get("type") == "array":
            item = target.get("items", {})
            self.is_list = True
        item = _portable(item)
        self.item = item
        self.adapter: Any = None
        if _typed(item):
            from pydantic import TypeAdapter

            self.adapter = TypeAdapter(list[item] if self.is_list else item)  # type: ignore[valid-type]
            self.json_schema: dict[str, Any] = self.adapter.json_schema()
        elif isinstance(target, dict):
            self.json_schema = dict(target)
        else:
            raise ConfigurationError(
                f"schema must be a pydantic model, a dataclass, a TypedDict, a JSON-schema dict "
                f"or list[...] of one of these, not {target!r}"
            )
        self.name = name or getattr(item, "__name__", None) or str(self.json_schema.get("title") or "answer")

    # -- the request ------------------------------------------------------------------------
    def wire_schema(self) -> dict[str, Any]:
        """The schema as sent (strict: no extra keys), a top-level array inside ``{"items": [...]}``."""
        schema: dict[str, Any] = _strict(self.json_schema)
        if not self.is_list:
            return schema
        inner = {k: v for k, v in schema.items() if k != "$defs"}
        wrapped: dict[str, Any] = {
            "type": "object",
            "properties": {WRAPPER: inner},
            "required": [WRAPPER],
            "additionalProperties": False,
        }
        if "$defs" in schema:
            wrapped["$defs"] = schema["$defs"]
        return wrapped

    def response_format(self) -> dict[str, Any]:
        """The standard form; each :class:`~._dialects.Dialect` rewrites it for its family."""
        return {
            "type": "json_schema",
            "json_schema": {"name": _safe_name(self.name), "schema": self.wire_schema(), "strict": True},
        }

    # -- the answer -------------------------------------------------------------------------
    def unwrap(self, value: Any) -> Any:
        if self.is_list and isinstance(value, dict) and set(value) == {WRAPPER}:
            return value[WRAPPER]
        return value

    def validate(self, text: str) -> Outcome:
        """Parse, repair what is safe, validate; never a silently wrong value."""
        out = Outcome()
        value, problem = parse_repaired(text, out.repairs, rows=self.is_list)
        if problem is not None:
            out.errors.append(problem)
            return out
        value = self.unwrap(value)
        errors = self.check(value)
        if errors:
            out.errors.extend(errors)
            return out
        out.ok = True
        if self.adapter is not None:
            out.value = self.adapter.validate_python(value)
            out.plain = self.adapter.dump_python(out.value, mode="json")
        else:
            out.value = out.plain = value
        return out

    def check(self, value: Any) -> list[str]:
        """The validation errors of a plain JSON value (empty when it is valid)."""
        if self.adapter is not None:
            from pydantic import ValidationError

            try:
                self.adapter.validate_python(value)
            except ValidationError as exc:
                return [
                    f"{'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}" for e in exc.errors()[:20]
                ]
            return []
        try:
            import jsonschema  # type: ignore[import-untyped]
        except ModuleNotFoundError:  # pragma: no cover - listed with the notebook extras
            # Never a silent pass: without a checker the answer is not known to be valid.
            return [
                "(not checked) a JSON-schema dict needs jsonschema to validate against: pip install "
                "jsonschema (or nemotron-magics[notebook]), or give a pydantic model"
            ]
        validator = jsonschema.Draft202012Validator(self.json_schema)
        return [
            f"{'.'.join(str(p) for p in e.absolute_path) or '(top)'}: {e.message}"
            for e in list(validator.iter_errors(value))[:20]
        ]

    def item_schema(self) -> dict[str, Any]:
        root = self.json_schema
        top = _resolve(root, root)
        if self.is_list:
            return _resolve(top.get("items", {}), root)
        return top

    def __repr__(self) -> str:
        return f"<Schema {self.name}{' list' if self.is_list else ''}>"


def _strict(node: Any) -> Any:
    """A copy in which every object with properties refuses others (strict mode asks it)."""
    if isinstance(node, list):
        return [_strict(x) for x in node]
    if not isinstance(node, dict):
        return node
    out = {k: _strict(v) for k, v in node.items()}
    if "properties" in out and "additionalProperties" not in out:
        out["additionalProperties"] = False
    return out


def _safe_name(name: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "_-" else "_" for c in name)[:64]
    return cleaned or "answer"


def as_schema(value: Any) -> Schema:
    return value if isinstance(value, Schema) else Schema(value)


# -- parsing ---------------------------------------------------------------------------------
def parse_repaired(text: str, repairs: list[str], *, rows: bool = False) -> tuple[Any, str | None]:
    """``(value, None)`` or ``(None, why)``; ``repairs`` says what was fixed on the way."""
    from ._response import split_fence

    body = text.strip()
    found = split_fence(body)
    if found is not None:
        body = found[0].strip()
        repairs.append("code fences removed")
    elif body.startswith(("```", "~~~")):  # a fence the stream never closed (a cut answer)
        body = body.split("\n", 1)[1].strip() if "\n" in body else ""
        repairs.append("code fences removed")
    if not body:
        return None, "the answer is empty"
    try:
        return json.loads(body), None
    except json.JSONDecodeError as exc:
        first = exc
    start = min((i for i in (body.find("{"), body.find("[")) if i >= 0), default=-1)
    if start >= 0:
        try:
            value, end = json.JSONDecoder().raw_decode(body, start)
        except json.JSONDecodeError:
            pass
        else:
            if start or body[end:].strip():
                repairs.append("text around the JSON ignored")
            return value, None
    # Truncated: keep the complete rows, drop the cut one, say so.
    if rows and start >= 0:
        complete, closed = complete_rows(body[start:])
        if complete and not closed:
            repairs.append(f"the last row was cut off and is dropped ({len(complete)} complete rows kept)")
            return complete, None
    return None, f"not valid JSON ({first.msg}, line {first.lineno} column {first.colno})"


def _partial(text: str) -> Any:
    import jiter

    try:
        return jiter.from_json(text.encode(), partial_mode="trailing-strings")
    except ValueError:
        return None


def rows_of(value: Any) -> list[Any] | None:
    """The list of rows in a (partial) value: the list itself, or the only list field."""
    if isinstance(value, list):
        return value
    if isinstance(value, dict) and len(value) == 1:
        (inner,) = value.values()
        if isinstance(inner, list):
            return inner
    return None


def complete_rows(text: str) -> tuple[list[Any], bool]:
    """The rows of a streaming JSON array whose every byte has arrived, and whether it closed.

    A row counts once the next one has begun (or the array has closed): the last row of a
    partial parse may still be growing. So the list never shrinks as more text arrives.
    """
    body = text.lstrip()
    if body.startswith("```"):
        newline = body.find("\n")
        body = body[newline + 1 :] if newline >= 0 else ""
    start = min((i for i in (body.find("{"), body.find("[")) if i >= 0), default=-1)
    if start < 0:
        return [], False
    body = body[start:]
    try:
        whole, _ = json.JSONDecoder().raw_decode(body)
    except json.JSONDecodeError:
        pass
    else:
        found = rows_of(whole)
        return (found if found is not None else []), True
    value = _partial(body)
    found = rows_of(value)
    if not found:
        return [], False
    return found[:-1], False


# -- tables ----------------------------------------------------------------------------------
def _column_kinds(schema: dict[str, Any], root: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Column name → ``"int" | "float" | "bool" | "datetime" | ("category", values)``."""
    kinds: dict[str, Any] = {}
    schema = _resolve(schema, root)
    for name, prop in (schema.get("properties") or {}).items():
        prop = _resolve(prop, root) if isinstance(prop, dict) else {}
        column = f"{prefix}{name}"
        kind = prop.get("type")
        if "enum" in prop:
            kinds[column] = ("category", list(prop["enum"]))
        elif "const" in prop:
            kinds[column] = ("category", [prop["const"]])
        elif kind == "object" or "properties" in prop:
            kinds.update(_column_kinds(prop, root, column + "."))
        elif kind == "integer":
            kinds[column] = "int"
        elif kind == "number":
            kinds[column] = "float"
        elif kind == "boolean":
            kinds[column] = "bool"
        elif kind == "string" and prop.get("format") in ("date-time", "date"):
            kinds[column] = "datetime"
    return kinds


def flat_row(row: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested objects as dotted columns (as pandas' json_normalize names them)."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, dict):
            out.update(flat_row(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def records_of(value: Any) -> tuple[list[Any], bool]:
    """``(records, single)``: a list of records, the rows of ``{"rows": [...]}``, or one object."""
    found = rows_of(value)
    if found is not None and all(isinstance(x, dict) for x in found):
        return found, False
    if isinstance(value, dict):
        return [value], True
    if isinstance(value, list):
        return [{"value": x} for x in value], False
    return [{"value": value}], True


def to_frame(value: Any, schema: Schema | None = None) -> pandas.DataFrame:
    """Plain JSON as a DataFrame: nested objects flattened, dtypes from the schema."""
    try:
        import pandas as pd
    except ModuleNotFoundError:
        raise ConfigurationError(
            "to_dataframe() needs pandas: pip install pandas (or nemotron-magics[notebook])"
        ) from None
    records, _ = records_of(value)
    frame: pandas.DataFrame = pd.json_normalize(records) if records else pd.DataFrame()
    if schema is None:
        return frame
    root = schema.json_schema
    item = schema.item_schema()
    if rows_of(value) is not None and not schema.is_list:
        props = item.get("properties") or {}
        if len(props) == 1:
            (only,) = props.values()
            item = _resolve(_resolve(only, root).get("items", {}), root)
    kinds = _column_kinds(item, root)
    if frame.empty and not len(frame.columns):
        frame = pd.DataFrame(columns=list(kinds))
    for column, kind in kinds.items():
        if column not in frame.columns:
            continue
        series = frame[column]
        try:
            if kind == "int":
                frame[column] = series.astype("Int64")
            elif kind == "float":
                frame[column] = series.astype("float64")
            elif kind == "bool":
                frame[column] = series.astype("boolean")
            elif kind == "datetime":
                frame[column] = pd.to_datetime(series, errors="coerce")
            else:
                frame[column] = pd.Categorical(series, categories=kind[1])
        except (TypeError, ValueError):
            continue  # a value that does not fit: keep the column as it came
    return frame


__all__ = ["WRAPPER", "Outcome", "Schema", "as_schema", "complete_rows", "records_of", "rows_of", "to_frame"]
