"""The cloud vector index: an OpenSearch ``knn_vector`` field, HNSW built by the faiss engine.

What this follows in the OpenSearch k-NN documentation (docs.opensearch.org):

* *Methods and engines* (mappings/supported-field-types/knn-methods-engines): a ``knn_vector`` field with
  a ``method`` of ``name: hnsw``, ``engine: faiss``, ``space_type``, and ``parameters`` ``m``,
  ``ef_construction`` and ``ef_search``; the index needs ``index.knn: true``. The numbers are the local
  FAISS index's (chosen by bench/index_scale.py), so both profiles trade recall for speed the same way.
  ``ef_search`` is fixed at creation; OpenSearch 2.16+ also takes ``method_parameters.ef_search`` per
  query, should a deployment need to tune it without re-indexing.
* *Spaces* (mappings/supported-field-types/knn-spaces): for ``innerproduct`` the distance is
  d = -(x·y) and the score is 1/(1 + d) when d >= 0, else 1 - d. On L2-normalised vectors x·y is the
  cosine, so :func:`cosine_from_score` inverts that and scores mean the same as the FAISS adapter's.
* *Efficient k-NN filtering* (vector-search/filter-search-knn/efficient-knn-filtering): with the faiss
  engine (2.9+) a ``filter`` inside the ``knn`` clause is applied during the graph search, so a category
  filter still returns k results instead of the few that survive a post-filter.

Discovery adds a second ``knn_vector`` field to the same documents, ``text_vector`` (the dual encoder's image
vectors, searched with its text vectors), with ``text_model`` naming the model that made each one, and a
``price`` the filters read. Shopper filters (category, price range, an excluded product) go into the ``knn``
clause's ``filter`` as a ``bool`` query; a text query also filters on its own ``text_model``, so vectors of
two models never answer together. When collapsing to products leaves fewer than k, the query is sent again
with a larger k (times :data:`OVERSAMPLE`, up to the plugin's 10,000).

Deleting a document of a missing id is not an error (the port says unknown ids are ignored), and an index
that does not exist yet is an empty one: a fresh deployment searches to no hits, not to a 503.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import boto3
from opensearchpy import AWSV4SignerAuth, OpenSearch, RequestsHttpConnection, helpers
from opensearchpy.exceptions import NotFoundError, OpenSearchException, RequestError

from vitrine.errors import BadInput, ConfigError, Unavailable
from vitrine.kernel.types import (
    IMAGE_FIELD,
    TEXT_FIELD,
    Filters,
    IndexItem,
    ModelMismatch,
    SearchHit,
    collapse_to_products,
)

OVERSAMPLE = 4
"""Images fetched per product wanted: a product often has several similar images that collapse to one."""

HNSW_M = 32
HNSW_EF_CONSTRUCTION = 200
HNSW_EF_SEARCH = 256
"""The graph's parameters: the local FAISS index's (``faiss_index.HNSW_*``), see the README's Performance."""


TEXT_VECTOR = "text_vector"
TEXT_MODEL = "text_model"
FIELD_NAMES = {IMAGE_FIELD: "vector", TEXT_FIELD: TEXT_VECTOR}
"""Port field → document field."""
MAX_K = 10_000
"""The k-NN plugin's largest ``k``."""


def knn_field(dim: int) -> dict[str, Any]:
    """One ``knn_vector`` field: HNSW by the faiss engine over inner product."""
    return {
        "type": "knn_vector",
        "dimension": dim,
        "method": {
            "name": "hnsw",
            "engine": "faiss",
            "space_type": "innerproduct",
            "parameters": {"m": HNSW_M, "ef_construction": HNSW_EF_CONSTRUCTION, "ef_search": HNSW_EF_SEARCH},
        },
    }


def text_properties(text_dim: int) -> dict[str, Any]:
    """The discovery fields: the dual encoder's vectors, the model that made each, and the price filter."""
    return {TEXT_VECTOR: knn_field(text_dim), TEXT_MODEL: {"type": "keyword"}, "price": {"type": "float"}}


def index_body(dim: int, text_dim: int | None = None) -> dict[str, Any]:
    """The settings and mapping the index is created with (``text_dim``: with the discovery fields)."""
    properties: dict[str, Any] = {
        "vector": knn_field(dim),
        "product_code": {"type": "keyword"},
        "category": {"type": "keyword"},
    }
    if text_dim is not None:
        properties.update(text_properties(text_dim))
    return {"settings": {"index": {"knn": True}}, "mappings": {"properties": properties}}


def knn_filter(filters: Filters, model: str = "") -> dict[str, Any] | None:
    """The ``filter`` of a ``knn`` clause: one clause alone, several as a ``bool`` query, none as None."""
    musts: list[dict[str, Any]] = []
    if filters.category:
        musts.append({"term": {"category": filters.category}})
    if filters.priced:
        bounds = {"gte": filters.min_price, "lte": filters.max_price}
        musts.append({"range": {"price": {k: v for k, v in bounds.items() if v is not None}}})
    if model:
        musts.append({"term": {TEXT_MODEL: model}})
    exclude = [{"term": {"product_code": filters.exclude_product}}] if filters.exclude_product else []
    if len(musts) == 1 and not exclude:
        return musts[0]
    if not musts and not exclude:
        return None
    query: dict[str, Any] = {}
    if musts:
        query["filter"] = musts
    if exclude:
        query["must_not"] = exclude
    return {"bool": query}


def cosine_from_score(score: float) -> float:
    """Undo the k-NN plugin's innerproduct score transform (score = 1 + ip if ip >= 0 else 1 / (1 - ip))."""
    return score - 1.0 if score >= 1.0 else 1.0 - 1.0 / score


def _is_missing_index(error: NotFoundError) -> bool:
    return error.error == "index_not_found_exception"


class OpenSearchIndex:
    """:class:`~vitrine.kernel.ports.VectorIndex` on an OpenSearch domain, through an opensearch-py client."""

    def __init__(self, client: Any, index: str, dim: int, text_dim: int | None = None) -> None:
        self._client = client
        self.index = index
        self.dim = dim
        self.text_dim = text_dim
        """The text field's width; None: this deployment has no text field."""
        self._ensured = False
        self._models_checked: set[str] = set()

    @contextmanager
    def _mapped(self, action: str) -> Iterator[None]:
        """Every opensearch-py failure is the index being unavailable to the caller."""
        try:
            yield
        except OpenSearchException as error:
            raise Unavailable(f"OpenSearch index {self.index!r}: {action} failed: {error}") from error

    def ensure_index(self) -> None:
        """Create the index with the k-NN mapping if it is missing.

        It must exist before the first document: a bulk write to a missing index would create one with a
        dynamic mapping, where ``vector`` is a plain float array and no k-NN query can run.
        """
        if self._ensured:
            return
        with self._mapped("create"):
            if not self._client.indices.exists(index=self.index):
                try:
                    self._client.indices.create(index=self.index, body=index_body(self.dim, self.text_dim))
                except RequestError as error:
                    if error.error != "resource_already_exists_exception":  # lost a race: fine
                        raise
            elif self.text_dim is not None:
                self._add_text_fields()
        self._ensured = True

    def _add_text_fields(self) -> None:
        """An index created before discovery gets the text fields added to its mapping (a new field is
        allowed on a live index); without this the first text vector would be mapped as a plain float list."""
        described = self._client.indices.get(index=self.index)  # the writer role's indices:admin/get
        properties = next(iter(described.values()), {}).get("mappings", {}).get("properties", {})
        if TEXT_VECTOR not in properties:
            self._client.indices.put_mapping(
                index=self.index, body={"properties": text_properties(self.text_dim)}
            )

    def _vector(self, vector: Sequence[float], field: str = IMAGE_FIELD) -> list[float]:
        dim = self.dim if field == IMAGE_FIELD else self.text_dim
        if len(vector) != dim:
            raise BadInput(
                f"vector has {len(vector)} dimensions; the index {self.index!r} {field} field has {dim}"
            )
        return [float(x) for x in vector]

    def _field(self, field: str) -> str:
        """The document field of a port field; ConfigError for a text field this deployment lacks."""
        if field == TEXT_FIELD and self.text_dim is None:
            raise ConfigError(f"the OpenSearch index {self.index!r} is configured without a text field")
        if field not in FIELD_NAMES:
            raise ConfigError(f"no vector field {field!r}; the index has {sorted(FIELD_NAMES)}")
        return FIELD_NAMES[field]

    def _check_model(self, model: str, replace_model: bool = False) -> None:
        """Refuse text vectors of ``model`` while the index holds another model's (checked once per model
        and process: a count of the documents whose ``text_model`` is not this one)."""
        if model in self._models_checked:
            return
        if not model:
            raise BadInput("a text vector must name the model that made it")
        if not replace_model:
            others = {
                "query": {
                    "bool": {
                        "filter": [{"exists": {"field": TEXT_MODEL}}],
                        "must_not": [{"term": {TEXT_MODEL: model}}],
                    }
                }
            }
            with self._mapped("model check"):
                try:
                    found = int(self._client.count(index=self.index, body=others)["count"])
                except NotFoundError as error:
                    if not _is_missing_index(error):
                        raise
                    found = 0
            if found:
                raise ModelMismatch(
                    f"the OpenSearch index {self.index!r} holds {found} text vectors of another model than "
                    f"{model!r}: re-embed the catalog with it (replace_model) before indexing with it"
                )
        self._models_checked.add(model)

    def _source(self, item: IndexItem) -> dict[str, Any]:
        source: dict[str, Any] = {
            "vector": self._vector(item.vector),
            "product_code": item.product_code,
            "category": item.category,
        }
        if item.price is not None:
            source["price"] = float(item.price)
        if item.text_vector is not None:
            self._field(TEXT_FIELD)
            source[TEXT_VECTOR] = self._vector(item.text_vector, TEXT_FIELD)
            source[TEXT_MODEL] = item.text_model
        return source

    def _bulk(self, action: str, actions: list[dict[str, Any]], ignore_status: tuple[int, ...] = ()) -> None:
        with self._mapped(action):
            helpers.bulk(self._client, actions, ignore_status=ignore_status)

    def upsert(self, items: Sequence[IndexItem]) -> None:
        """Index (insert or replace) each item as a document whose ``_id`` is the image id."""
        if not items:
            return
        actions = [
            {
                "_op_type": "index",
                "_index": self.index,
                "_id": item.id,
                "_source": self._source(item),
            }
            for item in items
        ]
        self.ensure_index()
        for model in sorted({item.text_model for item in items if item.text_vector is not None}):
            self._check_model(model)
        self._bulk("upsert", actions)

    def delete(self, ids: Sequence[str]) -> None:
        if not ids:
            return
        actions = [{"_op_type": "delete", "_index": self.index, "_id": image_id} for image_id in ids]
        self._bulk("delete", actions, ignore_status=(404,))

    def set_category(self, ids: Sequence[str], category: str) -> None:
        """Partial updates of the ``category`` field only: the vectors are not sent again."""
        if not ids:
            return
        actions = [
            {"_op_type": "update", "_index": self.index, "_id": image_id, "doc": {"category": category}}
            for image_id in ids
        ]
        self._bulk("set_category", actions, ignore_status=(404,))

    def set_price(self, ids: Sequence[str], price: float | None) -> None:
        """Partial updates of the ``price`` field only."""
        if not ids:
            return
        value = None if price is None else float(price)
        actions = [
            {"_op_type": "update", "_index": self.index, "_id": image_id, "doc": {"price": value}}
            for image_id in ids
        ]
        self._bulk("set_price", actions, ignore_status=(404,))

    def set_vectors(
        self,
        field: str,
        vectors: Mapping[str, Sequence[float]],
        model: str = "",
        *,
        replace_model: bool = False,
    ) -> None:
        """Partial updates of one vector field (and its model name): the other field is not sent."""
        name = self._field(field)
        if not vectors:
            return
        docs = {image_id: {name: self._vector(vector, field)} for image_id, vector in vectors.items()}
        if field == TEXT_FIELD:
            self.ensure_index()
            self._check_model(model, replace_model)
            for doc in docs.values():
                doc[TEXT_MODEL] = model
        actions = [
            {"_op_type": "update", "_index": self.index, "_id": image_id, "doc": doc}
            for image_id, doc in docs.items()
        ]
        self._bulk(f"set_vectors {field}", actions, ignore_status=(404,))

    def vectors(
        self, ids: Sequence[str], field: str = IMAGE_FIELD, model: str = ""
    ) -> dict[str, list[float]]:
        """The stored vectors of one field, by a multi-get of that field only (and its model name)."""
        name = self._field(field)
        if not ids:
            return {}
        wanted = [name, TEXT_MODEL] if field == TEXT_FIELD and model else [name]
        with self._mapped("vectors"):
            try:
                answer = self._client.mget(index=self.index, body={"ids": list(ids)}, _source_includes=wanted)
            except NotFoundError as error:
                if _is_missing_index(error):
                    return {}
                raise
        return {
            doc["_id"]: [float(v) for v in doc["_source"][name]]
            for doc in answer.get("docs", [])
            if doc.get("found")
            and name in doc.get("_source", {})
            and (len(wanted) == 1 or doc["_source"].get(TEXT_MODEL) == model)
        }

    def ids(self) -> set[str]:
        """Every document id, scrolled without sources (used by reconciliation, not on a request path)."""
        with self._mapped("ids"):
            try:
                return {
                    hit["_id"]
                    for hit in helpers.scan(
                        self._client, index=self.index, query={"query": {"match_all": {}}}, _source=False
                    )
                }
            except NotFoundError as error:
                if _is_missing_index(error):
                    return set()
                raise

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
        if k < 1:
            raise BadInput(f"k must be at least 1, not {k}")
        name = self._field(field)
        query_vector = self._vector(vector, field)
        filters = filters or Filters()
        if category:
            filters = replace(filters, category=category)
        where = knn_filter(filters, model if field == TEXT_FIELD else "")
        fetch = min(k * OVERSAMPLE, MAX_K)
        while True:
            knn: dict[str, Any] = {"vector": query_vector, "k": fetch}
            if where is not None:
                knn["filter"] = where
            body = {"size": fetch, "_source": ["product_code"], "query": {"knn": {name: knn}}}
            with self._mapped("search"):
                try:
                    answer = self._client.search(index=self.index, body=body)
                except NotFoundError as error:
                    if _is_missing_index(error):
                        return []
                    raise
            found = answer["hits"]["hits"]
            hits = collapse_to_products(
                (
                    SearchHit(
                        product_code=hit["_source"]["product_code"],
                        score=cosine_from_score(float(hit["_score"])),
                        image_id=hit["_id"],
                    )
                    for hit in found
                ),
                k,
            )
            if len(hits) >= k or len(found) < fetch or fetch >= MAX_K:
                return hits
            fetch = min(fetch * OVERSAMPLE, MAX_K)  # many images of few products: look further

    def count(self) -> int:
        with self._mapped("count"):
            try:
                return int(self._client.count(index=self.index)["count"])
            except NotFoundError as error:
                if _is_missing_index(error):
                    return 0
                raise


def connect(endpoint: str, region: str, timeout_s: float = 10.0) -> OpenSearch:
    """An opensearch-py client for an Amazon OpenSearch Service domain, signing requests with SigV4.

    The credentials come from boto3's chain (the Lambda role); they refresh themselves, and the signer
    reads them on every request.
    """
    credentials = boto3.Session().get_credentials()
    if credentials is None:
        raise ConfigError(f"no AWS credentials to sign requests to OpenSearch at {endpoint}")
    return OpenSearch(
        hosts=[endpoint],
        http_auth=AWSV4SignerAuth(credentials, region, "es"),
        connection_class=RequestsHttpConnection,
        timeout=timeout_s,
        max_retries=2,
        retry_on_timeout=True,
    )
