"""Bytes of display messages a live answer sends to the frontend, per byte of answer.

A real ipykernel runs ``show_stream`` on a real HTTP stream: the loopback conformance server
plays a Markdown answer (headings, lists, fenced code, tables) paced at ``--rate`` characters
per second in deltas of ``--chunk`` characters. A raw ZeroMQ subscriber on the kernel's iopub
socket counts every frame of every ``display_data``, ``update_display_data`` and
``clear_output`` message of that cell: what the Jupyter server receives and relays to the
browser. In the same run, the same stream is shown the naive way (the whole Response
re-displayed at the same ``max_rate``) as the baseline.

Bar (issue #3): ≤ 25 bytes per byte for a 100 kB answer at 2,000 chars/s; the naive way
costs over a thousand.

With our JupyterLab extension (issue #10): the same cells once more after the benchmark plays
the extension's side of the ``nemotron.live`` comm (it opens one with ``{"renderer": 1}``, as a
page does). The kernel then sends one output and appends as ``comm_msg``; those count too.
Same bars.

The table case (issue #8): a structured answer of ``--table-rows`` rows (2,000) streams as
``{"items": [...]}`` JSON with ``schema=list[City]``; the live display shows the table growing
row by row. Same bar: ≤ 25 bytes per byte and ≤ 20 updates a second.

    python benchmarks/display_traffic.py [--chars 100000] [--rate 2000] [--chunk 4] [--no-naive]
                                         [--table-rows 2000] [--no-text] [--no-lab]
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import zmq
from jupyter_client.manager import KernelManager

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the conformance server lives in tests/
from tests.conformance.server import ConformanceServer
from tests.conformance.streams import table_rows

DISPLAY_TYPES = ("display_data", "update_display_data", "clear_output", "comm_msg")
MIME = "application/vnd.nemotron.response+json"

SETUP = """
import time
import nemotron_magics as nm
from IPython.display import display
from nemotron_magics.display import show_stream
client = nm.Client("local", base_url={url!r}, model="m", reasoning="off")
"""

TABLE_SETUP = """
from typing import Literal
from pydantic import BaseModel
class City(BaseModel):
    city: str
    population: int
    area_km2: float
    capital: bool
    continent: Literal["Europe", "Asia"]
table_client = nm.Client("local", base_url={url!r}, model="m", reasoning="off")
"""
TABLE = (
    "_t = show_stream(table_client.stream('Cities as rows.', schema=list[City]), max_rate={max_rate}); "
    "assert _t.to_dataframe().shape == ({rows}, 5), _t.validation_errors"
)

ATTACHED = "from nemotron_magics._frontend import frontends\nassert frontends.attached()"
LIVE = "_r = show_stream(client.stream('Write a long answer.'), max_rate={max_rate})"

# The obvious implementation: keep re-displaying the Response (its whole bundle), throttled the same.
NAIVE = """
_s = client.stream('Write a long answer.')
_h = display(_s.response, display_id=True)
_next = 0.0
for _ in _s:
    if time.perf_counter() >= _next:
        _h.update(_s.response)
        _next = time.perf_counter() + 1 / {max_rate}  # after rendering: never starve the stream
_h.update(_s.response)
"""


class IOPubTap:
    """Counts raw iopub frames per (cell, message type) from a subscriber of its own."""

    def __init__(self, km: KernelManager) -> None:
        self.sock = km.connect_iopub()
        self.bytes: dict[str, Counter[str]] = defaultdict(Counter)
        self.count: dict[str, Counter[str]] = defaultdict(Counter)
        self.times: dict[str, list[float]] = defaultdict(list)
        self.sizes: dict[str, list[int]] = defaultdict(list)
        self.bundle: dict[str, dict[str, Any]] = {}  # the last complete bundle of each cell
        self.bundle_at: dict[str, int] = {}  # its index among the cell's display messages
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        poller = zmq.Poller()
        poller.register(self.sock, zmq.POLLIN)
        while not self._stop.is_set():
            if not poller.poll(100):
                continue
            frames = self.sock.recv_multipart()
            delim = frames.index(b"<IDS|MSG>")
            header = json.loads(frames[delim + 2])
            kind = header["msg_type"]
            if kind not in DISPLAY_TYPES:
                continue
            cell = json.loads(frames[delim + 3]).get("msg_id", "")
            size = sum(len(f) for f in frames)
            self.bytes[cell][kind] += size
            self.count[cell][kind] += 1
            self.times[cell].append(time.perf_counter())
            self.sizes[cell].append(size)
            if b"application/vnd.nemotron.response+json" in frames[delim + 5]:
                data = json.loads(frames[delim + 5]).get("data", {})
                if MIME in data:
                    self.bundle[cell] = data[MIME]
                    self.bundle_at[cell] = len(self.sizes[cell]) - 1

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close(linger=0)


def run_cell(km: KernelManager, kc: Any, code: str, timeout: float) -> str:
    reply = kc.execute_interactive(code, timeout=timeout, output_hook=lambda msg: None)
    if reply["content"]["status"] != "ok":
        raise RuntimeError(f"cell failed: {reply['content'].get('ename')}: {reply['content'].get('evalue')}")
    return str(reply["parent_header"]["msg_id"])


def max_per_second(times: list[float]) -> int:
    """The most messages in any one-second window."""
    best, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] > 1.0:
            start += 1
        best = max(best, end - start + 1)
    return best


def report(name: str, tap: IOPubTap, cell: str, chars: int, seconds: float) -> float:
    """Print one line for the cell's display traffic; return bytes per byte of answer."""
    total = sum(tap.bytes[cell].values())
    counts = tap.count[cell]
    at = tap.bundle_at.get(cell, len(tap.sizes[cell]))
    streaming = tap.times[cell][:at]
    print(
        f"  {name:<14}{sum(counts.values()):>6,} messages ({counts['display_data']} new, "
        f"{counts['update_display_data']:,} updates, {counts['clear_output']} clears"
        + (f", {counts['comm_msg']:,} comm appends" if counts["comm_msg"] else "")
        + f"), {total:>12,} bytes "
        f"in {seconds:5.1f} s; busiest second while streaming: {max_per_second(streaming)} messages"
        f"  ->  {total / chars:,.1f} bytes per byte of answer"
    )
    return total / chars


def describe_final(tap: IOPubTap, cell: str, chars: int) -> bool:
    """Print what the last bundle holds; True when it is the whole answer."""
    final = tap.bundle.get(cell, {})
    at = tap.bundle_at.get(cell, -1)
    sizes = tap.sizes[cell]
    got = len(final.get("content", ""))
    whole = got == chars and final.get("done") is True
    print(
        f"  {'':<14}of which the end: one complete bundle ({sizes[at]:,} bytes, {got:,} "
        f"chars of answer: {'the whole answer' if whole else 'NOT the whole answer'}) in the first output, "
        f"then {len(sizes) - at - 1} other outputs emptied ({sum(sizes[at + 1 :]):,} bytes)"
    )
    return whole


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chars", type=int, default=100_000, help="answer size in characters")
    parser.add_argument("--rate", type=float, default=2000.0, help="characters per second")
    parser.add_argument("--chunk", type=int, default=4, help="characters per delta (a token is ~4)")
    parser.add_argument("--max-rate", type=float, default=20.0, help="display updates per second")
    parser.add_argument("--no-naive", action="store_true", help="skip the naive baseline")
    parser.add_argument("--table-rows", type=int, default=2000, help="rows of the table case (0: skip it)")
    parser.add_argument("--no-text", action="store_true", help="only the table case")
    parser.add_argument("--no-lab", action="store_true", help="skip the cells with the extension's comm")
    args = parser.parse_args()
    table_chars = len(json.dumps({"items": table_rows(args.table_rows)}, ensure_ascii=False))

    timeout = args.chars / args.rate * 4 + 120
    with ConformanceServer() as server:
        url = server.base_url("long", chars=args.chars, chunk=args.chunk, rate=args.rate)
        table_url = server.base_url("table", rows=args.table_rows, chunk=args.chunk, rate=args.rate)
        km = KernelManager(kernel_name="python3")
        km.start_kernel()
        kc = km.client()
        kc.start_channels()
        tap = IOPubTap(km)
        try:
            kc.wait_for_ready(timeout=60)
            run_cell(km, kc, SETUP.format(url=url), 60)
            run_cell(km, kc, TABLE_SETUP.format(url=table_url), 60)
            time.sleep(0.5)  # the tap's subscription is live before the measured cells start
            print(
                f"display traffic: {args.chars:,}-char Markdown answer at {args.rate:,.0f} chars/s "
                f"({args.chunk}-char deltas) from a loopback server, max_rate {args.max_rate:g}/s, "
                f"measured on a real ipykernel's iopub"
            )

            ratio, whole, naive_ratio = 0.0, True, None
            if not args.no_text:
                t0 = time.perf_counter()
                live = run_cell(km, kc, LIVE.format(max_rate=args.max_rate), timeout)
                live_s = time.perf_counter() - t0
                time.sleep(0.5)
                ratio = report("live display", tap, live, args.chars, live_s)
                whole = describe_final(tap, live, args.chars)

            table_ratio, table_rate, table_mean, table_whole = 0.0, 0, 0.0, True
            if args.table_rows:
                print(
                    f"table: {args.table_rows:,} rows, {table_chars:,} chars of JSON at {args.rate:,.0f} "
                    "chars/s "
                    f"({args.chunk}-char deltas), schema=list[City]"
                )
                t0 = time.perf_counter()
                code = TABLE.format(max_rate=args.max_rate, rows=args.table_rows)
                cell = run_cell(km, kc, code, table_chars / args.rate * 4 + 120)
                table_s = time.perf_counter() - t0
                time.sleep(0.5)
                table_ratio = report("live table", tap, cell, table_chars, table_s)
                table_whole = describe_final(tap, cell, table_chars)
                at = tap.bundle_at.get(cell, len(tap.sizes[cell]))
                table_rate = max_per_second(tap.times[cell][:at])
                table_mean = at / table_s
                print(
                    f"  {'':<14}updates a second while streaming: {table_mean:.1f} on average, "
                    f"{table_rate} in the busiest one-second window"
                )

            if not args.no_naive and not args.no_text:
                t0 = time.perf_counter()
                naive = run_cell(km, kc, NAIVE.format(max_rate=args.max_rate), timeout)
                naive_s = time.perf_counter() - t0
                time.sleep(0.5)
                naive_ratio = report("naive re-send", tap, naive, args.chars, naive_s)
                updates = sum(tap.count[naive].values())
                if updates < 0.9 * args.max_rate * naive_s:
                    print(
                        f"  {'':<14}(the naive loop managed {updates / naive_s:.1f} updates/s, "
                        f"not {args.max_rate:g}: "
                        "rendering the whole growing answer takes longer than 1/max_rate)"
                    )
            lab: dict[str, tuple[float, int, float, bool]] = {}
            if not args.no_lab:
                # The extension's side of the handshake: a page that opens its own comm.
                run_cell(km, kc, "%load_ext nemotron_magics", 60)
                hello = {"comm_id": uuid.uuid4().hex, "target_name": "nemotron.live", "data": {"renderer": 1}}
                kc.shell_channel.send(kc.session.msg("comm_open", hello))
                run_cell(km, kc, ATTACHED, 60)
                print("with the JupyterLab extension (appends over the nemotron.live comm):")
                cases = []
                if not args.no_text:
                    cases.append(("live display", LIVE.format(max_rate=args.max_rate), args.chars, timeout))
                if args.table_rows:
                    code = TABLE.format(max_rate=args.max_rate, rows=args.table_rows)
                    cases.append(("live table", code, table_chars, table_chars / args.rate * 4 + 120))
                for name, code, chars, limit in cases:
                    t0 = time.perf_counter()
                    cell = run_cell(km, kc, code, limit)
                    seconds = time.perf_counter() - t0
                    time.sleep(0.5)
                    r = report(name, tap, cell, chars, seconds)
                    done = describe_final(tap, cell, chars)
                    at = tap.bundle_at.get(cell, len(tap.sizes[cell]))
                    lab[name] = (r, max_per_second(tap.times[cell][:at]), at / seconds, done)
        finally:
            tap.close()
            kc.stop_channels()
            km.shutdown_kernel(now=True)

    ok = ratio <= 25 and whole
    if not args.no_text:
        print(
            f"bytes per byte of answer: {ratio:.1f} (bar <= 25: {'PASS' if ok else 'FAIL'})"
            + (f"; naive {naive_ratio:,.0f}, {naive_ratio / ratio:,.0f}x more" if naive_ratio else "")
        )
    if args.table_rows:
        # A window of one second can hold the tick at each of its ends plus one tick's second
        # message (a sealed segment and the tail): max_rate + 2 is the budget's own edge.
        table_ok = (
            table_ratio <= 25
            and table_mean <= args.max_rate
            and table_rate <= args.max_rate + 2
            and table_whole
        )
        print(
            f"table: bytes per byte of answer: {table_ratio:.1f}; updates {table_mean:.1f}/s on average, "
            f"busiest window {table_rate} (bar <= 25 B/B and <= {args.max_rate:g}/s: "
            f"{'PASS' if table_ok else 'FAIL'})"
        )
        ok = ok and table_ok
    for name, (r, busiest, mean, done) in lab.items():
        lab_ok = r <= 25 and mean <= args.max_rate and busiest <= args.max_rate + 2 and done
        print(
            f"extension, {name}: bytes per byte of answer: {r:.1f}; updates {mean:.1f}/s on average, "
            f"busiest window {busiest} (bar <= 25 B/B and <= {args.max_rate:g}/s: "
            f"{'PASS' if lab_ok else 'FAIL'})"
        )
        ok = ok and lab_ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
