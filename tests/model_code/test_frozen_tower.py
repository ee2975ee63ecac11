"""A frozen image tower computes each photo once in a run (:func:`common.frozen_tower.frozen_tower_cache`), and
the model's loss is the same as without the cache."""

from __future__ import annotations

import torch
from transformers import Blip2ForConditionalGeneration, Blip2Processor

from common.frozen_tower import frozen_tower_cache


def _blip2(folder):
    model = Blip2ForConditionalGeneration.from_pretrained(folder).eval()
    processor = Blip2Processor.from_pretrained(folder)
    if getattr(processor, "num_query_tokens", None) is None:
        processor.num_query_tokens = model.config.num_query_tokens
    model.vision_model.requires_grad_(False)
    return model, processor


def _inputs(processor, colours):
    from PIL import Image

    photos = [Image.new("RGB", (64, 64), colour) for colour in colours]
    inputs = processor(
        images=photos, text=["Question: what colour? Answer:"] * len(photos), return_tensors="pt"
    )
    inputs["labels"] = processor.tokenizer(["red"] * len(photos), return_tensors="pt")["input_ids"]
    return inputs


def test_cached_tower_gives_the_same_loss_and_runs_each_photo_once(tiny_model):
    model, processor = _blip2(tiny_model("blip2_attributes"))
    runs = []
    model.vision_model.register_forward_hook(lambda _m, _in, out: runs.append(len(out.last_hidden_state)))
    first, again = _inputs(processor, ["red", "blue"]), _inputs(processor, ["blue", "green", "red"])
    with torch.no_grad():
        plain = [float(model(**first).loss), float(model(**again).loss)]
    runs.clear()
    with frozen_tower_cache(model, "vision_model") as tower, torch.no_grad():
        cached = [float(model(**first).loss), float(model(**again).loss)]
        assert tower.computed == 3  # red, blue, then green: the repeated photos are looked up
    assert cached == plain
    assert sum(runs) == 3


def test_past_its_memory_limit_the_cache_computes_new_photos_every_time(tiny_model):
    model, processor = _blip2(tiny_model("blip2_attributes"))
    inputs = _inputs(processor, ["red", "blue"])
    with frozen_tower_cache(model, "vision_model", limit_bytes=1) as tower, torch.no_grad():
        first, second = float(model(**inputs).loss), float(model(**inputs).loss)
        assert tower.computed == 4 and tower.kept_bytes == 0
    assert first == second


def test_the_tower_is_put_back_after_the_block(tiny_model):
    model, _ = _blip2(tiny_model("blip2_attributes"))
    tower, keys = model.vision_model, set(model.state_dict())
    with frozen_tower_cache(model, "vision_model"):
        assert model.vision_model is not tower
    assert model.vision_model is tower
    assert set(model.state_dict()) == keys


def test_a_tower_that_learns_is_not_cached(tiny_model):
    model, processor = _blip2(tiny_model("blip2_attributes"))
    model.vision_model.embeddings.requires_grad_(True)
    with frozen_tower_cache(model, "vision_model") as tower:
        assert tower is None
        loss = model(**_inputs(processor, ["red"])).loss
    loss.backward()
    assert model.vision_model.embeddings.patch_embedding.weight.grad is not None
