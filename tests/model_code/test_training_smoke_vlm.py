"""The training entry points of llava, ranker and blip2_attributes: ``main()`` runs a few steps on synthetic
data from tiny models, and the served handler (``model_fn`` of the artifact) loads what it wrote.

The VLM runs must learn, not only run: their loss falls over the steps and the adapted weights change (the
language model's attention projections, not the vision tower).
"""

from __future__ import annotations

import importlib.util
import json
import sys
from types import ModuleType

import pytest

from tests.model_code.conftest import JSON, MODEL_CODE, b64, train_args, write_images, write_jsonl

PHOTO = (64, 48)


def train_module(model: str) -> ModuleType:
    """``model_code/<model>/train.py`` imported as SageMaker runs it: its own folder first on sys.path."""
    folder = MODEL_CODE / model
    sys.path.insert(0, str(folder))
    try:
        spec = importlib.util.spec_from_file_location(f"train_{model}", folder / "train.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(folder))
    return module


def test_ranker_train_main_learns_covers_and_model_fn_serves_the_output(
    tmp_path, tiny_model, artifact_handler
):
    data = tmp_path / "data"
    images = write_images(data / "img", 4, PHOTO)
    # Every hotel's cover is image 2: a ranker that learns puts it first, whatever the text says.
    hotels = [
        {"hotel_id": f"h{i}", "text": text, "images": images, "cover": 2}
        for i, text in enumerate(
            ["seaside hotel with a pool", "quiet mountain lodge", "city centre boutique hotel"]
        )
    ]
    write_jsonl(
        data / "hotels.jsonl",
        [*hotels, {"hotel_id": "h9", "text": "inn", "better": images[2], "worse": images[0]}],
    )
    out = tmp_path / "out"
    args = train_args(data, out, tiny_model("ranker"), "--steps", "40", "--batch-size", "8", "--lr", "3e-3")
    result = train_module("ranker").main(args)
    assert result["pair_accuracy"] == 1.0 and result["loss_fell"]
    assert result["hotels"] == 3 and result["explicit_pairs"] == 1
    assert (out / "metrics.json").is_file() and (out / "loss_curve.png").is_file()

    handler = artifact_handler("ranker").module
    scorer = handler.model_fn(str(out))
    body = json.dumps(
        {"text": "a new hotel by the lake", "images": [b64((data / name).read_bytes()) for name in images]}
    )
    answer, _ = handler.output_fn(handler.predict_fn(handler.input_fn(body, JSON), scorer), JSON)
    assert json.loads(answer)["best"] == 2


def test_ranker_pairs_are_at_most_one_to_five_in_a_random_order(tmp_path):
    """Each hotel gives its cover against at most five other photos; which side is first is random."""
    import numpy as np

    from common.datasets import Hotel

    train = train_module("ranker")
    hotel = Hotel("h", "text", [tmp_path / f"{i}.jpg" for i in range(9)], cover=3)
    pairs = train.draw_pairs([hotel], [], 5, 5, np.random.default_rng(0))
    cover = hotel.images[3]
    assert len(pairs) == 5 and len({p.first if p.second == cover else p.second for p in pairs}) == 5
    assert all(cover in (p.first, p.second) and (p.first == cover) == p.first_is_better for p in pairs)
    many = train.draw_pairs([hotel], [], 400, 5, np.random.default_rng(1))
    assert 0.4 < sum(p.first_is_better for p in many) / 400 < 0.6


def test_ranker_train_refuses_a_malformed_line_naming_it(tmp_path, tiny_model):
    (tmp_path / "hotels.jsonl").write_text(
        '{"hotel_id": "h1", "text": "x", "images": ["a.jpg"], "cover": 3}\n'
    )
    args = train_args(tmp_path, tmp_path / "out", tiny_model("ranker"))
    with pytest.raises(ValueError, match="line 1"):
        train_module("ranker").main(args)


def summary(out) -> dict:
    return json.loads((out / "training_summary.json").read_text())


def llava_data(folder):
    labels = ["pool", "lobby", "bathroom"]
    write_jsonl(
        folder / "labels.jsonl",
        [{"image": n, "label": labels[i % 3]} for i, n in enumerate(write_images(folder / "img", 3, PHOTO))],
    )
    return folder


def test_llava_train_main_learns_then_model_fn_chats_with_the_merged_output(
    tmp_path, tiny_model, artifact_handler
):
    from safetensors.torch import load_file

    data = llava_data(tmp_path / "data")
    out = tmp_path / "out"
    result = train_module("llava").main(
        train_args(data, out, tiny_model("llava"), "--steps", "6", "--batch-size", "3", "--lr", "1e-2")
    )
    record = summary(out)
    assert record["steps"] == 6 and record == json.loads(json.dumps(result, default=str))
    assert 0 < record["last_loss"] < record["first_loss"]  # it learned the answers (TRL's SFTTrainer)
    assert (record["lora_rank"], record["lora_alpha"]) == (16, 32)
    assert not (out / "adapter_config.json").exists()  # merged weights: what vLLM and model_fn load

    base, tuned = load_file(tiny_model("llava") / "model.safetensors"), load_file(out / "model.safetensors")
    legacy = {name.replace("vision_tower.", "vision_tower.vision_model.", 1): t for name, t in base.items()}
    assert set(tuned) == set(legacy)  # saved with the names DJL's transformers 4.45 and vLLM load
    changed = {name for name, tensor in tuned.items() if not tensor.equal(legacy[name])}
    assert changed and all(name.startswith("language_model.model.layers.") for name in changed)
    assert {name.rsplit(".", 2)[-2] for name in changed} == {"q_proj", "v_proj"}
    config = json.loads((out / "tokenizer_config.json").read_text())
    assert "[/INST]" in config["chat_template"]  # where DJL LMI 0.31 reads it

    handler = artifact_handler("llava").module
    vlm = handler.model_fn(str(out))
    uri = "data:image/jpeg;base64," + b64((data / "img" / "0.jpg").read_bytes())
    request = {
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "image_url", "image_url": {"url": uri}},
                    {"type": "text", "text": "What does this hotel photo show?"},
                ],
            }
        ],
        "max_tokens": 3,
        "temperature": 0,
    }
    answer, _ = handler.output_fn(handler.predict_fn(handler.input_fn(json.dumps(request), JSON), vlm), JSON)
    assert json.loads(answer)["object"] == "chat.completion"


def test_llava_training_targets_end_with_the_eos_token(tmp_path, tiny_model):
    """The hub template closes an answer with the text ``<\\s> ``: a model tuned on it never stops. The
    serving template ends every answer with EOS, so the last supervised token is EOS."""
    from transformers import AutoProcessor

    data = llava_data(tmp_path / "data")
    train = train_module("llava")
    examples = train.read_examples(data)
    hub = AutoProcessor.from_pretrained(tiny_model("llava"))
    eos = hub.tokenizer.eos_token_id

    def last_targets(processor) -> list[int]:
        labels = train.batch_inputs(processor, examples, "What does this hotel photo show?")["labels"]
        return [row[row != -100][-1].item() for row in labels]

    assert eos not in last_targets(hub)  # the defect, as the hub's own template gives it
    assert last_targets(train.use_serving_template(hub)) == [eos] * len(examples)


@pytest.mark.parametrize("merge", [False, True])
def test_blip2_train_main_learns_then_model_fn_answers(tmp_path, tiny_model, artifact_handler, merge):
    from safetensors.torch import load_file

    data = tmp_path / "data"
    rows = [
        {"image": n, "question": "What is the fabric of the shirt?", "answer": a}
        for n, a in zip(write_images(data / "img", 2, PHOTO), ["cotton", "denim"], strict=True)
    ]
    write_jsonl(data / "qa.jsonl", rows)
    out = tmp_path / "out"
    args = train_args(data, out, tiny_model("blip2_attributes"), "--steps", "6", "--lr", "1e-2")
    train = train_module("blip2_attributes")
    result = train.main([*args, "--merge", "true"] if merge else args)
    record = summary(out)
    assert 0 < result["last_loss"] == record["last_loss"] < record["first_loss"]
    assert (out / "adapter" / "adapter_config.json").is_file() is not merge

    base = load_file(tiny_model("blip2_attributes") / "model.safetensors")
    if merge:
        tuned = load_file(out / "model.safetensors")
        changed = {name for name, tensor in tuned.items() if not tensor.equal(base[name])}
        assert changed and {name.rsplit(".", 2)[-2] for name in changed} == {"q", "v"}
        assert all(name.startswith("language_model.") for name in changed)
    else:
        adapter = load_file(out / "adapter" / "adapter_model.safetensors")
        assert any("lora_B" in name and tensor.abs().sum() > 0 for name, tensor in adapter.items())

    handler = artifact_handler("blip2_attributes").module
    answerer = handler.model_fn(str(out))
    body = json.dumps(
        {
            "image": b64((data / "img" / "0.jpg").read_bytes()),
            "questions": ["What is the fabric of the shirt?"],
        }
    )
    answer, _ = handler.output_fn(handler.predict_fn(handler.input_fn(body, JSON), answerer), JSON)
    assert len(json.loads(answer)["answers"]) == 1


def test_blip2_vision_stage_teaches_the_tower_and_a_lora_run_starts_from_it(tmp_path, tiny_model):
    """``--stage vision`` trains the vision tower alone on the ``styles.csv`` values (its loss falls), saves a
    whole base whose other weights are untouched, and the published LoRA run loads that base."""
    from safetensors.torch import load_file

    from vitrine_dev.training.synthetic import attribute_set

    data = attribute_set(tmp_path / "styles", products=12, seed=3, side=64)
    base_dir = tiny_model("blip2_attributes")
    first = tmp_path / "vision"
    train = train_module("blip2_attributes")
    args = ["--steps", "8", "--lr", "3e-3", "--batch-size", "8", "--validation", str(data)]
    result = train.main(train_args(data, first, base_dir, "--stage", "vision", *args))
    record = summary(first)
    assert record["stage"] == "vision" and record["last_loss"] < record["first_loss"]
    assert {"colour", "pattern"} <= set(record["attributes_taught"])  # the fabric is never visible
    assert 0.0 <= result["validation"]["attribute_accuracy"] <= 1.0

    before, after = load_file(base_dir / "model.safetensors"), load_file(first / "model.safetensors")
    changed = {name for name, tensor in after.items() if not tensor.equal(before[name])}
    assert changed and all(name.startswith("vision_model.") for name in changed)

    lora = tmp_path / "lora"
    train.main(train_args(data, lora, first, "--steps", "2"))
    assert (lora / "adapter" / "adapter_config.json").is_file()


def test_blip2_stage_is_checked(tmp_path, tiny_model):
    data = tmp_path / "data"
    names = write_images(data / "img", 1, PHOTO)
    write_jsonl(data / "qa.jsonl", [{"image": names[0], "question": "What colour is it?", "answer": "red"}])
    train = train_module("blip2_attributes")
    with pytest.raises(SystemExit, match="lora or vision"):
        train.main(train_args(data, tmp_path / "out", tiny_model("blip2_attributes"), "--stage", "qformer"))
    with pytest.raises(SystemExit, match="at least two values"):
        train.main(train_args(data, tmp_path / "out", tiny_model("blip2_attributes"), "--stage", "vision"))


def test_blip2_lora_is_the_published_recipe(tmp_path, tiny_model):
    """BLIP-2's LoRA: rank 8, alpha 32 (not 2 x rank), dropout 0.05, on T5's q and v."""
    data = tmp_path / "data"
    names = write_images(data / "img", 1, PHOTO)
    write_jsonl(data / "qa.jsonl", [{"image": names[0], "question": "What colour is it?", "answer": "red"}])
    out = tmp_path / "out"
    train = train_module("blip2_attributes")
    train.main(train_args(data, out, tiny_model("blip2_attributes"), "--steps", "1"))
    config = json.loads((out / "adapter" / "adapter_config.json").read_text())
    assert (config["r"], config["lora_alpha"], config["lora_dropout"]) == (8, 32, 0.05)
    assert set(config["target_modules"]) == {"q", "v"}
    defaults = train.parse_args(train_args(data, out, "base"))
    assert (defaults.lora_rank, defaults.lora_alpha, defaults.lora_dropout, defaults.base_dtype) == (
        8,
        32,
        0.05,
        "float32",
    )


def test_blip2_lora_targets_follow_the_language_model():
    train = train_module("blip2_attributes")
    assert train.lora_targets("t5") == ["q", "v"] and train.lora_targets("opt") == ["q_proj", "v_proj"]
    assert train.lora_targets("llama") == ["q_proj", "v_proj"]
    with pytest.raises(ValueError, match="gpt2"):
        train.lora_targets("gpt2")


def test_llava_trains_on_the_messages_layout_and_validates_label_accuracy(tmp_path):
    """The published SFT layout (``messages`` + ``images``, the prompt listing the labels), hotels split into
    train and validation groups, from a base whose vocabulary holds the labels."""
    from vitrine_dev.modelkit.base import build_base
    from vitrine_dev.training.synthetic import hotel_set

    data = hotel_set(tmp_path / "hotels", hotels=3, seed=4)
    base = build_base("llava", tmp_path / "base")
    out = tmp_path / "out"
    options = [
        "--steps",
        "3",
        "--batch-size",
        "2",
        "--lr",
        "1e-2",
        "--val-fraction",
        "0.34",
        "--train-projector",
        "true",
    ]
    result = train_module("llava").main(train_args(data, out, base, *options))
    assert result["steps"] == 3 and result["validation_photos"] > 0
    assert 0.0 <= result["validation"]["label_accuracy"] <= 1.0


def test_blip2_trains_on_styles_csv_and_validates_attribute_accuracy(tmp_path, artifact_handler):
    from vitrine_dev.modelkit.base import build_base
    from vitrine_dev.training.synthetic import attribute_set

    data = attribute_set(tmp_path / "attributes", products=4, seed=4, side=64)
    base = build_base("blip2_attributes", tmp_path / "base")
    out = tmp_path / "out"
    options = [
        "--steps",
        "4",
        "--batch-size",
        "4",
        "--lr",
        "1e-2",
        "--val-fraction",
        "0.25",
        "--train-qformer",
        "true",
    ]
    result = train_module("blip2_attributes").main(train_args(data, out, base, *options))
    assert result["steps"] == 4 and result["validation_questions"] > 0
    assert 0.0 <= result["validation"]["attribute_accuracy"] <= 1.0
    handler = artifact_handler("blip2_attributes").module
    answerer = handler.model_fn(str(out))  # base (with its trained Q-Former) + adapter/ merged at load
    assert answerer.model is not None
