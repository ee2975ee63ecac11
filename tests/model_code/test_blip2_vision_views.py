"""The views ``--stage vision`` trains on (:func:`blip2_attributes.vision_stage.random_crops`): parts of the
photo blown up to the whole frame, mirrored at random, never the padding outside the photo."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch

from tests.model_code.conftest import MODEL_CODE

_spec = importlib.util.spec_from_file_location(
    "vision_stage", MODEL_CODE / "blip2_attributes" / "vision_stage.py"
)
vision_stage = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(vision_stage)
random_crops = vision_stage.random_crops


@pytest.fixture
def halves() -> torch.Tensor:
    """Eight photos, red on the left half and blue on the right: where a view was cut shows in its colours."""
    photo = torch.zeros(3, 32, 32)
    photo[0, :, :16], photo[2, :, 16:] = 1.0, 1.0
    return photo.expand(8, 3, 32, 32).contiguous()


def test_whole_photo_views_are_the_photo_or_its_mirror(halves):
    views = random_crops(halves, np.random.default_rng(0), min_crop=1.0)
    mirrored = [bool(torch.allclose(v, halves[0].flip(-1), atol=1e-5)) for v in views]
    same = [bool(torch.allclose(v, halves[0], atol=1e-5)) for v in views]
    assert all(m != s for m, s in zip(mirrored, same, strict=True))
    assert any(mirrored) and any(same)


def test_crops_zoom_into_the_photo_and_sample_nothing_outside_it(halves):
    views = random_crops(halves, np.random.default_rng(1), min_crop=0.2)
    assert views.shape == halves.shape
    red, blue = views[:, 0].mean(dim=(1, 2)), views[:, 2].mean(dim=(1, 2))
    assert torch.allclose(red + blue, torch.ones(8), atol=1e-4)  # every pixel from inside the photo
    assert (red - 0.5).abs().max() > 0.2  # some views show mostly one half: zoomed, not whole
    assert len({round(float(r), 3) for r in red}) == 8  # each view its own cut
