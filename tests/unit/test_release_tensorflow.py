"""TensorBundle V2 reader on TensorFlow's own file, damage detection, and DeepFill's TF -> port mapping."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from inpaintbench.archs.deepfill_v1 import bgr_to_rgb, conv_kernel_to_oihw
from inpaintbench.release import read_release
from inpaintbench.release.tensorbundle import masked_crc32c, open_bundle, read_tensorbundle
from inpaintbench.weights import WeightsError
from tools.release_files import TF_FIXTURE, write_deepfill_release


def _expected() -> dict[str, np.ndarray]:
    with np.load(TF_FIXTURE / "expected.npz") as data:
        return {k.replace("|", "/"): data[k] for k in data.files}


def test_masked_crc32c_known_value():
    # LevelDB's masked crc: rotate right 15, add 0xa282ead8; crc32c("123456789") = 0xe3069283
    crc = 0xE3069283
    assert masked_crc32c(b"123456789") == ((((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF)


def test_reader_returns_the_fixture_exactly():
    values = read_tensorbundle(TF_FIXTURE)
    expected = _expected()
    assert set(values) == set(expected)
    for name, value in expected.items():
        assert values[name].dtype == value.dtype, name
        assert values[name].shape == value.shape, name
        np.testing.assert_array_equal(values[name], value, err_msg=name)
    assert values["global_step"] == 123456 and values["inpaint_net/scalar_f64"] == 3.25


def test_bundle_header_and_entries():
    bundle = open_bundle(TF_FIXTURE / "snap-0.index")
    assert bundle.header.num_shards == 1 and not bundle.header.big_endian
    kernel = bundle.entries["inpaint_net/conv1/kernel"]
    assert kernel.dtype == 1 and kernel.shape == (5, 5, 5, 8) and kernel.size == 5 * 5 * 5 * 8 * 4


@pytest.mark.parametrize("how", ["folder", "checkpoint.txt", "no state file", "index", "prefix"])
def test_prefix_found_every_way(tmp_path, how):
    folder = tmp_path / "release_places2_256"
    shutil.copytree(TF_FIXTURE, folder)
    target = {"folder": folder, "index": folder / "snap-0.index", "prefix": folder / "snap-0"}.get(how, folder)
    if how == "checkpoint.txt":
        (folder / "checkpoint").rename(folder / "checkpoint.txt")
    if how == "no state file":
        (folder / "checkpoint").unlink()
    assert read_tensorbundle(target)["global_step"] == 123456


def test_corrupted_data_shard_names_file_and_tensor(tmp_path):
    shutil.copytree(TF_FIXTURE, tmp_path / "ckpt")
    entry = open_bundle(tmp_path / "ckpt").entries["inpaint_net/conv1/kernel"]
    shard = tmp_path / "ckpt" / "snap-0.data-00000-of-00001"
    data = bytearray(shard.read_bytes())
    data[entry.offset + 100] ^= 0x01
    shard.write_bytes(bytes(data))
    with pytest.raises(
        WeightsError, match=r"snap-0\.data-00000-of-00001: tensor inpaint_net/conv1/kernel fails its crc32c"
    ):
        read_tensorbundle(tmp_path / "ckpt")


def test_missing_shard_and_damaged_index(tmp_path):
    shutil.copytree(TF_FIXTURE, tmp_path / "a")
    (tmp_path / "a" / "snap-0.data-00000-of-00001").unlink()
    with pytest.raises(WeightsError, match="data shard missing"):
        read_release(tmp_path / "a")
    shutil.copytree(TF_FIXTURE, tmp_path / "b")
    index = tmp_path / "b" / "snap-0.index"
    data = bytearray(index.read_bytes())
    data[40] ^= 0xFF
    index.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match=r"snap-0\.index: block at offset 0 fails its crc32c"):
        read_tensorbundle(tmp_path / "b")


# --- DeepFill mapping -------------------------------------------------------------------------------


def _tf_conv_same(x_nhwc: np.ndarray, kernel_hwio: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """TF conv2d, stride 1, 'SAME', written as a direct sum over the kernel window (float64)."""
    kh, kw = kernel_hwio.shape[:2]
    padded = np.pad(x_nhwc, ((0, 0), (kh // 2, kh // 2), (kw // 2, kw // 2), (0, 0)))
    n, h, w, _ = x_nhwc.shape
    out = np.zeros((n, h, w, kernel_hwio.shape[3]))
    for i in range(kh):
        for j in range(kw):
            out += np.einsum("nhwc,co->nhwo", padded[:, i : i + h, j : j + w, :], kernel_hwio[i, j])
    return out + bias


def test_conv1_of_the_release_matches_tensorflow_convention():
    """HWIO -> OIHW and BGR: the converted conv1 on an RGB NCHW batch equals TF's conv on BGR NHWC."""
    variables = read_tensorbundle(TF_FIXTURE)
    kernel, bias = variables["inpaint_net/conv1/kernel"], variables["inpaint_net/conv1/bias"]
    rng = np.random.default_rng(0)
    rgb = rng.uniform(-1, 1, (2, 12, 10, 3))
    extra = rng.uniform(0, 1, (2, 12, 10, 2))  # the ones and mask channels of DeepFill's 5-channel input
    bgr_input = np.concatenate([rgb[..., ::-1], extra], axis=-1)
    reference = _tf_conv_same(bgr_input, kernel.astype(np.float64), bias.astype(np.float64))

    weight = conv_kernel_to_oihw(kernel)
    assert tuple(weight.shape) == (8, 5, 5, 5)
    bgr_nchw = torch.from_numpy(bgr_input.transpose(0, 3, 1, 2).copy()).float()
    ours = F.conv2d(bgr_nchw, weight, torch.from_numpy(bias), padding=2)
    np.testing.assert_allclose(ours.permute(0, 2, 3, 1).numpy(), reference, atol=1e-4)

    state = {"coarse_generator.conv1.conv.weight": weight, "coarse_generator.conv1.conv.bias": torch.from_numpy(bias)}
    rgb_state = bgr_to_rgb({**state, **_other_image_convs()})
    rgb_nchw = torch.from_numpy(np.concatenate([rgb, extra], -1).transpose(0, 3, 1, 2).copy()).float()
    ours_rgb = F.conv2d(rgb_nchw, rgb_state["coarse_generator.conv1.conv.weight"], torch.from_numpy(bias), padding=2)
    np.testing.assert_allclose(ours_rgb.permute(0, 2, 3, 1).numpy(), reference, atol=1e-4)


def _other_image_convs() -> dict[str, torch.Tensor]:
    convs = {}
    for name in ("fine_generator.conv1", "fine_generator.pmconv1"):
        convs[f"{name}.conv.weight"] = torch.zeros(32, 5, 5, 5)
    for name in ("coarse_generator.conv17", "fine_generator.allconv17"):
        convs[f"{name}.conv.weight"] = torch.arange(3.0).view(3, 1, 1, 1).expand(3, 16, 3, 3).clone()
        convs[f"{name}.conv.bias"] = torch.tensor([0.0, 1.0, 2.0])
    return convs


def test_bgr_to_rgb_reverses_output_channels():
    out = bgr_to_rgb({"coarse_generator.conv1.conv.weight": torch.zeros(32, 5, 5, 5), **_other_image_convs()})
    assert out["fine_generator.allconv17.conv.bias"].tolist() == [2.0, 1.0, 0.0]
    assert out["coarse_generator.conv17.conv.weight"][:, 0, 0, 0].tolist() == [2.0, 1.0, 0.0]


def test_deepfill_release_folder_gives_the_port_layout(tmp_path):
    folder = tmp_path / "release_places2_256"
    expected = write_deepfill_release(folder)  # checkpoint.txt as Google Drive delivers it
    content = read_release(folder)
    assert content.layout == "deepfill_tf"
    assert content.info["channel_order"] == "BGR"
    assert list(content.state_dict) == list(expected)  # the 84 generator keys of deepfill_v1_keys.tsv
    for key, value in expected.items():
        assert content.state_dict[key].shape == value.shape, key
        assert torch.equal(content.state_dict[key], value), key
    files = [folder / "snap-0.index", folder / "snap-0.data-00000-of-00001"]
    import hashlib

    assert content.source_sha256 == hashlib.sha256(b"".join(f.read_bytes() for f in files)).hexdigest()
