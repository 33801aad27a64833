"""Shared fixtures: paths into ../shared-free copies of reference data and generated synthetic datasets."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def seed_table_rows() -> list[dict]:
    with open(REPO / "fashiondemo" / "data" / "seed_table2.csv", newline="") as f:
        return list(csv.DictReader(f))
