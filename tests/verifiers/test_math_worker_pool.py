"""The process pool behind the ``math`` verifier's time limit: results, errors, timeouts, crashes,
threads, lazy start and clean shutdown (stdlib functions stand in for sympy work)."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from rft.verifiers.timeout import WorkerPool


@pytest.fixture(scope="module")
def pool():
    p = WorkerPool(size=2)
    yield p
    p.close()


def _running(pid: int) -> bool:
    try:
        return "State:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False


def test_call_returns_the_value(pool: WorkerPool) -> None:
    outcome = pool.call(pow, (3, 4), timeout=10)
    assert (outcome.status, outcome.value) == ("ok", 81)


def test_an_exception_is_reported_not_raised(pool: WorkerPool) -> None:
    outcome = pool.call(int, ("not a number",), timeout=10)
    assert outcome.status == "error" and outcome.value.startswith("ValueError")


def test_timeout_kills_the_worker_and_the_pool_recovers(pool: WorkerPool) -> None:
    pool.call(pow, (1, 1), timeout=10)
    before = set(pool.pids)
    start = time.monotonic()
    outcome = pool.call(time.sleep, (30,), timeout=0.5)
    assert outcome.status == "timeout"
    assert time.monotonic() - start < 3
    assert len(before - set(pool.pids)) == 1  # the busy worker was killed
    assert pool.call(pow, (2, 5), timeout=10).value == 32


def test_a_crashed_worker_is_replaced(pool: WorkerPool) -> None:
    assert pool.call(os._exit, (3,), timeout=10).status == "crashed"
    assert pool.call(pow, (2, 3), timeout=10).value == 8


def test_calls_from_many_threads(pool: WorkerPool) -> None:
    results: dict[int, object] = {}

    def work(i: int) -> None:
        results[i] = pool.call(pow, (i, 2), timeout=10).value

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert results == {i: i * i for i in range(8)}
    assert len(pool.pids) <= pool.size


def test_map_keeps_order(pool: WorkerPool) -> None:
    outcomes = pool.map(pow, [(i, 3) for i in range(6)], timeout=10)
    assert [o.value for o in outcomes] == [i ** 3 for i in range(6)]


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc to see processes")
def test_lazy_start_and_close() -> None:
    p = WorkerPool(size=2)
    assert p.pids == []
    p.start()
    pids = p.pids
    assert len(pids) == 2 and all(_running(pid) for pid in pids)
    p.close()
    deadline = time.monotonic() + 5
    while any(_running(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_running(pid) for pid in pids)
    assert p.pids == []


def test_size_must_be_positive() -> None:
    with pytest.raises(ValueError):
        WorkerPool(size=0)
