"""Training recipe for reconstruction-loss inpainters (PConv U-Net; RFR-Net reuses it): Adam, two stages.

Stage `train` (PConv: Adam lr 2e-4) trains everything. Stage `finetune` (PConv: lr 5e-5) builds a
fresh Adam at `finetune_lr` and freezes the BatchNorm layers whose qualified name in the generator
matches the glob `finetune_bn_scope` (PConv: `*enc_*`, the encoder; RFR-Net: `*`, every BN).

"Frozen" is read as the naoto0804 port (and RFR-Net's code) implement it: those BatchNorm layers
stay in eval mode, so they normalise with, and no longer update, their running statistics, while
their affine γ/β keep training. `freeze_bn_affine=True` also stops γ/β (the other reading of the
paper's "freeze the BN parameters in the encoder"). Lightning 2.x never calls `train()` during fit
(it restores each submodule's captured mode after validation instead), so the freeze is applied in
`on_train_batch_start`, before every batch, as well as in `train()` for direct use.

The losses are `losses.reconstruction.ReconstructionLoss` with plain-value weights. Perceptual and
style terms need an ImageNet VGG16 (`perceptual_backbone: vgg16`) read from the torch hub cache
(or from `perceptual_weights`, a file path); a missing file stops construction with one line naming
it. `perceptual_backbone: none` disables both terms explicitly; the choice is a hyper-parameter (so
it is in every checkpoint) and shows in `loss_weights()` as perceptual = style = 0.

`init_weights` (optional) is what fitting starts from (before any resume of the run itself): a
generator weight file read through `inpaintbench.weights` (an export, a converted or an official
release), or the `train` stage's Lightning checkpoint (`.../checkpoints/last.ckpt`). With
`finetune_optimizer: resume` (PConv's default, the port's `--finetune --resume`) a fine-tune started
from such a checkpoint also takes over its Adam moments and step counts, with the learning rate set to
`finetune_lr`; `fresh` (RFR-Net's code) builds a new Adam. A file of the naoto0804 port itself
(`{'n_iter', 'model', 'optimizer'}`, e.g. its release `1000000.pth`) resumes its Adam moments too,
converted per parameter (`systems.pconv_port_optimizer`), as the port's `--finetune --resume` does.
`resume` from a file that holds no optimiser state is refused (one line), so the choice is never
silently dropped.

Parametrisation (`parametrisation: nvidia | port | auto`, recorded resolved in the checkpoint and card).
The generator keeps one weight layout, NVIDIA's (`W·x·(C·k²/ΣM)`, the paper's eq. 1). The naoto0804
port trains `W_port = C·k²·W` (`W_port·x/ΣM`): the same function, but Adam's step does not scale with
the weights, so one step moves a port-trained layer C·k² times less than ours. `port` makes Adam take the
port's steps exactly: each partial-convolution weight gets its own group with lr/(C·k²) and eps·(C·k²)
(the gradient w.r.t. W is C·k² times the port's, so m̂/(√v̂+eps) is unchanged and the step in W equals
the port's step divided by C·k²). `nvidia` trains the paper's parametrisation (lr on W). `auto`
(default) picks `port` when `init_weights` came from the port (its release, a file converted from it,
or a checkpoint/export trained with `port`), else `nvidia`. Why per-layer learning rates rather than a
second weight layout: inference, stored weights, the converter and every golden output stay as they
are, and a file can never be evaluated under the wrong renormalisation.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.nn.modules.batchnorm import _BatchNorm

from inpaintbench.archs.layers.partial_conv import PartialConv2d
from inpaintbench.losses.reconstruction import ReconstructionLoss
from inpaintbench.losses.vgg import PERCEPTUAL_BACKBONES, build_perceptual_backbone
from inpaintbench.training.systems.base import SYSTEMS, InpaintingSystem

__all__ = ["ReconstructionSystem", "adam_param_groups", "weights_parametrisation"]

STAGES = ("train", "finetune")
PARAMETRISATIONS = ("nvidia", "port", "auto")
FINETUNE_OPTIMIZERS = ("resume", "fresh")
#: release layouts whose weights were trained in the port's parametrisation (archs/pconv.py)
PORT_LAYOUTS = ("pconv_port",)


def adam_param_groups(generator: torch.nn.Module, parametrisation: str) -> list[dict[str, Any]]:
    """Adam parameter groups; each carries `lr_scale` and `eps_scale` (1 except `port` partial-conv weights).

    `port`: one group per partial-convolution window size C·k² with lr_scale 1/(C·k²), eps_scale C·k²
    (module docstring); every other trainable parameter (biases, BatchNorm) in a group of scale 1.
    """
    if parametrisation not in ("nvidia", "port"):
        raise ValueError(f"unknown parametrisation '{parametrisation}' (known: nvidia, port)")
    scaled: dict[int, list[Tensor]] = {}
    scaled_ids: set[int] = set()
    if parametrisation == "port":
        for module in generator.modules():
            if isinstance(module, PartialConv2d) and module.weight.requires_grad:
                scaled.setdefault(module.window_size, []).append(module.weight)
                scaled_ids.add(id(module.weight))
    plain = [p for p in generator.parameters() if p.requires_grad and id(p) not in scaled_ids]
    groups: list[dict[str, Any]] = [{"params": plain, "lr_scale": 1.0, "eps_scale": 1.0}]
    for window, params in sorted(scaled.items()):
        groups.append({"params": params, "lr_scale": 1.0 / window, "eps_scale": float(window)})
    return [group for group in groups if group["params"]]


def weights_parametrisation(path: str | Path) -> str:
    """`port` or `nvidia`: the parametrisation a weight file (release, conversion, export, ckpt) was trained in."""
    path = Path(path)
    if path.suffix == ".ckpt":
        hparams = _read_lightning_checkpoint(path).get("hyper_parameters") or {}
        return "port" if hparams.get("parametrisation") == "port" else "nvidia"
    if path.suffix == ".safetensors":
        import yaml

        from inpaintbench.zoo import card_path

        card_file = card_path(path)
        card = yaml.safe_load(card_file.read_text()) if card_file.is_file() else {}
        card = card if isinstance(card, dict) else {}
        trained = (card.get("system") or {}).get("parametrisation")
        return "port" if card.get("layout") in PORT_LAYOUTS or trained == "port" else "nvidia"
    from inpaintbench.release import read_release

    return "port" if read_release(path).layout in PORT_LAYOUTS else "nvidia"


def _read_lightning_checkpoint(path: Path) -> dict[str, Any]:
    """A Lightning checkpoint through the restricted reader (weights_only)."""
    from inpaintbench.weights import WeightsError, read_checkpoint

    checkpoint = read_checkpoint(path)
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise WeightsError(f"{path}: not a Lightning checkpoint (no state_dict)")
    return checkpoint


@SYSTEMS.register("pconv")
class ReconstructionSystem(InpaintingSystem):
    """Generator + `ReconstructionLoss` + Adam; hyper-parameters are plain values (checkpoints load weights_only)."""

    def __init__(
        self,
        arch: str,
        arch_args: dict[str, Any] | None = None,
        *,
        stage: str,
        lr: float,
        finetune_lr: float,
        beta1: float,
        beta2: float,
        finetune_bn_scope: str,
        freeze_bn_affine: bool,
        valid_weight: float,
        hole_weight: float,
        perceptual_weight: float,
        style_weight: float,
        tv_weight: float,
        tv_region: str,
        loss_space: str,
        perceptual_backbone: str,
        perceptual_layers: Sequence[str],
        perceptual_weights: str | None = None,
        init_weights: str | None = None,
        parametrisation: str,
        finetune_optimizer: str,
    ) -> None:
        if stage not in STAGES:
            raise ValueError(f"unknown training stage '{stage}' (known: {', '.join(STAGES)})")
        if parametrisation not in PARAMETRISATIONS:
            raise ValueError(f"unknown parametrisation '{parametrisation}' (known: {', '.join(PARAMETRISATIONS)})")
        if finetune_optimizer not in FINETUNE_OPTIMIZERS:
            raise ValueError(
                f"unknown finetune_optimizer '{finetune_optimizer}' (known: {', '.join(FINETUNE_OPTIMIZERS)})"
            )
        if perceptual_backbone not in PERCEPTUAL_BACKBONES:
            build_perceptual_backbone(perceptual_backbone)  # raises the one-line error before any building
        # Plain Python values before save_hyperparameters (in the base) reads this frame: weights_only-safe.
        arch_args = dict(arch_args or {})
        perceptual_layers = [str(name) for name in perceptual_layers]
        super().__init__(arch, arch_args)
        if parametrisation == "auto":  # resolved once; the checkpoint and the card record the result
            resolved = weights_parametrisation(init_weights) if init_weights else "nvidia"
            self.hparams["parametrisation"] = resolved
        features = build_perceptual_backbone(perceptual_backbone, perceptual_layers, weights=perceptual_weights)
        enabled = features is not None
        self.criterion = ReconstructionLoss(
            valid=valid_weight,
            hole=hole_weight,
            perceptual=perceptual_weight if enabled else 0.0,
            style=style_weight if enabled else 0.0,
            tv=tv_weight,
            tv_region=tv_region,
            space=loss_space,
            features=features,
        )
        if stage == "finetune" and freeze_bn_affine:
            for module in self.frozen_batchnorms():
                module.requires_grad_(False)

    # -- stages ---------------------------------------------------------------------------------

    def frozen_batchnorms(self) -> list[_BatchNorm]:
        """BatchNorm layers of the generator frozen in the fine-tune stage (none in stage `train`)."""
        if self.hparams.stage != "finetune":
            return []
        scope = self.hparams.finetune_bn_scope
        return [
            module
            for name, module in self.generator.named_modules()
            if isinstance(module, _BatchNorm) and fnmatch.fnmatchcase(name, scope)
        ]

    def freeze_batchnorms(self) -> None:
        """Put the fine-tune stage's BatchNorm layers in eval mode: running statistics used, never updated."""
        for module in self.frozen_batchnorms():
            module.eval()

    def train(self, mode: bool = True) -> ReconstructionSystem:
        super().train(mode)
        if mode:
            self.freeze_batchnorms()
        return self

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        # Lightning keeps (and after validation restores) module modes without calling train(): freeze here.
        self.freeze_batchnorms()

    def setup(self, stage: str) -> None:
        if stage == "fit" and self.hparams.init_weights:
            path = Path(self.hparams.init_weights)
            if path.suffix == ".ckpt":
                state = _read_lightning_checkpoint(path)["state_dict"]
                generator = {k.removeprefix("generator."): v for k, v in state.items() if k.startswith("generator.")}
                self.generator.load_state_dict(generator)
            else:
                from inpaintbench.weights import load_weights

                load_weights(self.generator, path)

    def on_fit_start(self) -> None:
        """Fine-tune from a training run: take over its Adam state (unless this run resumes itself)."""
        hp = self.hparams
        if hp.stage != "finetune" or not hp.init_weights or hp.finetune_optimizer != "resume":
            return
        if self.trainer.ckpt_path:  # resuming this fine-tune run: Lightning restored its own optimiser
            return
        self.resume_optimizer_state(self.optimizers().optimizer)

    def resume_optimizer_state(self, optimizer: torch.optim.Optimizer) -> None:
        """Load the Adam state of `init_weights` (a Lightning checkpoint) and set every lr to `finetune_lr`."""
        from inpaintbench.weights import WeightsError

        path = Path(self.hparams.init_weights)
        if path.suffix != ".ckpt":
            from inpaintbench.training.systems.pconv_port_optimizer import is_port_checkpoint, load_port_adam_state
            from inpaintbench.weights import read_checkpoint

            raw = read_checkpoint(path)
            if is_port_checkpoint(raw):  # the port's own file: its Adam moments, converted per parameter
                load_port_adam_state(optimizer, self.generator, raw, path)
                self._set_learning_rates(optimizer)
                return
        states = _read_lightning_checkpoint(path).get("optimizer_states") if path.suffix == ".ckpt" else None
        if not states:
            raise WeightsError(
                f"{path}: holds no optimiser state to resume for the fine-tune (finetune_optimizer=resume); pass "
                "the train stage's checkpoints/last.ckpt or a port training file, or set "
                "model.system.finetune_optimizer=fresh"
            )
        try:
            optimizer.load_state_dict(states[0])
        except (ValueError, KeyError) as error:
            raise WeightsError(f"{path}: its optimiser state does not fit this fine-tune ({error})") from None
        self._set_learning_rates(optimizer)

    def _set_learning_rates(self, optimizer: torch.optim.Optimizer) -> None:
        lr = self.hparams.finetune_lr if self.hparams.stage == "finetune" else self.hparams.lr
        for group in optimizer.param_groups:
            group["lr"] = lr * group.get("lr_scale", 1.0)  # checkpoints written before issue 23 lack it

    # -- optimisation ---------------------------------------------------------------------------

    def configure_optimizers(self) -> torch.optim.Optimizer:
        """Adam over the trainable generator parameters, in the parametrisation's groups."""
        eps = 1e-8  # torch's (and the port's) default
        groups = adam_param_groups(self.generator, self.hparams.parametrisation)
        for group in groups:
            group["eps"] = eps * group["eps_scale"]
        optimizer = torch.optim.Adam(groups, lr=self.hparams.lr, betas=(self.hparams.beta1, self.hparams.beta2))
        self._set_learning_rates(optimizer)
        return optimizer

    def compute_losses(self, batch: dict[str, Any]) -> dict[str, Tensor]:
        image, mask = batch["image"], batch["mask"]
        return self.criterion(self.generator(image, mask), image, mask)

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> Tensor:
        terms = self.compute_losses(batch)
        batch_size = batch["image"].shape[0]
        self.log("train/loss", terms["total"], prog_bar=True, batch_size=batch_size)
        self.log_dict({f"train/{k}": v for k, v in terms.items() if k != "total"}, batch_size=batch_size)
        return terms["total"]

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> Tensor:
        terms = self.compute_losses(batch)
        self.log_dict({f"val/{k}": v for k, v in terms.items()}, batch_size=batch["image"].shape[0])
        return terms["total"]

    def loss_weights(self) -> dict[str, float]:
        """Active weights; perceptual and style are 0 when the backbone is `none`."""
        return {name: float(weight) for name, weight in self.criterion.weights.items()}
