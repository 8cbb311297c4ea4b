"""Structured output as a person sees it in JupyterLab: a typed table, not a string."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.browser.test_lab_text import LOAD

pytestmark = pytest.mark.browser

SCHEMA = """from typing import Literal
from pydantic import BaseModel


class City(BaseModel):
    city: str
    population: int
    area_km2: float
    capital: bool
    continent: Literal["Europe", "Asia", "Africa", "Americas", "Oceania"]"""


def test_a_schema_answer_is_a_table(open_notebook: Callable, conformance_url: Callable[..., str]) -> None:
    url = conformance_url("structured_rows", split=5)
    ask = f"%%nemotron -p local --base-url {url} -m m --schema list[City] -o df\nThree cities."
    nb = open_notebook([LOAD, SCHEMA, ask])
    nb.run_all()
    out = nb.output(2)
    table = out.locator("table")
    assert table.count() >= 1
    text = out.inner_text()
    assert "Tōkyō" in text and "14094034" in text.replace(",", "") and "3 rows × 5 columns" in text
    assert out.locator("mjx-container").count() == 0
