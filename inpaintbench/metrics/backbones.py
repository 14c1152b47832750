"""Metric backbones: InceptionV3-FID (FID/KID) and AlexNet / VGG16 (LPIPS), offline first.

Weights are looked up in the torch hub cache (`torch.hub.get_dir()/checkpoints`, i.e.
`$TORCH_HOME/hub/checkpoints`) under their published file names, their published sha256 prefix is
checked, and they are read only through `inpaintbench.weights`. Nothing downloads at run time: a
missing file raises `BackboneUnavailableError`, whose one-line message names the file and the cache path,
and the runner reports that metric as unavailable while the others still run. `import_weight_file`
copies a file into the cache on an air-gapped machine after checking the hash prefix.

FID network (pitfalls P1, P2): pytorch-fid's InceptionV3 port of the TF 2015-12-05 graph (the FID
weights, not torchvision's ImageNet Inception), 2048-d pool features, input resized to 299x299 with
bilinear interpolation, `align_corners=False`, **antialias=False** (pytorch-fid / LaMa compatible;
torchmetrics >= 1.8 would default to antialias=True), then mapped from [0,1] to [-1,1].
"""

from __future__ import annotations

import hashlib
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from inpaintbench.io.atomic import atomic_path
from inpaintbench.io.errors import WeightsError
from inpaintbench.io.hashing import check_sha256, matches_sha256, sha256_file
from inpaintbench.weights import as_state_dict, check_state_dict, read_checkpoint


class BackboneUnavailableError(RuntimeError):
    """A metric backbone whose weights are not installed; the message says which file goes where."""


@dataclass(frozen=True)
class BackboneSpec:
    """One published weight file: the name it is looked up by and the sha256 prefix in that name."""

    name: str
    file_name: str
    hash_prefix: str
    url: str
    used_by: str


BACKBONES: dict[str, BackboneSpec] = {
    spec.name: spec
    for spec in (
        BackboneSpec(
            "inception_fid",
            "pt_inception-2015-12-05-6726825d.pth",
            "6726825d",
            "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth",
            "FID, KID, P-IDS/U-IDS",
        ),
        BackboneSpec(
            "alexnet",
            "alexnet-owt-7be5be79.pth",
            "7be5be79",
            "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",
            "LPIPS-alex",
        ),
        BackboneSpec(
            "vgg16",
            "vgg16-397923af.pth",
            "397923af",
            "https://download.pytorch.org/models/vgg16-397923af.pth",
            "LPIPS-vgg, perceptual losses",
        ),
    )
}

#: LPIPS net name -> backbone name
LPIPS_BACKBONE = {"alex": "alexnet", "vgg": "vgg16"}


def cache_dir() -> Path:
    """Where torch hub keeps checkpoints: `$TORCH_HOME/hub/checkpoints`."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def backbone_path(name: str) -> Path:
    return cache_dir() / BACKBONES[name].file_name


def missing_message(name: str) -> str:
    spec = BACKBONES[name]
    return (
        f"{spec.used_by} unavailable: {spec.file_name} not found in {cache_dir()} "
        f"(install with `inpaintbench weights fetch {spec.name}`, or offline `inpaintbench weights import "
        f"{spec.file_name}`)"
    )


def locate(name: str) -> Path:
    """The cached file of a backbone, or `BackboneUnavailableError` naming the file and the cache path."""
    if name not in BACKBONES:
        raise KeyError(f"unknown metric backbone '{name}' (known: {', '.join(BACKBONES)})")
    path = backbone_path(name)
    if not path.is_file():
        raise BackboneUnavailableError(missing_message(name))
    return path


def read_backbone(name: str) -> dict[str, Tensor]:
    """Read a backbone's state dict, the published hash prefix checked."""
    path = locate(name)
    return as_state_dict(read_checkpoint(path, sha256=BACKBONES[name].hash_prefix), path)


def weights_status() -> list[dict[str, str]]:
    """One entry per backbone: where it is looked for, whether present, and how to install it offline."""
    rows = []
    for spec in BACKBONES.values():
        path = cache_dir() / spec.file_name
        rows.append(
            {
                "backbone": spec.name,
                "used_by": spec.used_by,
                "file": spec.file_name,
                "path": str(path),
                "present": "yes" if path.is_file() else "no",
                "install": f"download {spec.url} elsewhere, then `inpaintbench weights import {spec.file_name}`",
            }
        )
    return rows


def import_weight_file(path: str | Path) -> Path:
    """Copy a downloaded backbone file into the cache after checking its published hash prefix.

    The file is recognised by its published name; the copy is written to a temporary name and
    renamed, so the cache never holds a half-copied file.
    """
    source = Path(path)
    if not source.is_file():
        raise WeightsError(f"{source}: no such file")
    spec = next((s for s in BACKBONES.values() if s.file_name == source.name), None)
    if spec is None:
        known = ", ".join(s.file_name for s in BACKBONES.values())
        raise WeightsError(f"{source}: not a known metric backbone file name (known: {known})")
    check_sha256(source, sha256_file(source), spec.hash_prefix, published=True)
    target = cache_dir() / spec.file_name
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(target) as tmp:
        shutil.copyfile(source, tmp)
    return target


def fetch_weight_file(name: str) -> Path:
    """Download one backbone into the cache (only when the user asks): resumable, hash prefix checked,
    and a failure is one line that also says how to install the file offline."""
    from inpaintbench.release.fetch import download

    spec = BACKBONES[name]
    target = cache_dir() / spec.file_name
    if target.is_file() and matches_sha256(sha256_file(target), spec.hash_prefix):
        return target
    try:
        download(spec.url, target, sha256=spec.hash_prefix)
    except WeightsError as error:
        raise WeightsError(
            f"{error}; offline: download it elsewhere, then `inpaintbench weights import {spec.file_name}`"
        ) from None
    return target


# ----------------------------------------------------------------------------------------------
# InceptionV3-FID


def _fid_inception_net() -> nn.Module:
    """pytorch-fid's patched torchvision Inception3 (TF pooling quirks), randomly initialised."""
    from pytorch_fid import inception as pf
    from torchvision.models import inception_v3

    net = inception_v3(weights=None, aux_logits=False, num_classes=1008, init_weights=False)
    net.Mixed_5b = pf.FIDInceptionA(192, pool_features=32)
    net.Mixed_5c = pf.FIDInceptionA(256, pool_features=64)
    net.Mixed_5d = pf.FIDInceptionA(288, pool_features=64)
    net.Mixed_6b = pf.FIDInceptionC(768, channels_7x7=128)
    net.Mixed_6c = pf.FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6d = pf.FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6e = pf.FIDInceptionC(768, channels_7x7=192)
    net.Mixed_7b = pf.FIDInceptionE_1(1280)
    net.Mixed_7c = pf.FIDInceptionE_2(2048)
    return net


class InceptionFID(nn.Module):
    """2048-d pool features of the FID Inception for [0,1] images of any size (resize named above)."""

    dims = 2048
    resize = "bilinear-299-no-antialias"

    def __init__(self) -> None:
        super().__init__()
        self.net = _fid_inception_net()

    def forward(self, images: Tensor) -> Tensor:
        x = F.interpolate(images, size=(299, 299), mode="bilinear", align_corners=False, antialias=False)
        x = 2.0 * x - 1.0
        n = self.net
        x = F.max_pool2d(n.Conv2d_2b_3x3(n.Conv2d_2a_3x3(n.Conv2d_1a_3x3(x))), kernel_size=3, stride=2)
        x = F.max_pool2d(n.Conv2d_4a_3x3(n.Conv2d_3b_1x1(x)), kernel_size=3, stride=2)
        for block in ("Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e"):
            x = getattr(n, block)(x)
        x = n.Mixed_7c(n.Mixed_7b(n.Mixed_7a(x)))
        return torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)


def build_inception_fid(state_dict: dict[str, Tensor] | None = None) -> InceptionFID:
    """The FID extractor with the cached FID weights (or a given state dict, e.g. random for timing)."""
    source = "<memory>" if state_dict is not None else str(backbone_path("inception_fid"))
    weights = state_dict if state_dict is not None else read_backbone("inception_fid")
    model = InceptionFID()
    check_state_dict(model.net, weights, source)
    model.net.load_state_dict(weights)
    return model.eval().requires_grad_(False)


# ----------------------------------------------------------------------------------------------
# LPIPS


class LPIPSMetric(nn.Module):
    """LPIPS v0.1 (the `lpips` package's network and its shipped linear layers) on [0,1] inputs.

    Inputs are mapped to [-1,1] here (`normalize=True` in lpips terms), so callers pass the same
    [0,1] tensors every other metric sees (pitfall P5).
    """

    def __init__(self, net: str = "alex") -> None:
        super().__init__()
        import lpips

        if net not in LPIPS_BACKBONE:
            raise ValueError(f"unknown LPIPS net '{net}' (known: {', '.join(LPIPS_BACKBONE)})")
        self.net_name = net
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # torchvision's `pretrained=` deprecation
            self.lpips = lpips.LPIPS(net=net, version="0.1", pretrained=False, pnet_rand=True, verbose=False)

    def forward(self, real: Tensor, fake: Tensor) -> Tensor:
        return self.lpips(real, fake, normalize=True).flatten()

    def features(self, images: Tensor) -> list[Tensor]:
        """The unit-normalised backbone activations of [0,1] images, the halves of `forward`
        (a real image shared by several masks is run once; `distance` completes the same ops)."""
        import lpips

        outputs = self.lpips.net.forward(self.lpips.scaling_layer(2 * images - 1))
        return [lpips.normalize_tensor(output) for output in outputs]

    def distance(self, real: list[Tensor], fake: list[Tensor]) -> Tensor:
        """LPIPS from `features` of paired images, summed over layers in lpips' order."""
        value = 0
        for layer, (a, b) in enumerate(zip(real, fake, strict=True)):
            value = value + self.lpips.lins[layer]((a - b) ** 2).mean([2, 3], keepdim=True)
        return value.flatten()


def lpips_linear_path(net: str) -> Path:
    """The calibrated linear layers that ship inside the `lpips` package."""
    import lpips

    return Path(lpips.__file__).parent / "weights" / "v0.1" / f"{net}.pth"


def lpips_state_dict(model: LPIPSMetric, backbone: dict[str, Tensor], linear: dict[str, Tensor]) -> dict[str, Tensor]:
    """Map torchvision `features.<i>.*` keys onto lpips' `net.slice<k>.<i>.*` and add the linear layers."""
    state = {}
    for key, value in model.lpips.state_dict().items():
        if key.startswith("net.slice"):
            _, _, rest = key.split(".", 2)  # net, sliceK, "<i>.weight"
            if f"features.{rest}" in backbone:
                state[key] = backbone[f"features.{rest}"]
        elif key.startswith("lins."):  # the ModuleList aliases lin0..lin4
            alias = "lin" + key[len("lins.") :]
            if alias in linear:
                state[key] = linear[alias]
        elif key.startswith("lin"):
            if key in linear:
                state[key] = linear[key]
        else:
            state[key] = value  # scaling layer constants
    return state


def build_lpips(net: str = "alex", backbone: dict[str, Tensor] | None = None) -> LPIPSMetric:
    """LPIPS with the cached torchvision backbone (or a given one) and the package's linear layers."""
    name = LPIPS_BACKBONE[net]
    source = "<memory>" if backbone is not None else str(backbone_path(name))
    weights = backbone if backbone is not None else read_backbone(name)
    model = LPIPSMetric(net)
    linear = as_state_dict(read_checkpoint(lpips_linear_path(net)), lpips_linear_path(net))
    state = lpips_state_dict(model, weights, linear)
    check_state_dict(model.lpips, state, source)
    model.lpips.load_state_dict(state)
    return model.eval().requires_grad_(False)


def extractor_id(module: nn.Module) -> str:
    """A short content id of a feature extractor's weights (keys the feature cache); a prepared
    backbone (`metrics.prepare`) keeps the id of the published weights it was prepared from."""
    weights_id = getattr(module, "weights_id", None)
    if weights_id is not None:
        return str(weights_id)
    digest = hashlib.sha256()
    for key, value in sorted(module.state_dict().items()):
        digest.update(key.encode())
        digest.update(value.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]
