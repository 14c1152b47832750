"""The classical baselines honour the contract and are real inpainters on real photos."""

import pytest
import torch

from inpaintbench import create_model
from inpaintbench.data import build_dataset
from inpaintbench.inpainter import complete
from inpaintbench.masks import get_protocol


@pytest.fixture(scope="module")
def sample_batch(repo_root):
    dataset = build_dataset({"root": str(repo_root / "data" / "sample" / "eval"), "size": 256})
    protocol = get_protocol({"name": "lama_thick", "seed": 0})
    picks = list(range(0, len(dataset), 6))
    images, masks = [], []
    for index in picks:
        item = dataset[index]
        sample = protocol.samples([item["id"]])[0]
        images.append(item["image"])
        masks.append(torch.from_numpy(protocol.render(sample, 256, 256)).float()[None])
    return torch.stack(images), torch.stack(masks)


@pytest.mark.parametrize("name", ["opencv_telea", "opencv_ns"])
def test_baseline_changes_only_holes_and_beats_mean_fill(name, sample_batch):
    image, mask = sample_batch
    pred = create_model(name).inpaint(image, mask)
    completed = complete(image, mask, pred)
    known = mask.expand_as(image) == 0
    assert torch.equal(completed[known], image[known])
    mean_colour = (image * (1 - mask)).sum((2, 3), keepdim=True) / (1 - mask).sum((2, 3), keepdim=True)
    mean_fill = complete(image, mask, mean_colour.expand_as(image))
    hole = mask.expand_as(image)
    l1_baseline = ((completed - image).abs() * hole).sum() / hole.sum()
    l1_mean = ((mean_fill - image).abs() * hole).sum() / hole.sum()
    assert l1_baseline < 0.9 * l1_mean, (l1_baseline, l1_mean)


def test_radius_is_validated():
    with pytest.raises(ValueError, match="radius"):
        create_model("opencv_ns", radius=0)
