"""Tests of ``rft run`` (`rft.loop`): a micro config runs every stage end to end and writes the report,
a re-run does no new work, and bad configs fail before any sampling.

The sampler is the tiny random llama after `rft.train` taught it to answer "#### 7", on GSM8K-format
questions whose answer is 7: real samples, real verified-correct paths, a real pool and training.

    pytest tests/test_loop.py
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from rft.cli import main
from rft.errors import RftError
from rft.evaluate import EvalConfig, evaluate
from rft.loop import STAGES, load_config
from rft.train import TrainConfig, train

pytest.importorskip("peft")
pytestmark = pytest.mark.filterwarnings("ignore:Setting `save_embedding_layers`")

QUESTIONS = [f"Ann has {i} apples and buys {7 - i} more. How many apples does she have?" for i in range(1, 6)]
TINY_LORA = {"target_modules": ["q_proj", "v_proj", "lm_head"], "batch_size": 2, "grad_accum": 1}


@pytest.fixture(scope="module")
def sevens(tmp_path_factory) -> Path:
    """A GSM8K-format file of questions whose answer is 7."""
    path = tmp_path_factory.mktemp("data") / "sevens.jsonl"
    path.write_text("".join(json.dumps({"query": q, "response": f"{i} + {7 - i} = 7\n#### 7"}) + "\n"
                            for i, q in enumerate(QUESTIONS, 1)), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def seven_model(tmp_path_factory, sevens) -> str:
    """tiny-random-llama fine-tuned (and merged) to answer the questions of `sevens` with "#### 7"."""
    from rft.tasks.gsm8k import GSM8KTask

    root = tmp_path_factory.mktemp("seven-model")
    rows = [{"messages": p.messages() + [{"role": "assistant", "content": "#### 7"}]}
            for p in GSM8KTask(data=str(sevens)).problems()]
    (root / "sft").mkdir()
    (root / "sft" / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    train(TrainConfig(data=root / "sft", out=root / "adapter", model="tiny-random-llama", max_steps=30,
                      learning_rate=0.1, warmup=0, merge=True, progress=False, **TINY_LORA))
    return str(root / "adapter" / "merged")


def test_eval_tells_the_trained_model_from_the_base(tmp_path, sevens, seven_model):
    common = dict(task="gsm8k", data=str(sevens), max_new_tokens=8, progress=False)
    base = evaluate(EvalConfig(out=tmp_path / "base", model="tiny-random-llama", **common))
    tuned = evaluate(EvalConfig(out=tmp_path / "tuned", model=seven_model, **common))
    assert base["accuracy"] == 0.0 and base["problems"] == 5
    assert tuned["accuracy"] == 1.0 and tuned["greedy"]["correct"] == 5
    assert tuned["ci95"][0] > base["ci95"][1] - 0.5  # Wilson: [0.566, 1] vs [0, 0.434]


def micro_config(tmp_path: Path, sevens: Path, sampler: str) -> Path:
    config = {
        "out": str(tmp_path / "run"),
        "rounds": 2,
        "tasks": [{"task": "gsm8k", "data": str(sevens), "limit": 4, "name": "sevens-train"}],
        "models": [{"model": sampler, "name": "sampler"}],
        "sampling": {"n": 2, "temperature": 1.0, "max_new_tokens": 8},
        "distinct": {"max_per_problem": 2},
        "train": {**TINY_LORA, "max_steps": 2, "learning_rate": 0.01, "logging_steps": 1},
        "eval": {"tasks": [{"task": "gsm8k", "data": str(sevens), "name": "sevens-eval"}], "max_new_tokens": 8},
    }
    path = tmp_path / "micro.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def snapshot(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in sorted(root.rglob("*")) if p.is_file()}


def test_run_micro_config_end_to_end_then_resume_does_nothing(tmp_path, sevens, seven_model, capsys):
    config = micro_config(tmp_path, sevens, seven_model)
    assert main(["run", str(config), "--no-progress"]) == 0
    out = tmp_path / "run"
    stages = json.loads((out / STAGES).read_text())
    assert list(stages) == [
        "eval-base/sampler/sevens-eval",
        "round1/gen-sampler-sevens-train", "round1/pool", "round1/train", "round1/eval-sevens-eval",
        "round2/gen-rft-round1-sevens-train", "round2/pool", "round2/train", "round2/eval-sevens-eval", "report"]
    for path in ["round1/gen-sampler-sevens-train/samples.jsonl", "round1/pooled/train.jsonl",
                 "round1/adapter-round1/adapter_config.json", "round1/eval/sevens-eval/eval.json",
                 "round2/gen-rft-round1-sevens-train/samples.jsonl", "round2/adapter-round2/adapter_model.safetensors",
                 "eval-base/sampler/sevens-eval/greedy/samples.jsonl", "accuracy.png", "distinct.png", "report.json"]:
        assert (out / path).exists(), path
    # Round 2 samples with round 1's adapter and pools both rounds' samples.
    samples = [json.loads(line) for line in open(out / "round2/gen-rft-round1-sevens-train/samples.jsonl")]
    assert {s["model"] for s in samples} == {f"{seven_model}+adapter-round1"}
    assert len(json.loads((out / "round2/pooled/report.json").read_text())["runs"]) == 2
    assert stages["round1/pool"]["result"]["kept"] > 0 and stages["round1/train"]["result"]["steps"] == 2
    report = (out / "report.md").read_text()
    assert "| 0 | sampler | sevens-eval | 5 | 100.0% [56.6, 100.0]" in report
    assert "| 2 | rft-round2 | sevens-eval | 5 |" in report and "![accuracy by round](accuracy.png)" in report
    assert "## Gain over the base model" in report
    gains = json.loads((out / "report.json").read_text())["gains"]
    assert [(g["round"], g["task"], g["greedy"]["problems"]) for g in gains] == [(1, "sevens-eval", 5), (2, "sevens-eval", 5)]
    assert f"| 1 | rft-round1 | sevens-eval | greedy | 100.0% | {100 * gains[0]['greedy']['candidate']:.1f}% |" in report

    before = snapshot(out)
    capsys.readouterr()
    assert main(["run", str(config), "--no-progress"]) == 0
    assert "0 stage(s) run, 10 already done" in capsys.readouterr().out
    assert snapshot(out) == before


@pytest.mark.parametrize("change, message", [
    ({"colour": "red"}, "unknown key.*colour"),
    ({"out": None}, "set `out:`"),
    ({"train": {"learning_rate": "fast"}}, "train: .*learning_rate|train: .*not supported"),
    ({"train": {"rnak": 4}}, r"train: unknown key.*rnak"),
    ({"tasks": []}, "tasks: name at least one task"),
    ({"eval": {"tasks": [{"task": "arith", "size": 3}]}}, r"eval.tasks\[0\]: unknown key.*size"),
    ({"sampling": {"n": 0}}, "sampling: n must be >= 1"),
    ({"rounds": 0}, "rounds must be an integer >= 1"),
])
def test_bad_config_fails_before_any_work(tmp_path, sevens, change, message):
    path = micro_config(tmp_path, sevens, "tiny-random-llama")
    config = yaml.safe_load(path.read_text())
    config.update(change)
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(RftError, match=message):
        load_config(path)
    assert not (tmp_path / "run").exists()


def test_numbers_written_as_yaml_strings_are_read_as_numbers(tmp_path, sevens):
    path = micro_config(tmp_path, sevens, "tiny-random-llama")
    config = yaml.safe_load(path.read_text())
    config["train"]["learning_rate"] = "2e-4"  # YAML 1.1 reads this as a string
    path.write_text(yaml.safe_dump(config))
    assert load_config(path).train["learning_rate"] == 2e-4


@pytest.mark.parametrize("name", ["arith_cpu.yaml", "gsm8k_cpu.yaml"])
def test_example_configs_load_and_hold_out_their_eval_split(name):
    config = load_config(Path(__file__).resolve().parents[1] / "examples" / name)
    [train_task], [eval_task] = config.tasks, config.eval.tasks
    assert config.eval.base and config.eval.greedy
    if train_task.task == "arith":
        assert train_task.args["seed"] != eval_task.args["seed"]
    else:
        assert train_task.data.endswith("train.jsonl") and eval_task.data.endswith("test.jsonl")
        assert eval_task.limit >= 200
