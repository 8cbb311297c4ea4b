"""A batch in a process of its own, for the store tests: ``python -m tests.batch_worker URL N OUT [PREFIX]``.

Runs ``nm.map`` over N rows ``"{PREFIX} row {i}"`` against URL (the conformance server), with the
store that ``NEMOTRON_STORE`` names, and writes the output frame to OUT as JSON.
"""

from __future__ import annotations

import sys

import pandas as pd

import nemotron_magics as nm


def main(url: str, n: int, out: str, prefix: str = "p") -> None:
    df = pd.DataFrame({"text": [f"{prefix} row {i}" for i in range(n)]}, index=[f"t{i}" for i in range(n)])
    frame = nm.map(df, "{text}", base_url=url, concurrency=4, progress=False)
    frame.to_json(out, orient="index")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3], *sys.argv[4:5])
