"""Benchmark `rft train` against TRL's `SFTTrainer` on the same LoRA SFT work: tokens per second.

Both trainers get the same model, the same examples (GSM8K train questions with their reference
solutions as the assistant turn, or synthetic arith problems when the GSM8K file is absent), the
same LoRA config (r=16, alpha=32, dropout 0.05, all linear layers), batch size, sequence limit,
optimizer, schedule and precision (bf16 base weights + bf16 autocast on CPU, one torch thread), and
run exactly one epoch (``steps x batch`` examples), so both train on every example once. Both are
given the conversation as prompt + completion and train on the completion only. Each run is a fresh
process; the two trainers alternate (rft, trl, rft, trl, ...) so background load hits both alike.
The clock covers ``Trainer.train`` only (from ``on_train_begin`` to ``on_train_end``), not model
loading or tokenization. Reported per run: non-padding tokens, wall and CPU seconds, tokens/s; then
medians and the rft/TRL ratios.

    python benchmarks/train.py                                    # tiny-random-llama, 3 runs each
    python benchmarks/train.py --model smollm2-135m-instruct --steps 8 --repeats 3
    python benchmarks/train.py --model qwen2.5-coder-0.5b-instruct --steps 4 --repeats 2
    python benchmarks/train.py --model smollm2-135m-instruct --steps 8 --trainers rft --dtype float32   # ablations
    python benchmarks/train.py --model smollm2-135m-instruct --steps 8 --trainers rft --packing
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
GSM8K = REPO.parent / "shared" / "data" / "gsm8k" / "train.jsonl"
CHATML = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
          "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
LORA = {"r": 16, "lora_alpha": 32, "lora_dropout": 0.05, "target_modules": "all-linear"}
LEARNING_RATE = 1e-4


def conversations(count: int) -> list[list[dict[str, str]]]:
    """``count`` chat conversations (user question, assistant solution)."""
    if GSM8K.exists():
        from rft.tasks.gsm8k import GSM8KTask

        problems = GSM8KTask(data=str(GSM8K)).problems()
        pick = [next(problems) for _ in range(count)]
        return [p.messages() + [{"role": "assistant", "content": p.metadata["solution"]}] for p in pick]
    from rft.tasks.arith import ArithTask

    return [p.messages() + [{"role": "assistant", "content": f"Step by step, the answer is \\boxed{{{p.answer}}}."}]
            for p in ArithTask(count=count, steps=4, seed=11).problems()]


def prepare_model(model: str, workdir: Path) -> str:
    """A local model folder with a chat template (a copy with ChatML added when the model has none)."""
    from transformers import AutoTokenizer

    from rft.catalog import resolve

    path = resolve(model)
    tokenizer = AutoTokenizer.from_pretrained(path)
    if getattr(tokenizer, "chat_template", None):
        return path
    import shutil

    target = workdir / "model"
    shutil.copytree(path, target)
    tokenizer.chat_template = CHATML
    tokenizer.save_pretrained(str(target))
    return str(target)


class _Clock:
    """A TrainerCallback measuring wall and CPU seconds from train begin to train end."""

    def __new__(cls):  # built lazily so the parent process need not import transformers
        from transformers import TrainerCallback

        class Clock(TrainerCallback):
            wall = cpu = 0.0

            def on_train_begin(self, args, state, control, **kwargs):
                self._wall, self._cpu = time.perf_counter(), time.process_time()

            def on_train_end(self, args, state, control, **kwargs):
                self.wall, self.cpu = time.perf_counter() - self._wall, time.process_time() - self._cpu

        return Clock()


def run_rft(opts: argparse.Namespace, data: Path, out: Path) -> dict:
    from rft.train import TrainConfig, train

    clock = _Clock()
    summary = train(TrainConfig(
        data=data, out=out, model=opts.model_path, rank=LORA["r"], alpha=LORA["lora_alpha"],
        dropout=LORA["lora_dropout"], max_steps=opts.steps, batch_size=opts.batch_size, grad_accum=1,
        learning_rate=LEARNING_RATE, lr_scheduler="cosine", warmup=0, max_length=opts.max_length,
        dtype=opts.dtype, packing=opts.packing, save_steps=10**9, logging_steps=max(1, opts.steps // 4),
        progress=False), callbacks=[clock])
    return {"tokens": summary["tokens"], "wall": clock.wall, "cpu": clock.cpu, "loss": summary["train_loss"]}


def run_trl(opts: argparse.Namespace, data: Path, out: Path) -> dict:
    import datasets
    import torch
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    torch.set_num_threads(1)
    rows = [json.loads(line) for line in (data / "train.jsonl").open()]
    dataset = datasets.Dataset.from_list([{"prompt": r["messages"][:-1], "completion": r["messages"][-1:]}
                                          for r in rows])
    tokenizer = AutoTokenizer.from_pretrained(opts.model_path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(opts.model_path, dtype=getattr(torch, opts.dtype))
    clock = _Clock()
    args = SFTConfig(output_dir=str(out), max_steps=opts.steps, per_device_train_batch_size=opts.batch_size,
                     gradient_accumulation_steps=1, learning_rate=LEARNING_RATE, lr_scheduler_type="cosine",
                     warmup_steps=0, max_length=opts.max_length, save_strategy="no", report_to="none",
                     logging_steps=max(1, opts.steps // 4), bf16=opts.dtype == "bfloat16",
                     use_cpu=not torch.cuda.is_available(),
                     disable_tqdm=True, seed=0)
    trainer = SFTTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer,
                         peft_config=LoraConfig(task_type="CAUSAL_LM", **LORA), callbacks=[clock])
    result = trainer.train()
    return {"tokens": int(trainer._total_train_tokens), "wall": clock.wall, "cpu": clock.cpu,
            "loss": result.training_loss}


def worker(opts: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        fn = run_rft if opts.worker == "rft" else run_trl
        result = fn(opts, Path(opts.data), Path(tmp) / "out")
    print("RESULT " + json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="tiny-random-llama", help="catalog name or path")
    parser.add_argument("--steps", type=int, default=40, help="optimizer steps (one epoch of steps x batch)")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--max-length", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=3, help="runs per trainer")
    parser.add_argument("--dtype", choices=["bfloat16", "float32"], default="bfloat16",
                        help="bfloat16: bf16 weights + bf16 autocast (default); float32: no mixed precision")
    parser.add_argument("--packing", action="store_true", help="rft: padding-free packed batches")
    parser.add_argument("--trainers", default="rft,trl", help="comma-separated subset of rft,trl")
    parser.add_argument("--worker", choices=["rft", "trl"], help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--model-path", help=argparse.SUPPRESS)
    opts = parser.parse_args()
    if opts.worker:
        worker(opts)
        return
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        model_path = prepare_model(opts.model, workdir)
        rows = [{"messages": m} for m in conversations(opts.steps * opts.batch_size)]
        (workdir / "sft").mkdir()
        (workdir / "sft" / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        source = "GSM8K train" if GSM8K.exists() else "synthetic arith"
        print(f"model {opts.model}; {len(rows)} {source} examples, one epoch = {opts.steps} steps of batch "
              f"{opts.batch_size}, max_length {opts.max_length}, LoRA r={LORA['r']} all-linear, {opts.dtype}, "
              f"1 thread" + (", rft packing" if opts.packing else ""))
        trainers = [t.strip() for t in opts.trainers.split(",") if t.strip() in ("rft", "trl")]
        results: dict[str, list[dict]] = {name: [] for name in trainers}
        print(f"{'run':>4} {'trainer':>8} {'tokens':>8} {'wall s':>8} {'cpu s':>8} {'tok/s':>8} {'loss':>8}")
        for i in range(opts.repeats):
            for name in trainers:
                cmd = [sys.executable, __file__, "--worker", name, "--data", str(workdir / "sft"), "--model-path",
                       model_path, "--steps", str(opts.steps), "--batch-size", str(opts.batch_size),
                       "--max-length", str(opts.max_length), "--dtype", opts.dtype] + (
                           ["--packing"] if opts.packing else [])
                proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
                line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
                if proc.returncode or line is None:
                    sys.exit(f"{name} run failed:\n{proc.stderr[-3000:]}")
                r = json.loads(line[len("RESULT "):])
                results[name].append(r)
                print(f"{i + 1:>4} {name:>8} {r['tokens']:>8} {r['wall']:>8.2f} {r['cpu']:>8.2f} "
                      f"{r['tokens'] / r['wall']:>8.1f} {r['loss']:>8.4f}")
    med = {name: {"wall": statistics.median(r["tokens"] / r["wall"] for r in rs),
                  "cpu": statistics.median(r["tokens"] / r["cpu"] for r in rs)} for name, rs in results.items()}
    for clock, label in (("wall", "tokens/s (wall)"), ("cpu", "tokens per CPU-second")):
        line = f"median {label}: " + ", ".join(f"{name} {m[clock]:.1f}" for name, m in med.items())
        if len(med) == 2:
            line += f", ratio rft/trl {med['rft'][clock] / med['trl'][clock]:.2f}"
        print(line)


if __name__ == "__main__":
    main()
