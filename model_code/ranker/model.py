"""The pairwise cover ranker: one ``nn.Module`` that training optimises and the endpoint serves.

A hotel's text (name, description) and each of its photos become vectors in the *text* encoder's space:
the CLIP vision tower's pooled features go through a linear projector, the frozen BGE-style text encoder
gives an L2-normalised CLS vector, and a small head turns the pair into one score. Only the relative order
of scores within a hotel means anything (training is pairwise), so the best photo is the argmax.

Saved as a folder, so the artifact and a training checkpoint are the same thing::

    image_encoder/      CLIPVisionModel + its image processor
    text_encoder/       BERT-style encoder + its tokenizer (frozen)
    head.safetensors    projector and score head
    config.json         the head's sizes and the text length (not a transformers config)
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

CONFIG_NAME = "config.json"
HEAD_NAME = "head.safetensors"
IMAGE_DIR = "image_encoder"
TEXT_DIR = "text_encoder"


@dataclass(frozen=True)
class RankerConfig:
    """The sizes the encoders do not carry themselves."""

    image_dim: int
    text_dim: int
    hidden_dim: int = 256
    max_text_tokens: int = 256
    text_pooling: str = "cls"
    """How the text encoder's tokens become one vector: ``cls`` (BGE's) or ``mean`` over the real tokens (what
    sentence-transformers encoders such as all-MiniLM-L6-v2 were trained with: their CLS is not a sentence
    vector). Read from the encoder's ``1_Pooling/config.json`` when it has one."""


def text_pooling_of(text_dir: str | Path) -> str:
    """The pooling a sentence-transformers folder declares (``1_Pooling/config.json``); ``cls`` otherwise."""
    declared = Path(text_dir) / "1_Pooling" / "config.json"
    if declared.is_file() and json.loads(declared.read_text()).get("pooling_mode_mean_tokens"):
        return "mean"
    return "cls"


class CoverRanker(nn.Module):
    """Scores each image of a hotel against the hotel's text; higher is a better cover."""

    def __init__(
        self,
        image_encoder: nn.Module,
        text_encoder: nn.Module,
        image_processor: Any,
        tokenizer: Any,
        config: RankerConfig,
    ) -> None:
        super().__init__()
        self.config = config
        self.image_encoder = image_encoder
        self.text_encoder = text_encoder.requires_grad_(False)
        self.image_processor = image_processor
        self.tokenizer = tokenizer
        self.projector = nn.Linear(config.image_dim, config.text_dim)
        # Features: the projected image, and its elementwise agreement with the text vector.
        self.head = nn.Sequential(
            nn.Linear(2 * config.text_dim, config.hidden_dim), nn.GELU(), nn.Linear(config.hidden_dim, 1)
        )

    def train(self, mode: bool = True) -> CoverRanker:
        """Keep the frozen text encoder in eval mode (no dropout) whatever the rest of the model does."""
        super().train(mode)
        self.text_encoder.eval()
        return self

    @property
    def device(self) -> torch.device:
        """Where the weights are (all on one device: ``.to`` moves the module whole), so where inputs go."""
        return next(self.parameters()).device

    def encode_text(self, texts: list[str]) -> torch.Tensor:
        """CLS vectors of ``texts``, L2-normalised, without gradients: the text encoder is frozen.

        The tokens are moved to the ranker's device here, so callers hand over plain strings wherever the
        ranker runs.
        """
        tokens = self.tokenizer(
            texts, padding=True, truncation=True, max_length=self.config.max_text_tokens, return_tensors="pt"
        )
        tokens = {name: value.to(self.device) for name, value in tokens.items()}
        with torch.no_grad():
            hidden = self.text_encoder(**tokens).last_hidden_state
        if self.config.text_pooling == "mean":
            mask = tokens["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1)
        else:
            pooled = hidden[:, 0]
        return nn.functional.normalize(pooled, dim=-1)

    def pixels(self, images: list[Any]) -> torch.Tensor:
        """The image processor's tensor for a list of RGB PIL images."""
        return self.image_processor(images=images, return_tensors="pt")["pixel_values"]

    def encode_images(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """Pooled CLIP features projected into the text space and L2-normalised.

        ``pixel_values`` (from :meth:`pixels`, on the CPU) are moved to the image encoder's device and dtype.
        """
        weight = next(self.image_encoder.parameters())
        pixel_values = pixel_values.to(device=weight.device, dtype=weight.dtype)
        pooled = self.image_encoder(pixel_values=pixel_values).pooler_output
        return nn.functional.normalize(self.projector(pooled), dim=-1)

    def forward(self, text_vectors: torch.Tensor, image_vectors: torch.Tensor) -> torch.Tensor:
        """One score per row: ``text_vectors[i]`` against ``image_vectors[i]`` (both from the encode methods)."""
        features = torch.cat([image_vectors, image_vectors * text_vectors], dim=-1)
        return self.head(features).squeeze(-1)

    def score(self, text: str, images: list[Any]) -> torch.Tensor:
        """Scores of ``images`` (RGB PIL images) as covers for the hotel described by ``text``."""
        image_vectors = self.encode_images(self.pixels(images))
        text_vector = self.encode_text([text]).expand(len(images), -1)
        return self(text_vector, image_vectors)

    def save_pretrained(self, out_dir: Path) -> None:
        """Write the folder layout in the module docstring; ``from_pretrained`` reads it back."""
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        self.image_encoder.save_pretrained(out_dir / IMAGE_DIR)
        self.image_processor.save_pretrained(out_dir / IMAGE_DIR)
        self.text_encoder.save_pretrained(out_dir / TEXT_DIR)
        self.tokenizer.save_pretrained(out_dir / TEXT_DIR)
        head = {f"projector.{k}": v for k, v in self.projector.state_dict().items()}
        head |= {f"head.{k}": v for k, v in self.head.state_dict().items()}
        save_file({k: v.contiguous() for k, v in head.items()}, str(out_dir / HEAD_NAME))
        (out_dir / CONFIG_NAME).write_text(json.dumps(asdict(self.config), indent=2) + "\n")

    @classmethod
    def from_encoders(cls, image_dir: str | Path, text_dir: str | Path, **sizes: Any) -> CoverRanker:
        """A ranker with pretrained encoders and a fresh head: where training starts.

        The encoders load in float32 whatever dtype their checkpoints were saved in (transformers 5 otherwise
        keeps a checkpoint's own, float16 for most hub CLIP and BGE weights): the head is float32, training
        updates the image encoder, and the endpoint serves the ranker in float32.
        """
        from transformers import AutoImageProcessor, AutoModel, AutoTokenizer, CLIPVisionModel

        image_encoder = CLIPVisionModel.from_pretrained(image_dir, dtype=torch.float32)
        text_encoder = AutoModel.from_pretrained(text_dir, add_pooling_layer=False, dtype=torch.float32)
        sizes.setdefault("text_pooling", text_pooling_of(text_dir))
        config = RankerConfig(
            image_dim=image_encoder.config.hidden_size, text_dim=text_encoder.config.hidden_size, **sizes
        )
        return cls(
            image_encoder,
            text_encoder,
            AutoImageProcessor.from_pretrained(image_dir),
            AutoTokenizer.from_pretrained(text_dir),
            config,
        )

    @classmethod
    def from_pretrained(cls, model_dir: str | Path) -> CoverRanker:
        """Load a folder written by :meth:`save_pretrained` (a training output or an extracted artifact)."""
        model_dir = Path(model_dir)
        config = RankerConfig(**json.loads((model_dir / CONFIG_NAME).read_text()))
        sizes = {
            "hidden_dim": config.hidden_dim,
            "max_text_tokens": config.max_text_tokens,
            "text_pooling": config.text_pooling,
        }
        ranker = cls.from_encoders(model_dir / IMAGE_DIR, model_dir / TEXT_DIR, **sizes)
        weights = load_file(str(model_dir / HEAD_NAME))
        for name in ("projector", "head"):
            part = {k.removeprefix(f"{name}."): v for k, v in weights.items() if k.startswith(f"{name}.")}
            getattr(ranker, name).load_state_dict(part)  # strict: a missing or misshapen weight is an error
        return ranker
