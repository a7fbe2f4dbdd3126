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

    table = Table(*header, box=None, pad_edge=False)
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
    print(f"{out}: {summary['problems']} problems, {summary['samples']} samples, "
          f"accuracy {summary['accuracy']:.1%}, pass@1 {pass_k['1']:.1%}, pass@{args.n} {pass_k[str(args.n)]:.1%}, "
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


COMMANDS: list[Adder] = [add_generate, add_export, add_verify, add_listings]


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
