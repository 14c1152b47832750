"""P-IDS and U-IDS, the inception discriminative scores of CoModGAN (Zhao et al., ICLR 2021).

A linear SVM is trained to tell the Inception features of real images (label 1) from those of
the completed images (label 0). U-IDS is its misclassification rate; P-IDS is the fraction of
(real, completed) pairs of the *same* sample in which the completed image's decision value exceeds
the real one's. Both are 0 when the two sets are perfectly separable and about 0.5 when they are
indistinguishable; higher is better.

Every choice that changes the number is a field of `IDSConfig`. Its defaults are the recipe of the
published scripts (CoModGAN `metrics/inception_discriminative_score.py`, MAT
`evaluatoin/cal_fid_pids_uids.py`): `sklearn.svm.LinearSVC(dual=False)` with sklearn's defaults
(C=1, squared hinge, L2, intercept, tol 1e-4, max_iter 1000) on the raw features, fitted and scored
on the same features, P-IDS counting strict `completed > real` only. Fitting and scoring on the same
set overfits whenever the number of pairs is not much larger than the 2048 feature dimensions
(2N points in 2048-d are separable for N <~ 1024, giving 0 and 0 whatever the model), hence
`min_n`; `split: halves` (2-fold over pairs, each pair scored by an SVM that saw neither of its
images) and `ties: half` (a perfect copy scores 0.5, not 0) are the alternatives.

The features are the run's FID features (pytorch-fid's port of the TF Inception 2015-12-05 graph,
bilinear resize to 299). CoModGAN feeds TF's own graph and MAT NVIDIA's TorchScript port of it, so
the recipe is the same but the features, and hence the last digits, can differ from their tables.

The SVM needs every feature of a bin in memory at once, and liblinear copies them into its own
(index, float64) layout: about 100 KiB per pair at 2048-d in all, some 3.5 GiB for Places2's 36,500.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from inpaintbench.metrics.errors import MetricConfigError

SVMS = ("linear_primal", "linear_dual")
NORMALIZATIONS = ("none", "standardize")
SPLITS = ("same", "halves")
TIES = ("strict", "half")


class IDSUnavailableError(ValueError):
    """The scores cannot be computed from these features (the message says why)."""


@dataclass(frozen=True)
class IDSConfig:
    """`metrics.ids` of the metric profile; the defaults are the CoModGAN/MAT recipe."""

    enabled: bool = False
    svm: str = "linear_primal"  # LinearSVC(dual=False) | "linear_dual": LinearSVC(dual=True, random_state=seed)
    C: float = 1.0
    max_iter: int = 1000
    normalize: str = "none"  # "standardize": z-score with mean/std of the fitting features
    split: str = "same"  # "halves": 2-fold over pairs, fit on one half and score the other, then swap
    ties: str = "strict"  # P-IDS counts completed > real; "half": a tie counts 1/2
    seed: int = 0  # assigns pairs to halves (split=halves) and seeds the dual solver (svm=linear_dual)
    min_n: int = 2048  # bins with fewer pairs are flagged unreliable

    @classmethod
    def from_cfg(cls, cfg: Mapping[str, Any] | None) -> IDSConfig:
        """Validate `metrics.ids`; an unknown key, a wrong type or value raises one line naming it."""
        cfg = dict(cfg or {})
        defaults = cls()
        known = [f.name for f in fields(cls)]
        unknown = sorted(set(cfg) - set(known))
        if unknown:
            raise MetricConfigError(f"metrics config: unknown key metrics.ids.{unknown[0]} (known: {', '.join(known)})")
        values = {}
        for name in known:
            default = getattr(defaults, name)
            value = cfg.get(name, default)
            kind = type(default)
            if kind is float and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            if type(value) is not kind:
                raise MetricConfigError(f"metrics config: metrics.ids.{name}={value!r} must be a {kind.__name__}")
            values[name] = value
        config = cls(**values)
        for key, allowed in (("svm", SVMS), ("normalize", NORMALIZATIONS), ("split", SPLITS), ("ties", TIES)):
            if getattr(config, key) not in allowed:
                raise MetricConfigError(
                    f"metrics config: metrics.ids.{key}={getattr(config, key)!r} is not implemented "
                    f"(choose from {', '.join(allowed)})"
                )
        if not (math.isfinite(config.C) and config.C > 0):
            raise MetricConfigError(f"metrics config: metrics.ids.C must be a finite number > 0, got {config.C}")
        if config.max_iter < 1 or config.min_n < 0:
            raise MetricConfigError("metrics config: metrics.ids.max_iter must be >= 1 and metrics.ids.min_n >= 0")
        return config

    @property
    def matches_comodgan(self) -> bool:
        """True when every number-changing field equals the published CoModGAN/MAT recipe."""
        reference = IDSConfig(enabled=self.enabled, seed=self.seed, min_n=self.min_n)
        return self == reference  # seed has no effect there, min_n only flags

    def describe(self) -> str:
        """The recipe in one line, recorded with every P-IDS / U-IDS value."""
        solver = "LinearSVC(dual=False)" if self.svm == "linear_primal" else f"LinearSVC(dual=True, seed={self.seed})"
        features = "raw features" if self.normalize == "none" else "standardized features"
        split = "fit=score on all pairs" if self.split == "same" else f"2-fold over pairs (seed {self.seed})"
        text = (
            f"{solver} C={self.C:g} max_iter={self.max_iter}; {features}; {split}; "
            f"P-IDS ties {self.ties}; min_n {self.min_n}"
        )
        return ("comodgan/MAT recipe: " if self.matches_comodgan else "custom recipe: ") + text


@dataclass(frozen=True)
class IDSResult:
    p_ids: float
    u_ids: float
    n: int
    converged: bool


def _svm(config: IDSConfig) -> LinearSVC:
    if config.svm == "linear_primal":
        return LinearSVC(dual=False, C=config.C, max_iter=config.max_iter)
    return LinearSVC(dual=True, C=config.C, max_iter=config.max_iter, random_state=config.seed)


def _fit_decide(
    config: IDSConfig, real_fit: np.ndarray, fake_fit: np.ndarray, real_eval: np.ndarray, fake_eval: np.ndarray
) -> tuple[np.ndarray, np.ndarray, bool]:
    """Fit on one (real, completed) set; decision values of another. Real = class 1, as published."""
    inputs = np.concatenate([real_fit, fake_fit])
    targets = np.concatenate([np.ones(len(real_fit), np.int64), np.zeros(len(fake_fit), np.int64)])
    if config.normalize == "standardize":
        scaler = StandardScaler().fit(inputs)
        inputs, real_eval, fake_eval = (scaler.transform(a) for a in (inputs, real_eval, fake_eval))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        svm = _svm(config).fit(inputs, targets)
    converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    return svm.decision_function(real_eval), svm.decision_function(fake_eval), converged


def inception_discriminative_scores(real: np.ndarray, fake: np.ndarray, config: IDSConfig) -> IDSResult:
    """P-IDS and U-IDS of paired feature arrays: row i of `real` and of `fake` are the same sample."""
    real = np.asarray(real, dtype=np.float32)
    fake = np.asarray(fake, dtype=np.float32)
    if real.ndim != 2 or real.shape != fake.shape:
        raise ValueError(f"paired features must both be (N, D), got {real.shape} and {fake.shape}")
    n = len(real)
    if n < 2:
        raise IDSUnavailableError(f"IDS needs at least 2 (real, completed) pairs, this set has {n}")
    if not (np.isfinite(real).all() and np.isfinite(fake).all()):
        raise IDSUnavailableError("features contain NaN or inf (a degenerate or corrupted feature set)")
    if config.split == "same":
        real_out, fake_out, converged = _fit_decide(config, real, fake, real, fake)
    else:
        order = np.random.default_rng(config.seed).permutation(n)
        halves = (np.sort(order[: n // 2]), np.sort(order[n // 2 :]))
        real_out, fake_out = np.empty(n), np.empty(n)
        converged = True
        for fit, held in (halves, halves[::-1]):
            r, f, ok = _fit_decide(config, real[fit], fake[fit], real[held], fake[held])
            real_out[held], fake_out[held] = r, f
            converged &= ok
    # sklearn's predict: class 1 (real) where the decision value is > 0
    errors = np.count_nonzero(real_out <= 0) + np.count_nonzero(fake_out > 0)
    u_ids = errors / (2 * n)
    wins = (fake_out > real_out).astype(np.float64)
    if config.ties == "half":
        wins += 0.5 * (fake_out == real_out)
    return IDSResult(p_ids=float(wins.mean()), u_ids=float(u_ids), n=n, converged=bool(converged))
