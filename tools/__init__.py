"""Development scripts (sample-data builder, benchmarks, release-file builders): import the library, never tests/."""
