"""Rendering a Response: live in a Jupyter kernel, as a complete mimebundle, or in a terminal.

- :func:`show_stream` consumes a :class:`~nemotron_magics.Stream` while rendering it;
- :func:`show` displays a finished response once;
- :func:`mimebundle` is the complete bundle (``application/vnd.nemotron.response+json``,
  ``text/html``, ``text/markdown``, ``text/plain``), also behind ``Response._repr_mimebundle_``.

``format`` is one of ``markdown`` (the answer rendered as Markdown), ``text`` (preformatted),
``json`` (pretty JSON, fences stripped) and ``code`` (a code block, fences stripped).

This package is imported only to display; IPython, markdown-it-py and nh3 load on first use,
so terminal printing works with the core dependencies alone.
"""

from __future__ import annotations

from ._bundle import FORMATS, MIME, SCHEMA_VERSION, mimebundle
from ._show import in_kernel, show, show_stream
from ._summary import EMBEDDED_NOTE, footer, footer_parts
from ._terminal import TerminalPrinter


def schema() -> dict[str, object]:
    """The JSON Schema of the ``application/vnd.nemotron.response+json`` document."""
    import json
    from importlib.resources import files

    document: dict[str, object] = json.loads(
        files(__package__).joinpath("response.schema.json").read_text(encoding="utf-8")
    )
    return document


__all__ = [
    "EMBEDDED_NOTE",
    "FORMATS",
    "MIME",
    "SCHEMA_VERSION",
    "TerminalPrinter",
    "footer",
    "footer_parts",
    "in_kernel",
    "mimebundle",
    "schema",
    "show",
    "show_stream",
]
