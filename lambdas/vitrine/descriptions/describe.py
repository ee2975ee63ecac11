"""Describing a product: its photo's attributes read by the attribute model, a description written from them
alone, checked, and stored with where it came from.

Per product, in order: find the product and decide whether it needs describing → pick its best catalog
photo (a whole view, the first by key: the shop's main photo) → ask the attribute model every question of
the category's schema in one request → normalise each answer to an allowed value or ``not visible`` → give
the writer only the stated attributes and the product's own facts (name, brand, category, price) → check
the text (:mod:`vitrine.descriptions.quality`); a text that fails is written once more with the problems
named, then rejected with the reason → store attributes, text and provenance.

Every product ends with an :class:`~vitrine.kernel.outcomes.Outcome` and nothing here raises for one: a
model or the writer that fails or is throttled (after the client's own retries with backoff and jitter)
gives ``retry`` and the record says ``failed`` with the reason; a photo the model refuses or a text that
fails the check twice gives ``rejected``. A later attempt never erases a good description.

Ingestion calls :meth:`ProductDescribing.after_ingest` with each batch's outcomes: products saved or given a
newly indexed photo are described when they need it (:func:`~vitrine.descriptions.domain.needs_description`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from common import imaging
from vitrine.catalog.domain import ImageStatus, Product, ProductImage
from vitrine.catalog.ingest import PRODUCT_SAVED, split_key
from vitrine.catalog.ports import Catalog
from vitrine.descriptions.domain import (
    DescriptionStatus,
    ProductDescription,
    Provenance,
    fingerprint,
    needs_description,
)
from vitrine.descriptions.normalise import Reading, normalise
from vitrine.descriptions.ports import DescriptionStore
from vitrine.descriptions.quality import TextRules, UnfinishedText, feedback, text_problems
from vitrine.descriptions.schema import AttributeSchema, SchemaSet
from vitrine.errors import BadInput, NotFound
from vitrine.kernel.outcomes import Outcome, failure, failure_reason, skipped
from vitrine.kernel.ports import ObjectStore, TextWriter
from vitrine.models.attribute_reader import AttributeReader

WRITE_ATTEMPTS = 2
"""A text that fails the check is written once more (told what was wrong), then the attempt is rejected."""
MAX_PHOTOS_CONSIDERED = 100
PRODUCT_FACTS = ("name", "brand", "category", "price", "currency")
"""The product's own facts the writer is given, besides the attributes read from the photo."""


@dataclass(frozen=True)
class Written:
    """The outcome of writing: the text that passed, or the problems of the last text."""

    text: str | None
    writer: str
    problems: tuple[str, ...] = ()


def best_photo(images: Iterable[ProductImage]) -> ProductImage | None:
    """The photo to read attributes from: an indexed whole view (or one the tagger could not place), the
    first in key order — the shop's main photo (``01-front.jpg``) — else the first indexed one."""

    def rank(image: ProductImage) -> tuple[int, str]:
        extent = image.tags.get("whole_or_partial", "unknown") if image.tags else "unknown"
        return (0 if extent in ("whole", "unknown") else 1, image.key)

    indexed = [image for image in images if image.status == ImageStatus.INDEXED]
    return min(indexed, key=rank) if indexed else None


def product_facts(product: Product) -> dict[str, Any]:
    """The product's own facts, without empty ones."""
    facts = {key: product.to_dict().get(key) for key in PRODUCT_FACTS}
    return {key: value for key, value in facts.items() if value not in (None, "")}


def codes_to_describe(outcomes: Iterable[Outcome]) -> list[str]:
    """The products an ingestion batch saved or gave a newly indexed photo, in order, once each."""
    codes: dict[str, None] = {}
    for outcome in outcomes:
        if outcome.status in (PRODUCT_SAVED, ImageStatus.INDEXED):
            try:
                codes.setdefault(split_key(outcome.key)[0], None)
            except BadInput:
                continue
    return list(codes)


class ProductDescribing:
    """Reads a product's attributes from its photo and stores a checked, grounded description of it."""

    def __init__(
        self,
        store: ObjectStore,
        catalog: Catalog,
        descriptions: DescriptionStore,
        reader: AttributeReader,
        writer: TextWriter,
        schemas: SchemaSet,
        rules: TextRules,
        *,
        tone: str,
        max_image_bytes: int,
        max_image_pixels: int,
        inline_limit: int = 16,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.catalog = catalog
        self.descriptions = descriptions
        self.reader = reader
        self.writer = writer
        self.schemas = schemas
        self.rules = rules
        self.tone = tone
        self.max_image_bytes = max_image_bytes
        self.max_image_pixels = max_image_pixels
        self.inline_limit = inline_limit
        self.clock = clock

    # -- triggers ----------------------------------------------------------------------------------------

    def after_ingest(self, outcomes: Sequence[Outcome]) -> list[Outcome]:
        """Ingestion's hook: describe the batch's products that need it, at most ``inline_limit`` (the rest
        wait for the describe handler's sweep). Never raises."""
        return [self.describe(code) for code in codes_to_describe(outcomes)[: self.inline_limit]]

    def describe_many(self, codes: Sequence[str], *, force: bool = False) -> list[Outcome]:
        """One outcome per code, in order (a sweep, a backfill batch)."""
        return [self.describe(code, force=force) for code in codes]

    def describe(self, code: str, *, force: bool = False) -> Outcome:
        """Describe one product (``force``: even when it does not need it). Never raises."""
        try:
            return self._describe(code, force)
        except Exception as error:  # the catalog or the store failed: this product only, retried later
            outcome = failure(code, error)
            self._record_failure(code, outcome.reason)
            return outcome

    # -- the pipeline ------------------------------------------------------------------------------------

    def _describe(self, code: str, force: bool) -> Outcome:
        product = self.catalog.get_products([code]).get(code)
        if product is None:
            return skipped(code, f"no product {code} in the catalog")
        previous = self.descriptions.get(code)
        if not force and not needs_description(product, previous):
            return skipped(code, "already described (or has its own description)")
        now = self.clock()
        photo = best_photo(self.catalog.list_images(product_code=code, limit=MAX_PHOTOS_CONSIDERED))
        if photo is None:
            return self._end(previous, code, DescriptionStatus.PENDING, "no indexed photo yet", now)

        try:
            image = self.store.get(photo.key)
            imaging.inspect(image, self.max_image_bytes, self.max_image_pixels)
        except NotFound:
            return self._end(previous, code, DescriptionStatus.PENDING, f"photo {photo.key} is gone", now)
        except (BadInput, imaging.ImageError) as error:
            return self._end(previous, code, DescriptionStatus.REJECTED, f"photo {photo.key}: {error}", now)

        schema = self.schemas.for_category(product.category)
        try:
            readings = self._read(image, schema)
        except BadInput as error:  # the model refuses this photo: no retry will change that
            reason = f"the attribute model refused photo {photo.key}: {error.message}"
            return self._end(previous, code, DescriptionStatus.REJECTED, reason, now)
        given = {reading.name: reading.value for reading in readings if reading.stated}
        facts = {**product_facts(product), **given}

        written = self._write(facts, given, schema)
        provenance = Provenance(
            attribute_model=self.reader.name,
            writer=written.writer,
            ai_generated=bool(getattr(self.writer, "ai_generated", True)),
            attributes_used=given,
            image_key=photo.key,
            schema=schema.schema_name,
            language=self.rules.language,
            described_at=now,
        )
        if written.text is None:
            reason = f"the description failed the check {WRITE_ATTEMPTS} times: " + "; ".join(
                written.problems
            )
            if previous is not None and previous.text is not None:  # keep the good one
                return self._save(previous.attempt(DescriptionStatus.REJECTED, reason, now))
            record = ProductDescription(
                code,
                DescriptionStatus.REJECTED,
                reason,
                tuple(readings),
                None,
                provenance,
                fingerprint(product),
            )
        else:
            record = ProductDescription(
                code,
                DescriptionStatus.DESCRIBED,
                "",
                tuple(readings),
                written.text,
                provenance,
                fingerprint(product),
            )
        attempts = (previous.attempts if previous else 0) + 1
        return self._save(replace(record, attempted_at=now, attempts=attempts))

    def _read(self, image: bytes, schema: AttributeSchema) -> list[Reading]:
        """Every attribute of the schema, from one request; each answer normalised (never raises itself:
        the endpoint's own failure propagates to :meth:`describe`)."""
        answers = self.reader.ask(image, [attribute.question for attribute in schema.attributes])
        return [
            normalise(attribute, answer) for attribute, answer in zip(schema.attributes, answers, strict=True)
        ]

    def instructions(self, problems: Sequence[str] = ()) -> str:
        r = self.rules
        text = (
            f"Write the description of this product for an online shop, in {r.language_name}, in a {self.tone} "
            f"tone: two to four sentences, {r.min_chars} to {r.max_chars} characters. Use only the facts given; "
            "say nothing about anything they do not mention."
        )
        return f"{text}\n\n{feedback(problems)}" if problems else text

    def _write(self, facts: dict[str, Any], given: dict[str, str], schema: AttributeSchema) -> Written:
        """Write and check; once more with the problems named; the last problems if both fail. Writer
        failures other than an unfinished text (throttled, down) propagate: the attempt is retried later."""
        problems: list[str] = []
        writer_name = self.writer.name
        for _ in range(WRITE_ATTEMPTS):
            try:
                generated = self.writer.write(self.instructions(problems), facts)
            except UnfinishedText as error:
                problems = [failure_reason(error)]
                continue
            writer_name = generated.writer
            problems = text_problems(
                generated.text, given=given, facts=facts, schema=schema, rules=self.rules
            )
            if not problems:
                return Written(generated.text.strip(), writer_name)
        return Written(None, writer_name, tuple(problems))

    # -- the record --------------------------------------------------------------------------------------

    def _save(self, record: ProductDescription) -> Outcome:
        self.descriptions.save(record)
        return Outcome(record.code, record.status, record.reason)

    def _end(
        self,
        previous: ProductDescription | None,
        code: str,
        status: DescriptionStatus,
        reason: str,
        now: float,
    ) -> Outcome:
        record = previous or ProductDescription(code, status)
        return self._save(record.attempt(status, reason, now))

    def _record_failure(self, code: str, reason: str) -> None:
        """Best effort: the store may be what failed; the outcome says ``retry`` either way."""
        try:
            previous = self.descriptions.get(code)
            record = previous or ProductDescription(code, DescriptionStatus.FAILED)
            self.descriptions.save(record.attempt(DescriptionStatus.FAILED, reason, self.clock()))
        except Exception:
            return
