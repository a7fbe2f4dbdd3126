"""Shared pytest setup: one torch thread per process, the ``--runslow`` flag, paths to offline data."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--runslow", action="store_true", help="also run tests marked slow")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


def shared_data(relative: str) -> Path:
    """Path of a file under ``../shared/data`` next to the repo; skips the test if it is absent."""
    path = SHARED_DATA / relative
    if not path.exists():
        pytest.skip(f"offline data not found: {path}")
    return path


@pytest.fixture
def gsm8k_test() -> Path:
    return shared_data("gsm8k/test.jsonl")


@pytest.fixture
def math500() -> Path:
    return shared_data("math500/test.jsonl")
