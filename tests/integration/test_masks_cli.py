"""`inpaintbench masks ...` as a user types it: make (with its overwrite guard), check, export, publish."""

from __future__ import annotations

from pathlib import Path

import pytest

from inpaintbench import cli


def _masks(*args: str) -> int:
    try:
        cli.main(["masks", *args])
    except SystemExit as stop:
        return int(stop.code or 0)
    return 0


def test_make_refuses_to_replace_a_set_made_with_other_parameters(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 20 item 4: one line naming the difference, exit 2, the old set intact; --force replaces it."""
    monkeypatch.chdir(tmp_path)
    assert _masks("make", "masks=lama_thick", "count=6") == 0
    out = tmp_path / "outputs" / "masks" / "lama_thick"
    assert len(list(out.glob("*.png"))) == 6
    capsys.readouterr()
    assert _masks("make", "masks=lama_thick", "count=4") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "count 6 -> 4" in err[0] and "overwrite=true (or --force)" in err[0]
    assert len(list(out.glob("*.png"))) == 6
    assert _masks("make", "masks=lama_thick", "count=6") == 0  # same parameters: rewritten, no question
    assert _masks("make", "masks=lama_thick", "count=4", "--force") == 0
    assert len(list(out.glob("*.png"))) == 4
    assert _masks("make", "masks=lama_thick", "count=5", "overwrite=true") == 0
    assert len(list(out.glob("*.png"))) == 5
    assert _masks("check", str(out)) == 0


def test_check_export_and_unknown_subcommands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert _masks("make", "masks=box_random", "count=3") == 0
    made = tmp_path / "outputs" / "masks" / "box_random"
    assert _masks("check", str(made)) == 0
    (made / "mask_000001.box.0.png").write_bytes(b"not a png")
    capsys.readouterr()
    assert _masks("check", str(made)) == 1
    out = capsys.readouterr().out
    assert "1 mask set(s)" in out and "mask_000001.box.0.png: sha256 differs from the manifest" in out

    assert _masks("export", "irregular-v1-256", "--layout", "nvidia", str(tmp_path / "nv")) == 0
    assert sorted(p.name for p in (tmp_path / "nv").glob("*.png"))[::100] == [
        f"{i:05d}.png" for i in range(0, 600, 100)
    ]
    assert _masks("export", "irregular-v1-256", "--layout", "lama", str(tmp_path / "lama")) == 2
    assert "pass --images DIR" in capsys.readouterr().err
    assert _masks("export", "irregular-v1-256", "--layout", "webp", str(tmp_path / "x")) == 2  # argparse choices
    assert _masks("chek") == 2
    assert "did you mean 'check'?" in capsys.readouterr().err
