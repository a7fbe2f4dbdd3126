"""Vision-language path on CPU with the tiny random LLaVA: image prompts, pixels reaching the model, and
generate -> verify -> export through the real pipeline, ending in records TRL's VLM SFT collator accepts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rft.errors import DataError, RftError
from rft.records import Problem, SamplingParams
from rft.vlm import image_messages, load_images

pytest.importorskip("torch")

COUNT_ARGS = {"count": 3, "min_objects": 2, "max_objects": 2, "kinds": "total", "background": "plain"}
REPLY = "<answer>2</answer>"


@pytest.fixture(scope="module")
def tiny_vlm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from rft.vlm import build_tiny_llava

    return build_tiny_llava(tmp_path_factory.mktemp("tiny-vlm") / "model", image_size=32)


@pytest.fixture(scope="module")
def count_problems(tmp_path_factory: pytest.TempPathFactory) -> list[Problem]:
    from rft.tasks.count import CountTask

    images = tmp_path_factory.mktemp("count-images")
    return list(CountTask(**COUNT_ARGS, image_dir=str(images)).problems())


@pytest.fixture(scope="module")
def answering_vlm(tiny_vlm: Path, count_problems: list[Problem], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny VLM with its output layer fitted (a few Adam steps) to reply REPLY to the count prompts.

    Every problem in ``count_problems`` has the answer 2, so the model's samples are correct and the
    run has something to export.
    """
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    out = tmp_path_factory.mktemp("answering-vlm")
    processor = AutoProcessor.from_pretrained(tiny_vlm)
    model = AutoModelForImageTextToText.from_pretrained(tiny_vlm, dtype=torch.float32)
    reply = {"role": "assistant", "content": [{"type": "text", "text": REPLY}]}
    texts = [processor.apply_chat_template(p.messages() + [reply], tokenize=False) for p in count_problems]
    prompt = processor.apply_chat_template(count_problems[0].messages(), tokenize=False, add_generation_prompt=True)
    pictures = load_images([p.images[0] for p in count_problems])
    enc = processor(text=texts, images=pictures, return_tensors="pt", padding=True)
    prompt_len = len(processor(text=[prompt], images=pictures[:1])["input_ids"][0])
    labels = enc["input_ids"].clone()
    labels[:, :prompt_len] = -100
    labels[enc["attention_mask"] == 0] = -100
    for param in model.parameters():
        param.requires_grad_(False)
    head = model.get_output_embeddings().weight
    head.requires_grad_(True)
    opt = torch.optim.Adam([head], lr=5e-2)
    torch.manual_seed(0)
    for _ in range(10):
        model(**enc, labels=labels).loss.backward()
        opt.step()
        opt.zero_grad()
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out


def test_image_messages_adds_placeholders_once() -> None:
    plain = [{"role": "system", "content": "s"}, {"role": "user", "content": "How many?"}]
    with_parts = image_messages(plain, 2)
    assert with_parts[1]["content"] == [{"type": "image"}, {"type": "image"}, {"type": "text", "text": "How many?"}]
    assert plain[1]["content"] == "How many?"  # not modified in place
    assert image_messages(with_parts, 2) is with_parts and image_messages(plain, 0) is plain


def test_missing_image_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="image not found"):
        load_images([str(tmp_path / "nope.png")])
    (tmp_path / "bad.png").write_text("not a png")
    with pytest.raises(DataError, match="cannot be read"):
        load_images([str(tmp_path / "bad.png")])


def test_engine_feeds_pixels_to_the_model(tiny_vlm: Path, count_problems: list[Problem]) -> None:
    from rft.engines.transformers import TransformersEngine

    engine = TransformersEngine(str(tiny_vlm), batch_size=8, dtype="float32")
    assert engine.processor is not None
    a, b = count_problems[0], count_problems[1]
    same_as_a = Problem(id="a-again", prompt=a.prompt, answer=a.answer, images=a.images)
    other_picture = Problem(id="a-text-b-picture", prompt=a.prompt, answer=a.answer, images=b.images)
    text_only = Problem(id="text", prompt="How many legs does a cat have?", answer="4")
    prompt = engine.prompts([a])[0]
    assert prompt.count("<image>") == 1 and "How many objects" in prompt
    params = SamplingParams(n=1, temperature=0, max_new_tokens=8)
    out = {g[0].problem_id: g[0] for g in engine.generate([a, same_as_a, other_picture, text_only], params)}
    assert out[a.id].text == out["a-again"].text  # same pixels, same text -> same greedy output
    assert out[a.id].text != out["a-text-b-picture"].text  # only the pixels differ
    image_tokens = (32 // 8) ** 2  # the one <image> token in the text expands to one token per patch
    assert out[a.id].prompt_tokens == len(engine.tokenizer(prompt)["input_ids"]) - 1 + image_tokens
    engine.close()


def test_text_model_refuses_image_problems(count_problems: list[Problem]) -> None:
    from rft.engines.transformers import TransformersEngine

    engine = TransformersEngine("tiny-random-llama")
    with pytest.raises(RftError, match="takes no images"):
        next(engine.generate(count_problems, SamplingParams(n=1, max_new_tokens=2)))


def test_generate_verify_export(answering_vlm: Path, tmp_path: Path) -> None:
    from rft.export import export
    from rft.pipeline import GenerateConfig, generate

    run = tmp_path / "run"
    summary = generate(GenerateConfig(
        task="count", out=run, task_args={**COUNT_ARGS, "image_dir": str(tmp_path / "images")},
        model=str(answering_vlm), engine_args={"dtype": "float32"}, progress=False,
        sampling=SamplingParams(n=2, temperature=0.7, max_new_tokens=12)))
    samples = [json.loads(line) for line in (run / "samples.jsonl").read_text().splitlines()]
    assert len(samples) == 6 and all(s["verdict"]["verifier"] == "count" for s in samples)
    correct = [s for s in samples if s["verdict"]["correct"]]
    assert correct and all(s["verdict"]["extracted"] == "2" for s in correct), samples
    assert summary["task"] == "count"

    rows = export(run, tmp_path / "sft")
    assert 1 <= rows <= len(correct)
    first = json.loads((tmp_path / "sft" / "train.jsonl").read_text().splitlines()[0])
    user, reply = first["messages"]
    assert user["content"][0] == {"type": "image"} and user["content"][1]["type"] == "text"
    assert reply["role"] == "assistant" and REPLY in json.dumps(reply["content"])
    assert len(first["images"]) == 1 and Path(first["images"][0]).is_file()


def test_exported_rows_feed_trl_vlm_collation(answering_vlm: Path, tmp_path: Path) -> None:
    """The exported HF dataset goes through TRL's message preparation and the processor's chat template."""
    pytest.importorskip("trl")
    import datasets
    from transformers import AutoProcessor
    from trl.data_utils import prepare_multimodal_messages

    from rft.export import export
    from rft.pipeline import GenerateConfig, generate

    run = tmp_path / "run"
    generate(GenerateConfig(task="count", out=run, task_args={**COUNT_ARGS, "count": 1,
                                                              "image_dir": str(tmp_path / "images")},
                            model=str(answering_vlm), engine_args={"dtype": "float32"}, progress=False,
                            sampling=SamplingParams(n=1, temperature=0, max_new_tokens=12)))
    assert export(run, tmp_path / "sft") == 1
    row = datasets.load_from_disk(str(tmp_path / "sft" / "hf"))[0]
    messages = prepare_multimodal_messages(row["messages"], images=load_images(row["images"]))
    processor = AutoProcessor.from_pretrained(answering_vlm)
    batch = processor.apply_chat_template([messages], tokenize=True, return_dict=True, return_tensors="pt")
    image_id = processor.tokenizer.convert_tokens_to_ids("<image>")
    assert batch["pixel_values"].shape[0] == 1
    assert int((batch["input_ids"] == image_id).sum()) == (32 // 8) ** 2


def test_lora_targets_leave_the_vision_side_alone_unless_asked(tiny_vlm: Path) -> None:
    from transformers import AutoModelForImageTextToText

    from rft.vlm import lora_targets

    model = AutoModelForImageTextToText.from_pretrained(tiny_vlm)
    default = lora_targets(model)
    assert default and all(n.startswith("model.language_model.") for n in default)
    named = lora_targets(model, ("q_proj", "lm_head"))
    assert "lm_head" in named and all(n == "lm_head" or n.endswith("self_attn.q_proj") for n in named)
    assert not any("vision_tower" in n for n in named)  # CLIP has q_proj layers too
    projector = set(lora_targets(model, projector=True)) - set(default)
    assert projector == {"model.multi_modal_projector.linear_1", "model.multi_modal_projector.linear_2"}
    vision = set(lora_targets(model, ("q_proj",), vision_tower=True)) - set(named)
    assert vision and all(n.startswith("model.vision_tower.") and n.endswith("q_proj") for n in vision)


def test_lora_sft_on_image_rows_and_the_adapter_reloads(tiny_vlm: Path, count_problems: list[Problem],
                                                        tmp_path: Path) -> None:
    """`rft train` on exported-style image+text rows: the loss falls, only the language model is adapted,
    and the adapter, reloaded by the engine, keeps the low loss on the picture prompts."""
    pytest.importorskip("peft")
    import torch
    from safetensors import safe_open

    from rft.engines.transformers import TransformersEngine
    from rft.train import CompletionCollator, TrainConfig, encode_images, train

    rows = [{"messages": p.messages() + [{"role": "assistant", "content": [{"type": "text", "text": REPLY}]}],
             "images": list(p.images), "answer": p.answer} for p in count_problems]
    (tmp_path / "sft").mkdir()
    (tmp_path / "sft" / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "adapter"
    summary = train(TrainConfig(data=tmp_path / "sft", out=out, model=str(tiny_vlm), max_steps=24, batch_size=3,
                                grad_accum=1, learning_rate=0.1, warmup=0, logging_steps=4, dtype="float32",
                                target_modules=("q_proj", "v_proj", "lm_head"), progress=False))
    losses = [p["loss"] for p in summary["loss_curve"]]
    assert summary["examples"] == 3 and losses[-1] < 0.25 * losses[0], losses
    with safe_open(str(out / "adapter_model.safetensors"), "pt") as f:
        keys = list(f.keys())
    assert any("language_model" in k for k in keys)
    assert not any("vision_tower" in k or "multi_modal_projector" in k for k in keys)  # the vision side is frozen

    def loss(engine: TransformersEngine) -> float:
        examples, _ = encode_images(engine.processor, rows, 1024)
        batch = CompletionCollator(engine.tokenizer.pad_token_id, image_processor=engine.processor.image_processor)
        with torch.inference_mode():
            return float(engine.model(**batch(examples)).loss)

    base = TransformersEngine(str(tiny_vlm), dtype="float32")
    tuned = TransformersEngine(str(tiny_vlm), adapter=str(out), dtype="float32")
    assert tuned.model_id.endswith("+adapter")
    assert loss(tuned) < 0.2 * loss(base), (loss(tuned), loss(base))
    params = SamplingParams(n=1, temperature=0, max_new_tokens=8)
    texts = [[g[0].text for g in engine.generate(count_problems, params)] for engine in (base, tuned)]
    assert texts[0] != texts[1] and all(t.startswith("<answer>") for t in texts[1]), texts


def test_text_model_refuses_image_rows(count_problems: list[Problem], tmp_path: Path) -> None:
    pytest.importorskip("peft")
    from rft.train import TrainConfig, train

    row = {"messages": count_problems[0].messages() + [{"role": "assistant", "content": REPLY}],
           "images": list(count_problems[0].images)}
    (tmp_path / "sft").mkdir()
    (tmp_path / "sft" / "train.jsonl").write_text(json.dumps(row) + "\n")
    with pytest.raises(RftError, match="not a vision-language model"):
        train(TrainConfig(data=tmp_path / "sft", out=tmp_path / "out", model="tiny-random-llama", max_steps=1))
