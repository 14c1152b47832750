"""The evaluation-protocol contract: samples per image id, and a pure render function.

A protocol turns a list of image ids into `MaskSample`s and renders each one at the image's size.
Every mask is a pure function of (protocol name, version, seed, image id, sample label, sample
index): the random stream of a sample is derived from those parts alone (`seeding.derive_rng`),
so any shard, subset or re-ordering of the image list reproduces it. `version` is a constant of the
implementation; bump it whenever a protocol's output changes, and a config asking for another
version is refused.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from inpaintbench.masks.errors import MaskError
from inpaintbench.masks.seeding import derive_rng
from inpaintbench.registry import Registry


@dataclass(frozen=True)
class MaskSample:
    """One (image, mask) pair of a protocol. `label` is the protocol's own label (e.g. the intended bucket)."""

    mask_id: str
    image_id: str
    label: str
    index: int = 0


class _Required:
    """Marks a parameter that a config must set explicitly (no silent default)."""

    def __repr__(self) -> str:
        return "<required>"


REQUIRED: Any = _Required()


class MaskProtocol(ABC):
    """Base of all protocols; subclasses set `name`, `version`, `defaults` and implement the two methods."""

    name: ClassVar[str]
    version: ClassVar[int]
    #: parameter name -> default (REQUIRED for none); a config may set exactly these keys.
    defaults: ClassVar[dict[str, Any]] = {}

    def __init__(self, seed: int = 0, **params: Any) -> None:
        if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
            raise MaskError(f"mask protocol '{self.name}': seed must be a non-negative integer, got {seed!r}")
        unknown = sorted(set(params) - set(self.defaults))
        if unknown:
            raise MaskError(
                f"mask protocol '{self.name}': unknown parameter(s) {', '.join(unknown)} "
                f"(known: {', '.join(sorted(self.defaults)) or 'none'})"
            )
        merged = {**self.defaults, **params}
        missing = sorted(key for key, value in merged.items() if value is REQUIRED)
        if missing:
            raise MaskError(f"mask protocol '{self.name}': parameter(s) {', '.join(missing)} must be set in the config")
        self.seed = int(seed)
        self.params: dict[str, Any] = merged
        self.validate()

    def validate(self) -> None:  # noqa: B027  (optional hook, not abstract)
        """Check `self.params`; raise ValueError with one clear line. Override where needed."""

    @property
    def protocol_id(self) -> str:
        """`name@v<version>/seed<seed>`, plus `/p<hash>` of the parameters when they differ from the defaults."""
        base = f"{self.name}@v{self.version}/seed{self.seed}"
        if self.params == self.defaults:
            return base
        return f"{base}/p{params_hash(self.params)}"

    def config(self) -> dict[str, Any]:
        """The plain config that rebuilds this protocol with `get_protocol` (written into manifests)."""
        return {"name": self.name, "version": self.version, "seed": self.seed, **_plain(self.params)}

    def rng(self, *parts: object) -> np.random.Generator:
        """The random stream of (name, version, seed, *parts); never global state."""
        return derive_rng(self.name, self.version, self.seed, *parts)

    @abstractmethod
    def samples(self, image_ids: Iterable[str]) -> list[MaskSample]:
        """All samples for these image ids, in image order."""

    @abstractmethod
    def render(self, sample: MaskSample, height: int, width: int) -> np.ndarray:
        """The (H, W) uint8 {0, 1} mask of one sample, 1 = hole."""

    def _one_per_image(self, image_ids: Iterable[str], label: str, per_image: int = 1) -> list[MaskSample]:
        return [
            MaskSample(f"{image_id}#{label}.{index}", image_id, label, index)
            for image_id in unique_ids(image_ids, self.name)
            for index in range(per_image)
        ]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.protocol_id})"


def unique_ids(image_ids: Iterable[str], protocol: str) -> list[str]:
    """The ids as a list; a duplicate would give two samples the same mask id, so it is an error."""
    ids = [str(image_id) for image_id in image_ids]
    seen: set[str] = set()
    for image_id in ids:
        if image_id in seen:
            raise MaskError(f"mask protocol '{protocol}': image id '{image_id}' appears more than once")
        seen.add(image_id)
    return ids


def _plain(value: Any) -> Any:
    """Tuples to lists, numpy scalars to Python, recursively: what JSON and YAML hold."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def params_hash(params: Mapping[str, Any]) -> str:
    """8 hex digits of the SHA-256 of the parameters as canonical JSON."""
    text = json.dumps(_plain(params), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]


#: protocol name -> MaskProtocol subclass.
PROTOCOLS: Registry[type[MaskProtocol]] = Registry("mask protocol")


def register_protocol(cls: type[MaskProtocol]) -> type[MaskProtocol]:
    """Class decorator: register under `cls.name`."""
    return PROTOCOLS.register(cls.name, version=cls.version)(cls)


def get_protocol(masks_cfg: Any) -> MaskProtocol:
    """Build a protocol from a masks config (`{name, version, seed, ...params}`, dict or DictConfig)."""
    cfg = _to_dict(masks_cfg)
    if "name" not in cfg:
        raise MaskError("masks config has no 'name' (one of: " + ", ".join(PROTOCOLS.names()) + ")")
    name = str(cfg.pop("name"))
    cls = PROTOCOLS.get(name)
    version = cfg.pop("version", cls.version)
    if version != cls.version:
        raise MaskError(
            f"masks config asks for {name} version {version!r}, but this code implements version {cls.version}; "
            "masks of another version cannot be reproduced"
        )
    seed = cfg.pop("seed", 0)
    return cls(seed=seed, **cfg)


def _to_dict(masks_cfg: Any) -> dict[str, Any]:
    if isinstance(masks_cfg, Mapping) and not hasattr(masks_cfg, "_metadata"):
        return dict(_plain(masks_cfg))
    from omegaconf import OmegaConf
    from omegaconf.errors import MissingMandatoryValue

    try:
        container = OmegaConf.to_container(masks_cfg, resolve=True, throw_on_missing=True)
    except MissingMandatoryValue as error:
        key = getattr(error, "full_key", None) or "a value"
        raise MaskError(f"masks config: '{key}' must be set (it is '???' in the config)") from None
    if not isinstance(container, dict):
        raise MaskError(f"masks config must be a mapping, got {type(container).__name__}")
    return dict(container)
