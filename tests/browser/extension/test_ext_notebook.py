"""The extension around the renderer: saved notebooks without a kernel, the editor, themes, Notebook 7."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import nbformat
import pytest

import nemotron_magics as nm
from nemotron_magics.display import mimebundle
from tests.browser.conftest import VIEWPORT, Lab, artifacts_dir, open_in
from tests.browser.test_lab_tools import TOOL

from .conftest import MIME, RENDERED, ExtNotebook

pytestmark = pytest.mark.browser

LOAD = "%load_ext nemotron_magics"


def _saved_notebook(path: Any, bundle: dict[str, Any]) -> None:
    nb = nbformat.v4.new_notebook()
    # A kernel this server does not have: the notebook opens with none.
    nb.metadata["kernelspec"] = {"name": "no-such-kernel", "display_name": "Gone", "language": "python"}
    cell = nbformat.v4.new_code_cell("%%nemotron\nWhy is the sky blue?")
    cell.outputs = [nbformat.v4.new_output("display_data", data=bundle)]
    nb.cells.append(cell)
    nbformat.write(nb, str(path))


def test_saved_notebook_renders_from_the_bundle_without_a_kernel(
    page: Any, lab: Lab, conformance_url: Callable
) -> None:
    client = nm.Client("local", base_url=conformance_url("nvidia"), model="m")
    response = client.chat("Hello")
    bundle = mimebundle(response)
    assert "live" not in bundle[MIME]
    _saved_notebook(lab.root / "saved.ipynb", bundle)
    page.goto(f"{lab.url}/lab/workspaces/saved/tree/saved.ipynb?reset&token={lab.token}")
    rendered = page.locator(RENDERED)
    rendered.wait_for(timeout=60_000)
    # "Select Kernel": the one it names is gone; keep none.
    page.locator(".jp-Dialog").get_by_role("button", name="No Kernel").click()
    page.shots.append(("saved", rendered))
    assert page.evaluate("() => !window.jupyterapp.shell.currentWidget.sessionContext.session?.kernel"), (
        "the notebook should have no kernel"
    )
    assert rendered.get_attribute("data-done") == "true"
    answer = rendered.locator(".nm-answer").inner_text()
    assert response.content.strip()[:40] in answer, answer
    assert rendered.locator(".nm-thinking summary").inner_text().startswith("Thought for")
    assert (
        "nvidia" in rendered.locator(".nm-footer").inner_text()
        or "local" in rendered.locator(".nm-footer").inner_text()
    )


def test_nemotron_cells_get_a_badge_markdown_and_an_insert_command(page: Any, open_ext: Callable) -> None:
    nb = open_ext(
        ["%%nemotron -p openrouter -m nvidia/nemotron-3-super --reasoning high\nSummarise **this**.", "x = 1"]
    )
    badge = nb.cell(0).locator(".nm-cell-badge")
    badge.wait_for(timeout=10_000)
    assert badge.inner_text() == "Nemotron · openrouter · nvidia/nemotron-3-super · reasoning high"
    assert nb.cell(1).locator(".nm-cell-badge").count() == 0, "a Python cell has no badge"
    # What the editor highlights with (CodeMirror names it on its content element), once the
    # languages have loaded: the prompt as Markdown, the Python cell as Python.
    language = "(i) => document.querySelectorAll('.jp-Cell .cm-content')[i].dataset.language"
    page.wait_for_function(f"() => ({language})(0) === 'markdown'", timeout=10_000)
    page.wait_for_timeout(1000)  # a late-loading language would win here: it must not
    assert page.evaluate(language, 0) == "markdown", "the prompt is highlighted as Markdown"
    assert page.evaluate(language, 1) == "python"
    page.evaluate("() => { window.jupyterapp.shell.currentWidget.content.activeCellIndex = 1; }")
    button = page.locator(f"{nb.panel} .nm-insert-button")
    assert button.count() == 1, "the notebook toolbar has our button"
    button.click()
    page.wait_for_function(
        "() => window.jupyterapp.shell.currentWidget.content.widgets.length === 3", timeout=10_000
    )
    source = page.evaluate(
        "() => window.jupyterapp.shell.currentWidget.content.widgets[2].model.sharedModel.getSource()"
    )
    assert source.startswith("%%nemotron"), source
    assert page.evaluate("() => window.jupyterapp.commands.hasCommand('nemotron:insert-cell')")
    page.evaluate("() => window.jupyterapp.commands.execute('apputils:activate-command-palette')")
    page.keyboard.type("Insert %%nemotron")
    item = page.locator(".lm-CommandPalette-item", has_text="Insert %%nemotron Cell")
    item.wait_for(timeout=10_000)
    page.shots.append(("palette", page.locator(".lm-CommandPalette")))


def test_dark_theme(page: Any, open_ext: Callable, conformance_url: Callable) -> None:
    url = conformance_url("tool_rounds", delay=0.01)
    nb = open_ext([LOAD, TOOL, f"%%nemotron -p local --base-url {url} -m m --tools get_weather\nWeather?"])
    theme = "() => window.jupyterapp.commands.execute('apputils:change-theme', {theme: 'JupyterLab %s'})"
    page.evaluate(theme % "Dark")
    try:
        page.wait_for_function("() => document.body.dataset.jpThemeLight === 'false'", timeout=20_000)
        nb.run_after_load()
        r = nb.rendered(2)
        colours = r.evaluate(
            """(el) => {
                 const card = el.querySelector('.nm-tool');
                 return [getComputedStyle(el).color, getComputedStyle(card).backgroundColor];
               }"""
        )
        r.screenshot(path=str(artifacts_dir() / "test_dark_theme-dark.png"))
    finally:  # the theme is a user setting: the Lab's later tests get the light one back
        page.evaluate(theme % "Light")
        page.wait_for_function("() => document.body.dataset.jpThemeLight === 'true'", timeout=20_000)
    text, card = colours
    lum = lambda c: sum(int(x) for x in c[c.index("(") + 1 : c.index(")")].split(",")[:3]) / 3  # noqa: E731
    assert lum(text) > 150, f"light text on the dark theme: {colours}"
    assert lum(card) < 100, f"dark tool cards on the dark theme: {colours}"


def test_notebook7_renders_live(browser: Any, notebook7: Lab, conformance_url: Callable) -> None:
    context = browser.new_context(viewport=VIEWPORT)
    pg = context.new_page()
    pg.shots = []  # the open_in notebook's outputs are screenshotted below
    try:
        url = conformance_url("slow")
        nb = open_in(
            pg,
            notebook7,
            "nb7",
            [LOAD, f"%%nemotron -p local --base-url {url}\nWrite at length."],
            notebook7=True,
            cls=ExtNotebook,
        )
        nb.start_after_load()
        r = nb.rendered(1)
        r.wait_for(timeout=20_000)
        live = r.get_attribute("data-done")
        nb.wait_run_all()
        assert live == "false", "streaming into our renderer in Notebook 7"
        assert r.get_attribute("data-done") == "true"
        assert len(r.locator(".nm-answer").inner_text()) > 3000
        r.screenshot(path=str(artifacts_dir() / "test_notebook7_renders_live-output.png"))
    finally:
        context.close()
        notebook7.shutdown_kernels()
