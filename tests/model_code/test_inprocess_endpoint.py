"""The in-process endpoint adapter: same bytes as SageMaker, lazy loading, locking, error mapping."""

from __future__ import annotations

import json
import textwrap
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.model_code.conftest import MODEL_CODE
from vitrine.adapters.local.inprocess_endpoint import InProcessEndpoint
from vitrine.errors import BadInput, TooLarge, Unavailable
from vitrine.kernel.ports import ModelEndpoint

FAKE_HANDLER = """
import threading, time
from common.payload import InputError

loads = 0
active = 0
most_active = 0
lock = threading.Lock()

def model_fn(model_dir):
    global loads
    time.sleep(0.05)
    loads += 1
    return model_dir

def input_fn(body, content_type):
    if body == b"bad":
        raise InputError("bad body")
    if body == b"huge":
        raise InputError("too big", 413)
    return body

def predict_fn(data, model):
    global active, most_active
    with lock:
        active += 1
        most_active = max(most_active, active)
    time.sleep(0.01)
    with lock:
        active -= 1
    if data == b"crash":
        raise RuntimeError("segfault-ish")
    return data

def output_fn(prediction, accept):
    return prediction.upper() if accept == "raw" else (prediction, "application/json")
"""


@pytest.fixture()
def fake_code(tmp_path: Path) -> Path:
    """A model_code folder with the real ``common`` and a scripted ``fake`` handler."""
    (tmp_path / "common").symlink_to(MODEL_CODE / "common")
    (tmp_path / "fake").mkdir()
    (tmp_path / "fake" / "inference.py").write_text(textwrap.dedent(FAKE_HANDLER))
    return tmp_path


def test_inprocess_endpoint_is_a_model_endpoint(fake_code: Path) -> None:
    assert isinstance(InProcessEndpoint("fake", fake_code, "weights"), ModelEndpoint)


def test_inprocess_endpoint_real_dino_embed_answers_like_sagemaker(
    tiny_model: Callable[[str], Path], jpeg_bytes: bytes
) -> None:
    endpoint = InProcessEndpoint("dino_embed", MODEL_CODE, str(tiny_model("dino_embed")))
    answer = json.loads(endpoint.invoke(jpeg_bytes, "image/jpeg"))
    assert answer["dim"] == 32 and len(answer["embeddings"]) == 1


def test_inprocess_endpoint_real_llava_serves_a_hub_shaped_folder(
    tiny_model: Callable[[str], Path], jpeg_bytes: bytes
) -> None:
    """In-process the handler imports its chat template from ``model_code/llava`` and puts it on a folder that
    brings the hub's own template, so local answers are prompted as the DJL endpoint's are."""
    import base64

    endpoint = InProcessEndpoint("llava", MODEL_CODE, str(tiny_model("llava")))
    uri = "data:image/jpeg;base64," + base64.b64encode(jpeg_bytes).decode()
    request = {
        "messages": [
            {
                "role": "user",
                "content": [{"type": "image_url", "image_url": {"url": uri}}, {"type": "text", "text": "a"}],
            }
        ],
        "max_tokens": 2,
        "temperature": 0,
    }
    answer = json.loads(endpoint.invoke(json.dumps(request).encode(), "application/json"))
    assert answer["object"] == "chat.completion" and "model" not in answer
    tokenizer = endpoint._model.processor.tokenizer
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "<image>\na"}], tokenize=False, add_generation_prompt=True
    )
    assert prompt == "[INST] <image>\na [/INST]"


def test_inprocess_endpoint_real_grounding_dino_maps_refusals(
    tiny_model: Callable[[str], Path], bad_images: dict[str, bytes]
) -> None:
    endpoint = InProcessEndpoint("grounding_dino", MODEL_CODE, str(tiny_model("grounding_dino")))
    endpoint.load()
    with pytest.raises(TooLarge, match="pixels"):
        endpoint.invoke(bad_images["png_bomb_100k"], "image/png")
    with pytest.raises(BadInput, match="unsupported image type") as caught:
        endpoint.invoke(bad_images["text"], "image/jpeg")
    assert not isinstance(caught.value, TooLarge)


def test_inprocess_endpoint_loads_lazily(tmp_path: Path) -> None:
    endpoint = InProcessEndpoint("dino_embed", MODEL_CODE, str(tmp_path / "missing"))
    with pytest.raises(Unavailable, match="failed to load"):
        endpoint.invoke(b"x", "image/jpeg")


def test_inprocess_endpoint_unknown_model_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(Unavailable, match="no handler"):
        InProcessEndpoint("nope", MODEL_CODE, str(tmp_path)).load()


def test_inprocess_endpoint_error_mapping(fake_code: Path) -> None:
    endpoint = InProcessEndpoint("fake", fake_code, "weights")
    assert endpoint.invoke(b"ok", "image/jpeg") == b"ok"
    assert endpoint.invoke(b"ok", "image/jpeg", accept="raw") == b"OK"  # a bare body is fine too
    with pytest.raises(BadInput, match="bad body"):
        endpoint.invoke(b"bad", "image/jpeg")
    with pytest.raises(TooLarge, match="too big"):
        endpoint.invoke(b"huge", "image/jpeg")
    with pytest.raises(Unavailable, match="RuntimeError: segfault-ish"):
        endpoint.invoke(b"crash", "image/jpeg")


def test_inprocess_endpoint_loads_once_and_serialises_predictions(fake_code: Path) -> None:
    endpoint = InProcessEndpoint("fake", fake_code, "weights")
    threads = [threading.Thread(target=endpoint.invoke, args=(b"ok", "image/jpeg")) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert endpoint._handler.loads == 1
    assert endpoint._handler.most_active == 1


def test_inprocess_endpoints_do_not_share_handler_state(fake_code: Path) -> None:
    first, second = InProcessEndpoint("fake", fake_code, "a"), InProcessEndpoint("fake", fake_code, "b")
    first.load()
    second.load()
    assert first._handler is not second._handler
    assert first._handler.loads == second._handler.loads == 1
