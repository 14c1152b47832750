"""The regression gate: tolerances per metric, exact counts, missing numbers, forward checksums."""

import math

from inpaintbench.evaluation.regression import (
    compare,
    forward_checksums,
    metric_rows,
    metric_tolerance,
    read_csv,
    write_csv,
)


def _rows(**values):
    return [
        {"model": "m", "protocol_id": "p@v1", "bin": "all", "metric": k, "value": v, "n": 4} for k, v in values.items()
    ]


KEYS = ["model", "protocol_id", "bin", "metric"]


def test_within_tolerance_passes_and_beyond_fails():
    tolerance = metric_tolerance({"ssim": 1e-4, "psnr": 0.01})
    golden = _rows(ssim=0.9, psnr=30.0)
    assert compare(_rows(ssim=0.90005, psnr=30.009), golden, KEYS, tolerance) == []
    drifts = compare(_rows(ssim=0.9002, psnr=30.0), golden, KEYS, tolerance)
    assert [d.key for d in drifts] == ["m/p@v1/all/ssim"]
    assert math.isclose(drifts[0].delta, 0.0002, rel_tol=1e-6)


def test_missing_and_new_numbers_are_drift():
    tolerance = metric_tolerance({"ssim": 1e-4, "psnr": 0.01})
    drifts = compare(_rows(ssim=0.9), _rows(psnr=30.0), KEYS, tolerance)
    assert {(d.key, d.golden, d.current) for d in drifts} == {
        ("m/p@v1/all/psnr", 30.0, None),
        ("m/p@v1/all/ssim", None, 0.9),
    }


def test_golden_csv_round_trips_floats_exactly(tmp_path):
    rows = metric_rows([*_rows(ssim=0.1 + 0.2, psnr=1 / 3), {**_rows(x=1.0)[0], "bin": "-"}])
    write_csv(tmp_path / "g.csv", rows, ["model", "protocol_id", "bin", "metric", "value", "n"])
    back = read_csv(tmp_path / "g.csv")
    assert [float(r["value"]) for r in back] == [1 / 3, 0.1 + 0.2]  # sorted by metric; efficiency rows dropped


def test_forward_checksums_are_deterministic_and_sensitive():
    first = forward_checksums(["lama_tiny"], seed=0, size=32)
    again = forward_checksums(["lama_tiny"], seed=0, size=32)
    other = forward_checksums(["lama_tiny"], seed=1, size=32)
    assert first == again
    assert [r["value"] for r in first] != [r["value"] for r in other]
