"""The real embedded engine (llama.cpp, constrained decoding) returns rows that validate."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest
from pydantic import BaseModel

import nemotron_magics as nm

pytestmark = pytest.mark.embedded


class Colour(BaseModel):
    name: str
    red: int
    warm: bool


def test_rows_validate_into_a_typed_dataframe(embedded_engine: Any) -> None:
    client = nm.Client("embedded", max_retries=0)
    r = client.chat(
        "List three colours with their red component (0-255) and whether they are warm.",
        schema=list[Colour], max_tokens=160, temperature=0, seed=1,
    )  # fmt: skip
    body = r.request or {}
    assert body["response_format"]["type"] == "json_object"  # llama-cpp-python's own form
    assert body["response_format"]["schema"]["required"] == ["items"]
    assert r.validation_errors == [], (r.content, r.validation_errors)
    rows = r.data
    assert rows and all(isinstance(x, Colour) for x in rows)
    df = r.to_dataframe()
    assert df.shape == (len(rows), 3)
    assert list(df.columns) == ["name", "red", "warm"]
    assert str(df["red"].dtype) == "Int64" and str(df["warm"].dtype) == "boolean"
    assert isinstance(df, pd.DataFrame)
