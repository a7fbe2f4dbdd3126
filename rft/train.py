"""LoRA SFT on an SFT dataset folder (``rft export`` / ``rft pool``): the train stage.

Each ``train.jsonl`` row's ``messages`` are rendered with the model's chat template and tokenized
turn by turn, exactly as the engines render prompts, so the loss falls on the assistant tokens only
(the completion, including the template's end-of-turn token). Batches are length-grouped (little
padding) or, with ``packing``, flattened padding-free into one row with restarting position ids.
The loop is the transformers `Trainer` (devices, mixed precision, gradient accumulation,
checkpoints and resume, ``accelerate launch``/``torchrun`` for several GPUs); the only override is
the loss, which projects through the LM head only the positions that have a label, instead of
materialising logits for every prompt and padding token. On CPU it uses one torch thread per process
(``$RFT_THREADS`` or ``threads`` to change it) and bf16 mixed precision on a bf16-stored base model.

Output folder ``OUT``: a standard peft adapter (``adapter_config.json``,
``adapter_model.safetensors``; load with ``PeftModel.from_pretrained``), ``train_config.json``,
``train_summary.json`` (steps, tokens, tokens/s, final loss, loss curve; written last: the completion
marker), ``checkpoints/checkpoint-N/`` while training (a re-run resumes from the last one), and
``merged/`` with ``merge=True``.

Vision-language models (LLaVA, Qwen2-VL, ...: a config with a ``vision_config``) train on image+text
rows (``images`` paths, image content parts in ``messages``, as ``rft export`` writes for the
``count`` task): the processor's chat template renders them, its image tokens are expanded, the
collator turns the paths into pixel values, and LoRA adapts the language model only (the vision
tower stays frozen; ``train_projector``/``train_vision_tower`` adapt those too).

    rft train data/pooled --out adapters/gsm8k --epochs 2 --rank 16
    torchrun --nproc_per_node 4 -m rft.cli train data/pooled --out adapters/gsm8k   # 4 GPUs, DDP
    >>> from rft.train import TrainConfig, train                              # doctest: +SKIP
    >>> train(TrainConfig(data="data/pooled", out="adapters/gsm8k"))           # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rft.catalog import DEFAULT_MODEL, resolve
from rft.engines.base import render_chat
from rft.errors import DataError, RftError, RunMismatchError, require
from rft.jsonl import read_jsonl, write_json

TRAIN_CONFIG, TRAIN_SUMMARY, CHECKPOINTS, MERGED = "train_config.json", "train_summary.json", "checkpoints", "merged"
DTYPES = ("auto", "bfloat16", "float16", "float32")
IGNORE = -100

# Settings that change what is trained; the others (logging, threads, progress) may differ on resume.
_RUNTIME_KEYS = ("out", "threads", "progress", "logging_steps", "save_steps", "save_total_limit", "keep_checkpoints",
                 "merge")


@dataclass(frozen=True)
class TrainConfig:
    """Everything ``rft train`` needs; recorded in ``OUT/train_config.json``.

    Args:
        data: SFT dataset folder holding ``train.jsonl`` (from ``rft export``/``rft pool``) or a JSONL file.
        out: Output folder for the adapter; a re-run resumes from its last checkpoint.
        model: Base model: catalog name, local path (safetensors folder or ``.gguf`` file) or Hugging Face id.
        rank: LoRA rank ``r``.
        alpha: LoRA ``lora_alpha``.
        dropout: LoRA dropout.
        target_modules: Module names to adapt; ``("all-linear",)`` adapts every linear layer but the LM head.
        epochs: Passes over the data (ignored when ``max_steps`` > 0).
        max_steps: Optimizer steps to run; -1 = use ``epochs``.
        batch_size: Sequences per device per micro-batch.
        grad_accum: Micro-batches per optimizer step.
        learning_rate: Peak learning rate.
        lr_scheduler: A transformers scheduler name ("cosine", "linear", "constant", ...).
        warmup: Warmup as a fraction of the steps (< 1) or a number of steps (>= 1).
        weight_decay: AdamW weight decay.
        max_length: Longest sequence in tokens; longer ones are cut at the end.
        packing: Flatten each micro-batch into one padding-free row (restarting position ids) instead of
            padding length-grouped batches.
        dtype: "auto" (bf16 where supported, else fp16 on CUDA), "bfloat16", "float16" or "float32":
            the dtype the frozen base model is stored in and the mixed-precision compute dtype.
        gradient_checkpointing: Recompute activations in the backward pass (less memory, slower).
        save_steps: Write a checkpoint every this many optimizer steps.
        save_total_limit: Keep at most this many checkpoints.
        keep_checkpoints: Keep ``checkpoints/`` after a successful run (default: delete it).
        logging_steps: Log the loss every this many steps.
        seed: Seed of the LoRA initialisation, data order and dropout.
        merge: Also write ``OUT/merged``: the base model with the adapter merged in.
        threads: Torch CPU threads per process (default 1, or ``$RFT_THREADS``).
        progress: Show the Trainer's progress bar (else it prints the log lines).
        train_projector: Vision-language models: also LoRA-adapt the image projector.
        train_vision_tower: Vision-language models: also LoRA-adapt the vision tower's ``target_modules``.
    """

    data: str | Path
    out: str | Path
    model: str = DEFAULT_MODEL
    rank: int = 16
    alpha: int = 32
    dropout: float = 0.05
    target_modules: tuple[str, ...] = ("all-linear",)
    epochs: float = 2.0
    max_steps: int = -1
    batch_size: int = 4
    grad_accum: int = 4
    learning_rate: float = 2e-4
    lr_scheduler: str = "cosine"
    warmup: float = 0.03
    weight_decay: float = 0.0
    max_length: int = 1024
    packing: bool = False
    dtype: str = "auto"
    gradient_checkpointing: bool = False
    save_steps: int = 50
    save_total_limit: int = 2
    keep_checkpoints: bool = False
    logging_steps: int = 10
    seed: int = 0
    merge: bool = False
    threads: int | None = None
    progress: bool = True
    train_projector: bool = False
    train_vision_tower: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "target_modules", tuple(self.target_modules))
        checks = [(self.rank >= 1, f"rank must be >= 1, got {self.rank}"),
                  (self.alpha > 0, f"alpha must be > 0, got {self.alpha}"),
                  (0 <= self.dropout < 1, f"dropout must be in [0, 1), got {self.dropout}"),
                  (bool(self.target_modules), "target_modules is empty; use all-linear or module names"),
                  (self.epochs > 0 or self.max_steps > 0, "need epochs > 0 or max_steps > 0"),
                  (self.batch_size >= 1 and self.grad_accum >= 1, "batch_size and grad_accum must be >= 1"),
                  (self.learning_rate > 0, f"learning rate must be > 0, got {self.learning_rate}"),
                  (self.warmup >= 0, f"warmup must be >= 0, got {self.warmup}"),
                  (self.max_length >= 8, f"max_length must be >= 8, got {self.max_length}"),
                  (self.dtype in DTYPES, f"dtype must be one of {', '.join(DTYPES)}, got {self.dtype!r}"),
                  (self.save_steps >= 1 and self.logging_steps >= 1, "save_steps and logging_steps must be >= 1")]
        for ok, message in checks:
            if not ok:
                raise RftError(message)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d.update(data=str(self.data), out=str(self.out), target_modules=list(self.target_modules))
        return d

    def identity(self) -> dict[str, Any]:
        """The settings that define the result (a resumed run must match them)."""
        return {k: v for k, v in self.to_dict().items() if k not in _RUNTIME_KEYS}


# ---------------------------------------------------------------- data
def sft_rows(data: str | Path) -> tuple[Path, list[dict[str, Any]]]:
    """The rows of an SFT dataset folder (its ``train.jsonl``) or JSONL file, checked for chat ``messages``."""
    path = Path(data)
    if path.is_dir():
        path = path / "train.jsonl"
    if not path.is_file():
        raise DataError(f"no SFT data at {data}: expected a folder with train.jsonl (from `rft export` or "
                        f"`rft pool`) or a .jsonl file")
    rows = []
    for i, row in enumerate(read_jsonl(path), 1):
        messages = row.get("messages")
        if (not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages)
                or messages[-1].get("role") != "assistant"
                or not all(_valid_content(m.get("content")) for m in messages)):
            raise DataError(f"{path}:{i}: expected 'messages': a list of chat messages (role, content) ending "
                            f"with an assistant turn, as `rft export` writes")
        images = row.get("images") or []
        if not isinstance(images, list) or not all(isinstance(x, str) for x in images):
            raise DataError(f"{path}:{i}: 'images' must be a list of image paths")
        rows.append(row)
    if not rows:
        raise DataError(f"{path} has no rows: nothing to train on (did the runs have verified-correct paths?)")
    return path, rows


def _valid_content(content: Any) -> bool:
    """A message content: a string, or content parts (``{"type": "text", "text": ...}``, ``{"type": "image"}``)."""
    return isinstance(content, str) or (isinstance(content, list) and all(
        isinstance(p, dict) and p.get("type") in ("text", "image") for p in content))


def chat_segments(tokenizer: Any, messages: Sequence[dict[str, Any]]) -> list[tuple[str, bool]]:
    """Split a rendered conversation into ``(text, is_assistant)`` pieces whose concatenation is the whole.

    With a chat template, each assistant turn is what the template adds after the generation prompt
    (content plus end-of-turn token), and the text before it is the prompt the engines render. A
    tokenizer without a template gets the engines' plain ``role: content`` layout, the final
    assistant turn as ``content`` + EOS.

    Raises:
        RftError: The template renders a conversation differently from its own prefixes.
    """
    eos = getattr(tokenizer, "eos_token", None) or ""  # a processor (vision-language models) has a template
    if not getattr(tokenizer, "chat_template", None):
        return [(render_chat(tokenizer, list(messages[:-1])), False), (messages[-1]["content"] + eos, True)]

    def render(msgs: Sequence[dict[str, Any]], prompt: bool) -> str:
        return tokenizer.apply_chat_template(list(msgs), tokenize=False, add_generation_prompt=prompt)

    segments: list[tuple[str, bool]] = []
    done = ""
    for i, message in enumerate(messages):
        if message.get("role") != "assistant":
            continue
        prefix, full = render(messages[:i], True), render(messages[:i + 1], False)
        if not prefix.startswith(done) or not full.startswith(prefix):
            raise RftError("the model's chat template renders a conversation differently from its prefixes, "
                           "so assistant tokens cannot be located; use a model with a standard chat template")
        segments += [(prefix[len(done):], False), (full[len(prefix):], True)]
        done = full
    return segments


Example = dict[str, Any]


def encode(tokenizer: Any, rows: Iterable[dict[str, Any]], max_length: int) -> tuple[list[Example], dict[str, int]]:
    """Tokenize rows into ``input_ids`` and ``labels`` (-100 outside assistant turns), cut at ``max_length``.

    Returns the examples and counts: ``rows``, ``truncated`` (cut at ``max_length``) and ``dropped``
    (no assistant token left after the cut).
    """
    segmented = [chat_segments(tokenizer, row["messages"]) for row in rows]
    texts = [text for segments in segmented for text, _ in segments]
    ids = iter(tokenizer(texts, add_special_tokens=False)["input_ids"]) if texts else iter(())
    examples: list[Example] = []
    stats = {"rows": len(segmented), "truncated": 0, "dropped": 0}
    for segments in segmented:
        input_ids: list[int] = []
        labels: list[int] = []
        for _, trained in segments:
            piece = next(ids)
            input_ids += piece
            labels += piece if trained else [IGNORE] * len(piece)
        if len(input_ids) > max_length:
            stats["truncated"] += 1
            input_ids, labels = input_ids[:max_length], labels[:max_length]
        if all(x == IGNORE for x in labels[1:]):
            stats["dropped"] += 1
            continue
        examples.append({"input_ids": input_ids, "labels": labels, "length": len(input_ids)})
    return examples, stats


def encode_images(processor: Any, rows: Iterable[dict[str, Any]],
                  max_length: int) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """`encode` for vision-language models: rendered with the processor's chat template, each image
    placeholder expanded to the processor's image tokens; examples keep their ``images`` paths (the
    collator turns them into pixel values). A row cut inside its image tokens is dropped. Special tokens
    the template does not write (a BOS) are added as the processor, and so the transformers engine, adds them.
    """
    from rft.vlm import image_messages, load_images

    bos = processor.tokenizer.bos_token
    image_token = getattr(processor, "image_token", None)
    image_id = processor.tokenizer.convert_tokens_to_ids(image_token) if image_token else None
    examples: list[dict[str, Any]] = []
    stats = {"rows": 0, "truncated": 0, "dropped": 0}
    for row in rows:
        stats["rows"] += 1
        paths = list(row.get("images") or [])
        segments = chat_segments(processor, image_messages(row["messages"], len(paths)))
        special = not (bos and segments[0][0].startswith(bos))  # for the first piece only
        input_ids: list[int] = []
        labels: list[int] = []
        used = 0
        for text, trained in segments:
            k = text.count(image_token) if image_token else 0
            if k:
                enc = processor(text=[text], images=load_images(paths[used:used + k]), add_special_tokens=special,
                                return_tensors="pt")
                piece = enc["input_ids"][0].tolist()
            else:
                piece = processor.tokenizer(text, add_special_tokens=special)["input_ids"]
            special = False
            used += k
            input_ids += piece
            labels += piece if trained else [IGNORE] * len(piece)
        if used != len(paths):
            raise DataError(f"row {stats['rows']} ({row.get('sample_id', 'no sample_id')}) has {len(paths)} images "
                            f"but {used} image placeholders in its messages")
        if len(input_ids) > max_length:
            stats["truncated"] += 1
            if image_id is not None and image_id in input_ids[max_length:]:
                stats["dropped"] += 1
                continue
            input_ids, labels = input_ids[:max_length], labels[:max_length]
        if all(x == IGNORE for x in labels[1:]):
            stats["dropped"] += 1
            continue
        examples.append({"input_ids": input_ids, "labels": labels, "length": len(input_ids), "images": paths})
    return examples, stats


@dataclass
class CompletionCollator:
    """Batches tokenized examples: right-padded with an attention mask, or flattened padding-free.

    Args:
        pad_token_id: Token used for padding (its positions get label -100 and attention 0).
        packing: Concatenate the batch into one row with ``position_ids`` restarting at each example
            (attention stays within an example); no padding at all.
        image_processor: Vision-language models: turns the examples' ``images`` paths into pixel values.
    """

    pad_token_id: int
    packing: bool = False
    image_processor: Any = None

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, Any]:
        import torch

        if self.packing:
            ids, labels, positions = [], [], []
            for f in features:
                ids += f["input_ids"]
                labels += [IGNORE] + list(f["labels"][1:])  # never predict across an example boundary
                positions += range(len(f["input_ids"]))
            return {"input_ids": torch.tensor([ids]), "labels": torch.tensor([labels]),
                    "position_ids": torch.tensor([positions])}
        width = max(len(f["input_ids"]) for f in features)
        ids = torch.full((len(features), width), self.pad_token_id, dtype=torch.long)
        labels = torch.full((len(features), width), IGNORE, dtype=torch.long)
        mask = torch.zeros((len(features), width), dtype=torch.long)
        for i, f in enumerate(features):
            n = len(f["input_ids"])
            ids[i, :n] = torch.tensor(f["input_ids"])
            labels[i, :n] = torch.tensor(f["labels"])
            mask[i, :n] = 1
        batch = {"input_ids": ids, "labels": labels, "attention_mask": mask}
        paths = [p for f in features for p in f.get("images") or ()]
        if paths and self.image_processor is not None:
            from rft.vlm import load_images

            batch.update(self.image_processor(images=load_images(paths), return_tensors="pt"))
        return batch


# ---------------------------------------------------------------- model
def load_base(model: str, dtype: Any, trust_remote_code: bool = False) -> tuple[Any, Any]:
    """Tokenizer and causal LM for ``model`` (catalog name, folder, ``.gguf`` file or Hub id).

    A GGUF file is dequantized on load; its quantizer is detached so the model trains, merges and
    saves like any other. A vision-language model comes back as its processor and image-text model.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from rft.vlm import is_vision_language

    path = resolve(model)
    if is_vision_language(path, trust_remote_code):
        from transformers import AutoModelForImageTextToText, AutoProcessor

        processor = AutoProcessor.from_pretrained(path, trust_remote_code=trust_remote_code)
        if processor.tokenizer.pad_token is None:
            processor.tokenizer.pad_token = processor.tokenizer.eos_token
        return processor, AutoModelForImageTextToText.from_pretrained(
            path, dtype=dtype, trust_remote_code=trust_remote_code)
    kwargs: dict[str, Any] = {"trust_remote_code": trust_remote_code}
    if str(path).endswith(".gguf") and Path(path).is_file():
        kwargs["gguf_file"] = Path(path).name
        path = str(Path(path).parent)
    tokenizer = AutoTokenizer.from_pretrained(path, **kwargs)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    lm = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, **kwargs)
    detach_quantizer(lm)
    return tokenizer, lm


def detach_quantizer(model: Any) -> None:
    """Forget the quantizer of a dequantized (GGUF-loaded) model so it trains and saves like any other."""
    quantizer = getattr(model, "hf_quantizer", None)
    if quantizer is not None and getattr(model.config, "quantization_config", None) is not None \
            and getattr(model.config.quantization_config, "quant_method", None) == "gguf":
        quantizer.remove_quantization_config(model)
        for module in model.modules():
            if hasattr(module, "config") and getattr(module.config, "_is_quantized", False):
                module.config._is_quantized = False


def _precision(dtype: str, cuda: bool) -> tuple[Any, dict[str, bool]]:
    """The dtype to store the base model in and the Trainer's mixed-precision flags."""
    import torch

    if dtype == "auto":
        dtype = "bfloat16" if not cuda or torch.cuda.is_bf16_supported() else "float16"
    if dtype == "float32":
        return torch.float32, {}
    return getattr(torch, dtype), {"bf16": dtype == "bfloat16", "fp16": dtype == "float16"}


# Config attributes of models whose logits are scaled or soft-capped after the LM head; for these the
# loss uses the model's own forward instead of projecting the hidden states here.
_LOGIT_TRANSFORMS = ("final_logit_softcapping", "logit_scale", "logits_scaling", "output_multiplier",
                     "lm_head_multiplier")


def _completion_trainer(base: Any) -> Any:
    """A `Trainer` subclass whose loss projects only labelled positions through the LM head."""
    import torch.nn.functional as F
    from transformers import Trainer

    class CompletionTrainer(Trainer):
        tokens = 0          # input tokens this process trained on (this invocation)
        label_tokens = 0    # of which assistant tokens (with a loss)

        def compute_loss(self, model: Any, inputs: dict[str, Any], return_outputs: bool = False,
                         num_items_in_batch: Any = None) -> Any:
            mask = inputs.get("attention_mask")
            self.tokens += int(mask.sum()) if mask is not None else inputs["input_ids"].numel()
            targets = inputs["labels"][:, 1:]
            keep = targets != IGNORE
            self.label_tokens += int(keep.sum())
            text_config = base.config.get_text_config()
            if any(getattr(text_config, name, None) is not None for name in _LOGIT_TRANSFORMS):
                return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
            labels = inputs.pop("labels")
            # Logits for the last position only; the final (normed) hidden states come back for the rest.
            outputs = model(**inputs, logits_to_keep=1, output_hidden_states=True, use_cache=False)
            head = base.get_output_embeddings()
            hidden = outputs.hidden_states[-1][:, :-1][keep]  # accelerate returns fp32 under mixed precision
            logits = head(hidden.to(head.weight.dtype)).float()
            loss = F.cross_entropy(logits, labels[:, 1:][keep], reduction="sum")
            if num_items_in_batch is None:
                loss = loss / keep.sum().clamp(min=1)
            else:
                loss = loss / num_items_in_batch
                if self.args.average_tokens_across_devices:
                    loss = loss * self.accelerator.num_processes
            return (loss, outputs) if return_outputs else loss

    return CompletionTrainer


# ---------------------------------------------------------------- the stage
def _check_out(config: TrainConfig) -> dict[str, Any] | None:
    """The finished summary if ``out`` already holds this training, else None; refuses other settings."""
    out = Path(config.out)
    if out.exists() and not out.is_dir():
        raise RftError(f"--out {out} exists and is not a directory; choose another --out")
    recorded = out / TRAIN_CONFIG
    if recorded.exists():
        try:
            old = json.loads(recorded.read_text(encoding="utf-8"))
        except ValueError:
            raise RftError(f"{recorded} is unreadable; move it away or choose another --out") from None
        new = config.identity()
        diff = [f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in sorted(set(old) | set(new))
                if k not in _RUNTIME_KEYS and old.get(k) != new.get(k)]
        if diff:
            raise RunMismatchError(f"{out} holds a training run with different settings ({'; '.join(diff)}); "
                                   f"use another --out, or the same settings to resume")
        if (out / TRAIN_SUMMARY).exists() and (not config.merge or (out / MERGED / "config.json").exists()):
            return json.loads((out / TRAIN_SUMMARY).read_text(encoding="utf-8"))
    elif out.exists() and any(out.iterdir()):
        raise RftError(f"--out {out} is a non-empty directory that holds no training run; choose another --out")
    return None


def train(config: TrainConfig, callbacks: Sequence[Any] = ()) -> dict[str, Any]:
    """Train a LoRA adapter on ``config.data`` and return the summary (also ``OUT/train_summary.json``).

    Resumes from the last checkpoint in ``OUT/checkpoints``; returns the recorded summary at once if
    ``OUT`` already holds this finished training.

    Args:
        config: The training settings.
        callbacks: Extra transformers ``TrainerCallback``s (early stopping, experiment trackers, ...).

    Raises:
        DataError: The dataset is missing, malformed or empty.
        RunMismatchError: ``OUT`` holds a training run with other settings.
    """
    finished = _check_out(config)
    if finished is not None:
        return finished
    require("peft", "train")
    require("accelerate", "train")
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import TrainingArguments, set_seed
    from transformers.trainer_utils import get_last_checkpoint

    out = Path(config.out)
    data_path, rows = sft_rows(config.data)
    cuda = torch.cuda.is_available()
    if not cuda:
        torch.set_num_threads(int(config.threads or os.environ.get("RFT_THREADS", 1)))
    dtype, mixed = _precision(config.dtype, cuda)
    set_seed(config.seed)
    tokenizer, base = load_base(config.model, dtype)
    processor = tokenizer if hasattr(tokenizer, "image_processor") else None  # a vision-language model
    if processor is not None:
        if config.packing:
            raise RftError("packing is not supported for vision-language models; drop --packing")
        tokenizer = processor.tokenizer
        examples, counts = encode_images(processor, rows, config.max_length)
    elif any(row.get("images") for row in rows) or config.train_projector or config.train_vision_tower:
        raise RftError(f"{data_path} has image rows or asks to train vision parts, but {config.model!r} is not a "
                       f"vision-language model; use one (e.g. Qwen/Qwen2-VL-2B-Instruct)")
    else:
        examples, counts = encode(tokenizer, rows, config.max_length)
    if not examples:
        raise DataError(f"{data_path}: no example keeps an assistant token within max_length={config.max_length}")
    import datasets

    dataset = datasets.Dataset.from_list(examples)
    from accelerate import PartialState

    if PartialState().is_main_process:
        out.mkdir(parents=True, exist_ok=True)
        write_json(out / TRAIN_CONFIG, config.identity())

    target = "all-linear" if config.target_modules == ("all-linear",) else list(config.target_modules)
    if processor is not None:  # the language model only, unless asked: full names, as q_proj is in the vision tower too
        from rft.vlm import lora_targets

        target = lora_targets(base, config.target_modules, config.train_projector, config.train_vision_tower)
    lora = LoraConfig(r=config.rank, lora_alpha=config.alpha, lora_dropout=config.dropout,
                      target_modules=target, task_type="CAUSAL_LM")
    model = get_peft_model(base, lora)
    args = TrainingArguments(
        output_dir=str(out / CHECKPOINTS), num_train_epochs=config.epochs, max_steps=config.max_steps,
        per_device_train_batch_size=config.batch_size, gradient_accumulation_steps=config.grad_accum,
        learning_rate=config.learning_rate, lr_scheduler_type=config.lr_scheduler, warmup_steps=config.warmup,
        weight_decay=config.weight_decay, logging_steps=config.logging_steps, save_strategy="steps",
        save_steps=config.save_steps, save_total_limit=config.save_total_limit, seed=config.seed,
        train_sampling_strategy="random" if config.packing else "group_by_length",
        gradient_checkpointing=config.gradient_checkpointing,
        gradient_checkpointing_kwargs={"use_reentrant": False} if config.gradient_checkpointing else None,
        remove_unused_columns=False, report_to="none", disable_tqdm=not config.progress,
        dataloader_pin_memory=cuda, use_cpu=not cuda, **mixed)
    trainer = _completion_trainer(base)(
        model=model, args=args, train_dataset=dataset,
        data_collator=CompletionCollator(tokenizer.pad_token_id, packing=config.packing,
                                         image_processor=processor.image_processor if processor else None),
        callbacks=list(callbacks))
    last = get_last_checkpoint(str(out / CHECKPOINTS)) if (out / CHECKPOINTS).is_dir() else None
    start_step = int(json.loads((Path(last) / "trainer_state.json").read_text())["global_step"]) if last else 0
    started = time.perf_counter()
    result = trainer.train(resume_from_checkpoint=last)
    seconds = time.perf_counter() - started
    tokens = _sum_across_processes(trainer, trainer.tokens)
    label_tokens = _sum_across_processes(trainer, trainer.label_tokens)
    trainer.save_model(str(out))  # every rank calls it; the Trainer writes from the main one
    if not trainer.is_world_process_zero():
        return {}
    if config.merge:
        save_merged(model, processor or tokenizer, out / MERGED)
    curve = [{"step": h["step"], "loss": round(h["loss"], 6)} for h in trainer.state.log_history if "loss" in h]
    summary = {
        "model": config.model, "data": str(data_path), "examples": len(examples), **counts,
        "epochs": trainer.state.epoch, "steps": trainer.state.global_step, "resumed_from_step": start_step,
        "steps_this_run": trainer.state.global_step - start_step, "tokens": tokens, "label_tokens": label_tokens,
        "seconds": round(seconds, 3), "train_runtime": result.metrics.get("train_runtime"),
        "tokens_per_second": round(tokens / seconds, 2) if seconds else None,
        "train_loss": result.training_loss, "final_loss": curve[-1]["loss"] if curve else result.training_loss,
        "loss_curve": curve, "dtype": str(dtype).removeprefix("torch."), "mixed_precision": next(
            (k for k, v in mixed.items() if v), "no"), "device": str(args.device), "world_size": args.world_size,
        "adapter": str(out), "merged": str(out / MERGED) if config.merge else None,
    }
    write_json(out / TRAIN_SUMMARY, summary)
    if not config.keep_checkpoints:
        shutil.rmtree(out / CHECKPOINTS, ignore_errors=True)
    return summary


def _sum_across_processes(trainer: Any, value: int) -> int:
    import torch

    total = trainer.accelerator.reduce(torch.tensor(value, device=trainer.args.device), reduction="sum")
    return int(total.item())


def save_merged(model: Any, tokenizer: Any, path: str | Path) -> None:
    """Merge the adapter into the base weights and save a plain transformers model folder at ``path``."""
    merged = model.merge_and_unload()
    detach_quantizer(merged)
    merged.save_pretrained(str(path))
    tokenizer.save_pretrained(str(path))
