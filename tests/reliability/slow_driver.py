"""`python slow_driver.py DELAY COMMAND ARGS...`: the inpaintbench CLI with DELAY seconds spent before
each shard, so a fault-injection test can kill or interrupt it between two known shards. The delay
is test-side instrumentation only; the code under test is unchanged."""

from __future__ import annotations

import sys
import time

from inpaintbench.cli import main
from inpaintbench.evaluation import runner

delay = float(sys.argv[1])
original = runner.run_shard


def slowed(*args, **kwargs):
    time.sleep(delay)
    return original(*args, **kwargs)


runner.run_shard = slowed
main(sys.argv[2:])
