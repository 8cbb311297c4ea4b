"""The tutorials write a throwaway store (history, cache), never the user's own."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

# nbval starts each notebook's kernel with this process's environment (--nbval-current-env).
os.environ["NEMOTRON_STORE"] = str(Path(tempfile.mkdtemp(prefix="nemotron-nb-store-")) / "store.sqlite3")
