"""LaMa's recipe against advimman/lama's own code: every term, one generator and one discriminator step.

tests/fixtures/training_parity/lama_official.json was written by the official losses, discriminator and
generator (make_lama_official.py beside it, README there) on the seeded weights and inputs of
tools/parity.py, in float64, with the module in train mode as pytorch-lightning 1.2.9 leaves it (so
`hrf_bn: train`): with a learnable image as the generator, and with the full `FFCResNetGenerator`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from helpers import RepeatedSamples, quiet_trainer, recipe_system
from torch.utils.data import DataLoader

from inpaintbench.losses.hrf_perceptual import DilatedResNet50
from inpaintbench.training.systems.lama import LamaSystem
from tools import parity

FIXTURE = json.loads((Path(__file__).parents[1] / "fixtures" / "training_parity" / "lama_official.json").read_text())
G, D = FIXTURE["generator"], FIXTURE["discriminator_step"]


def _inputs() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    n, size = len(FIXTURE["boxes"]), FIXTURE["size"]
    image = parity.smooth_images(FIXTURE["image_seed"], n, size).double()
    mask = parity.box_holes(n, size, FIXTURE["boxes"]).double()
    return image, mask, parity.smooth_images(FIXTURE["pred_seed"], n, size).double()


@pytest.fixture(scope="module")
def encoder_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("ade20k") / "encoder_epoch_20.pth"
    torch.save(parity.seeded_state_dict(FIXTURE["seed"], DilatedResNet50(deep_stem=True).state_dict()), path)
    return path


def _system(encoder_file: Path, hrf_bn: str = "train") -> LamaSystem:
    weights = FIXTURE["weights"]
    system = recipe_system(
        "lama_tiny",
        perceptual_backbone="ade20k_resnet50dilated",
        perceptual_weights=str(encoder_file),
        hrf_bn=hrf_bn,
        l1_weight_known=weights["l1_known"],
        l1_weight_missing=weights["l1_missing"],
        hrf_perceptual_weight=weights["resnet_pl"],
        adversarial_weight=weights["adversarial"],
        feature_matching_weight=weights["feature_matching"],
        r1_weight=FIXTURE["gp_coef"],
        lr=FIXTURE["lr"]["generator"],
        lr_discriminator=FIXTURE["lr"]["discriminator"],
        gradient_clip_val=FIXTURE["gradient_clip_val"],
        discriminator_channels=FIXTURE["discriminator"]["ndf"],
        discriminator_layers=FIXTURE["discriminator"]["n_layers"],
    )
    seeded = parity.seeded_state_dict(FIXTURE["seed"], system.discriminator.state_dict())
    system.discriminator.load_state_dict(seeded)  # official key names: same seeds, same values
    _, _, pred = _inputs()
    system.generator = parity.LearnedImage(pred)
    return system.double().train()


def test_generator_terms_equal_the_official_losses(encoder_file: Path) -> None:
    system = _system(encoder_file)  # hrf_bn: train, the recipes' default
    image, mask, pred = _inputs()
    system.discriminator.requires_grad_(False)
    # first the named deviation `hrf_bn: eval` (running statistics), as the fixture did before any
    # train-mode forward moved them: a different loss (the 397 vs 15,601)
    system.hrf_loss.bn = "eval"
    hrf_eval = float(system.generator_losses(image, mask, pred)["hrf_perceptual"].detach())
    assert hrf_eval == pytest.approx(G["hrf_perceptual_bn_eval"], rel=1e-9)
    system.hrf_loss.bn = "train"
    terms = {k: float(v.detach()) for k, v in system.generator_losses(image, mask, pred).items()}
    assert terms["l1"] == pytest.approx(G["l1"], rel=1e-9)
    assert terms["adversarial"] == pytest.approx(G["adversarial"], rel=1e-9)
    assert terms["feature_matching"] == pytest.approx(G["feature_matching"], rel=1e-9)
    # official: PL 1.2.9 trains with the encoder in train mode (batch statistics)
    assert terms["hrf_perceptual"] == pytest.approx(G["hrf_perceptual_bn_train"], rel=1e-9)
    assert hrf_eval > 10 * terms["hrf_perceptual"]


@pytest.mark.slow  # a Lightning fit with the ResNet50 backbone in float64: ~15 s on a loaded 2-core machine
def test_one_generator_and_one_discriminator_step_equal_the_official_ones(encoder_file: Path, tmp_path) -> None:
    system = _system(encoder_file)
    image, mask, pred = _inputs()
    before = {k: v.detach().clone() for k, v in system.discriminator.named_parameters()}
    loader = DataLoader(RepeatedSamples(image, mask), batch_size=len(image))
    trainer = quiet_trainer(tmp_path, 2, enable_checkpointing=False, precision="64-true")
    trainer.fit(system, loader)  # one batch: the generator step, then the discriminator step
    assert trainer.global_step == 2

    probe = parity.smooth_images(FIXTURE["probe_seed"], len(image), FIXTURE["size"]).double() - 0.5
    step = system.generator.pred.detach() - pred
    assert float(trainer.callback_metrics["g_loss"]) == pytest.approx(G["total"], rel=1e-9)
    assert float(step.abs().mean()) == pytest.approx(G["step_abs_mean"], rel=1e-6)
    assert float((step * probe).sum()) == pytest.approx(G["step_dot_probe"], rel=1e-6)

    metrics = trainer.callback_metrics
    assert float(metrics["d_loss"]) == pytest.approx(D["total"], rel=1e-9)
    assert float(metrics["train/d_r1"]) == pytest.approx(D["r1_weighted"], rel=1e-9)
    for name, value in system.discriminator.named_parameters():
        moved = float((value.detach() - before[name]).abs().sum())
        assert moved == pytest.approx(D["param_step_abs_sum"][name], rel=1e-6, abs=1e-9), name
    with torch.no_grad():
        logits, _ = system.discriminator(image)  # train mode: batch statistics
    assert float(logits.mean()) == pytest.approx(D["real_logits_mean_after"], rel=1e-9)


@pytest.mark.slow  # generator, discriminator and ResNet50 encoder in float64, forward twice: 7-19 s on 2 loaded cores
def test_one_step_of_the_full_generator_equals_the_official_one(encoder_file: Path) -> None:
    """The official `FFCResNetGenerator` at lama_tiny's widths, seeded by key, against our `lama_tiny`.

    Our generator keys are the official ones without the `generator.` prefix (the converter only strips
    it), so the same seeds give the same weights. The step is `training_step`'s generator half: the
    system's terms, backward, grad-norm clip (Lightning's `clip_gradients` calls `clip_grad_norm_`) and
    the system's Adam.
    """
    official = FIXTURE["generator_network_step"]
    system = _system(encoder_file)
    system.generator = recipe_system("lama_tiny", perceptual_backbone="none").generator
    generator = system.generator
    assert generator.generator_args == {k: official["generator"][k] for k in ("ngf", "n_blocks")}
    generator.load_state_dict(parity.seeded_state_dict(official["generator_seed"], generator.state_dict()))
    system.double().train()
    system.discriminator.requires_grad_(False)
    image, mask, _ = _inputs()

    def losses() -> dict[str, torch.Tensor]:
        return system.generator_losses(image, mask, generator(image, mask))

    opt_g, _ = system.configure_optimizers()
    before = {k: p.detach().clone() for k, p in generator.named_parameters()}
    opt_g.zero_grad()
    terms = losses()
    running = sum(
        float(v.sum()) for k, v in generator.state_dict().items() if k.endswith(("running_mean", "running_var"))
    )
    total = torch.stack(list(terms.values())).sum()
    total.backward()
    grad_norm = float(torch.nn.utils.clip_grad_norm_(list(generator.parameters()), FIXTURE["gradient_clip_val"]))
    opt_g.step()
    steps = {k: p.detach() - before[k] for k, p in generator.named_parameters()}

    for name, expected in official["terms"].items():
        assert float(terms[name].detach()) == pytest.approx(expected, rel=1e-9), name
    assert float(total.detach()) == pytest.approx(official["total"], rel=1e-9)
    assert grad_norm == pytest.approx(official["grad_norm_before_clip"], rel=1e-9)
    assert running == pytest.approx(official["bn_running_sum_after_forward"], rel=1e-10)
    # Adam's first step is ~lr·g/(|g| + eps): weights with a rounding-level gradient (|g| ~ eps) take steps
    # that differ between two float64 runs (see test_training_parity_rfr); all of them add up to < one lr.
    lr = FIXTURE["lr"]["generator"]
    assert sum(float(s.abs().sum()) for s in steps.values()) == pytest.approx(official["step_abs_sum"], abs=lr)
    by_block: dict[str, float] = {}
    for key, step in steps.items():
        block = ".".join(key.split(".")[:2])
        by_block[block] = by_block.get(block, 0.0) + float(step.abs().sum())
    assert by_block == pytest.approx(official["step_abs_sum_by_block"], abs=lr)
    dot = sum(float((s * parity.seeded_tensor(FIXTURE["probe_seed"], k, s)).sum()) for k, s in steps.items())
    assert dot == pytest.approx(official["step_dot_probe"], abs=lr)
    after = float(torch.stack(list(losses().values())).sum().detach())
    change = official["total"] - official["total_after"]  # the step's effect; equal to 1e-6 of it (same cause)
    assert after == pytest.approx(official["total_after"], abs=1e-6 * abs(change))
