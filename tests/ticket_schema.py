"""The row schema the batch tests, their kernels, Dask workers and the tutorial's stand-in share:
what the conformance server's ``tickets`` scenario answers (``tests/conformance/batch.py``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel


class Ticket(BaseModel):
    category: Literal["billing", "bug", "account", "other"]
    priority: int
    urgent: bool
