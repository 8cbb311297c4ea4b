"""The live display: a person watching the cell sees the answer grow before the cell finishes."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

pytestmark = pytest.mark.browser


def test_answer_grows_while_it_streams(open_notebook: Callable, conformance_url: Callable) -> None:
    # `slow`: about 400 characters of reasoning then 4,000 of Markdown, paced at 2,000 characters/s (~2.2 s).
    magic = f"%%nemotron -p local --base-url {conformance_url('slow')}\nWrite at length."
    nb = open_notebook(["%load_ext nemotron_magics", magic])
    out = nb.output(1)
    nb.start_run_all()
    samples: list[tuple[float, int]] = []  # (seconds since Run All, characters the answer's cell shows)
    start = time.monotonic()
    shot = False
    while nb.running() and time.monotonic() - start < 30:
        shown = nb.shown_chars(1)
        samples.append((round(time.monotonic() - start, 2), shown))
        if not shot and shown > 800:
            nb.shoot("mid-stream")
            shot = True
        time.sleep(0.1)
    nb.wait_run_all()
    final = len(out.inner_text())
    seen = f"(seconds, characters) seen while running: {samples}; at the end: {final}"
    during = [n for _, n in samples if n > 0]
    assert len(set(during)) >= 3, f"the answer should grow on screen while it streams; {seen}"
    assert min(during) < final / 2, f"the first part should show early; {seen}"
    assert final > 2500, f"the finished answer (4,000 characters of Markdown) should all be there; {seen}"
