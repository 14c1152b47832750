"""A transposed convolution computed as one matrix product and a col2im (`F.fold`) on small inputs.

`nn.ConvTranspose2d` on CPU runs oneDNN's deconvolution, which is slow on small maps with many
channels: RFR-Net's `dec_3` (1024 -> 512 channels, 16x16 -> 32x32 at 256 input) reached 44 GFLOP/s
at batch 1 where a 3x3 convolution reaches ~90 and this form ~73 (1 thread, this 2-core machine).
The arithmetic is the textbook one: every input pixel's C_in vector times the (C_in, C_out*kH*kW)
weight gives the output patch it contributes to, and `fold` adds the overlapping patches. Outputs
equal the module's up to float32 summation order.

The matrix product wins while the input has few pixels; with more (batch x H x W > `MAX_COLUMNS`)
oneDNN is as fast or faster, and the layer calls it. Measured on `dec_3`'s shape (time oneDNN /
matmul): 2.98 at 64 pixels, 1.50 at 256, 1.08-1.29 at 256-512, 0.90-1.15 at 576-1024, 0.90 at 2048.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

#: Above this many input pixels (batch x H x W) the layer runs oneDNN's deconvolution instead.
MAX_COLUMNS = 512


class MatmulConvTranspose2d(nn.Module):
    """`conv`'s function (groups 1, 2-D) as matmul + fold, with `conv`'s tensors under the same names.

    `weight` (and `bias`, parameter or buffer) are `conv`'s own, so a state dict keeps its keys. The
    weight matrix is derived once, when this module is built: later changes to `weight` are not seen
    (it is meant for a prepared, frozen model).
    """

    def __init__(self, conv: nn.ConvTranspose2d) -> None:
        super().__init__()
        if conv.groups != 1 or conv.padding_mode != "zeros" or conv.weight.ndim != 4:
            raise ValueError(f"MatmulConvTranspose2d needs a 2-D, groups=1, zero-padded layer, got {conv}")
        self.weight = conv.weight
        if "bias" in conv._parameters:
            self.bias = conv._parameters["bias"]
        else:  # a folded BatchNorm's shift (archs.inference): a buffer outside the state dict
            self.register_buffer("bias", conv.bias, persistent=False)
        self.kernel_size, self.stride, self.padding = conv.kernel_size, conv.stride, conv.padding
        self.dilation, self.output_padding = conv.dilation, conv.output_padding
        weight = conv.weight.detach()  # (C_in, C_out, kH, kW)
        self.register_buffer("matrix", weight.reshape(weight.shape[0], -1).t().contiguous(), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        batch, channels, height, width = x.shape
        if batch * height * width > MAX_COLUMNS or x.device.type != "cpu":
            return F.conv_transpose2d(
                x, self.weight, self.bias, self.stride, self.padding, self.output_padding, 1, self.dilation
            )
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        (dh, dw), (oph, opw) = self.dilation, self.output_padding
        size = (
            (height - 1) * sh - 2 * ph + dh * (kh - 1) + oph + 1,
            (width - 1) * sw - 2 * pw + dw * (kw - 1) + opw + 1,
        )
        patches = torch.matmul(self.matrix, x.reshape(batch, channels, height * width))  # (B, C_out*kH*kW, H*W)
        out = F.fold(patches, size, self.kernel_size, self.dilation, self.padding, self.stride)
        return out if self.bias is None else out.add_(self.bias.view(1, -1, 1, 1))
