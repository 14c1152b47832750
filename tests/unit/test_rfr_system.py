"""RFR-Net training system: the official loss terms, backbone handling, fine-tune BN freezing, overfit, checkpoints."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import pytest
import torch
from helpers import RepeatedSamples, model_config, quiet_trainer, recipe_system
from torch import nn
from torch.utils.data import DataLoader

from inpaintbench.losses.reconstruction import ReconstructionLoss
from inpaintbench.losses.vgg import VGG16_FILE, build_perceptual_backbone
from inpaintbench.model_registry import load_families
from inpaintbench.training.systems.base import SYSTEMS
from inpaintbench.training.systems.reconstruction import ReconstructionSystem
from inpaintbench.training.systems.rfr import RFRSystem
from inpaintbench.training.train import build_system
from inpaintbench.weights import WeightsError


class PoolTaps(nn.Module):
    """Runs `blocks` in sequence and returns each block's output (VGG16's features[:5], [5:10], [10:17])."""

    def __init__(self, *blocks: nn.Sequential) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(blocks)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outputs = []
        for block in self.blocks:
            x = block(x)
            outputs.append(x)
        return outputs


def stand_in_vgg() -> PoolTaps:
    """A random-init network with VGG16's layer pattern (17 layers, pools at 4, 9, 16) and few channels."""
    torch.manual_seed(7)

    def block(cin: int, cout: int, convs: int) -> nn.Sequential:
        layers: list[nn.Module] = []
        for i in range(convs):
            layers += [nn.Conv2d(cin if i == 0 else cout, cout, 3, padding=1), nn.ReLU()]
        return nn.Sequential(*layers, nn.MaxPool2d(2))

    return PoolTaps(block(3, 4, 2), block(4, 6, 2), block(6, 8, 3))


def rfr_loss(extractor: nn.Module) -> ReconstructionLoss:
    """The loss exactly as the registered "rfr" system configures it, with `extractor` as VGG."""
    recipe = recipe_system("rfr_net_tiny", perceptual_backbone="none").hparams
    weights = {k: recipe[f"{k}_weight"] for k in ("valid", "hole", "perceptual", "style", "tv")}
    return ReconstructionLoss(**weights, tv_region=recipe.tv_region, space=recipe.loss_space, features=extractor)


def fixed_batch(n: int = 2, size: int = 32) -> dict:
    generator = torch.Generator().manual_seed(0)
    image = torch.rand(n, 3, size, size, generator=generator)
    mask = torch.zeros(n, 1, size, size)
    mask[:, :, 8:20, 10:24] = 1.0
    return {"image": image, "mask": mask, "id": [f"img{i}" for i in range(n)]}


@pytest.fixture
def system(standin_vgg: str):
    """Builds the tiny model with 2 recurrent iterations (same structure, a third of the cost) and a stand-in VGG
    file read by the real loader (VGG16 widths, random weights)."""

    def build(**overrides) -> RFRSystem:
        load_families()
        torch.manual_seed(0)
        args = {"perceptual_weights": standin_vgg, **overrides}
        return recipe_system("rfr_net_tiny", arch_args={"iterations": 2}, **args)

    return build


# --- loss terms against the formulas written out ------------------------------------------------------


def test_loss_terms_match_the_official_formulas() -> None:
    torch.manual_seed(1)
    gt, out = torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 16) * 1.4 - 0.2
    hole = (torch.rand(2, 1, 16, 16) > 0.5).float()
    extractor = stand_in_vgg()
    terms = rfr_loss(extractor)(out, gt, hole)

    valid3, hole3 = (1 - hole).expand(-1, 3, -1, -1), hole.expand(-1, 3, -1, -1)
    comp = out * hole3 + gt * valid3
    n_elements = gt.numel()
    assert terms["valid"].item() == pytest.approx(float(((gt - out).abs() * valid3).sum()) / n_elements, rel=1e-5)
    assert terms["hole"].item() == pytest.approx(float(((gt - out).abs() * hole3).sum()) / n_elements, rel=1e-5)
    y = (comp * hole3).double()
    tv = sum(
        abs(float(y[b, c, i + 1, j] - y[b, c, i, j]))
        for b in range(2)
        for c in range(3)
        for i in range(15)
        for j in range(16)
    ) / (2 * 3 * 15 * 16)
    tv += sum(
        abs(float(y[b, c, i, j + 1] - y[b, c, i, j]))
        for b in range(2)
        for c in range(3)
        for i in range(16)
        for j in range(15)
    ) / (2 * 3 * 16 * 15)
    assert terms["tv"].item() == pytest.approx(tv, rel=1e-5)

    perceptual, style = 0.0, 0.0
    with torch.no_grad():
        target = extractor(gt)
        for x in (out, comp):
            for fx, ft in zip(extractor(x), target, strict=True):
                perceptual += float((fx - ft).abs().mean())
                _, c, h, w = fx.shape
                for b in range(2):
                    gram_x = [[float((fx[b, i] * fx[b, j]).sum()) for j in range(c)] for i in range(c)]
                    gram_t = [[float((ft[b, i] * ft[b, j]).sum()) for j in range(c)] for i in range(c)]
                    difference = sum(abs(gram_x[i][j] - gram_t[i][j]) for i in range(c) for j in range(c))
                    style += difference / (c * h * w) / (2 * c * c)
    assert terms["perceptual"].item() == pytest.approx(perceptual, rel=1e-5)
    assert terms["style"].item() == pytest.approx(style, rel=1e-4)
    weighted = (
        1 * terms["valid"] + 6 * terms["hole"] + 0.05 * terms["perceptual"] + 120 * terms["style"] + 0.1 * terms["tv"]
    )
    assert terms["total"].item() == pytest.approx(weighted.item(), rel=1e-6)


def test_backbone_none_disables_perceptual_and_style_explicitly() -> None:
    load_families()
    built = recipe_system("rfr_net_tiny", perceptual_backbone="none")
    assert built.loss_weights() == {"valid": 1.0, "hole": 6.0, "perceptual": 0.0, "style": 0.0, "tv": 0.1}
    assert built.hparams.perceptual_backbone == "none"
    batch = fixed_batch()
    terms = built.criterion(torch.rand(2, 3, 32, 32), batch["image"], batch["mask"])
    assert set(terms) == {"valid", "hole", "perceptual", "style", "tv", "total"}
    assert terms["perceptual"].item() == 0.0 and terms["style"].item() == 0.0  # present, exactly 0, weight 0
    pixel_terms = 1 * terms["valid"] + 6 * terms["hole"] + 0.1 * terms["tv"]
    assert terms["total"].item() == pytest.approx(pixel_terms.item(), rel=1e-6)


def test_missing_vgg_weights_stop_with_the_file_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    expected = tmp_path / "hub" / "checkpoints" / VGG16_FILE
    with pytest.raises(WeightsError, match=rf"{expected}.*perceptual_backbone=none"):
        build_perceptual_backbone("vgg16")
    with pytest.raises(WeightsError, match=VGG16_FILE):
        recipe_system("rfr_net_tiny")  # the configured default is vgg16
    expected.parent.mkdir(parents=True)
    expected.write_bytes(b"not the published file")
    with pytest.raises(WeightsError, match="does not match the expected 397923af"):
        build_perceptual_backbone("vgg16")
    with pytest.raises(ValueError, match="perceptual_backbone"):
        build_perceptual_backbone("vgg19")
    with pytest.raises(ValueError, match="perceptual_backbone"):
        recipe_system("rfr_net_tiny", perceptual_backbone="vgg19")


# --- training -------------------------------------------------------------------------------------------


def repeated(item: dict, length: int) -> DataLoader:
    """`length` samples cycling through `item`'s two images, in batches of 2."""
    return DataLoader(RepeatedSamples(item["image"], item["mask"], length), batch_size=2)


def trainer(tmp_path: Path, steps: int) -> L.Trainer:
    return quiet_trainer(tmp_path, steps, enable_checkpointing=False, deterministic=True)


def batch_loss(built: RFRSystem, item: dict) -> float:
    built.train()
    with torch.no_grad():
        out = built.generator(item["image"], item["mask"])
        return built.criterion(out, item["image"], item["mask"])["total"].item()


def test_a_few_steps_on_one_batch_lower_the_loss(tmp_path: Path, system) -> None:
    item = fixed_batch()
    built = system(lr=2e-3)
    before = batch_loss(built, item)
    trainer(tmp_path, 8).fit(built, repeated(item, 16))
    after = batch_loss(built, item)
    assert after < 0.8 * before, (before, after)


def test_checkpoint_round_trips_with_weights_only(tmp_path: Path, system, standin_vgg: str) -> None:
    item = fixed_batch()
    built = system()
    run = trainer(tmp_path, 2)
    run.fit(built, repeated(item, 4))
    path = tmp_path / "rfr.ckpt"
    run.save_checkpoint(path)
    content = torch.load(path, weights_only=True)
    hparams = dict(content["hyper_parameters"])
    assert hparams["arch"] == "rfr_net_tiny" and hparams["perceptual_backbone"] == "vgg16"
    assert hparams["perceptual_weights"] == standin_vgg
    assert (hparams["loss_space"], hparams["tv_region"], hparams["finetune_bn_scope"]) == ("unit", "hole", "*")
    rebuilt = SYSTEMS.get("rfr")(**hparams)
    rebuilt.load_state_dict(content["state_dict"], strict=True)
    assert all(k.startswith("generator.") for k in content["state_dict"])  # no backbone weights inside
    built.eval(), rebuilt.eval()
    assert torch.equal(
        built.generator.inpaint(item["image"], item["mask"]), rebuilt.generator.inpaint(item["image"], item["mask"])
    )


def test_finetune_freezes_every_batchnorm_and_uses_the_finetune_lr(tmp_path: Path, system) -> None:
    item = fixed_batch()
    built = system(stage="finetune")
    norms = [m for m in built.generator.modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(norms) == 18  # head 2, loop 1, RFRModule 11, tail 4: all of them, not only the encoder's
    stats = {id(m): (m.running_mean.clone(), m.running_var.clone()) for m in norms}
    weights_before = built.generator.Pconv21.weight.detach().clone()
    run = trainer(tmp_path, 2)
    run.fit(built, repeated(item, 4))
    assert run.optimizers[0].param_groups[0]["lr"] == 5e-5
    assert all(not m.training for m in norms) and built.generator.Pconv21.training
    for m in norms:
        assert torch.equal(m.running_mean, stats[id(m)][0]) and torch.equal(m.running_var, stats[id(m)][1])
    assert not torch.equal(built.generator.Pconv21.weight, weights_before)  # still learning
    with pytest.raises(ValueError, match="stage"):
        system(stage="fine-tune")


def test_model_configs_build_the_system() -> None:
    for name in ("rfr_net", "rfr_net_tiny"):
        cfg = model_config(name)
        assert cfg["name"] == name and cfg["system"]["name"] == "rfr"
        assert cfg["args"]["iterations"] == 6
        assert cfg["train_masks"]["name"] == "irregular_strokes"
        recipe = {k: v for k, v in cfg["system"].items() if k != "name"}
        assert recipe["perceptual_backbone"] == "vgg16"
        assert (recipe["lr"], recipe["finetune_lr"]) == (2e-4, 5e-5)
        assert (recipe["loss_space"], recipe["tv_region"], recipe["finetune_bn_scope"]) == ("unit", "hole", "*")
        weights = [recipe[f"{k}_weight"] for k in ("valid", "hole", "perceptual", "style", "tv")]
        assert weights == [1.0, 6.0, 0.05, 120.0, 0.1]
        assert recipe["perceptual_layers"] == ["pool1", "pool2", "pool3"] and not recipe["freeze_bn_affine"]
        if name == "rfr_net_tiny":  # through the training task's own builder
            cfg["system"]["perceptual_backbone"] = "none"
            built = build_system(cfg)
            assert isinstance(built, RFRSystem) and built.generator.iterations == 6
            assert isinstance(built, ReconstructionSystem)  # one recipe, RFR's choices
            assert (built.criterion.space, built.criterion.tv_region) == ("unit", "hole")
            assert built.loss_weights() == {"valid": 1.0, "hole": 6.0, "perceptual": 0.0, "style": 0.0, "tv": 0.1}
