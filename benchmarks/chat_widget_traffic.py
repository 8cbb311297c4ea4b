"""Bytes of widget messages the chat box sends to the frontend, per byte of answer.

The chat widget renders with the live display, into ``ipywidgets.HTML`` values instead of display
messages. A real ipykernel shows the box; a small frontend (``tests/widget_frontend.py``) presses
Enter in it through the comm message the browser sends, and counts every ``comm_open``,
``comm_msg`` and ``comm_close`` the kernel sends while the answer streams: the loopback conformance
server plays a Markdown answer paced at ``--rate`` characters per second in ``--chunk``-character
deltas.

Bar (the display's, issue #3 and #9): ≤ 25 bytes per byte for a 100 kB answer at 2,000 chars/s.

    python benchmarks/chat_widget_traffic.py [--chars 100000] [--rate 2000] [--chunk 4]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ holds the server and the frontend
from tests.conformance.server import ConformanceServer
from tests.kernels import Kernel
from tests.widget_frontend import Frontend


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chars", type=int, default=100_000, help="answer size in characters")
    parser.add_argument("--rate", type=float, default=2000.0, help="characters per second")
    parser.add_argument("--chunk", type=int, default=4, help="characters per delta (a token is ~4)")
    args = parser.parse_args()

    with ConformanceServer() as server:
        url = server.base_url("long", chars=args.chars, chunk=args.chunk, rate=args.rate)
        os.environ["NEMOTRON_PROVIDER"] = "local"
        kernel = Kernel()
        try:
            f = Frontend(kernel)
            f.ok(
                "import nemotron_magics as nm\n"
                f"nm.configure(provider='local', base_url={url!r}, reasoning='off', max_retries=0)\n"
                "c = nm.chat_widget('bench')\ndisplay(c.widget)"
            )
            ids = f.value("{'input': c.input.model_id}")
            f.pump(0.5)
            before, count = f.traffic.bytes, f.traffic.opens + f.traffic.updates + f.traffic.closes
            t0 = time.perf_counter()
            f.custom(ids["input"], {"event": "submit", "text": "Write a long answer."})
            f.until(lambda: f.state(ids["input"]).get("disabled") is True, 10, "streaming")
            f.until(lambda: f.state(ids["input"]).get("disabled") is False, args.chars / args.rate * 4 + 60)
            seconds = time.perf_counter() - t0
            f.pump(0.5)
            got = f.value("len(c.session.turns[-1].response.content)")
        finally:
            kernel.stop()

    sent = f.traffic.bytes - before
    messages = f.traffic.opens + f.traffic.updates + f.traffic.closes - count
    ratio = sent / args.chars
    ok = ratio <= 25 and got == args.chars
    print(
        f"chat widget traffic: {args.chars:,}-char Markdown answer at {args.rate:,.0f} chars/s "
        f"({args.chunk}-char deltas), real ipykernel: {messages:,} widget messages, {sent:,} bytes in "
        f"{seconds:.1f} s; answer complete: {got == args.chars}"
    )
    print(f"bytes per byte of answer: {ratio:.1f} (bar <= 25: {'PASS' if ok else 'FAIL'})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
