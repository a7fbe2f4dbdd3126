"""Vision-language helpers: image chat messages, image loading, and a tiny LLaVA-style model built from config.

No small pretrained vision-language model ships offline, so tests (and smoke runs of the image
path) use `build_tiny_llava`: a random 2-layer CLIP vision tower (64x64 pixels, 8x8 patches), a
random 2-layer llama language model with the tokenizer of the packaged ``tiny-random-llama``
catalog model plus an ``<image>`` token, a LLaVA projector, and a `LlavaProcessor` (CLIP image
processor + tokenizer + a chat template that understands image content parts). It is saved like any
Hugging Face model, so engines load it by path. Its outputs are noise: it exercises the plumbing,
it does not count.

    python -m rft.vlm runs/tiny-vlm        # then: rft generate --task count --model runs/tiny-vlm ...
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rft.errors import DataError
from rft.records import Messages

IMAGE_TOKEN = "<image>"
# Renders string content as-is and content parts in order, an image part as the image token; an
# assistant turn ends with the EOS token (the model learns to stop), other turns with a newline.
CHAT_TEMPLATE = (
    "{% for m in messages %}{{ m['role'] }}: "
    "{% if m['content'] is string %}{{ m['content'] }}{% else %}{% for part in m['content'] %}"
    "{% if part['type'] == 'image' %}" + IMAGE_TOKEN + "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}{% if m['role'] == 'assistant' %}{{ eos_token }}{% else %}{{ '\\n' }}{% endif %}"
    "{% endfor %}{% if add_generation_prompt %}assistant:{% endif %}"
)


def image_messages(messages: Messages, count: int) -> Messages:
    """Messages whose first user turn holds ``count`` image parts, as processors' chat templates expect.

    Messages that already contain ``{"type": "image"}`` parts are returned unchanged; otherwise the
    placeholders go before the text of the first user message (as TRL does for string content).

    Example:
        >>> image_messages([{"role": "user", "content": "How many?"}], 1)[0]["content"][0]
        {'type': 'image'}
    """
    if count == 0 or any(isinstance(m.get("content"), list) and any(p.get("type") == "image" for p in m["content"])
                         for m in messages):
        return messages
    out = [dict(m) for m in messages]
    user = next(m for m in out if m["role"] == "user")
    text = user["content"]
    user["content"] = [{"type": "image"} for _ in range(count)] + (
        text if isinstance(text, list) else [{"type": "text", "text": text}])
    return out


def load_images(paths: Sequence[str]) -> list[Any]:
    """Open image files as RGB PIL images; a missing or unreadable file is a `DataError` naming it."""
    from PIL import Image, UnidentifiedImageError

    images = []
    for path in paths:
        try:
            with Image.open(path) as img:
                images.append(img.convert("RGB"))
        except FileNotFoundError:
            raise DataError(f"image not found: {path}; re-run the task that wrote it or fix the path") from None
        except (UnidentifiedImageError, OSError) as e:
            raise DataError(f"image {path} cannot be read: {e}") from None
    return images


def is_vision_language(path: str, trust_remote_code: bool = False) -> bool:
    """True if the model at ``path`` has a vision tower (LLaVA, Qwen2-VL, Qwen2.5-VL, ...); False for GGUF files."""
    if str(path).endswith(".gguf"):
        return False
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(path, trust_remote_code=trust_remote_code)
    return getattr(config, "vision_config", None) is not None


PROJECTOR_NAMES = ("multi_modal_projector", "merger")  # LLaVA family, Qwen2-VL / Qwen2.5-VL


def lora_targets(model: Any, target_modules: Sequence[str] = ("all-linear",), projector: bool = False,
                 vision_tower: bool = False) -> list[str]:
    """Full names of the linear layers a vision-language LoRA adapts.

    The language model's layers named in ``target_modules`` (``all-linear``: all of them; the LM head
    only when named), plus with ``projector`` every layer of the image projector, plus with
    ``vision_tower`` the vision tower's layers named in ``target_modules``. Full names keep a name
    such as ``q_proj``, which the vision tower has too, from adapting the (frozen) vision tower.
    """
    import torch

    decoder = model.get_decoder()
    prefix = next(name for name, module in model.named_modules() if module is decoder) + "."
    wanted = None if tuple(target_modules) == ("all-linear",) else set(target_modules)
    names = []
    for name, module in model.named_modules():
        if not isinstance(module, torch.nn.Linear):
            continue
        short = name.rsplit(".", 1)[-1]
        named = wanted is None or short in wanted
        if name.startswith(prefix):
            chosen = named
        elif short == "lm_head":
            chosen = wanted is not None and short in wanted
        elif any(p in name.split(".") for p in PROJECTOR_NAMES):
            chosen = projector
        else:
            chosen = vision_tower and named
        if chosen:
            names.append(name)
    return names


def build_tiny_llava(out: str | Path, seed: int = 0, image_size: int = 64, patch_size: int = 8,
                     tokenizer: str = "tiny-random-llama") -> Path:
    """Build, save and return a random tiny LLaVA model + processor at ``out`` (about 4 M parameters, 1-2 s).

    Args:
        out: Directory to write (``config.json``, ``model.safetensors``, processor and tokenizer files).
        seed: Torch seed for the random weights.
        image_size: Square input size of the vision tower.
        patch_size: Vision patch size; the image becomes ``(image_size // patch_size) ** 2`` tokens.
        tokenizer: Catalog name or path of the tokenizer to reuse (an ``<image>`` token is added).
    """
    import torch
    from transformers import (AutoTokenizer, CLIPVisionConfig, LlamaConfig, LlavaConfig,
                              LlavaForConditionalGeneration, LlavaProcessor)
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    from rft.catalog import resolve

    out = Path(out)
    tok = AutoTokenizer.from_pretrained(resolve(tokenizer))
    tok.add_special_tokens({"additional_special_tokens": [IMAGE_TOKEN]})
    tok.chat_template = CHAT_TEMPLATE
    if tok.pad_token is None:
        tok.pad_token = tok.unk_token or tok.eos_token
    image_processor = CLIPImageProcessorPil(size={"shortest_edge": image_size},
                                            crop_size={"height": image_size, "width": image_size})
    processor = LlavaProcessor(image_processor=image_processor, tokenizer=tok, patch_size=patch_size,
                               vision_feature_select_strategy="default", num_additional_image_tokens=1,
                               chat_template=CHAT_TEMPLATE)
    vision = CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                              image_size=image_size, patch_size=patch_size, projection_dim=32)
    text = LlamaConfig(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                       num_attention_heads=2, num_key_value_heads=2, head_dim=32, max_position_embeddings=2048,
                       bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    config = LlavaConfig(vision_config=vision, text_config=text, vision_feature_layer=-1,
                         image_token_index=tok.convert_tokens_to_ids(IMAGE_TOKEN),
                         image_seq_length=(image_size // patch_size) ** 2)
    torch.manual_seed(seed)
    model = LlavaForConditionalGeneration(config)
    model.generation_config.pad_token_id = tok.pad_token_id
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m rft.vlm OUT``: build the tiny random LLaVA model at OUT."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1 or args[0].startswith("-"):
        print("usage: python -m rft.vlm OUT_DIR   (builds a tiny random LLaVA model for smoke tests)")
        return 2
    print(build_tiny_llava(args[0]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
