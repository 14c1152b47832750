"""Backbone weights: offline lookup, hash-prefix checks, missing -> unavailable, parity with reference nets."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from inpaintbench.metrics import backbones
from inpaintbench.metrics.backbones import (
    BackboneUnavailableError,
    build_inception_fid,
    build_lpips,
    import_weight_file,
    weights_status,
)
from inpaintbench.metrics.config import MetricConfig
from inpaintbench.metrics.suite import MetricSuite
from inpaintbench.weights import WeightsError, sha256_file


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty torch hub cache for the test."""
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    return tmp_path / "hub" / "checkpoints"


def _with_prefix(monkeypatch: pytest.MonkeyPatch, name: str, path: Path) -> None:
    """Point a spec's published hash prefix at a synthetic file (real weights are not available here)."""
    spec = dataclasses.replace(backbones.BACKBONES[name], hash_prefix=sha256_file(path)[:8])
    monkeypatch.setitem(backbones.BACKBONES, name, spec)


def test_missing_weights_make_metrics_unavailable_not_an_error(hub: Path) -> None:
    suite = MetricSuite.build(MetricConfig(lpips_nets=("alex", "vgg")))
    assert suite.inception is None and not suite.lpips
    assert set(suite.unavailable) == {"fid", "kid", "lpips_alex", "lpips_vgg"}
    assert "pt_inception-2015-12-05-6726825d.pth" in suite.unavailable["fid"]
    assert str(hub) in suite.unavailable["lpips_alex"] and "alexnet-owt-7be5be79.pth" in suite.unavailable["lpips_alex"]
    real = torch.rand(2, 3, 32, 32)
    values, features, _ = suite.score(real, real.flip(-1), torch.ones(2, 1, 32, 32))
    assert set(values) == {"ssim", "mse", "psnr", "l1_whole", "l1_hole"} and features == {}
    with pytest.raises(BackboneUnavailableError, match="not found in"):
        build_inception_fid()


def test_weights_status_lists_every_backbone_and_presence(hub: Path) -> None:
    hub.mkdir(parents=True)
    (hub / "vgg16-397923af.pth").write_bytes(b"x")
    status = {row["backbone"]: row for row in weights_status()}
    assert set(status) == {"inception_fid", "alexnet", "vgg16"}
    assert status["vgg16"]["present"] == "yes" and status["alexnet"]["present"] == "no"
    assert status["inception_fid"]["path"] == str(hub / "pt_inception-2015-12-05-6726825d.pth")
    assert "inpaintbench weights import" in status["alexnet"]["install"]


def test_import_checks_the_published_hash_prefix(hub: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "downloads" / "alexnet-owt-7be5be79.pth"
    source.parent.mkdir()
    torch.save({"w": torch.ones(2)}, source)
    with pytest.raises(WeightsError, match="does not start with the published 7be5be79"):
        import_weight_file(source)
    assert not (hub / source.name).exists()
    _with_prefix(monkeypatch, "alexnet", source)
    target = import_weight_file(source)
    assert target == hub / source.name and sha256_file(target) == sha256_file(source)
    with pytest.raises(WeightsError, match="not a known metric backbone"):
        import_weight_file(source.rename(source.with_name("other.pth")))


def test_inception_fid_matches_pytorch_fid_with_the_same_weights(monkeypatch: pytest.MonkeyPatch) -> None:
    from pytorch_fid import inception as pf

    torch.manual_seed(0)
    ours = build_inception_fid(backbones._fid_inception_net().state_dict())
    state = ours.net.state_dict()
    monkeypatch.setattr(pf, "load_state_dict_from_url", lambda *a, **k: state)
    reference = pf.InceptionV3([3], resize_input=True, normalize_input=True).eval()
    images = torch.rand(2, 3, 64, 80)
    with torch.inference_mode():
        expected = reference(images)[0].flatten(1)
        got = ours(images)
    assert got.shape == (2, 2048)
    torch.testing.assert_close(got, expected, rtol=0, atol=0)


def test_lpips_loads_torchvision_backbone_from_cache_and_matches_lpips_package(
    hub: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import lpips
    from torchvision.models import alexnet

    torch.manual_seed(0)
    hub.mkdir(parents=True)
    path = hub / "alexnet-owt-7be5be79.pth"
    torch.save(alexnet(weights=None).state_dict(), path)
    _with_prefix(monkeypatch, "alexnet", path)
    ours = build_lpips("alex")
    reference = lpips.LPIPS(net="alex", pretrained=True, pnet_rand=True, verbose=False)
    features = torch.load(path, weights_only=True)
    for name, param in reference.net.named_parameters():
        param.data.copy_(features[f"features.{name.split('.', 1)[1]}"])
    real, fake = torch.rand(2, 3, 64, 64), torch.rand(2, 3, 64, 64)
    with torch.inference_mode():
        torch.testing.assert_close(ours(real, fake), reference(real, fake, normalize=True).flatten())
        assert torch.all(ours(real, real) == 0)


def test_a_corrupted_backbone_file_is_a_clear_error(hub: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    hub.mkdir(parents=True)
    path = hub / "vgg16-397923af.pth"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError, match=r"vgg16-397923af\.pth"):
        build_lpips("vgg")
