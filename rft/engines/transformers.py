"""Hugging Face transformers engine: batched sampling with ``num_return_sequences`` on CPU or CUDA.

Problems are sorted by prompt length and packed into batches of about ``batch_size`` sequences
(``batch_size // n`` problems, each with ``n`` return sequences; a large ``n`` is split across calls),
left-padded, rendered with the model's chat template. Vision-language models (LLaVA, Qwen2-VL,
Qwen2.5-VL: any config with a ``vision_config``) load with their ``AutoProcessor``; problems with
``images`` are rendered with the processor's chat template (image content parts) and their pictures
go through the processor with the text. On CPU it uses one torch thread by default:
measured on 2 cores, one thread per process plus batching beats oversubscribed threads.

    rft generate --engine transformers --engine-arg batch_size=32 --engine-arg dtype=bfloat16 ...
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

from rft.catalog import resolve
from rft.engines.base import Engine, problem_seed, render_chat, truncate_at_stop
from rft.records import Completion, Problem, SamplingParams

DTYPES = ("auto", "bfloat16", "float16", "float32")


class TransformersEngine(Engine):
    """Sample with ``model.generate``.

    Args:
        model: Catalog name, local path or Hugging Face id.
        batch_size: Sequences per ``generate`` call (problems x samples).
        dtype: "auto" (bf16 where supported, else fp32), "bfloat16", "float16" or "float32".
        device: "auto" (CUDA when present), "cpu", "cuda", "cuda:1", ...
        threads: Torch CPU threads; default 1 (see the module docstring), or ``$RFT_THREADS``.
        adapter: Optional path of a peft LoRA adapter to apply on top of the model.
    """

    name: ClassVar[str] = "transformers"
    supports_images: ClassVar[bool] = True

    def __init__(self, model: str, *, batch_size: int = 16, dtype: str = "auto", device: str = "auto",
                 threads: int | None = None, adapter: str | None = None,
                 trust_remote_code: bool = False, **kwargs: Any):
        super().__init__(model)
        if dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.torch = torch
        self.batch_size = max(1, int(batch_size))
        self.adapter = adapter
        self.device = ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device
        if self.device == "cpu":
            torch.set_num_threads(int(threads or os.environ.get("RFT_THREADS", 1)))
        path = resolve(model)
        from rft.vlm import is_vision_language

        self.processor: Any = None
        auto_model: Any = AutoModelForCausalLM
        if is_vision_language(path, trust_remote_code):
            from transformers import AutoModelForImageTextToText, AutoProcessor

            self.processor = AutoProcessor.from_pretrained(path, trust_remote_code=trust_remote_code)
            self.tokenizer = self.processor.tokenizer
            auto_model = AutoModelForImageTextToText
        else:
            self.tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model = auto_model.from_pretrained(
            path, dtype=self._dtype(dtype), trust_remote_code=trust_remote_code).to(self.device)
        if adapter:
            from rft.errors import require

            require("peft", "train")
            from peft import PeftModel

            self.model = PeftModel.from_pretrained(self.model, adapter)
        self.model.eval()

    @property
    def model_id(self) -> str:
        return f"{self.model_name}+{os.path.basename(os.path.normpath(self.adapter))}" if self.adapter else self.model_name

    def _dtype(self, dtype: str) -> Any:
        torch = self.torch
        if dtype != "auto":
            return getattr(torch, dtype)
        if self.device.startswith("cuda"):
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.bfloat16  # measured on CPU: ~2.3x faster than fp32 for 0.5B models

    def prompts(self, problems: Sequence[Problem]) -> list[str]:
        """The chat-templated prompt text of each problem (the processor's template for vision-language models)."""
        if self.processor is None or not getattr(self.processor, "chat_template", None):
            return [render_chat(self.tokenizer, p.messages()) for p in problems]
        from rft.vlm import image_messages

        return [self.processor.apply_chat_template(image_messages(p.messages(), len(p.images)), tokenize=False,
                                                   add_generation_prompt=True) for p in problems]

    def generate(self, problems: Sequence[Problem], params: SamplingParams) -> Iterator[list[Completion]]:
        if self.processor is None and any(p.images for p in problems):
            from rft.errors import RftError

            raise RftError(f"model {self.model_name!r} takes no images, but the task has image problems; use a "
                           f"vision-language model (e.g. Qwen/Qwen2-VL-2B-Instruct) or a text mode of the task (count: "
                           f"--task-arg mode=detector)")
        texts = self.prompts(problems)
        lengths = [len(ids) for ids in self.tokenizer(texts, add_special_tokens=False)["input_ids"]]
        order = sorted(range(len(problems)), key=lambda i: lengths[i])
        per_call = max(1, min(params.n, self.batch_size))  # samples of one problem per generate call
        group = max(1, self.batch_size // per_call)  # problems per generate call
        for start in range(0, len(order), group):
            batch = order[start:start + group]
            results: dict[int, list[Completion]] = {i: [] for i in batch}
            for offset in range(0, params.n, per_call):
                k = min(per_call, params.n - offset)
                self._seed(params.seed, problems[batch[0]].id, offset)
                images = [problems[i].images for i in batch]
                for i, j, comp in self._generate_batch([texts[i] for i in batch], k, params, images):
                    pid = problems[batch[i]].id
                    results[batch[i]].append(Completion(problem_id=pid, index=offset + j, **comp))
            for i in batch:
                yield results[i]

    def _seed(self, seed: int, problem_id: str, offset: int) -> None:
        self.torch.manual_seed(problem_seed(seed, f"{problem_id}/{offset}"))

    def _encode(self, texts: list[str], images: Sequence[Sequence[str]] = ()) -> Any:
        """Token ids (and pixel values, for problems with images) of a batch of prompt texts."""
        if not any(images):
            return self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(self.device)
        from rft.vlm import load_images

        pictures = load_images([path for paths in images for path in paths])
        bos = self.tokenizer.bos_token  # as the processor's own apply_chat_template: no second BOS
        return self.processor(text=texts, images=pictures, return_tensors="pt", padding=True,
                              add_special_tokens=not (bos and texts[0].startswith(bos))).to(self.device)

    def _generate_batch(self, texts: list[str], k: int, params: SamplingParams,
                        images: Sequence[Sequence[str]] = ()) -> Iterator[tuple[int, int, dict]]:
        enc = self._encode(texts, images)
        greedy = params.temperature == 0  # greedy samples are identical: decode once, repeat k times
        gen_kwargs: dict[str, Any] = dict(
            max_new_tokens=params.max_new_tokens, num_return_sequences=1 if greedy else k, do_sample=not greedy,
            pad_token_id=self.tokenizer.pad_token_id)
        if not greedy:
            gen_kwargs.update(temperature=params.temperature, top_p=params.top_p, top_k=params.top_k or None)
        if params.stop:
            gen_kwargs.update(stop_strings=list(params.stop), tokenizer=self.tokenizer)
        with self.torch.inference_mode():
            out = self.model.generate(**enc, **gen_kwargs)
        new = out[:, enc["input_ids"].shape[1]:].tolist()
        if greedy:
            new = [row for row in new for _ in range(k)]
        prompt_lens = enc["attention_mask"].sum(dim=1).tolist()
        eos = self.tokenizer.eos_token_id
        eos_ids = set(eos if isinstance(eos, list) else [eos])
        gen_eos = getattr(self.model.generation_config, "eos_token_id", None)
        eos_ids |= set(gen_eos if isinstance(gen_eos, list) else [gen_eos] if gen_eos is not None else [])
        eos_ids.add(self.tokenizer.pad_token_id)  # rows stopped by a stop string are padded after it
        for row, ids in enumerate(new):
            i, j = divmod(row, k)
            ended = next((t for t, tok in enumerate(ids) if tok in eos_ids), None)
            tokens = ids if ended is None else ids[:ended]
            text = self.tokenizer.decode(tokens, skip_special_tokens=True)
            text, stopped = truncate_at_stop(text, params.stop)
            finish = "stop" if ended is not None or stopped or len(tokens) < params.max_new_tokens else "length"
            yield i, j, dict(text=text, prompt_tokens=int(prompt_lens[i]),
                             completion_tokens=len(tokens), finish_reason=finish)

    def close(self) -> None:
        del self.model
