"""What a new user is told, seen in JupyterLab: a cut-off answer says so, the no-key notice is quiet,
tool cards and marks render with a stock machine's fonts, and a broken stream is reported once."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.browser.test_lab_text import LOAD, ask

pytestmark = pytest.mark.browser
Url = Callable[..., str]


def test_what_the_reader_is_told(open_notebook: Callable, conformance_url: Url) -> None:
    nb = open_notebook(
        [
            LOAD,
            ask(conformance_url("length_cutoff"), "Count every case."),
            ask(conformance_url("tool_call_single"), "Search the docs."),
            "%%nemotron --reasoning off --max-tokens 16 -t 0\nSay hello.",  # no key: the embedded engine
            ask(conformance_url("long", chars=20_000, hangup=200), "A long answer, please."),
        ]
    )
    nb.run_all(timeout=120, fails=True)  # the broken stream fails its cell, as it must

    cut = nb.output(1).inner_text()
    assert "No answer: the token limit (max_tokens) ran out while the model was still thinking" in cut
    assert "--max-tokens" in cut

    tool = nb.output(2)
    assert "search_docs" in tool.inner_text() and '"mamba layers"' in tool.inner_text()
    assert tool.locator(".nm-tool").count() == 1

    embedded = nb.output(3)
    note = embedded.locator(".nm-info")
    assert note.count() == 1 and "No API key is set" in note.inner_text()
    assert "rgb(211, 47, 47)" not in note.evaluate("e => getComputedStyle(e).color")  # not an error's red
    assert embedded.locator(".jp-RenderedText[data-mime-type='application/vnd.jupyter.stderr']").count() == 0

    broken = nb.output(4).inner_text()
    assert broken.count("ended early") + broken.count("broke") == 1, broken[-600:]
