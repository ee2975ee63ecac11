"""A Lambda context object for calling handlers outside Lambda (local server, ``vitrine ingest``)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field


@dataclass
class LocalContext:
    """The attributes Powertools reads from a Lambda context."""

    function_name: str = "vitrine-local"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 2048
    invoked_function_arn: str = "arn:aws:lambda:local:000000000000:function:vitrine-local"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = "local"
    log_stream_name: str = "local"

    def get_remaining_time_in_millis(self) -> int:
        return 900_000
