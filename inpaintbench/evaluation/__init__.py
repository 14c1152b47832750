"""Evaluation orchestration above the metric runner: ranks over processes, GPUs and machines."""
