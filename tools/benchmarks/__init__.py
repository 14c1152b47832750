"""Speed and memory benchmarks; each writes its figures (machine, threads, load average) to results/benchmarks/."""
