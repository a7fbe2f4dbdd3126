"""The ``rft`` command line. Each subcommand turns flags into a config and calls the library.

    rft generate --task gsm8k --data gsm8k/test.jsonl --limit 20 --n 4 --out runs/gsm8k
    rft export runs/gsm8k --out sft/gsm8k
    rft --help

User mistakes (`RftError`) print as one line and exit 2; ``--debug`` shows their traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

import yaml

from rft import registry
from rft.errors import RftError

Adder = Callable[[Any], None]


def parse_kv(items: Sequence[str] | None, flag: str) -> dict[str, Any]:
    """``["a=1", "b=x"]`` -> ``{"a": 1, "b": "x"}``; values are parsed as YAML scalars."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise RftError(f"{flag} expects key=value, got {item!r}")
        out[key.strip().replace("-", "_")] = yaml.safe_load(value) if value else ""
    return out


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """``"0/4"`` -> ``(0, 4)``."""
    if not text:
        return None
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise RftError(f"--shard expects i/N like 0/4, got {text!r}") from None
    if not 0 <= i < n:
        raise RftError(f"--shard {text}: need 0 <= i < N")
    return i, n


def _print_table(rows: Sequence[Sequence[str]], header: Sequence[str]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(box=None, pad_edge=False)
    for i, name in enumerate(header):  # the first column (names to type) is never cut
        table.add_column(name, no_wrap=i == 0, min_width=max((len(r[0]) for r in rows), default=0) if i == 0 else None)
    for row in rows:
        table.add_row(*row)
    Console().print(table)


# ---------------------------------------------------------------- generate
def add_generate(sub: Any) -> None:
    p = sub.add_parser("generate", help="sample n paths per problem, verify them, store them (resumable)",
                       description="Sample N chain-of-thought paths per problem, verify each against the "
                                   "ground truth, and append them to a resumable run directory.")
    p.add_argument("--task", required=True, help="task name (see `rft tasks`)")
    p.add_argument("--data", help="local data file for the task (JSONL)")
    p.add_argument("--task-arg", action="append", metavar="KEY=VALUE", help="extra task argument (repeatable)")
    p.add_argument("--model", default=None, help="catalog name (see `rft models`), local path or HF id "
                                                 "(default: qwen2.5-coder-0.5b-instruct)")
    p.add_argument("--engine", default="transformers", help="engine name (see `rft engines`)")
    p.add_argument("--engine-arg", action="append", metavar="KEY=VALUE",
                   help="engine constructor argument, e.g. batch_size=32 (repeatable)")
    p.add_argument("--verifier", help="verifier name (default: the task's)")
    p.add_argument("--verifier-arg", action="append", metavar="KEY=VALUE", help="verifier argument (repeatable)")
    p.add_argument("--n", type=int, default=8, help="samples per problem (default 8)")
    p.add_argument("--temperature", type=float, default=0.8, help="0 = greedy (default 0.8)")
    p.add_argument("--top-p", type=float, default=1.0)
    p.add_argument("--top-k", type=int, default=0, help="0 = off")
    p.add_argument("--max-new-tokens", type=int, default=512)
    p.add_argument("--stop", action="append", default=[], help="stop string (repeatable)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--limit", type=int, help="use only the first LIMIT problems")
    p.add_argument("--shard", help="i/N: take every N-th problem from position i (after --limit)")
    p.add_argument("--out", help="run directory (default: runs/TASK-MODEL-nN); re-running resumes it")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_generate)


def cmd_generate(args: argparse.Namespace) -> int:
    from pathlib import Path

    from rft.catalog import DEFAULT_MODEL
    from rft.pipeline import GenerateConfig, generate
    from rft.records import SamplingParams

    try:
        sampling = SamplingParams(n=args.n, temperature=args.temperature, top_p=args.top_p, top_k=args.top_k,
                                  max_new_tokens=args.max_new_tokens, stop=tuple(args.stop), seed=args.seed)
    except ValueError as e:
        raise RftError(str(e)) from None
    model = args.model or DEFAULT_MODEL
    out = args.out or f"runs/{args.task}-{Path(model).name}-n{args.n}"
    config = GenerateConfig(
        task=args.task, out=out, data=args.data, task_args=parse_kv(args.task_arg, "--task-arg"),
        model=model, engine=args.engine, engine_args=parse_kv(args.engine_arg, "--engine-arg"),
        verifier=args.verifier, verifier_args=parse_kv(args.verifier_arg, "--verifier-arg"),
        sampling=sampling, limit=args.limit, shard=parse_shard(args.shard), progress=not args.no_progress)
    summary = generate(config)
    pass_k = summary["pass_at_k"]
    pass_n = f"pass@{args.n} {pass_k[str(args.n)]:.1%}, " if args.n > 1 else ""
    print(f"{out}: {summary['problems']} problems, {summary['samples']} samples, "
          f"accuracy {summary['accuracy']:.1%}, pass@1 {pass_k['1']:.1%}, {pass_n}"
          f"{summary['tokens_per_second'] or 0:.0f} tokens/s")
    return 0


# ---------------------------------------------------------------- export
def add_export(sub: Any) -> None:
    p = sub.add_parser("export", help="write a run's verified-correct paths as an SFT dataset",
                       description="Write the verified-correct paths of a run (exact duplicates removed) as "
                                   "chat-messages JSONL (OUT/train.jsonl) and a Hugging Face dataset (OUT/hf).")
    p.add_argument("run", help="run directory written by `rft generate`")
    p.add_argument("--out", required=True, help="output folder")
    p.set_defaults(func=cmd_export)


def cmd_export(args: argparse.Namespace) -> int:
    from rft.export import export

    n = export(args.run, args.out)
    print(f"{args.out}: {n} verified-correct paths (train.jsonl, hf/)")
    return 0


# ---------------------------------------------------------------- verify
def add_verify(sub: Any) -> None:
    p = sub.add_parser("verify", help="re-verify a run's samples and compare with the stored verdicts",
                       description="Re-run a verifier over a run's stored samples without sampling again, and "
                                   "report how many verdicts change.")
    p.add_argument("run", help="run directory")
    p.add_argument("--verifier", help="verifier name (default: the one recorded in the run)")
    p.add_argument("--verifier-arg", action="append", metavar="KEY=VALUE")
    p.set_defaults(func=cmd_verify)


def cmd_verify(args: argparse.Namespace) -> int:
    from rft.pipeline import reverify

    result = reverify(args.run, args.verifier, parse_kv(args.verifier_arg, "--verifier-arg"))
    print(json.dumps(result))
    return 0


# ---------------------------------------------------------------- pool / stats
def _add_distinct_flags(p: Any) -> None:
    g = p.add_argument_group("distinct paths")
    g.add_argument("--select", choices=("farthest", "shortest", "first"), default="farthest",
                   help="which of two duplicate paths to keep (default farthest: the RFT paper's rule)")
    g.add_argument("--max-per-problem", type=int, help="keep at most this many paths per problem")
    g.add_argument("--near-dup-threshold", type=float, default=0.8,
                   help="MinHash Jaccard similarity of word n-grams that makes two paths near-duplicates (0.8)")
    g.add_argument("--text-dedup", choices=("no_calc", "all", "off"), default="no_calc",
                   help="paths the near-duplicate test applies to (default: those without calculations)")
    g.add_argument("--ngram", type=int, default=3, help="words per shingle (default 3)")
    g.add_argument("--num-perm", type=int, default=64, help="MinHash permutations (default 64)")
    g.add_argument("--no-calc-check", action="store_true", help="keep paths whose calculations are wrong")


def _distinct_config(args: argparse.Namespace) -> Any:
    from rft.distinct import DistinctConfig

    return DistinctConfig(check_calculations=not args.no_calc_check, near_duplicate_threshold=args.near_dup_threshold,
                          ngram=args.ngram, num_perm=args.num_perm, text_dedup=args.text_dedup,
                          select=args.select, max_per_problem=args.max_per_problem)


def add_pool(sub: Any) -> None:
    p = sub.add_parser("pool", help="pool runs of several models (or shards) into one SFT dataset of distinct paths",
                       description="Merge runs (different models, tasks over the same problems, or shards), keep "
                                   "the distinct correct paths across all of them with their provenance, and write "
                                   "OUT/train.jsonl, OUT/hf and OUT/report.json (per-model contributions, overlap).")
    p.add_argument("runs", nargs="+", help="run directories written by `rft generate`")
    p.add_argument("--out", required=True, help="output folder (replaced if it holds an earlier pool)")
    _add_distinct_flags(p)
    p.set_defaults(func=cmd_pool)


def cmd_pool(args: argparse.Namespace) -> int:
    from rich.console import Console

    from rft.pool import pool_runs

    pool_runs(args.runs, args.out, _distinct_config(args), console=Console())
    return 0


def add_stats(sub: Any) -> None:
    p = sub.add_parser("stats", help="distinct correct paths and coverage vs samples per problem, with a plot",
                       description="For k = 1..n samples per problem: mean distinct correct paths per problem and "
                                   "coverage, plus why samples were not kept. Prints a table and writes "
                                   "stats.json and stats.png. Also accepts a folder written by `rft pool`.")
    p.add_argument("run", help="run directory (or pooled folder)")
    p.add_argument("--out", help="folder for stats.json and stats.png (default: RUN)")
    _add_distinct_flags(p)
    p.set_defaults(func=cmd_stats)


def cmd_stats(args: argparse.Namespace) -> int:
    from rich.console import Console

    from rft.stats import run_stats

    run_stats(args.run, _distinct_config(args), out=args.out, console=Console())
    return 0


# ---------------------------------------------------------------- train / eval / run
def _given(args: argparse.Namespace, names: Sequence[str]) -> dict[str, Any]:
    """The options among ``names`` that were set on the command line (the library supplies defaults)."""
    return {n: getattr(args, n) for n in names if getattr(args, n) is not None}


def add_train(sub: Any) -> None:
    p = sub.add_parser("train", help="LoRA SFT on an exported/pooled dataset (resumable)",
                       description="LoRA SFT (peft + transformers Trainer) on a dataset folder written by "
                                   "`rft export` or `rft pool`, loss on the assistant tokens only. Writes a peft "
                                   "adapter folder; a re-run resumes from the last checkpoint.")
    p.add_argument("data", help="dataset folder with train.jsonl (or a .jsonl file)")
    p.add_argument("--out", required=True, help="adapter output folder")
    p.add_argument("--model", help="base model: catalog name, path or HF id (default: qwen2.5-coder-0.5b-instruct)")
    p.add_argument("--rank", type=int, help="LoRA rank (default 16)")
    p.add_argument("--alpha", type=int, help="LoRA alpha (default 32)")
    p.add_argument("--dropout", type=float, help="LoRA dropout (default 0.05)")
    p.add_argument("--target-modules", help="comma-separated module names (default: all-linear)")
    p.add_argument("--epochs", type=float, help="passes over the data (default 2)")
    p.add_argument("--max-steps", type=int, help="optimizer steps; overrides --epochs")
    p.add_argument("--batch-size", type=int, help="sequences per device per micro-batch (default 4)")
    p.add_argument("--grad-accum", type=int, help="micro-batches per optimizer step (default 4)")
    p.add_argument("--lr", dest="learning_rate", type=float, help="peak learning rate (default 2e-4)")
    p.add_argument("--scheduler", dest="lr_scheduler", help="learning-rate schedule (default cosine)")
    p.add_argument("--warmup", type=float, help="warmup: fraction of steps if < 1, else steps (default 0.03)")
    p.add_argument("--weight-decay", type=float)
    p.add_argument("--max-length", type=int, help="longest sequence in tokens (default 1024)")
    p.add_argument("--packing", action="store_true", default=None, help="padding-free packed batches")
    p.add_argument("--dtype", help="auto (default), bfloat16, float16 or float32")
    p.add_argument("--gradient-checkpointing", action="store_true", default=None)
    p.add_argument("--save-steps", type=int, help="checkpoint every N steps (default 50)")
    p.add_argument("--save-total-limit", type=int, help="checkpoints to keep (default 2)")
    p.add_argument("--keep-checkpoints", action="store_true", default=None, help="keep checkpoints after success")
    p.add_argument("--logging-steps", type=int, help="log every N steps (default 10)")
    p.add_argument("--seed", type=int)
    p.add_argument("--merge", action="store_true", default=None, help="also write OUT/merged (adapter merged in)")
    p.add_argument("--threads", type=int, help="torch CPU threads (default 1)")
    p.add_argument("--no-progress", action="store_true", help="print log lines instead of a progress bar")
    p.add_argument("--train-projector", action="store_true", default=None,
                   help="vision-language models: also LoRA-adapt the image projector")
    p.add_argument("--train-vision-tower", action="store_true", default=None,
                   help="vision-language models: also LoRA-adapt the vision tower (frozen by default)")
    p.set_defaults(func=cmd_train)


def cmd_train(args: argparse.Namespace) -> int:
    from rft.train import TrainConfig, train

    kwargs = _given(args, ["model", "rank", "alpha", "dropout", "epochs", "max_steps", "batch_size", "grad_accum",
                           "learning_rate", "lr_scheduler", "warmup", "weight_decay", "max_length", "packing",
                           "dtype", "gradient_checkpointing", "save_steps", "save_total_limit", "keep_checkpoints",
                           "logging_steps", "seed", "merge", "threads", "train_projector", "train_vision_tower"])
    if args.target_modules:
        kwargs["target_modules"] = tuple(m.strip() for m in args.target_modules.split(",") if m.strip())
    s = train(TrainConfig(data=args.data, out=args.out, progress=not args.no_progress, **kwargs))
    print(f"{args.out}: {s['steps']} steps on {s['examples']} examples, final loss {s['final_loss']}, "
          f"{s['tokens_per_second']} tokens/s" + (f"; merged model in {s['merged']}" if s.get("merged") else ""))
    return 0


def add_eval(sub: Any) -> None:
    p = sub.add_parser("eval", help="accuracy of a model or adapter on a task split, with 95%% intervals",
                       description="Evaluate a base model, a LoRA adapter (--adapter) or a merged model on a task "
                                   "split with the generate pipeline: greedy pass@1, and with --n sampled pass@1, "
                                   "pass@k and maj@k. Writes OUT/greedy, OUT/sampled (run directories) and "
                                   "OUT/eval.json (metrics with 95%% confidence intervals).")
    p.add_argument("--task", required=True, help="task name (see `rft tasks`)")
    p.add_argument("--data", help="local data file for the task (JSONL)")
    p.add_argument("--task-arg", action="append", metavar="KEY=VALUE", help="extra task argument (repeatable)")
    p.add_argument("--model", help="catalog name, path (a merged model too) or HF id")
    p.add_argument("--adapter", help="peft adapter folder (from `rft train`) to apply on --model")
    p.add_argument("--engine", default="transformers", help="engine name (see `rft engines`)")
    p.add_argument("--engine-arg", action="append", metavar="KEY=VALUE", help="engine argument (repeatable)")
    p.add_argument("--verifier", help="verifier name (default: the task's)")
    p.add_argument("--verifier-arg", action="append", metavar="KEY=VALUE", help="verifier argument (repeatable)")
    p.add_argument("--limit", type=int, help="evaluate the first LIMIT problems")
    p.add_argument("--no-greedy", action="store_true", help="skip the greedy run (needs --n)")
    p.add_argument("--n", type=int, default=0, help="sampled paths per problem for pass@k/maj@k (default 0: none)")
    p.add_argument("--temperature", type=float, help="temperature of the sampled run (default 0.8)")
    p.add_argument("--top-p", type=float)
    p.add_argument("--max-new-tokens", type=int, help="default 512")
    p.add_argument("--stop", action="append", default=[], help="stop string (repeatable)")
    p.add_argument("--seed", type=int)
    p.add_argument("--out", required=True, help="eval directory; re-running resumes it")
    p.add_argument("--baseline", metavar="EVAL_DIR",
                   help="an earlier eval of the same problems (e.g. the base model): also print the paired gain "
                        "over it, with its 95%% interval, wins/losses and the McNemar p-value")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_eval)


def cmd_eval(args: argparse.Namespace) -> int:
    from rft.evaluate import EvalConfig, evaluate, paired_gain

    kwargs = _given(args, ["model", "adapter", "verifier", "limit", "temperature", "top_p", "max_new_tokens", "seed"])
    result = evaluate(EvalConfig(
        task=args.task, out=args.out, data=args.data, task_args=parse_kv(args.task_arg, "--task-arg"),
        engine=args.engine, engine_args=parse_kv(args.engine_arg, "--engine-arg"),
        verifier_args=parse_kv(args.verifier_arg, "--verifier-arg"), greedy=not args.no_greedy, n=args.n,
        stop=tuple(args.stop), progress=not args.no_progress, **kwargs))
    lo, hi = result["ci95"]
    line = f"{args.out}: {result['problems']} problems, accuracy {result['accuracy']:.1%} (95% CI {lo:.1%}-{hi:.1%})"
    if "sampled" in result:
        s = result["sampled"]
        n = str(s["n"])
        line += (f"; sampled pass@1 {s['pass@k']['1']['value']:.1%}, pass@{n} {s['pass@k'][n]['value']:.1%}, "
                 f"maj@{n} {s['maj@k'][n]['value']:.1%}")
    print(line)
    if args.baseline:
        for kind, g in paired_gain(args.baseline, args.out).items():
            p = f", McNemar p = {g['p_value']:.3g}" if "p_value" in g else ""
            print(f"{kind} gain over {args.baseline}: {g['baseline']:.1%} -> {g['candidate']:.1%}, "
                  f"{100 * g['gain']:+.1f} points (95% CI {100 * g['ci95'][0]:+.1f} to {100 * g['ci95'][1]:+.1f}), "
                  f"{g['wins']} wins / {g['losses']} losses{p}")
    return 0


def add_run(sub: Any) -> None:
    p = sub.add_parser("run", help="the whole RFT loop from one YAML file (resumable)",
                       description="Run generate -> pool -> train -> eval for the rounds of a YAML config, every "
                                   "stage under its `out:` directory, and write report.md with plots. Re-running "
                                   "skips finished stages. See examples/arith_cpu.yaml.")
    p.add_argument("config", help="YAML file")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_run)


def cmd_run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from rft.loop import REPORT_MD, load_config, run_loop

    config = load_config(args.config, progress=not args.no_progress)
    report = run_loop(config, console=Console(stderr=True))
    _print_table([(str(r["round"]), r["model"], r["task"],
                   f"{r['accuracy']:.1%} [{r['ci95'][0]:.1%}, {r['ci95'][1]:.1%}]") for r in report["evals"]],
                 ("round", "model", "eval task", "accuracy [95% CI]"))
    print(f"{config.out / REPORT_MD}: {len(report['stages_run'])} stage(s) run, "
          f"{len(report['stages_skipped'])} already done")
    return 0


# ---------------------------------------------------------------- listings
def add_listings(sub: Any) -> None:
    for kind in ("task", "verifier", "engine"):
        p = sub.add_parser(f"{kind}s", help=f"list installed {kind}s (entry point group rft.{kind}s)")
        p.set_defaults(func=lambda args, kind=kind: cmd_list(kind))
    p = sub.add_parser("models", help="list the offline model catalog and what is installed")
    p.set_defaults(func=cmd_models)


def cmd_list(kind: str) -> int:
    _print_table([(name, target) for name, target in registry.describe(kind)], (kind, "provided by"))
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from rft.catalog import CATALOG

    _print_table([(m.name, "yes" if m.installed() else f"no: {m.install}", m.about) for m in CATALOG.values()],
                 ("model", "installed", "about"))
    return 0


COMMANDS: list[Adder] = [add_generate, add_export, add_verify, add_pool, add_stats, add_listings,
                         add_train, add_eval, add_run]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rft", description="rftkit: verifier-based rejection-sampling fine-tuning data. Sample many "
        "chain-of-thought paths per problem, keep the verified-correct distinct ones, pool models, LoRA-train.",
        epilog="Run `rft COMMAND --help` for a command's options.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for user errors too")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in COMMANDS:
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``rft`` console script; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except RftError as e:
        if args.debug:
            raise
        print(f"rft: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rft: interrupted; finished work is saved, re-run the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
