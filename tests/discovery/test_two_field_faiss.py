"""The two-field index on FAISS (``FaissFieldIndex``): the image field and the dual encoder's text field share
one id map and one set of metadata, are re-embedded independently, never mix two models' vectors, and survive
a reopen (and a crash between the two fields' saves)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vitrine.adapters.local.faiss_fields import FaissFieldIndex
from vitrine.errors import BadInput, ConfigError
from vitrine.kernel.ports import VectorIndex
from vitrine.kernel.types import IMAGE_FIELD, TEXT_FIELD, Filters, IndexItem, ModelMismatch

DIM, TEXT_DIM = 16, 8
MODEL = "clip-a"


def unit(rng: np.random.Generator, dim: int) -> list[float]:
    vector = rng.normal(size=dim)
    return (vector / np.linalg.norm(vector)).tolist()


@pytest.fixture
def items() -> list[IndexItem]:
    rng = np.random.default_rng(0)
    return [
        IndexItem(
            f"img-{i}",
            unit(rng, DIM),
            f"P{i // 2}",
            "shirt" if i % 4 < 2 else "hat",
            price=10.0 + i,
            text_vector=unit(rng, TEXT_DIM),
            text_model=MODEL,
        )
        for i in range(12)
    ]


@pytest.fixture
def index(tmp_path: Path, items: list[IndexItem]) -> FaissFieldIndex:
    index = FaissFieldIndex(tmp_path / "index")
    index.upsert(items)
    return index


def test_both_fields_answer_for_the_same_images_with_the_same_metadata(index, items) -> None:
    assert isinstance(index, VectorIndex)
    assert index.count() == 12 and index.ids() == {item.id for item in items}
    for item in items[:4]:
        image_hit = index.search(item.vector, k=1)[0]
        text_hit = index.search(item.text_vector, k=1, field=TEXT_FIELD, model=MODEL)[0]
        assert image_hit.image_id == text_hit.image_id == item.id
        assert text_hit.score == pytest.approx(1.0, abs=1e-5)
    shirts = index.search(items[0].text_vector, k=10, field=TEXT_FIELD, model=MODEL, category="hat")
    assert {hit.product_code for hit in shirts} == {"P1", "P3", "P5"}


def test_re_embedding_one_field_never_touches_the_other(index, items) -> None:
    rng = np.random.default_rng(7)
    before_text = index.vectors([item.id for item in items], TEXT_FIELD)
    new_images = {item.id: unit(rng, DIM) for item in items}
    index.set_vectors(IMAGE_FIELD, new_images)
    assert index.vectors(list(new_images), TEXT_FIELD) == before_text
    assert index.search(new_images["img-3"], k=1)[0].image_id == "img-3"

    before_image = index.vectors(list(new_images), IMAGE_FIELD)
    new_text = {item.id: unit(rng, TEXT_DIM) for item in items}
    index.set_vectors(TEXT_FIELD, new_text, MODEL)
    assert index.vectors(list(new_text), IMAGE_FIELD) == before_image
    assert index.search(new_text["img-5"], k=1, field=TEXT_FIELD, model=MODEL)[0].image_id == "img-5"
    assert index.search(new_images["img-6"], k=1, category="hat")[0].image_id == "img-6"  # metadata kept


def test_a_text_vector_of_another_model_is_refused_and_nothing_changes(index, items) -> None:
    rng = np.random.default_rng(3)
    other = IndexItem("img-new", unit(rng, DIM), "P9", text_vector=unit(rng, TEXT_DIM), text_model="clip-b")
    with pytest.raises(ModelMismatch, match="clip-a"):
        index.upsert([other])
    with pytest.raises(ModelMismatch):
        index.set_vectors(TEXT_FIELD, {"img-0": unit(rng, TEXT_DIM)}, "clip-b")
    with pytest.raises(ModelMismatch, match="re-embed"):
        index.search(items[0].text_vector, k=3, field=TEXT_FIELD, model="clip-b")
    assert "img-new" not in index.ids() and index.text_model == MODEL
    assert index.vectors(["img-0"], TEXT_FIELD, model="clip-b") == {}


def test_replace_model_drops_the_old_models_vectors_and_takes_another_width(index, items) -> None:
    rng = np.random.default_rng(4)
    index.set_vectors(
        TEXT_FIELD, {"img-0": unit(rng, 4), "img-1": unit(rng, 4)}, "clip-b", replace_model=True
    )
    assert index.text_model == "clip-b"
    assert set(index.vectors([item.id for item in items], TEXT_FIELD)) == {"img-0", "img-1"}
    assert index.count() == 12  # the image field is whole
    assert index.search(unit(rng, 4), k=5, field=TEXT_FIELD, model="clip-b")


def test_an_image_indexed_again_without_a_text_vector_keeps_none_of_its_old_one(index, items) -> None:
    index.upsert([IndexItem("img-0", items[0].vector, "P0", "shirt", price=10.0)])
    assert "img-0" not in index.vectors(["img-0"], TEXT_FIELD)
    assert index.search(items[0].text_vector, k=1, field=TEXT_FIELD, model=MODEL)[0].image_id != "img-0"
    index.delete(["img-1"])
    assert "img-1" not in index.vectors(["img-1"], TEXT_FIELD) and "img-1" not in index.ids()


def test_reopen_keeps_both_fields_and_the_model(tmp_path: Path, index, items) -> None:
    index.set_price(["img-0", "img-1"], 99.0)
    index.save()
    again = FaissFieldIndex(tmp_path / "index")
    assert again.text_model == MODEL and again.count() == 12
    assert again.search(items[2].text_vector, k=1, field=TEXT_FIELD, model=MODEL)[0].image_id == "img-2"
    priced = again.search(items[0].text_vector, k=5, field=TEXT_FIELD, filters=Filters(min_price=90))
    assert [hit.product_code for hit in priced] == ["P0"]
    with pytest.raises(ModelMismatch):
        again.upsert(
            [IndexItem("x", items[0].vector, "P0", text_vector=items[0].text_vector, text_model="b")]
        )


def test_text_vectors_of_images_the_image_field_lacks_are_dropped_at_open(tmp_path: Path, index) -> None:
    """A crash after the text field's save but before the image field's leaves text vectors without images."""
    index.save()
    index.text.upsert([IndexItem("ghost", [1.0] + [0.0] * (TEXT_DIM - 1), "P9")])
    index.text.save()  # the image field never saw "ghost"
    again = FaissFieldIndex(tmp_path / "index")
    assert "ghost" not in again.text.ids()
    assert all(hit.product_code != "P9" for hit in again.search([1.0] + [0.0] * 7, k=20, field=TEXT_FIELD))


def test_bad_text_vectors_change_neither_field(index, items) -> None:
    bad = IndexItem("img-x", items[0].vector, "PX", text_vector=[0.0] * TEXT_DIM, text_model=MODEL)
    with pytest.raises(BadInput):
        index.upsert([bad])
    wrong_width = IndexItem("img-y", items[0].vector, "PY", text_vector=[1.0, 0.0], text_model=MODEL)
    with pytest.raises(BadInput, match="dimensions"):
        index.upsert([wrong_width])
    assert index.ids() == {item.id for item in items}
    with pytest.raises(ConfigError):
        index.search(items[0].vector, field="sound")


def test_a_fresh_index_has_no_text_hits_and_takes_the_first_model(tmp_path: Path) -> None:
    index = FaissFieldIndex(tmp_path / "fresh")
    assert index.search([1.0, 0.0], k=3, field=TEXT_FIELD, model="any") == []
    index.upsert([IndexItem("a", [1.0, 0.0], "P", text_vector=[0.0, 1.0], text_model="m1")])
    assert index.text_model == "m1"
