"""Keys never leave: one registry of secrets, and the one function that hides them in text.

Every message this package writes (errors, notes, tables, reprs) passes through
:func:`redact`. It hides

- every key in use (registered when a request resolves it) and every key the providers'
  variables hold now, even one never used, in each form a third-party message may quote it:
  raw, ``repr``-escaped, JSON-escaped, percent-encoded, as bytes;
- pieces of such a key (eight characters or more), so a message that someone cut through
  a key leaks no part of it, and a key's start at the very end of a text (or its end at the
  very start) down to four characters;
- key shapes the providers hand out (``nvapi-…``, ``sk-or-v1-…``, ``sk-…``), bearer tokens;
- the ``user:password@`` part of any URL.

Callers redact *before* they shorten text: a cut through a key then cuts through ``***``.
"""

from __future__ import annotations

import json
import os
import re
import threading
from urllib.parse import quote, urlsplit, urlunsplit

#: Shapes of the keys the supported providers hand out, plus any bearer token.
_KEY_PATTERNS = re.compile(
    r"(nvapi-[A-Za-z0-9_\-]{8,}|sk-or-v1-[A-Za-z0-9]{8,}|sk-[A-Za-z0-9_\-]{12,}"
    r"|(?i:bearer)\s+[A-Za-z0-9._~+/=\-]{8,})"
)
# scheme://user:password@host: the userinfo goes, the host stays.
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)[^/\s@?#]+@")
#: A secret shorter than this is not registered (a placeholder such as "none" or "EMPTY").
MIN_SECRET = 6
#: Pieces of a secret this long or longer are hidden wherever they appear.
_FRAGMENT = 8
#: A secret's start at the end of a text (or its end at the start) is hidden down to this length.
_EDGE = 4
#: Text beyond this is scanned for whole secrets only (fragments are a defence for short messages).
_FRAGMENT_SCAN_LIMIT = 20_000
MASK = "***"

_registered: set[str] = set()
_lock = threading.Lock()


def _provider_env_vars() -> tuple[str, ...]:
    from ._providers import PROVIDERS  # data only; imported late: _providers imports _errors

    return tuple(var for p in PROVIDERS.values() for var in p.key_env)


def clean_key(value: str | None) -> str | None:
    """A key as it must be sent: without the whitespace a file or a paste leaves around it."""
    if value is None:
        return None
    value = value.strip()
    return value or None


def register_secret(value: str | None) -> None:
    """Remember a key in use so :func:`redact` hides it even if it has no known shape."""
    value = clean_key(value)
    if value and len(value) >= MIN_SECRET:
        with _lock:
            _registered.add(value)


def secrets() -> set[str]:
    """Every secret to hide now: the registered ones and the providers' key variables' values."""
    found = set(_registered)
    for var in _provider_env_vars():
        value = clean_key(os.environ.get(var))
        if value and len(value) >= MIN_SECRET:
            found.add(value)
    return found


def _forms(secret: str) -> set[str]:
    """The ways a message may quote a secret."""
    forms = {secret, repr(secret)[1:-1], json.dumps(secret)[1:-1], quote(secret, safe="")}
    forms.add(repr(secret.encode("utf-8", "surrogatepass"))[2:-1])
    return {f for f in forms if f}


def contains_secret(text: str) -> bool:
    """Whether ``text`` holds a secret in any of its forms (for refusing to send it anywhere)."""
    if not text:
        return False
    return any(form in text for secret in secrets() for form in _forms(secret))


def _fragment_spans(text: str, known: set[str]) -> list[tuple[int, int]]:
    """Spans of ``text`` made of pieces (≥ _FRAGMENT chars) of a secret, or a secret's cut edge."""
    grams: set[str] = set()
    for secret in known:
        for form in _forms(secret):
            grams.update(form[i : i + _FRAGMENT] for i in range(len(form) - _FRAGMENT + 1))
    spans: list[tuple[int, int]] = []
    limit = min(len(text), _FRAGMENT_SCAN_LIMIT)
    for i in range(limit - _FRAGMENT + 1):
        if text[i : i + _FRAGMENT] in grams:
            if spans and spans[-1][1] >= i:
                spans[-1] = (spans[-1][0], i + _FRAGMENT)
            else:
                spans.append((i, i + _FRAGMENT))
    for secret in known:
        for n in range(min(len(secret) - 1, _FRAGMENT), _EDGE - 1, -1):
            if text.endswith(secret[:n]):
                spans.append((len(text) - n, len(text)))
                break
        for n in range(min(len(secret) - 1, _FRAGMENT), _EDGE - 1, -1):
            if text.startswith(secret[-n:]):
                spans.append((0, n))
                break
    return spans


def redact(text: str) -> str:
    """``text`` with every secret, piece of a secret, key shape and URL password hidden."""
    if not text:
        return text
    known = secrets()
    for secret in sorted(known, key=len, reverse=True):
        for form in _forms(secret):
            if form in text:
                text = text.replace(form, MASK)
    if known:
        spans = _fragment_spans(text, known)
        if spans:
            spans.sort()
            out: list[str] = []
            pos = 0
            for start, end in spans:
                if end <= pos:
                    continue
                out.append(text[pos : max(start, pos)])
                out.append(MASK)
                pos = end
            out.append(text[pos:])
            text = "".join(out)
    text = _USERINFO.sub(r"\1" + MASK + "@", text)
    return _KEY_PATTERNS.sub(MASK, text)


def shorten(text: str, limit: int) -> str:
    """Redact, then cut to ``limit`` characters (in this order: a cut never halves a key)."""
    text = redact(text)
    return text if len(text) <= limit else text[: max(limit - 1, 0)] + "…"


def one_line(text: str, limit: int | None = None) -> str:
    """Redacted text folded onto one line (a notebook error is one line), optionally shortened."""
    text = " ".join(redact(text).split())
    return text if limit is None or len(text) <= limit else text[: max(limit - 1, 0)] + "…"


def safe_url(url: str) -> str:
    """A URL as it may be shown: without ``user:password@`` (a key can hide there too)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact(url)
    if parts.username is not None or parts.password is not None:
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        if parts.port:
            host += f":{parts.port}"
        url = urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
    return redact(url)


def url_credentials(url: str | None) -> None:
    """Register the password (and user) in a base URL, so a message quoting them hides them."""
    if not url:
        return
    try:
        parts = urlsplit(url)
    except ValueError:
        return
    register_secret(parts.password)
    if parts.password:
        register_secret(parts.username)


class Secret(str):
    """A key as a ``str`` whose ``repr`` never shows it (tracebacks in ``%xmode Verbose`` repr locals)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"'{MASK}'"


__all__ = [
    "MASK",
    "Secret",
    "clean_key",
    "contains_secret",
    "one_line",
    "redact",
    "register_secret",
    "safe_url",
    "secrets",
    "shorten",
    "url_credentials",
]
