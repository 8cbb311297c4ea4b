"""The tolerant normaliser and Response folding, chunk by chunk, split at every position."""

from __future__ import annotations

import itertools
import subprocess
import sys
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nemotron_magics._normalise import Normaliser
from nemotron_magics._providers import get_provider
from nemotron_magics._response import Response


def fold(chunks: list[dict[str, Any]], *, implicit: bool = False, mode: str | None = None) -> Response:
    norm, r = Normaliser(implicit_think=implicit), Response(reasoning_mode=mode)
    for chunk in chunks:
        for event in norm.feed(chunk):
            r.apply(event)
    for event in norm.end():
        r.apply(event)
    r.finish()
    return r


def content_chunks(pieces: list[str]) -> list[dict[str, Any]]:
    return [{"choices": [{"index": 0, "delta": {"content": p}}]} for p in pieces] + [
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
    ]


def splits(text: str, cuts: int) -> list[list[str]]:
    """Every way to cut ``text`` into ``cuts + 1`` non-empty pieces (cuts ≤ 2: exhaustive but small)."""
    out = []
    for points in itertools.combinations(range(1, len(text)), cuts):
        bounds = (0, *points, len(text))
        out.append([text[a:b] for a, b in itertools.pairwise(bounds)])
    return out


INLINE = "<think>a < b, so\nyes</think>\n\nThe answer: a <b> b is **yes**."


@pytest.mark.parametrize("pieces", splits(INLINE, 1) + splits(INLINE, 2)[::7])
def test_inline_think_split_anywhere(pieces: list[str]) -> None:
    r = fold(content_chunks(pieces))
    assert r.reasoning == "a < b, so\nyes"
    assert r.content == "The answer: a <b> b is **yes**."


CLOSE_ONLY = "thinking about </it> here</think>Answer </think> stays"


@pytest.mark.parametrize("pieces", splits(CLOSE_ONLY, 1) + splits(CLOSE_ONLY, 2)[::11])
def test_close_tag_only_when_opening_was_in_the_prompt(pieces: list[str]) -> None:
    r = fold(content_chunks(pieces), implicit=True)
    assert r.reasoning == "thinking about </it> here"
    assert r.content == "Answer </think> stays"  # a tag after the answer began is the answer's text


def test_implicit_think_without_close_tag_is_the_answer() -> None:
    r = fold(content_chunks(["Just an ", "answer."]), implicit=True)
    assert (r.reasoning, r.content) == ("", "Just an answer.")


def test_reasoning_field_turns_implicit_mode_off() -> None:
    chunks = [{"choices": [{"delta": {"reasoning": "hmm"}}]}, *content_chunks(["Plain answer"])]
    r = fold(chunks, implicit=True)
    assert (r.reasoning, r.content) == ("hmm", "Plain answer")


def test_answer_text_mentioning_think_tag_is_kept() -> None:
    r = fold(content_chunks(["Use the ", "<think> tag"]))
    assert r.content == "Use the <think> tag" and r.reasoning == ""


def test_reasoning_details_only_counts_once() -> None:
    chunk = {
        "choices": [
            {
                "delta": {
                    "reasoning": "abc",
                    "reasoning_details": [
                        {"type": "reasoning.text", "text": "abc", "index": 0, "format": "unknown"}
                    ],
                }
            }
        ]
    }
    chunk2 = {
        "choices": [{"delta": {"reasoning_details": [{"type": "reasoning.text", "text": "def", "index": 0}]}}]
    }
    norm = Normaliser()
    r = Response()
    for c in (chunk, chunk2):
        for e in norm.feed(c):
            r.apply(e)
    assert r.reasoning == "abcdef"  # details used only where no string field came
    assert norm.reasoning_details == [
        {"type": "reasoning.text", "text": "abcdef", "index": 0, "format": "unknown"}
    ]


def test_raw_qwen3_coder_tool_call_text_becomes_tool_calls() -> None:
    text = (
        "Let me check.\n<tool_call>\n<function=get_weather>\n<parameter=city>\nParis\n</parameter>\n"
        "<parameter=days>\n3\n</parameter>\n</function>\n</tool_call>\n<tool_call>\n<function=get_time>\n"
        "<parameter=tz>\nEurope/Paris\n</parameter>\n</function>\n</tool_call>"
    )
    r = fold(content_chunks([text[i : i + 5] for i in range(0, len(text), 5)]))
    assert [(c.name, c.arguments) for c in r.tool_calls] == [
        ("get_weather", {"city": "Paris", "days": 3}),
        ("get_time", {"tz": "Europe/Paris"}),
    ]
    assert r.content == "Let me check." and r.finish_reason == "tool_calls"


def test_invalid_tool_arguments_are_reported_not_raised() -> None:
    chunks = [
        {
            "choices": [
                {
                    "delta": {
                        "tool_calls": [
                            {"index": 0, "id": "c", "function": {"name": "f", "arguments": '{"a": '}}
                        ]
                    },
                    "finish_reason": "tool_calls",
                }
            ]
        }
    ]
    call = fold(chunks).tool_calls[0]
    assert call.arguments is None and "not valid JSON" in (call.error or "")
    assert call.partial_arguments() == {}  # jiter: the partial object so far


def test_object_arguments_from_non_streamed_servers() -> None:
    chunk = {
        "choices": [
            {
                "message": {
                    "content": None,
                    "tool_calls": [
                        {"id": "x", "type": "function", "function": {"name": "f", "arguments": {"q": 1}}}
                    ],
                },
                "finish_reason": "tool_calls",
            }
        ]
    }
    assert fold([chunk]).tool_calls[0].arguments == {"q": 1}


def test_length_cutoff_keeps_reasoning_as_reasoning() -> None:
    chunks = [
        {"choices": [{"delta": {"reasoning_content": "step 1, step 2,"}}]},
        {"choices": [{"delta": {}, "finish_reason": "length"}]},
    ]
    r = fold(chunks)
    assert (r.reasoning, r.content, r.finish_reason) == ("step 1, step 2,", "", "length")


def test_structured_output_to_dataframe() -> None:
    r = fold(content_chunks(['```json\n[{"a": 1, "b": {"c": 2}},', ' {"a": 3, "b": {"c": 4}}]\n```']))
    assert r.data == [{"a": 1, "b": {"c": 2}}, {"a": 3, "b": {"c": 4}}]
    df = r.to_dataframe()
    assert list(df.columns) == ["a", "b.c"] and df.shape == (2, 2)


def test_data_error_is_one_clear_line() -> None:
    from nemotron_magics import StructuredOutputError

    with pytest.raises(StructuredOutputError, match="not valid JSON"):
        _ = fold(content_chunks(["not json"])).data


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab<>/thinkTK \n")), max_size=40), st.data())
def test_any_split_gives_the_same_fold(text: str, data: st.DataObject) -> None:
    """Whatever the text, cutting it differently never changes what the user sees."""
    whole = fold(content_chunks([text]) if text else content_chunks([]), implicit=True)
    cuts = sorted(set(data.draw(st.lists(st.integers(1, max(len(text) - 1, 1)), max_size=6))))
    bounds = [0, *[c for c in cuts if c < len(text)], len(text)]
    pieces = [text[a:b] for a, b in itertools.pairwise(bounds) if text[a:b]]
    parts = fold(content_chunks(pieces), implicit=True)
    assert (parts.reasoning, parts.content) == (whole.reasoning, whole.content)


def test_embedded_dialect_translates_structured_output() -> None:
    schema = {"type": "object", "properties": {"x": {"type": "integer"}}}
    fmt = {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}
    body = get_provider("embedded").dialect.body(
        "m",
        [{"role": "user", "content": "q"}],
        {"response_format": fmt, "reasoning": "on"},
    )
    assert body["response_format"] == {"type": "json_object", "schema": schema}
    assert "chat_template_kwargs" not in body  # SmolLM2 has no thinking switch


def test_import_is_cheap() -> None:
    code = (
        "import sys, nemotron_magics as nm; nm.Response; nm.chat;"
        "heavy = [m for m in ('IPython', 'ipywidgets', 'pandas', 'pydantic') if m in sys.modules];"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_reasoning_detail_without_text_then_with_text_merges() -> None:
    norm = Normaliser()
    norm.feed({"choices": [{"delta": {"reasoning_details": [{"type": "reasoning.text", "text": None}]}}]})
    norm.feed({"choices": [{"delta": {"reasoning_details": [{"index": 0, "text": "abc"}]}}]})
    assert norm.reasoning_details == [{"type": "reasoning.text", "text": "abc", "index": 0}]


@pytest.mark.parametrize(
    ("usage", "want"),
    [
        ({"prompt_tokens": 3.0, "completion_tokens": "4", "cost": "0.5"}, (3, 4, None, None, 0.5)),
        (
            {"prompt_tokens": True, "completion_tokens": -1, "cost": float("nan")},
            (None, None, None, None, None),
        ),
        ({"input_tokens": 5, "output_tokens": 6, "completion_tokens_details": [1]}, (5, 6, None, None, None)),
        ({"prompt_tokens_details": {"cached_tokens": 2}, "estimated_cost": 1}, (None, None, None, 2, 1.0)),
    ],
)
def test_usage_values_are_numbers_or_unknown(usage: dict[str, Any], want: tuple[Any, ...]) -> None:
    (u,) = Normaliser().feed({"choices": [], "usage": usage})
    assert (u.prompt_tokens, u.completion_tokens, u.reasoning_tokens, u.cached_tokens, u.cost) == want


def test_numeric_tool_call_id_is_read_as_text() -> None:
    chunk = {"choices": [{"delta": {"tool_calls": [{"index": 0, "id": 7, "function": {"name": "f"}}]}}]}
    (event,) = Normaliser().feed(chunk)
    assert event.id == "7" and event.name == "f"
