"""``rft run CONFIG.yaml``: the closed RFT loop (generate -> pool -> train -> eval), resumable, with a report.

One YAML file names the sampling tasks, the sampler models, n and decoding, the distinct-path
settings, the LoRA settings and the held-out eval tasks. ``rounds: R`` repeats the loop: round r
samples with every model not yet sampled (round 1: the configured models; later rounds: the
adapter trained in round r-1), pools the distinct correct paths of all samples so far, trains a
fresh LoRA adapter on the base model, and evaluates it. Every stage writes under ``out``::

    eval-base/<model>/<task>/          base models on the eval tasks (rft eval)
    round1/gen-<model>-<task>/         samples (rft generate run directories)
    round1/pooled/                     distinct correct paths (rft pool)
    round1/adapter-round1/             the LoRA adapter (rft train)
    round1/eval/<task>/                the adapter on the eval tasks (rft eval)
    stages.json                        one entry per finished stage: its settings' fingerprint, time, result
    report.md, report.json, accuracy.png, distinct.png

Re-running the same file skips every finished stage (its entry in ``stages.json`` matches and its
outputs exist) and resumes an interrupted one (generation and training resume from their last
problem / checkpoint). Relative paths in the file are relative to the working directory.

    rft run examples/arith_cpu.yaml
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rft.catalog import DEFAULT_MODEL
from rft.distinct import DistinctConfig
from rft.errors import RftError
from rft.evaluate import EvalConfig, EvalDecoding, evaluate, paired_gain
from rft.jsonl import write_json
from rft.pipeline import GenerateConfig, generate
from rft.pool import pool_runs
from rft.records import SamplingParams
from rft.train import TRAIN_SUMMARY, TrainConfig, train

STAGES, REPORT_MD, REPORT_JSON, ACCURACY_PNG, DISTINCT_PNG = (
    "stages.json", "report.md", "report.json", "accuracy.png", "distinct.png")
REPORT_FORMAT = 2  # bump when the report's content changes, so that re-running a finished config rewrites it


# ---------------------------------------------------------------- configuration
@dataclass(frozen=True)
class TaskSpec:
    """A task split: ``task`` name, its ``data`` file and ``args``, the first ``limit`` problems.

    ``name`` labels its directories (default: the task name).
    """

    task: str
    data: str | None = None
    args: dict[str, Any] = field(default_factory=dict)
    limit: int | None = None
    verifier: str | None = None
    verifier_args: dict[str, Any] = field(default_factory=dict)
    name: str | None = None

    @property
    def label(self) -> str:
        return _slug(self.name or self.task)


@dataclass(frozen=True)
class ModelSpec:
    """A sampler: ``model`` (catalog name, path or Hub id), its engine, and an optional adapter."""

    model: str
    engine: str = "transformers"
    engine_args: dict[str, Any] = field(default_factory=dict)
    name: str | None = None
    adapter: str | None = None

    @property
    def label(self) -> str:
        return _slug(self.name or Path(self.model).name)


@dataclass(frozen=True, kw_only=True)
class EvalSettings(EvalDecoding):
    """The eval tasks and their decoding (`rft.evaluate.EvalDecoding`); ``base`` also evaluates the base models."""

    tasks: tuple[TaskSpec, ...]
    base: bool = True
    engine: str | None = None
    engine_args: dict[str, Any] | None = None


@dataclass(frozen=True)
class LoopConfig:
    """A whole RFT experiment, as read from YAML by `load_config`.

    Args:
        out: Root directory of every stage's output.
        rounds: Generate -> pool -> train -> eval repetitions; each round's adapter samples in the next.
        tasks: Sampling (training) task splits.
        models: Sampler models.
        sampling: n and decoding of the sampling runs.
        distinct: Distinct-path selection of the pool.
        train: `rft.train.TrainConfig` settings (``model`` defaults to the first sampler's).
        eval: Eval tasks and decoding.
        progress: Show progress bars.
    """

    out: Path
    tasks: tuple[TaskSpec, ...]
    models: tuple[ModelSpec, ...]
    eval: EvalSettings
    rounds: int = 1
    sampling: SamplingParams = field(default_factory=SamplingParams)
    distinct: DistinctConfig = field(default_factory=DistinctConfig)
    train: dict[str, Any] = field(default_factory=dict)
    progress: bool = True

    @property
    def train_model(self) -> ModelSpec:
        """The model the adapters are trained on, with the engine settings of its sampler entry."""
        name = self.train.get("model") or self.models[0].model
        return next((m for m in self.models if m.model == name), ModelSpec(model=name))


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._+-]+", "-", text).strip("-") or "x"


def _build(cls: Any, values: Any, where: str, **extra: Any) -> Any:
    """``cls(**values, **extra)`` with one-line errors naming ``where`` and the accepted keys."""
    if not isinstance(values, dict):
        raise RftError(f"{where}: expected a mapping, got {type(values).__name__}")
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(values) - set(names))
    clash = sorted(set(values) & set(extra))
    if unknown or clash:
        raise RftError(f"{where}: unknown key(s) {', '.join(unknown + clash)}; "
                       f"known: {', '.join(n for n in names if n not in extra)}")
    types = {f.name: str(f.type) for f in dataclasses.fields(cls)}
    values = {k: _number(v, types[k]) for k, v in values.items()}
    try:
        return cls(**values, **extra)
    except (RftError, TypeError, ValueError) as e:
        raise RftError(f"{where}: {e}") from None


def _number(value: Any, annotation: str) -> Any:
    """YAML reads ``2e-4`` as a string; turn such strings into the number a numeric field expects."""
    if isinstance(value, str):
        for kind in (int, float):
            if annotation.split(" | ")[0] == kind.__name__:
                try:
                    return kind(value)
                except ValueError:
                    return value
    return value


def _tasks(data: Any, where: str) -> tuple[TaskSpec, ...]:
    items = data if isinstance(data, list) else [data]
    if not items or data is None:
        raise RftError(f"{where}: name at least one task, e.g. {{task: gsm8k, data: gsm8k/train.jsonl}}")
    specs = tuple(_build(TaskSpec, item, f"{where}[{i}]") for i, item in enumerate(items))
    labels = [s.label for s in specs]
    if len(set(labels)) != len(labels):
        raise RftError(f"{where}: two entries share the label {labels}; give them distinct `name`s")
    return specs


def load_config(path: str | Path, progress: bool = True) -> LoopConfig:
    """Read and check a ``rft run`` YAML file.

    Raises:
        RftError: Missing file, bad YAML, unknown keys or bad values; the message names the key.
    """
    import yaml

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise RftError(f"cannot read {path}: {e.strerror}") from None
    except yaml.YAMLError as e:
        raise RftError(f"{path}: invalid YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise RftError(f"{path}: expected a mapping with out, tasks, models, ... at the top")
    known = {"out", "rounds", "tasks", "models", "sampling", "distinct", "train", "eval"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise RftError(f"{path}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    if not data.get("out"):
        raise RftError(f"{path}: set `out:`, the directory every stage writes to")
    models = data.get("models") or [{"model": DEFAULT_MODEL}]
    models = [m if isinstance(m, dict) else {"model": m} for m in (models if isinstance(models, list) else [models])]
    model_specs = tuple(_build(ModelSpec, m, f"{path}: models[{i}]") for i, m in enumerate(models))
    if len({m.label for m in model_specs}) != len(model_specs):
        raise RftError(f"{path}: models: two entries share a label; give them distinct `name`s")
    eval_data = dict(data.get("eval") or {})
    eval_tasks = _tasks(eval_data.pop("tasks", None), f"{path}: eval.tasks")
    if "stop" in eval_data:
        eval_data["stop"] = tuple(eval_data["stop"])
    settings = _build(EvalSettings, eval_data, f"{path}: eval", tasks=eval_tasks)
    sampling = _build(SamplingParams, dict(data.get("sampling") or {}), f"{path}: sampling")
    distinct = _build(DistinctConfig, dict(data.get("distinct") or {}), f"{path}: distinct")
    train_data = dict(data.get("train") or {})
    train_data.setdefault("model", model_specs[0].model)
    checked = _build(TrainConfig, train_data, f"{path}: train", data=".", out=".")  # fail now, not after sampling
    train_data = {k: getattr(checked, k) for k in train_data}
    rounds = data.get("rounds", 1)
    if not isinstance(rounds, int) or rounds < 1:
        raise RftError(f"{path}: rounds must be an integer >= 1, got {rounds!r}")
    return LoopConfig(out=Path(str(data["out"])), tasks=_tasks(data.get("tasks"), f"{path}: tasks"),
                      models=model_specs, eval=settings, rounds=rounds, sampling=sampling, distinct=distinct,
                      train=train_data, progress=progress)


# ---------------------------------------------------------------- stages
def _fingerprint(spec: Any) -> str:
    return hashlib.sha1(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()[:16]


class _Ledger:
    """``stages.json``: finished stages by key, each with its settings' fingerprint, seconds and result."""

    def __init__(self, root: Path, console: Any):
        self.path = root / STAGES
        self.console = console
        self.entries: dict[str, Any] = json.loads(self.path.read_text(encoding="utf-8")) if self.path.exists() else {}
        self.ran: list[str] = []
        self.skipped: list[str] = []

    def run(self, key: str, spec: Any, outputs: Sequence[Path], fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """Run ``fn`` unless ``key`` finished with the same ``spec`` and all its ``outputs`` still exist."""
        fp = _fingerprint(spec)
        entry = self.entries.get(key)
        if entry and entry["fingerprint"] == fp and all(p.exists() for p in outputs):
            self.skipped.append(key)
            self._say(f"[dim]done[/] {key}")
            return entry["result"]
        self._say(f"[bold]run[/]  {key}")
        start = time.perf_counter()
        result = fn()
        self.entries[key] = {"fingerprint": fp, "seconds": round(time.perf_counter() - start, 3), "result": result}
        write_json(self.path, self.entries)
        self.ran.append(key)
        return result

    def fingerprint(self, key: str) -> str:
        return self.entries[key]["fingerprint"]

    def seconds(self, key: str) -> float:
        return float(self.entries.get(key, {}).get("seconds", 0.0))

    def _say(self, text: str) -> None:
        if self.console is not None:
            self.console.print(text)


@dataclass
class _Run:
    """Where one loop's stages are and what they returned."""

    config: LoopConfig
    ledger: _Ledger
    gens: list[tuple[int, ModelSpec, TaskSpec, Path]] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)   # eval results, for the report
    rounds: list[dict[str, Any]] = field(default_factory=list)


def _generate(run: _Run, round_no: int, model: ModelSpec, task: TaskSpec) -> None:
    cfg = run.config
    out = cfg.out / f"round{round_no}" / f"gen-{model.label}-{task.label}"
    engine_args = dict(model.engine_args, **({"adapter": model.adapter} if model.adapter else {}))
    gen = GenerateConfig(task=task.task, out=out, data=task.data, task_args=task.args, model=model.model,
                         engine=model.engine, engine_args=engine_args, verifier=task.verifier,
                         verifier_args=task.verifier_args, sampling=cfg.sampling, limit=task.limit,
                         progress=cfg.progress)
    spec = {k: v for k, v in dataclasses.asdict(gen).items() if k not in ("progress", "out")}
    if model.adapter:
        spec["adapter_fingerprint"] = run.ledger.fingerprint(f"round{round_no - 1}/train")

    def stage() -> dict[str, Any]:
        s = generate(gen)
        return {k: s[k] for k in ("problems", "samples", "correct_samples", "accuracy", "coverage",
                                  "completion_tokens", "generation_seconds")}

    run.ledger.run(f"round{round_no}/gen-{model.label}-{task.label}", spec, [out / "summary.json"], stage)
    run.gens.append((round_no, model, task, out))


def _evaluate(run: _Run, key: str, out: Path, model: ModelSpec, task: TaskSpec, upstream: str | None) -> dict:
    ev = run.config.eval
    engine = ev.engine or model.engine
    engine_args = ev.engine_args if ev.engine_args is not None else model.engine_args
    config = EvalConfig(task=task.task, out=out, data=task.data, task_args=task.args, model=model.model,
                        adapter=model.adapter, engine=engine, engine_args=engine_args, verifier=task.verifier,
                        verifier_args=task.verifier_args, limit=task.limit, progress=run.config.progress,
                        **ev.decoding())
    spec = {k: v for k, v in dataclasses.asdict(config).items() if k not in ("progress", "out")}
    spec["upstream"] = upstream

    def stage() -> dict[str, Any]:
        result = evaluate(config)
        return {k: result[k] for k in ("accuracy", "ci95", "problems", "completion_tokens", "seconds")
                } | {k: result[k] for k in ("greedy", "sampled") if k in result}

    return run.ledger.run(key, spec, [out / "eval.json"], stage)


def _round(run: _Run, r: int) -> None:
    cfg, ledger = run.config, run.ledger
    base = cfg.train_model
    samplers = list(cfg.models) if r == 1 else [dataclasses.replace(
        base, name=f"rft-round{r - 1}", adapter=str(cfg.out / f"round{r - 1}" / f"adapter-round{r - 1}"))]
    for model in samplers:
        for task in cfg.tasks:
            _generate(run, r, model, task)
    root = cfg.out / f"round{r}"
    runs = [out for _, _, _, out in run.gens]
    pooled = root / "pooled"
    pool_spec = {"distinct": cfg.distinct.to_dict(),
                 "runs": {str(out): ledger.fingerprint(f"round{g}/gen-{m.label}-{t.label}")
                          for g, m, t, out in run.gens}}

    def pool_stage() -> dict[str, Any]:
        report = pool_runs(runs, pooled, cfg.distinct).to_dict()
        return {k: report[k] for k in ("problems", "problems_with_paths", "samples", "correct", "kept", "rejected",
                                        "models")}

    pool = ledger.run(f"round{r}/pool", pool_spec, [pooled / "report.json"], pool_stage)
    adapter = root / f"adapter-round{r}"
    train_config = TrainConfig(**{**cfg.train, "data": pooled, "out": adapter, "progress": cfg.progress})
    train_spec = {"train": train_config.identity(), "pool": ledger.fingerprint(f"round{r}/pool")}

    def train_stage() -> dict[str, Any]:
        s = train(train_config)
        return {k: s[k] for k in ("examples", "steps", "epochs", "tokens", "label_tokens", "tokens_per_second",
                                  "train_loss", "final_loss", "seconds")}

    trained = ledger.run(f"round{r}/train", train_spec, [adapter / TRAIN_SUMMARY], train_stage)
    model = dataclasses.replace(base, name=f"rft-round{r}", adapter=str(adapter))
    for task in cfg.eval.tasks:
        key = f"round{r}/eval-{task.label}"
        result = _evaluate(run, key, root / "eval" / task.label, model, task, ledger.fingerprint(f"round{r}/train"))
        run.rows.append({"round": r, "model": model.label, "task": task.label, **result,
                         "seconds": ledger.seconds(key), "dir": str(root / "eval" / task.label)})
    gen_keys = [k for k in ledger.entries if k.startswith(f"round{r}/gen-")]
    run.rounds.append({
        "round": r, "samplers": [m.label for m in samplers], "pool": pool, "train": trained,
        "sampling_tokens": sum(ledger.entries[k]["result"]["completion_tokens"] for k in gen_keys),
        "seconds": round(sum(ledger.seconds(k) for k in ledger.entries if k.startswith(f"round{r}/")), 3),
    })


def run_loop(config: LoopConfig, console: Any = None) -> dict[str, Any]:
    """Run (or resume) every stage of ``config`` and write the report; returns ``report.json``'s content.

    The result's ``stages_run`` and ``stages_skipped`` list the stage keys this call ran and skipped.
    """
    config.out.mkdir(parents=True, exist_ok=True)
    run = _Run(config, _Ledger(config.out, console))
    if config.eval.base:
        bases = list(config.models) + ([config.train_model] if config.train_model not in config.models else [])
        for model in bases:
            for task in config.eval.tasks:
                key = f"eval-base/{model.label}/{task.label}"
                result = _evaluate(run, key, config.out / key, model, task, None)
                run.rows.append({"round": 0, "model": model.label, "task": task.label, **result,
                                 "seconds": run.ledger.seconds(key), "dir": str(config.out / key)})
    for r in range(1, config.rounds + 1):
        _round(run, r)
    report = _report(run)
    return report | {"stages_run": run.ledger.ran, "stages_skipped": run.ledger.skipped}


# ---------------------------------------------------------------- report
def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def _ci(result: dict[str, Any]) -> str:
    lo, hi = result["ci95"]
    return f"{_pct(result['accuracy'])} [{100 * lo:.1f}, {100 * hi:.1f}]"


def _gains(config: LoopConfig, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each trained round against the base model on the same eval problems (`rft.evaluate.paired_gain`)."""
    base = {r["task"]: r for r in rows if r["round"] == 0 and r["model"] == config.train_model.label}
    return [{"round": r["round"], "model": r["model"], "task": r["task"], **paired_gain(base[r["task"]]["dir"], r["dir"])}
            for r in rows if r["round"] > 0 and r["task"] in base]


def _gain_lines(gains: list[dict[str, Any]]) -> list[str]:
    lines = ["## Gain over the base model", "",
             "Paired over the same eval problems: the gain in points with a paired bootstrap 95% interval, the "
             "problems only the trained model solves (wins) and only the base model solves (losses), and the "
             "exact McNemar p-value of greedy accuracy (below 0.05: the gain is unlikely to be noise).", "",
             "| round | model | eval task | decoding | base | trained | gain [95% CI] | wins / losses | p |",
             "|---:|---|---|---|---:|---:|---|---:|---:|"]
    for g in gains:
        for kind in ("greedy", "sampled"):
            if kind in g:
                k = g[kind]
                lo, hi = k["ci95"]
                p = f"{k['p_value']:.3g}" if "p_value" in k else "-"
                lines.append(f"| {g['round']} | {g['model']} | {g['task']} | {kind} | {_pct(k['baseline'])} | "
                             f"{_pct(k['candidate'])} | {100 * k['gain']:+.1f} [{100 * lo:+.1f}, {100 * hi:+.1f}] | "
                             f"{k['wins']} / {k['losses']} | {p} |")
    return lines + [""]


def _markdown(config: LoopConfig, rows: list[dict[str, Any]], rounds: list[dict[str, Any]],
              stages: dict[str, Any], gains: list[dict[str, Any]]) -> str:
    s = config.sampling
    lines = [f"# RFT run: {config.out}", "",
             f"- rounds: {config.rounds}; samplers: {', '.join(m.label for m in config.models)}; "
             f"trained model: {config.train_model.label}",
             f"- sampling tasks: {', '.join(t.label for t in config.tasks)}; n = {s.n}, temperature {s.temperature}, "
             f"top_p {s.top_p}, max_new_tokens {s.max_new_tokens}",
             f"- eval tasks: {', '.join(t.label for t in config.eval.tasks)}; "
             + ("greedy" if config.eval.greedy else f"sampled n = {config.eval.n}")
             + f", max_new_tokens {config.eval.max_new_tokens}", "",
             "## Accuracy", "",
             "Round 0 is the base model. Accuracy with its 95% confidence interval over problems "
             "(Wilson for greedy decoding, bootstrap for sampled metrics).", "",
             "| round | model | eval task | problems | accuracy [95% CI] | sampled pass@1 [95% CI] | tokens "
             "| wall time |",
             "|---:|---|---|---:|---|---|---:|---:|"]
    for row in rows:
        sampled = row.get("sampled")
        p1 = "-"
        if sampled:
            m = sampled["pass@k"]["1"]
            p1 = f"{_pct(m['value'])} [{100 * m['ci95'][0]:.1f}, {100 * m['ci95'][1]:.1f}]"
        lines.append(f"| {row['round']} | {row['model']} | {row['task']} | {row['problems']} | {_ci(row)} | {p1} | "
                     f"{row['completion_tokens']} | {row['seconds']:.0f} s |")
    lines += [""] + (_gain_lines(gains) if gains else [])
    lines += ["## Rounds", "",
              "Distinct paths: verified-correct paths kept by the pool (distinct equation signatures / "
              "near-duplicate text removed), over all samples so far.", "",
              "| round | samplers | correct samples | distinct paths | problems with paths | train examples | "
              "steps | train tokens | train tok/s | final loss | sampling tokens | wall time |",
              "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for rd in rounds:
        pool, tr = rd["pool"], rd["train"]
        lines.append(f"| {rd['round']} | {', '.join(rd['samplers'])} | {pool['correct']} | {pool['kept']} | "
                     f"{pool['problems_with_paths']}/{pool['problems']} | {tr['examples']} | {tr['steps']} | "
                     f"{tr['tokens']} | {tr['tokens_per_second']} | {tr['final_loss']} | {rd['sampling_tokens']} | "
                     f"{rd['seconds']:.0f} s |")
    lines += ["", "## Paths per model (last round's pool)", "",
              "| model | samples | correct | distinct | unique | kept |", "|---|---:|---:|---:|---:|---:|"]
    for name, m in rounds[-1]["pool"]["models"].items():
        lines.append(f"| {name} | {m['samples']} | {m['correct']} | {m['distinct']} | {m['unique']} | {m['kept']} |")
    total = sum(float(e.get("seconds", 0)) for e in stages.values())
    lines += ["", "## Stages", "", "| stage | wall time |", "|---|---:|"]
    lines += [f"| {key} | {float(e.get('seconds', 0)):.0f} s |" for key, e in stages.items()]
    lines += [f"| **total** | **{total:.0f} s** |", "",
              f"![accuracy by round]({ACCURACY_PNG})", "", f"![distinct paths vs k]({DISTINCT_PNG})", "",
              f"Stage outputs and their settings: `{STAGES}`; per-run details in each directory's summary.json.", ""]
    return "\n".join(lines)


def _plot_accuracy(rows: list[dict[str, Any]], train_label: str, path: Path) -> None:
    from matplotlib.figure import Figure

    from rft.stats import save_figure

    fig = Figure(figsize=(6, 4), layout="constrained")
    ax = fig.subplots()
    for task in dict.fromkeys(r["task"] for r in rows):
        line = [r for r in rows if r["task"] == task and (r["round"] > 0 or r["model"] == train_label)]
        xs = [r["round"] for r in line]
        ys = [100 * r["accuracy"] for r in line]
        err = [[100 * (r["accuracy"] - r["ci95"][0]) for r in line],
               [100 * (r["ci95"][1] - r["accuracy"]) for r in line]]
        ax.errorbar(xs, ys, yerr=err, marker="o", capsize=4, label=task)
        for r in rows:
            if r["task"] == task and r["round"] == 0 and r["model"] != train_label:
                ax.plot([0], [100 * r["accuracy"]], marker="x", linestyle="none", label=f"{task}: {r['model']}")
    ax.set(title="Eval accuracy by round (0 = base model), 95% CI", xlabel="round", ylabel="accuracy (%)")
    ax.set_xticks(sorted({r["round"] for r in rows}))
    ax.set_ylim(0, 100)
    ax.legend()
    save_figure(fig, path)


def _plot_distinct(gens: list[tuple[int, ModelSpec, TaskSpec, Path]], config: DistinctConfig, path: Path) -> None:
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    from rft.stats import compute_stats, save_figure

    fig = Figure(figsize=(6, 4), layout="constrained")
    ax = fig.subplots()
    for round_no, model, task, out in gens:
        stats = compute_stats(out, config)
        ax.plot(range(1, stats.n + 1), stats.distinct_at_k, marker="o",
                label=f"round {round_no}: {model.label} / {task.label}")
    ax.set(title="Distinct correct paths per problem vs samples", xlabel="k (samples per problem)",
           ylabel="mean distinct paths per problem")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend()
    save_figure(fig, path)


def _report(run: _Run) -> dict[str, Any]:
    cfg, ledger = run.config, run.ledger
    gains = _gains(cfg, run.rows)
    report = {"out": str(cfg.out), "rounds": run.rounds, "evals": run.rows, "gains": gains,
              "seconds": round(sum(float(e.get("seconds", 0)) for e in ledger.entries.values()), 3)}
    outputs = [cfg.out / REPORT_MD, cfg.out / REPORT_JSON, cfg.out / ACCURACY_PNG, cfg.out / DISTINCT_PNG]

    def stage() -> dict[str, Any]:
        _plot_accuracy(run.rows, cfg.train_model.label, cfg.out / ACCURACY_PNG)
        _plot_distinct(run.gens, cfg.distinct, cfg.out / DISTINCT_PNG)
        (cfg.out / REPORT_MD).write_text(_markdown(cfg, run.rows, run.rounds, ledger.entries, gains), encoding="utf-8")
        write_json(cfg.out / REPORT_JSON, report)
        return {"files": [p.name for p in outputs]}

    spec = {"format": REPORT_FORMAT, "stages": {k: v for k, v in ledger.entries.items() if k != "report"}}
    ledger.run("report", spec, outputs, stage)
    return report
