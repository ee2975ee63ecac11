"""dino_embed handler, run from a packaged tiny artifact through model_fn/input_fn/predict_fn/output_fn."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from common.imaging import crop, decode
from tests.model_code.conftest import JSON, Handler, b64, encode, import_artifact_code, photo

TINY_DIM = 32


@pytest.fixture(scope="module")
def embedder(artifact_handler: Callable[[str], Handler]) -> Handler:
    return artifact_handler("dino_embed")


def vectors(answer: dict) -> np.ndarray:
    return np.asarray(answer["embeddings"], dtype=np.float64)


@pytest.mark.parametrize(
    "content_type", ["image/jpeg", "image/png", "image/webp", "application/octet-stream"]
)
def test_dino_embed_artifact_raw_image_gives_one_unit_vector(
    embedder: Handler, content_type: str, request: pytest.FixtureRequest
) -> None:
    fixture = {"image/png": "png_bytes", "image/webp": "webp_bytes"}.get(content_type, "jpeg_bytes")
    answer = embedder.call(request.getfixturevalue(fixture), content_type)
    assert answer["dim"] == TINY_DIM and answer["model"] == "tiny-dino-vit"
    got = vectors(answer)
    assert got.shape == (1, TINY_DIM)
    assert np.linalg.norm(got[0]) == pytest.approx(1.0, abs=1e-5)


def test_dino_embed_artifact_box_embeds_the_crop(embedder: Handler, png_bytes: bytes) -> None:
    box = [0.1, 0.2, 0.6, 0.9]
    cropped = encode(crop(decode(png_bytes), box), "PNG")
    with_box = vectors(embedder.call(json.dumps({"image": b64(png_bytes), "box": box}), JSON))[0]
    pre_cropped = vectors(embedder.call(cropped, "image/png"))[0]
    whole = vectors(embedder.call(png_bytes, "image/png"))[0]
    assert with_box @ pre_cropped == pytest.approx(1.0, abs=1e-5)
    assert with_box @ whole < 0.999


def test_dino_embed_artifact_batch_equals_one_at_a_time(
    embedder: Handler, jpeg_bytes: bytes, png_bytes: bytes, webp_bytes: bytes
) -> None:
    images = [jpeg_bytes, png_bytes, webp_bytes]
    boxes = [None, [0, 0, 0.5, 0.5], [0.25, 0.25, 1, 1]]
    batch = vectors(embedder.call(json.dumps({"images": [b64(i) for i in images], "boxes": boxes}), JSON))
    one_by_one = [
        vectors(embedder.call(json.dumps({"image": b64(i), "box": b} if b else {"image": b64(i)}), JSON))[0]
        for i, b in zip(images, boxes, strict=True)
    ]
    assert batch.shape == (3, TINY_DIM)
    np.testing.assert_allclose(batch, np.stack(one_by_one), atol=1e-5)
    assert batch[0] @ batch[1] < 0.999


def test_dino_embed_artifact_odd_images_embed(embedder: Handler, odd_images: dict[str, bytes]) -> None:
    got = vectors(embedder.call(json.dumps({"images": [b64(v) for v in odd_images.values()]}), JSON))
    assert got.shape == (len(odd_images), TINY_DIM)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)


def test_dino_embed_artifact_bad_images_get_their_status(
    embedder: Handler, bad_images: dict[str, bytes], bad_image_status: dict[str, int]
) -> None:
    for name, data in bad_images.items():
        assert embedder.refusal(data, "image/jpeg").status_code == bad_image_status[name], name


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"box": [0.5, 0.5, 0.2, 0.9]}, "box"),
        ({"box": "everything"}, "box"),
        ({"box": [0, 0, 1.5, 1]}, "box"),
    ],
)
def test_dino_embed_artifact_bad_box_is_400(
    embedder: Handler, jpeg_bytes: bytes, fields: dict, match: str
) -> None:
    error = embedder.refusal(json.dumps({"image": b64(jpeg_bytes), **fields}), JSON)
    assert error.status_code == 400 and match in error.message


def test_dino_embed_artifact_boxes_must_match_images(embedder: Handler, jpeg_bytes: bytes) -> None:
    body = json.dumps({"images": [b64(jpeg_bytes)] * 2, "boxes": [None]})
    assert "'boxes'" in embedder.refusal(body, JSON).message


def test_dino_embed_artifact_bad_requests(embedder: Handler) -> None:
    assert embedder.refusal("{", JSON).status_code == 400
    assert embedder.refusal(json.dumps({"images": "abc"}), JSON).status_code == 400
    assert embedder.refusal(b"%PDF-1.4", "application/pdf").status_code == 415


def test_dino_embed_model_fn_accepts_dinov2_weights(
    packaged_model: Callable[[str], Path], tmp_path: Path, jpeg_bytes: bytes
) -> None:
    import torch
    from transformers import Dinov2Config, Dinov2Model
    from transformers.models.bit.image_processing_pil_bit import BitImageProcessorPil

    torch.manual_seed(0)
    config = Dinov2Config(
        hidden_size=24,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=48,
        image_size=56,
        patch_size=14,
    )
    Dinov2Model(config).save_pretrained(tmp_path)
    BitImageProcessorPil(size={"shortest_edge": 64}, crop_size={"height": 56, "width": 56}).save_pretrained(
        tmp_path
    )
    module = import_artifact_code(packaged_model("dino_embed") / "code", "artifact_dino_embed_v2")
    answer = Handler(module, module.model_fn(str(tmp_path))).call(jpeg_bytes, "image/jpeg")
    assert answer["dim"] == 24 and answer["model"] == "dinov2-24d-1l-p14"
    assert np.linalg.norm(answer["embeddings"][0]) == pytest.approx(1.0, abs=1e-5)


def test_dino_embed_model_fn_refuses_other_architectures(
    packaged_model: Callable[[str], Path], tmp_path: Path
) -> None:
    from transformers import BertConfig

    BertConfig(
        hidden_size=8, num_hidden_layers=1, num_attention_heads=1, intermediate_size=8
    ).save_pretrained(tmp_path)
    module = import_artifact_code(packaged_model("dino_embed") / "code", "artifact_dino_embed_bert")
    with pytest.raises(ValueError, match="'bert'"):
        module.model_fn(str(tmp_path))


def test_dino_embed_artifact_is_deterministic(embedder: Handler) -> None:
    image = encode(photo(seed=4), "JPEG")
    assert embedder.call(image, "image/jpeg") == embedder.call(image, "image/jpeg")
