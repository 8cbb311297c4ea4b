"""Structured outputs: schemas asked for in each dialect's form, validated, repaired safely, tabled.

The conformance transcripts ``structured_*`` go through real HTTP with the JSON split mid-key,
mid-string, mid-number (and at every byte with ``split=1``).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Literal, TypedDict

import jsonschema
import pandas as pd
import pytest
from pydantic import BaseModel

import nemotron_magics as nm
from nemotron_magics import StructuredOutputError
from nemotron_magics._dialects import LLAMA_CPP_PYTHON
from nemotron_magics._errors import StructuredOutputError as ErrorsOne
from nemotron_magics._formats import FORMATS, REGISTRY, get_format
from nemotron_magics._schema import Schema, complete_rows
from nemotron_magics.display import MIME, mimebundle, schema
from tests.city_schema import City
from tests.conformance.server import ConformanceServer
from tests.conformance.streams import expected

VALIDATOR = jsonschema.Draft202012Validator(schema())


@dataclasses.dataclass
class CityDC:
    city: str
    population: int
    area_km2: float
    capital: bool
    continent: Literal["Europe", "Asia"]


class CityTD(TypedDict):
    city: str
    population: int
    area_km2: float
    capital: bool
    continent: Literal["Europe", "Asia"]


CITY_JSON: dict[str, Any] = {
    "type": "object",
    "properties": {
        "city": {"type": "string"},
        "population": {"type": "integer"},
        "area_km2": {"type": "number"},
        "capital": {"type": "boolean"},
        "continent": {"enum": ["Europe", "Asia"]},
    },
    "required": ["city", "population", "area_km2", "capital", "continent"],
}


def _chat(
    server: ConformanceServer, scenario: str, target: Any, split: int | None = None, **kw: Any
) -> nm.Response:
    opts = {"split": split} if split else {}
    url = server.base_url(scenario, **opts)
    return nm.chat("rows", provider="nvidia", base_url=url, api_key="test-key", schema=target, **kw)


# -- the seam --------------------------------------------------------------------------------
def test_each_format_is_one_object() -> None:
    assert FORMATS == ("markdown", "text", "json", "code")
    assert set(REGISTRY) == {*FORMATS, "schema"}
    params: dict[str, Any] = {}
    get_format("json").request(params)
    assert params == {"response_format": {"type": "json_object"}}
    with pytest.raises(ValueError, match="format must be one of"):
        get_format("yaml")
    assert StructuredOutputError is ErrorsOne


def test_json_is_parsed_once_and_data_reuses_it() -> None:
    r = nm.Response()
    r.apply(nm.TextDelta('{"a": 1}'))
    r.finish()
    mimebundle(r, format="json")
    first = r._parsed
    assert r.data == {"a": 1}
    assert r._parsed is first


# -- the request, per dialect ----------------------------------------------------------------
@pytest.mark.parametrize("provider", ["nvidia", "openrouter", "deepinfra", "cloudflare", "local"])
def test_each_provider_gets_json_schema_strict_wrapped(server: ConformanceServer, provider: str) -> None:
    url = server.base_url("structured_rows")
    r = nm.chat("rows", provider=provider, base_url=url, api_key="test-key", schema=list[City], model="m")
    body = server.last_request().body
    fmt = body["response_format"]
    assert fmt["type"] == "json_schema"
    assert fmt["json_schema"]["strict"] is True and fmt["json_schema"]["name"] == "City"
    wire = fmt["json_schema"]["schema"]
    assert wire["type"] == "object" and wire["required"] == ["items"]  # the array travels wrapped
    assert wire["properties"]["items"]["type"] == "array"
    assert "guided_json" not in json.dumps(body)
    assert "schema" not in body  # our keyword is not a wire field
    assert [c.city for c in r.data] == ["Paris", "Lyon", "Tōkyō"]  # unwrapped again


def test_llama_cpp_python_gets_json_object_with_schema() -> None:
    body = LLAMA_CPP_PYTHON.body("m", [], {"schema": City})
    sent = body["response_format"]
    strict = {**City.model_json_schema(), "additionalProperties": False}
    assert sent == {"type": "json_object", "schema": strict}
    assert "guided_json" not in json.dumps(body)


def test_a_single_object_schema_is_not_wrapped() -> None:
    fmt = Schema(City).response_format()
    assert fmt["json_schema"]["schema"]["properties"].keys() == City.model_fields.keys()


# -- transcripts: split mid-token, fenced, truncated, invalid --------------------------------
@pytest.mark.parametrize("split", [None, 1, 7])
@pytest.mark.parametrize(
    "target", [list[City], list[CityDC], list[CityTD], {"type": "array", "items": CITY_JSON}]
)
def test_rows_validate_whatever_the_split(server: ConformanceServer, split: int | None, target: Any) -> None:
    r = _chat(server, "structured_rows", target, split)
    want = expected("structured_rows")["data"]
    assert r.validation_errors == [] and r.repairs == []
    data = r.data
    if target == list[City]:
        assert all(isinstance(x, City) for x in data)
    elif target == list[CityDC]:
        assert all(isinstance(x, CityDC) for x in data)
    else:
        assert data == want
    df = r.to_dataframe()
    assert df.shape == (3, 5)
    assert list(df.columns) == ["city", "population", "area_km2", "capital", "continent"]
    assert str(df["population"].dtype) == "Int64"
    assert df["area_km2"].dtype == "float64"
    assert str(df["capital"].dtype) == "boolean"
    assert isinstance(df["continent"].dtype, pd.CategoricalDtype)
    assert list(df["continent"].cat.categories) == ["Europe", "Asia"]
    assert df["city"].tolist() == [w["city"] for w in want]


def test_fenced_json_with_text_around_is_repaired(server: ConformanceServer) -> None:
    r = _chat(server, "structured_fenced", list[City], 3)
    assert [c.city for c in r.data] == ["Paris", "Lyon"]
    assert "code fences removed" in r.repairs or "text around the JSON ignored" in r.repairs


def test_truncated_stream_drops_the_cut_row_and_says_so(server: ConformanceServer) -> None:
    r = _chat(server, "structured_truncated", list[City], 5)
    assert r.finish_reason == "length"
    assert [c.city for c in r.data] == ["Paris", "Lyon"]
    assert any("last row was cut off" in x for x in r.repairs)
    doc = mimebundle(r)[MIME]
    VALIDATOR.validate(doc)
    assert any("cut off" in x for x in doc["structured"]["repairs"])


def test_schema_invalid_output_is_shown_honestly(server: ConformanceServer) -> None:
    r = _chat(server, "structured_invalid", list[City], 7)
    assert r.content.strip() == expected("structured_invalid")["content"]
    errors = r.validation_errors
    assert any(e.startswith("1.population") for e in errors)
    assert any(e.startswith("1.continent") for e in errors)
    with pytest.raises(StructuredOutputError, match="does not match the schema City"):
        r.data  # noqa: B018
    with pytest.raises(StructuredOutputError):
        r.to_dataframe()
    bundle = mimebundle(r)
    doc = bundle[MIME]
    VALIDATOR.validate(doc)
    assert doc["format"] == "schema" and doc["structured"]["valid"] is False
    assert doc["structured"]["table"] is None and "data" not in doc
    assert "Not valid against the schema" in bundle["text/html"]
    assert "<table" not in bundle["text/html"]  # never a silent wrong table
    assert "about half a million" in bundle["text/plain"] and "1.population" in bundle["text/plain"]


# -- shapes ------------------------------------------------------------------------------------
class Owner(BaseModel):
    name: str
    age: int


class Pet(BaseModel):
    pet: str
    owner: Owner


class Rows(BaseModel):
    rows: list[City]


def _response(target: Any, value: Any) -> nm.Response:
    r = nm.Response()
    r.schema = Schema(target)
    r.apply(nm.TextDelta(json.dumps(value)))
    r.finish()
    return r


def test_nested_objects_flatten_into_columns() -> None:
    r = _response(list[Pet], {"items": [{"pet": "cat", "owner": {"name": "Ann", "age": 3}}]})
    df = r.to_dataframe()
    assert list(df.columns) == ["pet", "owner.name", "owner.age"]
    assert str(df["owner.age"].dtype) == "Int64"


def test_an_object_with_one_list_of_records_is_those_rows() -> None:
    rows = expected("structured_rows")["data"]
    r = _response(Rows, {"rows": rows})
    assert isinstance(r.data, Rows)
    df = r.to_dataframe()
    assert df.shape == (3, 5) and str(df["population"].dtype) == "Int64"


def test_a_single_object_is_a_one_row_frame_and_a_json_tree() -> None:
    r = _response(City, expected("structured_rows")["data"][0])
    assert r.to_dataframe().shape == (1, 5)
    bundle = mimebundle(r)
    VALIDATOR.validate(bundle[MIME])
    assert "<table" in bundle["text/html"] and "<details><summary>JSON</summary>" in bundle["text/html"]
    assert get_format("schema").store(r) == r.data  # -o stores the object itself


def test_datetimes_from_the_schema() -> None:
    import datetime as dt

    class Event(BaseModel):
        name: str
        at: dt.datetime

    r = _response(list[Event], {"items": [{"name": "a", "at": "2026-01-02T03:04:05"}]})
    assert str(r.to_dataframe()["at"].dtype).startswith("datetime64")


def test_large_tables_show_their_first_rows_and_shape() -> None:
    rows = [{"city": f"c{i}", "population": i, "area_km2": 1.5, "capital": False, "continent": "Asia"}
            for i in range(2000)]
    r = _response(list[City], {"items": rows})
    bundle = mimebundle(r)
    doc = bundle[MIME]
    VALIDATOR.validate(doc)
    assert doc["structured"]["shape"] == "2,000 rows × 5 columns (first 50 shown)"
    assert len(doc["structured"]["table"]["rows"]) == 50 and doc["structured"]["table"]["total_rows"] == 2000
    html = bundle["text/html"]
    assert html.count("<tr>") <= 52 and "2,000 rows" in html
    assert 'class="nemotron-response' in html  # our MathJax-off container
    assert "2,000 rows" in bundle["text/plain"]


def test_table_html_is_sanitised() -> None:
    rows = [{"city": "<script>alert(1)</script><img src=x onerror=alert(1)>", "population": 1,
             "area_km2": 1.0, "capital": True, "continent": "Asia"}]
    html = mimebundle(_response(list[City], {"items": rows}))["text/html"]
    assert "<script" not in html and "onerror=alert" not in html.replace("onerror=alert(1)&gt;", "")


# -- partial parsing ---------------------------------------------------------------------------
@pytest.mark.parametrize("scenario", ["structured_rows", "structured_fenced", "structured_truncated"])
def test_partial_rows_never_shrink_at_any_byte(scenario: str) -> None:
    text = expected(scenario)["content"]
    raw = text.encode()
    seen: list[Any] = []
    for n in range(len(raw) + 1):
        prefix = raw[:n].decode(errors="ignore")
        rows, _ = complete_rows(prefix)
        assert len(rows) >= len(seen)
        assert rows[: len(seen)] == seen, f"a complete row changed at byte {n}"
        seen = rows
    want = expected(scenario)["data"]
    assert seen[: len(want)] == want[: len(seen)]
    if scenario != "structured_truncated":
        assert seen == want


def test_the_api_takes_schema_on_stream_and_session(server: ConformanceServer) -> None:
    url = server.base_url("structured_rows")
    s = nm.stream("rows", provider="nvidia", base_url=url, api_key="k", schema=list[City])
    r = s.until_done()
    assert len(r.data) == 3
    session = nm.Session("nvidia", base_url=url, api_key="k")
    r2 = session.chat("rows", schema=list[City])
    assert r2.to_dataframe().shape == (3, 5)


def test_a_bad_schema_is_one_line() -> None:
    with pytest.raises(nm.ConfigurationError, match="schema must be a pydantic model"):
        nm.Client("nvidia", api_key="k").stream("q", schema=42, base_url="http://127.0.0.1:9/v1")


def test_a_served_mtp_server_with_reasoning_on_gets_the_note(
    server: ConformanceServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from types import SimpleNamespace

    from nemotron_magics._client import MTP_NOTE
    from nemotron_magics._serve import _server

    url = server.base_url("structured_rows")
    served = SimpleNamespace(url=server.url + "/v1", command=["vllm", "serve", "--speculative-config",
                             '{"method": "mtp"}'], env={})  # fmt: skip
    monkeypatch.setattr(_server, "servers", lambda: [served])
    r = nm.chat("rows", provider="local", base_url=url, model="m", reasoning="low", schema=list[City])
    assert MTP_NOTE in r.notices
    r = nm.chat("rows", provider="local", base_url=url, model="m", reasoning="off", schema=list[City])
    assert MTP_NOTE not in r.notices
    r = nm.chat("rows", provider="local", base_url=url, model="m", reasoning="low")
    assert MTP_NOTE not in r.notices
