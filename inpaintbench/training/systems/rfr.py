"""RFR-Net's training recipe (official `model.py`, reference/rfrnet.md sections 4-5), registered as SYSTEMS "rfr".

Loss, with M = 1 on valid pixels, `out` the raw (unclamped) output and comp = out*(1-M) + gt*M:
    1 * mean(|gt-out| M) + 6 * mean(|gt-out| (1-M))                    size-averaged over B*3*H*W
  + 0.05 * sum_{pool1,2,3} mean|phi(gt)-phi(x)|            for x in (out, comp)
  + 120  * sum_{pool1,2,3} mean|G(gt)-G(x)| / (C*H*W),     G = F F^T per sample, x in (out, comp)
  + 0.1  * (mean|d_y y| + mean|d_x y|) with y = comp*(1-M): the hole region only, averaged over the image.
phi is torchvision VGG16 `features[:5]`, `[5:10]`, `[10:17]` (after pool1, pool2, pool3), frozen,
fed [0,1] images *without* ImageNet normalisation, as the official code does.

This is the PConv reconstruction recipe (`systems.reconstruction.ReconstructionSystem`, loss
`losses.reconstruction.ReconstructionLoss`, VGG from `losses.vgg`) with three choices set to RFR-Net's
code, which is all that differs:
- `loss_space: unit`: every term, VGG input included, on [0,1] images (the PConv port normalises);
- `tv_region: hole`: TV of comp*(1-M), not of the dilated hole / whole composite;
- `finetune_bn_scope: "*"`: fine-tuning (`stage: finetune`, Adam at 5e-5) freezes the running
  statistics of *every* BatchNorm in the generator, not only the encoder's (official `train(finetune=True)`);
- `finetune_optimizer: fresh`: the fine-tune builds a new Adam (official `model.py`), where the PConv port
  resumes the training run's moments; `parametrisation: nvidia`: RFR-Net's partial convolution is NVIDIA's.

Optimiser: Adam, default betas, lr 2e-4 (train) / 5e-5 (finetune); no schedule. Batch 6 at 256 is set
by the data config. Perceptual/style need ImageNet VGG16 weights from the torch hub cache
(`vgg16-397923af.pth`); without them construction stops with one line naming the file, unless
`perceptual_backbone: none` disables both terms explicitly (recorded in hparams and `loss_weights`).
"""

from __future__ import annotations

from inpaintbench.training.systems.base import SYSTEMS
from inpaintbench.training.systems.reconstruction import ReconstructionSystem

__all__ = ["RFRSystem"]


@SYSTEMS.register("rfr")
class RFRSystem(ReconstructionSystem):
    """The reconstruction system under RFR-Net's name; its choices are conf/recipe/rfr.yaml's (the one
    home of every recipe value), so training an RFR-Net config records "rfr" as its system."""
