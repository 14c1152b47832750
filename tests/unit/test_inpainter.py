import numpy as np
import pytest
import torch

from inpaintbench.inpainter import (
    check_batch,
    complete,
    composite,
    crop_to,
    pad_to_multiple,
    quantize_8bit,
    to_uint8,
)


def _batch(seed: int = 0, h: int = 17, w: int = 23):
    g = torch.Generator().manual_seed(seed)
    image = torch.randint(0, 256, (2, 3, h, w), generator=g).float() / 255.0
    mask = (torch.rand(2, 1, h, w, generator=g) > 0.6).float()
    pred = torch.rand(2, 3, h, w, generator=g)
    return image, mask, pred


def test_complete_leaves_known_pixels_bit_identical():
    image, mask, pred = _batch()
    out = complete(image, mask, pred)
    known = mask.expand_as(image) == 0
    assert torch.equal(out[known], image[known])
    hole = ~known
    assert torch.equal(out[hole], quantize_8bit(pred)[hole])


def test_quantize_rounds_not_truncates_and_matches_png_levels():
    x = torch.tensor([0.0, 0.4 / 255, 0.6 / 255, 254.6 / 255, 1.2, -0.1])
    assert torch.equal(torch.round(quantize_8bit(x) * 255), torch.tensor([0.0, 0.0, 1.0, 255.0, 255.0, 0.0]))
    image, mask, pred = _batch(1)
    out = complete(image, mask, pred)
    from_png = to_uint8(out).permute(0, 3, 1, 2).float() / 255.0
    assert torch.equal(from_png, out)


@pytest.mark.parametrize("mode", ["reflect", "replicate", "constant", "symmetric"])
def test_pad_to_multiple_and_crop_back(mode):
    x = torch.arange(2 * 3 * 13 * 10, dtype=torch.float32).reshape(2, 3, 13, 10)
    padded, size = pad_to_multiple(x, 8, mode)
    assert padded.shape[-2:] == (16, 16)
    assert torch.equal(crop_to(padded, size), x)


def test_symmetric_padding_equals_numpy():
    x = np.random.default_rng(0).random((1, 1, 5, 6)).astype(np.float32)
    padded, _ = pad_to_multiple(torch.from_numpy(x), 8, "symmetric")
    expected = np.pad(x, ((0, 0), (0, 0), (0, 3), (0, 2)), mode="symmetric")
    np.testing.assert_array_equal(padded.numpy(), expected)


def test_check_batch_rejects_contract_violations():
    image, mask, _ = _batch()
    check_batch(image, mask)
    with pytest.raises(ValueError, match=r"mask must be \(N,1,H,W\)"):
        check_batch(image, mask.expand(-1, 3, -1, -1))
    with pytest.raises(ValueError, match="differ"):
        check_batch(image, mask[..., :-1])


def test_composite_never_leaks_a_non_finite_prediction_into_known_pixels():
    image, mask, pred = _batch(2)
    pred = torch.full_like(pred, float("nan"))
    out = composite(image, mask, pred)
    known = mask.expand_as(image) == 0
    assert torch.equal(out[known], image[known])
    assert torch.isnan(out[~known]).all()
