"""The two-field index at the OpenSearch HTTP boundary: a real opensearch-py client against the fake OpenSearch
of tests/adapters/test_opensearch_index_http.py, extended with what discovery sends: a second ``knn_vector``
field in the mapping (and added to an index created before it), k-NN queries on either field with a ``filter``
inside the ``knn`` clause as the k-NN plugin documents it (efficient filtering: ``term``, ``range`` and ``bool``),
partial updates of one field, multi-gets of one field, and the count that refuses a second model."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from opensearchpy import OpenSearch

from tests.adapters.test_opensearch_index_http import DOCUMENTED_BODY, FakeOpenSearch, Request, plugin_score
from vitrine.adapters.aws.opensearch_index import OpenSearchIndex, index_body, knn_filter
from vitrine.errors import ConfigError
from vitrine.kernel.ports import VectorIndex
from vitrine.kernel.types import IMAGE_FIELD, TEXT_FIELD, Filters, IndexItem, ModelMismatch

INDEX = "vitrine-products"
DIM, TEXT_DIM = 3, 2
MODEL = "clip-a"
TEXT_FIELDS = {
    "text_vector": {
        "type": "knn_vector",
        "dimension": TEXT_DIM,
        "method": {
            "name": "hnsw",
            "engine": "faiss",
            "space_type": "innerproduct",
            "parameters": {"m": 32, "ef_construction": 200, "ef_search": 256},
        },
    },
    "text_model": {"type": "keyword"},
    "price": {"type": "float"},
}


def matches(doc: dict[str, Any], clause: dict[str, Any]) -> bool:
    """Query DSL as the plugin's filter applies it: ``term``, ``range``, ``exists`` and ``bool``."""
    ((kind, spec),) = clause.items()
    if kind == "term":
        ((name, value),) = spec.items()
        return doc.get(name) == value
    if kind == "range":
        ((name, bounds),) = spec.items()
        value = doc.get(name)
        return value is not None and value >= bounds.get("gte", value) and value <= bounds.get("lte", value)
    if kind == "exists":
        return doc.get(spec["field"]) is not None
    if kind == "bool":
        return all(matches(doc, c) for c in spec.get("filter", [])) and not any(
            matches(doc, c) for c in spec.get("must_not", [])
        )
    raise AssertionError(f"the fake does not know the {kind!r} query")


class TwoFieldOpenSearch(FakeOpenSearch):
    """The fake, plus mappings, _count with a query, _mget and k-NN on any field with any filter."""

    def answer(self, request: Request) -> tuple[int, Any]:
        parts = [p for p in request.path.split("/") if p]
        if not self.fail_with and len(parts) == 1 and request.method == "GET" and parts[0] in self.docs:
            self.requests.append(request)  # GET /{index}: its settings and mappings
            return 200, {parts[0]: {**self.mappings[parts[0]], "aliases": {}}}
        if self.fail_with or len(parts) != 2 or parts[0] not in self.docs:
            return super().answer(request)
        index, action = parts
        if action == "_mapping":
            self.requests.append(request)
            properties = self.mappings[index]["mappings"]["properties"]
            if request.method == "PUT":
                properties.update(request.json()["properties"])
                return 200, {"acknowledged": True}
            return 200, {index: {"mappings": {"properties": properties}}}
        if action == "_count" and request.body:
            self.requests.append(request)
            query = request.json()["query"]
            return 200, {"count": sum(matches(doc, query) for doc in self.docs[index].values())}
        if action == "_mget":
            self.requests.append(request)
            wanted = parse_qs(request.query).get("_source_includes", [""])[0].split(",")
            docs = []
            for doc_id in request.json()["ids"]:
                doc = self.docs[index].get(doc_id)
                source = {k: v for k, v in (doc or {}).items() if k in wanted}
                docs.append({"_index": index, "_id": doc_id, "found": doc is not None, "_source": source})
            return 200, {"docs": docs}
        return super().answer(request)

    def _search(self, index: str, body: dict[str, Any]) -> dict[str, Any]:
        ((field, knn),) = body["query"]["knn"].items()
        where = knn.get("filter")
        scored = [
            (plugin_score(sum(a * b for a, b in zip(knn["vector"], doc[field], strict=True))), doc_id, doc)
            for doc_id, doc in self.docs[index].items()
            if doc.get(field) is not None and (where is None or matches(doc, where))
        ]
        scored.sort(key=lambda s: s[0], reverse=True)
        hits = [
            {
                "_index": index,
                "_id": doc_id,
                "_score": score,
                "_source": {"product_code": doc["product_code"]},
            }
            for score, doc_id, doc in scored[: min(knn["k"], body["size"])]
        ]
        return {"took": 1, "timed_out": False, "hits": {"total": {"value": len(hits)}, "hits": hits}}


@pytest.fixture
def fake() -> Iterator[TwoFieldOpenSearch]:
    state = TwoFieldOpenSearch()

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            url = urlsplit(self.path)
            status, payload = state.answer(
                Request(self.command, url.path, dict(self.headers.items()), body, url.query)
            )
            data = b"" if payload is None else json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _serve

        def log_message(self, *args: object) -> None:
            """Quiet: the requests are asserted, not logged."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def index(fake: TwoFieldOpenSearch) -> OpenSearchIndex:
    client = OpenSearch(hosts=[{"host": "127.0.0.1", "port": fake.port}], timeout=2, max_retries=0)
    return OpenSearchIndex(client, INDEX, DIM, text_dim=TEXT_DIM)


def _items() -> list[IndexItem]:
    return [
        IndexItem("img-1", [1.0, 0.0, 0.0], "SHIRT-1", "tops", 20.0, [1.0, 0.0], MODEL),
        IndexItem("img-2", [0.8, 0.6, 0.0], "SHIRT-1", "tops", 20.0, [0.6, 0.8], MODEL),
        IndexItem("img-3", [0.0, 1.0, 0.0], "PANTS-9", "bottoms", 45.5, [0.0, 1.0], MODEL),
        IndexItem("img-4", [-0.6, 0.0, 0.8], "HAT-4", "tops", None, [0.8, -0.6], MODEL),
    ]


def test_the_index_is_created_with_both_knn_fields_as_the_plugin_documents(fake, index) -> None:
    index.ensure_index()
    body = fake.requests[1].json()
    assert (fake.requests[1].method, fake.requests[1].path) == ("PUT", f"/{INDEX}")
    properties = body["mappings"]["properties"]
    assert properties == {**DOCUMENTED_BODY["mappings"]["properties"], **TEXT_FIELDS}
    assert body["settings"] == {"index": {"knn": True}}
    assert index_body(DIM) == DOCUMENTED_BODY  # without discovery: the one-field mapping, unchanged
    assert isinstance(index, VectorIndex)


def test_an_index_created_before_discovery_gets_the_text_fields_added(fake, index) -> None:
    old = OpenSearchIndex(index._client, INDEX, DIM)
    old.upsert([IndexItem("img-1", [1.0, 0.0, 0.0], "SHIRT-1", "tops")])
    fake.requests.clear()

    index.ensure_index()

    assert [(r.method, r.path) for r in fake.requests] == [
        ("HEAD", f"/{INDEX}"),
        ("GET", f"/{INDEX}"),
        ("PUT", f"/{INDEX}/_mapping"),
    ]
    assert fake.requests[2].json() == {"properties": TEXT_FIELDS}


def test_upsert_writes_both_fields_model_and_price_in_one_document(fake, index) -> None:
    index.upsert(_items()[:2])

    count = next(r for r in fake.requests if r.path == f"/{INDEX}/_count")
    assert count.json() == {
        "query": {
            "bool": {
                "filter": [{"exists": {"field": "text_model"}}],
                "must_not": [{"term": {"text_model": MODEL}}],
            }
        }
    }
    bulk = fake.requests[-1].ndjson()
    assert bulk[0] == {"index": {"_index": INDEX, "_id": "img-1"}}
    assert bulk[1] == {
        "vector": [1.0, 0.0, 0.0],
        "product_code": "SHIRT-1",
        "category": "tops",
        "price": 20.0,
        "text_vector": [1.0, 0.0],
        "text_model": MODEL,
    }


def test_text_search_sends_knn_on_the_text_field_with_the_filters_inside(fake, index) -> None:
    index.upsert(_items())

    hits = index.search(
        [1.0, 0.0], k=2, field=TEXT_FIELD, model=MODEL, filters=Filters(category="tops", max_price=30)
    )

    assert fake.requests[-1].json() == {
        "size": 8,
        "_source": ["product_code"],
        "query": {
            "knn": {
                "text_vector": {
                    "vector": [1.0, 0.0],
                    "k": 8,
                    "filter": {
                        "bool": {
                            "filter": [
                                {"term": {"category": "tops"}},
                                {"range": {"price": {"lte": 30}}},
                                {"term": {"text_model": MODEL}},
                            ]
                        }
                    },
                }
            }
        },
    }
    assert [(h.product_code, h.image_id) for h in hits] == [("SHIRT-1", "img-1")]  # HAT-4 has no price


def test_image_search_excludes_a_product_inside_the_query(fake, index) -> None:
    index.upsert(_items())

    hits = index.search([1.0, 0.0, 0.0], k=5, filters=Filters(exclude_product="SHIRT-1"))

    knn = fake.requests[-1].json()["query"]["knn"]["vector"]
    assert knn["filter"] == {"bool": {"must_not": [{"term": {"product_code": "SHIRT-1"}}]}}
    assert {h.product_code for h in hits} == {"PANTS-9", "HAT-4"}


def test_a_query_asks_again_with_a_larger_k_when_products_collapse_below_k(fake, index) -> None:
    many = [IndexItem(f"a-{i}", [1.0, 0.0, 0.0], "SAME", "tops", 10.0) for i in range(8)]
    index.upsert([*many, IndexItem("b", [0.9, 0.1, 0.0], "OTHER", "tops", 10.0)])

    hits = index.search([1.0, 0.0, 0.0], k=2)

    ks = [r.json()["query"]["knn"]["vector"]["k"] for r in fake.requests if r.path == f"/{INDEX}/_search"]
    assert ks == [8, 32]
    assert [h.product_code for h in hits] == ["SAME", "OTHER"]


def test_a_second_model_is_refused_before_anything_is_written(fake, index) -> None:
    index.upsert(_items())
    fresh = OpenSearchIndex(index._client, INDEX, DIM, text_dim=TEXT_DIM)  # another process
    bulks = sum(r.path == "/_bulk" for r in fake.requests)

    with pytest.raises(ModelMismatch, match="4 text vectors of another model"):
        fresh.upsert(
            [IndexItem("img-9", [0.0, 0.0, 1.0], "NEW", text_vector=[1.0, 0.0], text_model="clip-b")]
        )

    assert sum(r.path == "/_bulk" for r in fake.requests) == bulks
    fresh.set_vectors(TEXT_FIELD, {"img-1": [0.0, 1.0]}, "clip-b", replace_model=True)
    assert fake.docs[INDEX]["img-1"]["text_model"] == "clip-b"
    # the migration is half done: a clip-b query sees only clip-b vectors, never clip-a's
    hits = fresh.search([0.0, 1.0], k=5, field=TEXT_FIELD, model="clip-b")
    assert [h.image_id for h in hits] == ["img-1"]


def test_re_embedding_one_field_sends_that_field_only(fake, index) -> None:
    index.upsert(_items())

    index.set_vectors(IMAGE_FIELD, {"img-3": [0.0, 0.0, 1.0], "never-indexed": [1.0, 0.0, 0.0]})
    assert fake.requests[-1].ndjson() == [
        {"update": {"_index": INDEX, "_id": "img-3"}},
        {"doc": {"vector": [0.0, 0.0, 1.0]}},
        {"update": {"_index": INDEX, "_id": "never-indexed"}},
        {"doc": {"vector": [1.0, 0.0, 0.0]}},
    ]
    index.set_vectors(TEXT_FIELD, {"img-3": [1.0, 0.0]}, MODEL)
    assert fake.requests[-1].ndjson() == [
        {"update": {"_index": INDEX, "_id": "img-3"}},
        {"doc": {"text_vector": [1.0, 0.0], "text_model": MODEL}},
    ]
    assert fake.docs[INDEX]["img-3"]["vector"] == [0.0, 0.0, 1.0]
    index.set_price(["img-3"], 12.5)
    assert fake.requests[-1].ndjson()[1] == {"doc": {"price": 12.5}}


def test_vectors_are_read_back_by_a_multi_get_of_one_field(fake, index) -> None:
    index.upsert(_items())

    found = index.vectors(["img-1", "img-3", "missing"], TEXT_FIELD, model=MODEL)

    request = fake.requests[-1]
    assert (request.method, request.path) in {("POST", f"/{INDEX}/_mget"), ("GET", f"/{INDEX}/_mget")}
    assert request.json() == {"ids": ["img-1", "img-3", "missing"]}
    assert parse_qs(request.query)["_source_includes"] == ["text_vector,text_model"]
    assert found == {"img-1": [1.0, 0.0], "img-3": [0.0, 1.0]}
    assert index.vectors(["img-1"], TEXT_FIELD, model="clip-b") == {}
    assert index.vectors(["img-2"]) == {"img-2": [0.8, 0.6, 0.0]}


def test_without_a_text_field_the_text_operations_are_refused(fake, index) -> None:
    plain = OpenSearchIndex(index._client, INDEX, DIM)
    with pytest.raises(ConfigError, match="without a text field"):
        plain.search([1.0, 0.0], field=TEXT_FIELD, model=MODEL)
    with pytest.raises(ConfigError):
        plain.upsert(_items()[:1])
    assert fake.requests == []


@pytest.mark.parametrize(
    ("filters", "model", "expected"),
    [
        (Filters(), "", None),
        (Filters(category="hat"), "", {"term": {"category": "hat"}}),
        (Filters(min_price=5), "", {"range": {"price": {"gte": 5}}}),
        (Filters(), "m", {"term": {"text_model": "m"}}),
        (
            Filters(min_price=5, max_price=9, exclude_product="P"),
            "",
            {
                "bool": {
                    "filter": [{"range": {"price": {"gte": 5, "lte": 9}}}],
                    "must_not": [{"term": {"product_code": "P"}}],
                }
            },
        ),
    ],
)
def test_filters_become_the_knn_filter_clause(filters: Filters, model: str, expected: Any) -> None:
    assert knn_filter(filters, model) == expected
