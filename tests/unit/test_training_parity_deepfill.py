"""DeepFill v1's recipe against the official TensorFlow v1.0.0 graph: every term, one critic and one
generator Adam step.

tests/fixtures/training_parity/deepfill_official.json was written by the official
`build_graph_with_losses` and train.py's optimiser (make_deepfill_official.py beside it, README there)
on the full-width generator and critics with the seeded variables of tools/parity_deepfill.py, in
float32. Our side loads the same variables by their TF names (the generator through the project's
TF-name converter), so the test covers converter, generator, critics, losses and both optimisers.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import recipe_system
from torch import Tensor

import inpaintbench.losses.wgan as wgan
from inpaintbench.archs.deepfill_v1 import convert_port_state_dict, port_key_to_ours, port_key_to_tf_name
from inpaintbench.training.systems.deepfill_v1 import DeepFillV1System
from tools import parity_deepfill as pd

FIXTURE = json.loads(
    (Path(__file__).parents[1] / "fixtures" / "training_parity" / "deepfill_official.json").read_text()
)
OFFICIAL = FIXTURE["shared_optimizer"]  # train.py: one AdamOptimizer for G and D
TERMS_REL = 2e-5  # float32 graphs in two frameworks: summation order only
# After a step, each term within 0.2 % of the largest change the step made to any term: the step moves
# weights by ~lr·sign(g), and for weights whose gradient is float32 noise that sign is noise too (our own
# float32 and float64 runs differ by 0.06 % of that change, float32 TF and torch by 0.07 %).
STEP_EFFECT_REL = 2e-3
# Adam's first step is ~lr·sign(g): weights whose gradient is at float32-noise level, or near Adam's eps
# (TF adds eps to sqrt(v), torch to sqrt(v_hat): 3.2e-8 vs 1e-8 at t=1), take a different step. Per
# variable, sum|Δ| and Δ·probe may differ by what this many weights taking another step explain:
STEP_ALLOWANCE = (4, 5e-4)  # 4 weights + 0.05 % of the variable

pytestmark = pytest.mark.usefixtures("one_thread")


def _tf_values(prefix: str) -> dict[str, np.ndarray]:
    return {
        name: pd.seeded_variable(pd.SEED, name, tuple(shape))
        for name, shape in FIXTURE["variables"].items()
        if name.startswith(prefix)
    }


def _critic_names(which: str) -> dict[str, str]:
    """Our critic parameter (`local_critic.conv1.weight`) -> its TF variable name."""
    names = {
        f"{which}_critic.linear.{p}": f"discriminator/dout_{which}_fc/{v}"
        for p, v in (("weight", "kernel"), ("bias", "bias"))
    }
    for i in range(1, 5):
        for p, v in (("weight", "kernel"), ("bias", "bias")):
            names[f"{which}_critic.conv{i}.{p}"] = f"discriminator/discriminator_{which}/conv{i}/{v}"
    return names


def _tf_layout(ours: str, value: Tensor) -> np.ndarray:
    """Our tensor in the TF variable's layout (OIHW -> HWIO, Linear [1, in] -> dense [in, 1])."""
    if value.ndim == 4:
        value = value.permute(2, 3, 1, 0)
    elif value.ndim == 2:
        value = value.T
    return value.detach().double().numpy()


def _our_to_tf_names() -> dict[str, str]:
    names = {f"generator.{ours}": port_key_to_tf_name(port) for port, ours in port_key_to_ours(32).items()}
    return names | _critic_names("local") | _critic_names("global")


@pytest.fixture(params=["tf", "torch"])
def system(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> DeepFillV1System:
    torch.manual_seed(0)
    system = recipe_system(  # conf/recipe/deepfill_v1.yaml, at the fixture's size
        "deepfill_v1", image_size=pd.SIZE, critic_cnum=64, lr=FIXTURE["lr"], adam=request.param
    )
    tf_generator = {k: torch.from_numpy(v) for k, v in _tf_values("inpaint_net/").items()}
    system.generator.load_state_dict(convert_port_state_dict(tf_generator))
    critics = _tf_values("discriminator/")
    for ours, tf_name in (_critic_names("local") | _critic_names("global")).items():
        value = torch.from_numpy(critics[tf_name])
        value = value.permute(3, 2, 0, 1) if value.ndim == 4 else value.T if value.ndim == 2 else value
        system.get_parameter(ours).data.copy_(value)
    alphas = [torch.tensor(pd.ALPHAS["local"]), torch.tensor(pd.ALPHAS["global"])]
    calls = iter(range(1_000))

    def fixed_interpolates(real: Tensor, fake: Tensor, generator: object = None) -> Tensor:
        alpha = alphas[next(calls) % 2].view(-1, *([1] * (real.ndim - 1)))  # local, then global, as the graph
        return real + alpha * (fake - real)

    monkeypatch.setattr(wgan, "random_interpolates", fixed_interpolates)
    return system.train()


def _inputs() -> tuple[Tensor, Tensor]:
    real = torch.from_numpy(pd.images_uint8().astype(np.float32) / 127.5 - 1.0).permute(0, 3, 1, 2)  # official scaling
    mask = torch.from_numpy(pd.hole_mask()).permute(0, 3, 1, 2).expand(pd.BATCH, -1, -1, -1)
    return real.contiguous(), mask.contiguous()


def _terms(system: DeepFillV1System, real: Tensor, mask: Tensor) -> dict[str, float]:
    g, d = system.generator_losses(real, mask), system.critic_losses(real, mask)
    return {
        "l1": float(g["l1"].detach()),
        "ae": float(g["ae"].detach()),
        "g_gan": float(g["g_gan"].detach()),
        "g_loss": float(g["g_loss"].detach()),
        "d_local": float(d["d_local"].detach()),
        "d_global": float(d["d_global"].detach()),
        "gp": float(system.hparams.gp_lambda * d["gp"].detach()),
        "d_loss": float(d["d_loss"].detach()),
    }


def _expected(official: dict[str, float]) -> dict[str, float]:
    """The official terms under our names: g_gan = GLOBAL_WGAN_LOSS_ALPHA·g_global + g_local."""
    g_gan = FIXTURE["config"]["GLOBAL_WGAN_LOSS_ALPHA"] * official["g_global"] + official["g_local"]
    return {k: official[k] for k in ("l1", "ae", "g_loss", "d_local", "d_global", "gp", "d_loss")} | {"g_gan": g_gan}


def _assert_terms(got: dict[str, float], official: dict[str, float], before: dict[str, float] | None = None) -> None:
    """Each term within TERMS_REL of its value, plus, after a step, STEP_EFFECT_REL of the step's effect."""
    expected = _expected(official)
    previous = _expected(before) if before is not None else expected
    effect = max(abs(value - previous[name]) for name, value in expected.items())
    for name, value in expected.items():
        tolerance = TERMS_REL * max(abs(value), 1.0) + STEP_EFFECT_REL * effect
        assert abs(got[name] - value) <= tolerance, (name, got[name], value, tolerance)


def _assert_steps(before: dict[str, Tensor], system: DeepFillV1System, official: dict, names: dict[str, str]) -> None:
    for ours, tf_name in names.items():
        delta = _tf_layout(ours, system.get_parameter(ours)) - _tf_layout(ours, before[ours])
        step = official[tf_name]
        probe = pd.probe(pd.SEED, tf_name, tuple(FIXTURE["variables"][tf_name]))
        weights = STEP_ALLOWANCE[0] + STEP_ALLOWANCE[1] * delta.size
        abs_sum, dot = float(np.abs(delta).sum()), float((delta * probe).sum())
        assert abs(abs_sum - step["abs_sum"]) <= weights * FIXTURE["lr"], (tf_name, abs_sum, step["abs_sum"])
        # a weight stepping the other way moves the dot by 2·lr·|probe_i|
        assert abs(dot - step["dot_probe"]) <= 2 * weights * FIXTURE["lr"] * float(np.abs(probe).mean()), (
            tf_name,
            dot,
            step["dot_probe"],
        )


def test_terms_equal_the_official_tf_graph(system: DeepFillV1System) -> None:
    real, mask = _inputs()
    _assert_terms(_terms(system, real, mask), OFFICIAL["terms"])


def test_one_critic_and_one_generator_step_equal_the_official_tf_graph(system: DeepFillV1System) -> None:
    """`adam: tf` against train.py's shared optimiser; `adam: torch` against a fresh TF Adam for G (step 1)."""
    official = FIXTURE["shared_optimizer" if system.hparams.adam == "tf" else "fresh_generator_optimizer"]
    real, mask = _inputs()
    names = _our_to_tf_names()
    opt_g, opt_d = system.configure_optimizers()

    before = {k: system.get_parameter(k).detach().clone() for k in names}
    opt_d.zero_grad()
    system.critic_losses(real, mask)["d_loss"].backward()
    opt_d.step()
    critic_names = {k: v for k, v in names.items() if not k.startswith("generator.")}
    _assert_steps(before, system, official["after_critic_step"]["variables"], critic_names)
    _assert_terms(_terms(system, real, mask), official["after_critic_step"]["terms"], official["terms"])

    before = {k: system.get_parameter(k).detach().clone() for k in names}
    opt_g.zero_grad()
    system.generator_losses(real, mask)["g_loss"].backward()
    opt_g.step()
    generator_names = {k: v for k, v in names.items() if k.startswith("generator.")}
    _assert_steps(before, system, official["after_generator_step"]["variables"], generator_names)
    after_critic = official["after_critic_step"]["terms"]
    _assert_terms(_terms(system, real, mask), official["after_generator_step"]["terms"], after_critic)
