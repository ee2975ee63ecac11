"""The hotel catalog over SQLAlchemy Core: its own tables beside the product catalog's, same engine rules.

The engine (SQLite WAL with IMMEDIATE transactions locally, pre-ping and recycling on MySQL / Aurora), the
full-row upsert, the cross-start migration lock and the JSON encoding come from
:mod:`vitrine.adapters.sql.catalog`. The schema steps are this module's own (:data:`MIGRATIONS`), counted
in their own ``hotel_schema_version`` table, so the two jobs' schemas grow independently in one database.

Two rules keep covers right under concurrency:

* every write that can move a cover marks the hotel changed in the *same transaction* (a single
  insert-or-increment statement, so a bare row (no name yet) appears for images that arrive before ``hotel.json``);
* every cover write goes through :meth:`SqlHotelCatalog.update_cover`, which locks the hotel's row
  (``SELECT ... FOR UPDATE`` on MySQL; SQLite's IMMEDIATE transaction locks the database) and chooses the
  cover from what is stored then: a pin set while a scoring run was working is never overwritten.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    Double,
    Engine,
    Index,
    MetaData,
    String,
    Table,
    Text,
    and_,
    bindparam,
    case,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import mysql, sqlite
from sqlalchemy.schema import CreateIndex, CreateTable

from vitrine.adapters.sql.catalog import (
    _TABLE_OPTIONS,
    CredentialSource,
    Migration,
    SqlStore,
    _dumps,
    _upsert_builder,
)
from vitrine.adapters.sql.catalog import migrate as migrate_schema
from vitrine.errors import NotFound
from vitrine.hotels.domain import CoverSource, Hotel, HotelImage, HotelImageStatus, HotelRecord
from vitrine.hotels.ports import KEEP, ChooseCover

metadata = MetaData()

hotel_schema_version = Table(
    "hotel_schema_version",
    metadata,
    Column("version", BigInteger, primary_key=True, autoincrement=False),
    **_TABLE_OPTIONS,
)

hotels = Table(
    "hotels",
    metadata,
    Column("hotel_id", String(128), primary_key=True),
    Column("name", Text, nullable=False),
    Column("description", Text, nullable=False),
    Column("city", String(200), nullable=False),
    Column("city_key", String(200), nullable=False),
    Column("stars", Double, nullable=True),
    Column("extra", Text, nullable=False),
    Column("has_metadata", Boolean, nullable=False),
    Column("meta_sequencer", String(64), nullable=False),
    Column("meta_version", String(256), nullable=False),
    Column("cover_image_id", String(64), nullable=True),
    Column("cover_source", String(16), nullable=True),
    Column("pinned_image_id", String(64), nullable=True),
    Column("change_seq", BigInteger, nullable=False),
    Column("scored_seq", BigInteger, nullable=False),
    Column("changed_at", Double, nullable=False),
    Column("dirty_since", Double, nullable=True),
    Column("scored_at", Double, nullable=True),
    Column("lease_until", Double, nullable=True),
    Column("updated_at", Double, nullable=False),
    **_TABLE_OPTIONS,
)

hotel_images = Table(
    "hotel_images",
    metadata,
    Column("image_id", String(64), primary_key=True),
    Column("hotel_id", String(128), nullable=False),
    Column("object_key", String(1024), nullable=False),
    Column("status", String(16), nullable=False),
    Column("reason", Text, nullable=False),
    Column("category", String(128), nullable=False),
    Column("raw_answer", Text, nullable=False),
    Column("confidence", Double, nullable=True),
    Column("score", Double, nullable=True),
    Column("sequencer", String(64), nullable=False),
    Column("version", String(256), nullable=False),
    Column("updated_at", Double, nullable=False),
    **_TABLE_OPTIONS,
)

_INDEXES = (
    Index("ix_hotels_city_key", hotels.c.city_key),
    Index("ix_hotels_dirty_since", hotels.c.dirty_since),
    Index("ix_hotel_images_hotel_status", hotel_images.c.hotel_id, hotel_images.c.status),
)


def _create_tables(conn: Connection) -> None:
    for table in (hotels, hotel_images):
        conn.execute(CreateTable(table))
    for index in _INDEXES:
        conn.execute(CreateIndex(index))


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1, "hotels and hotel_images, with the indexes for city, dirty hotels and galleries", _create_tables
    ),
)
_STATUSES: tuple[str, ...] = tuple(HotelImageStatus)
_IN_CHUNK = 500  # ids per IN (...) list: well under SQLite's bound-parameter limit


def migrate(engine: Engine, migrations: Sequence[Migration] = MIGRATIONS) -> int:
    """The catalog's migration procedure over this module's steps and version table; the version reached."""
    return migrate_schema(engine, migrations, hotel_schema_version)


def _hotel_row(hotel: Hotel, sequencer: str, version: str, now: float) -> dict[str, Any]:
    return {
        "hotel_id": hotel.hotel_id,
        "name": hotel.name,
        "description": hotel.description,
        "city": hotel.city,
        "city_key": hotel.city.strip().casefold(),
        "stars": hotel.stars,
        "extra": _dumps(hotel.extra),
        "has_metadata": True,
        "meta_sequencer": sequencer,
        "meta_version": version,
        "updated_at": now,
    }


def _bare_row(hotel_id: str, now: float) -> dict[str, Any]:
    """A hotel known only from its images (no ``hotel.json`` yet), already marked changed."""
    return {
        **_hotel_row(Hotel(hotel_id), "", "", now),
        "has_metadata": False,
        "change_seq": 1,
        "scored_seq": 0,
        "changed_at": now,
        "dirty_since": now,
    }


def _record_from(row: Any) -> HotelRecord:
    return HotelRecord(
        hotel=Hotel(
            hotel_id=row.hotel_id,
            name=row.name,
            description=row.description,
            city=row.city,
            stars=row.stars,
            extra=json.loads(row.extra),
        ),
        has_metadata=bool(row.has_metadata),
        meta_sequencer=row.meta_sequencer,
        meta_version=row.meta_version,
        cover_image_id=row.cover_image_id,
        cover_source=CoverSource(row.cover_source) if row.cover_source else None,
        pinned_image_id=row.pinned_image_id,
        change_seq=row.change_seq,
        scored_seq=row.scored_seq,
        changed_at=row.changed_at,
        dirty_since=row.dirty_since,
        scored_at=row.scored_at,
        updated_at=row.updated_at,
    )


def _image_row(image: HotelImage) -> dict[str, Any]:
    return {
        "image_id": image.image_id,
        "hotel_id": image.hotel_id,
        "object_key": image.key,
        "status": image.status,
        "reason": image.reason,
        "category": image.category,
        "raw_answer": image.raw_answer,
        "confidence": image.confidence,
        "score": image.score,
        "sequencer": image.sequencer,
        "version": image.version,
        "updated_at": image.updated_at or time.time(),
    }


def _image_from(row: Any) -> HotelImage:
    return HotelImage(
        image_id=row.image_id,
        hotel_id=row.hotel_id,
        key=row.object_key,
        status=HotelImageStatus(row.status),
        reason=row.reason,
        category=row.category,
        raw_answer=row.raw_answer,
        confidence=row.confidence,
        score=row.score,
        sequencer=row.sequencer,
        version=row.version,
        updated_at=row.updated_at,
    )


class SqlHotelCatalog(SqlStore):
    """:class:`~vitrine.hotels.ports.HotelCatalog` over SQLite or MySQL (the catalog's URL)."""

    what = "hotel"
    schema = staticmethod(migrate)

    def __init__(self, url: str, credentials: CredentialSource | None = None) -> None:
        super().__init__(url, credentials)
        self._replace = _upsert_builder(self._dialect)

    def _upsert(self, row: dict[str, Any], set_: dict[str, Any]) -> Any:
        """Insert ``row`` into ``hotels``, or apply ``set_`` (values or SQL expressions over the existing
        row) to the row already there: one statement, no read-then-write race."""
        if self._dialect == "sqlite":
            stmt = sqlite.insert(hotels).values(row)
            return stmt.on_conflict_do_update(index_elements=["hotel_id"], set_=set_)
        return mysql.insert(hotels).values(row).on_duplicate_key_update(set_)

    def _mark_changed(self, conn: Connection, hotel_id: str, now: float) -> None:
        conn.execute(
            self._upsert(
                _bare_row(hotel_id, now),
                {
                    "change_seq": hotels.c.change_seq + 1,
                    "changed_at": now,
                    "dirty_since": func.coalesce(hotels.c.dirty_since, now),
                },
            )
        )

    # -- hotels --------------------------------------------------------------------------------------

    def save_hotel(self, hotel: Hotel, *, sequencer: str, version: str, now: float) -> bool:
        row = _hotel_row(hotel, sequencer, version, now)
        with self._guard("save a hotel"), self._engine.begin() as conn:
            before = conn.execute(
                select(hotels.c.name, hotels.c.description, hotels.c.has_metadata)
                .where(hotels.c.hotel_id == hotel.hotel_id)
                .with_for_update()
            ).first()
            new = {"change_seq": 0, "scored_seq": 0, "changed_at": now, "dirty_since": None}
            conn.execute(self._upsert({**row, **new}, {k: v for k, v in row.items() if k != "hotel_id"}))
            changed = (
                before is None
                or not before.has_metadata
                or (before.name, before.description) != (hotel.name, hotel.description)
            )
            if changed:
                self._mark_changed(conn, hotel.hotel_id, now)
        return changed

    def get_hotel(self, hotel_id: str) -> HotelRecord | None:
        with self._guard("read a hotel"), self._engine.begin() as conn:
            row = conn.execute(select(hotels).where(hotels.c.hotel_id == hotel_id)).first()
        return None if row is None else _record_from(row)

    def list_hotels(
        self, *, city: str | None = None, limit: int = 20, after: str | None = None, described: bool = True
    ) -> list[HotelRecord]:
        query = select(hotels)
        if described:
            query = query.where(hotels.c.has_metadata.is_(True))
        if city:
            query = query.where(hotels.c.city_key == city.strip().casefold())
        if after:
            query = query.where(hotels.c.hotel_id > after)
        query = query.order_by(hotels.c.hotel_id).limit(max(limit, 0))
        with self._guard("list hotels"), self._engine.begin() as conn:
            return [_record_from(row) for row in conn.execute(query)]

    def count_hotels(self) -> int:
        with self._guard("count hotels"), self._engine.begin() as conn:
            return conn.execute(select(func.count()).select_from(hotels)).scalar_one()

    # -- the object ledger ---------------------------------------------------------------------------

    def save_image(self, image: HotelImage, *, changed: bool, now: float) -> None:
        with self._guard("save a hotel image record"), self._engine.begin() as conn:
            conn.execute(self._replace(hotel_images, _image_row(image)))
            if changed:
                self._mark_changed(conn, image.hotel_id, now)

    def get_image(self, image_id: str) -> HotelImage | None:
        with self._guard("read a hotel image record"), self._engine.begin() as conn:
            row = conn.execute(select(hotel_images).where(hotel_images.c.image_id == image_id)).first()
        return None if row is None else _image_from(row)

    def get_images(self, image_ids: Sequence[str]) -> dict[str, HotelImage]:
        wanted = list(dict.fromkeys(image_ids))
        found: dict[str, HotelImage] = {}
        with self._guard("read hotel image records"), self._engine.begin() as conn:
            for start in range(0, len(wanted), _IN_CHUNK):
                query = select(hotel_images).where(
                    hotel_images.c.image_id.in_(wanted[start : start + _IN_CHUNK])
                )
                found.update({row.image_id: _image_from(row) for row in conn.execute(query)})
        return found

    def delete_image(self, image_id: str) -> None:
        with self._guard("delete a hotel image record"), self._engine.begin() as conn:
            conn.execute(hotel_images.delete().where(hotel_images.c.image_id == image_id))

    def list_images(self, hotel_id: str, status: str | None = None) -> list[HotelImage]:
        query = select(hotel_images).where(hotel_images.c.hotel_id == hotel_id)
        if status is not None:
            query = query.where(hotel_images.c.status == status)
        with self._guard("list hotel images"), self._engine.begin() as conn:
            return [_image_from(row) for row in conn.execute(query.order_by(hotel_images.c.object_key))]

    def count_images(self) -> dict[str, int]:
        counts = dict.fromkeys(_STATUSES, 0)
        query = select(hotel_images.c.status, func.count()).group_by(hotel_images.c.status)
        with self._guard("count hotel images"), self._engine.begin() as conn:
            counts.update({status: n for status, n in conn.execute(query)})
        return counts

    # -- scoring -------------------------------------------------------------------------------------

    @staticmethod
    def _free(now: float) -> Any:
        return or_(hotels.c.lease_until.is_(None), hotels.c.lease_until < now)

    def due_for_scoring(self, *, now: float, quiet_s: float, max_wait_s: float, limit: int) -> list[str]:
        query = (
            select(hotels.c.hotel_id)
            .where(
                hotels.c.dirty_since.is_not(None),
                self._free(now),
                or_(hotels.c.changed_at <= now - quiet_s, hotels.c.dirty_since <= now - max_wait_s),
            )
            .order_by(hotels.c.changed_at, hotels.c.hotel_id)
            .limit(max(limit, 0))
        )
        with self._guard("find hotels to score"), self._engine.begin() as conn:
            return list(conn.execute(query).scalars())

    def claim_scoring(self, hotel_id: str, *, now: float, lease_s: float, force: bool = False) -> int | None:
        condition = and_(hotels.c.hotel_id == hotel_id, self._free(now))
        if not force:
            condition = and_(condition, hotels.c.dirty_since.is_not(None))
        with self._guard("claim a hotel for scoring"), self._engine.begin() as conn:
            taken = conn.execute(update(hotels).where(condition).values(lease_until=now + lease_s))
            if taken.rowcount != 1:
                return None
            return conn.execute(select(hotels.c.change_seq).where(hotels.c.hotel_id == hotel_id)).scalar_one()

    def save_scores(self, hotel_id: str, *, seq: int, scores: Mapping[str, float | None], now: float) -> None:
        with self._guard("save scores"), self._engine.begin() as conn:
            if scores:
                conn.execute(
                    update(hotel_images)
                    .where(
                        hotel_images.c.image_id == bindparam("b_image_id"),
                        hotel_images.c.hotel_id == hotel_id,
                        hotel_images.c.status == HotelImageStatus.CLASSIFIED.value,
                    )
                    .values(score=bindparam("b_score")),
                    [{"b_image_id": image_id, "b_score": score} for image_id, score in scores.items()],
                )
            conn.execute(
                update(hotels)
                .where(hotels.c.hotel_id == hotel_id)
                .values(
                    # MySQL assigns left to right: dirty_since reads change_seq, which is not assigned here.
                    dirty_since=case((hotels.c.change_seq <= seq, None), else_=hotels.c.dirty_since),
                    scored_seq=case((hotels.c.scored_seq < seq, seq), else_=hotels.c.scored_seq),
                    scored_at=now,
                    lease_until=None,
                )
            )

    def release_scoring(self, hotel_id: str) -> None:
        with self._guard("release a scoring lease"), self._engine.begin() as conn:
            conn.execute(update(hotels).where(hotels.c.hotel_id == hotel_id).values(lease_until=None))

    def update_cover(
        self, hotel_id: str, choose: ChooseCover, *, pin: str | None = KEEP
    ) -> HotelRecord | None:
        with self._guard("update a cover"), self._engine.begin() as conn:
            row = conn.execute(select(hotels).where(hotels.c.hotel_id == hotel_id).with_for_update()).first()
            if row is None:
                return None
            images = [
                _image_from(image)
                for image in conn.execute(
                    select(hotel_images)
                    .where(
                        hotel_images.c.hotel_id == hotel_id,
                        hotel_images.c.status == HotelImageStatus.CLASSIFIED.value,
                    )
                    .order_by(hotel_images.c.object_key)
                )
            ]
            ids = {image.image_id for image in images}
            pinned = row.pinned_image_id
            if pin != KEEP:
                if pin is not None and pin not in ids:
                    raise NotFound(f"hotel {hotel_id} has no classified image {pin}")
                pinned = pin
            elif pinned and pinned not in ids:
                pinned = None  # the pinned photo is gone: the pin goes with it
            cover, source = choose(pinned, images)
            conn.execute(
                update(hotels)
                .where(hotels.c.hotel_id == hotel_id)
                .values(
                    pinned_image_id=pinned,
                    cover_image_id=cover,
                    cover_source=source.value if source else None,
                )
            )
            return _record_from(conn.execute(select(hotels).where(hotels.c.hotel_id == hotel_id)).one())
