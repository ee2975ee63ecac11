"""The LLaVA artifact as DJL LMI 0.31 reads it: transformers 4.45.2 and vLLM 0.6.3 inside the container.

The weights folder comes from transformers 5 (the tiny builder, ``train.py``), whose files 4.45 misreads or cannot
read at all; the packager rewrites them through ``model_code/llava/artifact.py``. The last test loads the packaged
artifact with transformers 4.45.2 itself, in a virtual environment of its own (cached between runs).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.model_code.conftest import MODEL_CODE

CONTAINER_TRANSFORMERS = "4.45.2"
"""The transformers version inside DJL LMI 0.31 (vLLM 0.6.3)."""

DJL_CHAT = [{"role": "user", "content": "<image>\nwhat is in this image"}]
"""A chat as DJL LMI 0.31 hands it to the chat template: each message's parts flattened to one string."""

TYPED_CHAT = [
    {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "what is in this image"}]}
]
SERVED_PROMPT = "[INST] <image>\nwhat is in this image [/INST]"


def artifact_module():
    sys.path.insert(0, str(MODEL_CODE))
    try:
        from llava import artifact
    finally:
        sys.path.remove(str(MODEL_CODE))
    return artifact


def read_json(path: Path) -> dict:
    return json.loads(path.read_text())


def weight_names(path: Path) -> list[str]:
    with path.open("rb") as handle:
        (length,) = struct.unpack("<Q", handle.read(8))
        return [name for name in json.loads(handle.read(length)) if name != "__metadata__"]


def test_tiny_llava_carries_the_hub_template_that_drops_djl_string_content(tiny_model):
    """The defect as the hub's folder brings it: DJL's string content renders as ``[INST]  [/INST]``."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model("llava"))
    rendered = tokenizer.apply_chat_template(DJL_CHAT, tokenize=False, add_generation_prompt=True)
    assert rendered == "[INST]  [/INST] "
    assert "chat_template" not in read_json(tiny_model("llava") / "tokenizer_config.json")  # transformers 5


def test_packaged_llava_tokenizer_config_carries_the_serving_chat_template(packaged_model):
    root = packaged_model("llava")
    config = read_json(root / "tokenizer_config.json")
    assert config["chat_template"] == artifact_module().CHAT_TEMPLATE  # where transformers 4.45 reads it
    assert read_json(root / "chat_template.json")["chat_template"] == config["chat_template"]
    assert config["tokenizer_class"] != "TokenizersBackend"  # a class transformers 4.45 does not have
    assert "<image>" in config["additional_special_tokens"]


def test_packaged_llava_renders_djl_string_and_typed_content_alike(packaged_model):
    from transformers import AutoProcessor, AutoTokenizer

    root = packaged_model("llava")
    tokenizer = AutoTokenizer.from_pretrained(root)
    assert (
        tokenizer.apply_chat_template(DJL_CHAT, tokenize=False, add_generation_prompt=True) == SERVED_PROMPT
    )
    processor = AutoProcessor.from_pretrained(root)
    assert processor.apply_chat_template(TYPED_CHAT, add_generation_prompt=True) == SERVED_PROMPT
    answered = [*DJL_CHAT, {"role": "assistant", "content": "a pool"}]
    assert tokenizer.apply_chat_template(answered, tokenize=False).endswith(" [/INST] a pool</s>")


def test_packaged_llava_config_and_processor_files_are_the_ones_transformers_4_45_reads(packaged_model):
    root = packaged_model("llava")
    preprocessor = read_json(root / "preprocessor_config.json")  # what vLLM's AutoImageProcessor opens
    assert preprocessor["image_processor_type"].startswith("LlavaNextImageProcessor")
    assert preprocessor["image_grid_pinpoints"]
    assert "image_processor" not in read_json(root / "processor_config.json")  # 4.45's processor refuses it
    text = read_json(root / "config.json")["text_config"]
    assert text["rope_theta"] == text["rope_parameters"]["rope_theta"] == 1_000_000.0


def test_packaged_llava_weight_names_are_the_hub_checkpoints(tiny_model, packaged_model):
    """transformers 5 saves the CLIP tower as ``vision_tower.encoder...``; vLLM loads ``vision_tower.vision_model.``."""
    legacy = artifact_module().LEGACY_PREFIXES
    assert any(not n.startswith(legacy) for n in weight_names(tiny_model("llava") / "model.safetensors"))
    names = weight_names(packaged_model("llava") / "model.safetensors")
    assert names and all(name.startswith(legacy) for name in names)
    assert any(name.startswith("vision_tower.vision_model.encoder.layers.") for name in names)


def test_packaged_llava_weights_load_as_the_folder_they_came_from(tiny_model, packaged_model):
    from transformers import LlavaNextForConditionalGeneration

    before = LlavaNextForConditionalGeneration.from_pretrained(tiny_model("llava")).state_dict()
    after = LlavaNextForConditionalGeneration.from_pretrained(packaged_model("llava")).state_dict()
    assert before.keys() == after.keys()
    assert all(after[name].equal(tensor) for name, tensor in before.items())


def digest(folder: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()
    }


def test_packager_leaves_the_weights_folder_as_it_is_and_make_compatible_writes_the_same(
    tiny_model, packaged_model, tmp_path
):
    source = tiny_model("llava")
    untouched = digest(source)
    packaged = packaged_model("llava")
    assert digest(source) == untouched
    copy = tmp_path / "llava"
    shutil.copytree(source, copy)
    artifact_module().make_compatible(copy)
    served = digest(packaged)
    assert {name: served[name] for name in digest(copy)} == digest(copy)


CONTAINER_CHECK = textwrap.dedent(
    """
    import json, sys
    from transformers import AutoConfig, AutoImageProcessor, AutoProcessor, AutoTokenizer, __version__

    root = sys.argv[1]
    chat = json.loads(sys.argv[2])
    config = AutoConfig.from_pretrained(root)
    tokenizer = AutoTokenizer.from_pretrained(root)
    # DJL LMI 0.31's chat_utils.apply_chat_template, then vLLM's tokenization of the prompt
    prompt = tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
    ids = tokenizer(prompt)["input_ids"]
    text_ids = tokenizer("what is in this image", add_special_tokens=False)["input_ids"]
    image_processor = AutoImageProcessor.from_pretrained(root)
    processor = AutoProcessor.from_pretrained(root)
    print(json.dumps({
        "version": __version__,
        "rope_theta": config.text_config.rope_theta,
        "prompt": prompt,
        "image_token_in_ids": tokenizer.convert_tokens_to_ids("<image>") in ids,
        "image_token_id": tokenizer.convert_tokens_to_ids("<image>"),
        "config_image_token_id": config.image_token_index,
        "text_in_ids": any(ids[i:i + len(text_ids)] == text_ids for i in range(len(ids))),
        "image_processor": type(image_processor).__name__,
        "pinpoints": image_processor.image_grid_pinpoints,
        "processor_template": processor.chat_template is not None,
    }))
    """
)


def container_venv(cache_root: Path) -> Path:
    """A virtual environment with transformers 4.45.2 (no torch: tokenizer, config and image processor need
    none), built once under ``cache_root`` and reused; skipped where PyPI cannot be reached, unless on CI."""
    venv = cache_root / f"transformers-{CONTAINER_TRANSFORMERS}"
    python = venv / "bin" / "python"
    if (venv / "ready").is_file():
        return python
    building = cache_root / f"building-{os.getpid()}"
    shutil.rmtree(building, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(building)], check=True, capture_output=True)
    install = subprocess.run(
        [
            str(building / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            f"transformers=={CONTAINER_TRANSFORMERS}",
            "jinja2",
            "pillow",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if install.returncode != 0:
        shutil.rmtree(building, ignore_errors=True)
        reason = f"cannot install transformers=={CONTAINER_TRANSFORMERS}: {install.stderr[-2000:]}"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    (building / "ready").write_text(CONTAINER_TRANSFORMERS + "\n")
    try:
        building.rename(venv)  # another worker may have finished first: use its environment
    except OSError:
        shutil.rmtree(building, ignore_errors=True)
    return python


@pytest.mark.slow
def test_packaged_llava_loads_in_the_djl_containers_transformers(packaged_model, request, tmp_path_factory):
    cache = getattr(request.config, "cache", None)  # None under -p no:cacheprovider
    cache_root = Path(cache.mkdir("compat-venvs")) if cache is not None else tmp_path_factory.mktemp("venvs")
    python = container_venv(cache_root)
    result = subprocess.run(
        [str(python), "-c", CONTAINER_CHECK, str(packaged_model("llava")), json.dumps(DJL_CHAT)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "TRANSFORMERS_VERBOSITY": "error", "HF_HUB_OFFLINE": "1"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert found["version"] == CONTAINER_TRANSFORMERS
    assert found["prompt"] == SERVED_PROMPT
    assert found["image_token_in_ids"] and found["text_in_ids"]
    assert found["image_token_id"] == found["config_image_token_id"]
    assert found["rope_theta"] == 1_000_000.0  # not 4.45's default of 10,000
    assert found["image_processor"] == "LlavaNextImageProcessor" and found["pinpoints"]
    assert found["processor_template"]
