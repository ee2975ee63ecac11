"""Discovery tests reuse the model-handler fixtures (tiny models, packaged artifacts) and the API's Lambda
caller; the demo catalog and local services come from the root conftest."""

from __future__ import annotations

from tests.api.conftest import call  # noqa: F401  (fixture)
from tests.model_code.conftest import artifact_handler, packaged_model, tiny_model  # noqa: F401  (fixtures)
