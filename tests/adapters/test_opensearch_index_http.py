"""OpenSearchIndex at the HTTP boundary: a real opensearch-py client talks to a small fake OpenSearch.

The fake records every request and answers the way the k-NN plugin does (innerproduct scores transformed,
efficient filtering inside the knn clause, 404 ``index_not_found_exception``), so the tests check the
request bodies the plugin documents and that scores come back as cosines.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import pytest
from opensearchpy import OpenSearch

from vitrine.adapters.aws.opensearch_index import OpenSearchIndex, connect, cosine_from_score
from vitrine.errors import BadInput, Unavailable
from vitrine.kernel.ports import VectorIndex
from vitrine.kernel.types import IndexItem, SearchHit

INDEX = "vitrine-products"
DIM = 3

DOCUMENTED_BODY = {
    "settings": {"index": {"knn": True}},
    "mappings": {
        "properties": {
            "vector": {
                "type": "knn_vector",
                "dimension": DIM,
                "method": {
                    "name": "hnsw",
                    "engine": "faiss",
                    "space_type": "innerproduct",
                    "parameters": {"m": 32, "ef_construction": 200, "ef_search": 256},
                },
            },
            "product_code": {"type": "keyword"},
            "category": {"type": "keyword"},
        }
    },
}


def plugin_score(ip: float) -> float:
    """The k-NN plugin's innerproduct score (docs: Spaces): d = -ip; 1/(1+d) if d >= 0 else 1 - d."""
    d = -ip
    return 1 / (1 + d) if d >= 0 else 1 - d


SHARDS = {"total": 1, "successful": 1, "skipped": 0, "failed": 0}


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    query: str = ""

    def json(self) -> Any:
        return json.loads(self.body)

    def ndjson(self) -> list[Any]:
        return [json.loads(line) for line in self.body.decode().splitlines() if line.strip()]


@dataclass
class FakeOpenSearch:
    """Just enough of OpenSearch and its k-NN plugin for the adapter's calls."""

    requests: list[Request] = field(default_factory=list)
    mappings: dict[str, Any] = field(default_factory=dict)
    docs: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    fail_with: int | None = None

    def answer(self, request: Request) -> tuple[int, Any]:
        self.requests.append(request)
        if self.fail_with:
            return self.fail_with, {
                "error": {"type": "internal_error", "reason": "boom"},
                "status": self.fail_with,
            }
        parts = [p for p in request.path.split("/") if p]
        if parts == ["_bulk"]:
            return 200, self._bulk(request.ndjson())
        if parts[:2] == ["_search", "scroll"]:  # every hit came on the first page: the scroll is over
            if request.method == "DELETE":
                return 200, {"succeeded": True, "num_freed": 1}
            return 200, {"_scroll_id": "s1", "_shards": SHARDS, "hits": {"hits": []}}
        index = parts[0]
        if index not in self.docs and (request.method, parts[1:]) != ("PUT", []):
            missing = {
                "type": "index_not_found_exception",
                "reason": f"no such index [{index}]",
                "index": index,
            }
            return 404, {"error": missing, "status": 404}
        if request.method == "HEAD":
            return 200, None
        if request.method == "PUT":
            self.mappings[index] = request.json()
            self.docs[index] = {}
            return 200, {"acknowledged": True, "shards_acknowledged": True, "index": index}
        if parts[1:] == ["_count"]:
            return 200, {"count": len(self.docs[index])}
        if parts[1:] == ["_search"] and "scroll=" in request.query:
            hits = [{"_index": index, "_id": doc_id} for doc_id in self.docs[index]]
            return 200, {
                "_scroll_id": "s1",
                "_shards": SHARDS,
                "hits": {"total": {"value": len(hits)}, "hits": hits},
            }
        if parts[1:] == ["_search"]:
            return 200, self._search(index, request.json())
        return 400, {"error": {"type": "unexpected_request", "reason": request.path}}

    def _bulk(self, lines: list[Any]) -> dict[str, Any]:
        items, errors = [], False
        while lines:
            ((op, meta),) = lines.pop(0).items()
            index, doc_id = meta["_index"], meta["_id"]
            if op == "index":
                self.docs.setdefault(index, {})[doc_id] = lines.pop(0)  # a missing index is auto-created
                items.append({op: {"_index": index, "_id": doc_id, "status": 201, "result": "created"}})
            elif op == "update":
                doc = self.docs.get(index, {}).get(doc_id)
                if doc is not None:
                    doc.update(lines.pop(0)["doc"])
                else:
                    lines.pop(0)
                status, result = (200, "updated") if doc is not None else (404, "document_missing")
                items.append({op: {"_index": index, "_id": doc_id, "status": status, "result": result}})
                errors = errors or doc is None
            else:
                found = self.docs.get(index, {}).pop(doc_id, None) is not None
                status, result = (200, "deleted") if found else (404, "not_found")
                items.append({op: {"_index": index, "_id": doc_id, "status": status, "result": result}})
                errors = errors or not found
        return {"took": 1, "errors": errors, "items": items}

    def _search(self, index: str, body: dict[str, Any]) -> dict[str, Any]:
        knn = body["query"]["knn"]["vector"]
        wanted = knn.get("filter", {}).get("term", {}).get("category")
        scored = [
            (plugin_score(sum(a * b for a, b in zip(knn["vector"], doc["vector"], strict=True))), doc_id, doc)
            for doc_id, doc in self.docs[index].items()
            if wanted is None or doc["category"] == wanted
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
def fake() -> Iterator[tuple[FakeOpenSearch, int]]:
    state = FakeOpenSearch()

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            url = urlsplit(self.path)
            request = Request(self.command, url.path, dict(self.headers.items()), body, url.query)
            status, payload = state.answer(request)
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
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    yield state, server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture
def client(fake: tuple[FakeOpenSearch, int]) -> OpenSearch:
    return OpenSearch(hosts=[{"host": "127.0.0.1", "port": fake[1]}], timeout=2, max_retries=0)


def _items() -> list[IndexItem]:
    return [
        IndexItem("img-1", [1.0, 0.0, 0.0], "SHIRT-1", "tops"),
        IndexItem("img-2", [0.8, 0.6, 0.0], "SHIRT-1", "tops"),
        IndexItem("img-3", [0.0, 1.0, 0.0], "PANTS-9", "bottoms"),
        IndexItem("img-4", [-0.6, 0.0, 0.8], "HAT-4", "tops"),
    ]


def test_opensearch_index_http_creates_the_documented_knn_mapping_once(fake, client) -> None:
    state, _ = fake
    index = OpenSearchIndex(client, INDEX, DIM)

    index.ensure_index()
    index.ensure_index()
    OpenSearchIndex(client, INDEX, DIM).ensure_index()

    assert [(r.method, r.path) for r in state.requests] == [
        ("HEAD", f"/{INDEX}"),
        ("PUT", f"/{INDEX}"),
        ("HEAD", f"/{INDEX}"),
    ]
    assert state.requests[1].json() == DOCUMENTED_BODY
    assert isinstance(index, VectorIndex)


def test_opensearch_index_http_first_upsert_creates_the_index_then_bulk_indexes(fake, client) -> None:
    state, _ = fake

    OpenSearchIndex(client, INDEX, DIM).upsert(_items()[:2])

    assert [(r.method, r.path) for r in state.requests] == [
        ("HEAD", f"/{INDEX}"),
        ("PUT", f"/{INDEX}"),
        ("POST", "/_bulk"),
    ]
    assert state.requests[2].ndjson() == [
        {"index": {"_index": INDEX, "_id": "img-1"}},
        {"vector": [1.0, 0.0, 0.0], "product_code": "SHIRT-1", "category": "tops"},
        {"index": {"_index": INDEX, "_id": "img-2"}},
        {"vector": [0.8, 0.6, 0.0], "product_code": "SHIRT-1", "category": "tops"},
    ]
    assert state.mappings[INDEX] == DOCUMENTED_BODY


def test_opensearch_index_http_delete_sends_bulk_deletes_and_ignores_unknown_ids(fake, client) -> None:
    state, _ = fake
    index = OpenSearchIndex(client, INDEX, DIM)
    index.upsert(_items())

    index.delete(["img-1", "never-indexed"])

    assert state.requests[-1].ndjson() == [
        {"delete": {"_index": INDEX, "_id": "img-1"}},
        {"delete": {"_index": INDEX, "_id": "never-indexed"}},
    ]
    assert index.count() == 3


def test_opensearch_index_http_search_filters_inside_knn_and_returns_cosines(fake, client) -> None:
    state, _ = fake
    index = OpenSearchIndex(client, INDEX, DIM)
    index.upsert(_items())

    hits = index.search([1.0, 0.0, 0.0], k=2, category="tops")

    assert state.requests[-1].json() == {
        "size": 8,
        "_source": ["product_code"],
        "query": {
            "knn": {"vector": {"vector": [1.0, 0.0, 0.0], "k": 8, "filter": {"term": {"category": "tops"}}}}
        },
    }
    assert hits == [
        SearchHit("SHIRT-1", pytest.approx(1.0), "img-1"),
        SearchHit("HAT-4", pytest.approx(-0.6), "img-4"),
    ]


def test_opensearch_index_http_search_without_category_has_no_filter(fake, client) -> None:
    state, _ = fake
    index = OpenSearchIndex(client, INDEX, DIM)
    index.upsert(_items())

    hits = index.search([0.0, 1.0, 0.0], k=5)

    assert "filter" not in state.requests[-1].json()["query"]["knn"]["vector"]
    assert [(h.product_code, round(h.score, 6)) for h in hits] == [
        ("PANTS-9", 1.0),
        ("SHIRT-1", 0.6),
        ("HAT-4", 0.0),
    ]


@pytest.mark.parametrize("cosine", [-1.0, -0.6, -0.01, 0.0, 0.35, 0.985, 1.0])
def test_opensearch_score_converts_back_to_the_cosine(cosine: float) -> None:
    assert cosine_from_score(plugin_score(cosine)) == pytest.approx(cosine)


def test_opensearch_index_http_missing_index_searches_to_nothing(fake, client) -> None:
    index = OpenSearchIndex(client, INDEX, DIM)

    assert index.search([1.0, 0.0, 0.0]) == []
    assert index.count() == 0


def test_opensearch_index_http_wrong_dimension_is_bad_input_and_sends_nothing(fake, client) -> None:
    state, _ = fake
    index = OpenSearchIndex(client, INDEX, DIM)

    with pytest.raises(BadInput, match="2 dimensions"):
        index.upsert([IndexItem("img-1", [1.0, 0.0], "P")])
    with pytest.raises(BadInput, match="4 dimensions"):
        index.search([1.0, 0.0, 0.0, 0.0])
    assert state.requests == []


def test_opensearch_index_http_server_errors_are_unavailable(fake, client) -> None:
    state, _ = fake
    state.fail_with = 503

    with pytest.raises(Unavailable, match="search failed"):
        OpenSearchIndex(client, INDEX, DIM).search([1.0, 0.0, 0.0])


def test_opensearch_index_http_unreachable_is_unavailable() -> None:
    closed = OpenSearch(hosts=[{"host": "127.0.0.1", "port": 9}], timeout=1, max_retries=0)

    with pytest.raises(Unavailable, match="count failed"):
        OpenSearchIndex(closed, INDEX, DIM).count()


def test_opensearch_connect_signs_requests_with_sigv4_for_es(fake, monkeypatch: pytest.MonkeyPatch) -> None:
    state, port = fake
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDTESTING")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)

    client = connect(f"http://127.0.0.1:{port}", "eu-west-1", timeout_s=2)
    OpenSearchIndex(client, INDEX, DIM).ensure_index()

    authorization = state.requests[0].headers["Authorization"]
    assert authorization.startswith("AWS4-HMAC-SHA256 Credential=AKIDTESTING/")
    assert "/eu-west-1/es/aws4_request" in authorization


def test_opensearch_index_http_set_category_sends_partial_updates_without_vectors(fake, client) -> None:
    state, _ = fake
    index = OpenSearchIndex(client, INDEX, DIM)
    index.upsert(_items())

    index.set_category(["img-3", "never-indexed"], "trousers")

    assert state.requests[-1].ndjson() == [
        {"update": {"_index": INDEX, "_id": "img-3"}},
        {"doc": {"category": "trousers"}},
        {"update": {"_index": INDEX, "_id": "never-indexed"}},
        {"doc": {"category": "trousers"}},
    ]
    assert [h.image_id for h in index.search([0.0, 1.0, 0.0], k=1, category="trousers")] == ["img-3"]


def test_opensearch_index_http_ids_scrolls_every_document_without_sources(fake, client) -> None:
    state, _ = fake
    index = OpenSearchIndex(client, INDEX, DIM)
    assert index.ids() == set()  # no index yet
    index.upsert(_items())

    assert index.ids() == {"img-1", "img-2", "img-3", "img-4"}
    first = next(r for r in state.requests if "scroll=" in r.query)
    assert "_source=false" in first.query


def test_opensearch_graph_parameters_are_the_local_faiss_index_s() -> None:
    """Both profiles build the same graph, so recall and speed measured locally (bench/index_scale.py) hold."""
    from vitrine.adapters.aws import opensearch_index
    from vitrine.adapters.local import faiss_index

    assert (
        opensearch_index.HNSW_M,
        opensearch_index.HNSW_EF_CONSTRUCTION,
        opensearch_index.HNSW_EF_SEARCH,
    ) == (
        faiss_index.HNSW_M,
        faiss_index.HNSW_EF_CONSTRUCTION,
        faiss_index.HNSW_EF_SEARCH,
    )
    index = faiss_index.FaissIndex(None)
    index.upsert([IndexItem("a", [1.0, 0.0, 0.0], "P")])
    graph = index._index.hnsw
    assert (graph.efConstruction, graph.efSearch) == (
        faiss_index.HNSW_EF_CONSTRUCTION,
        faiss_index.HNSW_EF_SEARCH,
    )
