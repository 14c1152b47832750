"""Issue 20, a newcomer's first hour: every mistake gets one helpful line, every default output
stays out of tracked files, and the names the zoo prints are the names everything accepts."""

from __future__ import annotations

import logging
import shutil
import subprocess
import time
import urllib.error
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from inpaintbench import cli
from inpaintbench.cli.help import COMMAND_DOCS, render_help
from inpaintbench.cli.overrides import config_groups, group_choices, is_override, prepare
from inpaintbench.config import REPO_ROOT, compose, default_paths
from inpaintbench.errors import InpaintbenchError
from inpaintbench.evaluation.bench import BenchItem, resolve_checkpoint, sample_counts
from inpaintbench.evaluation.regression import Drift, summarize_drifts

ZOO_NAME = "pconv_unet_tiny.sample_v1"


def _exit_line(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    """Run the CLI in-process, expect exit status 2, return its one stderr line."""
    with pytest.raises(SystemExit) as exited:
        cli.main(argv)
    assert exited.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


# --- item 6: help pages and did-you-mean -------------------------------------------------------


def test_every_hydra_command_has_a_help_page() -> None:
    assert set(cli.HYDRA_COMMANDS) | {"masks make"} == set(COMMAND_DOCS)
    for name, (config, _, summary) in cli.HYDRA_COMMANDS.items():
        assert COMMAND_DOCS[name].config == config and COMMAND_DOCS[name].summary == summary


@pytest.mark.parametrize("command", list(COMMAND_DOCS))
def test_help_page_says_what_keys_groups_and_examples(command: str) -> None:
    text = render_help(command)
    doc = COMMAND_DOCS[command]
    assert text.startswith(f"inpaintbench {command}: {doc.summary}")
    assert "main keys (default):" in text and "config groups (default; choices)" in text
    config = OmegaConf.to_container(compose(doc.config), resolve=False)
    for key, value in config.items():
        if not isinstance(value, dict):  # every plain key shown with its default
            assert f"  {key}=" in text, key
    for example in doc.examples:  # examples are valid: groups exist, keys exist (compose is strict)
        assert f"  {example}" in text
        args = example.split()[2 if command != "masks make" else 3 :]
        if command == "compare":
            args = cli._compare_positionals(args)
        compose(doc.config, [a for a in prepare(doc.config, args) if is_override(a)])


def test_help_lists_every_group_with_its_default_and_choices() -> None:
    text = render_help("eval")
    assert "  masks=irregular" in text and "lama_thick" in text and "box_center" in text
    assert "  model=opencv_telea" in text and ZOO_NAME in text  # zoo names are model choices of eval
    assert "  limit=null" in text and "evaluate only the first N >= 1 images" in text  # comment from conf/eval.yaml


def test_cli_help_flag_prints_the_page_not_hydras(capsys: pytest.CaptureFixture[str]) -> None:
    cli.main(["train", "--help"])
    out = capsys.readouterr().out
    assert "inpaintbench train:" in out and "tag=dev" in out and "trainer=cpu" in out
    assert "Powered by Hydra" not in out


def test_a_broken_export_is_one_line_even_in_help(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "outputs" / "models").mkdir(parents=True)
    (tmp_path / "outputs" / "models" / "lama_tiny.mine.safetensors").write_bytes(b"")
    for argv in (["eval", "--help"], ["eval", "model=lama_tiny.mine"]):
        assert "lama_tiny.mine.safetensors: no card lama_tiny.mine.yaml beside it" in _exit_line(capsys, argv)


@pytest.mark.parametrize("group", config_groups())
def test_every_config_group_choice_gets_a_did_you_mean(group: str, capsys: pytest.CaptureFixture[str]) -> None:
    choice = group_choices(group)[-1]
    typo = choice[:-1] + ("x" if choice[-1] != "x" else "y")
    command = {"trainer": "train", "paths": "report"}.get(group, "eval")
    line = _exit_line(capsys, [command, f"{group}={typo}"])
    assert f"unknown {group} '{typo}'" in line and f"did you mean '{choice}'" in line


def test_model_typo_and_sweep_typo(capsys: pytest.CaptureFixture[str]) -> None:
    line = _exit_line(capsys, ["eval", "model=pconv_unet_tny"])
    assert line.startswith("inpaintbench: error: unknown model 'pconv_unet_tny'; did you mean 'pconv_unet_tiny'")
    assert all(name in line for name in [*group_choices("model"), ZOO_NAME])
    assert "did you mean 'opencv_ns'" in _exit_line(capsys, ["eval", "-m", "model=opencv_telea,opencv_nss"])


# --- item 7: zoo names are model names ------------------------------------------------------------


def test_zoo_name_becomes_model_and_checkpoint_for_eval_only() -> None:
    assert prepare("eval", [f"model={ZOO_NAME}", "--cfg", "job"]) == [
        "model=pconv_unet_tiny",
        f"checkpoint={ZOO_NAME}",
        "--cfg",
        "job",
    ]
    with pytest.raises(InpaintbenchError, match="cannot be swept"):
        prepare("eval", [f"model=opencv_ns,{ZOO_NAME}"])
    with pytest.raises(InpaintbenchError, match=f"unknown model '{ZOO_NAME}'"):
        prepare("train", [f"model={ZOO_NAME}"])


def test_checkpoint_and_weights_file_resolve_to_the_same_name_weights_and_args() -> None:
    by_name = resolve_checkpoint(compose("eval", prepare("eval", [f"model={ZOO_NAME}"])))
    weights = REPO_ROOT / "models" / f"{ZOO_NAME}.safetensors"
    by_file = resolve_checkpoint(compose("eval", ["model=pconv_unet_tiny", f"weights={weights}"]))
    for cfg in (by_name, by_file):
        assert cfg.run_name == ZOO_NAME and Path(cfg.weights) == weights and cfg.model.name == "pconv_unet_tiny"
    assert OmegaConf.to_container(by_name.model) == OmegaConf.to_container(by_file.model)
    plain = compose("eval", ["model=opencv_ns"])
    assert resolve_checkpoint(plain) is plain  # nothing to resolve
    with pytest.raises(InpaintbenchError, match=r"checkpoint 'nope\.v1' is in neither"):
        resolve_checkpoint(compose("eval", ["checkpoint=nope.v1"]))


def test_a_tampered_checkpoint_is_refused(tmp_path: Path) -> None:
    for suffix in (".safetensors", ".yaml"):
        shutil.copy(REPO_ROOT / "models" / f"{ZOO_NAME}{suffix}", tmp_path / f"{ZOO_NAME}{suffix}")
    weights = tmp_path / f"{ZOO_NAME}.safetensors"
    weights.write_bytes(weights.read_bytes()[:-1] + b"\0")
    cfg = compose("eval", [f"checkpoint={ZOO_NAME}", f"paths.models={tmp_path}", "model=pconv_unet_tiny"])
    with pytest.raises(InpaintbenchError, match="differs from its card"):
        resolve_checkpoint(cfg)


# --- items 1, 2, 10: train hint, quiet Lightning, outputs outside tracked files ------------------


def test_the_missing_vgg_hint_is_an_override_hydra_accepts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from inpaintbench.losses.vgg import build_vgg16_features
    from inpaintbench.weights import WeightsError

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(WeightsError) as error:
        build_vgg16_features()
    hint = next(word.strip("()`") for word in str(error.value).split() if "perceptual_backbone=" in word)
    assert compose("train", [hint]).model.system.perceptual_backbone == "none"


def test_lightning_lines_print_once_and_without_adverts(capfd: pytest.CaptureFixture[str]) -> None:
    from lightning.pytorch.utilities.rank_zero import rank_zero_info

    from inpaintbench.training.train import quiet_lightning

    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    root.handlers = [logging.StreamHandler()]  # only what Hydra's job logging installs
    root.setLevel(logging.INFO)
    try:
        quiet_lightning()
        rank_zero_info("hello from lightning")
        rank_zero_info("💡 Tip: For seamless cloud logging, try installing litlogger")
    finally:
        root.handlers = saved_handlers
        root.setLevel(saved_level)
    err = capfd.readouterr().err
    assert err.count("hello from lightning") == 1 and "Tip" not in err


def test_every_default_output_is_git_ignored() -> None:
    if shutil.which("git") is None or not (REPO_ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    paths = default_paths()
    written = [
        f"{paths.results}/runs/opencv_ns/x/run.json",  # results.RunStore writes runs under <results>/runs
        f"{paths.leaderboard}/leaderboard.md",
        f"{paths.results}/cache/features/x.npy",
        f"{paths.exports}/pconv_unet_tiny.try.safetensors",
        f"{paths.train_runs}/pconv_unet_tiny.try/checkpoints/last.ckpt",
    ]
    result = subprocess.run(["git", "-C", str(REPO_ROOT), "check-ignore", *written], capture_output=True, text=True)
    assert sorted(result.stdout.split()) == sorted(written)
    assert Path(str(compose("train").paths.exports)).resolve() != (REPO_ROOT / "models").resolve()


def test_regenerating_a_tracked_leaderboard_does_not_mark_the_checkout_dirty(tmp_path: Path) -> None:
    from inpaintbench.report.leaderboard import write_leaderboard

    if shutil.which("git") is None:
        pytest.skip("git is not installed")

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(tmp_path), *args], capture_output=True, text=True, check=True).stdout

    git("init", "-q")
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "leaderboard.md").write_text("old\n")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init")
    _, md_path, _, _ = write_leaderboard(tmp_path / "results", tmp_path, ["all"], out_dir=tmp_path / "results")
    commit = git("rev-parse", "HEAD").strip()
    assert f"**git commit**: {commit}\n" in md_path.read_text()
    (tmp_path / "results" / "leaderboard.md").write_text("edited\n")
    _, md_path, _, _ = write_leaderboard(tmp_path / "results", tmp_path, ["all"], out_dir=tmp_path / "local")
    assert f"{commit} (dirty)" in md_path.read_text()  # a real modification still shows


def test_leaderboard_of_given_runs_leaves_other_runs_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from inpaintbench import tasks

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "empty_hub"))
    common = [f"paths.results={tmp_path}", "masks=box_center", "limit=2", "progress=false", "print_table=false"]
    telea = tasks.evaluate(compose("eval", ["model=opencv_telea", *common]))
    tasks.evaluate(compose("eval", ["model=opencv_ns", *common]))
    report_cfg = compose("report", [f"paths.results={tmp_path}"])
    _, everything = tasks.report(report_cfg)
    assert "opencv_ns" in everything.read_text() and everything.parent == tmp_path / "local"
    _, plan_only = tasks.report(report_cfg, [telea.store])
    assert "opencv_telea" in plan_only.read_text() and "opencv_ns" not in plan_only.read_text()


def test_regress_names_new_numbers_apart_from_drift() -> None:
    drifts = [Drift("a", 1.0, 2.0, 0.1), Drift("b", None, 1.0, 0.1), Drift("c", None, 3.0, 0.1)]
    assert summarize_drifts(drifts) == (
        "1 drifted beyond tolerance; 2 have no golden value (a new model, bin or metric: review, then `make golden`)"
    )


# --- items 3, 11: Makefile targets ---------------------------------------------------------------------


def test_venv_build_says_one_line_per_step_and_pip_shows_errors_only(tmp_path: Path) -> None:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    venv = tmp_path / "v"
    plan = subprocess.run(
        ["make", "-n", "-B", "venv", f"VENV={venv}"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert "[venv 1/2] creating" in plan and "[venv 2/2] installing" in plan and "[venv] ready in" in plan
    pip_line = next(line for line in plan.splitlines() if "pip install" in line)
    assert " -qq " in pip_line and "--disable-pip-version-check" in pip_line


def test_make_test_slow_selects_tests() -> None:
    """`make test-slow` is `pytest -m slow`: the README walkthrough carries the registered marker."""
    import tomllib

    from integration.test_readme import test_every_readme_command_runs_as_written as walkthrough

    assert "slow" in {mark.name for mark in walkthrough.pytestmark}
    options = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    assert any(marker.startswith("slow:") for marker in options["markers"])
    assert "$(PY) -m pytest -m slow" in (REPO_ROOT / "Makefile").read_text()


# --- items 10, 11: efficiency under load, overall progress ---------------------------------------


def test_latency_is_the_fastest_call_and_the_load_average_is_recorded() -> None:
    from inpaintbench.evaluation.efficiency import _fastest_time, measure

    class Sleeper:
        def __init__(self) -> None:
            self.pauses = iter([0.0, 0.3, 0.02, 0.3])  # warmup, then three timed calls

        def inpaint(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
            time.sleep(next(self.pauses))
            return image

    fastest = _fastest_time(Sleeper(), (torch.zeros(1), torch.zeros(1)), warmup=1, repeats=3)
    assert 0.02 <= fastest < 0.2
    from inpaintbench import create_model

    measured = measure(create_model("opencv_telea"), size=32, repeats=1)
    assert measured["load_avg_1m"] is not None and measured["load_avg_1m"] >= 0


def test_load_average_column_has_no_arrow_and_a_note() -> None:
    from inpaintbench.report.leaderboard import render_markdown

    rows = [
        {"model": "m", "metric": "latency_ms_b1", "value": 12.0, "bin": "-"},
        {"model": "m", "metric": "load_avg_1m", "value": 3.5, "bin": "-"},
    ]
    text = render_markdown(rows, {}, ["all"])
    assert "| model | CPU latency b1 (ms) ↓ | Load avg 1 min |" in text
    assert "| m | 12.0 | 3.50 |" in text and "minimum over repeats" in text


def test_bench_progress_is_weighted_by_samples() -> None:
    cfg = compose("bench", ["limit=2"])
    items = [BenchItem("opencv_ns", "opencv_ns", "irregular"), BenchItem("opencv_ns", "opencv_ns", "lama_thick")]
    assert sample_counts(cfg, items) == [12, 2]  # irregular: one mask per bucket per image


# --- item 5: weights fetch --------------------------------------------------------------------------


def test_fetch_without_network_is_one_line_with_the_offline_route(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def offline(*args: object, **kwargs: object) -> None:
        raise urllib.error.URLError(OSError(-2, "Name or service not known"))

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(urllib.request, "urlopen", offline)
    for name in ("alexnet", "big-lama"):
        line = _exit_line(capsys, ["weights", "fetch", name])
        assert "cannot download (URLError" in line and "no network?" in line
    assert "inpaintbench weights import alexnet-owt-7be5be79.pth" in _exit_line(capsys, ["weights", "fetch", "alexnet"])


def test_fetch_did_you_mean_covers_backbones_and_releases(capsys: pytest.CaptureFixture[str]) -> None:
    line = _exit_line(capsys, ["weights", "fetch", "alexnt"])
    assert "did you mean 'alexnet'" in line and "inception_fid" in line and "big-lama" in line


def test_unavailable_metric_footnote_names_the_fetch_argument(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from inpaintbench.metrics.backbones import BACKBONES, missing_message

    for name in BACKBONES:
        assert f"`inpaintbench weights fetch {name}`" in missing_message(name)


# --- item 9: one API for every inpainter --------------------------------------------------------------


@pytest.mark.parametrize("name", ["opencv_telea", "opencv_ns", "pconv_unet_tiny", "lama_tiny"])
def test_every_inpainter_answers_eval_to_inpaint(name: str) -> None:
    from inpaintbench import Inpainter, create_model

    image = torch.rand(1, 3, 72, 72)  # PConv reflect-pads to 128: at least 65 px
    mask = torch.zeros(1, 1, 72, 72)
    mask[..., 16:40, 16:40] = 1
    model = create_model(name)
    assert isinstance(model, Inpainter)
    pred = model.eval().to("cpu").inpaint(image, mask)
    assert pred.shape == image.shape and torch.isfinite(pred).all()


# --- item 8: folder datasets are labelled by folder and content --------------------------------------


def test_folder_label_follows_the_folder_name_and_its_bytes(tmp_path: Path) -> None:
    from inpaintbench.evaluation.evaluate import with_data_label

    sample = sorted((REPO_ROOT / "data" / "sample" / "eval").glob("*.png"))
    for folder, files in (("holiday", sample[:2]), ("garden", sample[2:4]), ("garden_copy", sample[2:4])):
        (tmp_path / folder).mkdir()
        for file in files:
            shutil.copy(file, tmp_path / folder / file.name)

    def label(folder: str) -> str:
        cfg = compose("eval", ["data=folder", f"data.root={tmp_path / folder}"])
        return str(with_data_label(cfg).data.name)

    holiday, garden = label("holiday"), label("garden")
    assert holiday.startswith("holiday-") and garden.startswith("garden-") and len(holiday) == len("holiday-") + 8
    assert garden.split("-")[1] == label("garden_copy").split("-")[1]  # same bytes, same hash
    first = tmp_path / "garden" / sample[2].name
    first.write_bytes(first.read_bytes() + b"\0")  # one changed byte: a new label
    assert label("garden") != garden
    named = compose("eval", ["data=folder", f"data.root={tmp_path / 'garden'}", "data.name=mine"])
    assert with_data_label(named).data.name == "mine"
