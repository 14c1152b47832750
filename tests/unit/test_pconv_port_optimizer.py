"""Fine-tuning from a naoto0804 port file resumes its Adam state: after conversion, one step of ours is
the port's own step (torch Adam on the port's parameters with the file's state) divided by C·k²."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from helpers import recipe_system

from inpaintbench.training.systems.pconv_port_optimizer import port_trainable_keys
from inpaintbench.training.systems.reconstruction import ReconstructionSystem
from inpaintbench.weights import WeightsError
from tools import parity

FINETUNE_LR = 5e-5
STEP = 777  # Adam steps already taken by the port run


def _port_order(keys: list[str]) -> list[str]:
    """The port's registration order (net.py): enc_1..enc_N, dec_5..dec_N, then dec_4, dec_3, dec_2, dec_1."""
    block = lambda key: key.partition(".")[0]  # noqa: E731
    n = max(int(block(k).split("_")[1]) for k in keys)
    blocks = (
        [f"enc_{i}" for i in range(1, n + 1)]
        + [f"dec_{i}" for i in range(5, n + 1)]
        + [f"dec_{i}" for i in (4, 3, 2, 1)]
    )
    return sorted(keys, key=lambda k: blocks.index(block(k)))


def _port_file(tmp_path: Path, our_state: dict[str, torch.Tensor], drop: str | None = None) -> tuple[Path, dict]:
    unordered = parity.pconv_port_state_dict(5, our_state)
    model = {k: unordered[k] for k in _port_order(list(unordered))}
    trainable = port_trainable_keys(model)
    g = torch.Generator().manual_seed(3)
    state = {
        i: {
            "step": torch.tensor(float(STEP)),
            "exp_avg": 1e-3 * torch.randn(model[k].shape, generator=g),
            "exp_avg_sq": 1e-6 * torch.rand(model[k].shape, generator=g),
        }
        for i, k in enumerate(trainable)
        if k != drop
    }
    groups = [
        {"params": list(range(len(trainable))), "lr": 2e-4, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0}
    ]
    path = tmp_path / "1000000.pth"
    torch.save({"n_iter": STEP, "model": model, "optimizer": {"state": state, "param_groups": groups}}, path)
    return path, model


def _ours(port_key: str, model: dict[str, torch.Tensor]) -> tuple[str, int]:
    """Our parameter for a port key, and C·k² for partial-conv weights (W = W_port / C·k²), else 1."""
    block, _, rest = port_key.partition(".")
    if rest == "conv.input_conv.weight":
        return f"net.{block}.conv.weight", math.prod(model[port_key].shape[1:])
    return f"net.{block}.{rest.replace('conv.input_conv.', 'conv.')}", 1


def _system(path: Path) -> ReconstructionSystem:
    system = recipe_system(
        "pconv_unet_tiny", stage="finetune", perceptual_backbone="none", init_weights=str(path), finetune_lr=FINETUNE_LR
    )
    system.setup("fit")
    return system.double()


def test_one_step_after_resuming_a_port_file_equals_the_port_step(tmp_path: Path) -> None:
    our_state = recipe_system("pconv_unet_tiny", perceptual_backbone="none").generator.state_dict()
    path, model = _port_file(tmp_path, our_state)
    system = _system(path)
    assert system.hparams.parametrisation == "port"  # auto, from the port layout
    optimizer = system.configure_optimizers()
    system.resume_optimizer_state(optimizer)

    # The port's own step: torch Adam over its trainable parameters, with the file's state and lr 5e-5.
    raw = torch.load(path, weights_only=True)
    trainable = port_trainable_keys(model)
    port_params = [torch.nn.Parameter(model[k].double().clone()) for k in trainable]
    port_adam = torch.optim.Adam(port_params, lr=2e-4, betas=(0.9, 0.999))
    port_adam.load_state_dict(raw["optimizer"])
    for group in port_adam.param_groups:
        group["lr"] = FINETUNE_LR  # train.py: --finetune sets every group's lr
    g = torch.Generator().manual_seed(11)
    port_grads = {k: torch.randn(model[k].shape, generator=g, dtype=torch.float64) for k in trainable}
    for param, key in zip(port_params, trainable, strict=True):
        param.grad = port_grads[key]
    port_adam.step()

    ours = dict(system.generator.named_parameters())
    before = {name: p.detach().clone() for name, p in ours.items()}
    for key in trainable:  # dL/dW = C·k² · dL/dW_port for partial-conv weights, equal for the rest
        name, scale = _ours(key, model)
        ours[name].grad = port_grads[key] * scale
    optimizer.step()

    assert len(trainable) == len(ours)
    for param, key in zip(port_params, trainable, strict=True):
        port_step = param.detach() - model[key].double()
        name, scale = _ours(key, model)
        our_step = ours[name].detach() - before[name]
        # float64; atol: (W + ΔW) - W rounds at 1e-16·|W|, times C·k² (<= 576): 1e-8 of a step of ~1e-4
        torch.testing.assert_close(our_step * scale, port_step, rtol=1e-9, atol=1e-12, msg=key)
    assert float(optimizer.state[ours["net.enc_1.conv.weight"]]["step"]) == STEP + 1


def test_a_port_file_missing_a_parameters_state_is_one_line(tmp_path: Path) -> None:
    our_state = recipe_system("pconv_unet_tiny", perceptual_backbone="none").generator.state_dict()
    path, _ = _port_file(tmp_path, our_state, drop="dec_1.conv.input_conv.bias")
    system = _system(path)
    with pytest.raises(WeightsError, match=r"1000000\.pth: no Adam state for net\.dec_1\.conv\.bias.*fresh") as error:
        system.resume_optimizer_state(system.configure_optimizers())
    assert "\n" not in str(error.value)
