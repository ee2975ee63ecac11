"""``vitrine train ranker --from-pins``: operators' pinned covers become better/worse pairs the ranker trains on."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

from tests.hotels.world import LABELS, World, photo
from vitrine_dev.training.pins import MAX_WORSE_PER_PIN, export_pins


def test_pinned_covers_export_as_pairs_with_their_photos(tmp_path: Path) -> None:
    world = World(tmp_path)
    pool, room, food = photo((0, 0, 250)), photo((0, 250, 0)), photo((250, 0, 0))
    world.vlm.answers = {pool: "Pool", room: "Room", food: "Lobby"}
    world.ingest(
        world.hotel_json("h1"),
        world.put("hotels/h1/pool.jpg", pool),
        world.put("hotels/h1/room.jpg", room),
        world.put("hotels/h1/food.jpg", food),
        world.hotel_json("h2"),
        world.put("hotels/h2/pool.jpg", pool),
    )
    world.hotels.update_cover("h1", world.covers.choose, pin=world.image_id("hotels/h1/room.jpg"))
    services = SimpleNamespace(hotels=lambda: world.hotels, hotel_labels=LABELS, store=world.store)

    exported = export_pins(services, tmp_path / "pins")

    assert (exported.hotels, exported.pairs) == (1, 2)  # h2 has no pin
    lines = [json.loads(line) for line in (tmp_path / "pins" / "hotels.jsonl").read_text().splitlines()]
    assert {line["better"] for line in lines} == {"hotels/h1/room.jpg"}
    assert {line["worse"] for line in lines} == {"hotels/h1/pool.jpg", "hotels/h1/food.jpg"}
    assert all(line["text"].startswith("Hotel h1") for line in lines)
    assert (tmp_path / "pins" / "hotels" / "h1" / "room.jpg").read_bytes() == room
    assert MAX_WORSE_PER_PIN == 5

    from common.datasets import read_hotels

    hotels, pairs = read_hotels(tmp_path / "pins")  # what ranker/train.py reads
    assert not hotels and len(pairs) == 2 and pairs[0].better.is_file()
