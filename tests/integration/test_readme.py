"""The README, executed. Every command in its ```bash blocks and every ```python block is checked
against the CLI (fast, default run) and run exactly as written on a scratch copy of the checkout
(slow: `make test-slow`). New commands added to the README are picked up automatically.

Stand-ins. A few commands name files a user brings and a checkout does not have; the walkthrough
makes them, and only them, before running anything (see `make_stand_ins`):
- `in.png`, `hole.png`, `m.png`, the user's image and masks for `inpaintbench inpaint`: a sample
  photo and a white-rectangle mask (white = hole).
- `big-lama/models/best.ckpt`, LaMa's official release (a manual 200 MB download): a file in the
  official Lightning layout with random weights, written by the release tests' own writer.
The metric backbones are absent (an empty TORCH_HOME), as on a fresh machine with no network.

Commands that cannot run inside this test are listed in `NOT_RUN_HERE`, each with its reason; keep
that list tiny. To exempt a new command, add its exact README text there and say why.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from inpaintbench import cli
from inpaintbench.cli.overrides import is_override, prepare
from inpaintbench.config import REPO_ROOT, compose

README = REPO_ROOT / "README.md"

#: Exact README command -> why the walkthrough does not run it.
NOT_RUN_HERE: dict[str, str] = {
    "make test": "runs the whole default suite, this module included; CI (.ci/run) runs it",
    "make test-slow": "runs this very walkthrough, which would then call itself forever",
    "inpaintbench eval model=lama_tiny.sample_v1 device=cuda devices=4": "needs 4 CUDA GPUs",
    "inpaintbench eval -m model=lama_tiny weights=models/lama_tiny.sample_v1.safetensors masks=irregular,lama_thick "
    "hydra/launcher=slurm hydra.launcher.partition=gpu "
    "hydra.launcher.gpus_per_task=1 hydra.launcher.timeout_min=600 device=cuda devices=4": "needs a SLURM cluster "
    "with GPUs (its composed config is tested in test_launchers.py)",
    "inpaintbench train model=lama_fourier trainer=gpu devices=4 tag=try": "needs 4 CUDA GPUs",
    "inpaintbench train model=pconv_unet model.system.stage=finetune model.system.init_weights=1000000.pth "
    "model.system.finetune_optimizer=fresh tag=ft": "a full-size fine-tune (500,000 steps of the 25.8 M-parameter "
    "PConv) from the official release, which cannot be downloaded here; test_pconv_port_optimizer.py starts "
    "one from a stand-in port file",
}

_FENCE = re.compile(r"^```(\w+)\n(.*?)^```", re.MULTILINE | re.DOTALL)
_HYDRA_CONFIG = {name: config for name, (config, _, _) in cli.HYDRA_COMMANDS.items()}
_SUBCOMMANDS = {"weights": {"list", "fetch", "import", "convert"}, "masks": {"check", "publish", "export"}}


def readme_steps() -> list[tuple[str, str]]:
    """("bash", one command line) and ("python", one whole block), in README order."""
    steps: list[tuple[str, str]] = []
    for match in _FENCE.finditer(README.read_text()):
        language, body = match[1], match[2]
        if language == "python":
            steps.append(("python", body))
        elif language in ("bash", "sh", "shell"):
            lines = [line.strip() for line in body.splitlines()]
            steps += [("bash", line) for line in lines if line and not line.startswith("#")]
    return steps


def readme_commands() -> list[str]:
    return [text for kind, text in readme_steps() if kind == "bash"]


def command_text(line: str) -> str:
    """The command without its trailing comment, whitespace normalised."""
    return " ".join(shlex.split(line, comments=True))


def trained_by_readme() -> list[str]:
    """`<model>.<tag>` of every `inpaintbench train` in the README: later commands may evaluate them."""
    names = []
    for line in readme_commands():
        argv = shlex.split(line, comments=True)
        if argv[:2] == ["inpaintbench", "train"]:
            keys = dict(a.split("=", 1) for a in argv[2:] if "=" in a)
            names.append(f"{keys.get('model', 'pconv_unet_tiny')}.{keys.get('tag', 'dev')}")
    return names


def makefile_targets() -> set[str]:
    text = (REPO_ROOT / "Makefile").read_text()
    return set(re.findall(r"^([A-Za-z][\w-]*):", text, re.MULTILINE))


# --- fast: every README command is one the CLI accepts -----------------------------------------------


def test_the_readme_has_commands_and_exemptions_are_real() -> None:
    commands = [command_text(c) for c in readme_commands()]
    assert len(commands) >= 20
    assert set(NOT_RUN_HERE) <= set(commands), "an exemption names a command the README no longer has"


def test_every_cli_command_appears_in_the_readme() -> None:
    used = {shlex.split(c, comments=True)[1] for c in readme_commands() if c.startswith("inpaintbench ")}
    assert set(cli.HYDRA_COMMANDS) | set(cli.OTHER_COMMANDS) <= used


def _help_text(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    try:
        cli.main([*argv, "--help"])
    except SystemExit as done:  # argparse exits 0 after printing help
        assert done.code in (0, None)
    return capsys.readouterr().out


@pytest.mark.parametrize("line", readme_commands())
def test_readme_command_is_valid_for_the_cli(
    line: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Checked against the CLI itself: the command exists, its flags are in its --help, its config
    group choices exist and its keys compose. Checkpoints the README trains count as exported."""
    from inpaintbench.cli import overrides as overrides_module

    exported = overrides_module.zoo_checkpoints
    monkeypatch.setattr(overrides_module, "zoo_checkpoints", lambda o=(): [*exported(o), *trained_by_readme()])
    argv = shlex.split(line, comments=True)
    if argv[0] == "make":
        assert set(argv[1:]) <= makefile_targets(), f"{line}: no such Makefile target"
        return
    if argv[0] != "inpaintbench":
        return  # shell steps (mkdir, cp) run in the slow walkthrough
    args = argv[1:]
    if args in (["--help"], ["-h"]):
        assert "commands:" in _help_text([], capsys)
        return
    command, rest = args[0], args[1:]
    if command == "masks" and rest[:1] == ["make"]:
        command, config, rest = "masks make", "masks_make", rest[1:]
    else:
        assert command in cli.HYDRA_COMMANDS or command in cli.OTHER_COMMANDS, f"{line}: unknown command"
        config = _HYDRA_CONFIG.get(command)
    if config is None:  # an argparse command: every flag used must be in its own --help
        words = [command, *[w for w in rest[:1] if w in _SUBCOMMANDS.get(command, set())]]
        text = _help_text(words, capsys)
        for flag in (a for a in rest if a.startswith("--")):
            assert flag in text, f"{line}: {flag} is not an option of inpaintbench {' '.join(words)}"
        return
    if "--help" in rest:
        assert f"inpaintbench {command}:" in _help_text([*command.split(), *rest[:0]], capsys)
        return
    if command == "compare":
        rest = cli._compare_positionals(rest)
    prepared = prepare(config, rest)  # raises on an unknown config group choice
    overrides = [a for a in prepared if is_override(a)]
    if "-m" in rest or "--multirun" in rest:  # compose each sweep at its first choice
        overrides = [o.split(",")[0] if "=" in o else o for o in overrides]
    compose(config, overrides)  # raises on an unknown key


def test_readme_python_blocks_compile() -> None:
    blocks = [text for kind, text in readme_steps() if kind == "python"]
    assert blocks
    for block in blocks:
        compile(block, "README.md", "exec")


# --- slow: every README command run exactly as written ---------------------------------------------------


def _load_release_writer():
    from tools.release_files import write_lama_ckpt

    return write_lama_ckpt


def copy_checkout(target: Path) -> None:
    """The files a clone has: tracked and not-ignored ones (no .venv, results/runs, outputs ...)."""
    listed = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in (n.decode() for n in listed if n):
        source = REPO_ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


def fake_venv(root: Path) -> None:
    """`.venv/bin/{python,inpaintbench,ruff,lint-imports,torchrun}` forwarding to the interpreter running the
    tests, with the Makefile's stamp newer than pyproject.toml, so `make` uses it and installs nothing."""
    bin_dir = root / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    ruff = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))
    lint_imports = shutil.which("lint-imports") or str(Path(sys.executable).with_name("lint-imports"))
    for name, target in (
        ("python", f'{sys.executable} "$@"'),
        ("inpaintbench", f'{sys.executable} -m inpaintbench.cli "$@"'),
        ("ruff", f'{ruff} "$@"'),
        ("lint-imports", f'{lint_imports} "$@"'),
        ("torchrun", f'{sys.executable} -m torch.distributed.run "$@"'),  # torch's console script
    ):
        script = bin_dir / name
        script.write_text(f"#!/bin/sh\nexec {target}\n")
        script.chmod(0o755)
    (root / ".venv" / ".installed").touch()


def make_stand_ins(root: Path) -> None:
    """The user's files the README's commands name (see the module docstring)."""
    shutil.copy(root / "data" / "sample" / "eval" / "bythewater_00.png", root / "in.png")
    from PIL import Image

    hole = Image.new("L", (256, 256), 0)
    hole.paste(255, (96, 64, 160, 192))
    hole.save(root / "hole.png")
    hole.save(root / "m.png")
    release = root / "big-lama" / "models" / "best.ckpt"
    release.parent.mkdir(parents=True)
    _load_release_writer()(release, "lama_big")


@pytest.mark.slow
def test_every_readme_command_runs_as_written(tmp_path: Path) -> None:
    if shutil.which("git") is None or shutil.which("make") is None:
        pytest.skip("needs git and make")
    root = tmp_path / "clone"
    root.mkdir()
    copy_checkout(root)

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, check=True).stdout

    git("init", "-q")
    git("add", "-A")
    git("-c", "user.name=walkthrough", "-c", "user.email=w@example.org", "commit", "-qm", "clone")
    fake_venv(root)
    make_stand_ins(root)
    env = {
        **os.environ,
        "PATH": f"{root / '.venv' / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONPATH": str(root),
        "TORCH_HOME": str(tmp_path / "torch_home"),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2"),
    }
    timings = []
    bench_leaderboard = None  # what `make bench` wrote, before later `report` steps rewrite it with every run
    for kind, text in readme_steps():
        if kind == "bash" and command_text(text) in NOT_RUN_HERE:
            continue
        started = time.perf_counter()
        argv, stdin = (["bash", "-c", text], None) if kind == "bash" else ([sys.executable, "-"], text)
        done = subprocess.run(argv, cwd=root, env=env, input=stdin, capture_output=True, text=True, timeout=3600)
        timings.append((round(time.perf_counter() - started, 1), text.splitlines()[0][:90]))
        assert done.returncode == 0, f"README {kind} step failed: {text}\n{(done.stdout + done.stderr)[-3000:]}"
        if bench_leaderboard is None and text.startswith("make bench"):
            bench_leaderboard = (root / "results" / "local" / "leaderboard.md").read_text()
    print("\n".join(f"{seconds:8.1f} s  {step}" for seconds, step in timings))
    assert git("status", "--porcelain", "--untracked-files=no") == "", "a README command changed a tracked file"
    assert bench_leaderboard is not None, "the README no longer starts with make bench"
    leaderboard = bench_leaderboard
    commit = git("rev-parse", "HEAD").strip()
    assert f"**git commit**: {commit}\n" in leaderboard  # a clean clone is reported clean
    assert "pconv_unet_tiny.sample_v1" in leaderboard and "pconv_unet_tiny.try" not in leaderboard  # bench plan only
    assert (root / "results" / "runs" / "pconv_unet_tiny.try").is_dir()  # the README's training, by its zoo name
