"""The base LightningModule: a generator built by architecture *name* plus plain arguments.

Taking names, not built modules, keeps a checkpoint self-describing: its hyper-parameters are plain
Python values, so it reloads with `torch.load(weights_only=True)` and `SYSTEMS.get(name)(**hparams)`.
Subclasses (one per paper recipe) implement `training_step` and `configure_optimizers`, and describe
their active losses in `loss_weights()` for the model card.
"""

from __future__ import annotations

from typing import Any

import lightning as L
from torch import Tensor

from inpaintbench.registry import Registry

#: system name (the `system.name` of conf/model/*.yaml) -> LightningModule class
SYSTEMS: Registry[type[InpaintingSystem]] = Registry("training system")


class InpaintingSystem(L.LightningModule):
    """Holds `self.generator`, a registered learned inpainter built from `arch` and `arch_args`.

    Batches follow the contract: {"image": (N,3,H,W) in [0,1], "mask": (N,1,H,W) 1 = hole, "id": [...]}.
    """

    def __init__(self, arch: str, arch_args: dict[str, Any] | None = None, **hparams: Any) -> None:
        super().__init__()
        from inpaintbench.inpainter import create_model

        self.save_hyperparameters()
        self.generator = create_model(arch, **dict(arch_args or {}))

    def generator_state_dict(self) -> dict[str, Tensor]:
        """What the zoo exports as .safetensors: the generator alone, in our key layout."""
        return self.generator.state_dict()

    def loss_weights(self) -> dict[str, float]:
        """Active loss terms and their weights (0 or absent = disabled), recorded in the card."""
        raise NotImplementedError
