"""Reconstruction losses against brute-force numpy/scipy versions, and the VGG16 taps against torchvision."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import torchvision_vgg16_features
from scipy import ndimage

from inpaintbench.losses.reconstruction import ReconstructionLoss, gram_matrix, total_variation
from inpaintbench.losses.vgg import VGG16_FILE, VGG16Features, build_vgg16_features
from inpaintbench.weights import WeightsError

MEAN = np.array([0.485, 0.456, 0.406]).reshape(1, 3, 1, 1)
STD = np.array([0.229, 0.224, 0.225]).reshape(1, 3, 1, 1)
PAPER = {"valid": 1.0, "hole": 6.0, "perceptual": 0.05, "style": 120.0, "tv": 0.1}  # Liu et al. 2018, Eq. 7
PAPER_CHOICES = {"tv_region": "dilated_hole", "space": "imagenet"}  # the paper's TV region; VGG's ImageNet input


def batch(seed=0, n=2, h=12, w=10):
    g = torch.Generator().manual_seed(seed)
    output = torch.rand(n, 3, h, w, generator=g) * 1.2 - 0.1  # unclamped, like a raw prediction
    target = torch.rand(n, 3, h, w, generator=g)
    hole = torch.zeros(n, 1, h, w)
    hole[0, :, 3:8, 2:6] = 1
    hole[1, :, 0:4, 6:10] = 1  # touches the border
    return output, target, hole


class TinyFeatures(torch.nn.Module):
    """A stand-in extractor: two random conv taps."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(7)
        self.a = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.b = torch.nn.Conv2d(4, 5, 3, stride=2, padding=1)

    def forward(self, x):
        a = torch.relu(self.a(x))
        return [a, torch.relu(self.b(a))]


def np_gram(f):
    n, c, h, w = f.shape
    flat = f.reshape(n, c, h * w)
    return np.einsum("nci,ndi->ncd", flat, flat) / (c * h * w)


def test_pixel_terms_match_numpy_in_both_spaces():
    output, target, hole = batch()
    for space in ("imagenet", "unit"):
        loss = ReconstructionLoss(**{**PAPER, "perceptual": 0, "style": 0}, space=space, tv_region="image")
        terms = loss(output, target, hole)
        out, gt, m = output.double().numpy(), target.double().numpy(), hole.double().numpy()
        if space == "imagenet":
            out, gt = (out - MEAN) / STD, (gt - MEAN) / STD
        valid_ref = np.abs((1 - m) * (out - gt)).sum() / out.size  # size-averaged: all N·C·H·W elements
        hole_ref = np.abs(m * (out - gt)).sum() / out.size
        comp = m * out + (1 - m) * gt
        tv_ref = np.abs(np.diff(comp, axis=3)).mean() + np.abs(np.diff(comp, axis=2)).mean()
        assert terms["valid"].item() == pytest.approx(valid_ref, rel=1e-5)
        assert terms["hole"].item() == pytest.approx(hole_ref, rel=1e-5)
        assert terms["tv"].item() == pytest.approx(tv_ref, rel=1e-5)
        assert terms["total"].item() == pytest.approx(valid_ref + 6 * hole_ref + 0.1 * tv_ref, rel=1e-5)


def test_dilated_hole_tv_matches_brute_force_pairs():
    output, target, hole = batch(seed=1)
    comp = (hole * output + (1 - hole) * target).double().numpy()
    total = 0.0
    for b in range(comp.shape[0]):
        region = ndimage.binary_dilation(hole[b, 0].numpy() > 0, structure=np.ones((3, 3)))
        h, w = region.shape
        for i in range(h):
            for j in range(w):
                if j + 1 < w and region[i, j] and region[i, j + 1]:
                    total += np.abs(comp[b, :, i, j + 1] - comp[b, :, i, j]).sum()
                if i + 1 < h and region[i, j] and region[i + 1, j]:
                    total += np.abs(comp[b, :, i + 1, j] - comp[b, :, i, j]).sum()
    ref = total / comp.size
    got = total_variation(torch.from_numpy(comp).float(), hole, "dilated_hole")
    assert got.item() == pytest.approx(ref, rel=1e-5)


def test_tv_regions_share_the_gradient_and_hole_region_differs_at_the_border():
    output, target, hole = batch(seed=2, h=12, w=12)  # square: both directions have H·(W-1) pairs
    grads = {}
    for region in ("dilated_hole", "image", "hole"):
        pred = output.clone().requires_grad_()
        comp = hole * pred + (1 - hole) * target
        total_variation(comp, hole, region).backward()
        grads[region] = pred.grad
    n, w = comp.numel(), comp.shape[-1]
    # the paper's P-restricted sum and the port's whole-image mean differ by constants only
    torch.testing.assert_close(grads["dilated_hole"] * n, grads["image"] * (n // w) * (w - 1))
    # RFR's comp⊙(1-M): same in the hole interior, different where a hole pixel touches known ones
    interior = (-torch.nn.functional.max_pool2d(-hole, 3, 1, 1)) * (hole > 0)
    edge = (hole > 0) & (interior == 0)
    assert torch.allclose(grads["hole"] * (interior > 0), grads["image"] * (interior > 0))
    assert not torch.allclose(grads["hole"] * edge, grads["image"] * edge)


def test_gram_matrix_matches_numpy():
    f = torch.randn(2, 4, 5, 3)
    torch.testing.assert_close(gram_matrix(f).double(), torch.from_numpy(np_gram(f.double().numpy())))


def test_perceptual_and_style_match_manual_computation():
    output, target, hole = batch(seed=3, h=16, w=16)
    features = TinyFeatures()
    loss = ReconstructionLoss(**PAPER, features=features, space="imagenet", tv_region="image")
    terms = loss(output, target, hole)
    to_norm = lambda x: (x - torch.tensor(MEAN).float()) / torch.tensor(STD).float()  # noqa: E731
    out, gt = to_norm(output), to_norm(target)
    comp = hole * out + (1 - hole) * gt
    perceptual, style = 0.0, 0.0
    with torch.no_grad():
        for f_out, f_comp, f_gt in zip(features(out), features(comp), features(gt), strict=True):
            perceptual += (f_out - f_gt).abs().mean().item() + (f_comp - f_gt).abs().mean().item()
            g_gt = np_gram(f_gt.double().numpy())
            style += np.abs(np_gram(f_out.double().numpy()) - g_gt).mean()
            style += np.abs(np_gram(f_comp.double().numpy()) - g_gt).mean()
    assert terms["perceptual"].item() == pytest.approx(perceptual, rel=1e-4)
    assert terms["style"].item() == pytest.approx(style, rel=1e-4)
    expected = (
        terms["valid"] + 6 * terms["hole"] + 0.05 * terms["perceptual"] + 120 * terms["style"] + 0.1 * terms["tv"]
    )
    assert terms["total"].item() == pytest.approx(expected.item(), rel=1e-6)


def test_loss_is_zero_for_a_perfect_prediction_and_extractor_stays_frozen():
    _, target, hole = batch(seed=4, h=16, w=16)
    features = TinyFeatures()
    terms = ReconstructionLoss(**PAPER, **PAPER_CHOICES, features=features)(target.clone(), target, hole)
    assert all(terms[k].item() == pytest.approx(0.0, abs=1e-6) for k in ("valid", "hole", "perceptual", "style"))
    assert not any(p.requires_grad for p in features.parameters())


def test_feature_terms_need_an_extractor_or_explicit_zero_weights():
    with pytest.raises(ValueError, match="no feature extractor"):
        ReconstructionLoss(**PAPER, **PAPER_CHOICES, features=None)
    terms = ReconstructionLoss(**{**PAPER, "perceptual": 0.0, "style": 0.0}, **PAPER_CHOICES)(*batch())
    assert terms["perceptual"].item() == 0.0 and terms["style"].item() == 0.0
    with pytest.raises(ValueError, match="unknown TV region"):
        ReconstructionLoss(**{**PAPER, "perceptual": 0, "style": 0}, space="imagenet", tv_region="border")


def test_vgg16_taps_match_torchvision(tmp_path):
    vgg, state = torchvision_vgg16_features(seed=11)
    path = tmp_path / "vgg.pth"
    torch.save(state, path)
    ours = build_vgg16_features(("pool1", "relu2_2", "pool3"), weights=path)
    assert ours.state_dict() == {}  # non-persistent: never in a checkpoint
    x = torch.randn(2, 3, 32, 24)
    taps = ours(x)
    with torch.no_grad():
        torch.testing.assert_close(taps[0], vgg[:5](x))
        torch.testing.assert_close(taps[1], vgg[:9](x))
        torch.testing.assert_close(taps[2], vgg[:17](x))


def test_vgg16_hub_cache_missing_or_wrong_file_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(WeightsError, match=f"{VGG16_FILE}.*'none'"):
        build_vgg16_features()
    checkpoints = tmp_path / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    torch.save(torchvision_vgg16_features(seed=11)[1], checkpoints / VGG16_FILE)
    with pytest.raises(WeightsError, match="does not match the expected 397923af"):
        build_vgg16_features()
    with pytest.raises(ValueError, match="unknown VGG16 layers"):
        VGG16Features(("pool9",))
