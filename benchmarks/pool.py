"""Benchmark `rft pool` on synthetic GSM8K-like runs and show that its time grows linearly with input.

Writes two synthetic runs (two models, 50 samples per problem each, so 100 paths per problem) with
known structure: several solution strategies with different equation lists, many wordings of each,
calculation-free prose answers, correct answers with a wrong step, and wrong answers. Then, for
each size (1/8, 1/4, 1/2 and all of the problems), a fresh process times:

- baseline: reading and JSON-parsing the same ``samples.jsonl`` files, nothing else;
- pool: `rft.pool.pool_runs` with the default `DistinctConfig` (calculation check, signatures,
  MinHash near-duplicates, farthest selection, SFT dataset + report written).

It prints wall and CPU seconds, paths/s, peak memory, pool time / baseline time, and time relative
to the smallest size next to the size ratio (linear growth: the two ratios match).

    python benchmarks/pool.py                    # 10,000 problems x 100 paths = 1,000,000 paths
    python benchmarks/pool.py --problems 2000    # a quicker run
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

SAMPLES_PER_MODEL = 50
NAMES = ["Natalia", "Weng", "Betty", "Julie", "James", "Albert", "Mark", "Ken", "Tina", "Alexis"]
ITEMS = ["apple", "pencil", "ticket", "cookie", "book", "shirt", "plant", "toy"]
STEP_WORDINGS = [
    "{name} pays {calc} dollars for the {item}s.",
    "First, the {item}s cost {calc} dollars.",
    "So {calc}.",
    "That gives {calc} dollars.",
    "We compute {calc} in total.",
    "Then {calc}, which is the amount for the {item}s.",
    "{calc} dollars is spent by {name}.",
]
PROSE = [
    "{name} buys the {item}s at the listed price, uses the coupon once a day and keeps doing it for "
    "all of the days, so over the whole period {name} spends {ans} dollars on {item}s.",
    "Multiply the price of one {item} by how many {name} buys, take off the coupon, and repeat that "
    "for every day; the total comes to {ans} dollars.",
    "Because the coupon is applied each day after paying for the {item}s, the daily cost times the "
    "number of days is what {name} spends, namely {ans} dollars.",
]


def _strategies(a: int, b: int, c: int, d: int) -> list[list[str]]:
    ab, e = a * b, a * b - c
    ans = e * d
    return [
        [f"{a} * {b} = {ab}", f"{ab} - {c} = {e}", f"{e} * {d} = {ans}"],
        [f"{b} x {a} = {ab}", f"{ab} - {c} = {e}", f"{d} x {e} = {ans}"],
        [f"{a}*{b}=<<{a}*{b}={ab}>>{ab}", f"{ab}-{c}=<<{ab}-{c}={e}>>{e}", f"{e}*{d}=<<{e}*{d}={ans}>>{ans}"],
        [f"{a} * {b} = {ab}", f"{ab} * {d} = {ab * d}", f"{c} * {d} = {c * d}", f"{ab * d} - {c * d} = {ans}"],
        [f"{a} * {b} = {ab} - {c} = {e} * {d} = {ans}"],
    ]


def synthetic_path(rng: random.Random, problem: int, nums: tuple[int, int, int, int],
                   preferred: list[int]) -> tuple[str, bool]:
    """One completion for problem number ``problem`` and whether its final answer is right."""
    a, b, c, d = nums
    ans = (a * b - c) * d
    name, item = NAMES[problem % len(NAMES)], ITEMS[problem % len(ITEMS)]
    roll = rng.random()
    if roll < 0.10:
        text = rng.choice(PROSE).format(name=name, item=item, ans=ans)
        if rng.random() < 0.5:
            text += f" {rng.choice(NAMES)} checks it."
        return f"{text}\n#### {ans}", True
    steps = _strategies(a, b, c, d)[rng.choice(preferred)]
    final, correct = ans, True
    if roll < 0.14:  # right answer, wrong step
        wrong = steps[0].replace(f"= {a * b}", f"= {a * b + 2}").replace(f"={a * b}", f"={a * b + 2}")
        steps = [wrong, *steps[1:]]
    elif roll < 0.45:  # wrong answer
        final, correct = ans + rng.randint(1, 9), False
    lines = [rng.choice(STEP_WORDINGS).format(name=name, item=item, calc=s) for s in steps]
    return "\n".join(lines) + f"\n#### {final}", correct


def write_runs(folder: Path, problems: int, seed: int = 0) -> list[Path]:
    """Two synthetic run directories (model-a, model-b) with ``problems`` problems each."""
    rng = random.Random(seed)
    nums = [(rng.randint(2, 20), rng.randint(2, 12), 0, rng.randint(2, 7)) for _ in range(problems)]
    nums = [(a, b, rng.randint(1, a * b - 1), d) for a, b, _, d in nums]
    runs = []
    for model, preferred in (("model-a", [0, 2, 3, 0]), ("model-b", [1, 4, 0, 1])):
        run = folder / model
        run.mkdir(parents=True)
        sampling = {"n": SAMPLES_PER_MODEL, "temperature": 0.8, "top_p": 1.0, "top_k": 0,
                    "max_new_tokens": 512, "stop": [], "seed": 0}
        (run / "config.json").write_text(json.dumps({"task": {"name": "synthetic"}, "model": model,
                                                     "engine": "synthetic", "verifier": {"name": "numeric"},
                                                     "sampling": sampling}))
        with (run / "problems.jsonl").open("w") as f:
            for i, (a, b, c, d) in enumerate(nums):
                name, item = NAMES[i % len(NAMES)], ITEMS[i % len(ITEMS)]
                f.write(json.dumps({"id": f"synth/{i}", "answer": str((a * b - c) * d), "images": [], "metadata": {},
                                    "prompt": f"{name} buys {b} {item}s a day at ${a} each with a ${c} coupon "
                                              f"per day. How much does {name} spend in {d} days?"}) + "\n")
        with (run / "samples.jsonl").open("w") as f:
            for i, p in enumerate(nums):
                for k in range(SAMPLES_PER_MODEL):
                    text, ok = synthetic_path(rng, i, p, preferred)
                    f.write(json.dumps({
                        "id": f"synth/{i}#{k}", "problem_id": f"synth/{i}", "model": model, "index": k,
                        "completion": text, "params": sampling, "prompt_tokens": 40, "completion_tokens": 60,
                        "finish_reason": "stop", "schema": 1,
                        "verdict": {"correct": ok, "extracted": None, "reason": "match" if ok else "mismatch",
                                    "verifier": "numeric", "version": "1"}}) + "\n")
        runs.append(run)
    return runs


def subset(runs: list[Path], problems: int, folder: Path) -> list[Path]:
    """Copies of ``runs`` holding only their first ``problems`` problems (prefixes of the files)."""
    out = []
    for run in runs:
        dst = folder / run.name
        dst.mkdir(parents=True)
        (dst / "config.json").write_text((run / "config.json").read_text())
        for name, lines in (("problems.jsonl", problems), ("samples.jsonl", problems * SAMPLES_PER_MODEL)):
            with (run / name).open() as src, (dst / name).open("w") as f:
                for _ in range(lines):
                    f.write(src.readline())
        out.append(dst)
    return out


def worker(runs: list[str], out: str) -> None:
    """Time the baseline read and the pool in this (fresh) process; print one JSON line."""
    from rft.pool import pool_runs

    t0 = time.perf_counter()
    lines = 0
    for run in runs:
        with open(Path(run) / "samples.jsonl", encoding="utf-8") as f:
            for line in f:
                json.loads(line)
                lines += 1
    baseline = time.perf_counter() - t0
    t0, c0 = time.perf_counter(), time.process_time()
    report = pool_runs(runs, out)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(json.dumps({"paths": lines, "baseline_s": baseline, "pool_s": seconds, "pool_cpu_s": cpu,
                      "kept": report.kept, "correct": report.correct, "rejected": report.rejected,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", type=int, default=10_000, help="problems at the largest size")
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker[:-1], args.worker[-1])
        return
    with tempfile.TemporaryDirectory(prefix="rft-pool-bench-") as tmp:
        tmp_path = Path(tmp)
        t0 = time.perf_counter()
        full = write_runs(tmp_path / "full", args.problems)
        print(f"generated {args.problems * 2 * SAMPLES_PER_MODEL:,} synthetic paths in "
              f"{time.perf_counter() - t0:.1f} s (not timed below)", flush=True)
        sizes = [args.problems // 8, args.problems // 4, args.problems // 2, args.problems]
        results = []
        for problems in sizes:
            runs = full if problems == args.problems else subset(full, problems, tmp_path / f"p{problems}")
            proc = subprocess.run([sys.executable, __file__, "--worker", *map(str, runs),
                                   str(tmp_path / f"pooled{problems}")],
                                  check=True, capture_output=True, text=True)
            results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
            r = results[-1]
            print(f"  {r['paths']:>9,} paths: pool {r['pool_s']:6.1f} s, baseline read {r['baseline_s']:5.1f} s",
                  flush=True)
    base = results[0]
    print()
    print(f"{'paths':>10} {'pool s':>7} {'cpu s':>6} {'paths/s':>8} {'peak MB':>8} {'pool/read':>9} "
          f"{'size ratio':>10} {'time ratio':>10} {'cpu ratio':>9} {'µs/path*':>8}   kept / correct")
    previous = None
    for r in results:
        marginal = "" if previous is None else \
            f"{(r['pool_cpu_s'] - previous['pool_cpu_s']) / (r['paths'] - previous['paths']) * 1e6:.1f}"
        print(f"{r['paths']:>10,} {r['pool_s']:>7.1f} {r['pool_cpu_s']:>6.1f} {r['paths'] / r['pool_s']:>8,.0f} "
              f"{r['peak_rss_mb']:>8.0f} {r['pool_s'] / r['baseline_s']:>9.1f} {r['paths'] / base['paths']:>10.2f} "
              f"{r['pool_s'] / base['pool_s']:>10.2f} {r['pool_cpu_s'] / base['pool_cpu_s']:>9.2f} {marginal:>8}"
              f"   {r['kept']:,} / {r['correct']:,}")
        previous = r
    print("* CPU time per extra path between consecutive sizes: constant means linear growth "
          "(a fixed cost, mostly imports, makes the smallest size look slower)")
    print(f"\nrejections at the largest size: {results[-1]['rejected']}")
    print(f"load average (1 min) at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs "
          f"(wall time above CPU time means other processes shared the CPUs)")


if __name__ == "__main__":
    main()
