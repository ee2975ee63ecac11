"""The hotel job end to end on the local profile: ``vitrine ingest`` of a hotel folder (the real CLI, in a
subprocess), then the API (the Lambda handler, API Gateway events) for the travel site and for operators."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.api.conftest import rest_event
from tests.hotels.world import photo, png_bomb
from vitrine.hotels.labels import load_labels

pytestmark = pytest.mark.xdist_group("hotels-api")  # one ingest of the drop folder, one worker

LABELS = load_labels().labels
HOTEL = "demo-0001"


def vitrine(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "VITRINE_HOME": str(home), "VITRINE_PROFILE": "local"}
    return subprocess.run(
        [sys.executable, "-m", "vitrine_dev.cli", *args], capture_output=True, text=True, timeout=300, env=env
    )


def call(
    method: str, path: str, body: Any = None, query: dict[str, str] | None = None, token: str | None = None
):
    from handlers.api import handler
    from vitrine_dev.lambda_context import LocalContext

    headers = {"Authorization": f"Bearer {token}"} if token else None
    response = handler(rest_event(method, path, body, query, headers), LocalContext())
    return response["statusCode"], json.loads(response["body"]) if response.get("body") else None


@pytest.fixture(scope="module")
def drop(local_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three synthetic hotels of six photos each (plus a hostile file), ingested with `vitrine ingest`."""
    from vitrine_dev.demo_hotels import generate

    folder = tmp_path_factory.mktemp("hotel-drop")
    generate(folder, hotels=3, images_per_hotel=6)
    (folder / "hotels" / "demo-0003" / "bomb.png").write_bytes(png_bomb())
    done = vitrine(local_home, "ingest", str(folder), "--quiet")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "22 uploaded, 0 unchanged, 22 events dispatched, 0 to retry, 1 files outside" in done.stdout
    return folder


@pytest.fixture(scope="module")
def token(local_home: Path) -> str:
    from vitrine_dev.operator_token import ensure_token

    return ensure_token(local_home)


def test_vitrine_ingest_a_hotel_then_six_labelled_photos_and_exactly_one_cover(drop: Path) -> None:
    status, hotel = call("GET", f"/api/hotels/{HOTEL}")
    assert status == 200, hotel
    assert hotel["name"] and hotel["city"] and hotel["extra"]["amenities"]
    assert len(hotel["images"]) == 6
    assert all(image["category"] in LABELS for image in hotel["images"])
    assert all(0 <= image["confidence"] <= 1 for image in hotel["images"])
    assert sum(image["is_cover"] for image in hotel["images"]) == 1
    assert hotel["images"][0]["is_cover"] and hotel["cover"] == hotel["images"][0]
    assert hotel["cover"]["url"].startswith("/api/objects/hotels/demo-0001/")


def test_ingesting_the_same_folder_again_changes_nothing(local_home: Path, drop: Path, token: str) -> None:
    before = [call("GET", f"/api/ops/hotels/demo-000{n}", token=token) for n in (1, 2, 3)]
    done = vitrine(local_home, "ingest", str(drop), "--quiet")
    assert done.returncode == 0, done.stderr
    assert "0 uploaded, 22 unchanged" in done.stdout
    assert [call("GET", f"/api/ops/hotels/demo-000{n}", token=token) for n in (1, 2, 3)] == before


def test_hostile_photos_are_rejected_with_a_reason_the_others_classified(drop: Path, token: str) -> None:
    status, hotel = call("GET", "/api/ops/hotels/demo-0003", token=token)
    assert status == 200 and len(hotel["images"]) == 6
    assert [(r["key"], r["status"]) for r in hotel["rejected"]] == [("hotels/demo-0003/bomb.png", "rejected")]
    assert "pixels" in hotel["rejected"][0]["reason"]


def test_listing_pages_and_filters_by_city(drop: Path) -> None:
    """Pages in id order until the last one (other tests of the session may add hotels of their own)."""
    seen, cursor = [], None
    while True:
        query = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        status, page = call("GET", "/api/hotels", query=query)
        assert status == 200 and len(page["items"]) <= 2
        seen += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    ids = [h["hotel_id"] for h in seen]
    assert ids == sorted(set(ids)) and {"demo-0001", "demo-0002", "demo-0003"} <= set(ids)
    first = next(h for h in seen if h["hotel_id"] == HOTEL)
    assert first["cover"]["is_cover"] and first["cover"]["category"] in LABELS
    status, by_city = call("GET", "/api/hotels", query={"city": first["city"].upper()})
    assert HOTEL in [h["hotel_id"] for h in by_city["items"]]
    assert all(h["city"] == first["city"] for h in by_city["items"])
    assert call("GET", "/api/hotels", query={"limit": "0"})[0] == 422


def test_an_unknown_hotel_is_404_and_a_malformed_id_is_refused(drop: Path) -> None:
    assert call("GET", "/api/hotels/nope")[0] == 404
    assert call("GET", "/api/hotels/..%2Fetc")[0] in (404, 422)


def test_operators_pin_and_unpin_the_cover(drop: Path, token: str) -> None:
    _, hotel = call("GET", f"/api/ops/hotels/{HOTEL}", token=token)
    chosen = hotel["cover_image_id"]
    other = next(i["image_id"] for i in hotel["images"] if not i["is_cover"])
    status, pinned = call("PUT", f"/api/ops/hotels/{HOTEL}/cover", {"image_id": other}, token=token)
    assert status == 200, pinned
    assert (pinned["cover_image_id"], pinned["cover_source"], pinned["pinned_image_id"]) == (
        other,
        "pinned",
        other,
    )
    public = call("GET", f"/api/hotels/{HOTEL}")[1]
    assert public["cover"]["image_id"] == other and public["images"][0]["image_id"] == other
    status, rescored = call("POST", f"/api/ops/hotels/{HOTEL}/rescore", token=token)
    assert status == 200 and rescored["status"] == "scored"
    assert rescored["hotel"]["cover_image_id"] == other  # a later run keeps the pin
    status, unpinned = call("DELETE", f"/api/ops/hotels/{HOTEL}/cover", token=token)
    assert status == 200 and unpinned["pinned_image_id"] is None and unpinned["cover_image_id"] == chosen
    assert call("PUT", f"/api/ops/hotels/{HOTEL}/cover", {"image_id": "nope"}, token=token)[0] == 404
    assert call("PUT", "/api/ops/hotels/nope/cover", {"image_id": other}, token=token)[0] == 404


def test_operator_routes_need_the_operator_token(drop: Path) -> None:
    assert call("GET", f"/api/ops/hotels/{HOTEL}")[0] == 401
    assert call("PUT", f"/api/ops/hotels/{HOTEL}/cover", {"image_id": "x"}, token="wrong")[0] == 401
    assert call("POST", "/api/ops/classify", {"image": "x"})[0] == 401


def test_classify_one_uploaded_photo(drop: Path, token: str) -> None:
    image = base64.b64encode(photo((10, 120, 220))).decode()
    status, answer = call(
        "POST", "/api/ops/classify", {"image": f"data:image/jpeg;base64,{image}"}, token=token
    )
    assert status == 200, answer
    assert answer["category"] in LABELS and answer["labels"] == list(LABELS)
    assert call("POST", "/api/ops/classify", {"image": "not base64!"}, token=token)[0] == 400
    bomb = base64.b64encode(png_bomb()).decode()
    assert call("POST", "/api/ops/classify", {"image": bomb}, token=token)[0] == 413


def test_the_openapi_document_carries_every_hotel_route_and_its_answer_model(drop: Path) -> None:
    _, spec = call("GET", "/api/openapi.json")
    paths = spec["paths"]
    assert {"get"} <= set(paths["/hotels"]) and {"get"} <= set(paths["/hotels/{hotel_id}"])
    assert {"put", "delete"} <= set(paths["/ops/hotels/{hotel_id}/cover"])
    assert "post" in paths["/ops/hotels/{hotel_id}/rescore"] and "post" in paths["/ops/classify"]
    for path, item in paths.items():
        if path.startswith("/ops/hotels") or path == "/ops/classify":
            assert all(operation.get("security") for operation in item.values()), path
    schemas = spec["components"]["schemas"]
    assert {"HotelDetail", "HotelPage", "OpsHotelDetail", "ClassifyAnswer", "RescoreAnswer"} <= set(schemas)


def test_refused_requests_answer_with_a_documented_status(drop: Path, token: str) -> None:
    from handlers.api import handler
    from vitrine_dev.lambda_context import LocalContext

    event = rest_event(
        "PUT", f"/api/ops/hotels/{HOTEL}/cover", "image_id=x", headers={"Authorization": f"Bearer {token}"}
    )
    event["headers"]["Content-Type"] = "text/plain"
    assert handler(event, LocalContext())["statusCode"] == 415
    assert call("PUT", f"/api/ops/hotels/{HOTEL}/cover", "{not json", token=token)[0] in (400, 422)
    assert call("PUT", f"/api/ops/hotels/{HOTEL}/cover", {"image_id": ""}, token=token)[0] == 422
    assert call("POST", "/api/ops/hotels/nope/rescore", token=token)[0] == 404
    assert call("DELETE", "/api/ops/hotels/nope/cover", token=token)[0] == 404
    assert call("GET", "/api/ops/hotels/nope", token=token)[0] == 404
