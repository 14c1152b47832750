"""What every benchmark here records: the machine, the load around the measurement, the written table."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import torch


def machine_line(threads: int) -> str:
    """CPU model, logical CPUs, torch version and the torch thread count used."""
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        platform.machine(),
    )
    return f"- machine: {cpu} ({os.cpu_count()} logical CPUs), torch {torch.__version__}, torch threads {threads}"


def load_line(before: tuple[float, ...], after: tuple[float, ...]) -> str:
    """`os.getloadavg()` before and after, formatted."""
    return (
        f"- load average (1/5/15 min) before {'/'.join(f'{v:.2f}' for v in before)}, "
        f"after {'/'.join(f'{v:.2f}' for v in after)} (machine shared with other jobs)"
    )


def write_table(out: Path, lines: list[str]) -> None:
    """Write the results file and echo it."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join([*lines, ""]))
    print("\n".join(lines))
