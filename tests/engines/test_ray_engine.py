"""Ray engine: 2 replicas of the transformers engine on a local Ray instance (2 CPUs, 1 thread each).

Each test starts its own Ray instance (~5 s) and replicas (~10 s on 2 busy cores); one runs in the
fast suite, the error path and the end-to-end run are marked slow:

    pytest tests/engines/test_ray_engine.py --runslow
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rft.errors import MissingDependencyError, RftError, UnknownPluginError
from rft.records import Problem, SamplingParams

TINY = "tiny-random-llama"
PROBLEMS = [Problem(id=f"p{i}", prompt="word " * (i + 1), answer="1") for i in range(8)]


def texts(groups) -> dict[str, list[str]]:
    out = {}
    for group in groups:
        assert [c.index for c in group] == list(range(len(group)))
        out[group[0].problem_id] = [c.text for c in group]
    return out


@pytest.mark.ray
def test_replicas_share_the_work_and_match_the_in_process_engine() -> None:
    pytest.importorskip("ray")
    from rft.engines.ray import RayEngine
    from rft.engines.transformers import TransformersEngine

    # batch_size == n: one problem per generate call, so each problem's seed (and text) is independent of
    # which replica samples it; the merged stream must then equal the in-process engine's output.
    params = SamplingParams(n=2, max_new_tokens=6, seed=5)
    engine = RayEngine(TINY, engine="transformers", replicas=2, threads=1, batch_size=2, chunk_size=2)
    try:
        merged = texts(engine.generate(PROBLEMS, params))
        assert all(n >= 2 for n in engine.problems_per_replica)  # both replicas sampled
        assert engine.model_id == TINY
    finally:
        engine.close()
    local = TransformersEngine(TINY, threads=1, batch_size=2)
    assert merged == texts(local.generate(PROBLEMS, params))


@pytest.mark.slow
@pytest.mark.ray
def test_replica_errors_surface_as_the_inner_error_and_ray_stops() -> None:
    pytest.importorskip("ray")
    import ray

    from rft.engines.ray import RayEngine

    with pytest.raises(UnknownPluginError, match="unknown model 'no-such-model'"):
        RayEngine("no-such-model", engine="transformers", replicas=1)
    assert not ray.is_initialized()


def test_bad_arguments_fail_before_starting_ray() -> None:
    pytest.importorskip("ray")
    from rft.engines.ray import RayEngine

    with pytest.raises(RftError, match="cannot wrap itself"):
        RayEngine(TINY, engine="ray")
    with pytest.raises(RftError, match="replicas must be >= 1"):
        RayEngine(TINY, replicas=0)


@pytest.mark.slow
@pytest.mark.ray
def test_rft_generate_end_to_end(tmp_path: Path) -> None:
    pytest.importorskip("ray")
    from rft.cli import main

    out = tmp_path / "run"
    code = main(["generate", "--task", "arith", "--task-arg", "count=6", "--model", TINY, "--engine", "ray",
                 "--engine-arg", "engine=transformers", "--engine-arg", "replicas=2", "--engine-arg", "threads=1",
                 "--n", "2", "--max-new-tokens", "6", "--out", str(out), "--no-progress"])
    assert code == 0
    assert {"config.json", "problems.jsonl", "samples.jsonl", "summary.json"} <= {p.name for p in out.iterdir()}
    samples = [json.loads(line) for line in (out / "samples.jsonl").open()]
    assert len(samples) == 12 and len({s["id"] for s in samples}) == 12
    assert {s["model"] for s in samples} == {TINY}
    assert json.loads((out / "config.json").read_text())["engine"] == {
        "name": "ray", "engine": "transformers", "replicas": 2, "threads": 1}


def test_missing_ray_fails_at_once_with_the_pip_line(monkeypatch) -> None:
    import importlib.util

    from rft.engines.ray import RayEngine

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "ray" else real(name, *a))
    with pytest.raises(MissingDependencyError, match=r"pip install 'rftkit\[ray\]'"):
        RayEngine(TINY)
