"""Load time and peak memory of `read_release` on full-size synthetic releases.

No real weights exist on this machine, so each release is rebuilt at its real size in its real
layout: official key names and shapes (tests/fixtures/keys/*_keys.tsv), independent random
tensors, the optimizer state / evaluator networks the published files carry (LaMa: ~205 MB of
evaluators beside the generator; PConv and RFR: full Adam moments, on cuda:0 tags; PConv in the
legacy format). The LaMa files carry a real OmegaConf `DictConfig` as `hyper_parameters` (the one
in tests/fixtures/lama_omegaconf, made by omegaconf 2.1.2, re-pickled by the installed omegaconf)
and are saved at pickle protocol 2 as torch 1.8 saved them, so the unpickler meets the same
`__builtin__` compat names, type objects and node metadata as in the published `best.ckpt`.
Each read runs in a fresh subprocess so its peak RSS is its own; the time is the median of
`--repeats` such reads, and the load average before and after is recorded (the machine is shared).

    python -m tools.benchmarks.release [--repeats 3] [--out results/benchmarks/release_load.json]

Development tool: it uses the release-file builders the tests use (tools/release_files.py).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import types
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path

import omegaconf
import torch
from omegaconf import open_dict

REPO = Path(__file__).resolve().parents[2]
EVALUATOR_BYTES = 205_000_000  # LaMa's LPIPS + Inception evaluators (reference/lama_state_dict.md)
LAMA_FIXTURE = REPO / "tests" / "fixtures" / "lama_omegaconf" / "best.ckpt"


def _support():
    from tools import release_files

    return release_files


def _full_state(rows: list[tuple[str, tuple[int, ...]]]) -> OrderedDict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    state: OrderedDict[str, torch.Tensor] = OrderedDict()
    for key, shape in rows:
        if key.endswith("num_batches_tracked"):
            state[key] = torch.tensor(1, dtype=torch.int64)
        elif key.endswith("mask_conv.weight"):
            state[key] = torch.ones(shape)  # PConv's frozen all-ones parameters, as in the released file
        else:
            state[key] = torch.randn(shape, generator=gen)
    return state


def _adam(state: dict[str, torch.Tensor]) -> dict:
    params = [k for k, v in state.items() if v.is_floating_point() and "mask_conv" not in k]  # frozen: no moments
    return {
        "state": {
            i: {"step": 1, "exp_avg": torch.randn_like(state[k]), "exp_avg_sq": torch.rand_like(state[k])}
            for i, k in enumerate(params)
        },
        "param_groups": [{"lr": 2e-4, "params": list(range(len(params)))}],
    }


@contextlib.contextmanager
def lightning_standin() -> Iterator[None]:
    """Lightning's ModelCheckpoint module path, for the callback key (the real omegaconf stays in place)."""
    names = ("pytorch_lightning", "pytorch_lightning.callbacks", "pytorch_lightning.callbacks.model_checkpoint")
    saved = {name: sys.modules.get(name) for name in names}
    try:
        for name in names:
            sys.modules[name] = types.ModuleType(name)
        sys.modules[names[-1]].ModelCheckpoint = _support().ModelCheckpoint  # type: ignore[attr-defined]
        yield
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


def real_dictconfig(n_blocks: int):
    """The fixture's OmegaConf DictConfig (a real one: read with omegaconf, our own committed file)."""
    with lightning_standin():
        fixture = torch.load(LAMA_FIXTURE, weights_only=False)
    config = fixture["hyper_parameters"]
    with open_dict(config):
        config.generator.ngf, config.generator.n_blocks = 64, n_blocks
    return config


def build_all(root: Path) -> dict[str, Path]:
    support = _support()
    files = {}
    for variant, n_blocks in (("lama_big", 18), ("lama_fourier", 9)):
        generator = _full_state(support.read_keys(variant))
        state = OrderedDict(generator)
        state["val_evaluator.scores.fid.model.blob"] = torch.randn(EVALUATOR_BYTES // 4)
        config = real_dictconfig(n_blocks)
        ckpt = {
            "state_dict": state,
            "callbacks": {support.ModelCheckpoint: {"best_model_score": torch.tensor(1.0)}},
            "hyper_parameters": config,
            "hparams_type": type(config),
            "pytorch-lightning_version": "1.2.9",
        }
        path = root / variant / "best.ckpt"
        path.parent.mkdir(parents=True)
        with lightning_standin():
            torch.save(ckpt, path, pickle_protocol=2)
        files[variant] = path
    model = _full_state(support.read_keys("pconv"))
    optimizer = _adam(model)
    moments = [t for s in optimizer["state"].values() for t in s.values() if torch.is_tensor(t)]
    files["pconv_unet"] = root / "1000000.pth"
    with support.saved_on_gpu(list(model.values()) + moments):
        torch.save(
            {"n_iter": 1000000, "model": model, "optimizer": optimizer},
            files["pconv_unet"],
            _use_new_zipfile_serialization=False,
        )
    generator = _full_state(support.read_keys("rfrnet"))
    optimizer = _adam(generator)
    moments = [t for s in optimizer["state"].values() for t in s.values() if torch.is_tensor(t)]
    files["rfr_net"] = root / "checkpoint_celeba.pth"
    with support.saved_on_gpu(moments):
        torch.save({"n_iter": 1, "generator": generator, "optimizer_G": optimizer}, files["rfr_net"])
    rows = [r for r in support.read_keys("deepfill_v1") if r[0].startswith(("coarse_", "fine_"))]
    port = _full_state(rows)
    variables = {}
    for key, value in port.items():
        scope = support.deepfill_tf_scope(key)
        if key.endswith(".weight"):
            variables[f"{scope}/kernel"] = value.permute(2, 3, 1, 0).contiguous().numpy()
        else:
            variables[f"{scope}/bias"] = value.numpy()
    support.write_tensorbundle(root / "release_places2_256" / "snap-0", variables)
    files["deepfill_v1"] = root / "release_places2_256"
    return files


_CHILD = """
import sys, time, json
import torch
from inpaintbench.release import read_release
def hwm():  # peak RSS of this process image (VmHWM starts afresh at exec, unlike ru_maxrss)
    line = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0]
    return int(line.split()[1])
base = hwm()
start = time.perf_counter()
content = read_release(sys.argv[1])
seconds = time.perf_counter() - start
numel = sum(t.numel() for t in content.state_dict.values())
peak = hwm()
start = time.perf_counter()
checksum = sum(float(t.double().sum()) for t in content.state_dict.values())  # page every kept tensor in
touch_seconds = time.perf_counter() - start
peak_touched = hwm()
print(json.dumps({"seconds": seconds, "peak_rss_mb": peak / 1024, "rss_after_imports_mb": base / 1024,
                  "touch_seconds": touch_seconds, "peak_rss_touched_mb": peak_touched / 1024,
                  "layout": content.layout, "keys": len(content.state_dict), "kept_mb": numel * 4 / 1e6}))
"""


def measure(path: Path, repeats: int) -> dict:
    """Median read time over `repeats` fresh processes (the machine is shared); memory from the first."""
    runs = [_measure_once(path) for _ in range(repeats)]
    row = dict(runs[0])
    row["seconds"] = statistics.median(r["seconds"] for r in runs)
    row["touch_seconds"] = statistics.median(r["touch_seconds"] for r in runs)
    row["seconds_runs"] = [round(r["seconds"], 3) for r in runs]
    return row


def _measure_once(path: Path) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", _CHILD, str(path)],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
        env={"PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"},
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(REPO / "results" / "benchmarks" / "release_load.json"))
    parser.add_argument("--repeats", type=int, default=3, help="fresh-process reads per file (median time)")
    # peak RSS comes from /proc/self/status (Linux)
    args = parser.parse_args()
    rows = {}
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        for model, path in build_all(Path(tmp)).items():
            size = sum(p.stat().st_size for p in ([path] if path.is_file() else path.iterdir()))
            rows[model] = {"file_mb": size / 1e6, **measure(path, args.repeats)}
            print(
                f"{model:<13} file {size / 1e6:7.1f} MB  kept {rows[model]['kept_mb']:6.1f} MB  "
                f"read {rows[model]['seconds']:5.2f} s (median)  peak RSS {rows[model]['peak_rss_mb']:6.0f} MB, "
                f"{rows[model]['peak_rss_touched_mb']:6.0f} MB with every kept tensor paged in "
                f"(+{rows[model]['touch_seconds']:.2f} s; imports alone {rows[model]['rss_after_imports_mb']:.0f} MB)"
            )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "torch": torch.__version__,
        "python": platform.python_version(),
        "cpu_threads": 1,
        "repeats": args.repeats,
        "cpu_count": os.cpu_count(),
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        "omegaconf": omegaconf.__version__,
        "lama_pickle_protocol": 2,
        "unpickler": "pickle._Unpickler subclass (pure Python, CPython's reference implementation)",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    out.write_text(json.dumps({"meta": meta, "results": rows}, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
