"""JupyterLab (and Notebook 7) with our extension enabled, for the tests of the extension itself.

The parent conftest's ``lab`` runs with the extension disabled, to test the fallbacks that VS Code
and Colab show; here it is enabled, as ``pip install nemotron-magics`` leaves it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.browser.conftest import Lab, Notebook, open_in, start_lab
from tests.conformance.server import ConformanceServer

MIME = "application/vnd.nemotron.response+json"
#: Our renderer's root element, as JupyterLab marks its own renderers.
RENDERED = f'.jp-RenderedNemotron[data-mime-type="{MIME}"]'


@pytest.fixture(scope="package")
def lab(conformance: ConformanceServer) -> Iterator[Lab]:
    yield from start_lab(conformance, extension=True)


@pytest.fixture(scope="package")
def notebook7(conformance: ConformanceServer) -> Iterator[Lab]:
    yield from start_lab(conformance, extension=True, app="notebook")


_RUN_FROM = """
([index, all]) => {
  window.__runDone = undefined;
  const app = window.jupyterapp;
  app.shell.currentWidget.content.activeCellIndex = index;
  app.commands.execute(all ? 'notebook:run-all-below' : 'notebook:run-cell').then(
    (ok) => { window.__runDone = {ok: ok !== false}; },
    (err) => { window.__runDone = {ok: false, error: String(err)}; });
}
"""


class ExtNotebook(Notebook):
    """A notebook whose first cell loads the extension, run alone so the handshake is done first.

    The kernel reads the page's answer to ``%load_ext``'s comm between cells: cells queued in the
    same Run All would stream through the HTML fallback (their final bundle is ours all the same).
    """

    def start_after_load(self) -> None:
        self.page.evaluate(_RUN_FROM, [0, False])
        self.wait_run_all()
        self.page.evaluate(_RUN_FROM, [1, True])

    def run_after_load(self, timeout: float = 60) -> None:
        self.start_after_load()
        self.wait_run_all(timeout)

    def rendered(self, index: int) -> Any:
        """Our renderer's element in cell ``index``'s output."""
        return self.output(index).locator(RENDERED)


@pytest.fixture
def open_ext(page: Any, lab: Lab, request: pytest.FixtureRequest) -> Callable[..., ExtNotebook]:
    """``open_ext(cells)``: the notebook open in the Lab (extension enabled) with an idle kernel."""
    return lambda cells, name=None: open_in(page, lab, name or request.node.name, cells, cls=ExtNotebook)
