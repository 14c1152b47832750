"""Efficiency columns: exact parameter and FLOP counts on a known network, sane timings, any inpainter."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from inpaintbench import create_model
from inpaintbench.evaluation.efficiency import count_gflops, count_parameters, measure, peak_memory_mb
from inpaintbench.inpainter import LearnedInpainter


class OneConv(LearnedInpainter):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)

    def predict(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.conv(image)


def test_parameters_and_flops_of_a_known_network() -> None:
    model = OneConv().eval()
    assert count_parameters(model) == 3 * 3 * 9 + 3
    assert count_gflops(model) == pytest.approx(2 * 3 * 3 * 9 * 256 * 256 / 1e9)


def test_peak_memory_counts_live_tensors() -> None:
    peak = peak_memory_mb(OneConv().eval(), torch.device("cpu"))
    one_image = 3 * 256 * 256 * 4 / 2**20
    assert one_image <= peak < 20 * one_image


def test_measure_works_for_learned_and_classical_inpainters() -> None:
    learned = measure(OneConv().eval(), repeats=1)
    assert learned["params_m"] == pytest.approx(84 / 1e6) and learned["throughput_b8"] > 0
    classical = measure(create_model("opencv_telea"), repeats=1)
    assert classical["params_m"] is None and classical["gflops_256"] is None
    assert classical["latency_ms_b1"] > 0
