"""vLLM engine: real vLLM on a tiny random llama (n, indices, stop, seeding, streaming, LoRA, run files).

The vLLM tests start vLLM (15-60 s on 2 CPU cores), so they are marked slow:

    pytest tests/engines/test_vllm_engine.py --runslow

The helpers (prompts with images, missing extra, adapter rank) run in the fast suite.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rft.errors import MissingDependencyError, RftError
from rft.records import Problem, SamplingParams
from tests.engines.conftest import KV_CACHE_BYTES, needs_vllm

PROBLEMS = [Problem(id=f"p{i}", prompt=f"what is {i} plus {i}?", answer=str(2 * i)) for i in range(6)]


def run(engine, problems=PROBLEMS, **kw) -> dict[str, list]:
    params = SamplingParams(**{"n": 4, "max_new_tokens": 12, **kw})
    return {group[0].problem_id: group for group in engine.generate(problems, params)}


@pytest.mark.slow
@pytest.mark.vllm
def test_every_problem_gets_n_indexed_completions_with_token_counts(vllm_engine) -> None:
    out = run(vllm_engine)
    assert sorted(out) == [p.id for p in PROBLEMS]
    prompt_len = {p.id: len(vllm_engine.tokenizer(
        vllm_engine.tokenizer.apply_chat_template(p.messages(), tokenize=False, add_generation_prompt=True),
        add_special_tokens=False)["input_ids"]) for p in PROBLEMS}
    for pid, group in out.items():
        assert [c.index for c in group] == [0, 1, 2, 3] and all(c.problem_id == pid for c in group)
        for c in group:
            assert 0 < c.completion_tokens <= 12
            assert c.finish_reason == ("length" if c.completion_tokens == 12 else "stop")
            assert prompt_len[pid] <= c.prompt_tokens <= prompt_len[pid] + 1  # + BOS
    assert len({c.text for g in out.values() for c in g}) > 20  # sampling, not one repeated answer


@pytest.mark.slow
@pytest.mark.vllm
def test_stop_string_ends_samples_early(vllm_engine) -> None:
    # Random tokens from a 32k vocabulary: an "e" turns up within 32 tokens almost always.
    out = run(vllm_engine, max_new_tokens=32, stop=("e",))
    samples = [c for g in out.values() for c in g]
    assert all("e" not in c.text for c in samples)
    assert sum(c.finish_reason == "stop" and c.completion_tokens < 32 for c in samples) > len(samples) // 2


@pytest.mark.slow
@pytest.mark.vllm
def test_samples_do_not_depend_on_batching_and_follow_the_seed(vllm_engine) -> None:
    wide = run(vllm_engine, seed=3)
    vllm_engine.in_flight = 1
    try:
        narrow = run(vllm_engine, problems=PROBLEMS[::-1], seed=3)
    finally:
        vllm_engine.in_flight = None
    other = run(vllm_engine, seed=4)
    text = lambda r: {pid: [c.text for c in g] for pid, g in r.items()}  # noqa: E731
    assert text(wide) == text(narrow)
    assert text(wide) != text(other)


@pytest.mark.slow
@pytest.mark.vllm
def test_long_prompts_beyond_one_step_budget(vllm_engine) -> None:
    # 16 x 8 requests of ~300 prompt tokens: more than one scheduler step takes. Chunked prefill would
    # split prompts, which kills vLLM 0.32's CPU engine for seeded requests; the engine turns it off.
    problems = [Problem(id=f"long{i}", prompt=f"{i} " + "word " * 300, answer="1") for i in range(16)]
    out = run(vllm_engine, problems=problems, n=8, max_new_tokens=4)
    assert all(c.prompt_tokens > 300 for g in out.values() for c in g)


@pytest.mark.slow
@pytest.mark.vllm
def test_problems_stream_out_before_all_are_queued(vllm_engine, monkeypatch) -> None:
    engine = vllm_engine.llm.llm_engine
    added: list[str] = []
    add = engine.add_request
    monkeypatch.setattr(engine, "add_request", lambda rid, *a, **k: (added.append(rid), add(rid, *a, **k))[1])
    monkeypatch.setattr(vllm_engine, "in_flight", 2)
    stream = vllm_engine.generate(PROBLEMS, SamplingParams(n=2, max_new_tokens=4))
    next(stream)
    assert len(added) == 2  # the first problem came out while 4 were not even queued
    assert len(list(stream)) == len(PROBLEMS) - 1
    assert len(added) == len(PROBLEMS)


@pytest.mark.slow
@pytest.mark.vllm
def test_lora_adapter_matches_transformers_with_peft(vllm_engine, vllm_tiny_model: Path, lora_adapter: Path) -> None:
    from rft.engines.transformers import TransformersEngine

    greedy = SamplingParams(n=1, temperature=0, max_new_tokens=8)
    ids = lambda engine, text: engine.tokenizer(text, add_special_tokens=False)["input_ids"]  # noqa: E731
    ours = {g[0].problem_id: g[0].text for g in vllm_engine.generate(PROBLEMS[:3], greedy)}
    for adapter in (str(lora_adapter), None):
        hf = TransformersEngine(str(vllm_tiny_model), dtype="float32", adapter=adapter)
        ref = {g[0].problem_id: g[0].text for g in hf.generate(PROBLEMS[:3], greedy)}
        same = all(ids(hf, ours[p]) == ids(hf, ref[p]) for p in ours)
        assert same == (adapter is not None), f"adapter={adapter}: vLLM {ours} vs transformers {ref}"
    assert vllm_engine.model_id.endswith(f"+{lora_adapter.name}")


@pytest.mark.slow
@pytest.mark.vllm
def test_images_for_a_text_only_model_are_a_clear_error(vllm_engine, tmp_path: Path) -> None:
    from PIL import Image

    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    problem = Problem(id="img", prompt="what is shown?", answer="1", images=(str(tmp_path / "a.png"),))
    with pytest.raises(RftError, match="takes no images"):
        next(vllm_engine.generate([problem], SamplingParams(n=1)))


@pytest.mark.slow
@pytest.mark.vllm
def test_head_size_unsupported_on_cpu_fails_before_loading() -> None:
    needs_vllm()
    from vllm.platforms import current_platform

    from rft.catalog import resolve
    from rft.engines.vllm import VLLMEngine

    if not current_platform.is_cpu():
        pytest.skip("the head-size check is for vLLM's CPU backend")
    with pytest.raises(RftError, match="head size 4"):
        VLLMEngine(resolve("tiny-random-llama"))


@pytest.mark.slow
@pytest.mark.vllm
def test_rft_generate_end_to_end(vllm_tiny_model: Path, tmp_path: Path) -> None:
    needs_vllm()
    from rft.cli import main

    out = tmp_path / "run"
    code = main(["generate", "--task", "arith", "--task-arg", "count=5", "--model", str(vllm_tiny_model),
                 "--engine", "vllm", "--engine-arg", f"kv_cache_memory_bytes={KV_CACHE_BYTES}",
                 "--n", "3", "--max-new-tokens", "8", "--out", str(out), "--no-progress"])
    assert code == 0
    assert {"config.json", "problems.jsonl", "samples.jsonl", "summary.json"} <= {p.name for p in out.iterdir()}
    samples = [json.loads(line) for line in (out / "samples.jsonl").open()]
    assert len(samples) == 15 and len({s["id"] for s in samples}) == 15
    assert all(s["verdict"] is not None and s["completion_tokens"] > 0 for s in samples)
    assert json.loads((out / "config.json").read_text())["engine"]["name"] == "vllm"
    assert json.loads((out / "summary.json").read_text())["samples"] == 15


# ------------------------------------------------------------------ fast: no vLLM needed

def test_prompt_with_images_has_placeholders_and_pil_images(tmp_path: Path) -> None:
    from PIL import Image
    from transformers import AutoTokenizer

    from rft.catalog import resolve
    from rft.engines.vllm import vllm_prompt

    tokenizer = AutoTokenizer.from_pretrained(resolve("tiny-random-llama"))
    tokenizer.chat_template = ("{% for m in messages %}{{ m.role }}:{% if m.content is string %}{{ m.content }}"
                               "{% else %}{% for p in m.content %}{% if p.type == 'image' %}<image>{% else %}"
                               "{{ p.text }}{% endif %}{% endfor %}{% endif %}{{ '\\n' }}{% endfor %}assistant:")
    Image.new("RGB", (4, 3), "red").save(tmp_path / "a.png")
    Image.new("L", (2, 2)).save(tmp_path / "b.png")
    images = (str(tmp_path / "a.png"), str(tmp_path / "b.png"))
    problem = Problem(id="v", prompt="compare them", answer="1", images=images)
    prompt = vllm_prompt(tokenizer, problem)
    assert prompt["prompt"] == "user:<image><image>compare them\nassistant:"
    a, b = prompt["multi_modal_data"]["image"]
    assert (a.size, a.mode, b.mode) == ((4, 3), "RGB", "RGB")
    assert vllm_prompt(tokenizer, Problem(id="t", prompt="hi", answer="1")) == "user:hi\nassistant:"
    with pytest.raises(RftError, match="not found"):
        vllm_prompt(tokenizer, Problem(id="x", prompt="?", answer="1", images=(str(tmp_path / "gone.png"),)))


def test_missing_vllm_fails_at_once_with_the_pip_line(monkeypatch) -> None:
    import importlib.util

    from rft.engines.vllm import VLLMEngine

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "vllm" else real(name, *a))
    with pytest.raises(MissingDependencyError, match=r"pip install 'rftkit\[vllm"):
        VLLMEngine("tiny-random-llama")


def test_adapter_rank_is_rounded_up_to_a_rank_vllm_accepts(tmp_path: Path) -> None:
    from rft.engines.vllm import _lora_rank

    with pytest.raises(RftError, match="adapter_config.json"):
        _lora_rank(str(tmp_path))
    for r, expected in [(4, 8), (8, 8), (20, 32), (64, 64)]:
        (tmp_path / "adapter_config.json").write_text(json.dumps({"r": r}))
        assert _lora_rank(str(tmp_path)) == expected


@pytest.mark.parametrize("available, expected", [(100 << 30, 4 << 30), (8 << 30, 2 << 30), (512 << 20, 256 << 20)])
def test_default_kv_cache_is_a_bounded_share_of_free_memory(monkeypatch, available: int, expected: int) -> None:
    import types

    import psutil

    from rft.engines.vllm import default_kv_cache_bytes

    monkeypatch.setattr(psutil, "virtual_memory", lambda: types.SimpleNamespace(available=available))
    assert default_kv_cache_bytes() == expected
