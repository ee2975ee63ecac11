"""The LLaVA artifact as the DJL LMI 0.31 container reads it: its chat template and its files for transformers 4.45.

The SageMaker endpoint serves the weights folder with DJL LMI 0.31 (vLLM 0.6.3, transformers 4.45.2 inside), while
training and the transformers handler save and load it with transformers 5, which writes several files in shapes
4.45 and vLLM do not read. :func:`compatible_files` and :func:`weights_header` say what to write instead (the
packager puts them in ``model.tar.gz``); :func:`make_compatible` writes them in place (``train.py``'s output):

- ``tokenizer_config.json``: the chat template *inside* it (transformers 5 writes only ``chat_template.jinja``,
  which 4.45 never reads, so DJL fails every chat request), ``tokenizer_class`` ``TokenizersBackend`` (a class
  4.45 does not have) as ``PreTrainedTokenizerFast``, ``extra_special_tokens`` as ``additional_special_tokens``;
- ``preprocessor_config.json``, the image processor vLLM loads, which transformers 5 nests inside
  ``processor_config.json`` instead (where 4.45's processor refuses it);
- ``config.json``: ``rope_theta`` beside transformers 5's ``rope_parameters``, because 4.45 reads only the former
  and falls back to 10,000 (llava-v1.6-mistral uses 1,000,000: every position would be wrong, silently);
- weight names: transformers 5 saves the CLIP tower as ``vision_tower.encoder...``; 4.45 and vLLM load
  ``vision_tower.vision_model.encoder...``. Only the safetensors header changes, never a tensor's bytes.

This module is plain Python (no transformers, no torch): the packager loads it from its file.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import tempfile
from pathlib import Path
from typing import Any

IMAGE_TOKEN = "<image>"

CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['content'] is string %}"
    "{% set images = 0 %}{% set text = message['content'] %}"
    "{% else %}"
    "{% set images = message['content'] | selectattr('type', 'equalto', 'image') | list | length %}"
    "{% set text = message['content'] | selectattr('type', 'equalto', 'text') | map(attribute='text')"
    " | join('\n') %}"
    "{% endif %}"
    "{% if message['role'] == 'system' %}{{ '<<SYS>>\n' + text + '\n<</SYS>>\n\n' }}"
    "{% elif message['role'] == 'user' %}{{ '[INST] ' + '<image>\n' * images + text + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ ' ' + text + eos_token }}"
    "{% else %}{{ raise_exception('Only system, user and assistant roles are supported!') }}"
    "{% endif %}"
    "{% endfor %}"
)
"""The llava-v1.6-mistral chat format, for both content shapes a message arrives in.

DJL LMI 0.31 flattens each message to one string (``"<image>\\n" + "\\n".join(texts)``) before it renders the
template; the hub template reads only typed parts and renders that as ``[INST]  [/INST]``, text and image gone.
Training and transformers 5 send typed parts (``{"type": "image"}``, ``{"type": "text", "text": ...}``). Either
way a user turn is ``[INST] <image>\\n{text} [/INST]``. An assistant turn ends with the EOS token, not the hub
template's literal ``<\\s>``: a model tuned on these targets learns to stop.
"""

TOKENIZER_CLASSES = {"TokenizersBackend": "PreTrainedTokenizerFast"}
"""transformers 5 tokenizer classes under the name transformers 4.45 knows them by."""

WEIGHT_PREFIXES = (
    ("model.language_model.", "language_model.model."),
    ("lm_head.", "language_model.lm_head."),
    ("model.vision_tower.vision_model.", "vision_tower.vision_model."),
    ("model.vision_tower.", "vision_tower.vision_model."),
    ("model.multi_modal_projector.", "multi_modal_projector."),
    ("model.image_newline", "image_newline"),
    ("vision_tower.vision_model.", "vision_tower.vision_model."),
    ("vision_tower.", "vision_tower.vision_model."),
)
"""Weight-name prefixes as transformers 5 may write them, and as llava-hf's checkpoints (transformers 4.45, vLLM)
name them; the first matching prefix applies."""

LEGACY_PREFIXES = (
    "language_model.model.",
    "language_model.lm_head.",
    "vision_tower.vision_model.",
    "multi_modal_projector.",
    "image_newline",
)
"""Every weight name of a llava-hf LLaVA-NeXT checkpoint starts with one of these."""


def legacy_weight_name(name: str) -> str:
    """``name`` as transformers 4.45 and vLLM's LLaVA-NeXT load it."""
    for prefix, legacy in WEIGHT_PREFIXES:
        if name.startswith(prefix):
            return legacy + name[len(prefix) :]
    return name


def _json(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def _dump(value: Any) -> bytes:
    return (json.dumps(value, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def _legacy_config(config: dict[str, Any]) -> dict[str, Any]:
    """``config`` (and its sub-configs) with the keys transformers 4.45 reads beside transformers 5's."""
    for part in (config, config.get("text_config"), config.get("vision_config")):
        if not isinstance(part, dict):
            continue
        rope = part.get("rope_parameters")
        if isinstance(rope, dict) and "rope_theta" in rope:
            part.setdefault("rope_theta", rope["rope_theta"])
            if rope.get("rope_type", "default") != "default":
                part.setdefault("rope_scaling", {k: v for k, v in rope.items() if k != "rope_theta"})
        if "dtype" in part:
            part.setdefault("torch_dtype", part["dtype"])
    return config


def _legacy_tokenizer_config(config: dict[str, Any]) -> dict[str, Any]:
    config["chat_template"] = CHAT_TEMPLATE
    kind = config.get("tokenizer_class")
    config["tokenizer_class"] = TOKENIZER_CLASSES.get(kind, kind)
    extra = config.get("extra_special_tokens")
    if isinstance(extra, list):  # transformers 5's list; 4.45 calls it additional_special_tokens
        del config["extra_special_tokens"]
        known = list(config.get("additional_special_tokens") or [])
        config["additional_special_tokens"] = known + [token for token in extra if token not in known]
    return config


def compatible_files(folder: Path) -> dict[str, bytes]:
    """The small files of the weights ``folder`` rewritten for DJL LMI 0.31, by name (see the module docstring).

    Files already in the older shape come back unchanged in meaning; the chat template files always carry
    :data:`CHAT_TEMPLATE`.
    """
    folder = Path(folder)
    files: dict[str, bytes] = {}
    config = _json(folder / "config.json")
    if config is None:
        raise FileNotFoundError(f"{folder} has no config.json: not a from_pretrained folder")
    files["config.json"] = _dump(_legacy_config(config))
    tokenizer_config = _json(folder / "tokenizer_config.json")
    if tokenizer_config is None:
        raise FileNotFoundError(f"{folder} has no tokenizer_config.json: DJL cannot build a chat prompt")
    files["tokenizer_config.json"] = _dump(_legacy_tokenizer_config(tokenizer_config))
    processor_config = _json(folder / "processor_config.json")
    if processor_config is not None:
        nested = processor_config.pop("image_processor", None)
        processor_config.pop("chat_template", None)  # it lives in chat_template.json for 4.45
        if isinstance(nested, dict):
            nested.setdefault(
                "processor_class", processor_config.get("processor_class", "LlavaNextProcessor")
            )
            files["preprocessor_config.json"] = _dump(nested)
        files["processor_config.json"] = _dump(processor_config)
    if "preprocessor_config.json" not in files and not (folder / "preprocessor_config.json").is_file():
        raise FileNotFoundError(f"{folder} has no image processor config for vLLM to load")
    files["chat_template.json"] = _dump({"chat_template": CHAT_TEMPLATE})
    files["chat_template.jinja"] = CHAT_TEMPLATE.encode("utf-8")
    index = _json(folder / "model.safetensors.index.json")
    if index is not None and isinstance(index.get("weight_map"), dict):
        index["weight_map"] = {legacy_weight_name(k): v for k, v in index["weight_map"].items()}
        files["model.safetensors.index.json"] = _dump(index)
    return files


def weights_header(path: Path) -> tuple[bytes, int] | None:
    """For a safetensors file whose weight names need :func:`legacy_weight_name`: the new header (its 8-byte
    length included) and the offset in ``path`` where the tensor bytes start, which follow the new header
    unchanged (tensor offsets are relative to the end of the header). ``None`` when every name is right.
    """
    with Path(path).open("rb") as handle:
        (length,) = struct.unpack("<Q", handle.read(8))
        header = json.loads(handle.read(length))
    renamed = {legacy_weight_name(k) if k != "__metadata__" else k: v for k, v in header.items()}
    if list(renamed) == list(header):
        return None
    if len(renamed) != len(header):
        raise ValueError(f"{path}: renaming its weights for transformers 4.45 would merge two of them")
    raw = json.dumps(renamed, separators=(",", ":")).encode("utf-8")
    raw += b" " * (
        -len(raw) % 8
    )  # safetensors pads its header with spaces to keep the tensors 8-byte aligned
    return struct.pack("<Q", len(raw)) + raw, 8 + length


def make_compatible(folder: Path) -> None:
    """Rewrite the weights ``folder`` in place as :func:`compatible_files` and :func:`weights_header` say."""
    folder = Path(folder)
    for name, content in compatible_files(folder).items():
        (folder / name).write_bytes(content)
    for path in sorted(folder.glob("*.safetensors")):
        spliced = weights_header(path)
        if spliced is None:
            continue
        header, offset = spliced
        with tempfile.NamedTemporaryFile(dir=folder, delete=False, suffix=".tmp") as out:
            out.write(header)
            with path.open("rb") as source:
                source.seek(offset)
                shutil.copyfileobj(source, out, 16 * 2**20)
        os.replace(out.name, path)
