"""The hotel catalog contract, against SQLite (local) and MariaDB (stands in for Aurora MySQL).

MariaDB is expected at 127.0.0.1:3306 (root, no password); unreachable, it skips here and fails under
``CI=true`` (the shared ``mariadb_database`` fixture).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import inspect

from tests.conftest import empty_mariadb
from vitrine.adapters.sql.catalog import SqlCatalog
from vitrine.adapters.sql.hotels import MIGRATIONS, SqlHotelCatalog
from vitrine.errors import NotFound, Unavailable
from vitrine.hotels.domain import CoverSource, Hotel, HotelImage, HotelImageStatus
from vitrine.hotels.gallery import cover_chooser
from vitrine.hotels.labels import load_labels

CHOOSE = cover_chooser(load_labels().may_cover)


def _sqlite_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'catalog.db'}"


def _mariadb_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return empty_mariadb(request.getfixturevalue("mariadb_database"))


ADAPTERS: dict[str, Callable[[pytest.FixtureRequest, Path], str]] = {
    "sqlite": _sqlite_url,
    "mariadb": _mariadb_url,
}


@pytest.fixture(params=sorted(ADAPTERS))
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return ADAPTERS[request.param](request, tmp_path)


@pytest.fixture
def hotels(url: str) -> Iterator[SqlHotelCatalog]:
    opened = SqlHotelCatalog(url)
    yield opened
    opened.close()


def photo(name: str, hotel_id: str = "h1", **fields: object) -> HotelImage:
    values: dict[str, object] = {
        "key": f"hotels/{hotel_id}/{name}.jpg",
        "status": HotelImageStatus.CLASSIFIED,
        "category": "Room",
        "confidence": 0.9,
    }
    values.update(fields)
    return HotelImage(image_id=name, hotel_id=hotel_id, **values)  # type: ignore[arg-type]


def test_schema_has_its_own_version_table_beside_the_product_catalog(url: str) -> None:
    products = SqlCatalog(url)  # same database, both schemas, either start order
    hotels = SqlHotelCatalog(url)
    again = SqlHotelCatalog(url)  # a second start migrates nothing
    try:
        tables = set(inspect(hotels._engine).get_table_names())
        assert {"hotels", "hotel_images", "hotel_schema_version", "products", "schema_version"} <= tables
        assert hotels.schema_version == again.schema_version == max(m.version for m in MIGRATIONS)
    finally:
        for adapter in (products, hotels, again):
            adapter.close()


def test_a_hotel_round_trips_with_its_extra_fields_and_utf8(hotels: SqlHotelCatalog) -> None:
    hotel = Hotel("h1", "Hôtel du Lac 🏨", "Vue sur le lac", "Genève", 4.5, {"amenities": ["wifi", "spa"]})
    assert hotels.save_hotel(hotel, sequencer="0A", version="v1", now=10.0) is True
    record = hotels.get_hotel("h1")
    assert record is not None and record.hotel == hotel
    assert (record.has_metadata, record.meta_sequencer, record.meta_version) == (True, "0A", "v1")
    assert record.dirty and record.dirty_since == 10.0


def test_saving_the_same_text_again_is_not_a_change(hotels: SqlHotelCatalog) -> None:
    hotels.save_hotel(Hotel("h1", "A", "B", "Rome"), sequencer="1", version="v1", now=1.0)
    seq = hotels.get_hotel("h1").change_seq
    assert hotels.save_hotel(Hotel("h1", "A", "B", "Milan", 3), sequencer="2", version="v2", now=2.0) is False
    record = hotels.get_hotel("h1")
    assert record.change_seq == seq and record.hotel.city == "Milan"  # facts updated, no rescore needed
    assert hotels.save_hotel(Hotel("h1", "A", "new text", "Milan"), sequencer="3", version="v3", now=3.0)
    assert hotels.get_hotel("h1").change_seq == seq + 1


def test_an_image_before_its_hotel_json_makes_a_changed_stub_hotel(hotels: SqlHotelCatalog) -> None:
    hotels.save_image(photo("p1", "early"), changed=True, now=5.0)
    stub = hotels.get_hotel("early")
    assert stub is not None and not stub.has_metadata and stub.dirty and stub.change_seq == 1
    assert hotels.list_hotels() == []  # only hotels with a hotel.json are listed for the site
    assert [r.hotel_id for r in hotels.list_hotels(described=False)] == ["early"]
    hotels.save_hotel(Hotel("early", "Late text"), sequencer="", version="v", now=6.0)
    record = hotels.get_hotel("early")
    assert record.has_metadata and record.change_seq == 2 and record.dirty_since == 5.0


def test_listing_pages_by_id_and_filters_by_city_whatever_the_case(hotels: SqlHotelCatalog) -> None:
    for n, city in enumerate(["Lisbon", "Porto", "lisbon ", "LISBON", "Faro"]):
        hotels.save_hotel(Hotel(f"h{n}", f"Hotel {n}", city=city), sequencer="", version="", now=1.0)
    first = hotels.list_hotels(limit=2)
    assert [r.hotel_id for r in first] == ["h0", "h1"]
    assert [r.hotel_id for r in hotels.list_hotels(limit=2, after="h1")] == ["h2", "h3"]
    assert [r.hotel_id for r in hotels.list_hotels(city="lisbon")] == ["h0", "h2", "h3"]
    assert hotels.count_hotels() == 5


def test_image_ledger_round_trip_listing_counts_and_delete(hotels: SqlHotelCatalog) -> None:
    hotels.save_image(photo("b", raw_answer="this is a photo of a Room.", score=0.25), changed=True, now=1.0)
    hotels.save_image(photo("a", status=HotelImageStatus.REJECTED, reason="bomb"), changed=False, now=1.0)
    assert hotels.get_image("b").raw_answer == "this is a photo of a Room."
    assert [i.image_id for i in hotels.list_images("h1")] == ["a", "b"]  # key order
    assert [i.image_id for i in hotels.list_images("h1", status="classified")] == ["b"]
    assert hotels.count_images() == {"classified": 1, "rejected": 1, "removed": 0}
    hotels.delete_image("a")
    hotels.delete_image("a")  # absent is fine
    assert hotels.get_image("a") is None


def test_debounce_a_burst_of_changes_is_due_once_after_the_quiet_period(hotels: SqlHotelCatalog) -> None:
    for n in range(10):
        hotels.save_image(photo(f"p{n}"), changed=True, now=100.0 + n)
    assert hotels.due_for_scoring(now=150.0, quiet_s=60, max_wait_s=900, limit=10) == []  # still changing
    assert hotels.due_for_scoring(now=170.0, quiet_s=60, max_wait_s=900, limit=10) == ["h1"]
    seq = hotels.claim_scoring("h1", now=170.0, lease_s=600)
    assert seq == 10
    assert hotels.claim_scoring("h1", now=171.0, lease_s=600) is None  # the lease holds
    assert hotels.due_for_scoring(now=171.0, quiet_s=0, max_wait_s=900, limit=10) == []
    hotels.save_scores("h1", seq=seq, scores={"p0": 0.5, "p1": None}, now=172.0)
    record = hotels.get_hotel("h1")
    assert not record.dirty and record.dirty_since is None and record.scored_at == 172.0
    assert hotels.get_image("p0").score == 0.5 and hotels.get_image("p1").score is None
    assert hotels.due_for_scoring(now=10_000.0, quiet_s=0, max_wait_s=900, limit=10) == []


def test_a_hotel_that_never_stops_changing_is_due_after_the_longest_wait(hotels: SqlHotelCatalog) -> None:
    for t in range(0, 1000, 30):
        hotels.save_image(photo(f"p{t}"), changed=True, now=float(t))
    assert hotels.due_for_scoring(now=1000.0, quiet_s=60, max_wait_s=900, limit=10) == ["h1"]


def test_a_change_during_a_run_leaves_the_hotel_due_again(hotels: SqlHotelCatalog) -> None:
    hotels.save_image(photo("p1"), changed=True, now=1.0)
    seq = hotels.claim_scoring("h1", now=100.0, lease_s=600)
    hotels.save_image(photo("p2"), changed=True, now=101.0)  # arrives while the ranker works
    hotels.save_scores("h1", seq=seq, scores={"p1": 0.1}, now=102.0)
    record = hotels.get_hotel("h1")
    assert record.dirty and record.scored_seq == seq
    assert hotels.due_for_scoring(now=200.0, quiet_s=60, max_wait_s=900, limit=10) == ["h1"]


def test_an_expired_or_released_lease_can_be_taken_again(hotels: SqlHotelCatalog) -> None:
    hotels.save_image(photo("p1"), changed=True, now=1.0)
    assert hotels.claim_scoring("h1", now=10.0, lease_s=60) is not None
    assert hotels.claim_scoring("h1", now=71.0, lease_s=60) is not None  # the first run died
    hotels.release_scoring("h1")
    assert hotels.claim_scoring("h1", now=72.0, lease_s=60) is not None


def test_force_claims_a_hotel_that_has_not_changed(hotels: SqlHotelCatalog) -> None:
    hotels.save_hotel(Hotel("h1", "A"), sequencer="", version="", now=1.0)
    hotels.save_scores("h1", seq=hotels.claim_scoring("h1", now=2.0, lease_s=60), scores={}, now=3.0)
    assert hotels.claim_scoring("h1", now=4.0, lease_s=60) is None
    assert hotels.claim_scoring("h1", now=4.0, lease_s=60, force=True) == 1


def test_cover_pin_and_unpin(hotels: SqlHotelCatalog) -> None:
    hotels.save_hotel(Hotel("h1", "A"), sequencer="", version="", now=1.0)
    hotels.save_image(photo("pool", category="Pool", score=0.9), changed=True, now=1.0)
    hotels.save_image(photo("room", category="Room", score=0.2), changed=True, now=1.0)
    record = hotels.update_cover("h1", CHOOSE)
    assert (record.cover_image_id, record.cover_source, record.pinned_image_id) == (
        "pool",
        CoverSource.RANKER,
        None,
    )
    record = hotels.update_cover("h1", CHOOSE, pin="room")
    assert (record.cover_image_id, record.cover_source, record.pinned_image_id) == (
        "room",
        CoverSource.PINNED,
        "room",
    )
    assert hotels.update_cover("h1", CHOOSE).cover_image_id == "room"  # a later choice keeps the pin
    with pytest.raises(NotFound):
        hotels.update_cover("h1", CHOOSE, pin="not-an-image")
    record = hotels.update_cover("h1", CHOOSE, pin=None)
    assert (record.cover_image_id, record.pinned_image_id) == ("pool", None)
    assert hotels.update_cover("nope", CHOOSE) is None


def test_a_pinned_image_that_is_removed_takes_its_pin_with_it(hotels: SqlHotelCatalog) -> None:
    hotels.save_image(photo("pool", category="Pool", score=0.9), changed=True, now=1.0)
    hotels.save_image(photo("room", category="Room", score=0.2), changed=True, now=1.0)
    hotels.update_cover("h1", CHOOSE, pin="room")
    hotels.save_image(photo("room", status=HotelImageStatus.REMOVED), changed=True, now=2.0)
    record = hotels.update_cover("h1", CHOOSE)
    assert (record.cover_image_id, record.pinned_image_id) == ("pool", None)


def test_concurrent_changes_are_all_counted(hotels: SqlHotelCatalog) -> None:
    """Images of one hotel classified by concurrent invocations: each increment lands (one statement)."""
    errors: list[BaseException] = []

    def write(n: int) -> None:
        try:
            hotels.save_image(photo(f"p{n}"), changed=True, now=float(n))
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert hotels.get_hotel("h1").change_seq == 8


def test_an_unreachable_database_is_unavailable_not_a_driver_error() -> None:
    with pytest.raises(Unavailable, match="hotel database"):
        SqlHotelCatalog("mysql+pymysql://root@127.0.0.1:1/nothing")
