"""LaMa's loss terms and discriminator against hand computations (reference/lama.md sections 2-3)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from helpers import official_keys
from torch import nn

from inpaintbench.archs.patchgan import NLayerDiscriminator
from inpaintbench.losses.adversarial import (
    discriminator_loss,
    feature_matching_loss,
    generator_adversarial_loss,
    patch_mask,
    r1_penalty,
)
from inpaintbench.losses.hrf_perceptual import (
    BACKBONES,
    DilatedResNet50,
    HRFPerceptualLoss,
    build_hrf_backbone,
)
from inpaintbench.training.systems.lama import masked_l1
from inpaintbench.weights import WeightsError


def _softplus(x: float) -> float:
    return float(torch.log1p(torch.exp(torch.tensor(x, dtype=torch.float64))))


def test_discriminator_layout_count_and_output_grid() -> None:
    official = official_keys("lama_discriminator")
    disc = NLayerDiscriminator(3, 64, 4)
    assert sum(p.numel() for p in disc.parameters()) == 6_962_369
    state = {k: torch.randn(s) if s else torch.tensor(1) for k, s in official.items()}
    foreign = {"generator.model.1.ffc.convl2l.weight": torch.zeros(1)}
    converted = disc.checkpoint_filter_fn({"state_dict": {**state, **foreign}})
    disc.load_state_dict(converted, strict=True)
    logits, features = disc.eval()(torch.rand(1, 3, 256, 256))
    assert logits.shape == (1, 1, 19, 19)
    shapes = [(64, 129, 129), (128, 65, 65), (256, 33, 33), (512, 17, 17), (512, 18, 18)]
    assert [f.shape[1:] for f in features] == shapes


def test_masked_l1_matches_a_pixel_loop() -> None:
    torch.manual_seed(0)
    pred, target = torch.rand(2, 3, 4, 5), torch.rand(2, 3, 4, 5)
    mask = (torch.rand(2, 1, 4, 5) > 0.5).float()
    total = 0.0
    for b in range(2):
        for c in range(3):
            for y in range(4):
                for x in range(5):
                    weight = 0.5 if mask[b, 0, y, x] else 10.0
                    total += weight * abs(float(pred[b, c, y, x] - target[b, c, y, x]))
    assert masked_l1(pred, target, mask, 10.0, 0.5).item() == pytest.approx(total / pred.numel(), rel=1e-6)


def test_r1_penalty_of_a_linear_discriminator() -> None:
    """D(x) = 1x1 conv with weight w: the gradient of sum D is w at every pixel, so ||g||^2 = H W sum(w^2)."""
    weight = torch.tensor([0.5, -1.0, 2.0]).view(1, 3, 1, 1)
    images = torch.rand(4, 3, 6, 7, requires_grad=True)
    penalty = r1_penalty(F.conv2d(images, weight), images)
    assert penalty.item() == pytest.approx(6 * 7 * (0.25 + 1.0 + 4.0), rel=1e-6)
    assert penalty.requires_grad  # the graph is kept for the discriminator update


def test_discriminator_loss_labels_known_patches_of_fakes_real() -> None:
    real_logits = torch.tensor([[[[0.3, -0.2]]]])
    fake_logits = torch.tensor([[[[1.5, -0.7]]]])
    mask = torch.zeros(1, 1, 4, 8)
    mask[..., :, :4] = 1.0  # left patch is a hole, right patch is known
    total, parts = discriminator_loss(real_logits, fake_logits, mask, r1=0.25)
    real = (_softplus(-0.3) + _softplus(0.2)) / 2
    fake = (_softplus(1.5) + _softplus(0.7)) / 2  # hole: softplus(D) (fake); known: softplus(-D) (real)
    assert total.item() == pytest.approx(real + 0.25 + fake, rel=1e-6)
    assert parts["fake"].item() == pytest.approx(fake, rel=1e-6)
    plain, _ = discriminator_loss(real_logits, fake_logits, mask, mask_as_fake_target=False)
    assert plain.item() == pytest.approx(real + (_softplus(1.5) + _softplus(-0.7)) / 2, rel=1e-6)


def test_patch_mask_is_nearest_and_generator_loss_is_non_saturating() -> None:
    mask = torch.zeros(1, 1, 8, 8)
    mask[..., :4, :] = 1
    assert patch_mask(mask, torch.zeros(1, 1, 2, 2)).flatten().tolist() == [1, 1, 0, 0]
    logits = torch.tensor([-1.0, 0.0, 2.0])
    expected = (_softplus(1.0) + _softplus(0.0) + _softplus(-2.0)) / 3
    assert generator_adversarial_loss(logits).item() == pytest.approx(expected, rel=1e-6)


def test_feature_matching_is_the_mean_of_layer_mses() -> None:
    torch.manual_seed(0)
    fake = [torch.rand(2, 3, 4, 4, requires_grad=True), torch.rand(2, 5, 2, 2, requires_grad=True)]
    real = [torch.rand(2, 3, 4, 4), torch.rand(2, 5, 2, 2)]
    expected = (((fake[0] - real[0]) ** 2).mean() + ((fake[1] - real[1]) ** 2).mean()) / 2
    torch.testing.assert_close(feature_matching_loss(fake, real), expected)
    with pytest.raises(ValueError):
        feature_matching_loss(fake[:1], real)


class _StandInBackbone(nn.Module):
    """A two-stage conv net with BatchNorm standing in for the ResNet50-dilated encoder."""

    def __init__(self) -> None:
        super().__init__()
        self.stage1 = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU())
        self.stage2 = nn.Sequential(nn.Conv2d(4, 6, 3, stride=2, padding=1), nn.ReLU())

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        first = self.stage1(x)
        return [first, self.stage2(first)]


def test_hrf_loss_sums_layer_mses_of_normalised_images() -> None:
    torch.manual_seed(0)
    backbone = _StandInBackbone()
    loss = HRFPerceptualLoss(backbone, bn="eval").train()
    assert not backbone.training and not any(p.requires_grad for p in backbone.parameters())
    pred = torch.rand(2, 3, 16, 16, requires_grad=True)
    target = torch.rand(2, 3, 16, 16)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    fp, ft = backbone((pred - mean) / std), backbone((target - mean) / std)
    expected = F.mse_loss(fp[0], ft[0]) + F.mse_loss(fp[1], ft[1])
    value = loss(pred, target)
    torch.testing.assert_close(value, expected)
    value.backward()
    assert pred.grad is not None and pred.grad.abs().sum() > 0
    assert loss(target, target).item() == 0.0


def test_hrf_bn_train_uses_batch_statistics_only_while_training() -> None:
    """`hrf_bn: train` (official under PL 1.2.9): BatchNorm on each forward's batch statistics in train mode."""
    torch.manual_seed(0)
    backbone = _StandInBackbone()
    with torch.no_grad():
        backbone.stage1[1].running_mean.fill_(0.3)
        backbone.stage1[1].running_var.fill_(4.0)
    loss = HRFPerceptualLoss(backbone, bn="train")  # built in train mode, as a LightningModule's children are
    pred, target = torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 16)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)

    def expected(train: bool) -> torch.Tensor:
        net = copy.deepcopy(backbone).train(train)  # train-mode forwards update running statistics, as official
        fp, ft = net((pred - mean) / std), net((target - mean) / std)
        return F.mse_loss(fp[0], ft[0]) + F.mse_loss(fp[1], ft[1])

    batch_statistics = loss(pred, target)
    torch.testing.assert_close(batch_statistics, expected(True))
    assert not torch.allclose(batch_statistics, expected(False))
    loss.eval()
    torch.testing.assert_close(loss(pred, target), expected(False))
    backbone.eval()  # someone else's eval() is overridden by the module's own mode at the next forward
    loss.train()
    torch.testing.assert_close(loss(pred, target), expected(True))
    with pytest.raises(ValueError, match="hrf_bn"):
        HRFPerceptualLoss(_StandInBackbone(), bn="frozen")


def test_hrf_backbone_none_and_missing_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    assert build_hrf_backbone("none") is None
    expected = tmp_path / "ade20k" / "ade20k-resnet50dilated-ppm_deepsup" / "encoder_epoch_20.pth"
    with pytest.raises(WeightsError, match="perceptual_backbone=none") as error:
        build_hrf_backbone("ade20k_resnet50dilated")
    assert str(expected) in str(error.value)
    with pytest.raises(ValueError, match="unknown HRF perceptual backbone"):
        build_hrf_backbone("vgg19")


def test_hrf_backbone_loads_the_csail_encoder_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A CSAIL-layout file (deep stem, no BN counters as in pre-0.4.1 saves) loads strictly and frozen."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    torch.manual_seed(0)
    source = DilatedResNet50(deep_stem=True)
    state = {k: v for k, v in source.state_dict().items() if not k.endswith("num_batches_tracked")}
    path = BACKBONES["ade20k_resnet50dilated"].path()
    path.parent.mkdir(parents=True)
    torch.save(state, path)
    backbone = build_hrf_backbone("ade20k_resnet50dilated")
    assert torch.equal(backbone.state_dict()["conv3.weight"], state["conv3.weight"])
    assert torch.equal(backbone.state_dict()["layer4.2.bn3.running_var"], state["layer4.2.bn3.running_var"])
    features = backbone.eval()(torch.rand(1, 3, 64, 64))
    assert [f.shape[1:] for f in features] == [(256, 16, 16), (512, 8, 8), (1024, 8, 8), (2048, 8, 8)]


def test_hrf_backbone_rejects_a_wrong_hash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    path = BACKBONES["imagenet_resnet50dilated"].path()
    path.parent.mkdir(parents=True)
    torch.save({"conv1.weight": torch.zeros(1)}, path)
    with pytest.raises(WeightsError, match="sha256"):
        build_hrf_backbone("imagenet_resnet50dilated")


def test_dilated_resnet_matches_torchvision_dilation() -> None:
    """Our torchvision-stem variant equals torchvision's resnet50 with layer3/4 dilated (output stride 8)."""
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    reference = torchvision.models.resnet50(replace_stride_with_dilation=[False, True, True]).eval()
    ours = DilatedResNet50(deep_stem=False).eval()
    ours.load_state_dict({k: v for k, v in reference.state_dict().items() if not k.startswith("fc.")})
    x = torch.rand(1, 3, 48, 48)
    expected = reference.maxpool(reference.relu(reference.bn1(reference.conv1(x))))
    stages = (reference.layer1, reference.layer2, reference.layer3, reference.layer4)
    for layer, feature in zip(stages, ours(x), strict=True):
        expected = layer(expected)
        torch.testing.assert_close(feature, expected)
