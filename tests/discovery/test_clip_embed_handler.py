"""The dual encoder's handler (``model_code/clip_embed``), served from its packaged SageMaker artifact: photos
and words become L2-normalised vectors of one width, batched requests answer exactly what single ones do,
CLIP and SigLIP weights both load by their config, and refusals are 4xx with a reason. Then its typed client
through the in-process endpoint, the way the local profile calls it."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from tests.fakes import JsonEndpoint
from tests.model_code.conftest import b64, encode, photo
from vitrine.adapters.local.inprocess_endpoint import InProcessEndpoint
from vitrine.errors import BadInput, TooLarge, Unavailable
from vitrine.models.dual_encoder import DualEncoder

JSON = "application/json"
MODEL_CODE = Path(__file__).resolve().parents[2] / "model_code"


def jpeg(seed: int) -> bytes:
    return encode(photo((96, 96), seed=seed), "JPEG", quality=90)


def ask(handler, payload: dict | bytes, content_type: str = JSON) -> dict:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    query = handler.module.input_fn(body, content_type)
    answer, media = handler.module.output_fn(handler.module.predict_fn(query, handler.model), JSON)
    assert media == JSON
    return json.loads(answer)


def norm(vector: list[float]) -> float:
    return math.sqrt(sum(v * v for v in vector))


@pytest.fixture(scope="module")
def clip(artifact_handler):
    return artifact_handler("clip_embed")


def test_clip_embed_images_and_texts_are_unit_vectors_in_one_space(clip) -> None:
    answer = ask(clip, {"images": [b64(jpeg(0)), b64(jpeg(1))], "texts": ["striped red shirt", "navy hat"]})

    assert answer["model"] == "tiny-clip" and answer["dim"] == 32
    assert len(answer["image_embeddings"]) == 2 and len(answer["text_embeddings"]) == 2
    for vector in answer["image_embeddings"] + answer["text_embeddings"]:
        assert len(vector) == 32 and norm(vector) == pytest.approx(1.0, abs=1e-5)
    assert answer["image_embeddings"][0] != answer["image_embeddings"][1]
    assert answer["text_embeddings"][0] != answer["text_embeddings"][1]


def test_clip_embed_a_batch_answers_what_single_requests_answer(clip) -> None:
    images = [b64(jpeg(seed)) for seed in range(5)]
    texts = ["red shirt", "polka-dot blue hat", "checked wool pants", "black leather shoes", "plain beige"]
    batch = ask(
        clip, {"images": images, "boxes": [None, [0.1, 0.1, 0.8, 0.9], None, None, None], "texts": texts}
    )

    single_image = ask(clip, {"image": images[1], "box": [0.1, 0.1, 0.8, 0.9]})["image_embeddings"][0]
    single_text = ask(clip, {"text": texts[3]})["text_embeddings"][0]
    assert batch["image_embeddings"][1] == pytest.approx(single_image, abs=1e-5)
    assert batch["text_embeddings"][3] == pytest.approx(single_text, abs=1e-5)
    assert "text_embeddings" not in ask(clip, jpeg(2), "image/jpeg")  # a raw photo: its image vector only


def test_clip_embed_a_crop_is_embedded_as_the_crop(clip) -> None:
    whole = ask(clip, {"image": b64(jpeg(3))})["image_embeddings"][0]
    cropped = ask(clip, {"image": b64(jpeg(3)), "box": [0.0, 0.0, 0.5, 0.5]})["image_embeddings"][0]
    assert whole != pytest.approx(cropped, abs=1e-3)


@pytest.mark.parametrize(
    ("payload", "content_type", "status", "message"),
    [
        ({}, JSON, 400, "image"),
        ({"text": "   "}, JSON, 400, "non-empty"),
        ({"texts": ["ok", 3]}, JSON, 400, "texts[1]"),
        ({"texts": ["x"] * 65}, JSON, 413, "limit"),
        ({"text": "x" * 1001}, JSON, 400, "1000"),
        ({"text": "a", "texts": ["b"]}, JSON, 400, "either"),
        ({"images": [b64(b"not an image")]}, JSON, 415, ""),
        ({"images": ["AAAA"], "boxes": []}, JSON, 400, "one box"),
        (b"plain words", "text/plain", 415, "content type"),
    ],
)
def test_clip_embed_refusals_are_4xx_with_a_reason(clip, payload, content_type, status, message) -> None:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    with pytest.raises(ValueError) as refused:
        clip.module.input_fn(body, content_type)
    assert refused.value.status_code == status
    assert message in refused.value.message


def test_clip_embed_a_bad_box_is_refused_when_applied(clip) -> None:
    query = clip.module.input_fn(json.dumps({"image": b64(jpeg(0)), "box": [0.5, 0.5, 0.2, 0.9]}), JSON)
    with pytest.raises(ValueError) as refused:
        clip.module.predict_fn(query, clip.model)
    assert refused.value.status_code == 400


def test_clip_embed_serves_siglip_weights_by_their_config(tmp_path: Path) -> None:
    import importlib.util
    import sys

    from vitrine_dev.modelkit.tiny import clip_embed as tiny

    tiny.build(tmp_path / "siglip", family="siglip")
    if str(MODEL_CODE) not in sys.path:
        sys.path.insert(0, str(MODEL_CODE))
    spec = importlib.util.spec_from_file_location(
        "siglip_handler", MODEL_CODE / "clip_embed" / "inference.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    encoder = module.model_fn(str(tmp_path / "siglip"))
    assert encoder.family == "siglip" and type(encoder.model).__name__ == "SiglipModel"
    query = module.input_fn(
        json.dumps({"image": b64(jpeg(0)), "texts": ["red shirt", "red shirt with long words"]}), JSON
    )
    prediction = module.predict_fn(query, encoder)
    assert prediction.model == "tiny-siglip" and prediction.dim == 32
    assert len(prediction.image_vectors[0]) == len(prediction.text_vectors[0]) == 32
    assert all(norm(v) == pytest.approx(1.0, abs=1e-5) for v in prediction.text_vectors)
    inputs = module.text_inputs(encoder, ["red shirt", "a much longer text about a shirt"])
    assert set(inputs) == {"input_ids"} and inputs["input_ids"].shape[1] == encoder.max_tokens  # as trained


def test_clip_embed_refuses_weights_of_another_family(tiny_model) -> None:
    endpoint = InProcessEndpoint("clip_embed", MODEL_CODE, str(tiny_model("dino_embed")))
    with pytest.raises(Unavailable, match="clip or siglip"):
        endpoint.load()


def test_dual_encoder_client_through_the_in_process_endpoint(tiny_model) -> None:
    endpoint = InProcessEndpoint("clip_embed", MODEL_CODE, str(tiny_model("clip_embed")))
    encoder = DualEncoder(endpoint, max_batch=2)
    images = [jpeg(seed) for seed in range(3)]

    encoded = encoder.embed_images(images, [None, (0.0, 0.0, 0.5, 1.0), None])
    words = encoder.embed_texts(["  striped   red shirt ", "hat"])

    assert encoded.model == words.model == "tiny-clip"
    assert len(encoded.vectors) == 3 and len(words.vectors) == 2  # three images: two requests of at most 2
    assert encoded.vectors[0] == pytest.approx(encoder.embed_images(images[:1], [None]).vectors[0], abs=1e-5)
    with pytest.raises(BadInput, match="empty"):
        encoder.embed_texts(["   "])
    with pytest.raises(TooLarge):
        DualEncoder(endpoint, max_batch=100).embed_texts(["x"] * 65)


@pytest.mark.parametrize(
    "answer",
    [
        {"text_embeddings": [[3.0, 4.0]], "model": "m"},  # not unit length
        {"text_embeddings": [[1.0, 0.0]]},  # no model name
        {"text_embeddings": [[float("nan"), 0.0]], "model": "m"},
        {"image_embeddings": [[1.0, 0.0]], "model": "m"},  # the wrong key
    ],
)
def test_dual_encoder_client_refuses_answers_the_index_could_not_use(answer: dict) -> None:
    encoder = DualEncoder(JsonEndpoint("clip_embed", lambda request: answer))
    with pytest.raises(Unavailable):
        encoder.embed_texts(["red shirt"])
