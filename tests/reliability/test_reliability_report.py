"""`report` chooses runs explicitly: one complete run per model, dataset and protocol; the rest listed.

Before (issue 15) it kept the first run in hash order whatever it was (a `limit`ed try, an older
protocol version, an interrupted run), computed bold 'best' marks against runs it did not show,
and said nothing.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
import reliability_kit as kit
import torch


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A full run and a `limit=2` run of one model (made once for the module)."""
    tmp = tmp_path_factory.mktemp("selection")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(torch.hub, "get_dir", lambda: str(tmp / "empty_hub"))
        images, masks = kit.make_dataset(tmp / "data")
        kit.evaluate(tmp / "results", images, masks)
        kit.evaluate(tmp / "results", images, masks, "limit=2")
    return tmp / "results"


@pytest.fixture
def results(evaluated: Path, tmp_path: Path) -> dict[str, Path]:
    """A copy of those, plus an interrupted copy and an older-protocol copy of the full run."""
    root = tmp_path / "results"
    shutil.copytree(evaluated, root)
    full, limited = sorted(kit.run_dirs(root), key=lambda p: json.loads((p / "run.json").read_text())["n_samples"])[
        ::-1
    ]
    interrupted = full.with_name("aaaaaaaaaaaa")
    shutil.copytree(full, interrupted)
    (interrupted / "shards" / "000002.jsonl").unlink()
    (interrupted / "summary.json").unlink()
    older = full.with_name("bbbbbbbbbbbb")
    shutil.copytree(full, older)
    record = json.loads((older / "run.json").read_text())
    record["inputs"]["protocol_version"] = "0"
    record["run_hash"] = "b" * 64
    (older / "run.json").write_text(json.dumps(record))
    return {"root": root, "full": full, "limited": limited, "interrupted": interrupted, "older": older}


def test_the_complete_newest_run_is_shown_and_every_other_run_is_listed(results: dict[str, Path]) -> None:
    csv_path, md_path = kit.report(results["root"])
    text = md_path.read_text()
    ssim = text.split("### SSIM")[1].split("###")[0]
    assert ssim.count("| opencv_telea |") == 1 and "| N | 3 | 2 | 1 | 6 |" in ssim
    listed = text.split("## Runs not in the tables")[1]
    assert f"{results['interrupted'].name} not shown: incomplete: 4 of 6 samples" in listed
    assert f"{results['older'].name} not shown: older protocol version (v0 < v1)" in listed
    assert f"{results['limited'].name} not shown: fewer samples (2 < 6" in listed
    with open(csv_path) as handle:
        run_hashes = {row["run_hash"] for row in csv.DictReader(handle)}
    assert len(run_hashes) == 1 and next(iter(run_hashes)).startswith(results["full"].name)


def test_select_picks_a_run_and_an_unknown_selection_is_one_line(
    results: dict[str, Path], capsys: pytest.CaptureFixture
) -> None:
    _, md_path = kit.report(results["root"], f"select=[{results['limited'].name}]")
    text = md_path.read_text()
    assert "| N | 2 | 2 |" in text.split("### SSIM")[1].split("###")[0]
    assert f"{results['full'].name} not shown: not the run picked by select=" in text
    assert kit.cli(["report", f"paths.results={results['root']}", f"select=[{results['interrupted'].name}]"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no complete run has this run-hash prefix" in err


def test_compare_uses_only_complete_runs(results: dict[str, Path], capsys: pytest.CaptureFixture) -> None:
    from inpaintbench.errors import InpaintbenchError
    from inpaintbench.report.selection import find_run

    record = json.loads((results["full"] / "run.json").read_text())
    protocol, data = record["protocol_id"], record["data"]  # data: the folder's default label, <folder>-<hash>
    # full, limited and older complete runs: the one `report` shows is used, the others named with the reason
    assert find_run(results["root"], "opencv_telea", protocol, data).path == results["full"]
    said = capsys.readouterr().out
    shown = results["full"].relative_to(results["root"])
    assert f"opencv_telea: using {shown} (the run `report` shows" in said
    assert f"{results['limited'].name} not used: fewer samples (2 < 6" in said
    assert f"{results['older'].name} not used: older protocol version (v0 < v1)" in said
    shutil.rmtree(results["limited"])
    shutil.rmtree(results["older"])
    assert find_run(results["root"], "opencv_telea", protocol, data).path == results["full"]
    with pytest.raises(InpaintbenchError, match="incomplete: 4 of 6 samples"):
        find_run(results["root"], str(results["interrupted"]), protocol, data)
