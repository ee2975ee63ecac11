"""The local profile's index with both vector fields: two FAISS HNSW graphs over one id space.

The image field is a :class:`~vitrine.adapters.local.faiss_index.FaissIndex` at ``path`` (the files a
one-field index already had, so an existing index opens as it is); the text field is a second one at
``path/text`` that holds, for the same image ids, the dual encoder's vectors and the same metadata (product,
category, price). Every write goes through this class, which keeps the two id maps and their metadata equal:
the text field's ids are always a subset of the image field's.

``fields.json`` records which model made the text vectors. Vectors of another model are refused
(:class:`~vitrine.kernel.types.ModelMismatch`), never mixed into one graph; re-embedding with
``replace_model=True`` drops the old model's vectors first.

A save writes ``fields.json``, then the text field, then the image field, each atomically. At open, text
vectors whose id the image field lacks (a crash between the two saves) are dropped, so the text field never
answers for an image that is not indexed; images whose text vector never reached disk are found again by
the ledger reconciliation of the image field.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from vitrine.adapters.local.faiss_index import FaissIndex
from vitrine.errors import BadInput, ConfigError
from vitrine.kernel.types import IMAGE_FIELD, TEXT_FIELD, Filters, IndexItem, ModelMismatch, SearchHit

FIELDS_FILE = "fields.json"
TEXT_FOLDER = "text"


def _check_vectors(vectors: Sequence[Sequence[float]], dim: int | None) -> None:
    """Refuse what the text graph would refuse, before either field changes."""
    try:
        array = np.asarray(vectors, dtype=np.float32)
    except ValueError:
        raise BadInput("text vectors must all have the same length") from None
    if array.ndim != 2 or array.shape[1] == 0:
        raise BadInput("each text vector must be a non-empty list of numbers")
    if dim is not None and array.shape[1] != dim:
        raise BadInput(f"text vector has {array.shape[1]} dimensions; the text field holds {dim}")
    norms = np.linalg.norm(array, axis=1)
    if not np.all(np.isfinite(norms)) or np.any(norms == 0):
        raise BadInput("a text vector is not finite or is all zeros")


class FaissFieldIndex:
    """:class:`~vitrine.kernel.ports.VectorIndex` with the ``image`` and ``text`` fields, on FAISS.

    ``graph`` options (``m``, ``ef_construction``, ``ef_search``, ``compact_above``) apply to both graphs.
    """

    def __init__(self, path: Path | None, **graph: Any) -> None:
        self._path = path
        self._graph = graph
        self._lock = threading.RLock()
        self.image = FaissIndex(path, **graph)
        self.text = self._text_index()
        self.text_model = ""
        if path is not None and (path / FIELDS_FILE).is_file():
            fields = json.loads((path / FIELDS_FILE).read_text(encoding="utf-8"))
            self.text_model = str(fields.get(TEXT_FIELD, {}).get("model", ""))
        orphans = self.text.ids() - self.image.ids()
        if orphans:
            self.text.delete(sorted(orphans))

    # -- what both fields share ------------------------------------------------------------------------

    def count(self) -> int:
        return self.image.count()

    def ids(self) -> set[str]:
        return self.image.ids()

    def delete(self, ids: Sequence[str]) -> None:
        with self._lock:
            self.text.delete(ids)
            self.image.delete(ids)

    def set_category(self, ids: Sequence[str], category: str) -> None:
        with self._lock:
            self.image.set_category(ids, category)
            self.text.set_category(ids, category)

    def set_price(self, ids: Sequence[str], price: float | None) -> None:
        with self._lock:
            self.image.set_price(ids, price)
            self.text.set_price(ids, price)

    def upsert(self, items: Sequence[IndexItem]) -> None:
        """Both fields of each image anew; an item without a text vector leaves its image without one."""
        if not items:
            return
        with self._lock:
            embedded = [item for item in items if item.text_vector is not None]
            model = self._model_of(embedded)
            if embedded and model != self.text_model:  # an empty field takes a new model (and width)
                self._reset_text()
            if embedded:
                _check_vectors([item.text_vector for item in embedded], self.text.dim)  # type: ignore[misc]
            self.image.upsert([replace(item, text_vector=None, text_model="") for item in items])
            self.text.delete([item.id for item in items if item.text_vector is None])
            self.text.upsert(
                [replace(item, vector=item.text_vector, text_vector=None, text_model="") for item in embedded]
            )
            if embedded:
                self.text_model = model

    def _model_of(self, items: Sequence[IndexItem], replace_model: bool = False) -> str:
        """The one model of these items' text vectors; ``ModelMismatch`` when it is not the field's."""
        models = {item.text_model for item in items}
        if not items:
            return self.text_model
        if len(models) > 1 or "" in models:
            raise BadInput("every text vector must name the one model that made it")
        (model,) = models
        if self.text_model and model != self.text_model and not (replace_model or self.text.count() == 0):
            raise ModelMismatch(
                f"the text field holds vectors of {self.text_model!r}, not {model!r}: re-embed the catalog "
                "with the new model (replace_model) before indexing with it"
            )
        return model

    # -- one field -------------------------------------------------------------------------------------

    def search(
        self,
        vector: Sequence[float],
        k: int = 5,
        category: str | None = None,
        *,
        filters: Filters | None = None,
        field: str = IMAGE_FIELD,
        model: str = "",
    ) -> list[SearchHit]:
        if field == IMAGE_FIELD:
            return self.image.search(vector, k, category, filters=filters)
        self._field(field)
        with self._lock:
            if model and self.text_model and model != self.text_model:
                raise ModelMismatch(
                    f"the query was embedded by {model!r} but the text field holds vectors of "
                    f"{self.text_model!r}: re-embed the catalog with the model the endpoint serves"
                )
            return self.text.search(vector, k, category, filters=filters)

    def vectors(
        self, ids: Sequence[str], field: str = IMAGE_FIELD, model: str = ""
    ) -> dict[str, list[float]]:
        if field == IMAGE_FIELD:
            return self.image.vectors(ids)
        text = self._field(field)
        with self._lock:
            return {} if model and model != self.text_model else text.vectors(ids)

    def set_vectors(
        self,
        field: str,
        vectors: Mapping[str, Sequence[float]],
        model: str = "",
        *,
        replace_model: bool = False,
    ) -> None:
        """Re-embed one field of images already indexed; the other field is not touched."""
        if field == IMAGE_FIELD:
            self.image.set_vectors(field, vectors)
            return
        self._field(field)
        with self._lock:
            known = self.image.metadata(list(vectors))
            items = [IndexItem(i, vectors[i], *known[i], text_model=model) for i in known]
            model = self._model_of(items, replace_model)
            if not items:
                return
            _check_vectors(
                [item.vector for item in items], None if model != self.text_model else self.text.dim
            )
            if model != self.text_model:  # replace_model: the old model's vectors never answer again
                self._reset_text()
            self.text.upsert([replace(item, text_model="") for item in items])
            self.text_model = model

    def _text_index(self) -> FaissIndex:
        return FaissIndex(None if self._path is None else self._path / TEXT_FOLDER, **self._graph)

    def _reset_text(self) -> None:
        """An empty text field, of no width yet, on disk too (its vectors belong to a model going away)."""
        if self._path is not None:
            shutil.rmtree(self._path / TEXT_FOLDER, ignore_errors=True)
        self.text = self._text_index()

    def _field(self, field: str) -> FaissIndex:
        if field != TEXT_FIELD:
            raise ConfigError(f"no vector field {field!r}; the index has {IMAGE_FIELD!r} and {TEXT_FIELD!r}")
        return self.text

    # -- persistence -----------------------------------------------------------------------------------

    def save(self) -> None:
        """``fields.json``, then the text field, then the image field (see the module's note on crashes)."""
        with self._lock:
            if self._path is not None:
                self._path.mkdir(parents=True, exist_ok=True)
                temp = self._path / f"{FIELDS_FILE}.tmp"
                temp.write_text(json.dumps({TEXT_FIELD: {"model": self.text_model}}), encoding="utf-8")
                os.replace(temp, self._path / FIELDS_FILE)
            self.text.save()
            self.image.save()
