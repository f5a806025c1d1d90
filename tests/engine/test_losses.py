from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from stylize.engine import cosine_loss, directional_loss, spherical_distance_loss


def _unit(*values):
    return F.normalize(torch.tensor(values, dtype=torch.float64), dim=-1)


def test_cosine_loss_hand_values():
    images = torch.stack([_unit(1, 0), _unit(0, 1)])
    assert float(cosine_loss(images, _unit(1, 0))) == pytest.approx(0.5)  # (0 + 1) / 2
    assert float(cosine_loss(images, torch.stack([_unit(1, 0), _unit(-1, 0)]))) == pytest.approx(1.0)


def test_spherical_loss_is_twice_half_angle_squared():
    angle = 0.7
    image = _unit(math.cos(angle), math.sin(angle)).unsqueeze(0)
    # chord = 2 sin(angle/2) -> 2 * arcsin(sin(angle/2))^2 = angle^2 / 2
    assert float(spherical_distance_loss(image, _unit(1, 0))) == pytest.approx(angle**2 / 2)


def test_loss_shape_errors():
    with pytest.raises(ValueError, match=r"\(B, D\)"):
        cosine_loss(torch.ones(3), torch.ones(3))
    with pytest.raises(ValueError, match="D=3"):
        cosine_loss(torch.ones(2, 3), torch.ones(4))


def test_directional_loss_zero_when_aligned_two_when_opposed():
    source_text, target_text = _unit(1, 0, 0), _unit(0, 1, 0)
    source_image = _unit(0.2, 0.1, 1.0).unsqueeze(0)
    moved_along = source_image + 0.3 * (target_text - source_text)
    moved_against = source_image - 0.3 * (target_text - source_text)
    assert float(directional_loss(moved_along, source_image, target_text, source_text)) == pytest.approx(0.0, abs=1e-9)
    assert float(directional_loss(moved_against, source_image, target_text, source_text)) == pytest.approx(2.0)
    sideways = source_image + 0.3 * _unit(0, 0, 1)
    assert float(directional_loss(sideways, source_image, target_text, source_text)) == pytest.approx(1.0)
