"""Load time and peak memory of `read_release` on full-size synthetic releases.

No real weights exist on this machine, so each release is rebuilt at its real size in its real
layout: official key names and shapes (tests/fixtures/keys/*_keys.tsv), independent random
tensors, the optimizer state / evaluator networks the published files carry (LaMa: ~205 MB of
evaluators beside the generator; PConv and RFR: full Adam moments, on cuda:0 tags; PConv in the
legacy format). Each read runs in a fresh subprocess so its peak RSS is its own.

    python -m inpaintbench.release.benchmark [--out results/benchmarks/release_load.json]

Development tool: it borrows the test builders (tests/unit/test_release_support.py).
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from collections import OrderedDict
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[2]
EVALUATOR_BYTES = 205_000_000  # LaMa's LPIPS + Inception evaluators (reference/lama_state_dict.md)


def _support():
    sys.path[:0] = [str(REPO / "tests" / "unit"), str(REPO / "tests")]  # the builders import tests/helpers.py
    import test_release_support

    return test_release_support


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


def build_all(root: Path) -> dict[str, Path]:
    support = _support()
    files = {}
    for variant in ("lama_big", "lama_fourier"):
        generator = _full_state(support.read_keys(variant))
        state = OrderedDict(generator)
        state["val_evaluator.scores.fid.model.blob"] = torch.randn(EVALUATOR_BYTES // 4)
        config = support.make_dictconfig({"generator": {"kind": "ffc_resnet"}})
        ckpt = {
            "state_dict": state,
            "callbacks": {support.ModelCheckpoint: {"best_model_score": torch.tensor(1.0)}},
            "hyper_parameters": config,
            "hparams_type": support.DictConfig,
            "pytorch-lightning_version": "1.2.9",
        }
        path = root / variant / "best.ckpt"
        path.parent.mkdir(parents=True)
        with support.foreign_modules():
            torch.save(ckpt, path)
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


def measure(path: Path) -> dict:
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
    # peak RSS comes from /proc/self/status (Linux)
    args = parser.parse_args()
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for model, path in build_all(Path(tmp)).items():
            size = sum(p.stat().st_size for p in ([path] if path.is_file() else path.iterdir()))
            rows[model] = {"file_mb": size / 1e6, **measure(path)}
            print(
                f"{model:<13} file {size / 1e6:7.1f} MB  kept {rows[model]['kept_mb']:6.1f} MB  "
                f"read {rows[model]['seconds']:5.2f} s  peak RSS {rows[model]['peak_rss_mb']:6.0f} MB, "
                f"{rows[model]['peak_rss_touched_mb']:6.0f} MB with every kept tensor paged in "
                f"(+{rows[model]['touch_seconds']:.2f} s; imports alone {rows[model]['rss_after_imports_mb']:.0f} MB)"
            )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "torch": torch.__version__,
        "python": platform.python_version(),
        "cpu_threads": 1,
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    out.write_text(json.dumps({"meta": meta, "results": rows}, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
