"""Answer formats: each one object that says everything the package does differently for it.

A :class:`Format` says how it changes the request (:meth:`Format.request`), whether its live
text is Markdown (:attr:`Format.markdown`), how it shapes the final answer for the bundle
(:meth:`Format.shape`), and what ``-o VAR`` stores (:meth:`Format.store`). ``markdown``,
``text``, ``json`` and ``code`` are the ones ``--format`` names; ``schema`` is what a
response with a structured-output schema is shown as, whatever format was asked.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ._response import split_fence, strip_fences

if TYPE_CHECKING:
    from ._response import Response

#: Rows of a table shown in the final display (the rest are in ``-o`` and the shape line).
TABLE_ROWS = 50


@dataclass(frozen=True)
class Shaped:
    """The answer as its format shows it: JSON pretty-printed, code without its fence, a table."""

    text: str
    language: str = ""
    data: Any = None
    has_data: bool = False
    data_error: str | None = None
    #: With a schema: the table's HTML (pandas' own, sanitised), or "" when there is no table.
    table_html: str = ""
    #: "2,000 rows × 3 columns (first 50 shown)" for a table.
    table_shape: str = ""
    #: Columns and the first rows, for the custom MIME (``{"columns": [...], "rows": [[...]]}``).
    table: dict[str, Any] | None = None
    validation_errors: list[str] = field(default_factory=list)
    repairs: list[str] = field(default_factory=list)


class Format:
    """An answer shown as it is (``text``): the base every format refines."""

    name = "text"
    #: Whether ``--format`` (and ``Nemotron.format``) may name it.
    choosable = True
    #: Whether the live display renders the text as Markdown while it streams.
    markdown = False

    def request(self, params: dict[str, Any]) -> None:
        """Change the request parameters this format needs (in place)."""

    def shape(self, r: Response) -> Shaped:
        return Shaped(r.content)

    def store(self, r: Response) -> Any:
        """What ``-o VAR`` stores (the Response, unless the format knows better)."""
        return r

    def __repr__(self) -> str:
        return f"<Format {self.name}>"


class MarkdownFormat(Format):
    name = "markdown"
    markdown = True


class CodeFormat(Format):
    name = "code"

    def shape(self, r: Response) -> Shaped:
        found = split_fence(r.content)
        if found:
            return Shaped(*found)
        return Shaped(r.content.strip("\n"))


class JsonFormat(Format):
    """Any JSON: asked for as ``json_object``, pretty-printed, ``-o`` holds the parsed value."""

    name = "json"

    def request(self, params: dict[str, Any]) -> None:
        if "response_format" not in params and params.get("schema") is None:
            params["response_format"] = {"type": "json_object"}

    def shape(self, r: Response) -> Shaped:
        inner = strip_fences(r.content)
        if not inner.strip():
            return Shaped(inner, "json")
        value, error = r.parsed()  # parsed once: Response.data reuses it
        if error is not None:
            return Shaped(inner, "json", data_error=error.split(";")[0])
        return Shaped(json.dumps(value, indent=2, ensure_ascii=False), "json", value, True)

    def store(self, r: Response) -> Any:
        return r.data  # StructuredOutputError (one line) when it is not JSON


class SchemaFormat(Format):
    """A validated structured answer: a table (and the JSON tree), or the raw text and why not."""

    name = "schema"
    choosable = False

    def shape(self, r: Response) -> Shaped:
        outcome = r.validated()
        if outcome is None:
            return JSON.shape(r)
        if not outcome.ok:
            return Shaped(
                r.content,
                "json",
                data_error="does not match the schema",
                validation_errors=list(outcome.errors),
                repairs=list(outcome.repairs),
            )
        plain = outcome.plain
        text = json.dumps(plain, indent=2, ensure_ascii=False)
        table_html, table_shape, table = "", "", None
        try:
            frame = r.to_dataframe()
        except Exception:
            frame = None
        if frame is not None:
            table_html, table_shape, table = _table(frame)
        return Shaped(
            text, "json", plain, True, table_html=table_html, table_shape=table_shape, table=table,
            repairs=list(outcome.repairs),
        )  # fmt: skip

    def store(self, r: Response) -> Any:
        from ._schema import records_of

        value = r.data  # StructuredOutputError when it does not validate
        plain, _ = r.parsed()
        _, single = records_of(plain)
        return value if single else r.to_dataframe()


def _table(frame: Any) -> tuple[str, str, dict[str, Any]]:
    from .display._markdown import sanitise_html

    rows, cols = frame.shape
    head = frame.head(TABLE_ROWS)
    html = sanitise_html(head.to_html(index=False, border=0, classes="nm-table", na_rep=""))
    shape = f"{rows:,} row{'s' if rows != 1 else ''} × {cols:,} column{'s' if cols != 1 else ''}"
    if rows > TABLE_ROWS:
        shape += f" (first {TABLE_ROWS} shown)"
    table = {
        "columns": [str(c) for c in head.columns],
        "dtypes": [str(t) for t in head.dtypes],
        "rows": json.loads(head.to_json(orient="values", date_format="iso")),
        "total_rows": rows,
    }
    return html, shape, table


TEXT = Format()
MARKDOWN = MarkdownFormat()
CODE = CodeFormat()
JSON = JsonFormat()
SCHEMA = SchemaFormat()
REGISTRY: dict[str, Format] = {f.name: f for f in (MARKDOWN, TEXT, JSON, CODE, SCHEMA)}
#: What ``--format`` accepts.
FORMATS = tuple(name for name, f in REGISTRY.items() if f.choosable)


def get_format(name: str | Format, response: Response | None = None) -> Format:
    """The format object for a name; a response with a schema is shown as ``schema``."""
    if response is not None and response.schema is not None:
        return SCHEMA
    if isinstance(name, Format):
        return name
    found = REGISTRY.get(name)
    if found is None:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, not {name!r}")
    return found


__all__ = ["FORMATS", "REGISTRY", "SCHEMA", "TABLE_ROWS", "Format", "Shaped", "get_format"]
