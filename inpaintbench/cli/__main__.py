"""`python -m inpaintbench.cli ...` (what torchrun and srun start) is the `inpaintbench` command."""

from inpaintbench.cli import main

main()
