"""The one row schema the structured-output tests (and their kernels) share."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel


class City(BaseModel):
    city: str
    population: int
    area_km2: float
    capital: bool
    continent: Literal["Europe", "Asia"]
