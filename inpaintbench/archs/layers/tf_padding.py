"""TensorFlow 'SAME' padding for PyTorch convolutions, so TF-trained weights give TF outputs.

TF 'SAME' makes the output size ceil(n / stride) and splits the padding it needs as
`before = total // 2`, `after = total - before`. For stride 1 (any dilation) that is the symmetric
`dilation * (k - 1) / 2` PyTorch also uses, but a stride-2 convolution on an even input pads
**0 before / 1 after** (k=3) or **1 before / 2 after** (k=5); symmetric padding shifts the sampling
grid by half a pixel per layer (reference/deepfill_v1.md section 4).
"""

from __future__ import annotations

from torch import Tensor, nn

from inpaintbench.archs.layers.upsample import empty_like_format


def same_padding(size: int, kernel: int, stride: int = 1, dilation: int = 1) -> tuple[int, int]:
    """(before, after) zero padding of TF 'SAME' along one axis of length `size`."""
    out = -(-size // stride)
    effective = dilation * (kernel - 1) + 1
    total = max((out - 1) * stride + effective - size, 0)
    return total // 2, total - total // 2


def pad_same(x: Tensor, kernel: int, stride: int = 1, dilation: int = 1) -> Tensor:
    """Zero-pad the last two axes of `x` as TF 'SAME' would before a convolution."""
    top, bottom = same_padding(x.shape[-2], kernel, stride, dilation)
    left, right = same_padding(x.shape[-1], kernel, stride, dilation)
    if top == bottom == left == right == 0:
        return x
    height, width = x.shape[-2:]
    out = empty_like_format(x, (*x.shape[:-2], top + height + bottom, left + width + right))
    # zero only the border (F.pad fills the whole tensor, then copies the interior over it)
    for border in (out[..., :top, :], out[..., top + height :, :], out[..., :, :left], out[..., :, left + width :]):
        border.zero_()
    out[..., top : top + height, left : left + width].copy_(x)
    return out


class Conv2dSame(nn.Conv2d):
    """`nn.Conv2d` with TF 'SAME' padding computed from each input's size.

    Layers whose 'SAME' padding is symmetric whatever the input size (stride 1, odd effective
    kernel) use the built-in padding; the others pad explicitly in `forward`.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        dilation: int = 1,
        bias: bool = True,
    ) -> None:
        self.explicit_padding = stride != 1 or dilation * (kernel_size - 1) % 2 == 1
        padding = 0 if self.explicit_padding else dilation * (kernel_size - 1) // 2
        super().__init__(
            in_channels, out_channels, kernel_size, stride=stride, padding=padding, dilation=dilation, bias=bias
        )

    def forward(self, x: Tensor) -> Tensor:
        if self.explicit_padding:
            x = pad_same(x, self.kernel_size[0], self.stride[0], self.dilation[0])
        return super().forward(x)
