"""The real local server (waitress + the API Gateway adapter + the Lambda handler) for the hostile-input
suite; after every test it must still be healthy."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.hostile.client import Address, request


@pytest.fixture(scope="session")
def hostile_server(stack) -> Iterator[Any]:
    from vitrine_dev.server import LocalServer

    server = LocalServer(stack, "127.0.0.1", 0, channel_timeout_s=10).start()
    yield server
    server.close()


@pytest.fixture
def address(hostile_server) -> Iterator[Address]:
    """The server's address; after each test the server must still answer /api/health with 200."""
    yield hostile_server.address
    status, _, body = request(hostile_server.address, "GET", "/api/health")
    assert status == 200 and json.loads(body)["status"] == "ok", "the server is not healthy after the test"
