import subprocess
import sys


def _run(*args):
    return subprocess.run([sys.executable, "-m", "inpaintbench.cli", *args], capture_output=True, text=True)


def test_help_lists_every_command():
    result = _run("--help")
    assert result.returncode == 0
    for command in ("eval", "train", "report", "compare", "inpaint", "masks", "weights", "zoo", "regress", "bench"):
        assert f"  {command}" in result.stdout


def test_unknown_command_suggests():
    result = _run("evl")
    assert result.returncode == 2
    assert "did you mean 'eval'" in result.stderr
