"""Scenarios for batches: ``echo`` (the answer is the prompt, so every row is checkable) and
``tickets`` (a support ticket classified as JSON, for a schema), and the admission control that
lets a test model a real provider's limits (``slots``, ``window``, ``queue``, ``latency``, ``hold``).

Both read the last user message of the request. ``tickets`` classifies the prompt's *last line*
(a template puts its instructions first and the ticket last) by keywords:

=========  ==========================================  ========  ======
category   words                                       priority  urgent
=========  ==========================================  ========  ======
billing    refund, invoice, charge, charged, payment   2         no
bug        crash, crashes, error, broken, bug          1         yes
account    password, login, log in, locked, account    2         no
other      anything else                               3         no
=========  ==========================================  ========  ======

``fail_on=TEXT``: a request whose prompt contains TEXT is answered 400 (a row that fails).
"""

from __future__ import annotations

import json
from typing import Any

from .streams import DEFAULT_MODEL, DONE, _chunk, _usage

BATCH_SCENARIOS = ("echo", "tickets")

_CATEGORIES = (
    ("bug", ("crash", "crashes", "error", "broken", "bug"), 1, True),
    ("billing", ("refund", "invoice", "charge", "charged", "payment"), 2, False),
    ("account", ("password", "login", "log in", "locked", "account"), 2, False),
)


def prompt_of(body: Any) -> str:
    """The text of the request's last user message ('' when there is none)."""
    messages = body.get("messages") if isinstance(body, dict) else None
    for message in reversed(messages or []):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            return content if isinstance(content, str) else json.dumps(content)
    return ""


def classify(prompt: str) -> dict[str, Any]:
    lines = [line for line in prompt.strip().splitlines() if line.strip()]
    text = (lines[-1] if lines else "").lower()
    for category, words, priority, urgent in _CATEGORIES:
        if any(word in text for word in words):
            return {"category": category, "priority": priority, "urgent": urgent}
    return {"category": "other", "priority": 3, "urgent": False}


def answer_events(scenario: str, body: Any) -> list[bytes]:
    """The stream for one request: the answer in a few deltas, a stop, usage, [DONE]."""
    prompt = prompt_of(body)
    answer = prompt if scenario == "echo" else json.dumps(classify(prompt))
    cid = f"chatcmpl-{scenario}"
    model = (body.get("model") if isinstance(body, dict) else None) or DEFAULT_MODEL
    out = [_chunk(cid, model, {"role": "assistant", "content": ""})]
    step = max(8, len(answer) // 3 + 1)
    for i in range(0, len(answer), step):
        out.append(_chunk(cid, model, {"content": answer[i : i + step]}))
    out.append(_chunk(cid, model, {}, "stop"))
    words = max(1, len(prompt.split()))
    out.append(_usage(cid, model, words, max(1, len(answer.split())), 0))
    out.append(DONE)
    return out


__all__ = ["BATCH_SCENARIOS", "answer_events", "classify", "prompt_of"]
