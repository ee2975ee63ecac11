"""The cloud vector index: an OpenSearch ``knn_vector`` field, HNSW built by the faiss engine.

What this follows in the OpenSearch k-NN documentation (docs.opensearch.org):

* *Methods and engines* (mappings/supported-field-types/knn-methods-engines): a ``knn_vector`` field with
  a ``method`` of ``name: hnsw``, ``engine: faiss``, ``space_type``, and ``parameters`` ``m`` and
  ``ef_construction``; the index needs ``index.knn: true``. m=16 / ef_construction=128 match the local
  FAISS index, so both profiles trade recall for speed the same way.
* *Spaces* (mappings/supported-field-types/knn-spaces): for ``innerproduct`` the distance is
  d = -(x·y) and the score is 1/(1 + d) when d >= 0, else 1 - d. On L2-normalised vectors x·y is the
  cosine, so :func:`cosine_from_score` inverts that and scores mean the same as the FAISS adapter's.
* *Efficient k-NN filtering* (vector-search/filter-search-knn/efficient-knn-filtering): with the faiss
  engine (2.9+) a ``filter`` inside the ``knn`` clause is applied during the graph search, so a category
  filter still returns k results instead of the few that survive a post-filter.

Deleting a document of a missing id is not an error (the port says unknown ids are ignored), and an index
that does not exist yet is an empty one: a fresh deployment searches to no hits, not to a 503.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import boto3
from opensearchpy import AWSV4SignerAuth, OpenSearch, RequestsHttpConnection, helpers
from opensearchpy.exceptions import NotFoundError, OpenSearchException, RequestError

from vitrine.errors import BadInput, ConfigError, Unavailable
from vitrine.kernel.types import IndexItem, SearchHit, collapse_to_products

OVERSAMPLE = 4
"""Images fetched per product wanted: a product often has several similar images that collapse to one."""

HNSW_M = 16
HNSW_EF_CONSTRUCTION = 128


def index_body(dim: int) -> dict[str, Any]:
    """The settings and mapping the index is created with."""
    return {
        "settings": {"index": {"knn": True}},
        "mappings": {
            "properties": {
                "vector": {
                    "type": "knn_vector",
                    "dimension": dim,
                    "method": {
                        "name": "hnsw",
                        "engine": "faiss",
                        "space_type": "innerproduct",
                        "parameters": {"m": HNSW_M, "ef_construction": HNSW_EF_CONSTRUCTION},
                    },
                },
                "product_code": {"type": "keyword"},
                "category": {"type": "keyword"},
            }
        },
    }


def cosine_from_score(score: float) -> float:
    """Undo the k-NN plugin's innerproduct score transform (score = 1 + ip if ip >= 0 else 1 / (1 - ip))."""
    return score - 1.0 if score >= 1.0 else 1.0 - 1.0 / score


def _is_missing_index(error: NotFoundError) -> bool:
    return error.error == "index_not_found_exception"


class OpenSearchIndex:
    """:class:`~vitrine.kernel.ports.VectorIndex` on an OpenSearch domain, through an opensearch-py client."""

    def __init__(self, client: Any, index: str, dim: int) -> None:
        self._client = client
        self.index = index
        self.dim = dim
        self._ensured = False

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
                    self._client.indices.create(index=self.index, body=index_body(self.dim))
                except RequestError as error:
                    if error.error != "resource_already_exists_exception":  # lost a race: fine
                        raise
        self._ensured = True

    def _vector(self, vector: Sequence[float]) -> list[float]:
        if len(vector) != self.dim:
            raise BadInput(f"vector has {len(vector)} dimensions; the index {self.index!r} has {self.dim}")
        return [float(x) for x in vector]

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
                "_source": {
                    "vector": self._vector(item.vector),
                    "product_code": item.product_code,
                    "category": item.category,
                },
            }
            for item in items
        ]
        self.ensure_index()
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

    def search(self, vector: Sequence[float], k: int = 5, category: str | None = None) -> list[SearchHit]:
        if k < 1:
            raise BadInput(f"k must be at least 1, not {k}")
        fetch = k * OVERSAMPLE
        knn: dict[str, Any] = {"vector": self._vector(vector), "k": fetch}
        if category:
            knn["filter"] = {"term": {"category": category}}
        body = {"size": fetch, "_source": ["product_code"], "query": {"knn": {"vector": knn}}}
        with self._mapped("search"):
            try:
                answer = self._client.search(index=self.index, body=body)
            except NotFoundError as error:
                if _is_missing_index(error):
                    return []
                raise
        hits = (
            SearchHit(
                product_code=hit["_source"]["product_code"],
                score=cosine_from_score(float(hit["_score"])),
                image_id=hit["_id"],
            )
            for hit in answer["hits"]["hits"]
        )
        return collapse_to_products(hits, k)

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
