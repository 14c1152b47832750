"""Cost of an inpainter at 256x256: parameters, GFLOPs, CPU latency (batch 1), throughput (batch 8),
peak memory. Works for any inpainter; values that do not apply are None (a classical method has
no parameters, and its OpenCV work is invisible to the FLOP counter, so GFLOPs is None for it).

- GFLOPs: `torch.utils.flop_counter.FlopCounterMode` over one batch-1 `inpaint` call, / 1e9.
  (The counter counts a multiply-add as 2 FLOPs.)
- Latency: the fastest of `repeats` batch-1 calls after `warmup` calls, on the CPU. The minimum,
  not the median: other processes only ever add time, so the fastest call is the best estimate of
  the model's own cost on a shared machine (a median moved 100x with load here).
- Throughput: images/s of batch-8 calls (fastest call).
- Load average: `os.getloadavg()[0]` when the timings start, recorded beside them (`load_avg_1m`)
  so a reader can tell a quiet machine's figures from a loaded one's.
- Peak memory: on CUDA, `torch.cuda.max_memory_allocated` of one batch-1 call; on the CPU, the
  peak bytes of live tensors created during that call, tracked by a dispatch-mode counter (misses
  non-tensor allocations such as OpenCV's internal buffers).
"""

from __future__ import annotations

import copy
import os
import time
import weakref
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

SIZE = 256


def example_batch(n: int, size: int = SIZE, seed: int = 0) -> tuple[Tensor, Tensor]:
    """A seeded batch in the contract convention with a centred square hole (25 % of the image)."""
    generator = torch.Generator().manual_seed(seed)
    image = torch.rand(n, 3, size, size, generator=generator)
    mask = torch.zeros(n, 1, size, size)
    mask[..., size // 4 : 3 * size // 4, size // 4 : 3 * size // 4] = 1.0
    return image, mask


class _LiveTensorBytes(TorchDispatchMode):
    """Counts bytes of storages created by ops while they are alive; remembers the peak."""

    def __init__(self) -> None:
        super().__init__()
        self.live = 0
        self.peak = 0
        self._seen: dict[int, int] = {}

    def _release(self, key: int) -> None:
        size = self._seen.pop(key, 0)
        self.live -= size

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        out = func(*args, **(kwargs or {}))
        outputs = out if isinstance(out, (tuple, list)) else (out,)
        for tensor in outputs:
            if isinstance(tensor, Tensor) and tensor.device.type == "cpu":
                key = tensor.untyped_storage().data_ptr()
                if key and key not in self._seen:
                    size = tensor.untyped_storage().nbytes()
                    self._seen[key] = size
                    self.live += size
                    self.peak = max(self.peak, self.live)
                    weakref.finalize(tensor, self._release, key)
        return out


def count_parameters(model: Any) -> int | None:
    return sum(p.numel() for p in model.parameters()) if isinstance(model, nn.Module) else None


def count_gflops(model: Any, size: int = SIZE) -> float | None:
    image, mask = example_batch(1, size)
    counter = FlopCounterMode(display=False)
    with counter:
        model.inpaint(image, mask)
    total = counter.get_total_flops()
    return total / 1e9 if total > 0 else None


def _fastest_time(model: Any, batch: tuple[Tensor, Tensor], warmup: int, repeats: int) -> float:
    for _ in range(warmup):
        model.inpaint(*batch)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        model.inpaint(*batch)
        times.append(time.perf_counter() - start)
    return min(times)


def peak_memory_mb(model: Any, device: torch.device, size: int = SIZE) -> float:
    image, mask = example_batch(1, size)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        model.inpaint(image.to(device), mask.to(device))
        torch.cuda.synchronize(device)
        return torch.cuda.max_memory_allocated(device) / 2**20
    tracker = _LiveTensorBytes()
    with tracker:
        model.inpaint(image, mask)
    return tracker.peak / 2**20


def measure(model: Any, size: int = SIZE, warmup: int = 1, repeats: int = 3) -> dict[str, float | None]:
    """All efficiency columns for one inpainter, measured on a CPU copy of it."""
    cpu_model = model
    device = torch.device("cpu")
    if isinstance(model, nn.Module):
        device = next(iter(model.parameters()), torch.empty(0)).device
        cpu_model = copy.deepcopy(model).cpu().eval() if device.type != "cpu" else model.eval()
    params = count_parameters(cpu_model)
    load = os.getloadavg()[0]
    latency = _fastest_time(cpu_model, example_batch(1, size), warmup, repeats)
    batch_time = _fastest_time(cpu_model, example_batch(8, size), warmup, repeats)
    return {
        "params_m": params / 1e6 if params is not None else None,
        "gflops_256": count_gflops(cpu_model, size),
        "latency_ms_b1": latency * 1000.0,
        "throughput_b8": 8.0 / batch_time,
        "peak_memory_mb": peak_memory_mb(model, device, size),
        "load_avg_1m": load,
    }
