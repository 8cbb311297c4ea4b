"""Response bodies: the recorded transcripts, SSE helpers, folding to a non-streamed body, generated streams.

Kept apart from the socket code so tests (and the client's own conformance tests) can read the exact
bytes and the expected outcome of each transcript without starting a server.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

TRANSCRIPTS = Path(__file__).resolve().parent / "transcripts"
DEFAULT_MODEL = "nvidia/nemotron-3-super-120b-a12b"
DONE = b"data: [DONE]\n\n"


def transcript_names() -> list[str]:
    """Names of the recorded transcripts (``.sse`` streams and ``.json`` bodies)."""
    files = TRANSCRIPTS.iterdir()
    return sorted(p.stem for p in files if p.suffix in (".sse", ".json") and p.stem != "expected")


def transcript_path(name: str) -> Path:
    """The file behind a transcript name; raises KeyError when there is none."""
    for suffix in (".sse", ".json"):
        path = TRANSCRIPTS / f"{name}{suffix}"
        if path.is_file() and name != "expected":
            return path
    raise KeyError(name)


def transcript_bytes(name: str) -> bytes:
    """The exact bytes the server sends for a transcript with no options."""
    return transcript_path(name).read_bytes()


@functools.lru_cache(maxsize=1)
def all_expected() -> dict[str, Any]:
    """``transcripts/expected.json``: the machine-readable twin of the README table, by transcript name."""
    return json.loads((TRANSCRIPTS / "expected.json").read_text(encoding="utf-8"))


def expected(name: str) -> dict[str, Any]:
    """What a conforming client must make of a transcript (reasoning, content, tool calls, usage …)."""
    return all_expected()[name]


def split_events(data: bytes) -> list[bytes]:
    """Cut an SSE body after each blank line, so faults can be placed between (or inside) events."""
    events: list[bytes] = []
    start = 0
    while (end := data.find(b"\n\n", start)) >= 0:
        events.append(data[start : end + 2])
        start = end + 2
    if start < len(data):
        events.append(data[start:])
    return events


def sse_payloads(data: bytes) -> Iterator[str]:
    """The ``data:`` payloads of an SSE body, comments skipped; shared by the folding code and tests."""
    for event in split_events(data):
        lines = [ln for ln in event.decode("utf-8").split("\n") if ln.startswith("data:")]
        if lines:
            yield "\n".join(ln[5:].removeprefix(" ") for ln in lines)


def merge_reasoning_details(merged: list[dict[str, Any]], details: list[dict[str, Any]]) -> None:
    """Merge one chunk's OpenRouter ``reasoning_details`` into ``merged``, as a client must.

    By ``index`` (default: the next slot): ``text``, ``summary`` and ``data`` pieces are concatenated,
    any other non-null key is overwritten. What a client sends back in the next turn must equal this.
    """
    for detail in details:
        index = detail.get("index", len(merged))
        if index < len(merged):
            slot = merged[index]
            for key, value in detail.items():
                if key in ("text", "summary", "data") and isinstance(value, str):
                    slot[key] = (slot.get(key) or "") + value
                elif value is not None:
                    slot[key] = value
        else:
            merged.append(dict(detail))


def fold_stream(data: bytes) -> dict[str, Any]:
    """Fold an SSE transcript into the non-streamed body a server would have answered instead."""
    message: dict[str, Any] = {"role": "assistant", "content": None}
    texts: dict[str, str] = {}
    details: list[dict[str, Any]] = []
    calls: dict[int, dict[str, Any]] = {}
    head: dict[str, Any] = {}
    finish: str | None = None
    usage: Any = None
    legacy: str | None = None
    for payload in sse_payloads(data):
        if payload == "[DONE]":
            continue
        chunk = json.loads(payload)
        if "response" in chunk and "choices" not in chunk:
            legacy = (legacy or "") + (chunk.get("response") or "")
            usage = chunk.get("usage", usage)
            continue
        for key in ("id", "created", "model"):
            head.setdefault(key, chunk.get(key))
        usage = chunk.get("usage") or usage
        for choice in chunk.get("choices") or []:
            finish = choice.get("finish_reason") or finish
            delta = choice.get("delta") or {}
            for key in ("content", "reasoning", "reasoning_content"):
                if isinstance(delta.get(key), str):
                    texts[key] = texts.get(key, "") + delta[key]
            merge_reasoning_details(details, delta.get("reasoning_details") or [])
            for item in delta.get("tool_calls") or []:
                call = calls.setdefault(
                    item["index"],
                    {"id": None, "type": "function", "function": {"name": None, "arguments": ""}},
                )
                call["id"] = item.get("id") or call["id"]
                fn = item.get("function") or {}
                call["function"]["name"] = fn.get("name") or call["function"]["name"]
                call["function"]["arguments"] += fn.get("arguments") or ""
    if legacy is not None:
        return {"response": legacy, "usage": usage} if usage else {"response": legacy}
    message["content"] = texts.get("content") or (None if calls else "")
    for key in ("reasoning", "reasoning_content"):
        if key in texts:
            message[key] = texts[key]
    if details:
        message["reasoning_details"] = details
    if calls:
        message["tool_calls"] = [calls[i] for i in sorted(calls)]
    return {
        "id": head.get("id"),
        "object": "chat.completion",
        "created": head.get("created"),
        "model": head.get("model"),
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
        "usage": usage,
    }


# --------------------------------------------------------------------------- generated streams


def _chunk(cid: str, model: str, delta: dict[str, Any], finish: str | None = None) -> bytes:
    obj = {
        "id": cid,
        "object": "chat.completion.chunk",
        "created": 1773842000,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }
    return b"data: " + json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode() + b"\n\n"


def _usage(cid: str, model: str, prompt: int, completion: int, reasoning: int) -> bytes:
    usage = {
        "prompt_tokens": prompt,
        "total_tokens": prompt + completion,
        "completion_tokens": completion,
        "completion_tokens_details": {"reasoning_tokens": reasoning},
    }
    obj = {
        "id": cid,
        "object": "chat.completion.chunk",
        "created": 1773842000,
        "model": model,
        "choices": [],
        "usage": usage,
    }
    return b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n"


_BIG_WORDS = (
    " The",
    " model",
    " streams",
    " one",
    " token",
    " per",
    " chunk",
    " and",
    " the",
    " client",
    " must",
    " keep",
    " up",
    " with",
    " it",
    ".",
)
_BIG_THOUGHTS = (" Let", " me", " think", " about", " this", " carefully", ".", " Then", " answer", ".")


def big_content(n: int) -> str:
    """The answer text the ``big`` scenario streams with ``n`` chunks."""
    return "".join(_BIG_WORDS[i % len(_BIG_WORDS)] for i in range(n))


def big_reasoning(r: int) -> str:
    """The reasoning text the ``big`` scenario streams with ``r`` reasoning chunks."""
    return "".join(_BIG_THOUGHTS[i % len(_BIG_THOUGHTS)] for i in range(r))


@functools.lru_cache(maxsize=2)
def big_body(n: int, r: int = 0) -> bytes:
    """One pre-rendered buffer for the throughput benchmark, so the server is never the bottleneck."""
    cid = "chatcmpl-big0000000000000000"
    words = [_chunk(cid, DEFAULT_MODEL, {"content": w}) for w in _BIG_WORDS]
    thoughts = [_chunk(cid, DEFAULT_MODEL, {"reasoning_content": w}) for w in _BIG_THOUGHTS]
    parts = [_chunk(cid, DEFAULT_MODEL, {"role": "assistant", "content": ""})]
    parts += [thoughts[i % len(thoughts)] for i in range(r)]
    parts += [words[i % len(words)] for i in range(n)]
    parts.append(_chunk(cid, DEFAULT_MODEL, {}, "stop"))
    parts.append(_usage(cid, DEFAULT_MODEL, 100, n + r, r))
    parts.append(DONE)
    return b"".join(parts)


_PROSE = " ".join(
    [
        "hybrid Mamba layers keep a fixed-size state while attention layers look back over the whole",
        "context so the model recalls distant facts without paying quadratic cost for every token",
        "a latent mixture of experts routes each token to a few experts and leaves the rest idle",
        "which is why a 120B model runs with the speed of a 12B one — naïve estimates miss this",
    ]
).split()


def _sentence(i: int) -> str:
    n = 7 + (i * 7) % 11
    words = [_PROSE[(i * 13 + k * 5) % len(_PROSE)] for k in range(n)]
    return " ".join(words).capitalize() + "."


def _paragraph(i: int, sentences: int = 4) -> str:
    return " ".join(_sentence(i * 5 + k) for k in range(sentences))


def _section(k: int) -> str:
    parts = [
        f"## {k}. {_PROSE[k % len(_PROSE)].capitalize()} and {_PROSE[(k * 3) % len(_PROSE)]}",
        _paragraph(k),
        f"- **{_PROSE[k % 40]}**: {_sentence(k)}\n- `{_PROSE[(k + 7) % 40]}` keeps {k} states\n"
        f"  - nested item {k}.1\n- plain item with *emphasis*",
        f'```python\ndef step_{k}(x: int) -> int:\n    """Section {k}."""\n    return x * {k} + 1\n```',
    ]
    if k % 3 == 0:
        parts.append(f"| layer | count |\n|---|---|\n| mamba | {k * 4} |\n| attention | {k} |")
    parts.append(_paragraph(k + 1000, 3))
    return "\n\n".join(parts) + "\n\n"


@functools.lru_cache(maxsize=8)
def long_markdown(chars: int) -> str:
    """Exactly ``chars`` characters of Markdown (headings, lists, fenced code, tables), fences balanced."""
    text = "# A long answer about hybrid models\n\n"
    k = 1
    while len(text) + len(section := _section(k)) <= chars:
        text += section
        k += 1
    j = 0
    while len(text) < chars:
        text += _sentence(j) + " "
        j += 1
    return text[:chars]


@functools.lru_cache(maxsize=8)
def long_reasoning(chars: int) -> str:
    """Exactly ``chars`` characters of plain reasoning prose for the ``long`` scenario."""
    text = ""
    j = 0
    while len(text) < chars:
        text += _sentence(j + 500) + " "
        j += 1
    return text[:chars]


@functools.lru_cache(maxsize=8)
def long_events(chars: int, rchars: int, chunk: int) -> tuple[tuple[bytes, int], ...]:
    """The ``long`` stream as (event, characters in it) pairs; the counts drive the ``rate`` pacing."""
    cid = "chatcmpl-long000000000000000"
    out = [(_chunk(cid, DEFAULT_MODEL, {"role": "assistant", "content": ""}), 0)]
    reasoning, answer = long_reasoning(rchars), long_markdown(chars)
    for i in range(0, len(reasoning), chunk):
        piece = reasoning[i : i + chunk]
        out.append((_chunk(cid, DEFAULT_MODEL, {"reasoning_content": piece, "content": None}), len(piece)))
    for i in range(0, len(answer), chunk):
        piece = answer[i : i + chunk]
        out.append((_chunk(cid, DEFAULT_MODEL, {"content": piece}), len(piece)))
    out.append((_chunk(cid, DEFAULT_MODEL, {}, "stop"), 0))
    out.append((_usage(cid, DEFAULT_MODEL, 50, (chars + rchars) // 4, rchars // 4), 0))
    out.append((DONE, 0))
    return tuple(out)


def table_rows(rows: int) -> list[dict[str, Any]]:
    """``rows`` records for the ``table`` scenario (a City-like schema: str, int, float, bool, enum)."""
    return [
        {
            "city": f"City {i} {_sentence(i).split()[0]}",
            "population": 1000 + i * 37,
            "area_km2": round(10 + i * 0.25, 2),
            "capital": i % 7 == 0,
            "continent": ("Europe", "Asia")[i % 2],
        }
        for i in range(rows)
    ]


@functools.lru_cache(maxsize=4)
def table_events(rows: int, chunk: int) -> tuple[tuple[bytes, int], ...]:
    """The ``table`` stream: ``{"items": [...]}`` of :func:`table_rows`, in ``chunk``-char deltas."""
    cid = "chatcmpl-table00000000000000"
    answer = json.dumps({"items": table_rows(rows)}, ensure_ascii=False)
    out = [(_chunk(cid, DEFAULT_MODEL, {"role": "assistant", "content": ""}), 0)]
    for i in range(0, len(answer), chunk):
        piece = answer[i : i + chunk]
        out.append((_chunk(cid, DEFAULT_MODEL, {"content": piece}), len(piece)))
    out.append((_chunk(cid, DEFAULT_MODEL, {}, "stop"), 0))
    out.append((_usage(cid, DEFAULT_MODEL, 50, len(answer) // 4, 0), 0))
    out.append((DONE, 0))
    return tuple(out)
