"""The run hash and the completed-image cache key cover what decides a model's output bits besides
its weights and inputs: the inference code version, torch, torch.compile, the device, an engine's version."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from inpaintbench.archs import inference
from inpaintbench.baselines.opencv import OpenCVInpainter
from inpaintbench.config import compose
from inpaintbench.evaluation.runner import build_context, model_key, run_key

WEIGHTS = "0" * 64


def _key(model: Any = None, **inference_changes: Any) -> str:
    identity = {**inference.inference_identity("cpu", compile=False), **inference_changes}
    return model_key("m", {"a": 1}, model, WEIGHTS, identity)


def test_each_part_of_the_inference_identity_changes_the_model_key() -> None:
    base = _key()
    assert _key() == base  # stable
    newer_code = _key(version=inference.INFERENCE_VERSION + 1)
    changed = [newer_code, _key(torch="0.0"), _key(compile=True), _key(device="cuda")]
    assert len({base, *changed}) == 5


def test_inference_identity_names_the_current_code_torch_and_device() -> None:
    identity = inference.inference_identity(torch.device("cpu"), compile=True)
    expected = {
        "version": inference.INFERENCE_VERSION,
        "torch": torch.__version__,
        "compile": True,
        "device": "cpu",
        "compiled_graph": inference.COMPILED_GRAPH_VERSION,
    }
    assert identity == expected


def test_the_compiled_graph_version_moves_compile_runs_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """A change to what torch.compile traces re-keys `compile=true` runs and leaves eager runs' keys."""

    def keys() -> tuple[str, str]:
        return tuple(  # type: ignore[return-value]
            model_key("m", {}, None, WEIGHTS, inference.inference_identity("cpu", compile=c)) for c in (False, True)
        )

    eager, compiled = keys()
    monkeypatch.setattr(inference, "COMPILED_GRAPH_VERSION", inference.COMPILED_GRAPH_VERSION + 1)
    assert keys()[0] == eager
    assert keys()[1] != compiled


def test_an_engine_version_is_part_of_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    telea = OpenCVInpainter("telea")
    before = model_key("opencv_telea", {}, telea, None, inference.inference_identity("cpu", compile=False))
    monkeypatch.setattr(OpenCVInpainter, "engine_version", "opencv 0.0.0")
    after = model_key("opencv_telea", {}, telea, None, inference.inference_identity("cpu", compile=False))
    assert before != after


def test_compile_makes_another_run_hash(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """`compile=true` may move output bits, so its rows never land in the run of `compile=false`."""
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "empty_hub"))
    hashes = set()
    for compile_model in (False, True):
        cfg = compose(
            "eval",
            [
                "model=pconv_unet_tiny",
                "masks=irregular",
                "data=sample",
                "weights=none",
                f"compile={str(compile_model).lower()}",
                f"paths.results={tmp_path}",
                "limit=1",
            ],
        )
        ctx, _ = build_context(cfg)
        hashes.add(run_key(ctx, "sample", ctx.batch_size).run_hash)
    assert len(hashes) == 2


def test_the_metric_code_version_is_in_the_run_hash_and_the_feature_cache_keys(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A change of metric arithmetic (bumped METRIC_CODE_VERSION) or of torch starts new runs and new
    feature cache entries; the weight ids shown in tables stay the published ones."""
    from inpaintbench.metrics import suite as suite_module
    from inpaintbench.metrics.config import MetricConfig

    def built() -> suite_module.MetricSuite:
        made = suite_module.MetricSuite(config=MetricConfig.from_cfg({}))
        made.inception = torch.nn.Identity()
        made.inception.weights_id = "pt_inception-2015-12-05"  # type: ignore[assignment]
        return made

    before = built()
    identity, key = before.identity(), before._extractor_key("inception_fid")
    monkeypatch.setattr(suite_module, "METRIC_CODE_VERSION", suite_module.METRIC_CODE_VERSION + 1)
    after = built()
    assert after.identity() != identity and after._extractor_key("inception_fid") != key
    assert after.identity()["extractors"] == identity["extractors"]
