"""The training entry points of llava, ranker and blip2_attributes: ``main()`` runs a few steps on synthetic
data from tiny models, and the served handler (``model_fn`` of the artifact) loads what it wrote."""

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
    accuracy = train_module("ranker").main(args)
    assert accuracy == 1.0

    handler = artifact_handler("ranker").module
    scorer = handler.model_fn(str(out))
    body = json.dumps(
        {"text": "a new hotel by the lake", "images": [b64((data / name).read_bytes()) for name in images]}
    )
    answer, _ = handler.output_fn(handler.predict_fn(handler.input_fn(body, JSON), scorer), JSON)
    assert json.loads(answer)["best"] == 2


def test_ranker_train_refuses_a_malformed_line_naming_it(tmp_path, tiny_model):
    (tmp_path / "hotels.jsonl").write_text(
        '{"hotel_id": "h1", "text": "x", "images": ["a.jpg"], "cover": 3}\n'
    )
    args = train_args(tmp_path, tmp_path / "out", tiny_model("ranker"))
    with pytest.raises(ValueError, match="line 1"):
        train_module("ranker").main(args)


def test_llava_train_main_two_steps_then_model_fn_chats_with_the_merged_output(
    tmp_path, tiny_model, artifact_handler
):
    data = tmp_path / "data"
    labels = ["pool", "lobby", "bathroom"]
    write_jsonl(
        data / "labels.jsonl",
        [{"image": n, "label": labels[i % 3]} for i, n in enumerate(write_images(data / "img", 3, PHOTO))],
    )
    out = tmp_path / "out"
    loss = train_module("llava").main(
        train_args(data, out, tiny_model("llava"), "--steps", "2", "--batch-size", "2")
    )
    assert loss == loss and loss > 0  # a finite, positive loss on the answer tokens
    assert not (out / "adapter_config.json").exists()  # merged weights: what vLLM and model_fn load

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


@pytest.mark.parametrize("merge", [False, True])
def test_blip2_train_main_two_steps_then_model_fn_answers(tmp_path, tiny_model, artifact_handler, merge):
    data = tmp_path / "data"
    rows = [
        {"image": n, "question": "What is the fabric of the shirt?", "answer": a}
        for n, a in zip(write_images(data / "img", 2, PHOTO), ["cotton", "denim"], strict=True)
    ]
    write_jsonl(data / "qa.jsonl", rows)
    out = tmp_path / "out"
    args = train_args(data, out, tiny_model("blip2_attributes"), "--steps", "2")
    train = train_module("blip2_attributes")
    loss = train.main([*args, "--merge"] if merge else args)
    assert loss == loss and loss > 0
    assert (out / "adapter" / "adapter_config.json").is_file() is not merge

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


def test_blip2_lora_targets_follow_the_language_model():
    train = train_module("blip2_attributes")
    assert train.lora_targets("t5") == ["q", "v"] and train.lora_targets("opt") == ["q_proj", "v_proj"]
    with pytest.raises(ValueError, match="llama"):
        train.lora_targets("llama")
