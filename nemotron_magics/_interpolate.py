"""Put values from the user's namespace into a prompt, without ever breaking code or JSON.

The most common complaint about jupyter-ai's ``%%ai`` is that braces in a
prompt break it: ``str.format`` chokes on ``{"a": 1}`` and on every ``{ … }``
of pasted code. Here only a brace pair that names something is touched:

* ``{name}``, ``{obj.attr}``, ``{seq[0]}``, ``{seq[-1]}``, ``{d["k"]}`` / ``{d['k']}`` are replaced
  when the root name exists in the namespace;
* everything else — ``{"a": 1}``, ``function() { return x; }``, ``{}``, ``{0}``, ``${HOME}``,
  ``{undefined_name}`` — passes through byte for byte;
* ``{{name}}`` is the escape: it becomes the literal ``{name}``. Doubled braces around anything
  that would *not* be replaced stay as written, so ``{"a": {"b": 1}}``, Jinja's ``{{ x }}`` and
  Handlebars' ``{{x}}`` (with ``x`` undefined) survive. The invariant: a prompt in which no brace
  names a variable is sent exactly as written.

Nothing is evaluated: a reference is parsed with :mod:`ast` and walked, allowing only names,
attribute access (no dunders) and literal indexes, at most :data:`MAX_PARTS` of them (a pasted
``{a.b.c…}`` thousands deep must not exhaust the stack). A DataFrame becomes a summary (shape,
dtypes, first rows), never its whole contents, and any value is cut at ``max_chars`` with a note.

A value that holds a key (``{os.environ["NVIDIA_API_KEY"]}`` in a pasted cell) is never sent:
the reference stays as written and is reported in :attr:`Interpolated.withheld`.

The scan is one left-to-right pass: time grows with the length of the prompt, whatever braces
it holds. Plain Python: no IPython, no pandas import.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ._secrets import contains_secret

#: A value longer than this (in characters) is cut, with a note saying how much was left out.
DEFAULT_MAX_CHARS = 20_000
#: Rows of a DataFrame (or Series) shown in its summary.
DATAFRAME_ROWS = 5

#: Attributes and indexes followed after the root name; a deeper reference stays as written.
MAX_PARTS = 32

_IDENT = r"[^\W\d]\w*"
_INDEX = r"""\[(?:-?\d+|"[^"\\\n]*"|'[^'\\\n]*')\]"""
_ROOT = re.compile(_IDENT)
_PART = re.compile(rf"\.{_IDENT}|{_INDEX}")
_REF = rf"{_IDENT}(?:\.{_IDENT}|{_INDEX})*"
# Runs of braces around a reference: the counts decide between substitution and escape. A match
# starts only where a run of '{' starts (the look-behind): tried from inside a run, the regex
# would rescan the rest of it from every brace, quadratic in a long run of '{'.
_CANDIDATE = re.compile(rf"(?<!\{{)(\{{+)({_REF})(\}}+)")


class _Unresolved(Exception):
    """The reference cannot be followed; the text stays as written."""


@dataclass
class Interpolated:
    """The prompt after substitution, and what happened on the way (for a one-line notice)."""

    text: str
    #: References that were replaced, in order of appearance.
    replaced: list[str] = field(default_factory=list)
    #: (reference, why) for references whose root name exists but which could not be followed:
    #: probably a typo the user wants to hear about, so the magic prints them.
    skipped: list[tuple[str, str]] = field(default_factory=list)
    #: References whose value was cut at ``max_chars``.
    truncated: list[str] = field(default_factory=list)
    #: References left as written because their value holds a key (the magic says so in one line).
    withheld: list[str] = field(default_factory=list)


def _walk(node: ast.expr, namespace: Mapping[str, Any]) -> Any:
    """Follow a parsed reference: names, attributes and literal indexes only."""
    if isinstance(node, ast.Name):
        if node.id not in namespace:
            raise KeyError(node.id)  # no such root: not a reference at all
        return namespace[node.id]
    if isinstance(node, ast.Attribute):
        if node.attr.startswith("__") and node.attr.endswith("__"):
            raise _Unresolved(f"dunder attribute {node.attr!r} is not interpolated")
        base = _walk(node.value, namespace)
        try:
            return getattr(base, node.attr)
        except Exception as exc:  # a property may raise anything: leave the text alone
            raise _Unresolved(f"{type(exc).__name__}: {exc}") from None
    if isinstance(node, ast.Subscript):
        base = _walk(node.value, namespace)
        try:
            index = ast.literal_eval(node.slice)  # only ever a literal int or str (the regex saw to it)
        except ValueError:
            raise _Unresolved("only literal indexes are interpolated") from None
        try:
            return base[index]
        except Exception as exc:
            raise _Unresolved(f"{type(exc).__name__}: {exc}") from None
    raise _Unresolved("not a name, attribute or literal index")


def resolve(reference: str, namespace: Mapping[str, Any]) -> Any:
    """The value a reference names.

    Raises ``KeyError`` when the root name is not defined (so the braces are not a reference),
    and ``ValueError`` when it is defined but the chain cannot be followed.
    """
    _check_depth(reference, namespace)
    try:
        tree = ast.parse(reference, mode="eval")
    except SyntaxError:
        raise KeyError(reference) from None  # a keyword ({if}, {else}) and the like: not ours
    root = tree.body
    while isinstance(root, ast.Attribute | ast.Subscript):
        root = root.value
    if not isinstance(root, ast.Name):
        raise KeyError(reference)  # {None}, {True}: constants, not references
    try:
        return _walk(tree.body, namespace)
    except _Unresolved as exc:
        raise ValueError(str(exc)) from None


def _check_depth(reference: str, namespace: Mapping[str, Any]) -> None:
    """Refuse a reference deeper than :data:`MAX_PARTS` before parsing it (parse and walk recurse).

    Raises like :func:`resolve`: ``KeyError`` when the root name is not defined (not a reference,
    nothing to report), ``ValueError`` when it is defined (the user hears why it was skipped).
    """
    parts = sum(1 for _ in _PART.finditer(reference))
    if parts <= MAX_PARTS:
        return
    root = _ROOT.match(reference)
    if root is None or root.group() not in namespace:
        raise KeyError(reference)
    raise ValueError(f"{parts} attributes and indexes deep; at most {MAX_PARTS} are followed")


def _is_dataframe(obj: Any) -> bool:
    """A pandas DataFrame, recognised without importing pandas."""
    return type(obj).__module__.startswith("pandas") and hasattr(obj, "dtypes") and hasattr(obj, "columns")


def _is_series(obj: Any) -> bool:
    return type(obj).__module__.startswith("pandas") and hasattr(obj, "dtype") and hasattr(obj, "head")


def summarise_dataframe(df: Any, rows: int = DATAFRAME_ROWS) -> str:
    """Shape, column types and the first rows: what a model needs to reason about a table."""
    n_rows, n_cols = df.shape
    dtypes = ", ".join(f"{name} ({dtype})" for name, dtype in df.dtypes.items())
    head = df.head(rows).to_string(max_cols=30, max_colwidth=60)
    shown = min(rows, n_rows)
    return (
        f"DataFrame with {n_rows:,} rows × {n_cols:,} columns\n"
        f"Columns (dtype): {dtypes}\n"
        f"First {shown} rows:\n{head}"
    )


def summarise_series(series: Any, rows: int = DATAFRAME_ROWS) -> str:
    name = f" {series.name!r}" if getattr(series, "name", None) is not None else ""
    head = series.head(rows).to_string(max_rows=rows)
    shown = min(rows, len(series))
    return f"Series{name} of {len(series):,} values, dtype {series.dtype}\nFirst {shown}:\n{head}"


def render_value(value: Any) -> str:
    """The text a value contributes to a prompt."""
    if isinstance(value, str):
        return value
    if _is_dataframe(value):
        return summarise_dataframe(value)
    if _is_series(value):
        return summarise_series(value)
    return str(value)


def _truncate(text: str, max_chars: int) -> tuple[str, bool]:
    if len(text) <= max_chars:
        return text, False
    left_out = len(text) - max_chars
    return f"{text[:max_chars]}\n… [truncated: {left_out:,} more characters not shown]", True


def _substitute(reference: str, value: Any, max_chars: int, result: Interpolated) -> str | None:
    """The text that replaces a reference, or ``None`` (noted in ``result``) to keep it as written.

    The whole rendered value is checked for keys, not only the part that fits ``max_chars``:
    a cut through a key would still send the start of it.
    """
    try:
        rendered = render_value(value)
    except Exception as exc:  # a broken __str__ (or a recursion too deep to print) is the value's
        result.skipped.append((reference, f"could not be shown: {type(exc).__name__}: {exc}"))
        return None
    if contains_secret(rendered):
        result.withheld.append(reference)
        return None
    text, cut = _truncate(rendered, max_chars)
    result.replaced.append(reference)
    if cut:
        result.truncated.append(reference)
    return text


def references(text: str) -> list[str]:
    """The references :func:`interpolate` would try to fill, in order (escaped ``{{x}}`` and
    ``${x}`` are not references). A batch checks them against its columns before sending."""
    found: list[str] = []
    for match in _CANDIDATE.finditer(text):
        start = match.start()
        if start > 0 and text[start - 1] == "$":
            continue
        if min(len(match.group(1)), len(match.group(3))) % 2 == 1:
            found.append(match.group(2))
    return found


def root_name(reference: str) -> str:
    """``df`` of ``df.shape[0]``."""
    found = _ROOT.match(reference)
    return found.group() if found else reference


def interpolate(
    text: str, namespace: Mapping[str, Any], *, max_chars: int = DEFAULT_MAX_CHARS
) -> Interpolated:
    """Replace ``{reference}``s that name something in ``namespace``; leave every other brace alone."""
    result = Interpolated(text)
    out: list[str] = []
    pos = 0
    for match in _CANDIDATE.finditer(text):
        opening, reference, closing = match.group(1), match.group(2), match.group(3)
        start = match.start()
        if start > 0 and text[start - 1] == "$":
            continue  # ${HOME}, JS template literals, shell: never ours
        depth = min(len(opening), len(closing))
        try:
            value = resolve(reference, namespace)
        except KeyError:
            continue  # the root is not defined: plain text, left as written
        except ValueError as exc:
            if depth % 2 == 1:  # an escaped reference is text anyway: nothing to warn about
                result.skipped.append((reference, str(exc)))
            continue
        # Python's format semantics on the matched depth: each '{{' pair is one literal brace,
        # an odd depth leaves one brace pair for the substitution. Extra braces on one side stay.
        literal = depth // 2
        if depth % 2 == 1:
            middle = _substitute(reference, value, max_chars, result)
            if middle is None:
                continue  # withheld or unprintable: the braces stay as written
        else:
            middle = reference  # {{name}} -> the literal text {name}
        out.append(text[pos:start])
        out.append(opening[: len(opening) - depth] + "{" * literal + middle + "}" * literal + closing[depth:])
        pos = match.end()
    if pos == 0:
        return result
    out.append(text[pos:])
    result.text = "".join(out)
    return result


__all__ = [
    "DEFAULT_MAX_CHARS",
    "MAX_PARTS",
    "Interpolated",
    "interpolate",
    "references",
    "render_value",
    "resolve",
    "root_name",
    "summarise_dataframe",
]
