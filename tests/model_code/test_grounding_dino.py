"""grounding_dino handler, run from a packaged tiny artifact through model_fn/input_fn/predict_fn/output_fn."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.model_code.conftest import JSON, Handler, b64, encode, photo

PROMPT_PHRASES = {"clothes", "pants", "hats", "shoes"}


@pytest.fixture(scope="module")
def detector(artifact_handler: Callable[[str], Handler]) -> Handler:
    return artifact_handler("grounding_dino")


def assert_well_formed(detections: list[dict[str, Any]], phrases: set[str] = PROMPT_PHRASES) -> None:
    scores = [d["score"] for d in detections]
    assert scores == sorted(scores, reverse=True)
    for d in detections:
        x0, y0, x1, y1 = d["box"]
        assert 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1, d
        assert 0 < d["score"] <= 1 and d["label"] in phrases, d


def test_grounding_dino_artifact_tiny_detector_finds_several_boxes_on_a_photo(
    detector: Handler, jpeg_bytes: bytes
) -> None:
    detections = detector.call(jpeg_bytes, "image/jpeg")["detections"]
    assert 2 <= len(detections) <= 8
    assert_well_formed(detections)
    assert all(d["score"] > 0.3 for d in detections)


@pytest.mark.parametrize("content_type", ["image/jpeg", "image/png", "image/webp", "application/x-image"])
def test_grounding_dino_artifact_raw_image_content_types(
    detector: Handler, content_type: str, request: pytest.FixtureRequest
) -> None:
    fixture = {"image/png": "png_bytes", "image/webp": "webp_bytes"}.get(content_type, "jpeg_bytes")
    detections = detector.call(request.getfixturevalue(fixture), content_type)["detections"]
    assert_well_formed(detections)


def test_grounding_dino_artifact_json_options_are_applied(detector: Handler, jpeg_bytes: bytes) -> None:
    body = {"image": b64(jpeg_bytes), "prompt": "Bag . Boots .", "box_threshold": 0.3, "text_threshold": 0.25}
    detections = detector.call(json.dumps(body), JSON)["detections"]
    assert detections and {d["label"] for d in detections} <= {"bag", "boots"}
    capped = detector.call(json.dumps({"image": b64(jpeg_bytes), "max_detections": 1}), JSON)["detections"]
    assert len(capped) == 1
    assert capped[0] == detector.call(jpeg_bytes, "image/jpeg")["detections"][0]


def test_grounding_dino_artifact_no_object_is_an_empty_list(detector: Handler, jpeg_bytes: bytes) -> None:
    body = json.dumps({"image": f"data:image/jpeg;base64,{b64(jpeg_bytes)}", "box_threshold": 0.999})
    assert detector.call(body, JSON) == {"detections": []}


def test_grounding_dino_artifact_nms_leaves_no_heavy_overlap(detector: Handler) -> None:
    for seed in range(4):
        boxes = [d["box"] for d in detector.call(encode(photo(seed=seed), "PNG"), "image/png")["detections"]]
        for i, a in enumerate(boxes):
            for b in boxes[i + 1 :]:
                inter = max(0, min(a[2], b[2]) - max(a[0], b[0])) * max(0, min(a[3], b[3]) - max(a[1], b[1]))
                union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
                assert inter / union <= 0.5 + 1e-3


def test_grounding_dino_artifact_batch_matches_single_calls_in_order(
    detector: Handler, jpeg_bytes: bytes, png_bytes: bytes, webp_bytes: bytes
) -> None:
    images = [jpeg_bytes, png_bytes, webp_bytes, jpeg_bytes, png_bytes]  # more than one forward batch
    answer = detector.call(json.dumps({"images": [b64(i) for i in images]}), JSON)
    assert len(answer["results"]) == len(images)
    for image, result in zip(images, answer["results"], strict=True):
        single = detector.call(image, "image/jpeg")["detections"]
        assert [d["label"] for d in result["detections"]] == [d["label"] for d in single]
        for got, want in zip(result["detections"], single, strict=True):
            assert got["box"] == pytest.approx(want["box"], abs=2e-3)


def test_grounding_dino_artifact_batch_of_one_is_still_a_batch(detector: Handler, jpeg_bytes: bytes) -> None:
    answer = detector.call(json.dumps({"images": [b64(jpeg_bytes)]}), JSON)
    assert list(answer) == ["results"] and len(answer["results"]) == 1


def test_grounding_dino_artifact_odd_images_are_decoded_and_detected(
    detector: Handler, odd_images: dict[str, bytes]
) -> None:
    answer = detector.call(json.dumps({"images": [b64(v) for v in odd_images.values()]}), JSON)
    assert len(answer["results"]) == len(odd_images)
    for result in answer["results"]:
        assert_well_formed(result["detections"])


def test_grounding_dino_artifact_bad_images_get_their_status(
    detector: Handler, bad_images: dict[str, bytes], bad_image_status: dict[str, int]
) -> None:
    for name, data in bad_images.items():
        assert detector.refusal(data, "image/jpeg").status_code == bad_image_status[name], name
        in_json = json.dumps({"images": [b64(data)] if data else [""]})
        assert detector.refusal(in_json, JSON).status_code == bad_image_status[name], name


@pytest.mark.parametrize(
    ("body", "content_type", "status", "match"),
    [
        ("{not json", JSON, 400, "valid JSON"),
        ("[1, 2]", JSON, 400, "JSON object"),
        ("{}", JSON, 400, "'image'"),
        (json.dumps({"images": []}), JSON, 400, "'images'"),
        (json.dumps({"image": "@@@"}), JSON, 400, "base64"),
        ("hello", "text/plain", 415, "content type"),
    ],
)
def test_grounding_dino_artifact_bad_requests(
    detector: Handler, body: str, content_type: str, status: int, match: str
) -> None:
    error = detector.refusal(body, content_type)
    assert error.status_code == status and match in error.message


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"box_threshold": 2}, "box_threshold"),
        ({"text_threshold": "high"}, "text_threshold"),
        ({"max_detections": 0}, "max_detections"),
        ({"prompt": ""}, "prompt"),
        ({"prompt": " . . "}, "prompt"),
        ({"prompt": " . ".join(["shoes"] * 80)}, "too long"),
    ],
)
def test_grounding_dino_artifact_bad_options(
    detector: Handler, jpeg_bytes: bytes, options: dict[str, Any], match: str
) -> None:
    error = detector.refusal(json.dumps({"image": b64(jpeg_bytes), **options}), JSON)
    assert error.status_code == 400 and match in error.message


def test_grounding_dino_artifact_too_many_images_is_413(detector: Handler, jpeg_bytes: bytes) -> None:
    assert detector.refusal(json.dumps({"images": [b64(jpeg_bytes)] * 65}), JSON).status_code == 413


def test_grounding_dino_artifact_only_answers_json(detector: Handler, jpeg_bytes: bytes) -> None:
    assert detector.refusal(jpeg_bytes, "image/jpeg", accept="text/csv").status_code == 406
