"""In a real kernel: ``--schema`` with ``-o df`` holds a DataFrame, and the saved outputs show the table."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conformance.server import ConformanceServer
from tests.kernels import Kernel

pytestmark = pytest.mark.kernel
MIME = "application/vnd.nemotron.response+json"

SETUP = """\
%load_ext nemotron_magics
from tests.city_schema import City
"""


@pytest.fixture(scope="module")
def kernel() -> Iterator[Kernel]:
    k = Kernel()
    assert k.reply(k.send(SETUP), timeout=60)["content"]["status"] == "ok"
    try:
        yield k
    finally:
        k.stop()


def test_out_holds_a_dataframe_and_the_saved_outputs_show_the_table(
    kernel: Kernel, server: ConformanceServer
) -> None:
    url = server.base_url("structured_rows", split=5)
    cell = f"%%nemotron -p local --base-url {url} -m m --schema list[City] -o df\nThree cities."
    reply, outputs = kernel.run(cell, timeout=60)
    assert reply["content"]["status"] == "ok", reply["content"]
    shown = [o for o in outputs if o.get("data")]
    assert len(shown) == 1
    data = shown[0]["data"]
    assert data[MIME]["format"] == "schema" and data[MIME]["structured"]["valid"] is True
    assert "<table" in data["text/html"] and "Tōkyō" in data["text/html"]
    assert "3 rows × 5 columns" in data["text/html"]
    check = (
        "import pandas as pd\n"
        "assert isinstance(df, pd.DataFrame) and df.shape == (3, 5), df\n"
        "assert str(df['population'].dtype) == 'Int64'\n"
        "assert _nemotron_response.data[0].city == 'Paris'\n"
    )
    reply, _ = kernel.run(check)
    assert reply["content"]["status"] == "ok", reply["content"]


def test_an_invalid_answer_is_shown_with_its_errors(kernel: Kernel, server: ConformanceServer) -> None:
    url = server.base_url("structured_invalid")
    cell = f"%%nemotron -p local --base-url {url} -m m --schema list[City] -o bad\nTwo cities."
    reply, outputs = kernel.run(cell, timeout=60)
    assert reply["content"]["status"] == "error"
    assert reply["content"]["ename"] == "StructuredOutputError"
    shown = [o for o in outputs if o.get("data")]
    html = shown[0]["data"]["text/html"]
    assert "Not valid against the schema" in html and "<table" not in html
    reply, _ = kernel.run("assert 'bad' not in dir(); assert _nemotron_response.validation_errors")
    assert reply["content"]["status"] == "ok", reply["content"]
