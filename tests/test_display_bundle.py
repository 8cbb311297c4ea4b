"""The complete bundle: the JSON document matches its schema, and the fallbacks say the same thing.

The schema is the contract with the JupyterLab renderer, so it is checked against responses
folded from real streams (every provider transcript the conformance server replays) and
against hand-made edge cases: tool calls whose arguments are broken or still streaming,
estimates, a stopped stream, a broken one, every format.
"""

from __future__ import annotations

import json

import jsonschema
import pytest

import nemotron_magics as nm
from nemotron_magics import Finish, ReasoningDelta, Response, StreamError, TextDelta, ToolCallDelta, Usage
from nemotron_magics.display import EMBEDDED_NOTE, FORMATS, MIME, mimebundle, schema
from nemotron_magics.display._bundle import shape
from tests.conformance.server import ConformanceServer
from tests.conformance.streams import expected

VALIDATOR = jsonschema.Draft202012Validator(schema(), format_checker=jsonschema.FormatChecker())

TRANSCRIPTS = [
    "nvidia",
    "openrouter",
    "deepinfra",
    "vllm",
    "think_inline",
    "think_close_only",
    "answer_in_reasoning",
    "answer_in_both",
    "tool_calls_parallel",
    "tool_call_single",
    "json_answer",
    "unicode",
    "hostile",
    "length_cutoff",
    "cloudflare_openai",
]


def check(bundle: dict) -> dict:
    VALIDATOR.validate(bundle[MIME])
    assert set(bundle) == {MIME, "text/html", "text/markdown", "text/plain"}
    assert all(isinstance(bundle[k], str) for k in ("text/html", "text/markdown", "text/plain"))
    json.dumps(bundle, allow_nan=False)  # what the kernel must be able to send
    return bundle[MIME]


def test_the_schema_is_valid_and_ships_in_the_package() -> None:
    jsonschema.Draft202012Validator.check_schema(schema())
    assert schema()["title"] == MIME


@pytest.mark.parametrize("scenario", TRANSCRIPTS)
@pytest.mark.parametrize("fmt", FORMATS)
def test_real_streams_match_the_schema(server: ConformanceServer, scenario: str, fmt: str) -> None:
    r = nm.Client("local", base_url=server.base_url(scenario), model="m").chat("hi")
    doc = check(mimebundle(r, format=fmt))
    assert doc["content"] == r.content == expected(scenario)["content"]
    assert doc["reasoning"] == r.reasoning and doc["finish_reason"] == r.finish_reason and doc["done"] is True
    assert [c["name"] for c in doc["tool_calls"]] == [c.name for c in r.tool_calls]
    assert doc["footer"][:2] == ["local", r.model]


def test_repr_mimebundle_is_the_bundle(server: ConformanceServer) -> None:
    r = nm.Client("local", base_url=server.base_url("openrouter"), model="m").chat("hi")
    assert r._repr_mimebundle_() == mimebundle(r)


def _response(provider: str = "nvidia") -> Response:
    r = Response(provider=provider, model="nvidia/nemotron-3-super-120b-a12b")
    r.apply(ReasoningDelta("Let me think."))
    r.apply(TextDelta("The **answer** is 42.\n"))
    return r


def test_edge_cases_match_the_schema() -> None:
    r = _response()
    r.apply(ToolCallDelta(0, "call_a", "lookup", '{"q": "nem'))
    r.apply(ToolCallDelta(1, "call_b", "broken", "{not json"))
    live = check(mimebundle(r))  # mid-stream: not done, arguments parsed as far as they go
    assert live["done"] is False and live["tool_calls"][0]["arguments"] == {"q": "nem"}
    r.apply(ToolCallDelta(0, arguments_fragment='otron"}'))
    r.apply(Usage(120, 80, 30, 10, 0.0004, True))
    r.apply(Finish("tool_calls"))
    r.finish()
    doc = check(mimebundle(r))
    assert doc["tool_calls"][0]["arguments"] == {"q": "nemotron"}
    assert doc["tool_calls"][1]["arguments"] is None and "not valid JSON" in doc["tool_calls"][1]["error"]
    assert doc["usage"]["cost_is_estimate"] is True

    stopped = _response()
    stopped.finish(reason="cancelled")
    assert check(mimebundle(stopped))["finish_reason"] == "cancelled"

    broken = _response()
    broken.error = StreamError("The stream from nvidia ended early, without [DONE]")
    broken.finish(reason="error")
    assert "ended early" in check(mimebundle(broken))["error"]

    empty = Response()
    empty.finish()
    for fmt in FORMATS:
        check(mimebundle(empty, format=fmt))


def test_footer_marks_estimates_and_says_plainly_when_it_is_not_nemotron() -> None:
    r = _response("embedded")
    r.apply(Usage(12, 34, None, None, 0.00012, True))
    r.finish()
    bundle = mimebundle(r)
    for mime in ("text/html", "text/plain"):
        assert EMBEDDED_NOTE in bundle[mime] and "~$0.000120 (estimate)" in bundle[mime]
    assert "SmolLM2" in bundle["text/markdown"] and "not Nemotron" in bundle["text/markdown"]
    assert "12 in / 34 out" in bundle["text/plain"]


def test_thinking_panel_is_collapsed_with_its_duration_and_tokens() -> None:
    r = _response()
    r.apply(Usage(10, 20, 15))
    r.finish()
    html = mimebundle(r)["text/html"]
    assert '<details class="nm-thinking" style' in html  # closed
    assert "Thought for" in html and "15 reasoning tokens" in html
    assert html.index("Let me think.") < html.index("<strong>answer</strong>")
    md = mimebundle(r)["text/markdown"]
    assert md.startswith("<details><summary>") and "Let me think." in md


def test_stopped_and_broken_are_marked_everywhere() -> None:
    r = _response()
    r.finish(reason="cancelled")
    bundle = mimebundle(r)
    assert "Stopped by the user" in bundle["text/html"]
    assert "Stopped by the user" in bundle["text/markdown"].replace("\\", "")
    assert "[Stopped by the user; the partial answer above is kept.]" in bundle["text/plain"]
    assert bundle["text/plain"].rstrip().endswith("stopped")

    r = _response()
    r.error = StreamError("The connection to nvidia broke mid-stream (ReadError); the partial answer is kept")
    r.finish(reason="error")
    bundle = mimebundle(r)
    assert bundle["text/html"].count('class="nm-note nm-error"') == 1
    assert "[The connection to nvidia broke mid-stream" in bundle["text/plain"]


@pytest.mark.parametrize(
    ("content", "fmt", "text", "language"),
    [
        ('```json\n{"a": [1, 2]}\n```', "json", '{\n  "a": [\n    1,\n    2\n  ]\n}', "json"),
        ('{"a":1}', "json", '{\n  "a": 1\n}', "json"),
        ("not json", "json", "not json", "json"),
        ("```python\nprint('hi')\n```", "code", "print('hi')", "python"),
        ("Here:\n```python\nx = 1\n```\nDone.", "code", "Here:\n```python\nx = 1\n```\nDone.", ""),
        ("plain\ntext\n", "text", "plain\ntext\n", ""),
    ],
)
def test_formats_shape_the_answer(content: str, fmt: str, text: str, language: str) -> None:
    shaped = shape(content, fmt)
    assert (shaped.text, shaped.language) == (text, language)
    r = Response(provider="local", model="m")
    r.apply(TextDelta(content))
    r.finish()
    bundle = mimebundle(r, format=fmt)
    doc = check(bundle)
    assert bundle["text/plain"].startswith(text.rstrip("\n"))
    if fmt == "json":
        assert ("data" in doc) == (content != "not json")
        assert ("data_error" in doc) == (content == "not json")
    if fmt in ("json", "code"):
        assert doc["answer"] == {"text": text, "language": language or None}


def test_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="format must be one of markdown, text, json, code"):
        mimebundle(Response(), format="html")
