"""Search by words in the cloud (``vitrine:textSearch``): the clip_embed endpoint, who may call it, and the
settings that give the OpenSearch index its text field.

Discovery runs no function of its own. The API's shopper function answers ``GET /api/search/text`` and re-ranks
``POST /api/search`` with the dual encoder in real time, and catalog ingestion (and its backfill, the same
per-object code) writes each image's dual-encoder vector beside its DINO vector, in the same OpenSearch document.
So turning it on adds, and :func:`enable_text_search` wires:

* the ``clip_embed`` endpoint, real-time (both callers wait for it), created through
  :meth:`~infra.stacks.models.ModelsStack.grant_invoke` and invocable by exactly those three roles;
* the settings those three functions read, derived from ``vitrine.config`` as every other setting is:
  ``discovery.text_search`` on and ``discovery.text_dim``, the dimension of the index's second ``knn_vector``
  field (:func:`text_index_mapping`), which the writer creates with the index, or adds to an index made before
  (its OpenSearch role's ``create_index`` action group covers the mapping update; nothing else changes there);
* nothing for the operators' function, the hotel or description jobs: they never embed words.

Each further model is an always-on GPU endpoint, so text search is asked for by name (``cdk.json`` or
``-c vitrine:textSearch=true``); ``vitrine:textEmbeddingDim`` must be the served model's width (CLIP
ViT-L/14-336: 768).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from infra.config import TEXT_SEARCH_MODELS, InfraConfig
from infra.constructs.vitrine_function import VitrineFunction
from infra.stacks.api import ApiStack
from infra.stacks.backfill import BackfillStack
from infra.stacks.ingestion import IngestionStack
from infra.stacks.models import ModelsStack
from vitrine.config import environment


def text_search_environment(config: InfraConfig) -> dict[str, str]:
    """The settings that turn text search on in a function (names from ``vitrine.config``)."""
    return environment(discovery={"text_search": "true", "text_dim": config.text_embedding_dim})


def text_index_mapping(config: InfraConfig) -> dict[str, Any]:
    """The body the index is created with in this deployment: both ``knn_vector`` fields."""
    from vitrine.adapters.aws.opensearch_index import index_body

    return index_body(config.embedding_dim, config.text_embedding_dim)


@dataclass(frozen=True)
class TextSearch:
    """What :func:`enable_text_search` wired: the functions that now call the dual encoder."""

    functions: tuple[VitrineFunction, ...]


def enable_text_search(
    config: InfraConfig,
    models: ModelsStack,
    api: ApiStack,
    ingestion: IngestionStack | None,
    backfill: BackfillStack | None,
) -> TextSearch:
    """Let the API's shopper function, ingestion and its backfill call ``clip_embed`` (and nothing more), and
    give each the text-search settings."""
    functions = [api.handler]
    if ingestion is not None:
        functions.append(ingestion.ingest)
    if backfill is not None:
        functions.append(backfill.worker)
    settings = text_search_environment(config)
    for function in functions:
        models.grant_invoke(function.role, TEXT_SEARCH_MODELS)
        for name, value in settings.items():
            function.function.add_environment(name, value)
    return TextSearch(tuple(functions))
