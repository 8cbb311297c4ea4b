"""Untrusted text made harmless for a terminal: control characters shown, never obeyed.

A terminal acts on what it is sent: ``ESC ] 52`` writes the clipboard, ``ESC [ 2J`` clears the
screen, C1 controls (U+0080–U+009F) are the same commands in one byte on some terminals, ``\\r``
and backspace overwrite what was shown, and BiDi overrides reorder it (the "Trojan Source"
trick). Model text and a provider's error text are untrusted, so each such character is replaced
by a visible escape (``\\x1b``, ``\\x9b``, ``\\u202e``): the reader sees that something was
there and the terminal obeys nothing. ``\\n`` and ``\\t`` stay; ``\\r`` is dropped, so a Windows
line end reads as a plain one and a carriage return cannot hide the start of a line.

The rule is per character, so text cut into chunks anywhere (a stream splits an escape sequence
wherever it likes) comes out the same as the text in one piece. Our own styling (dim reasoning,
colours) is added by the printer *after* this, around text that has been through it.
"""

from __future__ import annotations

import re


def _visible(ch: str) -> str:
    """The escape a reader sees for one control character (Python's notation)."""
    code = ord(ch)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


# C0 controls but tab and newline, DEL, C1 controls, BiDi embeddings/overrides and isolates,
# lone surrogates (from a JSON \ud83d escape: not printable, and fatal to a UTF-8 stream).
_CONTROLS = "".join(
    [
        *(chr(c) for c in range(0x20) if chr(c) not in "\t\n\r"),
        *(chr(c) for c in range(0x7F, 0xA0)),
        *(chr(c) for c in range(0x202A, 0x202F)),
        *(chr(c) for c in range(0x2066, 0x206A)),
    ]
)
_REPLACEMENTS: dict[str, str] = {ch: _visible(ch) for ch in _CONTROLS} | {"\r": ""}
_UNSAFE = re.compile(f"[{re.escape(_CONTROLS)}\r\ud800-\udfff]")


def _replace(match: re.Match[str]) -> str:
    ch = match.group()
    replacement = _REPLACEMENTS.get(ch)
    return _visible(ch) if replacement is None else replacement


def terminal_safe(text: str) -> str:
    """``text`` with every character a terminal would act on shown as an escape instead."""
    return _UNSAFE.sub(_replace, text) if text else text


__all__ = ["terminal_safe"]
