"""The cover ranker handler, loaded from its packaged artifact, and the shared ranker module."""

from __future__ import annotations

import json

import pytest

from tests.model_code.conftest import JSON, b64, encode, photo


@pytest.fixture(scope="module")
def ranker(artifact_handler):
    return artifact_handler("ranker")


@pytest.fixture(scope="module")
def gallery() -> list[str]:
    return [b64(encode(photo(seed=seed), "JPEG")) for seed in range(4)]


def test_ranker_artifact_scores_every_image_and_names_the_best(ranker, gallery):
    answer = ranker.call(json.dumps({"text": "Boutique hotel with a rooftop pool", "images": gallery}), JSON)
    scores = answer["scores"]
    assert len(scores) == 4 and len(set(scores)) == 4
    assert answer["best"] == scores.index(max(scores))


def test_ranker_artifact_batch_equals_one_hotel_at_a_time(ranker, gallery):
    hotels = [
        {"text": "Boutique hotel with a rooftop pool", "images": gallery},
        {"text": "Quiet mountain lodge", "images": gallery[1:3]},
    ]
    results = ranker.call(json.dumps({"hotels": hotels}), JSON)["results"]
    for hotel, result in zip(hotels, results, strict=True):
        alone = ranker.call(json.dumps(hotel), JSON)
        assert result["best"] == alone["best"]
        assert result["scores"] == pytest.approx(alone["scores"], abs=1e-5)


def test_ranker_artifact_scores_depend_on_the_hotel_text(ranker, gallery):
    a = ranker.call(json.dumps({"text": "beach resort with a pool", "images": gallery}), JSON)["scores"]
    b = ranker.call(json.dumps({"text": "historic city centre inn", "images": gallery}), JSON)["scores"]
    assert a != pytest.approx(b, abs=1e-6)


def test_ranker_artifact_accepts_odd_but_valid_images(ranker, odd_images):
    images = [b64(odd_images[name]) for name in ("cmyk_jpeg", "exif_rotated_jpeg", "png16", "rgba_png")]
    assert len(ranker.call(json.dumps({"text": "hotel", "images": images}), JSON)["scores"]) == 4


def test_ranker_artifact_refuses_bad_images_naming_the_image(ranker, gallery, bad_images, bad_image_status):
    for name, image in bad_images.items():
        error = ranker.refusal(
            json.dumps({"hotels": [{"text": "hotel", "images": [gallery[0], b64(image)]}]}), JSON
        )
        assert error.status_code == bad_image_status[name], (name, error.message)
        if name == "text":  # refused from its header, before any decoding: the message says which image
            assert error.message.startswith("hotels[0]: images[1]:")


@pytest.mark.parametrize(
    ("payload", "status", "words"),
    [
        (b"", 400, "not valid JSON"),
        (b"{oops", 400, "not valid JSON"),
        ({"images": ["AAAA"]}, 400, "'text'"),
        ({"text": "hotel"}, 400, "'images'"),
        ({"text": "hotel", "images": []}, 400, "'images'"),
        ({"text": "hotel", "images": ["not base64!"]}, 400, "base64"),
        ({"hotels": []}, 400, "'hotels'"),
        ({"hotels": ["x"]}, 400, "hotels[0]"),
    ],
)
def test_ranker_artifact_refuses_bad_requests_with_a_message(ranker, payload, status, words):
    body = payload if isinstance(payload, bytes) else json.dumps(payload)
    error = ranker.refusal(body, JSON)
    assert error.status_code == status and words in error.message


def test_ranker_artifact_refuses_non_json_content_type(ranker, jpeg_bytes):
    assert ranker.refusal(jpeg_bytes, "image/jpeg").status_code == 415


def test_ranker_module_round_trips_through_its_folder_and_keeps_text_frozen(ranker, tmp_path, gallery):
    from PIL import Image

    model = ranker.model.ranker
    model.save_pretrained(tmp_path / "copy")
    again = type(model).from_pretrained(tmp_path / "copy").eval()
    images = [Image.new("RGB", (40, 30), "red"), photo(seed=2)]
    assert again.score("seaside hotel", images).tolist() == pytest.approx(
        model.score("seaside hotel", images).tolist()
    )
    assert not any(p.requires_grad for p in again.text_encoder.parameters())
    assert any(p.requires_grad for p in again.image_encoder.parameters())


def test_ranker_loads_float32_whatever_dtype_its_encoders_were_saved_in(ranker, packaged_model, tmp_path):
    """Hub CLIP and BGE weights are often float16, and transformers 5 keeps a checkpoint's dtype unless told:
    the endpoint (``model_fn``) and training (``from_encoders``) both promise float32."""
    import shutil

    import torch
    from transformers import AutoModel, CLIPVisionModel

    folder = tmp_path / "float16"
    shutil.copytree(packaged_model("ranker"), folder)
    CLIPVisionModel.from_pretrained(folder / "image_encoder").half().save_pretrained(folder / "image_encoder")
    text = AutoModel.from_pretrained(folder / "text_encoder", add_pooling_layer=False)
    text.half().save_pretrained(folder / "text_encoder")
    assert next(CLIPVisionModel.from_pretrained(folder / "image_encoder").parameters()).dtype == torch.float16

    served = ranker.module.model_fn(str(folder)).ranker
    assert {p.dtype for p in served.parameters()} == {torch.float32}
    fresh = type(served).from_encoders(folder / "image_encoder", folder / "text_encoder")
    assert {p.dtype for p in fresh.parameters()} == {torch.float32}
