"""Main-thread cost in the browser of a long answer streaming into JupyterLab: our renderer vs the fallback.

A real JupyterLab (started as the browser tests start it) in Debian's Chromium runs
``%%nemotron`` against the loopback conformance server, which plays a ``--chars`` Markdown answer
at ``--rate`` characters a second. Twice, in the same run: once with our extension (the kernel
sends appends over the ``nemotron.live`` comm; the extension renders Markdown itself), once with
the extension disabled (the kernel's HTML fallback: segments and a tail re-sent as HTML, as VS
Code and Colab get it). For each, from the page:

- long tasks (``PerformanceObserver`` ``longtask``: every main-thread task over 50 ms) while the
  cell streams, and after it (the final bundle);
- main-thread time (Chrome DevTools ``Performance.getMetrics`` ``TaskDuration``: script, style,
  layout and paint) over the whole cell.

Bars (issue #10): no task over 50 ms while streaming through the extension, and its main-thread
time at most the fallback's.

    python benchmarks/lab_render.py [--chars 100000] [--rate 2000] [--chunk 4]
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the Lab and server fixtures live in tests/
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, VIEWPORT, open_in, start_lab
from tests.conformance.server import ConformanceServer

_OBSERVE = """
() => {
  window.__long = [];
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) window.__long.push([e.startTime, e.duration]);
  }).observe({type: 'longtask'});
  window.__mark = (name) => { window['__t_' + name] = performance.now(); };
}
"""
# Marks the end of streaming from the page's own clock. It polls (4 a second) and reads
# textContent, which needs no layout: the probe must not add to what it measures.
_WATCH = """
() => {
  const panel = window.jupyterapp.shell.currentWidget;
  const poll = () => {
    const out = panel.content.widgets[1].node.querySelector('.jp-OutputArea');
    const started = out && out.textContent.length > 200;
    if (started && panel.sessionContext.session.kernel.status === 'idle') {
      window.__mark('idle');
    } else {
      setTimeout(poll, 250);
    }
  };
  setTimeout(poll, 250);
}
"""
#: Chrome's main-thread counters (seconds): all of it, and the parts of it.
METRICS = ("TaskDuration", "ScriptDuration", "RecalcStyleDuration", "LayoutDuration")


def main_thread(cdp: Any) -> dict[str, float]:
    metrics = cdp.send("Performance.getMetrics")["metrics"]
    return {m["name"]: float(m["value"]) for m in metrics if m["name"] in METRICS}


def measure(browser: Any, conformance: ConformanceServer, *, extension: bool, args: Any) -> dict[str, Any]:
    url = conformance.base_url("long", chars=args.chars, chunk=args.chunk, rate=args.rate)
    cells = ["%load_ext nemotron_magics", f"%%nemotron -p local --base-url {url} --reasoning off\nWrite."]
    lab_gen = start_lab(conformance, extension=extension)
    lab = next(lab_gen)
    context = browser.new_context(viewport=VIEWPORT)
    try:
        page = context.new_page()
        page.set_default_timeout(60_000)
        page.shots = []
        nb = open_in(page, lab, f"bench-{'ext' if extension else 'fallback'}", cells)
        page.evaluate(_OBSERVE)
        cdp = context.new_cdp_session(page)
        cdp.send("Performance.enable")
        page.evaluate("() => { window.jupyterapp.shell.currentWidget.content.activeCellIndex = 0; }")
        page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-cell')")
        page.wait_for_function(
            "() => window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.status === 'idle'"
        )
        page.wait_for_timeout(1000)  # the handshake, and the page settles
        before = main_thread(cdp)
        t0 = time.perf_counter()
        page.evaluate("() => { window.__t_start = performance.now(); }")
        nb.page.evaluate("() => { window.jupyterapp.shell.currentWidget.content.activeCellIndex = 1; }")
        page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-cell')")
        page.evaluate(_WATCH)
        page.wait_for_function(
            "() => window.__t_idle !== undefined", timeout=(args.chars / args.rate * 4 + 60) * 1000
        )
        page.wait_for_timeout(2000)  # the final bundle's render
        wall = time.perf_counter() - t0
        after_ = main_thread(cdp)
        spent = {k: after_[k] - before[k] for k in METRICS}
        start, idle, long = page.evaluate("() => [window.__t_start, window.__t_idle, window.__long]")
        shown = page.evaluate(
            "() => window.jupyterapp.shell.currentWidget.content.widgets[1].node"
            ".querySelector('.jp-OutputArea').innerText.length"
        )
        ours = page.locator(".jp-RenderedNemotron").count()
        # The kernel going idle ends the stream; the 2 s after it hold the final bundle's render.
        streaming = [d for s, d in long if start <= s < idle - 500]
        after = [d for s, d in long if s >= idle - 500]
        return {
            "wall": wall,
            "main": spent["TaskDuration"],
            "parts": spent,
            "streaming": streaming,
            "after": after,
            "shown": shown,
            "ours": ours,
        }
    finally:
        context.close()
        with contextlib.suppress(StopIteration):
            next(lab_gen)


def line(name: str, m: dict[str, Any]) -> None:
    s, a = m["streaming"], m["after"]
    print(
        f"  {name:<22} main thread {m['main']:6.2f} s of {m['wall']:5.1f} s; long tasks while streaming: "
        f"{len(s)} (longest {max(s, default=0):.0f} ms), "
        f"after: {len(a)} (longest {max(a, default=0):.0f} ms); "
        f"{m['shown']:,} characters on screen"
    )
    p = m["parts"]
    print(
        f"  {'':<22} of which script {p['ScriptDuration']:.2f} s, style {p['RecalcStyleDuration']:.2f} s, "
        f"layout {p['LayoutDuration']:.2f} s"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chars", type=int, default=100_000, help="answer size in characters")
    parser.add_argument("--rate", type=float, default=2000.0, help="characters per second")
    parser.add_argument("--chunk", type=int, default=4, help="characters per delta (a token is ~4)")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    print(
        f"lab render: {args.chars:,}-char Markdown answer at {args.rate:,.0f} chars/s into JupyterLab "
        f"in Chromium ({CHROMIUM})"
    )
    with ConformanceServer() as conformance, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            ext = measure(browser, conformance, extension=True, args=args)
            line("extension", ext)
            fallback = measure(browser, conformance, extension=False, args=args)
            line("fallback (HTML)", fallback)
        finally:
            browser.close()
    no_long = not ext["streaming"]
    cheaper = ext["main"] <= fallback["main"]
    rendered = ext["ours"] == 1
    print(
        f"no task over 50 ms while streaming: {'PASS' if no_long else 'FAIL'}; main-thread time "
        f"{ext['main']:.2f} s vs {fallback['main']:.2f} s = {ext['main'] / max(fallback['main'], 1e-9):.2f}x "
        f"(bar <= 1: {'PASS' if cheaper else 'FAIL'}); "
        f"rendered by the extension: {'yes' if rendered else 'NO'}"
    )
    return 0 if no_long and cheaper and rendered else 1


if __name__ == "__main__":
    sys.exit(main())
