"""P-IDS / U-IDS against a line-by-line re-implementation of the published recipe, and the properties
the scores are defined by (indistinguishable sets -> 0.5, separable sets -> 0)."""

from __future__ import annotations

import numpy as np
import pytest
import sklearn.preprocessing
import sklearn.svm

from inpaintbench.metrics.config import MetricConfig
from inpaintbench.metrics.errors import MetricConfigError
from inpaintbench.metrics.ids import IDSConfig, IDSUnavailableError, inception_discriminative_scores

COMODGAN = IDSConfig(enabled=True)


def paired_features(n: int = 400, d: int = 32, shift: float = 0.02, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Non-negative pooled-activation-like features; the completed ones are a perturbed copy."""
    rng = np.random.default_rng(seed)
    real = np.maximum(rng.normal(0.3, 1.0, (n, d)), 0).astype(np.float32)
    fake = np.maximum(real + rng.normal(0, 0.6, (n, d)) + shift * rng.normal(1.0, 0.2, d), 0).astype(np.float32)
    return real, fake


def published_recipe(real_activations: np.ndarray, fake_activations: np.ndarray) -> tuple[float, float]:
    """MAT evaluatoin/cal_fid_pids_uids.py and CoModGAN metrics/inception_discriminative_score.py, in words:
    LinearSVC(dual=False), real = 1 / fake = 0, fit and score on everything, strict '>' per pair."""
    svm = sklearn.svm.LinearSVC(dual=False)
    svm_inputs = np.concatenate([real_activations, fake_activations])
    svm_targets = np.array([1] * real_activations.shape[0] + [0] * fake_activations.shape[0])
    svm.fit(svm_inputs, svm_targets)
    uids = 1 - svm.score(svm_inputs, svm_targets)
    real_outputs = svm.decision_function(real_activations)
    fake_outputs = svm.decision_function(fake_activations)
    pids = np.mean(fake_outputs > real_outputs)
    return float(pids), float(uids)


def held_out_reference(real: np.ndarray, fake: np.ndarray, c: float, seed: int) -> tuple[float, float]:
    """split=halves, normalize=standardize, ties=half, written out plainly with sklearn calls."""
    n = len(real)
    perm = np.random.default_rng(seed).permutation(n)
    first, second = np.sort(perm[: n // 2]), np.sort(perm[n // 2 :])
    wins, errors = 0.0, 0
    for fit, held in ((first, second), (second, first)):
        x = np.concatenate([real[fit], fake[fit]])
        y = np.array([1] * len(fit) + [0] * len(fit))
        scaler = sklearn.preprocessing.StandardScaler().fit(x)
        svm = sklearn.svm.LinearSVC(dual=False, C=c).fit(scaler.transform(x), y)
        real_out = svm.decision_function(scaler.transform(real[held]))
        fake_out = svm.decision_function(scaler.transform(fake[held]))
        errors += int((svm.predict(scaler.transform(real[held])) != 1).sum())
        errors += int((svm.predict(scaler.transform(fake[held])) != 0).sum())
        wins += float((fake_out > real_out).sum() + 0.5 * (fake_out == real_out).sum())
    return wins / n, errors / (2 * n)


def test_defaults_equal_the_published_comodgan_mat_recipe_to_1e6() -> None:
    real, fake = paired_features()
    expected_p, expected_u = published_recipe(real, fake)
    assert 0.02 < expected_p < 0.48 and 0.02 < expected_u < 0.48  # a case where the scores say something
    result = inception_discriminative_scores(real, fake, COMODGAN)
    assert result.p_ids == pytest.approx(expected_p, abs=1e-6)
    assert result.u_ids == pytest.approx(expected_u, abs=1e-6)
    assert result.n == 400 and result.converged
    assert COMODGAN.matches_comodgan and COMODGAN.describe().startswith("comodgan/MAT recipe")


def test_held_out_standardized_variant_equals_its_plain_reimplementation() -> None:
    real, fake = paired_features(n=301, seed=3)
    config = IDSConfig(enabled=True, C=0.1, normalize="standardize", split="halves", ties="half", seed=7)
    expected_p, expected_u = held_out_reference(real, fake, c=0.1, seed=7)
    result = inception_discriminative_scores(real, fake, config)
    assert result.p_ids == pytest.approx(expected_p, abs=1e-6)
    assert result.u_ids == pytest.approx(expected_u, abs=1e-6)
    assert not config.matches_comodgan and config.describe().startswith("custom recipe")
    # a different seed puts other pairs in each half: the recipe records it because the value moves
    other = inception_discriminative_scores(real, fake, IDSConfig(**{**config.__dict__, "seed": 8}))
    assert (other.p_ids, other.u_ids) != (result.p_ids, result.u_ids)


def test_identical_features_give_one_half_and_mat_strict_ties_give_p_ids_zero() -> None:
    real, _ = paired_features(n=200)
    half = inception_discriminative_scores(real, real.copy(), IDSConfig(enabled=True, ties="half"))
    assert half.u_ids == pytest.approx(0.5, abs=1e-12) and half.p_ids == pytest.approx(0.5, abs=1e-12)
    strict = inception_discriminative_scores(real, real.copy(), COMODGAN)
    assert strict.u_ids == pytest.approx(0.5, abs=1e-12)
    assert strict.p_ids == 0.0  # the published '>' never counts a tie: a perfect copy scores 0


@pytest.mark.parametrize("split", ["same", "halves"])
def test_identically_distributed_sets_score_about_one_half(split: str) -> None:
    rng = np.random.default_rng(5)
    real = np.maximum(rng.normal(0.3, 1.0, (3000, 8)), 0).astype(np.float32)
    fake = np.maximum(rng.normal(0.3, 1.0, (3000, 8)), 0).astype(np.float32)
    result = inception_discriminative_scores(real, fake, IDSConfig(enabled=True, split=split))
    assert result.u_ids == pytest.approx(0.5, abs=0.04)
    assert result.p_ids == pytest.approx(0.5, abs=0.04)


@pytest.mark.parametrize("split", ["same", "halves"])
def test_well_separated_sets_score_zero(split: str) -> None:
    real, fake = paired_features(n=200, shift=0.0)
    fake = fake + 5.0  # every feature moved far away: a hyperplane separates all pairs
    result = inception_discriminative_scores(real, fake, IDSConfig(enabled=True, split=split))
    assert result.u_ids == 0.0 and result.p_ids == 0.0


def test_dual_solver_is_reproducible_for_a_seed() -> None:
    real, fake = paired_features(n=150)
    config = IDSConfig(enabled=True, svm="linear_dual", max_iter=5000, seed=1)
    first = inception_discriminative_scores(real, fake, config)
    assert first == inception_discriminative_scores(real, fake, config)
    assert 0 <= first.p_ids <= 1 and 0 <= first.u_ids <= 1


def test_too_few_pairs_or_non_finite_features_are_unavailable_not_a_crash() -> None:
    real, fake = paired_features(n=4)
    with pytest.raises(IDSUnavailableError, match="at least 2"):
        inception_discriminative_scores(real[:1], fake[:1], COMODGAN)
    fake[2, 3] = np.nan
    with pytest.raises(IDSUnavailableError, match="NaN or inf"):
        inception_discriminative_scores(real, fake, COMODGAN)
    with pytest.raises(ValueError, match="paired"):
        inception_discriminative_scores(real, fake[:3], COMODGAN)


def test_profile_validation_names_the_key_and_disabled_ids_leave_the_run_hash_alone() -> None:
    with pytest.raises(ValueError, match=r"metrics\.ids\.split='thirds'"):
        MetricConfig.from_cfg({"ids": {"split": "thirds"}})
    with pytest.raises(ValueError, match=r"metrics\.ids\.gamma"):
        MetricConfig.from_cfg({"ids": {"gamma": 1}})
    with pytest.raises(MetricConfigError, match=r"metrics\.ids\.C"):
        MetricConfig.from_cfg({"ids": {"C": 0}})
    with pytest.raises(MetricConfigError, match=r"metrics\.ids\.enabled='yes' must be a bool"):
        MetricConfig.from_cfg({"ids": {"enabled": "yes"}})
    assert MetricConfig.from_cfg({"ids": {"C": 2}}).ids.C == 2.0  # YAML's 2 for 2.0 is fine
    assert "ids" not in MetricConfig.from_cfg({"ids": {"enabled": False, "C": 3}}).identity()
    enabled = MetricConfig.from_cfg({"ids": {"enabled": True, "ties": "half"}}).identity()["ids"]
    assert enabled["ties"] == "half" and enabled["C"] == 1.0 and enabled["min_n"] == 2048
