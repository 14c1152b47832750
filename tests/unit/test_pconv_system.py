"""The reconstruction training system with PConv: overfit, checkpoint round trip, fine-tune stage, configs."""

from __future__ import annotations

import inspect
import math
from pathlib import Path

import hydra
import lightning as L
import pytest
import torch
from helpers import RepeatedSamples, quiet_trainer, recipe_system
from omegaconf import OmegaConf
from torch.utils.data import DataLoader

from inpaintbench import create_model, list_models
from inpaintbench.training.systems.base import SYSTEMS
from inpaintbench.training.systems.reconstruction import ReconstructionSystem
from inpaintbench.weights import WeightsError, save_safetensors

CONF = Path(__file__).resolve().parents[2] / "conf"


def fixed_batch(n=2, size=72):
    g = torch.Generator().manual_seed(0)
    coarse = torch.rand(n, 3, size // 8, size // 8, generator=g)
    image = torch.nn.functional.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False)
    mask = torch.zeros(n, 1, size, size)
    mask[0, :, 16:40, 20:44] = 1
    mask[1, :, 30:60, 4:30] = 1  # the hole touches no border; 72 px pads to 128 by reflection
    return {"image": image, "mask": mask, "id": [f"img{i}" for i in range(n)]}


class LossRecorder(L.Callback):
    def __init__(self):
        self.losses = []

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        self.losses.append(float(outputs["loss"]))


def trainer(tmp_path, steps, callbacks=()):
    return quiet_trainer(tmp_path, steps, enable_checkpointing=False, callbacks=list(callbacks))


def loader(steps):
    """`steps` copies of `fixed_batch()`."""
    batch = fixed_batch()
    return DataLoader(RepeatedSamples(batch["image"], batch["mask"], 2 * steps), batch_size=2)


def test_a_few_steps_on_one_batch_lower_the_loss_and_checkpoint_round_trips(tmp_path, standin_vgg):
    torch.manual_seed(0)
    # every loss term active; one cheap VGG tap (relu1_1) keeps the CPU test in seconds
    system = recipe_system("pconv_unet_tiny", lr=1e-3, perceptual_layers=["relu1_1"], perceptual_weights=standin_vgg)
    recorder = LossRecorder()
    fit = trainer(tmp_path, 15, [recorder])
    fit.fit(system, loader(15))
    first, last = recorder.losses[0], sum(recorder.losses[-3:]) / 3
    assert all(math.isfinite(v) for v in recorder.losses)
    assert last < 0.7 * first, recorder.losses

    path = tmp_path / "last.ckpt"
    fit.save_checkpoint(path)
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    hparams = checkpoint["hyper_parameters"]
    assert hparams["arch"] == "pconv_unet_tiny" and hparams["perceptual_backbone"] == "vgg16"
    assert not any(k.startswith("criterion.") for k in checkpoint["state_dict"])  # VGG is not stored
    rebuilt = SYSTEMS.get("pconv")(**hparams)
    rebuilt.load_state_dict(checkpoint["state_dict"], strict=True)
    image, mask = fixed_batch()["image"], fixed_batch()["mask"]
    system.eval()
    rebuilt.eval()
    assert torch.equal(rebuilt.generator.inpaint(image, mask), system.generator.inpaint(image, mask))
    assert rebuilt.loss_weights() == {"valid": 1.0, "hole": 6.0, "perceptual": 0.05, "style": 120.0, "tv": 0.1}


def test_finetune_freezes_encoder_batchnorm_statistics_only(tmp_path):
    torch.manual_seed(0)
    system = recipe_system("pconv_unet_tiny", stage="finetune", perceptual_backbone="none")
    optimizer = system.configure_optimizers()
    assert optimizer.param_groups[0]["lr"] == 5e-5
    system.train()
    net = system.generator.net
    assert not net.enc_2.bn.training and not net.enc_7.bn.training
    assert net.dec_2.bn.training and net.dec_7.bn.training
    before = {name: m.running_mean.clone() for name, m in net.named_modules() if isinstance(m, torch.nn.BatchNorm2d)}
    loss = system.compute_losses(fixed_batch())["total"]
    loss.backward()
    after = {name: m.running_mean for name, m in net.named_modules() if isinstance(m, torch.nn.BatchNorm2d)}
    assert all(torch.equal(before[n], after[n]) for n in before if n.startswith("enc_"))
    assert all(not torch.equal(before[n], after[n]) for n in before if n.startswith("dec_"))
    assert net.enc_3.bn.weight.grad is not None and net.enc_3.bn.weight.grad.abs().sum() > 0  # γ/β still train
    # the other reading: freeze γ/β too; they leave the optimiser
    strict = recipe_system("pconv_unet_tiny", stage="finetune", perceptual_backbone="none", freeze_bn_affine=True)
    trainable = {id(p) for group in strict.configure_optimizers().param_groups for p in group["params"]}
    assert id(strict.generator.net.enc_3.bn.weight) not in trainable
    assert id(strict.generator.net.dec_3.bn.weight) in trainable
    # RFR's scope: every BatchNorm
    every = recipe_system("pconv_unet_tiny", stage="finetune", perceptual_backbone="none", finetune_bn_scope="*")
    every.train()
    assert not every.generator.net.dec_2.bn.training
    # stage train freezes nothing
    plain = recipe_system("pconv_unet_tiny", perceptual_backbone="none").train()
    assert plain.generator.net.enc_2.bn.training and plain.configure_optimizers().param_groups[0]["lr"] == 2e-4


def test_finetune_freeze_holds_when_lightning_fits(tmp_path):
    """Lightning never calls `train()` during fit: the encoder statistics must still stay fixed."""
    torch.manual_seed(0)
    system = recipe_system("pconv_unet_tiny", stage="finetune", perceptual_backbone="none")
    net = system.generator.net
    norms = {name: m for name, m in net.named_modules() if isinstance(m, torch.nn.BatchNorm2d)}
    before = {name: (m.running_mean.clone(), m.running_var.clone()) for name, m in norms.items()}
    fit = trainer(tmp_path, 2)
    fit.fit(system, loader(2))
    assert fit.optimizers[0].param_groups[0]["lr"] == 5e-5
    for name, m in norms.items():
        unchanged = torch.equal(m.running_mean, before[name][0]) and torch.equal(m.running_var, before[name][1])
        assert unchanged == name.startswith("enc_"), name  # encoder frozen, decoder still updating
        assert m.training != name.startswith("enc_"), name


def test_backbone_choice_is_explicit(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(WeightsError, match=r"vgg16-397923af\.pth.*'none'"):
        recipe_system("pconv_unet_tiny")
    off = recipe_system("pconv_unet_tiny", perceptual_backbone="none")
    assert off.hparams.perceptual_backbone == "none"
    assert off.loss_weights() == {"valid": 1.0, "hole": 6.0, "perceptual": 0.0, "style": 0.0, "tv": 0.1}
    terms = off.compute_losses(fixed_batch())
    assert terms["perceptual"].item() == 0.0 and terms["style"].item() == 0.0
    with pytest.raises(ValueError, match="unknown perceptual backbone"):
        recipe_system("pconv_unet_tiny", perceptual_backbone="vgg19")
    with pytest.raises(ValueError, match="unknown training stage"):
        recipe_system("pconv_unet_tiny", stage="fine-tune", perceptual_backbone="none")


def test_init_weights_load_when_fitting_starts(tmp_path):
    torch.manual_seed(1)
    source = create_model("pconv_unet_tiny")
    path = tmp_path / "pconv_unet_tiny.train.safetensors"
    save_safetensors(source.state_dict(), path)
    system = recipe_system("pconv_unet_tiny", perceptual_backbone="none", init_weights=str(path))
    assert not torch.equal(system.generator.net.enc_1.conv.weight, source.net.enc_1.conv.weight)
    system.setup("fit")
    assert all(torch.equal(v, source.state_dict()[k]) for k, v in system.generator.state_dict().items())


@pytest.mark.parametrize("name", ["pconv_unet", "pconv_unet_512", "pconv_unet_tiny"])
def test_model_configs_compose_and_match_the_recipe(name):
    with hydra.initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = hydra.compose(overrides=[f"+model={name}"])
    model = OmegaConf.to_container(cfg.model, resolve=True)
    assert model["name"] == name
    assert name in list_models("pconv_*")  # registered; the full models are built in test_pconv.py
    system = dict(model["system"])
    assert SYSTEMS.get(system.pop("name")) is ReconstructionSystem
    accepted = set(inspect.signature(ReconstructionSystem.__init__).parameters)
    assert set(system) <= accepted
    assert (system["lr"], system["finetune_lr"]) == (2e-4, 5e-5)
    weights = [system[f"{k}_weight"] for k in ("valid", "hole", "perceptual", "style", "tv")]
    assert weights == [1.0, 6.0, 0.05, 120.0, 0.1]
    assert system["perceptual_layers"] == ["pool1", "pool2", "pool3"]
    assert model["train_masks"]["name"] == "irregular_strokes"
    # the port's defaults (issue 23): TV over the whole composite, Adam resumed for the fine-tune, batch 16
    assert (system["tv_region"], system["finetune_optimizer"], system["parametrisation"]) == ("image", "resume", "auto")
    assert model["recipe"] == {
        "batch_size": 16,
        "steps_per_iteration": 1,
        "iterations": {"train": 500_000, "finetune": 500_000},
    }
    if name == "pconv_unet_tiny":
        built = ReconstructionSystem(arch=name, arch_args=model["args"], **{**system, "perceptual_backbone": "none"})
        assert sum(p.numel() for p in built.generator.parameters()) == 405_076


def test_finetune_resumes_the_train_runs_adam_state_at_the_finetune_lr(tmp_path):
    """The port's `--finetune --resume`: weights *and* Adam moments of the train run, lr set to 5e-5."""
    torch.manual_seed(0)
    train = recipe_system("pconv_unet_tiny", perceptual_backbone="none")
    run = quiet_trainer(tmp_path / "train", 2, enable_checkpointing=True)
    run.fit(train, loader(2))
    checkpoint = next((tmp_path / "train").rglob("*.ckpt"))
    trained_adam = torch.load(checkpoint, weights_only=True)["optimizer_states"][0]

    finetune = recipe_system(
        "pconv_unet_tiny", stage="finetune", perceptual_backbone="none", init_weights=str(checkpoint)
    )
    assert finetune.hparams.parametrisation == "nvidia"  # the train run's, read from its hparams
    seen = {}

    class Spy(L.Callback):
        def on_train_batch_start(self, trainer, module, batch, batch_idx):
            optimizer = module.optimizers().optimizer
            seen["lr"] = [group["lr"] for group in optimizer.param_groups]
            first = optimizer.param_groups[0]["params"][0]
            seen["step"] = float(optimizer.state[first]["step"])
            seen["exp_avg"] = optimizer.state[first]["exp_avg"].clone()
            seen["weight"] = module.generator.net.enc_1.conv.weight.detach().clone()

    quiet_trainer(tmp_path / "finetune", 1, enable_checkpointing=False, callbacks=[Spy()]).fit(finetune, loader(1))
    assert seen["lr"] == [5e-5]
    assert seen["step"] == 2.0  # continues the train run's bias correction
    torch.testing.assert_close(seen["exp_avg"], trained_adam["state"][0]["exp_avg"])
    torch.testing.assert_close(seen["weight"], train.generator.net.enc_1.conv.weight.detach())

    exported = tmp_path / "train.safetensors"
    save_safetensors(train.generator.state_dict(), exported)
    refused = recipe_system("pconv_unet_tiny", stage="finetune", perceptual_backbone="none", init_weights=str(exported))
    with pytest.raises(WeightsError, match="finetune_optimizer=fresh"):
        refused.resume_optimizer_state(refused.configure_optimizers())
