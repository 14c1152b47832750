"""RFR-Net architecture: contract, official layout and converter, mask schedule, merging, determinism."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import official_keys
from scipy import ndimage

from inpaintbench import create_model
from inpaintbench.archs.rfr import RFRNet
from inpaintbench.weights import WeightsError, load_weights

FULL_PARAMETERS = 31_224_065  # reference/rfrnet.md 2.9, measured on the official class
TINY_PARAMETERS = 406_001


def tiny(**args) -> RFRNet:
    torch.manual_seed(0)
    return create_model("rfr_net_tiny", **args).eval()


def batch(n: int, height: int, width: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    image = torch.rand(n, 3, height, width, generator=generator)
    mask = (torch.rand(n, 1, height, width, generator=generator) > 0.6).float()
    mask[:, :, height // 4 : height // 2, width // 4 : width // 2] = 1.0
    return image, mask


def square_hole(size: int, side: int) -> torch.Tensor:
    mask = torch.zeros(1, 1, size, size)
    start = (size - side) // 2
    mask[..., start : start + side, start : start + side] = 1.0
    return mask


# --- parameters, official layout, converter -------------------------------------------------------


def test_parameter_counts() -> None:
    assert sum(p.numel() for p in create_model("rfr_net").parameters()) == FULL_PARAMETERS
    assert sum(p.numel() for p in create_model("rfr_net_tiny").parameters()) == TINY_PARAMETERS


def test_full_model_state_dict_is_the_official_layout() -> None:
    expected = list(official_keys("rfrnet").items())  # the official RFRNet().state_dict() keys and shapes
    ours = create_model("rfr_net").state_dict()
    assert len(expected) == 114
    assert [(k, tuple(v.shape)) for k, v in ours.items()] == expected


@pytest.mark.parametrize("wrapped", [True, False])
def test_synthetic_official_checkpoint_loads_strictly(tmp_path: Path, wrapped: bool) -> None:
    """A file shaped like the official `save_ckpt` output (or a bare state dict) converts and loads strictly."""
    torch.manual_seed(0)
    generator = {
        key: torch.randint(0, 1000, shape) if key.endswith("num_batches_tracked") else torch.randn(shape)
        for key, shape in official_keys("rfrnet").items()
    }
    content = {"n_iter": 450000, "generator": generator, "optimizer_G": {"state": {}, "param_groups": []}}
    path = tmp_path / "checkpoint_celeba.pth"
    torch.save(content if wrapped else generator, path)
    model = create_model("rfr_net")
    digest = load_weights(model, path)
    assert len(digest) == 64
    loaded = model.state_dict()
    for key, value in generator.items():
        assert torch.equal(loaded[key], value), key


def test_wrong_shapes_fail_loudly(tmp_path: Path) -> None:
    """The official loader's strict=False + bare except would run with random weights; ours names the file."""
    state = create_model("rfr_net_tiny").state_dict()
    state["Pconv21.weight"] = torch.zeros(16, 16, 5, 5)  # the RFRNet_Smaller_Hole kernel size
    del state["out.weight"]
    path = tmp_path / "small_hole.pth"
    torch.save({"generator": state}, path)
    with pytest.raises(WeightsError, match=r"small_hole\.pth.*missing: out\.weight.*wrong shape: Pconv21\.weight"):
        load_weights(create_model("rfr_net_tiny"), path)


# --- the inpainting contract -------------------------------------------------------------------------


def test_preprocessing_converts_to_the_official_convention(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hand-made case: 1 = hole becomes 1 = valid on 3 channels, holes black, 16-multiple by replication."""
    model = tiny()
    image = torch.full((1, 3, 18, 17), 0.5)
    image[0, 0, -1, :] = 0.9  # last row, red: replicated into the padding
    mask = torch.zeros(1, 1, 18, 17)
    mask[0, 0, 2:5, 3:6] = 1.0
    mask[0, 0, -1, -1] = 1.0  # bottom-right corner hole: the padding continues it
    seen = {}

    def spy(masked_image: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        seen["image"], seen["valid"] = masked_image, valid
        return torch.full_like(masked_image, 2.0)  # out of range on purpose

    monkeypatch.setattr(model, "network_forward", spy)
    pred = model.inpaint(image, mask)
    masked_image, valid = seen["image"], seen["valid"]
    assert masked_image.shape == valid.shape == (1, 3, 32, 32)
    assert torch.equal(valid[0, :, 2:5, 3:6], torch.zeros(3, 3, 3))
    assert valid[0, :, :18, :17].sum() == 3 * (18 * 17 - 10)
    assert torch.equal(masked_image[0, :, 2:5, 3:6], torch.zeros(3, 3, 3))
    assert torch.all(masked_image[0, 0, 17:, :16] == 0.9)  # replicated last row
    assert torch.all(valid[0, :, 17:, 17:] == 0)  # the corner hole extends into the padding
    assert pred.shape == (1, 3, 18, 17) and torch.all(pred == 1.0)  # cropped back and clamped


# --- recurrence, merging, reach ---------------------------------------------------------------------


def expected_schedule(valid: np.ndarray, iterations: int, kernel: int = 7) -> list[np.ndarray]:
    """Brute force with binary dilations: the half-resolution valid region after the head and each iteration."""
    half = ndimage.binary_dilation(valid, np.ones((7, 7), bool))[::2, ::2]  # Pconv1: 7x7, stride 2
    box = np.ones((kernel, kernel), bool)
    schedule = [ndimage.binary_dilation(half, box)]  # Pconv2
    for _ in range(iterations):
        schedule.append(ndimage.binary_dilation(ndimage.binary_dilation(schedule[-1], box), box))
    return schedule


def network_schedule(model: RFRNet, mask: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    image = torch.rand(1, 3, *mask.shape[-2:], generator=torch.Generator().manual_seed(1))
    valid = (1 - mask).expand(-1, 3, -1, -1)
    with torch.no_grad():
        x, m = model.head(image * valid, valid)
        steps = [(x, m), *model.reason(x, m)]
    return [s[0] for s in steps], [s[1] for s in steps]


@pytest.mark.parametrize(("iterations", "side"), [(6, 192), (2, 96)])
def test_mask_grows_inwards_as_the_brute_force_predicts(iterations: int, side: int) -> None:
    model = tiny(iterations=iterations)
    hole = square_hole(256 if iterations == 6 else 128, side)
    features, masks = network_schedule(model, hole)
    expected = expected_schedule(hole[0, 0].numpy() == 0, iterations)
    assert len(masks) == iterations + 1
    if iterations == 6:  # reference/rfrnet.md 2.8: a centred 192 px square keeps 1.4 % of the half-res map unfilled
        assert 1 - expected[-1].mean() == pytest.approx(0.01373, abs=1e-5)
    for step, (got, want) in enumerate(zip(masks, expected, strict=True)):
        assert torch.all(got == got[:, :1]), "feature-mask channels must be identical"
        assert np.array_equal(got[0, 0].numpy() == 1, want), f"mask differs from the brute force at step {step}"
        if step:
            assert torch.all(got >= masks[step - 1]) and got.sum() > masks[step - 1].sum()  # strictly growing
        # Features outside the current valid region are exactly zero after every iteration.
        assert torch.all(features[step][(got == 0).expand_as(features[step])] == 0) or step == 0


@pytest.mark.parametrize("iterations", [1, 3, 6])
def test_where_the_filled_region_ends(iterations: int) -> None:
    """Filled-in-feature-space reach at 256: holes further than 12n + 9 px from known pixels stay unfilled.

    For n = 6 that is the ~82 px of reference/rfrnet.md 2.8 (a 192 px square keeps 1.4 % unfilled).
    """
    hole = square_hole(256, 240)
    _, masks = network_schedule(tiny(iterations=iterations), hole)
    filled = F.interpolate(masks[-1][:, :1], scale_factor=2, mode="nearest")[0, 0].numpy() == 1
    distance = ndimage.distance_transform_cdt(hole[0, 0].numpy() == 1, metric="chessboard")
    reach = 12 * iterations + 9
    assert filled[(distance > 0) & (distance <= reach - 1)].all()
    assert not filled[distance >= reach + 2].any()


def test_unreached_centre_gets_one_constant_colour() -> None:
    """The architectural limit kept on purpose (RFR#21): deep inside an unreached hole the output ignores the image."""
    model = tiny(iterations=2)  # reach 12*2 + 9 = 33 px: a 120 px square leaves a ~54 px unreached centre
    hole = square_hole(128, 120)
    a = model.inpaint(torch.rand(1, 3, 128, 128), hole)
    b = model.inpaint(torch.rand(1, 3, 128, 128), hole)
    centre = (slice(None), slice(None), slice(48, 80), slice(48, 80))
    torch.testing.assert_close(a[centre], b[centre])
    assert torch.allclose(a[centre], a[centre][..., :1, :1].expand_as(a[centre]))


def test_merging_equals_the_official_stacked_mean() -> None:
    """Our running sums give the official mean_k(X_k M_k) / (mean_k(M_k) + 1e-7) over all 64 mask channels."""
    model = tiny()
    image, mask = batch(2, 64, 48, seed=3)
    valid = (1 - mask).expand(-1, 3, -1, -1)
    masked = image * valid
    with torch.no_grad():
        features, masks = network_schedule_for(model, masked, valid)
        x = torch.stack(features, dim=2)
        m = torch.stack([mm.contiguous() for mm in masks], dim=2)
        merged = (x * m).mean(dim=2) / (m.mean(dim=2) + 1e-7)
        official = model.tail(merged, masks[-1].contiguous(), masked, valid)
        ours = model.network_forward(masked, valid)
    torch.testing.assert_close(ours, official, atol=1e-5, rtol=1e-5)


def network_schedule_for(model: RFRNet, masked: torch.Tensor, valid: torch.Tensor):
    x, m = model.head(masked, valid)
    steps = [(x, m), *model.reason(x, m)]
    return [s[0] for s in steps], [s[1] for s in steps]


def test_weights_are_shared_across_iterations() -> None:
    """More iterations add no parameters: every iteration reuses Pconv21/22, bn2 and the RFRModule."""
    assert sum(p.numel() for p in tiny(iterations=2).parameters()) == TINY_PARAMETERS
    assert sum(p.numel() for p in tiny(iterations=9).parameters()) == TINY_PARAMETERS
