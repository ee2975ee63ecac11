"""Where the handlers compute: ``common.runtime``'s device and dtype policy, and the handlers following it.

There is no GPU here, so the CUDA branches are checked with ``torch.cuda`` monkeypatched (nothing is moved
to CUDA), and input movement is checked through dtype, which moves with the device in the same call: each
handler's model is put in bfloat16, and no module of it may receive a float32 tensor. Leaving out a
handler's move makes its request fail here, even where the model would cast its pixels itself.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import torch

from tests.model_code.conftest import JSON, MODEL_CODE, Handler, b64

HANDLERS = ("dino_embed", "grounding_dino", "blip2_attributes", "llava", "ranker")


@pytest.fixture(scope="module")
def runtime() -> ModuleType:
    """``model_code/common/runtime.py`` under a private name, apart from the artifacts' own copies."""
    spec = importlib.util.spec_from_file_location(
        "vitrine_test_runtime", MODEL_CODE / "common" / "runtime.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture()
def no_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VITRINE_DEVICE", raising=False)


@pytest.fixture()
def fake_gpus(monkeypatch: pytest.MonkeyPatch) -> Callable[[int], None]:
    """``fake_gpus(n)``: torch reports ``n`` CUDA devices (and bfloat16 support); nothing else changes."""

    def fake(count: int) -> None:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: count > 0)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: count)
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: True)

    return fake


def test_device_is_the_cpu_on_this_machine(runtime: ModuleType, no_override: None) -> None:
    assert not torch.cuda.is_available()
    assert runtime.device() == torch.device("cpu")


def test_device_is_cuda_when_torch_sees_a_gpu(runtime: ModuleType, no_override: None, fake_gpus) -> None:
    fake_gpus(1)
    assert runtime.device() == torch.device("cuda")


def test_device_override_cpu_wins_over_a_gpu(runtime: ModuleType, monkeypatch, fake_gpus) -> None:
    fake_gpus(1)
    monkeypatch.setenv("VITRINE_DEVICE", "cpu")
    assert runtime.device() == torch.device("cpu")


def test_device_override_names_one_gpu_of_several(runtime: ModuleType, monkeypatch, fake_gpus) -> None:
    fake_gpus(2)
    monkeypatch.setenv("VITRINE_DEVICE", " CUDA:1 ")
    assert runtime.device() == torch.device("cuda", 1)
    monkeypatch.setenv("VITRINE_DEVICE", "cuda:2")
    with pytest.raises(ValueError, match=r"VITRINE_DEVICE=cuda:2 but torch sees 2 CUDA device"):
        runtime.device()


@pytest.mark.parametrize("value", ["meta", "gpu", "mps", "cuda:x", "cuda:-1", "cpu:0", "cuda cpu"])
def test_device_refuses_values_it_cannot_run_on(runtime: ModuleType, monkeypatch, value: str) -> None:
    monkeypatch.setenv("VITRINE_DEVICE", value)
    with pytest.raises(ValueError, match=r"VITRINE_DEVICE=.* use cpu, cuda or cuda:N"):
        runtime.device()


def test_device_refuses_cuda_without_a_gpu(runtime: ModuleType, monkeypatch) -> None:
    monkeypatch.setenv("VITRINE_DEVICE", "cuda")
    with pytest.raises(ValueError, match="no CUDA device"):
        runtime.device()


def test_dtype_policy_is_float32_except_half_on_cuda(runtime: ModuleType, monkeypatch, fake_gpus) -> None:
    fake_gpus(1)
    cuda, cpu = torch.device("cuda"), torch.device("cpu")
    assert runtime.dtype_for(cpu) is torch.float32
    assert runtime.dtype_for(cpu, half=True) is torch.float32
    assert runtime.dtype_for(cuda) is torch.float32
    assert runtime.dtype_for(cuda, half=True) is torch.bfloat16
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: False)
    assert runtime.dtype_for(cuda, half=True) is torch.float16


def test_configure_torch_turns_on_fast_kernels_only_for_cuda(runtime: ModuleType, monkeypatch) -> None:
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", False)
    precision = torch.get_float32_matmul_precision()
    try:
        torch.set_float32_matmul_precision("highest")
        runtime.configure_torch(torch.device("cpu"))
        assert torch.backends.cudnn.benchmark is False
        assert torch.get_float32_matmul_precision() == "highest"
        runtime.configure_torch(torch.device("cuda"))  # flags only: no CUDA call is made
        assert torch.backends.cudnn.benchmark is True
        assert torch.get_float32_matmul_precision() == "high"
    finally:
        torch.set_float32_matmul_precision(precision)


def test_to_model_moves_tensors_and_casts_only_floats(runtime: ModuleType) -> None:
    model = torch.nn.Linear(2, 2).to(torch.bfloat16)
    inputs = {"pixel_values": torch.ones(1, 2), "input_ids": torch.ones(1, 3, dtype=torch.long), "n": 3}
    moved = runtime.to_model(inputs, model)
    assert moved["pixel_values"].dtype is torch.bfloat16
    assert moved["input_ids"].dtype is torch.long
    assert moved["n"] == 3
    assert all(v.device == next(model.parameters()).device for k, v in moved.items() if k != "n")


def torch_model(name: str, loaded: Any) -> torch.nn.Module:
    """The ``nn.Module`` inside what a handler's ``model_fn`` returned."""
    return loaded.ranker if name == "ranker" else loaded.model


@pytest.mark.parametrize("name", HANDLERS)
def test_model_fn_puts_the_model_on_the_runtime_device(name: str, artifact_handler, no_override) -> None:
    handler = artifact_handler(name)
    target = handler.module.device()
    assert {p.device for p in torch_model(name, handler.model).parameters()} == {target}


@pytest.mark.parametrize("name", HANDLERS)
def test_model_fn_follows_the_device_override(
    name: str, artifact_handler, packaged_model, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = artifact_handler(name).module
    monkeypatch.setenv("VITRINE_DEVICE", "cpu")
    model = torch_model(name, module.model_fn(str(packaged_model(name))))
    assert {p.device for p in model.parameters()} == {torch.device("cpu")}
    assert {p.dtype for p in model.parameters() if p.is_floating_point()} == {torch.float32}
    monkeypatch.setenv("VITRINE_DEVICE", "meta")
    with pytest.raises(ValueError, match="VITRINE_DEVICE"):
        module.model_fn(str(packaged_model(name)))


def tensors_in(values: Any) -> list[torch.Tensor]:
    found: list[torch.Tensor] = []
    for value in values:
        if isinstance(value, torch.Tensor):
            found.append(value)
        elif isinstance(value, (list, tuple)):
            found.extend(tensors_in(value))
    return found


def requests(jpeg: bytes) -> dict[str, tuple[bytes | str, str]]:
    chat = {"type": "image_url", "image_url": {"url": f"data:image/jpeg;base64,{b64(jpeg)}"}}
    return {
        "dino_embed": (jpeg, "image/jpeg"),
        "grounding_dino": (jpeg, "image/jpeg"),
        "blip2_attributes": (
            json.dumps({"image": b64(jpeg), "questions": ["colour?"], "max_new_tokens": 3}),
            JSON,
        ),
        "llava": (
            json.dumps(
                {
                    "messages": [{"role": "user", "content": [chat, {"type": "text", "text": "what is it"}]}],
                    "max_tokens": 3,
                    "temperature": 0,
                }
            ),
            JSON,
        ),
        "ranker": (json.dumps({"text": "hotel with a pool", "images": [b64(jpeg)] * 2}), JSON),
    }


@pytest.mark.parametrize("name", HANDLERS)
def test_predict_moves_processor_outputs_to_the_model(
    name: str, artifact_handler, packaged_model: Callable[[str], Path], jpeg_bytes: bytes, no_override
) -> None:
    """A bfloat16 copy of the model serves a request, and every module of it gets only bfloat16 floats.

    The processors return float32; only the handlers' moves (``to_model``, the ranker's encode methods)
    cast to the model's dtype, as they move to its device. Without them a float32 tensor reaches some
    module (the forward pre-hooks catch it), even where the model would have cast its pixels itself.
    Every float a bfloat16 model computes internally stays bfloat16, so the check has no exceptions.
    """
    module = artifact_handler(name).module
    loaded = module.model_fn(str(packaged_model(name)))
    model = torch_model(name, loaded).to(torch.bfloat16)
    target = next(model.parameters()).device
    floats: list[str] = []
    unmoved: list[str] = []

    def check(submodule: torch.nn.Module, args: tuple, kwargs: dict) -> None:
        where = type(submodule).__name__
        for tensor in tensors_in([*args, *kwargs.values()]):
            if tensor.device != target:
                unmoved.append(f"{where}: a tensor on {tensor.device}, the model on {target}")
            if tensor.is_floating_point():
                floats.append(where)
                if tensor.dtype != torch.bfloat16:
                    unmoved.append(f"{where}: a {tensor.dtype} tensor, the model in bfloat16")

    hooks = [m.register_forward_pre_hook(check, with_kwargs=True) for m in model.modules()]
    try:
        body, content_type = requests(jpeg_bytes)[name]
        answer = Handler(module=module, model=loaded).call(body, content_type)
    finally:
        for hook in hooks:
            hook.remove()
    assert floats, "no module of the model got a float tensor"
    assert not unmoved, sorted(set(unmoved))
    assert answer


def test_checkpoint_parameters_counts_from_the_safetensors_headers(runtime: ModuleType, tiny_model) -> None:
    from transformers import LlavaNextForConditionalGeneration

    folder = tiny_model("llava")
    model = LlavaNextForConditionalGeneration.from_pretrained(folder)
    assert runtime.checkpoint_parameters(folder) == sum(p.numel() for p in model.parameters())
    assert runtime.checkpoint_parameters("llava-hf/llava-v1.6-mistral-7b-hf") is None  # a hub id: unknown


def test_available_memory_is_what_this_machine_has(runtime: ModuleType) -> None:
    memory = runtime.available_memory()
    assert memory is not None and 0 < memory < 2**50


def test_weights_dtype_on_the_cpu_is_float32_bfloat16_or_a_clear_refusal(
    runtime: ModuleType, tiny_model, monkeypatch: pytest.MonkeyPatch, fake_gpus
) -> None:
    folder = tiny_model("llava")
    parameters = runtime.checkpoint_parameters(folder)
    cpu = torch.device("cpu")
    share = runtime.MEMORY_SHARE

    def memory(bytes_per_parameter: float) -> None:
        monkeypatch.setattr(
            runtime, "available_memory", lambda: int(parameters * bytes_per_parameter / share)
        )

    memory(4)
    monkeypatch.setattr(runtime, "cpu_has_bfloat16", lambda: True)
    assert runtime.weights_dtype(cpu, folder, half=True) is torch.float32
    memory(3)
    assert runtime.weights_dtype(cpu, folder, half=True) is torch.bfloat16
    with pytest.raises(runtime.ModelTooLarge, match=r"GiB in float32"):
        runtime.weights_dtype(cpu, folder)  # an embedder or a detector never runs in 16 bits
    monkeypatch.setattr(runtime, "cpu_has_bfloat16", lambda: False)
    with pytest.raises(MemoryError, match=r"no native bfloat16.*VITRINE_DEVICE=cuda"):
        runtime.weights_dtype(cpu, folder, half=True)
    memory(1)
    monkeypatch.setattr(runtime, "cpu_has_bfloat16", lambda: True)
    with pytest.raises(runtime.ModelTooLarge, match=r"and .* GiB in bfloat16"):
        runtime.weights_dtype(cpu, folder, half=True)
    fake_gpus(1)
    assert runtime.weights_dtype(torch.device("cuda"), folder, half=True) is torch.bfloat16  # not checked
