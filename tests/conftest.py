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


# Synthetic Fashionpedia-format data (fashiondemo.synthetic), generated once per test session.
SYNTHETIC_TRAIN_IMAGES = 12
SYNTHETIC_VAL_IMAGES = 4


@pytest.fixture(scope="session")
def synthetic_dataset(tmp_path_factory) -> Path:
    """Folder with instances_attributes_{train,val}2020.json, train/ (12 jpgs) and test/ (4 jpgs), seed 0."""
    from fashiondemo.synthetic import write_dataset

    return write_dataset(
        tmp_path_factory.mktemp("synthetic"), SYNTHETIC_TRAIN_IMAGES, SYNTHETIC_VAL_IMAGES, seed=0
    )


@pytest.fixture(scope="session")
def prepared_dataset(synthetic_dataset, tmp_path_factory) -> Path:
    """mmseg layout of `synthetic_dataset`: img_dir/{train,val}/*.jpg + ann_dir/{train,val}/*.png."""
    from fashiondemo.prepare import prepare_split

    out = tmp_path_factory.mktemp("prepared")
    for json_name, folder in (
        ("instances_attributes_train2020.json", "train"),
        ("instances_attributes_val2020.json", "test"),
    ):
        summary = prepare_split(synthetic_dataset / json_name, synthetic_dataset / folder, out, max_side=1024)
        assert not summary.failed, summary.failed
    return out


# The app in a subprocess with random weights and no downloads (tests/appserver.py), shared by client and
# browser tests: one model load per test session.
@pytest.fixture(scope="session")
def random_app(tmp_path_factory):
    from appserver import running_app

    env = {"FASHIONDEMO_CHECKPOINT_DIR": str(tmp_path_factory.mktemp("no-checkpoints"))}
    with running_app("--random-weights", "--no-download", env=env) as app:
        yield app
