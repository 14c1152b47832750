"""The naoto0804 PConv port's Adam state -> our optimiser's, so a fine-tune resumes the port's moments.

The port's files (`util/io.save_ckpt`, and its release `1000000.pth`) hold `{'n_iter', 'model',
'optimizer'}`; `optimizer` is `torch.optim.Adam(filter(requires_grad, model.parameters()))`'s state
dict, indexed by position among the trainable parameters in registration order: per block
`conv.input_conv.weight`, `conv.input_conv.bias`, then `bn.weight`, `bn.bias` (the all-ones
`mask_conv` does not train). That order is read from the file's own `model` keys, so no layout of
the port is assumed here beyond the key names.

Mapping per parameter (exact): our partial-convolution weight is `W = W_port / (C·k²)` (the converter,
`archs.pconv.convert_port_state_dict`), so the gradient w.r.t. W is `C·k²` times the port's and the
Adam moments are `exp_avg·C·k²` and `exp_avg_sq·(C·k²)²`; biases and BatchNorm affine parameters are
the same in both. The step count is kept. Under `parametrisation: port` (lr/(C·k²), eps·C·k²), the
next step then equals the port's step divided by C·k² for every weight, i.e. the port's fine-tune
exactly.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

__all__ = ["is_port_checkpoint", "load_port_adam_state", "port_trainable_keys"]

_BUFFERS = ("running_mean", "running_var", "num_batches_tracked")


def is_port_checkpoint(raw: Any) -> bool:
    """A port training file: `model` in the port's layout and an `optimizer` state dict."""
    model = raw.get("model") if isinstance(raw, Mapping) else None
    return (
        isinstance(model, Mapping)
        and any(str(k).endswith("conv.input_conv.weight") for k in model)
        and isinstance(raw.get("optimizer"), Mapping)
    )


def port_trainable_keys(model: Mapping[str, Tensor]) -> list[str]:
    """The port's trainable parameters in its optimiser's order (its `model` keys less mask convs and buffers)."""
    return [k for k in model if not k.endswith("conv.mask_conv.weight") and k.rsplit(".", 1)[-1] not in _BUFFERS]


def _our_key_and_scale(port_key: str, value: Tensor) -> tuple[str, float]:
    block, _, rest = port_key.partition(".")
    if rest == "conv.input_conv.weight":
        return f"net.{block}.conv.weight", float(math.prod(value.shape[1:]))
    if rest == "conv.input_conv.bias":
        return f"net.{block}.conv.bias", 1.0
    return f"net.{block}.{rest}", 1.0


def load_port_adam_state(
    optimizer: torch.optim.Optimizer, generator: torch.nn.Module, raw: Mapping[str, Any], source: str | Path
) -> None:
    """Set `optimizer`'s Adam state (over `generator`'s parameters) from a port file's `optimizer`.

    Every parameter of `optimizer` must have a port counterpart with a state; one line otherwise.
    """
    from inpaintbench.weights import WeightsError

    model, port_state = raw["model"], raw["optimizer"]
    keys = port_trainable_keys(model)
    indices = [i for group in port_state.get("param_groups", []) for i in group.get("params", [])]
    if len(indices) != len(keys):
        raise WeightsError(
            f"{source}: its optimizer state covers {len(indices)} parameters, its model has {len(keys)} trainable ones"
        )
    by_ours = {}
    for index, key in zip(indices, keys, strict=True):
        ours, scale = _our_key_and_scale(key, model[key])
        by_ours[ours] = (port_state.get("state", {}).get(index), scale, key)
    names = {id(p): name for name, p in generator.named_parameters()}
    ours_state = optimizer.state_dict()
    converted: dict[int, dict[str, Tensor]] = {}
    position = 0
    for group in optimizer.param_groups:
        for param in group["params"]:
            name = names.get(id(param))
            state, scale, port_key = by_ours.get(name, (None, 1.0, None))
            if port_key is None or not state:
                raise WeightsError(
                    f"{source}: no Adam state for {name} in the port's optimizer; set finetune_optimizer=fresh"
                )
            if tuple(state["exp_avg"].shape) != tuple(param.shape):
                raise WeightsError(
                    f"{source}: Adam state of {port_key} has shape {tuple(state['exp_avg'].shape)}, "
                    f"{name} has {tuple(param.shape)}"
                )
            converted[position] = {
                "step": torch.tensor(float(state["step"])),
                "exp_avg": state["exp_avg"].double() * scale,  # scaled in float64, cast to the param's dtype on load
                "exp_avg_sq": state["exp_avg_sq"].double() * scale**2,
            }
            position += 1
    optimizer.load_state_dict({"state": converted, "param_groups": ours_state["param_groups"]})
