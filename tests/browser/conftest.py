"""A real JupyterLab server, a real Chromium driven by Playwright, and notebooks opened in it.

One Lab server and one browser per session (both take seconds to start); a fresh page, notebook and
kernel per test. The Lab's kernels reach the conformance server through ``NEMOTRON_CONFORMANCE_URL``
and see no provider keys. Every test leaves screenshots (the whole page, and each output area it
looked at) in ``$NEMOTRON_ARTIFACTS`` or ``tests/browser/artifacts/``, whether it passed or not.

The browser is Debian's Chromium at ``/usr/bin/chromium`` (``scripts/browser-deps.sh`` installs it);
Playwright's own browser downloads are never used. A missing browser fails the tests, never skips them.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
import pytest

from tests.conformance.server import ENV_VAR, ConformanceServer

HERE = Path(__file__).resolve().parent
CHROMIUM = Path(os.environ.get("NEMOTRON_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1600, "height": 1000}
LAB_START_TIMEOUT = 90.0
# Provider keys and switches: the Lab's kernels must not see a developer's (tests/conftest.py clears the
# same ones per test, but this server starts once, from the session's environment).
_SECRET_ENV = re.compile(
    r"^(NVIDIA_API_KEY|OPENROUTER_API_KEY|DEEPINFRA_(TOKEN|API_KEY)|CLOUDFLARE_\w+|NEMOTRON_PROVIDER"
    r"|NEMOTRON_BASE_URL|NEMOTRON_EMBEDDED_URL|JUPYTER_TOKEN|\w*_API_KEY)$"
)
# User settings for the test Lab: no news/update prompts over the notebook, no network calls.
_LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "checkForUpdates": False,
        "fetchNews": "false",
    },
}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "browser: drives a real JupyterLab in Debian's Chromium (Playwright)")


def artifacts_dir() -> Path:
    path = Path(os.environ.get("NEMOTRON_ARTIFACTS") or HERE / "artifacts")
    path.mkdir(parents=True, exist_ok=True)
    return path


# --------------------------------------------------------------------------- JupyterLab


@dataclass
class Lab:
    """A running JupyterLab server: where it listens, its token, the folder it serves."""

    url: str
    token: str
    root: Path
    log: Path
    process: subprocess.Popen[bytes]

    def api(self, method: str, path: str) -> Any:
        req = urllib.request.Request(
            f"{self.url}{path}", method=method, headers={"Authorization": f"token {self.token}"}
        )
        with urllib.request.urlopen(req, timeout=10) as r:
            body = r.read()
        return json.loads(body) if body else None

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def shutdown_kernels(self) -> None:
        """End every session (and its kernel): one kernel per test, never an accumulating crowd."""
        with contextlib.suppress(OSError, urllib.error.URLError):
            for session in self.api("GET", "/api/sessions") or []:
                with contextlib.suppress(OSError, urllib.error.URLError):
                    self.api("DELETE", f"/api/sessions/{session['id']}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _lab_env(conformance: ConformanceServer, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not _SECRET_ENV.match(k)}
    env[ENV_VAR] = conformance.url
    for var, sub in (
        ("JUPYTER_CONFIG_DIR", "config"),
        ("JUPYTER_RUNTIME_DIR", "runtime"),
        ("JUPYTERLAB_SETTINGS_DIR", "lab-settings"),
        ("JUPYTERLAB_WORKSPACES_DIR", "lab-workspaces"),
        ("IPYTHONDIR", "ipython"),
    ):
        (home / sub).mkdir(parents=True, exist_ok=True)
        env[var] = str(home / sub)
    for name, values in _LAB_SETTINGS.items():
        target = home / "lab-settings" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(values), encoding="utf-8")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def start_lab(conformance: ConformanceServer, *, extension: bool, app: str = "jupyterlab") -> Iterator[Lab]:
    """``jupyter lab`` (or ``app="notebook"``: Notebook 7) on a free loopback port with a token.

    ``extension=False`` disables our JupyterLab extension, as ``jupyter labextension disable``
    would: the Lab then shows the kernel's HTML fallback, as VS Code and Colab do. Stopped,
    kernels and all, when the generator closes.
    """
    home = Path(tempfile.mkdtemp(prefix="nemotron-lab-"))
    root = home / "root"
    root.mkdir()
    env = _lab_env(conformance, home)
    if not extension:
        labconfig = home / "config" / "labconfig"
        labconfig.mkdir(parents=True, exist_ok=True)
        (labconfig / "page_config.json").write_text(
            json.dumps({"disabledExtensions": {"nemotron-magics": True}}), encoding="utf-8"
        )
    port, token = _free_port(), secrets.token_hex(16)
    log = artifacts_dir() / f"{app}{'' if extension else '-no-extension'}.log"
    server_app = "LabApp" if app == "jupyterlab" else "JupyterNotebookApp"
    cmd = [
        sys.executable,
        "-m",
        app,
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        "--ServerApp.terminals_enabled=False",
        f"--{server_app}.expose_app_in_browser=True",  # window.jupyterapp, to drive commands and read state
    ]
    if app == "jupyterlab":
        cmd += ["--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd,
            cwd=root,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Lab(f"http://127.0.0.1:{port}", token, root, log, proc)
    try:
        deadline = time.monotonic() + LAB_START_TIMEOUT
        while True:
            if proc.poll() is not None:
                pytest.fail(
                    f"{app} exited ({proc.returncode}) before answering:\n{server.log_tail()}",
                    pytrace=False,
                )
            try:
                server.api("GET", "/api/status")
                break
            except (OSError, urllib.error.URLError):
                if time.monotonic() > deadline:
                    pytest.fail(
                        f"{app} did not answer within {LAB_START_TIMEOUT:.0f}s:\n{server.log_tail()}",
                        pytrace=False,
                    )
                time.sleep(0.2)
        yield server
    finally:
        server.shutdown_kernels()
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)  # SIGINT would ask for a confirmation on the console
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="package")
def lab(conformance: ConformanceServer) -> Iterator[Lab]:
    """JupyterLab without our extension: these tests check the fallbacks other frontends show.

    ``tests/browser/extension/`` overrides this with the extension enabled.
    """
    yield from start_lab(conformance, extension=False)


# --------------------------------------------------------------------------- Chromium


# Package scope, not session: Playwright's sync API keeps an event loop running in this thread
# while it lives, and every later test that calls asyncio.run() would fail.
@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless, through Playwright (never a downloaded browser)."""
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        pytest.fail(
            f"the browser tests need Chromium at {CHROMIUM}, and it is missing: run "
            "`bash scripts/browser-deps.sh` (as root: apt-get install chromium). Never `playwright install`.",
            pytrace=False,
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        pytest.fail(
            f"the browser tests need the `playwright` package ({exc}): `.venv/bin/pip install -e '.[dev]'`",
            pytrace=False,
        )
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


# Installed before any page script: a hostile output that manages to run code trips this flag.
_TRIPWIRE = """
(() => {
  for (const name of ['alert', 'confirm', 'prompt']) {
    const original = window[name];
    window[name] = function (...args) {
      window.__pwned = (window.__pwned || []).concat([name + '(' + args.map(String).join(',') + ')']);
      return original.apply(this, args);
    };
  }
})();
"""


@dataclass
class PageRecord:
    """What the page did besides rendering: dialogs it opened, errors it logged."""

    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@pytest.fixture
def page(browser: Any, lab: Lab, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh page (own context: no shared storage) with a dialog recorder and the tripwire."""
    context = browser.new_context(viewport=VIEWPORT, device_scale_factor=1)
    context.add_init_script(_TRIPWIRE)
    pg = context.new_page()
    pg.set_default_timeout(30_000)
    record = PageRecord()

    def on_dialog(dialog: Any) -> None:
        record.dialogs.append(f"{dialog.type}: {dialog.message}")
        with contextlib.suppress(Exception):
            dialog.dismiss()

    pg.on("dialog", on_dialog)
    pg.on("pageerror", lambda exc: record.errors.append(str(exc)))
    pg.on("console", lambda msg: record.errors.append(msg.text) if msg.type == "error" else None)
    pg.record = record  # type: ignore[attr-defined]
    pg.shots = []  # type: ignore[attr-defined]  # (label, locator) pairs to screenshot at the end
    try:
        yield pg
    finally:
        _screenshots(pg, request.node.name)
        _write_record(record, request.node.name)
        context.close()
        lab.shutdown_kernels()


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")[:120]


_NOTEBOOK_HEIGHT = """
() => {
  const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  if (!w || !w.node) return 0;
  let extra = 0;
  for (const el of [w.content.node, ...w.node.querySelectorAll('.jp-WindowedPanel-outer')]) {
    extra = Math.max(extra, el.scrollHeight - el.clientHeight);
  }
  return extra > 0 ? window.innerHeight + extra + 40 : 0;
}
"""


def _write_record(record: PageRecord, test_name: str) -> None:
    """The page's dialogs and console errors, next to its screenshots (only when there were any)."""
    path = artifacts_dir() / f"{_slug(test_name)}-console.txt"
    lines = [f"dialog  {d}" for d in record.dialogs] + [f"error   {e}" for e in record.errors]
    if lines:
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    else:
        path.unlink(missing_ok=True)


def _screenshots(pg: Any, test_name: str) -> None:
    """The whole page and every output area the test read, saved whether the test passed or not."""
    base = artifacts_dir() / _slug(test_name)
    with contextlib.suppress(Exception):  # Lab scrolls inside a fixed frame: grow the window to the notebook
        tall = pg.evaluate(_NOTEBOOK_HEIGHT)
        if tall:
            pg.set_viewport_size(
                {"width": VIEWPORT["width"], "height": min(8000, max(VIEWPORT["height"], tall))}
            )
            pg.wait_for_timeout(300)
    with contextlib.suppress(Exception):
        pg.screenshot(path=f"{base}-page.png", full_page=True, timeout=10_000)
    for label, locator in pg.shots:
        try:
            locator.screenshot(path=f"{base}-{_slug(label)}.png", timeout=15_000)
        except Exception as exc:  # say so next to the others rather than hide a failing test's reason
            pg.record.errors.append(f"screenshot {label}: {str(exc).splitlines()[0]}")


# --------------------------------------------------------------------------- notebooks

_PANEL_READY = """
(path) => {
  const app = window.jupyterapp;
  const w = app && app.shell && app.shell.currentWidget;
  if (!w || !w.context || w.context.path !== path || !w.context.isReady || !w.content) return false;
  const kernel = w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
  if (!kernel || kernel.status !== 'idle' || !w.content.widgets.length) return false;
  return w.id;
}
"""
_RUN_ALL = """
() => {
  window.__runDone = undefined;
  window.jupyterapp.commands.execute('notebook:run-all-cells').then(
    (ok) => { window.__runDone = {ok: ok !== false}; },
    (err) => { window.__runDone = {ok: false, error: String(err)}; });
}
"""
_KERNEL_IDLE = """
() => {
  const w = window.jupyterapp.shell.currentWidget;
  const kernel = w && w.sessionContext.session && w.sessionContext.session.kernel;
  return !!kernel && kernel.status === 'idle';
}
"""


@dataclass
class Notebook:
    """A notebook open in the Lab: run its cells, find what each cell shows."""

    page: Any
    name: str
    panel: str  # CSS selector of its NotebookPanel

    def cell(self, index: int) -> Any:
        return self.page.locator(f"{self.panel} .jp-Notebook .jp-Cell").nth(index)

    def output(self, index: int) -> Any:
        """The output area of cell ``index`` (0-based); screenshotted when the test ends."""
        locator = self.cell(index).locator(".jp-OutputArea").first
        if not any(label == f"out{index}" for label, _ in self.page.shots):
            self.page.shots.append((f"out{index}", locator))
        return locator

    def start_run_all(self) -> None:
        """Run > Run All Cells, without waiting for it."""
        self.page.evaluate(_RUN_ALL)

    def running(self) -> bool:
        return self.page.evaluate("() => window.__runDone === undefined")

    def wait_run_all(self, timeout: float = 60, *, fails: bool = False) -> None:
        """Until every cell has run and the kernel is idle again (outputs come before that status).

        ``fails``: the last cell is meant to fail (Run All stops there), so that is expected.
        """
        self.page.wait_for_function("() => window.__runDone !== undefined", timeout=timeout * 1000)
        done = self.page.evaluate("() => window.__runDone")
        self.page.wait_for_function(_KERNEL_IDLE, timeout=timeout * 1000)
        if bool(done.get("ok")) == fails:
            raise AssertionError(
                f"Run All Cells did not complete: {done}; the page shows:\n"
                f"{self.page.locator(self.panel).inner_text()[-3000:]}"
            )

    def run_all(self, timeout: float = 60, *, fails: bool = False) -> None:
        self.start_run_all()
        self.wait_run_all(timeout, fails=fails)

    def typeset_settled(self, index: int, timeout: float = 15) -> None:
        """Wait for MathJax to finish with cell ``index`` (a control cell that has maths)."""
        self.output(index).locator("mjx-container").first.wait_for(state="attached", timeout=timeout * 1000)

    def shown_chars(self, index: int) -> int:
        """Characters cell ``index``'s outputs show now (0 when it has none): a snapshot, never a wait."""
        return self.page.evaluate(
            """([panel, index]) => {
                 const cell = document.querySelectorAll(panel + ' .jp-Notebook .jp-Cell')[index];
                 const out = cell && cell.querySelector('.jp-OutputArea');
                 return out ? out.innerText.length : 0;
               }""",
            [self.panel, index],
        )

    def shoot(self, label: str) -> None:
        """An extra full-page screenshot now (mid-stream, say); a slow one is noted, not fatal."""
        path = artifacts_dir() / f"{_slug(self.name.removesuffix('.ipynb'))}-{_slug(label)}.png"
        try:
            self.page.screenshot(path=str(path), full_page=True, timeout=10_000)
        except Exception as exc:
            self.page.record.errors.append(f"screenshot {label}: {str(exc).splitlines()[0]}")


Cell = str | tuple[str, str]  # code, or ("markdown", source)


def write_notebook(path: Path, cells: Sequence[Cell]) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    for cell in cells:
        kind, source = cell if isinstance(cell, tuple) else ("code", cell)
        nb.cells.append(
            nbformat.v4.new_markdown_cell(source) if kind == "markdown" else nbformat.v4.new_code_cell(source)
        )
    nbformat.write(nb, str(path))


def open_in(
    page: Any, server: Lab, name: str, cells: Sequence[Cell], *, notebook7: bool = False, cls: type = Notebook
) -> Any:
    """Write the notebook into ``server``'s root, open it (in Notebook 7 with ``notebook7``), wait
    for an idle kernel; ``cls`` is the :class:`Notebook` (sub)class that drives it."""
    name = _slug(name) + ".ipynb"
    write_notebook(server.root / name, cells)
    if notebook7:
        page.goto(f"{server.url}/notebooks/{name}?token={server.token}")
    else:
        workspace = _slug(name.removesuffix(".ipynb"))  # its own workspace: no tabs left from other tests
        page.goto(f"{server.url}/lab/workspaces/{workspace}/tree/{name}?reset&token={server.token}")
    try:
        ready = page.wait_for_function(_PANEL_READY, arg=name, timeout=60_000)
    except Exception as exc:
        raise AssertionError(
            f"{name} did not open with an idle kernel: {exc}\nserver log:\n{server.log_tail()}"
        ) from None
    panel_id = ready.json_value()  # the value that ended the wait: the kernel may be busy again now
    if not notebook7:
        # The file browser off: the notebook gets the width (wide tables show whole in screenshots).
        page.evaluate("() => window.jupyterapp.shell.collapseLeft()")
    return cls(page, name, f"#{panel_id}")


@pytest.fixture
def open_notebook(page: Any, lab: Lab, request: pytest.FixtureRequest) -> Callable[..., Notebook]:
    """``open_notebook(cells)``: write the notebook into the Lab's root, open it, wait for an idle kernel."""
    return lambda cells, name=None: open_in(page, lab, name or request.node.name, cells)


@pytest.fixture
def conformance_url(conformance: ConformanceServer) -> Callable[..., str]:
    """``conformance_url("openrouter")`` → the literal base URL to write after ``--base-url``."""
    return conformance.base_url
